//! The server's core: clients, their handles and their requests, over the
//! file system on the [`Port`]. The PD shell hands it each call
//! ([`Vfs::call`]) and polls it after every event ([`Vfs::poll`]); it answers
//! calls at once and says which clients to notify.
//!
//! One file system operation runs at a time (the file system is one `&mut`
//! object): accepted requests wait in a first-in, first-out queue, and the
//! running one is a [`Task`] that owns the file system until it finishes and
//! gives it back. Each client has at most one request, so the queue is at most
//! as long as there are clients, and no client can starve another.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::task::Poll;

use driver_queue::{Notify, SharedMem};
use hadris_fat::async_::FatFs;
use hadris_fs::{DirCursor, ErrorKind, FileType, MountOptions, Name, NodeId, OpenMode, RenameMode, Resolve, SetAttr};
use microkit::reply::{self, ApiError};
use vfs_api::protocol::{Request, Span, check_path, kind_mr};
use vfs_api::{Handle, Kind, OpenFlags, VfsError, Whence};

use crate::device::{self, Caller, ConsoleDevice};
use crate::exec::Task;
use crate::port::{Dev, Port};

type Fs<M, N> = FatFs<Dev<M, N>>;
/// The operation in flight: it owns the file system and gives it back.
type Running<M, N> = Task<(Box<Fs<M, N>>, Finished)>;
/// A finished operation's result MRs and the handle it updates.
type Plain = Result<(Vec<u64>, Option<(usize, Option<NodeId>, u64)>), VfsError>;

/// One client: the server's channel to it, its data region, its limit.
pub struct ClientSpec<M> {
    pub channel: u8,
    pub max_open: usize,
    pub region: M,
    /// Whether it may open `/dev/console`.
    pub console: bool,
}

/// An answer to a call: label and MRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub label: u64,
    pub mrs: [u64; 4],
    pub count: usize,
}

impl Reply {
    pub(crate) fn ok(mrs: &[u64]) -> Reply {
        let mut r = Reply { label: reply::OK, mrs: [0; 4], count: mrs.len() };
        r.mrs[..mrs.len()].copy_from_slice(mrs);
        r
    }
    pub(crate) fn err(e: VfsError) -> Reply {
        Reply { label: e.code(), mrs: [0; 4], count: 0 }
    }
}

type Outcome = Result<Vec<u64>, VfsError>;

/// An accepted request, owned (paths and data copied out of the region).
enum Op {
    Open { flags: OpenFlags, path: String },
    Close { slot: usize },
    Read { slot: usize, to: Span },
    Write { slot: usize, data: Vec<u8> },
    Seek { slot: usize, whence: Whence, offset: i64 },
    Fsync { slot: usize },
    Stat(String),
    ReadDir { path: String, cursor: u64, name: Span },
    Mkdir(String),
    Rename { from: String, to: String },
    Unlink(String),
}

enum ReqState {
    Idle,
    Queued(Op),
    Running,
    Done(Outcome),
}

struct Client<M> {
    channel: u8,
    max_open: usize,
    region: M,
    console: bool,
    open: usize,
    req: ReqState,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    owner: usize,
    generation: u32,
    node: Option<NodeId>,
    pos: u64,
    flags: OpenFlags,
}

/// What a finished operation hands back with the file system.
struct Finished {
    outcome: Outcome,
    /// Bytes to write into the client's region (a read, a name).
    data: Option<(usize, Vec<u8>)>,
    /// The handle's new node and position (read, write, seek, close).
    slot_update: Option<(usize, Option<NodeId>, u64)>,
    /// A file opened: its node and flags, for a new handle.
    opened: Option<(NodeId, OpenFlags)>,
}

enum FsState<M: SharedMem + Clone + 'static, N: Notify + 'static> {
    /// Waiting for the driver to say the disk's size.
    NoDisk,
    Mounting(Task<Result<Fs<M, N>, VfsError>>),
    // Boxed: the file system is large, and moves in and out of tasks.
    Mounted(Box<Fs<M, N>>),
    Busy,
    /// Mounting failed: every request gets the error.
    Failed(VfsError),
}

