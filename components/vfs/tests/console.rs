//! `/dev/console` on the host: the core's device requests over the real queue
//! code, with a console driver that echoes what it is given into a screen,
//! types from a keyboard backlog, holds output, and restarts (losing what it
//! held). No disk: device requests never wait for one.

mod common;

use std::collections::VecDeque;

use common::{Mem, NoBell, leak};
use driver_queue::{Desc, Driver, Link, SharedMem, status};
use microkit::reply;
use vfs::console::{Console, INPUT_MAX};
use vfs::{ClientSpec, Limits, Port, Vfs};
use vfs_api::protocol::{Request, Span};
use vfs_api::{Handle, OpenFlags, VfsError, Whence};
use virtio_console::protocol::{DATA_BYTES, QUEUES, RX, TX};

const OWNER: u8 = 10;
const OTHER: u8 = 11;
const REGION: usize = 0x4000;

/// The console driver: what it was given to show, and keys to type.
struct ConsoleDriver {
    queues: Mem,
    data: Mem,
    drv: Driver<Mem>,
    screen: Vec<u8>,
    keyboard: VecDeque<u8>,
    /// Input buffers posted, not filled yet.
    posted: VecDeque<Desc>,
    /// Hold output instead of showing it (a driver stuck on its device).
    pub hold_output: bool,
    held: Vec<Desc>,
}

impl ConsoleDriver {
    fn new(queues: Mem, data: Mem) -> Self {
        ConsoleDriver {
            queues,
            data,
            drv: Driver::new(queues, QUEUES.layout, QUEUES.pairs).expect("driver"),
            screen: Vec::new(),
            keyboard: VecDeque::new(),
            posted: VecDeque::new(),
            hold_output: false,
            held: Vec::new(),
        }
    }

    /// A crash and a fresh copy: the buffers and output it held are gone.
    fn restart(&mut self) {
        self.drv = Driver::new(self.queues, QUEUES.layout, QUEUES.pairs).expect("driver");
        self.posted.clear();
        self.held.clear();
        self.hold_output = false;
    }

    fn step(&mut self) {
        match self.drv.poll().expect("driver poll") {
            Link::Reset => {
                self.posted.clear();
                self.held.clear();
            }
            Link::Waiting | Link::Requested => return,
            Link::Ready | Link::Attached { .. } => {}
        }
        while let Ok(Some(d)) = self.drv.pair(TX).and_then(|p| p.next_request()) {
            self.held.push(d);
        }
        if !self.hold_output {
            for mut d in std::mem::take(&mut self.held) {
                let mut bytes = vec![0u8; d.len as usize];
                self.data.read_bytes(d.offset as usize, &mut bytes).unwrap();
                self.screen.extend(bytes);
                d.status = status::OK;
                self.drv.pair(TX).and_then(|p| p.complete(d)).expect("complete");
            }
        }
        while let Ok(Some(d)) = self.drv.pair(RX).and_then(|p| p.next_request()) {
            self.posted.push_back(d);
        }
        while !self.keyboard.is_empty() {
            let Some(mut d) = self.posted.pop_front() else { break };
            let n = self.keyboard.len().min(d.len as usize);
            let bytes: Vec<u8> = self.keyboard.drain(..n).collect();
            self.data.write_bytes(d.offset as usize, &bytes).unwrap();
            d.len = n as u32;
            d.status = status::OK;
            self.drv.pair(RX).and_then(|p| p.complete(d)).expect("complete");
        }
    }
}

struct Rig {
    vfs: Vfs<Mem, NoBell>,
    driver: ConsoleDriver,
    regions: [(u8, Mem); 2],
    notified: Vec<u8>,
}

impl Rig {
    fn new() -> Rig {
        // A block port no driver ever attaches to: no volume, ever.
        let port = Port::new(leak(0x1000), leak(0x10000), NoBell, Limits::default()).expect("port");
        let regions = [(OWNER, leak(REGION)), (OTHER, leak(REGION))];
        let clients = regions
            .iter()
            .map(|&(channel, region)| ClientSpec { channel, max_open: 2, region, console: channel == OWNER })
            .collect();
        let (queues, data) = (leak(0x1000), leak(DATA_BYTES as usize));
        let console = Console::new("vfs on virtio_console", queues, data, NoBell).expect("console");
        let vfs = Vfs::new(port, clients).with_console(console);
        let mut rig = Rig { vfs, driver: ConsoleDriver::new(queues, data), regions, notified: Vec::new() };
        rig.run();
        rig
    }

    fn region(&self, ch: u8) -> Mem {
        self.regions.iter().find(|(c, _)| *c == ch).unwrap().1
    }

    /// Driver and server until nothing moves.
    fn run(&mut self) {
        for _ in 0..50 {
            self.driver.step();
            self.vfs.console_notified();
            self.notified.extend(self.vfs.poll());
        }
    }

    fn call(&mut self, ch: u8, req: Request) -> Result<Vec<u64>, VfsError> {
        let mut mrs = [0; 5];
        let (l, n) = req.encode(&mut mrs);
        let r = self.vfs.call(ch, l, &mrs[..n]);
        if r.label == reply::OK {
            Ok(r.mrs[..r.count].to_vec())
        } else {
            Err(VfsError::from_code(r.label).expect("an error the server sends"))
        }
    }

