//! The virtio-mmio transport of a device model: register file, feature
//! negotiation, status and reset, queues, interrupts (virtio 1.2, 4.2.2).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::F_VERSION_1;
use crate::faults::{Counter, Faults, Malice};
use crate::mem::Memory;
use crate::queue::{Chain, Queue, QueueError};

/// Register offsets of virtio-mmio version 2.
pub mod reg {
    pub const MAGIC: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const VENDOR_ID: u64 = 0x00c;
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
    /// Size of one virtio-mmio slot (QEMU virt).
    pub const SLOT_SIZE: u64 = 0x200;

    pub const MAGIC_VALUE: u32 = 0x7472_6976;
    /// "QEMU" (QEMU's vendor id), so drivers see the same on both kernels.
    pub const VENDOR_QEMU: u32 = 0x554d_4551;

    pub const STATUS_FEATURES_OK: u32 = 8;
    pub const STATUS_DRIVER_OK: u32 = 4;
    pub const STATUS_NEEDS_RESET: u32 = 64;
    pub const INT_USED: u32 = 1;
    pub const INT_CONFIG: u32 = 2;
}

/// Raises the device's interrupt line (the host kernel turns it into a
/// notification on the driver's IRQ channel).
pub type Irq = Arc<dyn Fn() + Send + Sync>;

/// What a device does with its queues: the device type proper.
pub trait Backend: Send + 'static {
    /// Short name for messages (`blk`, `net`, `console`).
    fn name(&self) -> &'static str;
    /// The virtio device id ([`crate::id`]).
    fn device_id(&self) -> u32;
    /// Device-specific feature bits offered (VERSION_1 is added by the transport).
    fn features(&self) -> u64;
    /// QueueNumMax of each queue.
    fn queue_sizes(&self) -> Vec<u16>;
    /// The device configuration space.
    fn config(&self) -> Vec<u8>;
    /// The driver reset the device.
    fn reset(&mut self) {}
    /// Serve queue `q`: the driver notified it, or input arrived for it.
    fn process(&mut self, ctx: &mut Ctx<'_>, q: usize) -> Result<(), QueueError>;
    /// Input from the outside world (a frame, console bytes); the transport then
    /// calls `process` for [`Backend::input_queue`].
    fn input(&mut self, _data: &[u8]) {}
    /// The queue that input arrives on, if any.
    fn input_queue(&self) -> Option<usize> {
        None
    }
}

/// Counters of a device, for tests and benchmarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Chains completed (put in a used ring).
    pub completed: u64,
    /// Requests whose data a fault knob dropped.
    pub dropped: u64,
    /// Requests whose data a fault knob corrupted.
    pub corrupted: u64,
    /// Lies told in the used ring (malicious mode).
    pub lies: u64,
    /// Interrupts raised.
    pub interrupts: u64,
    /// Device resets by the driver (status 0).
    pub resets: u64,
    /// Driver errors that put the device in DEVICE_NEEDS_RESET.
    pub driver_errors: u64,
    /// The last such error.
    pub last_error: Option<String>,
}

/// What a backend may do while it serves a queue.
pub struct Ctx<'a> {
    pub mem: &'a Memory,
    queues: &'a mut [Queue],
    faults: &'a Faults,
    drops: &'a mut Counter,
    corrupts: &'a mut Counter,
    stats: &'a mut Stats,
    completed: bool,
}

impl Ctx<'_> {
    /// Takes the next chain the driver made available on queue `q`.
    pub fn pop(&mut self, q: usize) -> Result<Option<Chain>, QueueError> {
        match self.queues.get_mut(q) {
            Some(queue) => queue.pop(self.mem),
            None => Ok(None),
        }
    }

    /// True if queue `q` has a chain available.
    pub fn has_available(&self, q: usize) -> Result<bool, QueueError> {
        match self.queues.get(q) {
            Some(queue) => queue.has_available(self.mem),
            None => Ok(false),
        }
    }

    /// Returns `chain` to the driver on queue `q`, `len` bytes written into it.
    /// A malicious device lies here.
    pub fn complete(&mut self, q: usize, chain: &Chain, len: u32) -> Result<(), QueueError> {
        let Some(queue) = self.queues.get_mut(q) else { return Ok(()) };
        match self.faults.malice {
            None => queue.push_used(self.mem, chain.head, len)?,
            Some(Malice::BadId) => queue.push_used_raw(self.mem, queue.num as u32 + 7, len, 1)?,
            Some(Malice::BadLen) => queue.push_used_raw(self.mem, chain.head as u32, u32::MAX - 3, 1)?,
            Some(Malice::BadIdx) => queue.push_used_raw(self.mem, chain.head as u32, len, 1000)?,
        }
        if self.faults.malice.is_some() {
            self.stats.lies += 1;
        }
        self.stats.completed += 1;
        self.completed = true;
        Ok(())
    }

    /// Counts a request for the drop knob; true if this one's data is lost.
    pub fn drop_this(&mut self) -> bool {
        let hit = self.drops.hit(self.faults.drop_every);
        if hit {
            self.stats.dropped += 1;
        }
        hit
    }

    /// Counts a request for the corrupt knob and, if it is hit, flips a byte of
    /// `data` (the last one: payload, not a header).
    pub fn maybe_corrupt(&mut self, data: &mut [u8]) {
        if self.corrupts.hit(self.faults.corrupt_every)
            && let Some(b) = data.last_mut()
        {
            *b ^= 0xff;
            self.stats.corrupted += 1;
        }
    }
}

