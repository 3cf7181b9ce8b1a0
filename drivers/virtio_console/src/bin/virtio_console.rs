//! The virtio console driver PD: output chunks from its client (driver-queue pair
//! 0) go to the device; input from the device fills the buffers the client posts
//! (pair 1). Resets the device in `init`. The queue work and the error policy are
//! `driver_queue::DriverShell`'s: a device that misbehaves fails the request in
//! hand and makes the driver fault (the reincarnation server restarts it; the
//! client resubmits what it held).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use driver_queue::{Desc, Device, DriverPd, DriverShell, Reply, status};
use microkit::{Channel, Region, debug_println};
use virtio_console::ConsoleCore;
use virtio_console::protocol::{self, QUEUES, TX};
use virtio_hal::{DeviceMaps, DmaHal, PdTransport};

microkit::include_system!("virtio_console");

const DEVICE_IRQ: Channel = irq::IRQ_56;
const CLIENT: Channel = channel::VFS;
/// Input kept while the client has no buffer posted; older bytes are dropped past this.
const BACKLOG: usize = 1 << 16;

/// The device, its input not delivered yet, and the output bounce buffer.
struct Console {
    core: ConsoleCore<DmaHal, PdTransport>,
    backlog: VecDeque<u8>,
    buf: Vec<u8>,
}

impl Device<Region> for Console {
    type Error = virtio_drivers::Error;

    /// Output: sends one chunk. Input: fills a posted buffer.
    fn serve(&mut self, pair: usize, data: &Region, req: &Desc) -> Result<Reply, Self::Error> {
        if pair != TX {
            return Ok(self.fill(data, req));
        }
        let len = req.len as usize;
        if data.read_bytes(req.offset as usize, &mut self.buf[..len]).is_err() {
            return Ok(Reply::failed(status::INVALID));
        }
        self.core.send(&self.buf[..len])?;
        Ok(Reply::ok(req.len))
    }

    fn has_input(&self, _pair: usize) -> bool {
        !self.backlog.is_empty()
    }

    /// Moves what the device received into the backlog.
    fn interrupt(&mut self) -> Result<(), Self::Error> {
        let mut chunk = [0u8; 256];
        loop {
            let n = self.core.receive(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            let over = (self.backlog.len() + n).saturating_sub(BACKLOG);
            self.backlog.drain(..over.min(self.backlog.len()));
            self.backlog.extend(&chunk[..n]);
        }
    }
}

impl Console {
    /// Fills one posted input buffer with the oldest bytes of the backlog.
    fn fill(&mut self, data: &Region, buf: &Desc) -> Reply {
        // The oldest `n` bytes, straight from the backlog's two halves.
        let n = (buf.len as usize).min(self.backlog.len());
        let (front, back) = self.backlog.as_slices();
        let (first, second) = if n <= front.len() { (&front[..n], &[][..]) } else { (front, &back[..n - front.len()]) };
        let offset = buf.offset as usize;
        let written = data.write_bytes(offset, first).and_then(|()| data.write_bytes(offset + first.len(), second));
        self.backlog.drain(..n);
        if written.is_ok() { Reply::ok(n as u32) } else { Reply { status: status::INVALID, len: n as u32 } }
    }
}

fn init() -> DriverPd<Console> {
    let transport = virtio_hal::bring_up(
        "virtio_console",
        DeviceMaps {
            dma: (region::virtio_console_dma(), setvar::dma_paddr()),
            regs: (region::virtio_console_regs(), setvar::regs_paddr()),
        },
    );
    let core = match ConsoleCore::new(transport) {
        Ok(core) => core,
        Err(e) => panic!("virtio_console: cannot set up the device: {e}"),
    };
    debug_println!("virtio_console: device reset and ready");
    // Asks the client to attach us to its queues (the restart protocol).
    let shell =
        match DriverShell::new("virtio_console", region::console_queues(), region::console_data(), &QUEUES, CLIENT) {
            Ok(shell) => shell,
            Err(e) => panic!("virtio_console: the client's queues: {e}"),
        };
    let console = Console { core, backlog: VecDeque::new(), buf: vec![0; protocol::BUF as usize] };
    DriverPd::new(shell, console, DEVICE_IRQ, CLIENT)
}

microkit::protection_domain!(init);
