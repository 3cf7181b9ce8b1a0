//! Models of virtio-mmio devices for the host kernel: what QEMU's `virtio-mmio`
//! transport and its `virtio-blk-device`, `virtio-serial-device` + `virtconsole`
//! and `virtio-net-device` are on seL4, as library code the host kernel (or a test)
//! drives.
//!
//! - [`Device`]: the virtio-mmio (version 2) register file, feature negotiation,
//!   device status and reset, split virtqueues in the driver's DMA memory, used-ring
//!   updates and the interrupt line. Register reads and writes come from the host
//!   kernel, which routes a driver's `MmioRead`/`MmioWrite` system calls here.
//! - [`Backend`]s: [`blk::Blk`] (a raw disk image file), [`console::Console`]
//!   (bytes to and from a sink/source: the terminal, a socket, a test), and
//!   [`net::Net`] (Ethernet frames to and from a TAP device or an in-process peer).
//! - [`Faults`]: knobs for tests: drop, delay, corrupt, and a malicious mode that
//!   writes bad used-ring indices and lengths.
//!
//! The driver is untrusted: every descriptor, index and address it hands the device
//! is checked; a device touches only the DMA memory of its own driver ([`Memory`]),
//! like a device behind an IOMMU. A driver that hands it garbage gets the device
//! into `DEVICE_NEEDS_RESET`, never a write elsewhere.

pub mod blk;
pub mod console;
mod device;
mod faults;
mod mem;
pub mod net;
mod queue;
pub mod slots;
#[cfg(target_os = "linux")]
pub mod tap;

pub use device::{Backend, Ctx, Device, Irq, Stats, reg};
pub use faults::{Faults, Malice};
pub use mem::{MemError, Memory, Window};
pub use queue::{Chain, Queue, QueueError};

/// Device ids (virtio 1.2, 5).
pub mod id {
    pub const NET: u32 = 1;
    pub const BLOCK: u32 = 2;
    pub const CONSOLE: u32 = 3;
}

/// VIRTIO_F_VERSION_1: the only transport feature the models offer (no indirect
/// descriptors, no event index): a modern device, split rings.
pub const F_VERSION_1: u64 = 1 << 32;
