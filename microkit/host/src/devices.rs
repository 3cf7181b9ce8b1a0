//! The machine's devices: a virtio-mmio model (crate `virtio-model`) at every
//! slot `system.xml` maps (see `virtio_model::slots`), the same slots QEMU gets.
//!
//! - A driver reaches its device's registers with `MmioRead`/`MmioWrite` system
//!   calls; the kernel routes them by physical address, and only for the PD that
//!   maps the device's region (with the map's permissions). Anything else is a
//!   capability fault, as touching an unmapped device page is a VM fault on seL4.
//! - A device reaches only its driver's DMA regions (the kernel's own shared
//!   mapping of their memfds, by their `phys_addr`), like a device behind an IOMMU.
//! - A device raises its interrupt; the kernel delivers it as a notification on
//!   the driver's `irq` channel, and no further one until the driver acknowledges
//!   it (`irq_ack`), as seL4 does.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sdf::SystemDescription;
use virtio_model::slots::{Kind, Slot};
use virtio_model::{Device, Memory, Window};

use crate::layout::Layout;
use crate::process::Regions;

/// Where transmitted bytes or frames go (and a test reads them).
pub type Sink = Box<dyn FnMut(&[u8]) + Send>;

/// The console device's far end.
#[derive(Default)]
pub enum ConsoleIo {
    /// Output is dropped; nothing comes in (except through [`Device::input`]).
    #[default]
    Discard,
    /// The launcher's terminal: output to stdout, stdin to the device.
    Stdio,
    /// A Unix socket the kernel listens on; one client at a time.
    Socket(PathBuf),
    /// Output to a function; input through [`Device::input`].
    Sink(Sink),
}

/// The network device's far end.
#[derive(Default)]
pub enum NetIo {
    /// Frames sent are dropped; none come in (except through [`Device::input`]).
    #[default]
    Discard,
    /// A TAP interface of this name (needs CAP_NET_ADMIN).
    Tap(String),
    /// An in-process peer: frames to a function, frames in through [`Device::input`].
    Sink(Sink),
}

/// How to attach the devices of a system.
#[derive(Default)]
pub struct DeviceConfig {
    /// The raw disk image of the block device; `None`: a zeroed 16 MiB scratch
    /// disk in memory (nothing persists).
    pub disk: Option<PathBuf>,
    pub console: ConsoleIo,
    pub net: NetIo,
    /// The network device's MAC address (default 52:54:00:12:34:56, QEMU's).
    pub mac: Option<[u8; 6]>,
}

/// Size of the scratch disk used when no image is given.
const SCRATCH_DISK: u64 = 16 << 20;

/// A device and where it sits.
#[derive(Clone)]
pub struct Attached {
    pub slot: Slot,
    pub device: Device,
}

struct Entry {
    paddr: u64,
    pd: usize,
    read: bool,
    write: bool,
    device: Device,
}

/// The kernel's routing of register accesses.
#[derive(Default)]
pub(crate) struct DeviceTable {
    entries: Vec<Entry>,
}

impl DeviceTable {
    /// The device PD `pd` reaches at `paddr`, and the offset in its slot.
    pub(crate) fn route(&self, pd: usize, paddr: u64, write: bool) -> Option<(&Device, u64)> {
        let e = self
            .entries
            .iter()
            .find(|e| e.pd == pd && paddr >= e.paddr && paddr < e.paddr + virtio_model::reg::SLOT_SIZE)?;
        (if write { e.write } else { e.read }).then(|| (&e.device, paddr - e.paddr))
    }
}

struct Line {
    pd: usize,
    ch: u8,
    masked: bool,
    pending: bool,
}

/// Interrupt lines: which PD and channel each IRQ reaches, and whether it waits
/// for an acknowledgement.
#[derive(Default)]
pub(crate) struct IrqLines {
    lines: HashMap<u64, Line>,
}

impl IrqLines {
    pub(crate) fn new(layout: &Layout) -> IrqLines {
        let mut lines = HashMap::new();
        for (pd, spec) in layout.pds.iter().enumerate() {
            for &(irq, ch) in &spec.irq_lines {
                lines.insert(irq, Line { pd, ch, masked: false, pending: false });
            }
        }
        IrqLines { lines }
    }