/// The file system server's core.
pub struct Vfs<M: SharedMem + Clone + 'static, N: Notify + 'static> {
    port: Rc<RefCell<Port<M, N>>>,
    fs: FsState<M, N>,
    running: Option<(usize, Running<M, N>)>,
    queue: VecDeque<usize>,
    clients: Vec<Client<M>>,
    slots: Vec<Option<Slot>>,
    generations: Vec<u32>,
    notify: Vec<u8>,
    mount_error: Option<VfsError>,
    now_ms: u64,
    /// When the volume last changed, if it changed since the last sync.
    unsynced: Option<u64>,
    console: Option<ConsoleDevice<M, N>>,
}

/// A volume that changed and then rests this long is synced (FSInfo, the
/// clean bit, every dirty block written back and flushed), so that an image
/// taken while the system runs, or after it is killed, is clean for fsck.
pub const SYNC_IDLE_MS: u64 = 100;

/// The running task's client index for the server's own background sync.
const BACKGROUND: usize = usize::MAX;

impl<M: SharedMem + Clone + 'static, N: Notify + 'static> Vfs<M, N> {
    /// The server on `port`, for `clients`.
    pub fn new(port: Port<M, N>, clients: Vec<ClientSpec<M>>) -> Self {
        let total: usize = clients.iter().map(|c| c.max_open).sum();
        Vfs {
            port: Rc::new(RefCell::new(port)),
            fs: FsState::NoDisk,
            running: None,
            queue: VecDeque::new(),
            clients: clients
                .into_iter()
                .map(|c| Client {
                    channel: c.channel,
                    max_open: c.max_open,
                    region: c.region,
                    console: c.console,
                    open: 0,
                    req: ReqState::Idle,
                })
                .collect(),
            slots: vec![None; total],
            generations: vec![0; total],
            notify: Vec::new(),
            mount_error: None,
            now_ms: 0,
            unsynced: None,
            console: None,
        }
    }

    /// The server with `/dev/console` on `console`'s driver.
    pub fn with_console(mut self, console: crate::console::Console<M, N>) -> Self {
        self.console = Some(ConsoleDevice::new(console));
        self
    }

    /// `/dev/console`, if the server has one.
    pub fn console(&self) -> Option<&crate::console::Console<M, N>> {
        self.console.as_ref().map(ConsoleDevice::console)
    }

    /// The console driver notified: its events, and the owner of
    /// `/dev/console` notified (at the next [`Vfs::poll`]) if they concern it.
    pub fn console_notified(&mut self) {
        if let Some(ci) = self.console.as_mut().and_then(ConsoleDevice::on_driver_notify) {
            self.notify.push(self.clients[ci].channel);
        }
    }

