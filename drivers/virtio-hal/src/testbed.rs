//! A driver and a device model in one process, for unit tests: the driver's
//! transport calls the model directly, and the DMA pool is a buffer of this
//! process that the model reaches at the same physical addresses.
extern crate std;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::vec;

use virtio_model::{Device, Irq, Memory, Window};

use crate::{DmaHal, RegisterTransport, Registers};

/// Physical address of the test pool.
pub const POOL_PADDR: u64 = 0x4000_0000;
/// Size of the test pool (shared by every test of a process).
pub const POOL_SIZE: usize = 16 << 20;

impl Registers for Device {
    fn read(&self, offset: u64, width: u8) -> u64 {
        Device::read(self, offset, width)
    }
    fn write(&self, offset: u64, width: u8, value: u64) {
        Device::write(self, offset, width, value)
    }
}

/// The DMA pool (set up on first use) as the device sees it.
pub fn memory() -> Memory {
    static HOST: OnceLock<usize> = OnceLock::new();
    let host = *HOST.get_or_init(|| {
        // Page-aligned: allocate one page more and round up.
        let buf: &'static mut [u8] = std::boxed::Box::leak(vec![0u8; POOL_SIZE + 4096].into_boxed_slice());
        let host = (buf.as_mut_ptr() as usize).next_multiple_of(4096);
        DmaHal::init(host, POOL_PADDR, POOL_SIZE).expect("test DMA pool");
        host
    });
    // SAFETY: the buffer is leaked: mapped for the rest of the process.
    Memory::new(vec![unsafe { Window::new(POOL_PADDR, POOL_SIZE as u64, host) }])
}

/// An interrupt line that counts.
pub fn counting_irq() -> (Irq, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    (
        Arc::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }),
        count,
    )
}

/// A transport to `device`.
pub fn transport(device: &Device) -> RegisterTransport<Device> {
    RegisterTransport::new(device.clone()).expect("a virtio-mmio device")
}