    /// The IRQ fired: the (PD, channel) to signal now, if it is not masked.
    pub(crate) fn raise(&mut self, irq: u64) -> Option<(usize, u8)> {
        let line = self.lines.get_mut(&irq)?;
        if line.masked {
            line.pending = true;
            return None;
        }
        line.masked = true;
        Some((line.pd, line.ch))
    }

    /// PD `pd` acknowledged the IRQ on channel `ch`: unmasks it, and returns the
    /// signal to send if it fired meanwhile.
    pub(crate) fn ack(&mut self, pd: usize, ch: u8) -> Option<(usize, u8)> {
        let line = self.lines.values_mut().find(|l| l.pd == pd && l.ch == ch)?;
        line.masked = false;
        if std::mem::take(&mut line.pending) {
            line.masked = true;
            return Some((line.pd, line.ch));
        }
        None
    }

    /// A fresh instance of PD `pd` starts with its IRQs acknowledged (the seL4
    /// runtime acknowledges them at start-up).
    pub(crate) fn reset_pd(&mut self, pd: usize) {
        for line in self.lines.values_mut().filter(|l| l.pd == pd) {
            line.masked = false;
        }
    }
}

/// The kernel's own mapping of a region's memfd.
struct Mapping {
    addr: usize,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; the struct only unmaps it on drop.
unsafe impl Send for Mapping {}
// SAFETY: see Send.
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `map_region` made; no Window of it is
        // used after this (the Mapping is the owner of every Memory holding one).
        unsafe {
            let _ = rustix::mm::munmap(self.addr as *mut _, self.len);
        }
    }
}

fn map_region(regions: &Regions, region: usize, len: u64) -> io::Result<Mapping> {
    use rustix::mm::{MapFlags, ProtFlags};
    let len = len as usize;
    // SAFETY: a fresh shared mapping of a memfd at an address the kernel picks:
    // no existing memory is affected.
    let addr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            regions.memfd(region).as_fd(),
            0,
        )
    }?;
    Ok(Mapping { addr: addr as usize, len })
}

/// Builds every device of the system; `raise(irq)` is how a device interrupts.
pub(crate) fn build(
    sd: &SystemDescription,
    layout: &Layout,
    regions: &Regions,
    config: DeviceConfig,
    raise: impl Fn(u64) + Clone + Send + Sync + 'static,
) -> io::Result<(DeviceTable, Vec<Attached>)> {
    let slots = virtio_model::slots::from_system(sd).map_err(io::Error::other)?;
    let mut table = DeviceTable::default();
    let mut attached = Vec::new();
    let DeviceConfig { disk, console, net, mac } = config;
    let (mut console, mut net) = (Some(console), Some(net));
    for slot in slots {
        let pd = layout.index_of(&slot.driver).ok_or_else(|| io::Error::other(format!("no PD {}", slot.driver)))?;
        let mut windows = Vec::new();
        let mut mappings = Vec::new();
        for name in &slot.dma {
            let Some(r) = layout.regions.iter().position(|r| &r.name == name) else { continue };
            let spec = &layout.regions[r];
            let mapping = map_region(regions, r, spec.size)?;
            // SAFETY: the mapping stays alive as long as the Memory (its owner).
            windows.push(unsafe { Window::new(spec.phys_addr.unwrap_or(0), spec.size, mapping.addr) });
            mappings.push(mapping);
        }
        let mem = Memory::with_owner(windows, Arc::new(mappings));
        let irq_no = slot.irq;
        let r = raise.clone();
        let irq: virtio_model::Irq = Arc::new(move || r(irq_no));
        let device = match slot.kind {
            Kind::Blk => {
                let blk = match &disk {
                    Some(path) => virtio_model::blk::Blk::open(path)
                        .map_err(|e| io::Error::new(e.kind(), format!("disk image {}: {e}", path.display())))?,
                    None => {
                        let fd = rustix::fs::memfd_create("scratch-disk", rustix::fs::MemfdFlags::CLOEXEC)?;
                        rustix::fs::ftruncate(&fd, SCRATCH_DISK)?;
                        virtio_model::blk::Blk::new(std::fs::File::from(fd), false)?
                    }
                };
                Device::new(blk, mem, irq)
            }
            Kind::Console => attach_console(console.take().unwrap_or_default(), mem, irq)?,
            Kind::Net => {
                attach_net(net.take().unwrap_or_default(), mac.unwrap_or([0x52, 0x54, 0, 0x12, 0x34, 0x56]), mem, irq)?
            }
        };
        let map = layout.pds[pd].maps.iter().find(|m| layout.regions[m.region].name == slot.region);
        table.entries.push(Entry {
            paddr: slot.paddr,
            pd,
            read: map.is_some_and(|m| m.perms.read),
            write: map.is_some_and(|m| m.perms.write),
            device: device.clone(),
        });
        attached.push(Attached { slot, device });
    }
    Ok((table, attached))
}