    /// The time (ms), for the background sync.
    pub fn set_now(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// Whether the volume has changes not yet synced (the shell keeps a timer
    /// armed for [`SYNC_IDLE_MS`] meanwhile).
    pub fn unsynced(&self) -> bool {
        self.unsynced.is_some()
    }

    /// The port under the file system (for the shell: time, driver checks).
    pub fn port(&self) -> &Rc<RefCell<Port<M, N>>> {
        &self.port
    }

    /// Whether a volume is mounted; the error if mounting failed.
    pub fn mounted(&self) -> Result<bool, VfsError> {
        match &self.fs {
            FsState::Mounted(_) | FsState::Busy => Ok(true),
            FsState::Failed(e) => Err(*e),
            _ => Ok(false),
        }
    }

    /// Whether work is in flight (the shell keeps a timer armed meanwhile).
    pub fn working(&self) -> bool {
        self.running.is_some() || matches!(self.fs, FsState::Mounting(_) | FsState::NoDisk)
    }

    /// Tries mounting again (a driver attached after mounting failed with an
    /// I/O error).
    pub fn remount_if_failed(&mut self) {
        if matches!(self.fs, FsState::Failed(VfsError::Io)) {
            self.fs = FsState::NoDisk;
        }
    }

    /// After the driver was down and a driver attached again: the file
    /// system, which turned itself read-only when the disk refused writes,
    /// is mounted afresh (through the cache, which still holds what was not
    /// written back), and every handle is closed: their files' state was the
    /// old mount's (a client sees [`VfsError::BadHandle`] and opens again).
    /// Waits for the operation in flight, if any; returns whether it remounted.
    pub fn remount(&mut self) -> bool {
        if self.running.is_some() || !matches!(self.fs, FsState::Mounted(_)) {
            return false;
        }
        self.fs = FsState::NoDisk;
        self.slots.iter_mut().for_each(|s| *s = None);
        self.clients.iter_mut().for_each(|c| c.open = 0);
        true
    }

    /// Serves a call from the client on `channel`: the answer.
    pub fn call(&mut self, channel: u8, label: u64, mrs: &[u64]) -> Reply {
        let Some(ci) = self.clients.iter().position(|c| c.channel == channel) else {
            return Reply::err(VfsError::BadRequest);
        };
        let region_size = self.clients[ci].region.size();
        let Some(request) = Request::decode(label, mrs, region_size) else {
            return Reply::err(VfsError::BadRequest);
        };
        if let Some(reply) = self.device_call(ci, request) {
            return reply;
        }
        if request == Request::Result {
            let client = &mut self.clients[ci];
            return match core::mem::replace(&mut client.req, ReqState::Idle) {
                ReqState::Done(Ok(mrs)) => Reply::ok(&mrs),
                ReqState::Done(Err(e)) => Reply::err(e),
                ReqState::Idle => Reply::err(VfsError::BadRequest),
                other => {
                    client.req = other;
                    Reply::err(VfsError::WouldBlock)
                }
            };
        }
        if !matches!(self.clients[ci].req, ReqState::Idle) {
            return Reply::err(VfsError::Busy);
        }
        match self.accept(ci, request) {
            Ok(op) => {
                self.clients[ci].req = ReqState::Queued(op);
                self.queue.push_back(ci);
                // Started now; whom to notify is kept for the shell's next poll.
                self.run();
                Reply::ok(&[])
            }
            Err(e) => Reply::err(e),
        }
    }

    /// A request for a device, answered at once; `None`: a file request.
    fn device_call(&mut self, ci: usize, request: Request) -> Option<Reply> {
        let open = match request {
            // Only the prefix is read here: a file's path is read once, when
            // its open is accepted.
            Request::Open { flags, path } if self.under_dev(ci, path) => Some((flags, self.path(ci, path))),
            _ if request.handle().is_some_and(device::is_device_handle) => None,
            _ => return None,
        };
        let client = &self.clients[ci];
        let caller = Caller { index: ci, region: &client.region, console: client.console };
        Some(match (self.console.as_mut(), open) {
            (_, Some((_, Err(e)))) => Reply::err(e),
            (Some(dev), Some((flags, Ok(path)))) => dev.open(&caller, &path, flags),
            (None, Some(_)) => Reply::err(VfsError::NotFound),
            (Some(dev), None) => dev.serve(&caller, request),
            (None, None) => Reply::err(VfsError::BadHandle),
        })
    }

    /// Whether the path in `span` of `ci`'s region starts with `/dev/`.
    fn under_dev(&self, ci: usize, span: Span) -> bool {
        let mut prefix = [0u8; device::DEV.len()];
        span.len > prefix.len()
            && self.clients[ci].region.read_bytes(span.offset, &mut prefix).is_ok()
            && prefix == *device::DEV.as_bytes()
    }

    fn path(&self, ci: usize, span: Span) -> Result<String, VfsError> {
        let mut bytes = vec![0u8; span.len];
        self.clients[ci].region.read_bytes(span.offset, &mut bytes).map_err(|_| VfsError::BadRequest)?;
        check_path(&bytes).map(String::from).ok_or(VfsError::BadPath)
    }

    /// The slot of `handle` if it is `ci`'s.
    fn slot(&self, ci: usize, handle: Handle) -> Result<usize, VfsError> {
        let i = handle.slot() as usize;
        match self.slots.get(i).copied().flatten() {
            Some(s) if s.generation == handle.generation() && s.node.is_some() => {
                if s.owner == ci {
                    Ok(i)
                } else {
                    Err(VfsError::NotOwner)
                }
            }
            _ => Err(VfsError::BadHandle),
        }
    }

    /// Checks a request and copies what it needs out of the region.
    fn accept(&mut self, ci: usize, request: Request) -> Result<Op, VfsError> {
        Ok(match request {
            Request::Open { flags, path } => {
                let path = self.path(ci, path)?;
                if path == "/" {
                    return Err(VfsError::IsDir);
                }
                let client = &self.clients[ci];
                if client.open >= client.max_open {
                    return Err(VfsError::TooManyOpen);
                }
                Op::Open { flags, path }
            }
            Request::Close(h) => Op::Close { slot: self.slot(ci, h)? },
            Request::Read { handle, to } => {
                let slot = self.slot(ci, handle)?;
                if !self.slots[slot].is_some_and(|s| s.flags.contains(OpenFlags::READ)) {
                    return Err(VfsError::Denied);
                }
                Op::Read { slot, to }
            }
            Request::Write { handle, from } => {
                let slot = self.slot(ci, handle)?;
                if !self.slots[slot].is_some_and(|s| s.flags.contains(OpenFlags::WRITE)) {
                    return Err(VfsError::Denied);
                }
                let mut data = vec![0u8; from.len];
                self.clients[ci].region.read_bytes(from.offset, &mut data).map_err(|_| VfsError::BadRequest)?;
                Op::Write { slot, data }
            }
            Request::Seek { handle, whence, offset } => Op::Seek { slot: self.slot(ci, handle)?, whence, offset },
            Request::Fsync(h) => Op::Fsync { slot: self.slot(ci, h)? },
            Request::Stat(p) => Op::Stat(self.path(ci, p)?),
            Request::ReadDir { path, cursor, name } => Op::ReadDir { path: self.path(ci, path)?, cursor, name },
            Request::Mkdir(p) => Op::Mkdir(self.path(ci, p)?),
            Request::Rename { from, to } => Op::Rename { from: self.path(ci, from)?, to: self.path(ci, to)? },
            Request::Unlink(p) => Op::Unlink(self.path(ci, p)?),
            Request::Result => return Err(VfsError::BadRequest),
        })
    }

    /// Advances everything: the driver's completions, mounting, the running
    /// operation, the next in the queue. Returns the channels of the clients
    /// whose request completed (to notify).
    pub fn poll(&mut self) -> Vec<u8> {
        self.run();
        let mut notify = core::mem::take(&mut self.notify);
        notify.sort_unstable();
        notify.dedup();
        notify
    }

    fn run(&mut self) {
        self.port.borrow_mut().on_driver_notification();
        for _ in 0..64 {
            if !self.step() {
                break;
            }
            self.port.borrow_mut().on_driver_notification();
        }
    }

    /// One step; whether anything moved.
    fn step(&mut self) -> bool {
        // No volume yet and the driver down: nothing waits for it.
        if !matches!(self.fs, FsState::Mounted(_) | FsState::Busy)
            && self.port.borrow().is_down()
            && let Some(ci) = self.queue.pop_front()
        {
            self.clients[ci].req = ReqState::Done(Err(VfsError::Io));
            self.notify.push(self.clients[ci].channel);
            return true;
        }
        match &mut self.fs {
            FsState::NoDisk => {
                let Some(sectors) = self.port.borrow().capacity() else { return false };
                let dev = Dev::new(self.port.clone(), sectors);
                self.fs = FsState::Mounting(Task::new(async move {
                    match FatFs::mount(dev, MountOptions::new()).await {
                        Ok(fs) => Ok(fs),
                        Err(e) => Err(map_kind(e.kind())),
                    }
                }));
                return true;
            }
            FsState::Mounting(task) => {
                return match task.poll() {
                    Poll::Pending => false,
                    Poll::Ready(Ok(fs)) => {
                        self.fs = FsState::Mounted(Box::new(fs));
                        self.mount_error = None;
                        // The FAT goes to the disk before what points into it.
                        self.port.borrow_mut().order_fat_metadata_first();
                        true
                    }
                    Poll::Ready(Err(e)) => {
                        self.fs = FsState::Failed(e);
                        self.mount_error = Some(e);
                        true
                    }
                };
            }
            FsState::Failed(e) => {
                let e = *e;
                // Every request fails with the mount's error.
                let Some(ci) = self.queue.pop_front() else { return false };
                self.clients[ci].req =
                    ReqState::Done(Err(if e == VfsError::Io { VfsError::Io } else { VfsError::NoVolume }));
                self.notify.push(self.clients[ci].channel);
                return true;
            }
            FsState::Mounted(_) | FsState::Busy => {}
        }
        if let Some((ci, task)) = &mut self.running {
            let ci = *ci;
            let Poll::Ready((fs, finished)) = task.poll() else { return false };
            self.running = None;
            self.fs = FsState::Mounted(fs);
            self.finish(ci, finished);
            return true;
        }
        let Some(ci) = self.queue.pop_front() else {
            let due = self.unsynced.is_some_and(|t| self.now_ms.saturating_sub(t) >= SYNC_IDLE_MS);
            if !due {
                return false;
            }
            let FsState::Mounted(fs) = core::mem::replace(&mut self.fs, FsState::Busy) else { return false };
            self.unsynced = None;
            self.running = Some((
                BACKGROUND,
                Task::new(async move {
                    let mut fs = fs;
                    let r = fs.sync().await.map_err(fs_err);
                    (fs, finished(r.map(|()| (vec![], None))))
                }),
            ));
            return true;
        };
        let ReqState::Queued(op) = core::mem::replace(&mut self.clients[ci].req, ReqState::Running) else {
            return true;
        };
        let FsState::Mounted(fs) = core::mem::replace(&mut self.fs, FsState::Busy) else { return true };
        if !matches!(op, Op::Read { .. } | Op::Seek { .. } | Op::Stat(_) | Op::ReadDir { .. } | Op::Fsync { .. }) {
            self.unsynced = Some(self.now_ms);
        }
        let slot = |i: usize| self.slots.get(i).copied().flatten();
        let task = match op {
            Op::Open { flags, path } => Task::new(async move {
                let mut fs = fs;
                let out = match open(&mut fs, flags, &path).await {
                    Ok(node) => {
                        Finished { outcome: Ok(vec![]), data: None, slot_update: None, opened: Some((node, flags)) }
                    }
                    Err(e) => finished(Err(e)),
                };
                (fs, out)
            }),
            Op::Close { slot: i } => {
                let node = slot(i).and_then(|s| s.node);
                Task::new(async move {
                    let mut fs = fs;
                    let r = match node {
                        Some(n) => {
                            let r = fs.close(n).await.map_err(|e| map_kind(e.kind()));
                            fs.forget(n, 1);
                            r
                        }
                        None => Ok(()),
                    };
                    (
                        fs,
                        Finished {
                            outcome: r.map(|()| vec![]),
                            data: None,
                            slot_update: Some((i, None, 0)),
                            opened: None,
                        },
                    )
                })
            }
            Op::Read { slot: i, to } => {
                let s = slot(i);
                Task::new(async move {
                    let mut fs = fs;
                    let Some(Slot { node: Some(node), pos, .. }) = s else {
                        return (fs, finished(Err(VfsError::BadHandle)));
                    };
                    let mut buf = vec![0u8; to.len];
                    let r = read_full(&mut fs, node, pos, &mut buf).await;
                    let out = match r {
                        Ok(n) => {
                            buf.truncate(n);
                            Finished {
                                outcome: Ok(vec![n as u64]),
                                data: Some((to.offset, buf)),
                                slot_update: Some((i, Some(node), pos + n as u64)),
                                opened: None,
                            }
                        }
                        Err(e) => finished(Err(e)),
                    };
                    (fs, out)
                })
            }
            Op::Write { slot: i, data } => {
                let s = slot(i);
                Task::new(async move {
                    let mut fs = fs;
                    let Some(Slot { node: Some(node), pos, flags, .. }) = s else {
                        return (fs, finished(Err(VfsError::BadHandle)));
                    };
                    let r = write_all(&mut fs, node, pos, flags.contains(OpenFlags::APPEND), &data).await;
                    let out = match r {
                        Ok(end) => Finished {
                            outcome: Ok(vec![data.len() as u64]),
                            data: None,
                            slot_update: Some((i, Some(node), end)),
                            opened: None,
                        },
                        Err(e) => finished(Err(e)),
                    };
                    (fs, out)
                })
            }
            Op::Seek { slot: i, whence, offset } => {
                let s = slot(i);
                Task::new(async move {
                    let mut fs = fs;
                    let Some(Slot { node: Some(node), pos, .. }) = s else {
                        return (fs, finished(Err(VfsError::BadHandle)));
                    };
                    let base = match whence {
                        Whence::Start => Ok(0),
                        Whence::Current => Ok(pos),
                        Whence::End => fs.stat(node).await.map(|m| m.len()).map_err(|e| map_kind(e.kind())),
                    };
                    let out = match base.and_then(|b| b.checked_add_signed(offset).ok_or(VfsError::TooLarge)) {
                        Ok(p) => Finished {
                            outcome: Ok(vec![p]),
                            data: None,
                            slot_update: Some((i, Some(node), p)),
                            opened: None,
                        },
                        Err(e) => finished(Err(e)),
                    };
                    (fs, out)
                })
            }
            Op::Fsync { slot: i } => {
                let node = slot(i).and_then(|s| s.node);
                Task::new(async move {
                    let mut fs = fs;
                    let r = match node {
                        // The file, then the volume (FSInfo, the clean bit).
                        Some(n) => match fs.fsync(n).await {
                            Ok(()) => fs.sync().await.map_err(fs_err),
                            Err(e) => Err(fs_err(e)),
                        },
                        None => Err(VfsError::BadHandle),
                    };
                    (fs, finished(r.map(|()| (vec![], None))))
                })
            }
            Op::Stat(path) => Task::new(async move {
                let mut fs = fs;
                let r = stat(&mut fs, &path).await;
                (fs, finished(r.map(|v| (v, None))))
            }),
            Op::ReadDir { path, cursor, name } => Task::new(async move {
                let mut fs = fs;
                let r = readdir(&mut fs, &path, cursor, name.len).await;
                let out = match r {
                    Ok((mrs, bytes)) => {
                        Finished { outcome: Ok(mrs), data: Some((name.offset, bytes)), slot_update: None, opened: None }
                    }
                    Err(e) => finished(Err(e)),
                };
                (fs, out)
            }),
            Op::Mkdir(path) => Task::new(async move {
                let mut fs = fs;
                let r = mkdir(&mut fs, &path).await;
                (fs, finished(r.map(|()| (vec![], None))))
            }),
            Op::Rename { from, to } => Task::new(async move {
                let mut fs = fs;
                let r = rename(&mut fs, &from, &to).await;
                (fs, finished(r.map(|()| (vec![], None))))
            }),
            Op::Unlink(path) => Task::new(async move {
                let mut fs = fs;
                let r = unlink(&mut fs, &path).await;
                (fs, finished(r.map(|()| (vec![], None))))
            }),
        };
        self.running = Some((ci, task));
        true
    }

    fn finish(&mut self, ci: usize, f: Finished) {
        if ci == BACKGROUND {
            if f.outcome.is_err() {
                // Tried again after the next change.
                microkit::debug_println!("vfs: syncing the volume failed: {:?}", f.outcome);
            }
            return;
        }
        let mut outcome = f.outcome;
        if let Some((offset, bytes)) = &f.data
            && outcome.is_ok()
            && self.clients[ci].region.write_bytes(*offset, bytes).is_err()
        {
            outcome = Err(VfsError::BadRequest);
        }
        if let Some((node, flags)) = f.opened {
            outcome = self.new_slot(ci, node, flags).map(|h| vec![h.0]).ok_or(VfsError::TooManyOpen);
        }
        match f.slot_update {
            Some((i, None, _)) if self.slots.get_mut(i).and_then(Option::take).is_some() => {
                self.clients[ci].open -= 1;
            }
            Some((i, Some(_), pos)) => {
                if let Some(Some(s)) = self.slots.get_mut(i) {
                    s.pos = pos;
                }
            }
            _ => {}
        }
        self.clients[ci].req = ReqState::Done(outcome);
        self.notify.push(self.clients[ci].channel);
    }

    /// A handle for a file just opened. There is a free slot: the client's
    /// count was checked when the open was accepted, and the slots are the
    /// sum of every client's limit.
    fn new_slot(&mut self, ci: usize, node: NodeId, flags: OpenFlags) -> Option<Handle> {
        let i = self.slots.iter().position(Option::is_none)?;
        self.generations[i] = self.generations[i].wrapping_add(1);
        self.slots[i] = Some(Slot { owner: ci, generation: self.generations[i], node: Some(node), pos: 0, flags });
        self.clients[ci].open += 1;
        Some(Handle::new(i as u16, self.generations[i]))
    }
}

fn finished(r: Plain) -> Finished {
    match r {
        Ok((mrs, slot_update)) => Finished { outcome: Ok(mrs), data: None, slot_update, opened: None },
        Err(e) => Finished { outcome: Err(e), data: None, slot_update: None, opened: None },
    }
}

/// What a file system error means to the client.
pub fn map_kind(kind: ErrorKind) -> VfsError {
    match kind {
        ErrorKind::NotFound => VfsError::NotFound,
        ErrorKind::AlreadyExists => VfsError::Exists,
        ErrorKind::NotADirectory => VfsError::NotDir,
        ErrorKind::IsADirectory => VfsError::IsDir,
        ErrorKind::DirectoryNotEmpty => VfsError::NotEmpty,
        ErrorKind::NoSpace => VfsError::NoSpace,
        ErrorKind::ReadOnly => VfsError::Denied,
        ErrorKind::InvalidInput | ErrorKind::NameTooLong => VfsError::BadPath,
        ErrorKind::FileTooLarge => VfsError::TooLarge,
        ErrorKind::Busy => VfsError::InUse,
        ErrorKind::Corrupt | ErrorKind::NotRecognized => VfsError::Corrupt,
        ErrorKind::InvalidHandle => VfsError::BadHandle,
        _ => VfsError::Io,
    }
}

fn fs_err<E>(e: hadris_fs::Error<E>) -> VfsError {
    map_kind(e.kind())
}

/// The parent directory's path and the last name of `path` (not the root).
fn split(path: &str) -> Result<(&str, &str), VfsError> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let i = path.rfind('/').ok_or(VfsError::BadPath)?;
    let (parent, name) = (&path[..i], &path[i + 1..]);
    if name.is_empty() {
        return Err(VfsError::BadPath);
    }
    Ok((if parent.is_empty() { "/" } else { parent }, name))
}

