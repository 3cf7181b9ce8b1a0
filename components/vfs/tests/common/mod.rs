//! A machine for the core on the host: the real queue code between the server
//! and a block driver that serves from an in-memory disk and can be slow, fail
//! requests and restart (losing what it held), and a client calling the core
//! through the wire protocol.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::task::Poll;

use driver_queue::{Desc, Driver, HeapMem, Link, Notify, SharedMem, status};
use hadris_fat::{FatKind, FatOptions};
use microkit::reply;
use vfs::exec::Task;
use vfs::{ClientSpec, Limits, Port, Vfs};
use vfs_api::protocol::{Request, Span, label};
use vfs_api::{Handle, OpenFlags, VfsError, Whence};
use virtio_blk::protocol::{DATA_BYTES, OP_CAPACITY, OP_FLUSH, OP_READ, OP_WRITE, QUEUES};

pub type Mem = &'static HeapMem;

#[derive(Clone, Copy)]
pub struct NoBell;
impl Notify for NoBell {
    fn notify(&self) {}
}

pub fn leak(size: usize) -> Mem {
    Box::leak(Box::new(HeapMem::new(size)))
}

/// Runs a future that never waits (on a `Vec<u8>` device) to the end.
pub fn block_on<T>(f: impl Future<Output = T> + 'static) -> T {
    let mut t = Task::new(f);
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = t.poll() {
            return v;
        }
    }
    panic!("a future on memory never finished")
}

/// A fresh FAT image of `bytes`.
pub fn image(bytes: usize, kind: FatKind) -> Vec<u8> {
    block_on(async move {
        let mut dev = vec![0u8; bytes];
        hadris_fat::async_::format(&mut dev, &FatOptions::new().with_kind(kind)).await.expect("format");
        dev
    })
}

/// fsck's findings on an image (hadris-fat's check).
pub fn check(image: Vec<u8>) -> Vec<String> {
    block_on(async move {
        let mut dev = image;
        let mut scratch = vec![0u8; 1 << 16];
        let mut findings = Vec::new();
        hadris_fat::async_::check(&mut dev, &mut scratch, |f| findings.push(f.to_string())).await.expect("check");
        findings
    })
}

/// The block driver: attaches, takes requests, serves them from `disk`.
pub struct BlkDriver {
    queues: Mem,
    data: Mem,
    drv: Driver<Mem>,
    held: VecDeque<Desc>,
    pub disk: Vec<u8>,
    /// Requests served per step (0: none, a hung driver).
    pub per_step: usize,
    /// Fail every request with an I/O error.
    pub failing: bool,
    /// Fail this many requests with an I/O error, then serve again (a driver
    /// that failed requests and was restarted).
    pub fail_next: u32,
    /// Reads still to come whose data gets one bit flipped on the way (a
    /// driver scribbling on the data region): `u32::MAX`, every read.
    pub flip_reads: u32,
    /// The same for writes: the disk gets the flipped bit.
    pub flip_writes: u32,
    pub served: u64,
    /// Whether the driver runs at all (a dead one does nothing).
    pub alive: bool,
    /// Serve the newest request first (a device may complete in any order).
    pub lifo: bool,
    /// Die (stop for good) once `served` reaches this.
    pub die_at: Option<u64>,
}

impl BlkDriver {
    pub fn new(queues: Mem, data: Mem, disk: Vec<u8>) -> Self {
        let drv = Driver::new(queues, QUEUES.layout, QUEUES.pairs).expect("driver");
        BlkDriver {
            queues,
            data,
            drv,
            held: VecDeque::new(),
            disk,
            per_step: usize::MAX,
            failing: false,
            fail_next: 0,
            flip_reads: 0,
            flip_writes: 0,
            served: 0,
            alive: true,
            lifo: false,
            die_at: None,
        }
    }

    /// A crash and a fresh copy: what the dead one held is lost.
    pub fn restart(&mut self) {
        self.held.clear();
        self.drv = Driver::new(self.queues, QUEUES.layout, QUEUES.pairs).expect("driver");
        self.alive = true;
    }

    pub fn step(&mut self) {
        if !self.alive {
            return;
        }
        match self.drv.poll().expect("driver poll") {
            Link::Reset => self.held.clear(),
            Link::Waiting | Link::Requested => return,
            Link::Ready | Link::Attached { .. } => {}
        }
        while let Ok(Some(d)) = self.drv.pair(0).and_then(|p| p.next_request()) {
            self.held.push_back(d);
        }
        for _ in 0..self.per_step {
            if self.die_at.is_some_and(|n| self.served >= n) {
                self.alive = false;
                return;
            }
            let next = if self.lifo { self.held.pop_back() } else { self.held.pop_front() };
            let Some(mut d) = next else { break };
            self.serve(&mut d);
            self.served += 1;
            self.drv.pair(0).and_then(|p| p.complete(d)).expect("complete");
        }
    }

