//! The host kernel: runs a Microkit system (`system.xml`) on Linux, one confined
//! process per protection domain, with seL4's semantics for notifications,
//! protected procedure calls, faults and restarts. Like Genode's base-linux, it
//! exists so the whole system, crashes and restarts included, runs on any Linux
//! machine and in CI.

mod arch_timer;
mod devices;
mod events;
mod ipc;
mod kernel;
mod layout;
mod machine;
mod process;
mod status;

pub use devices::{Attached, ConsoleIo, DeviceConfig, NetIo, Sink};
pub use events::Event;
pub use layout::Layout;
pub use machine::{Config, Machine, MachineError};
pub use status::{PdState, PdStatus, status_table};
pub use virtio_model;