    fn open(&mut self, ch: u8, path: &str, flags: OpenFlags) -> Result<Handle, VfsError> {
        self.region(ch).write_bytes(0, path.as_bytes()).unwrap();
        let m = self.call(ch, Request::Open { flags, path: Span { offset: 0, len: path.len() } })?;
        assert_eq!(m.len(), 1, "a device open is answered in the call, with the handle");
        Ok(Handle(m[0]))
    }

    fn read(&mut self, ch: u8, h: Handle, len: usize) -> Result<Vec<u8>, VfsError> {
        let m = self.call(ch, Request::Read { handle: h, to: Span { offset: 0x100, len } })?;
        let mut out = vec![0u8; m[0] as usize];
        self.region(ch).read_bytes(0x100, &mut out).unwrap();
        Ok(out)
    }

    fn write(&mut self, ch: u8, h: Handle, bytes: &[u8]) -> Result<usize, VfsError> {
        self.region(ch).write_bytes(0x100, bytes).unwrap();
        self.call(ch, Request::Write { handle: h, from: Span { offset: 0x100, len: bytes.len() } })
            .map(|m| m[0] as usize)
    }

    /// Everything typed so far, as the reader gets it, in pieces of `piece`.
    fn read_all(&mut self, h: Handle, piece: usize) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            self.run();
            match self.read(OWNER, h, piece) {
                Ok(b) => got.extend(b),
                Err(VfsError::WouldBlock) => {
                    self.run();
                    if self.read_would_block(h) {
                        return got;
                    }
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn read_would_block(&mut self, h: Handle) -> bool {
        match self.read(OWNER, h, 1) {
            Err(VfsError::WouldBlock) => true,
            Ok(b) => panic!("more input: {b:?}"),
            Err(e) => panic!("read: {e}"),
        }
    }
}

const RW: OpenFlags = OpenFlags(OpenFlags::READ.0 | OpenFlags::WRITE.0);

#[test]
fn the_owner_reads_what_is_typed_and_writes_to_the_screen() {
    let mut rig = Rig::new();
    let h = rig.open(OWNER, "/dev/console", RW).expect("open");
    assert_eq!(rig.write(OWNER, h, b"hello\r\n"), Ok(7));
    rig.run();
    assert_eq!(rig.driver.screen, b"hello\r\n");

    // Nothing typed: the read says so at once, and the owner is notified
    // when keys come.
    assert_eq!(rig.read(OWNER, h, 64), Err(VfsError::WouldBlock));
    rig.notified.clear();
    rig.driver.keyboard.extend(b"ls /\r");
    rig.run();
    assert_eq!(rig.notified, vec![OWNER]);
    assert_eq!(rig.read(OWNER, h, 64).as_deref(), Ok(&b"ls /\r"[..]));
    assert_eq!(rig.close_ok(h), Ok(()));
}

impl Rig {
    fn close_ok(&mut self, h: Handle) -> Result<(), VfsError> {
        self.call(OWNER, Request::Close(h)).map(drop)
    }
}

#[test]
fn every_wrong_request_gets_an_error_and_changes_nothing() {
    let mut rig = Rig::new();
    assert_eq!(rig.open(OTHER, "/dev/console", RW), Err(VfsError::Denied), "not listed for the console");
    assert_eq!(rig.open(OWNER, "/dev/tty9", RW), Err(VfsError::NotFound));
    let create = OpenFlags(RW.0 | OpenFlags::CREATE.0);
    assert_eq!(rig.open(OWNER, "/dev/console", create), Err(VfsError::BadRequest));
    let h = rig.open(OWNER, "/dev/console", RW).expect("open");
    assert_eq!(rig.open(OWNER, "/dev/console", RW), Err(VfsError::InUse), "one handle at a time");
    assert_eq!(rig.read(OTHER, h, 8), Err(VfsError::NotOwner));
    assert_eq!(rig.write(OTHER, h, b"x"), Err(VfsError::NotOwner));
    let forged = Handle::new(h.slot(), h.generation() + 1);
    assert_eq!(rig.read(OWNER, forged, 8), Err(VfsError::BadHandle));
    assert_eq!(rig.call(OWNER, Request::Seek { handle: h, whence: Whence::Start, offset: 0 }), Err(VfsError::Denied));
    assert_eq!(rig.call(OWNER, Request::Fsync(h)), Err(VfsError::Denied));
    // A read-only handle does not write.
    rig.close_ok(h).unwrap();
    let ro = rig.open(OWNER, "/dev/console", OpenFlags::READ).expect("open");
    assert_eq!(rig.write(OWNER, ro, b"x"), Err(VfsError::Denied));
    assert_eq!(rig.read(OWNER, h, 8), Err(VfsError::BadHandle), "the closed handle");
    // The handle still works after all that.
    rig.driver.keyboard.extend(b"ok");
    rig.run();
    assert_eq!(rig.read(OWNER, ro, 8).as_deref(), Ok(&b"ok"[..]));
}

#[test]
fn the_console_answers_while_a_file_request_of_the_same_client_is_in_flight() {
    let mut rig = Rig::new();
    let h = rig.open(OWNER, "/dev/console", RW).expect("open");
    // No disk: a stat waits for one for ever.
    rig.region(OWNER).write_bytes(0x2000, b"/a").unwrap();
    assert_eq!(rig.call(OWNER, Request::Stat(Span { offset: 0x2000, len: 2 })), Ok(vec![]));
    assert_eq!(rig.call(OWNER, Request::Result), Err(VfsError::WouldBlock));
    assert_eq!(rig.write(OWNER, h, b"still here"), Ok(10));
    rig.driver.keyboard.extend(b"k");
    rig.run();
    assert_eq!(rig.read(OWNER, h, 8).as_deref(), Ok(&b"k"[..]));
    assert_eq!(rig.driver.screen, b"still here");
    assert_eq!(rig.call(OWNER, Request::Result), Err(VfsError::WouldBlock), "the stat is still in flight");
}

#[test]
fn a_reader_behind_loses_no_input_the_driver_keeps_it() {
    let mut rig = Rig::new();
    let h = rig.open(OWNER, "/dev/console", RW).expect("open");
    let typed: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    rig.driver.keyboard.extend(&typed);
    // The driver and the server run many times before the reader does.
    rig.run();
    assert!(rig.vfs.console().unwrap().readable() <= INPUT_MAX + DATA_BYTES as usize / 2);
    assert!(!rig.driver.keyboard.is_empty(), "the rest waits in the driver");
    let got = rig.read_all(h, 300);
    assert_eq!(got.len(), typed.len());
    assert!(got == typed, "every byte typed, in order");
}

#[test]
fn a_driver_restart_breaks_the_stream_and_the_next_open_works() {
    let mut rig = Rig::new();
    let h = rig.open(OWNER, "/dev/console", RW).expect("open");
    rig.driver.keyboard.extend(b"before\r");
    rig.run();
    assert_eq!(rig.read(OWNER, h, 64).as_deref(), Ok(&b"before\r"[..]));
    // Output the driver holds when it dies, and output that waits for it.
    rig.driver.hold_output = true;
    assert_eq!(rig.write(OWNER, h, &[b'x'; 3000]), Ok(3000));
    rig.run();
    assert!(rig.driver.screen.is_empty());
    assert_eq!(rig.read(OWNER, h, 64), Err(VfsError::WouldBlock), "a reader waiting for a line");
    rig.notified.clear();

    rig.driver.restart();
    rig.run();
    assert_eq!(rig.notified, vec![OWNER], "the reader is woken");
    assert_eq!(rig.read(OWNER, h, 64), Err(VfsError::Io), "the read in progress gets EIO");
    assert_eq!(rig.write(OWNER, h, b"y"), Err(VfsError::Io), "the writer learns output was lost");
    let c = rig.vfs.console().unwrap().counters();
    assert_eq!((c.breaks, c.output_lost), (1, 3000));
    assert_eq!(rig.read(OWNER, h, 64), Err(VfsError::Io), "and so it stays");

    // Close, open again: the fresh driver, the next line typed.
    rig.close_ok(h).unwrap();
    let h2 = rig.open(OWNER, "/dev/console", RW).expect("open again");
    assert_ne!(h2, h);
    assert_eq!(rig.read(OWNER, h, 64), Err(VfsError::BadHandle), "the old handle is gone");
    rig.driver.keyboard.extend(b"after\r");
    assert_eq!(rig.write(OWNER, h2, b"prompt> "), Ok(8));
    rig.run();
    assert_eq!(rig.read(OWNER, h2, 64).as_deref(), Ok(&b"after\r"[..]));
    assert_eq!(rig.driver.screen, b"prompt> ", "the lost output is not replayed to the fresh driver");
}

#[test]
fn output_written_before_the_first_driver_attaches_reaches_it() {
    let port = Port::new(leak(0x1000), leak(0x10000), NoBell, Limits::default()).expect("port");
    let region = leak(REGION);
    let (queues, data) = (leak(0x1000), leak(DATA_BYTES as usize));
    let console = Console::new("vfs on virtio_console", queues, data, NoBell).expect("console");
    let clients = vec![ClientSpec { channel: OWNER, max_open: 1, region, console: true }];
    let mut rig = Rig {
        vfs: Vfs::new(port, clients).with_console(console),
        driver: ConsoleDriver::new(queues, data),
        regions: [(OWNER, region), (OTHER, leak(REGION))],
        notified: Vec::new(),
    };
    let h = rig.open(OWNER, "/dev/console", RW).expect("open");
    assert_eq!(rig.write(OWNER, h, b"greeting"), Ok(8));
    rig.run();
    assert_eq!(rig.driver.screen, b"greeting");
    assert_eq!(rig.vfs.console().unwrap().counters().breaks, 0);
    assert_eq!(rig.write(OWNER, h, b"!"), Ok(1), "the first driver breaks nothing");
}
