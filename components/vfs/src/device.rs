//! Character devices under `/dev`: today `/dev/console` ([`Console`]). Their
//! requests are answered in the call (see `vfs_api::protocol`, "Character
//! devices"): nothing waits for a disk, so nothing goes in flight, and a
//! client may use the console while a file request of its own is in flight.
//!
//! `/dev/console` is open to one handle at a time, of a client whose entry in
//! `vfs.toml` lists the device; the handle does not count against the
//! client's `max_open`. A handle is opened on the console's current stream
//! and gets EIO once the stream broke (a driver restart); closing it and
//! opening again gives a handle on the fresh stream.

use driver_queue::{Notify, SharedMem};
use vfs_api::protocol::{Request, Span};
use vfs_api::{Handle, OpenFlags, VfsError};

use crate::console::Console;
use crate::server::Reply;

/// The console's path.
pub const CONSOLE_PATH: &str = "/dev/console";
/// The handle slot that names the console (file handles use slots below the
/// sum of the clients' limits, at most a few hundred).
pub const CONSOLE_SLOT: u16 = u16::MAX;

/// The directory of the devices: a path under it names one.
pub const DEV: &str = "/dev/";

/// Whether a request on `handle` is a device's.
pub fn is_device_handle(handle: Handle) -> bool {
    handle.slot() == CONSOLE_SLOT
}

/// The console handle, open.
#[derive(Clone, Copy, Debug)]
struct Opened {
    owner: usize,
    generation: u32,
    stream: u64,
    flags: OpenFlags,
    /// The owner's last read found nothing: notify it when input comes.
    want_read: bool,
    /// The owner's last write found no room: notify it when there is.
    want_write: bool,
}

/// `/dev/console` and who has it open.
pub struct ConsoleDevice<M: SharedMem + Clone, N: Notify> {
    console: Console<M, N>,
    open: Option<Opened>,
    generation: u32,
}

/// A client as the devices see it: its index, data region, and whether it may
/// open the console.
pub struct Caller<'a, M> {
    pub index: usize,
    pub region: &'a M,
    pub console: bool,
}

impl<M: SharedMem + Clone, N: Notify> ConsoleDevice<M, N> {
    pub fn new(console: Console<M, N>) -> Self {
        ConsoleDevice { console, open: None, generation: 0 }
    }

    pub fn console(&self) -> &Console<M, N> {
        &self.console
    }

    /// Opens the device at `path` for `caller`.
    pub fn open(&mut self, caller: &Caller<'_, M>, path: &str, flags: OpenFlags) -> Reply {
        if path != CONSOLE_PATH {
            return Reply::err(VfsError::NotFound);
        }
        if !caller.console {
            return Reply::err(VfsError::Denied);
        }
        // A stream has no size, no position and nothing to create.
        if !flags.valid() || flags.0 & !(OpenFlags::READ | OpenFlags::WRITE).0 != 0 {
            return Reply::err(VfsError::BadRequest);
        }
        if self.open.is_some() {
            return Reply::err(VfsError::InUse);
        }
        self.generation = self.generation.wrapping_add(1);
        self.console.discard_input();
        self.open = Some(Opened {
            owner: caller.index,
            generation: self.generation,
            stream: self.console.stream(),
            flags,
            want_read: false,
            want_write: false,
        });
        Reply::ok(&[Handle::new(CONSOLE_SLOT, self.generation).0])
    }

    /// Serves a request on a console handle (`is_device_handle`).
    pub fn serve(&mut self, caller: &Caller<'_, M>, request: Request) -> Reply {
        let Some(handle) = request.handle() else { return Reply::err(VfsError::BadRequest) };
        let opened = match self.open {
            Some(o) if o.generation == handle.generation() && handle.slot() == CONSOLE_SLOT => o,
            _ => return Reply::err(VfsError::BadHandle),
        };
        if opened.owner != caller.index {
            return Reply::err(VfsError::NotOwner);
        }
        match request {
            Request::Close(_) => {
                self.open = None;
                Reply::ok(&[])
            }
            _ if opened.stream != self.console.stream() => Reply::err(VfsError::Io),
            Request::Read { to, .. } if opened.flags.contains(OpenFlags::READ) => self.read(caller, to),
            Request::Write { from, .. } if opened.flags.contains(OpenFlags::WRITE) => self.write(caller, from),
            // Reading or writing without the flag; no seek or sync on a stream.
            _ => Reply::err(VfsError::Denied),
        }
    }

    fn read(&mut self, caller: &Caller<'_, M>, to: Span) -> Reply {
        let want = to.len.min(crate::console::INPUT_MAX);
        let mut buf = alloc::vec![0u8; want];
        let n = self.console.read(&mut buf);
        if n == 0 {
            self.set_want(|o| o.want_read = true);
            return Reply::err(VfsError::WouldBlock);
        }
        if caller.region.write_bytes(to.offset, &buf[..n]).is_err() {
            // The span was checked against the region's size: not reached.
            return Reply::err(VfsError::BadRequest);
        }
        Reply::ok(&[n as u64])
    }

    fn write(&mut self, caller: &Caller<'_, M>, from: Span) -> Reply {
        let mut data = alloc::vec![0u8; from.len];
        if caller.region.read_bytes(from.offset, &mut data).is_err() {
            return Reply::err(VfsError::BadRequest);
        }
        let n = self.console.write(&data);
        if n == 0 && !data.is_empty() {
            self.set_want(|o| o.want_write = true);
            return Reply::err(VfsError::WouldBlock);
        }
        Reply::ok(&[n as u64])
    }

    fn set_want(&mut self, f: impl FnOnce(&mut Opened)) {
        if let Some(o) = self.open.as_mut() {
            f(o);
        }
    }

    /// The console driver notified: its events. Returns the client index to
    /// notify: the owner, if the stream broke, or input or room came that
    /// its last read or write waited for.
    pub fn on_driver_notify(&mut self) -> Option<usize> {
        let changes = self.console.on_notify();
        if changes.broke {
            let c = self.console.counters();
            microkit::debug_println!(
                "vfs: /dev/console: a fresh console driver attached (stream {}); {} bytes of output lost in all; \
                 handles on the old stream get EIO",
                self.console.stream(),
                c.output_lost
            );
        }
        let o = self.open.as_mut()?;
        let wake = changes.broke && o.stream != self.console.stream()
            || (o.want_read && changes.input)
            || (o.want_write && changes.space);
        if wake {
            o.want_read = false;
            o.want_write = false;
        }
        wake.then_some(o.owner)
    }
}