struct Inner {
    backend: Box<dyn Backend>,
    mem: Memory,
    irq: Irq,
    features: u64,
    config: Vec<u8>,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: Vec<Queue>,
    interrupt_status: u32,
    status: u32,
    config_generation: u32,
    faults: Faults,
    drops: Counter,
    corrupts: Counter,
    stats: Stats,
    /// Bumped on every reset, so a delayed completion of an earlier life is dropped.
    epoch: u64,
}

/// A virtio-mmio device: cheap to clone (a handle), safe to use from the kernel's
/// thread and the backend's input thread at once.
#[derive(Clone)]
pub struct Device {
    inner: Arc<Mutex<Inner>>,
}

impl Device {
    /// A device of type `backend`, reaching `mem`, raising `irq`.
    pub fn new(backend: impl Backend, mem: Memory, irq: Irq) -> Device {
        let queues = backend.queue_sizes().into_iter().map(Queue::new).collect();
        let features = backend.features() | F_VERSION_1;
        let config = backend.config();
        Device {
            inner: Arc::new(Mutex::new(Inner {
                backend: Box::new(backend),
                mem,
                irq,
                features,
                config,
                device_features_sel: 0,
                driver_features_sel: 0,
                driver_features: 0,
                queue_sel: 0,
                queues,
                interrupt_status: 0,
                status: 0,
                config_generation: 0,
                faults: Faults::none(),
                drops: Counter::default(),
                corrupts: Counter::default(),
                stats: Stats::default(),
                epoch: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the state consistent
        // enough for a device model: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The backend's short name.
    pub fn name(&self) -> &'static str {
        self.lock().backend.name()
    }

    /// Sets the fault knobs.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// The device status register.
    pub fn status(&self) -> u32 {
        self.lock().status
    }

    /// A register read of `width` bytes at `offset` in the slot.
    pub fn read(&self, offset: u64, width: u8) -> u64 {
        let d = self.lock();
        if offset >= reg::CONFIG {
            return d.read_config(offset - reg::CONFIG, width);
        }
        if width != 4 || !offset.is_multiple_of(4) {
            return 0;
        }
        let q = d.queues.get(d.queue_sel as usize);
        let v: u32 = match offset {
            reg::MAGIC => reg::MAGIC_VALUE,
            reg::VERSION => 2,
            reg::DEVICE_ID => d.backend.device_id(),
            reg::VENDOR_ID => reg::VENDOR_QEMU,
            reg::DEVICE_FEATURES => match d.device_features_sel {
                0 => d.features as u32,
                1 => (d.features >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => q.map_or(0, |q| q.max as u32),
            reg::QUEUE_READY => q.map_or(0, |q| q.ready as u32),
            reg::INTERRUPT_STATUS => d.interrupt_status,
            reg::STATUS => d.status,
            reg::CONFIG_GENERATION => d.config_generation,
            _ => 0,
        };
        v as u64
    }

    /// A register write of `width` bytes at `offset` in the slot.
    pub fn write(&self, offset: u64, width: u8, value: u64) {
        let mut d = self.lock();
        if offset >= reg::CONFIG {
            return; // no writable configuration fields in these models
        }
        if width != 4 || !offset.is_multiple_of(4) {
            return;
        }
        let v = value as u32;
        let sel = d.queue_sel as usize;
        let set_low = |old: u64| (old & !0xffff_ffff) | v as u64;
        let set_high = |old: u64| (old & 0xffff_ffff) | (v as u64) << 32;
        match offset {
            reg::DEVICE_FEATURES_SEL => d.device_features_sel = v,
            reg::DRIVER_FEATURES_SEL => d.driver_features_sel = v,
            reg::DRIVER_FEATURES => match d.driver_features_sel {
                0 => d.driver_features = set_low(d.driver_features),
                1 => d.driver_features = set_high(d.driver_features),
                _ => {}
            },
            reg::QUEUE_SEL => d.queue_sel = v,
            reg::QUEUE_NUM => {
                if let Some(q) = d.queues.get_mut(sel) {
                    q.num = v.min(u16::MAX as u32) as u16;
                }
            }
            reg::QUEUE_READY => {
                if let Some(q) = d.queues.get_mut(sel) {
                    q.ready = v & 1 == 1;
                }
            }
            reg::QUEUE_DESC_LOW
            | reg::QUEUE_DESC_HIGH
            | reg::QUEUE_DRIVER_LOW
            | reg::QUEUE_DRIVER_HIGH
            | reg::QUEUE_DEVICE_LOW
            | reg::QUEUE_DEVICE_HIGH => {
                if let Some(q) = d.queues.get_mut(sel) {
                    let high = offset & 4 != 0;
                    let field = match offset & !4 {
                        reg::QUEUE_DESC_LOW => &mut q.desc,
                        reg::QUEUE_DRIVER_LOW => &mut q.avail,
                        _ => &mut q.used,
                    };
                    *field = if high { set_high(*field) } else { set_low(*field) };
                }
            }
            reg::QUEUE_NOTIFY => {
                let delay = d.faults.delay;
                match delay {
                    None => d.serve(v as usize),
                    Some(delay) => {
                        let epoch = d.epoch;
                        let device = self.clone();
                        drop(d);
                        std::thread::spawn(move || {
                            std::thread::sleep(delay);
                            let mut d = device.lock();
                            if d.epoch == epoch {
                                d.serve(v as usize);
                            }
                        });
                    }
                }
            }
            reg::INTERRUPT_ACK => d.interrupt_status &= !v,
            reg::STATUS => d.set_status(v),
            _ => {}
        }
    }

    /// Input from the outside world (see [`Backend::input`]).
    pub fn input(&self, data: &[u8]) {
        let mut d = self.lock();
        d.backend.input(data);
        if let Some(q) = d.backend.input_queue() {
            d.serve(q);
        }
    }

    /// Serves queue `q` as if the driver had notified it (a backend whose output
    /// drained may call this).
    pub fn kick(&self, q: usize) {
        self.lock().serve(q);
    }
}

impl Inner {
    fn read_config(&self, offset: u64, width: u8) -> u64 {
        let (off, w) = (offset as usize, width as usize);
        if !matches!(w, 1 | 2 | 4 | 8) || off.checked_add(w).is_none_or(|end| end > self.config.len()) {
            return 0;
        }
        let mut b = [0u8; 8];
        b[..w].copy_from_slice(&self.config[off..off + w]);
        u64::from_le_bytes(b)
    }

    fn set_status(&mut self, v: u32) {
        if v == 0 {
            self.reset();
            return;
        }
        let mut v = v;
        if v & reg::STATUS_FEATURES_OK != 0 && self.driver_features & !self.features != 0 {
            // The driver accepted features never offered: refuse FEATURES_OK.
            v &= !reg::STATUS_FEATURES_OK;
        }
        if v & reg::STATUS_FEATURES_OK != 0 && self.driver_features & F_VERSION_1 == 0 {
            v &= !reg::STATUS_FEATURES_OK; // a modern device needs VERSION_1
        }
        self.status = v | (self.status & reg::STATUS_NEEDS_RESET);
    }

    fn reset(&mut self) {
        self.status = 0;
        self.driver_features = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.queue_sel = 0;
        self.interrupt_status = 0;
        for q in &mut self.queues {
            q.reset();
        }
        self.backend.reset();
        self.stats.resets += 1;
        self.epoch += 1;
    }

    /// Serves queue `q` if the driver is up and the device is sane.
    fn serve(&mut self, q: usize) {
        if self.status & reg::STATUS_DRIVER_OK == 0 || self.status & reg::STATUS_NEEDS_RESET != 0 {
            return;
        }
        if self.queues.get(q).is_none_or(|queue| !queue.ready) {
            return;
        }
        let mut ctx = Ctx {
            mem: &self.mem,
            queues: &mut self.queues,
            faults: &self.faults,
            drops: &mut self.drops,
            corrupts: &mut self.corrupts,
            stats: &mut self.stats,
            completed: false,
        };
        let result = self.backend.process(&mut ctx, q);
        let completed = ctx.completed;
        let mut raise = 0;
        if completed {
            raise |= reg::INT_USED;
        }
        if let Err(e) = result {
            self.status |= reg::STATUS_NEEDS_RESET;
            self.stats.driver_errors += 1;
            self.stats.last_error = Some(format!("{} queue {q}: {e}", self.backend.name()));
            self.config_generation = self.config_generation.wrapping_add(1);
            raise |= reg::INT_CONFIG;
        }
        if raise != 0 {
            self.interrupt_status |= raise;
            self.stats.interrupts += 1;
            (self.irq)();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::Window;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_driver_handing_garbage_gets_the_device_into_needs_reset_not_a_wild_write() {
        let buf: &'static mut [u8] = Box::leak(vec![0u8; 0x4000].into_boxed_slice());
        let host = buf.as_mut_ptr() as usize;
        // SAFETY: leaked: mapped for the rest of the test process.
        let mem = Memory::new(vec![unsafe { Window::new(0x10000, 0x4000, host) }]);
        let irqs = Arc::new(AtomicU64::new(0));
        let i = irqs.clone();
        let sink = Box::new(|_: &[u8]| panic!("nothing may be sent"));
        let dev = Device::new(
            crate::net::Net::new([2, 0, 0, 0, 0, 1], sink),
            mem.clone(),
            Arc::new(move || {
                i.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert_eq!(dev.read(reg::MAGIC, 4), reg::MAGIC_VALUE as u64);
        assert_eq!(dev.read(reg::VERSION, 4), 2);
        // Feature negotiation: a feature never offered is refused.
        dev.write(reg::DRIVER_FEATURES_SEL, 4, 0);
        dev.write(reg::DRIVER_FEATURES, 4, 1 << 3);
        dev.write(reg::STATUS, 4, 1 | 2 | 8);
        assert_eq!(dev.read(reg::STATUS, 4) as u32 & reg::STATUS_FEATURES_OK, 0);
        dev.write(reg::STATUS, 4, 0); // reset
        dev.write(reg::DRIVER_FEATURES_SEL, 4, 1);
        dev.write(reg::DRIVER_FEATURES, 4, 1); // VERSION_1
        dev.write(reg::STATUS, 4, 1 | 2 | 8);
        assert_ne!(dev.read(reg::STATUS, 4) as u32 & reg::STATUS_FEATURES_OK, 0);
        // The transmit queue, with a descriptor pointing outside the DMA memory.
        dev.write(reg::QUEUE_SEL, 4, 1);
        dev.write(reg::QUEUE_NUM, 4, 4);
        dev.write(reg::QUEUE_DESC_LOW, 4, 0x10000);
        dev.write(reg::QUEUE_DRIVER_LOW, 4, 0x11000);
        dev.write(reg::QUEUE_DEVICE_LOW, 4, 0x12000);
        dev.write(reg::QUEUE_READY, 4, 1);
        dev.write(reg::STATUS, 4, 1 | 2 | 8 | 4);
        mem.write(0x10000, &0xdead_0000u64.to_le_bytes()).unwrap();
        mem.write_u32(0x10008, 64).unwrap();
        mem.write_u16(0x11004, 0).unwrap();
        mem.write_u16(0x11002, 1).unwrap();
        let before: Vec<u8> = buf_copy(host);
        dev.write(reg::QUEUE_NOTIFY, 4, 1);
        assert_ne!(dev.read(reg::STATUS, 4) as u32 & reg::STATUS_NEEDS_RESET, 0);
        assert_eq!(dev.read(reg::INTERRUPT_STATUS, 4) as u32 & reg::INT_CONFIG, reg::INT_CONFIG);
        assert_eq!(irqs.load(Ordering::SeqCst), 1);
        assert!(dev.stats().last_error.unwrap().contains("outside"));
        // Nothing was written anywhere, not even the used ring.
        assert_eq!(buf_copy(host), before);
        // A reset clears it.
        dev.write(reg::STATUS, 4, 0);
        assert_eq!(dev.read(reg::STATUS, 4), 0);
    }

    fn buf_copy(host: usize) -> Vec<u8> {
        let mut v = vec![0u8; 0x4000];
        // SAFETY: the leaked buffer of the test, 0x4000 bytes.
        unsafe { std::ptr::copy_nonoverlapping(host as *const u8, v.as_mut_ptr(), v.len()) };
        v
    }
}
