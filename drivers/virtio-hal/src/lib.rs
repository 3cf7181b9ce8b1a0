//! The hardware layer under the virtio drivers (this crate and `microkit/` are
//! the only places with `unsafe`; every block has a `// SAFETY:` line):
//!
//! - [`DmaHal`]: `virtio_drivers::Hal` over the driver's DMA region (a
//!   `memory_region` with a fixed `phys_addr`): a page allocator inside the
//!   region, physical ↔ virtual by offset, and bounce buffers for data that lives
//!   outside it (a driver's stack or heap has no physical address a device can use).
//! - [`RegisterTransport`]: `virtio_drivers::Transport` over virtio-mmio
//!   registers reached through a [`Registers`] implementation: on the host kernel
//!   [`HostRegisters`] (system calls to the kernel's device model), in tests a
//!   model called directly. On seL4 the drivers use `virtio_drivers`'
//!   `MmioTransport` over the mapped registers ([`sel4_transport`]).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod dma;
mod transport;

pub use dma::{DmaError, DmaHal, DmaStats};
pub use transport::{RegisterTransport, Registers};

#[cfg(not(target_os = "none"))]
pub use transport::HostRegisters;

/// The seL4 transport: `virtio_drivers`' `MmioTransport` over the device's
/// registers mapped at `vaddr` (one virtio-mmio slot, 0x200 bytes).
///
/// # Safety
/// `vaddr..vaddr + 0x200` must be this PD's uncached mapping of a virtio-mmio
/// slot (the `map` of the device region in `system.xml`), used by nothing else.
#[cfg(target_os = "none")]
pub unsafe fn sel4_transport(
    vaddr: usize,
) -> Result<virtio_drivers::transport::mmio::MmioTransport<'static>, virtio_drivers::transport::mmio::MmioError> {
    let header = core::ptr::NonNull::new(vaddr as *mut virtio_drivers::transport::mmio::VirtIOHeader)
        .ok_or(virtio_drivers::transport::mmio::MmioError::MmioRegionTooSmall)?;
    // SAFETY: per this function's contract the slot is mapped for the PD's life
    // and used only through this transport.
    unsafe { virtio_drivers::transport::mmio::MmioTransport::new(header, 0x200) }
}

#[cfg(feature = "testbed")]
pub mod testbed;

/// The transport a driver PD uses: `MmioTransport` over the mapped registers on
/// seL4, the kernel's register system calls on the host kernel.
#[cfg(target_os = "none")]
pub type PdTransport = virtio_drivers::transport::mmio::MmioTransport<'static>;
/// The transport a driver PD uses: `MmioTransport` over the mapped registers on
/// seL4, the kernel's register system calls on the host kernel.
#[cfg(not(target_os = "none"))]
pub type PdTransport = RegisterTransport<HostRegisters>;

/// Where a driver PD's device lives, all generated from `system.xml`.
pub struct DeviceMaps {
    /// The DMA region and its physical address.
    pub dma: (microkit::Region, u64),
    /// The device's register region and its physical address.
    pub regs: (microkit::Region, u64),
}

/// The start of every virtio driver PD: its DMA region becomes the DMA
/// allocator's memory, and the transport to its device is returned. Anything
/// wrong is a panic naming `pd`: a fault for the reincarnation server.
pub fn bring_up(pd: &str, maps: DeviceMaps) -> PdTransport {
    let (dma, dma_paddr) = maps.dma;
    if let Err(e) = DmaHal::init_region(dma, dma_paddr) {
        panic!("{pd}: DMA region: {e:?}");
    }
    let (regs, regs_paddr) = maps.regs;
    match pd_transport(regs, regs_paddr) {
        Ok(t) => t,
        Err(e) => panic!("{pd}: no virtio-mmio device at {regs_paddr:#x}: {e}"),
    }
}

/// The transport to the device whose register region this PD maps as `regs`,
/// at physical address `paddr` (both generated from `system.xml`).
pub fn pd_transport(
    regs: microkit::Region,
    paddr: u64,
) -> Result<PdTransport, virtio_drivers::transport::mmio::MmioError> {
    #[cfg(target_os = "none")]
    {
        let _ = paddr;
        if regs.size() < 0x200 {
            return Err(virtio_drivers::transport::mmio::MmioError::MmioRegionTooSmall);
        }
        // SAFETY: a `Region` is mapped for the PD's life (its constructor's
        // contract); the device region is mapped uncached into this driver only.
        unsafe { sel4_transport(regs.base()) }
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = regs;
        RegisterTransport::new(HostRegisters { paddr })
    }
}

impl DmaHal {
    /// Sets up the pool over the DMA region `region` whose physical address is `paddr`.
    pub fn init_region(region: microkit::Region, paddr: u64) -> Result<(), DmaError> {
        if !region.is_writable() {
            return Err(DmaError::Unaligned);
        }
        DmaHal::init(region.base(), paddr, region.size())
    }
}
