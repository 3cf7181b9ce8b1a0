//! The host kernel: runs a Microkit system (`system.xml`) on Linux, one confined
//! process per protection domain, with seL4's semantics for notifications,
//! protected procedure calls, faults and restarts. Like Genode's base-linux, it
//! exists so the whole system, crashes and restarts included, runs on any Linux
//! machine and in CI.
//!
//! Notifications and protected procedure calls do not pass through the kernel's
//! thread: each channel end has a shared page its owner writes and its peer only
//! reads, with futex doorbells (`ipc`; layout in `microkit::host::pages`), so a
//! message costs one cross-process wake-up at most, and what a PD can write
//! speaks only for its own channels. The thread handles faults, restarts,
//! injections, devices, IRQs, the timer, and completes a dead callee's call with
//! `PEER_FAULTED`.

mod arch_timer;
mod devices;
mod events;
mod ipc;
mod kernel;
mod layout;
mod machine;
pub mod netns;
mod process;
pub mod scheduling;
mod status;
pub mod swifi;

pub use devices::{Attached, ConsoleIo, DeviceConfig, NetIo, Sink};
pub use events::Event;
pub use layout::Layout;
pub use machine::{Config, Machine, MachineError};
pub use process::UID_BASE;
pub use scheduling::Scheduling;
pub use status::{PdStatus, ProcessState, status_table};
pub use swifi::{Corruption, FaultRecord};
pub use virtio_model;