    fn serve(&mut self, d: &mut Desc) {
        let (off, len) = (d.offset as usize, d.len as usize);
        let at = d.arg as usize * 512;
        d.status = status::OK;
        if self.failing || (self.fail_next > 0 && matches!(d.op, OP_READ | OP_WRITE)) {
            self.fail_next = self.fail_next.saturating_sub(1);
            d.status = status::IO_ERROR;
            d.len = 0;
            return;
        }
        match d.op {
            OP_CAPACITY => {
                self.data.write_bytes(off, &((self.disk.len() / 512) as u64).to_le_bytes()).unwrap();
                d.len = 8;
            }
            OP_READ if at + len <= self.disk.len() => {
                let mut bytes = self.disk[at..at + len].to_vec();
                if self.flip_reads > 0 && len > 0 {
                    self.flip_reads = self.flip_reads.saturating_sub(u32::from(self.flip_reads != u32::MAX));
                    bytes[len / 3] ^= 0x10;
                }
                self.data.write_bytes(off, &bytes).unwrap();
            }
            OP_WRITE if at + len <= self.disk.len() => {
                self.data.read_bytes(off, &mut self.disk[at..at + len]).unwrap();
                if self.flip_writes > 0 && len > 0 {
                    self.flip_writes = self.flip_writes.saturating_sub(u32::from(self.flip_writes != u32::MAX));
                    self.disk[at + len / 3] ^= 0x10;
                }
            }
            OP_FLUSH => {}
            _ => {
                d.status = status::INVALID;
                d.len = 0;
            }
        }
    }
}

pub const CLIENT: u8 = 10;
pub const OTHER: u8 = 11;
pub const REGION: usize = 0x10000;

pub struct Machine {
    pub vfs: Vfs<Mem, NoBell>,
    pub driver: BlkDriver,
    pub regions: Vec<(u8, Mem)>,
    pub now_ms: u64,
    pub notified: Vec<u8>,
    /// Called before every driver step (fault injection).
    pub steps: u64,
}

impl Machine {
    pub fn new(disk: Vec<u8>) -> Self {
        Self::with_limits(disk, Limits::default())
    }

    pub fn with_limits(disk: Vec<u8>, limits: Limits) -> Self {
        let queues = leak(0x1000);
        let data = leak(DATA_BYTES as usize);
        let port = Port::new(queues, data, NoBell, limits).expect("port");
        let regions = vec![(CLIENT, leak(REGION)), (OTHER, leak(REGION))];
        let clients = regions
            .iter()
            .map(|&(channel, region)| ClientSpec { channel, max_open: 4, region, console: false })
            .collect();
        let vfs = Vfs::new(port, clients);
        let driver = BlkDriver::new(queues, data, disk);
        let mut m = Machine { vfs, driver, regions, now_ms: 0, notified: Vec::new(), steps: 0 };
        m.settle();
        m
    }

    pub fn region(&self, ch: u8) -> Mem {
        self.regions.iter().find(|(c, _)| *c == ch).unwrap().1
    }

    /// One round: the driver, then the server (with the time).
    pub fn round(&mut self) {
        self.steps += 1;
        self.now_ms += 1;
        self.driver.step();
        {
            // The vfs PD's down rule, with an RS that has a driver silent
            // 500 ms down.
            let mut port = self.vfs.port().borrow_mut();
            port.tick(self.now_ms);
            if port.silent_ms() > port.down_after(500) {
                port.go_down();
            }
        }
        self.vfs.set_now(self.now_ms);
        let n = self.vfs.poll();
        self.notified.extend(n);
    }