async fn resolve<M: SharedMem + Clone, N: Notify>(fs: &mut Fs<M, N>, path: &str) -> Result<NodeId, VfsError> {
    fs.resolve(path.as_bytes(), Resolve::Lexical).await.map_err(fs_err)
}

async fn is_dir<M: SharedMem + Clone, N: Notify>(fs: &mut Fs<M, N>, node: NodeId) -> Result<bool, VfsError> {
    Ok(fs.stat(node).await.map_err(fs_err)?.file_type() == FileType::Dir)
}

async fn open<M: SharedMem + Clone, N: Notify>(
    fs: &mut Fs<M, N>,
    flags: OpenFlags,
    path: &str,
) -> Result<NodeId, VfsError> {
    let (parent, name) = split(path)?;
    let dir = resolve(fs, parent).await?;
    let found = fs.lookup(dir, Name::new(name)).await;
    let node = match found {
        Ok(node) => {
            if flags.contains(OpenFlags::CREATE) && flags.contains(OpenFlags::EXCLUSIVE) {
                fs.forget(node, 1);
                fs.forget(dir, 1);
                return Err(VfsError::Exists);
            }
            node
        }
        Err(e) if e.kind() == ErrorKind::NotFound && flags.contains(OpenFlags::CREATE) => {
            match fs.create(dir, Name::new(name), &SetAttr::new()).await {
                Ok(n) => n,
                Err(e) => {
                    fs.forget(dir, 1);
                    return Err(fs_err(e));
                }
            }
        }
        Err(e) => {
            fs.forget(dir, 1);
            return Err(fs_err(e));
        }
    };
    fs.forget(dir, 1);
    let mode = if flags.contains(OpenFlags::WRITE) { OpenMode::Write } else { OpenMode::Read };
    if let Err(e) = fs.open(node, mode).await {
        fs.forget(node, 1);
        return Err(fs_err(e));
    }
    if flags.contains(OpenFlags::TRUNCATE)
        && let Err(e) = fs.truncate(node, 0).await
    {
        let _ = fs.close(node).await;
        fs.forget(node, 1);
        return Err(fs_err(e));
    }
    Ok(node)
}

