//! `virtio_drivers::Transport` over virtio-mmio (version 2) registers reached
//! through [`Registers`]: the register protocol of the virtio-mmio spec (4.2.2),
//! as `virtio_drivers`' own `MmioTransport` speaks it to mapped memory.

use virtio_drivers::transport::mmio::MmioError;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{Error, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes};

mod reg {
    pub const MAGIC: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    pub const QUEUE_SEL: u64 = 0x030;
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    pub const QUEUE_NUM: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACK: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    pub const CONFIG: u64 = 0x100;
    pub const CONFIG_LEN: usize = 0x100;
    pub const MAGIC_VALUE: u32 = 0x7472_6976;
}

/// Reads and writes of one device's registers, by offset in its slot.
pub trait Registers {
    fn read(&self, offset: u64, width: u8) -> u64;
    fn write(&self, offset: u64, width: u8, value: u64);
}

/// The registers of the device at physical address `paddr`, through the host
/// kernel's `MmioRead`/`MmioWrite` system calls.
#[cfg(not(target_os = "none"))]
#[derive(Clone, Copy, Debug)]
pub struct HostRegisters {
    pub paddr: u64,
}

#[cfg(not(target_os = "none"))]
impl Registers for HostRegisters {
    fn read(&self, offset: u64, width: u8) -> u64 {
        microkit::host::mmio_read(self.paddr + offset, width)
    }
    fn write(&self, offset: u64, width: u8, value: u64) {
        microkit::host::mmio_write(self.paddr + offset, width, value)
    }
}

/// A modern virtio-mmio transport over [`Registers`].
pub struct RegisterTransport<R: Registers> {
    regs: R,
    device_type: DeviceType,
}

impl<R: Registers> RegisterTransport<R> {
    /// Checks the magic value, version (2 only) and device id.
    pub fn new(regs: R) -> Result<Self, MmioError> {
        let magic = regs.read(reg::MAGIC, 4) as u32;
        if magic != reg::MAGIC_VALUE {
            return Err(MmioError::BadMagic(magic));
        }
        let version = regs.read(reg::VERSION, 4) as u32;
        if version != 2 {
            return Err(MmioError::UnsupportedVersion(version));
        }
        let id = regs.read(reg::DEVICE_ID, 4) as u32;
        let device_type = DeviceType::try_from(id).map_err(MmioError::InvalidDeviceID)?;
        Ok(RegisterTransport { regs, device_type })
    }

    fn r32(&self, offset: u64) -> u32 {
        self.regs.read(offset, 4) as u32
    }

    fn w32(&self, offset: u64, value: u32) {
        self.regs.write(offset, 4, value as u64)
    }
}

impl<R: Registers> Transport for RegisterTransport<R> {
    fn device_type(&self) -> DeviceType {
        self.device_type
    }

    fn read_device_features(&mut self) -> u64 {
        self.w32(reg::DEVICE_FEATURES_SEL, 0);
        let low = self.r32(reg::DEVICE_FEATURES) as u64;
        self.w32(reg::DEVICE_FEATURES_SEL, 1);
        let high = self.r32(reg::DEVICE_FEATURES) as u64;
        high << 32 | low
    }

    fn write_driver_features(&mut self, driver_features: u64) {
        self.w32(reg::DRIVER_FEATURES_SEL, 0);
        self.w32(reg::DRIVER_FEATURES, driver_features as u32);
        self.w32(reg::DRIVER_FEATURES_SEL, 1);
        self.w32(reg::DRIVER_FEATURES, (driver_features >> 32) as u32);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.w32(reg::QUEUE_SEL, queue.into());
        self.r32(reg::QUEUE_NUM_MAX)
    }