fn attach_console(io: ConsoleIo, mem: Memory, irq: virtio_model::Irq) -> io::Result<Device> {
    use virtio_model::console::Console;
    match io {
        ConsoleIo::Discard => Ok(Device::new(Console::new(Box::new(|_: &[u8]| {})), mem, irq)),
        ConsoleIo::Sink(sink) => Ok(Device::new(Console::new(sink), mem, irq)),
        ConsoleIo::Stdio => {
            let sink = Box::new(|bytes: &[u8]| {
                let mut out = io::stdout().lock();
                let _ = out.write_all(bytes);
                let _ = out.flush();
            });
            let device = Device::new(Console::new(sink), mem, irq);
            let d = device.clone();
            std::thread::Builder::new().name("console-stdin".into()).spawn(move || {
                let mut buf = [0u8; 256];
                let mut stdin = io::stdin();
                while let Ok(n @ 1..) = stdin.read(&mut buf) {
                    d.input(&buf[..n]);
                }
            })?;
            Ok(device)
        }
        ConsoleIo::Socket(path) => {
            let _ = std::fs::remove_file(&path);
            let listener = std::os::unix::net::UnixListener::bind(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("console socket {}: {e}", path.display())))?;
            // Output before anyone connects is kept (up to 64 KiB) and sent on connect.
            let current: Arc<Mutex<(Option<std::os::unix::net::UnixStream>, Vec<u8>)>> = Arc::default();
            let out = current.clone();
            let sink = Box::new(move |bytes: &[u8]| {
                let mut cur = out.lock().unwrap_or_else(|e| e.into_inner());
                let (conn, early) = &mut *cur;
                match conn.as_mut() {
                    Some(s) => {
                        let _ = s.write_all(bytes);
                    }
                    None if early.len() + bytes.len() <= 1 << 16 => early.extend_from_slice(bytes),
                    None => {}
                }
            });
            let device = Device::new(Console::new(sink), mem, irq);
            let d = device.clone();
            std::thread::Builder::new().name("console-socket".into()).spawn(move || {
                for conn in listener.incoming() {
                    let Ok(mut conn) = conn else { break };
                    if let Ok(mut w) = conn.try_clone() {
                        let mut cur = current.lock().unwrap_or_else(|e| e.into_inner());
                        let early = std::mem::take(&mut cur.1);
                        let _ = w.write_all(&early);
                        cur.0 = Some(w);
                    }
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = conn.read(&mut buf) {
                        d.input(&buf[..n]);
                    }
                    current.lock().unwrap_or_else(|e| e.into_inner()).0 = None;
                }
            })?;
            Ok(device)
        }
    }
}

fn attach_net(io: NetIo, mac: [u8; 6], mem: Memory, irq: virtio_model::Irq) -> io::Result<Device> {
    use virtio_model::net::Net;
    match io {
        NetIo::Discard => Ok(Device::new(Net::new(mac, Box::new(|_: &[u8]| {})), mem, irq)),
        NetIo::Sink(sink) => Ok(Device::new(Net::new(mac, sink), mem, irq)),
        NetIo::Tap(name) => {
            let tap = virtio_model::tap::Tap::open(&name)
                .map_err(|e| io::Error::new(e.kind(), format!("TAP {name}: {e}")))?;
            let device = Device::new(Net::new(mac, tap.sink()?), mem, irq);
            tap.pump_into(device.clone())?;
            Ok(device)
        }
    }
}