async fn read_full<M: SharedMem + Clone, N: Notify>(
    fs: &mut Fs<M, N>,
    node: NodeId,
    pos: u64,
    buf: &mut [u8],
) -> Result<usize, VfsError> {
    let mut n = 0;
    while n < buf.len() {
        let got = fs.read(node, pos + n as u64, &mut buf[n..]).await.map_err(fs_err)?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

async fn write_all<M: SharedMem + Clone, N: Notify>(
    fs: &mut Fs<M, N>,
    node: NodeId,
    pos: u64,
    append: bool,
    data: &[u8],
) -> Result<u64, VfsError> {
    let mut at = if append { fs.stat(node).await.map_err(fs_err)?.len() } else { pos };
    let mut done = 0;
    while done < data.len() {
        let n = fs.write(node, at, &data[done..]).await.map_err(fs_err)?;
        if n == 0 {
            return Err(VfsError::NoSpace);
        }
        done += n;
        at += n as u64;
    }
    Ok(at)
}

async fn stat<M: SharedMem + Clone, N: Notify>(fs: &mut Fs<M, N>, path: &str) -> Result<Vec<u64>, VfsError> {
    let node = resolve(fs, path).await?;
    let r = fs.stat(node).await.map_err(fs_err);
    fs.forget(node, 1);
    let m = r?;
    let kind = if m.file_type() == FileType::Dir { Kind::Dir } else { Kind::File };
    Ok(vec![kind_mr(kind), m.len()])
}

async fn readdir<M: SharedMem + Clone, N: Notify>(
    fs: &mut Fs<M, N>,
    path: &str,
    mut cursor: u64,
    max_name: usize,
) -> Result<(Vec<u64>, Vec<u8>), VfsError> {
    let dir = resolve(fs, path).await?;
    let r = async {
        if !is_dir(fs, dir).await? {
            return Err(VfsError::NotDir);
        }
        loop {
            let Some(entry) = fs.readdir(dir, DirCursor::from_raw(cursor)).await.map_err(fs_err)? else {
                return Ok((vec![0, 0, 0, cursor], Vec::new()));
            };
            cursor = entry.next_cursor().into_raw();
            let name: &[u8] = entry.name().as_ref();
            if name == b"." || name == b".." {
                continue;
            }
            if name.len() > max_name {
                return Err(VfsError::TooLarge);
            }
            let kind = if entry.file_type() == FileType::Dir { Kind::Dir } else { Kind::File };
            return Ok((vec![kind_mr(kind), entry.metadata().len(), name.len() as u64, cursor], name.to_vec()));
        }
    }
    .await;
    fs.forget(dir, 1);
    r
}

async fn mkdir<M: SharedMem + Clone, N: Notify>(fs: &mut Fs<M, N>, path: &str) -> Result<(), VfsError> {
    let (parent, name) = split(path)?;
    let dir = resolve(fs, parent).await?;
    let r = fs.mkdir(dir, Name::new(name), &SetAttr::new()).await.map_err(fs_err);
    fs.forget(dir, 1);
    fs.forget(r?, 1);
    Ok(())
}

async fn rename<M: SharedMem + Clone, N: Notify>(fs: &mut Fs<M, N>, from: &str, to: &str) -> Result<(), VfsError> {
    let (fp, fname) = split(from)?;
    let (tp, tname) = split(to)?;
    let fdir = resolve(fs, fp).await?;
    let tdir = match resolve(fs, tp).await {
        Ok(d) => d,
        Err(e) => {
            fs.forget(fdir, 1);
            return Err(e);
        }
    };
    let r = fs.rename(fdir, Name::new(fname), tdir, Name::new(tname), RenameMode::Replace).await.map_err(fs_err);
    fs.forget(fdir, 1);
    fs.forget(tdir, 1);
    r
}

async fn unlink<M: SharedMem + Clone, N: Notify>(fs: &mut Fs<M, N>, path: &str) -> Result<(), VfsError> {
    let (parent, name) = split(path)?;
    let dir = resolve(fs, parent).await?;
    let r = async {
        let node = fs.lookup(dir, Name::new(name)).await.map_err(fs_err)?;
        let d = is_dir(fs, node).await;
        fs.forget(node, 1);
        if d? {
            fs.rmdir(dir, Name::new(name)).await.map_err(fs_err)
        } else {
            fs.unlink(dir, Name::new(name)).await.map_err(fs_err)
        }
    }
    .await;
    fs.forget(dir, 1);
    r
}