    fn notify(&mut self, queue: u16) {
        self.w32(reg::QUEUE_NOTIFY, queue.into());
    }

    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.r32(reg::STATUS))
    }

    fn set_status(&mut self, status: DeviceStatus) {
        self.w32(reg::STATUS, status.bits());
    }

    fn set_guest_page_size(&mut self, _guest_page_size: u32) {
        // Modern devices have no page size register.
    }

    fn requires_legacy_layout(&self) -> bool {
        false
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.w32(reg::QUEUE_SEL, queue.into());
        self.w32(reg::QUEUE_NUM, size);
        self.w32(reg::QUEUE_DESC_LOW, descriptors as u32);
        self.w32(reg::QUEUE_DESC_HIGH, (descriptors >> 32) as u32);
        self.w32(reg::QUEUE_DRIVER_LOW, driver_area as u32);
        self.w32(reg::QUEUE_DRIVER_HIGH, (driver_area >> 32) as u32);
        self.w32(reg::QUEUE_DEVICE_LOW, device_area as u32);
        self.w32(reg::QUEUE_DEVICE_HIGH, (device_area >> 32) as u32);
        self.w32(reg::QUEUE_READY, 1);
    }

    fn queue_unset(&mut self, queue: u16) {
        self.w32(reg::QUEUE_SEL, queue.into());
        self.w32(reg::QUEUE_READY, 0);
        self.w32(reg::QUEUE_NUM, 0);
        for r in [
            reg::QUEUE_DESC_LOW,
            reg::QUEUE_DESC_HIGH,
            reg::QUEUE_DRIVER_LOW,
            reg::QUEUE_DRIVER_HIGH,
            reg::QUEUE_DEVICE_LOW,
            reg::QUEUE_DEVICE_HIGH,
        ] {
            self.w32(r, 0);
        }
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.w32(reg::QUEUE_SEL, queue.into());
        self.r32(reg::QUEUE_READY) != 0
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        let status = self.r32(reg::INTERRUPT_STATUS);
        if status != 0 {
            self.w32(reg::INTERRUPT_ACK, status);
        }
        InterruptStatus::from_bits_truncate(status)
    }

    fn read_config_generation(&self) -> u32 {
        self.r32(reg::CONFIG_GENERATION)
    }

    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, Error> {
        let size = core::mem::size_of::<T>();
        if offset.checked_add(size).is_none_or(|end| end > reg::CONFIG_LEN) {
            return Err(Error::ConfigSpaceTooSmall);
        }
        let mut buf = [0u8; reg::CONFIG_LEN];
        let at = reg::CONFIG + offset as u64;
        match size {
            1 | 2 | 4 => {
                let v = self.regs.read(at, size as u8);
                buf[..size].copy_from_slice(&v.to_le_bytes()[..size]);
            }
            _ => {
                for (i, b) in buf[..size].iter_mut().enumerate() {
                    *b = self.regs.read(at + i as u64, 1) as u8;
                }
            }
        }
        T::read_from_bytes(&buf[..size]).map_err(|_| Error::ConfigSpaceTooSmall)
    }

    fn write_config_space<T: IntoBytes + Immutable>(&mut self, offset: usize, value: T) -> Result<(), Error> {
        let bytes = value.as_bytes();
        if offset.checked_add(bytes.len()).is_none_or(|end| end > reg::CONFIG_LEN) {
            return Err(Error::ConfigSpaceTooSmall);
        }
        let at = reg::CONFIG + offset as u64;
        match bytes.len() {
            n @ (1 | 2 | 4) => {
                let mut w = [0u8; 8];
                w[..n].copy_from_slice(bytes);
                self.regs.write(at, n as u8, u64::from_le_bytes(w));
            }
            _ => {
                for (i, b) in bytes.iter().enumerate() {
                    self.regs.write(at + i as u64, 1, *b as u64);
                }
            }
        }
        Ok(())
    }
}

impl<R: Registers> Drop for RegisterTransport<R> {
    fn drop(&mut self) {
        // As MmioTransport does: a dropped driver leaves the device reset.
        self.w32(reg::STATUS, 0);
    }
}