    /// Rounds until the server has nothing to do and the driver holds
    /// nothing (a read-ahead may still be out after a request completed).
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            self.round();
            if !self.vfs.working() && !self.vfs.port().borrow().busy() {
                return;
            }
        }
    }

    pub fn raw_call(&mut self, ch: u8, label: u64, mrs: &[u64]) -> (u64, Vec<u64>) {
        let r = self.vfs.call(ch, label, mrs);
        (r.label, r.mrs[..r.count].to_vec())
    }

    /// Starts `req` for `ch`, then runs until its result is there.
    pub fn request(&mut self, ch: u8, req: Request) -> Result<Vec<u64>, VfsError> {
        self.request_with(ch, req, |_| {})
    }

    /// The same, calling `each` every round (fault injection).
    pub fn request_with(
        &mut self,
        ch: u8,
        req: Request,
        mut each: impl FnMut(&mut Machine),
    ) -> Result<Vec<u64>, VfsError> {
        let mut mrs = [0; 5];
        let (l, n) = req.encode(&mut mrs);
        let r = self.vfs.call(ch, l, &mrs[..n]);
        if r.label != reply::OK {
            return Err(VfsError::from_code(r.label).expect("an error the server sends"));
        }
        for _ in 0..2_000_000 {
            let r = self.vfs.call(ch, label::RESULT, &[]);
            if r.label == reply::OK {
                return Ok(r.mrs[..r.count].to_vec());
            }
            let e = VfsError::from_code(r.label).expect("an error the server sends");
            if e != VfsError::WouldBlock {
                return Err(e);
            }
            each(self);
            self.round();
        }
        panic!("request {req:?} never completed")
    }

    fn put(&self, ch: u8, at: usize, bytes: &[u8]) -> Span {
        self.region(ch).write_bytes(at, bytes).unwrap();
        Span { offset: at, len: bytes.len() }
    }

    pub fn open(&mut self, ch: u8, path: &str, flags: OpenFlags) -> Result<Handle, VfsError> {
        let path = self.put(ch, 0, path.as_bytes());
        self.request(ch, Request::Open { flags, path }).map(|m| Handle(m[0]))
    }

    pub fn write(&mut self, ch: u8, h: Handle, data: &[u8]) -> Result<u64, VfsError> {
        let from = self.put(ch, 0, data);
        self.request(ch, Request::Write { handle: h, from }).map(|m| m[0])
    }

    pub fn read(&mut self, ch: u8, h: Handle, len: usize) -> Result<Vec<u8>, VfsError> {
        let m = self.request(ch, Request::Read { handle: h, to: Span { offset: 0, len } })?;
        let mut out = vec![0u8; m[0] as usize];
        self.region(ch).read_bytes(0, &mut out).unwrap();
        Ok(out)
    }

    pub fn seek(&mut self, ch: u8, h: Handle, whence: Whence, off: i64) -> Result<u64, VfsError> {
        self.request(ch, Request::Seek { handle: h, whence, offset: off }).map(|m| m[0])
    }

    pub fn close(&mut self, ch: u8, h: Handle) -> Result<(), VfsError> {
        self.request(ch, Request::Close(h)).map(drop)
    }

    pub fn fsync(&mut self, ch: u8, h: Handle) -> Result<(), VfsError> {
        self.request(ch, Request::Fsync(h)).map(drop)
    }

    pub fn path_op(&mut self, ch: u8, path: &str, f: fn(Span) -> Request) -> Result<Vec<u64>, VfsError> {
        let p = self.put(ch, 0, path.as_bytes());
        self.request(ch, f(p))
    }

    pub fn rename(&mut self, ch: u8, from: &str, to: &str) -> Result<(), VfsError> {
        let f = self.put(ch, 0, from.as_bytes());
        let t = self.put(ch, from.len(), to.as_bytes());
        self.request(ch, Request::Rename { from: f, to: t }).map(drop)
    }

    /// Every name in a directory, with kind and size.
    pub fn list(&mut self, ch: u8, path: &str) -> Result<Vec<(String, u64, u64)>, VfsError> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let p = self.put(ch, 0, path.as_bytes());
            let m = self.request(ch, Request::ReadDir { path: p, cursor, name: Span { offset: 2048, len: 1024 } })?;
            if m[2] == 0 {
                return Ok(out);
            }
            let mut name = vec![0u8; m[2] as usize];
            self.region(ch).read_bytes(2048, &mut name).unwrap();
            out.push((String::from_utf8(name).unwrap(), m[0], m[1]));
            cursor = m[3];
        }
    }

    /// Writes a whole file in region-sized calls, then closes it.
    pub fn put_file(&mut self, ch: u8, path: &str, data: &[u8]) -> Result<(), VfsError> {
        let h = self.open(ch, path, OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE)?;
        for chunk in data.chunks(REGION) {
            assert_eq!(self.write(ch, h, chunk)?, chunk.len() as u64);
        }
        self.close(ch, h)
    }

    pub fn get_file(&mut self, ch: u8, path: &str) -> Result<Vec<u8>, VfsError> {
        let h = self.open(ch, path, OpenFlags::READ)?;
        let mut out = Vec::new();
        loop {
            let got = match self.read(ch, h, REGION) {
                Ok(got) => got,
                Err(e) => {
                    let _ = self.close(ch, h);
                    return Err(e);
                }
            };
            if got.is_empty() {
                break;
            }
            out.extend(got);
        }
        self.close(ch, h)?;
        Ok(out)
    }

    /// Writes back everything and flushes (a sync through an open handle).
    pub fn sync_all(&mut self, ch: u8) -> Result<(), VfsError> {
        let h = self.open(ch, "/.sync", OpenFlags::WRITE | OpenFlags::CREATE)?;
        self.fsync(ch, h)?;
        self.close(ch, h)?;
        self.path_op(ch, "/.sync", Request::Unlink)?;
        self.idle();
        Ok(())
    }

    /// Rounds until the server's background sync ran.
    pub fn idle(&mut self) {
        for _ in 0..vfs::server::SYNC_IDLE_MS * 3 {
            self.round();
        }
        assert!(!self.vfs.unsynced());
        self.settle();
    }
}

/// Deterministic bytes for file `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
