//! The network server's link against a net driver that misbehaves: it writes
//! completions by hand into the shared rings, with ids of no request, other
//! buffers, other ops, impossible lengths, descriptors outside the region,
//! error statuses, frames too short or too long, garbage frames, duplicates,
//! and ring indices that cannot be. The link skips and reports what breaks
//! the protocol, counts what the driver failed, and frames keep flowing: a
//! TCP exchange through the driver finishes byte-exact (after a fresh driver
//! attaches, where the old one corrupted a ring).

mod common;

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use common::{Queue, WireEnd};
use driver_queue::{Desc, Driver, HeapMem, Link, Notify, QueueError, RingLayout, SharedMem, status};
use net::{FRAME_MAX, Ipv4Config, NetConfig, NetStack, QueueLink};
use net_api::{ConnId, Endpoint, NetError, SocketDecl, SocketId, SocketKind};
use proptest::prelude::*;
use virtio_net::protocol::{BUF, BUFS, DATA_BYTES, OP_MAC, OP_SEND, QUEUES, RX, TX};

struct NoBell;
impl Notify for NoBell {
    fn notify(&self) {}
}

const SERVER_MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const SERVER_IP: [u8; 4] = [10, 0, 2, 15];

/// What the driver does to the next request of a pair, instead of (or before)
/// completing it as it should.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// A completion whose id names no request (or another one) first.
    BadId(u32),
    /// A completion of the request naming another buffer first.
    OtherBuffer(u64),
    /// A completion with another op first.
    OtherOp(u32),
    /// A completion longer than the request's buffer first.
    TooLong(u32),
    /// A descriptor outside the pair's buffers (or misaligned) first.
    OutOfBounds(u64),
    /// The completion twice.
    Duplicate,
    /// The request failed with this (non-zero) status.
    Status(u32),
    /// Receive only: a frame of an impossible length (shorter than an
    /// Ethernet header, or longer than a frame and at most the buffer).
    ImpossibleLen(u32),
    /// Receive only: these bytes as a frame (at least a header, at most a frame).
    Garbage(usize, u8),
}

impl Fault {
    /// A completion the queue layer must refuse, written before the real one.
    fn refused(self) -> bool {
        matches!(
            self,
            Fault::BadId(_) | Fault::OtherBuffer(_) | Fault::OtherOp(_) | Fault::TooLong(_) | Fault::OutOfBounds(_)
        )
    }
}

/// The ring the driver produces completions into, written by hand: slot
/// words and `tail` as `driver_queue::ring` lays them out.
struct RawRing {
    ring: RingLayout,
    tail: u64,
}

impl RawRing {
    const HEAD: usize = 64;

    fn room(&self, mem: &HeapMem) -> bool {
        let head = mem.word(self.ring.offset() + Self::HEAD).unwrap().load(Ordering::Acquire);
        self.tail.wrapping_sub(head) < self.ring.capacity()
    }

    /// Publishes `d` if there is room.
    fn push(&mut self, mem: &HeapMem, d: Desc) -> bool {
        if !self.room(mem) {
            return false;
        }
        let slot = self.ring.offset() + 128 + (self.tail & (self.ring.capacity() - 1)) as usize * 32;
        for (i, w) in d.to_words().into_iter().enumerate() {
            mem.word(slot + 8 * i).unwrap().store(w, Ordering::Relaxed);
        }
        self.tail += 1;
        mem.word(self.ring.offset()).unwrap().store(self.tail, Ordering::Release);
        true
    }

    /// Writes an impossible tail: more than a ring ahead of the consumer.
    fn corrupt(&mut self, mem: &HeapMem) {
        mem.word(self.ring.offset()).unwrap().store(self.tail + self.ring.capacity() + 7, Ordering::Release);
    }
}

/// What the driver did that the link must account for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Done {
    /// Completions the queue layer must refuse (each reported once).
    refused: u64,
    /// Rings corrupted (each reported once or twice: when met, and when the
    /// reset drains the ring).
    corrupted: u64,
    tx_failed: u64,
    rx_failed: u64,
    garbage_frames: u64,
}

/// A driver (the queue crate's driver end, completions written by hand) over
/// a wire: frames it is given go to the peer, frames from the peer fill the
/// buffers the link posted.
struct BadDriver<'m> {
    queues: &'m HeapMem,
    data: &'m HeapMem,
    driver: Driver<&'m HeapMem>,
    done_rings: [RawRing; 2],
    /// Receive buffers taken from the ring, not yet filled.
    posted: VecDeque<Desc>,
    /// Completions waiting for room in their ring, per pair.
    waiting: [VecDeque<Desc>; 2],
    faults: [VecDeque<Fault>; 2],
    to_peer: Queue,
    to_server: Queue,
    done: Rc<Cell<Done>>,
}

impl<'m> BadDriver<'m> {
    /// A fresh driver: it asks the link to attach.
    fn new(queues: &'m HeapMem, data: &'m HeapMem, to_peer: Queue, to_server: Queue, done: Rc<Cell<Done>>) -> Self {
        let ring = |pair| {
            let spec = QUEUES.pairs[pair];
            RawRing { ring: QUEUES.layout.ring(pair, spec.from_driver()).unwrap(), tail: 0 }
        };
        BadDriver {
            queues,
            data,
            driver: Driver::new(queues, QUEUES.layout, QUEUES.pairs).unwrap(),
            done_rings: [ring(TX), ring(RX)],
            posted: VecDeque::new(),
            waiting: Default::default(),
            faults: Default::default(),
            to_peer,
            to_server,
            done,
        }
    }

    fn count(&self, f: impl FnOnce(&mut Done)) {
        let mut d = self.done.get();
        f(&mut d);
        self.done.set(d);
    }

    /// Writes a completion the link must refuse (if the ring has room).
    fn garbage(&mut self, pair: usize, req: Desc, fault: Fault) {
        let d = match fault {
            Fault::BadId(x) => Desc { id: req.id ^ (1 + x % 0xffff), ..req },
            Fault::OtherBuffer(x) => Desc { offset: req.offset ^ (BUF * (1 + x % (BUFS - 1))), ..req },
            Fault::OtherOp(x) => Desc { op: req.op ^ (1 + x % 0xffff), ..req },
            Fault::TooLong(x) => Desc { len: req.len + 1 + x % 0xffff, ..req },
            Fault::OutOfBounds(x) => {
                let offset = match x % 3 {
                    0 => req.offset + 1 + x % (BUF - 1),
                    1 => DATA_BYTES + x % 0x1_0000,
                    _ => u64::MAX - x % 0x1_0000,
                };
                Desc { offset, ..req }
            }
            _ => unreachable!(),
        };
        if self.done_rings[pair].room(self.queues) && self.waiting[pair].is_empty() {
            self.done_rings[pair].push(self.queues, d);
            self.count(|d| d.refused += 1);
        }
    }

    /// Completes `d` (in order, when its ring has room).
    fn complete(&mut self, pair: usize, d: Desc) {
        self.waiting[pair].push_back(d);
        self.flush();
    }

    /// Publishes the completions waiting, in order, while there is room; a
    /// failed request counts when its completion is published.
    fn flush(&mut self) {
        for pair in [TX, RX] {
            while let Some(&d) = self.waiting[pair].front() {
                if !self.done_rings[pair].push(self.queues, d) {
                    break;
                }
                self.waiting[pair].pop_front();
                let frame_len = (14..=FRAME_MAX as u32).contains(&d.len);
                match pair {
                    TX if d.status != status::OK => self.count(|c| c.tx_failed += 1),
                    RX if d.status != status::OK || !frame_len => self.count(|c| c.rx_failed += 1),
                    _ => {}
                }
            }
        }
    }

    /// On a notification from the link (every step here): the restart
    /// protocol, then every request.
    fn run(&mut self) {
        match self.driver.poll().unwrap() {
            Link::Attached { .. } => {
                self.done_rings.iter_mut().for_each(|r| r.tail = 0);
                self.posted.clear();
                self.waiting.iter_mut().for_each(VecDeque::clear);
            }
            Link::Ready => {}
            _ => return,
        }
        self.flush();
        while let Some(req) = self.driver.pair(TX).unwrap().next_request().unwrap() {
            self.transmit(req);
        }
        while let Some(req) = self.driver.pair(RX).unwrap().next_request().unwrap() {
            self.posted.push_back(req);
        }
        self.receive();
    }

    fn transmit(&mut self, req: Desc) {
        if req.op == OP_MAC {
            self.data.write_bytes(req.offset as usize, &SERVER_MAC).unwrap();
            return self.complete(TX, Desc { len: 6, status: status::OK, ..req });
        }
        assert_eq!(req.op, OP_SEND);
        let fault = self.faults[TX].pop_front();
        match fault {
            Some(f) if f.refused() => self.garbage(TX, req, f),
            Some(Fault::Status(s)) => return self.complete(TX, Desc { len: 0, status: s, ..req }),
            _ => {}
        }
        let mut frame = vec![0; req.len as usize];
        self.data.read_bytes(req.offset as usize, &mut frame).unwrap();
        self.to_peer.borrow_mut().push_back(frame);
        let done = Desc { status: status::OK, ..req };
        self.complete(TX, done);
        if let Some(Fault::Duplicate) = fault
            && self.waiting[TX].is_empty()
            && self.done_rings[TX].push(self.queues, done)
        {
            self.count(|d| d.refused += 1);
        }
    }

    fn receive(&mut self) {
        while let Some(req) = self.posted.pop_front() {
            let fault = self.faults[RX].front().copied();
            let fill = |bytes: &[u8]| self.data.write_bytes(req.offset as usize, bytes).unwrap();
            let done = match fault {
                Some(f) if f.refused() => {
                    self.faults[RX].pop_front();
                    self.garbage(RX, req, f);
                    // Still in flight: filled properly later.
                    self.posted.push_front(req);
                    continue;
                }
                Some(Fault::Status(s)) => Desc { len: 0, status: s, ..req },
                Some(Fault::ImpossibleLen(len)) => {
                    fill(&vec![0xee; len as usize]);
                    Desc { len, status: status::OK, ..req }
                }
                Some(Fault::Garbage(len, seed)) => {
                    let bytes: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
                    fill(&bytes);
                    self.count(|d| d.garbage_frames += 1);
                    Desc { len: len as u32, status: status::OK, ..req }
                }
                _ => {
                    let Some(frame) = self.to_server.borrow_mut().pop_front() else {
                        self.posted.push_front(req);
                        return;
                    };
                    fill(&frame);
                    Desc { len: frame.len() as u32, status: status::OK, ..req }
                }
            };
            if fault.is_some() {
                self.faults[RX].pop_front();
            }
            self.complete(RX, done);
            if let Some(Fault::Duplicate) = fault
                && self.waiting[RX].is_empty()
                && self.done_rings[RX].push(self.queues, done)
            {
                self.count(|d| d.refused += 1);
            }
        }
    }
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// The server on the link over the bad driver, a peer on the wire, a TCP
/// connection between them.
struct Rig<'m> {
    server: NetStack<QueueLink<&'m HeapMem, NoBell>>,
    peer: NetStack<WireEnd>,
    driver: BadDriver<'m>,
    queues: &'m HeapMem,
    data: &'m HeapMem,
    to_peer: Queue,
    to_server: Queue,
    done: Rc<Cell<Done>>,
    now: u64,
    client: ConnId,
    conn: ConnId,
}

impl<'m> Rig<'m> {
    fn new(queues: &'m HeapMem, data: &'m HeapMem) -> Rig<'m> {
        let (to_peer, to_server): (Queue, Queue) = (Rc::default(), Rc::default());
        let done = Rc::new(Cell::new(Done::default()));
        // The driver first, as at boot: the link's first epoch is the one it asks for.
        let mut driver = BadDriver::new(queues, data, to_peer.clone(), to_server.clone(), done.clone());
        let mut link = QueueLink::new(queues, data, NoBell).unwrap();
        for _ in 0..4 {
            link.on_driver_notification();
            driver.run();
        }
        assert_eq!(link.mac(), Some(SERVER_MAC));
        let config =
            |addr, mac| NetConfig { mac, ipv4: Ipv4Config { addr, prefix_len: 24, gateway: None }, random_seed: 3 };
        let decl = |kind| SocketDecl { name: "s", owner: 0, kind, rx_bytes: 8192, tx_bytes: 8192, datagrams: 0 };
        let server = NetStack::new(
            &config(SERVER_IP, SERVER_MAC),
            &[decl(SocketKind::TcpListener { port: 80, backlog: 1 })],
            link,
            0,
        );
        let peer = NetStack::new(
            &config([10, 0, 2, 2], [0x52, 0x54, 0, 0, 0, 2]),
            &[decl(SocketKind::TcpClient)],
            WireEnd::new(to_server.clone(), to_peer.clone()),
            0,
        );
        let mut rig = Rig {
            server,
            peer,
            driver,
            queues,
            data,
            to_peer,
            to_server,
            done,
            now: 0,
            client: ConnId { socket: SocketId(0), slot: 0 },
            conn: ConnId { socket: SocketId(0), slot: 0 },
        };
        rig.client = rig.peer.connect(0, SocketId(0), Endpoint { addr: SERVER_IP, port: 80 }).unwrap();
        rig.conn = rig.until(5000, |r| r.server.accept(0, SocketId(0)).ok());
        rig
    }

    /// One ms: the stack, the driver, the link's completions, the peer.
    fn step(&mut self) {
        self.server.link().set_now(self.now);
        self.server.poll(self.now);
        self.driver.run();
        self.server.link().on_driver_notification();
        self.server.poll(self.now);
        self.peer.poll(self.now);
        self.now += 1;
    }

    fn until<T>(&mut self, limit: u64, mut f: impl FnMut(&mut Rig<'m>) -> Option<T>) -> T {
        let end = self.now + limit;
        while self.now < end {
            if let Some(t) = f(self) {
                return t;
            }
            self.step();
        }
        panic!(
            "not done within {limit} ms of simulated time: {:?}, {:?}",
            self.server.link().counters(),
            self.done.get()
        )
    }

    /// The driver corrupts a completion ring's index: the link reports it and
    /// stops the pair; the driver is restarted (as RS would, told by the
    /// server), and the fresh copy attaches.
    fn corrupt_and_restart(&mut self, pair: usize) {
        let before = self.server.link().peer_faults().count;
        self.driver.done_rings[pair].corrupt(self.queues);
        self.server.link().on_driver_notification();
        let faults = self.server.link().peer_faults();
        assert_eq!(faults.count, before + 1, "the corrupt ring is reported");
        assert!(matches!(faults.last, Some(QueueError::Corrupt { .. })), "{faults:?}");
        let mut d = self.done.get();
        d.corrupted += 1;
        self.done.set(d);
        self.driver =
            BadDriver::new(self.queues, self.data, self.to_peer.clone(), self.to_server.clone(), self.done.clone());
        let attaches = self.server.link().counters().reattaches;
        self.until(100, |r| (r.server.link().counters().reattaches > attaches).then_some(()));
    }
}

/// Both directions of the connection.
struct Streams {
    up: Vec<u8>,
    down: Vec<u8>,
    up_sent: usize,
    down_sent: usize,
    up_got: Vec<u8>,
    down_got: Vec<u8>,
}

impl Streams {
    fn new(len: usize) -> Streams {
        Streams {
            up: pattern(len, 5),
            down: pattern(len, 6),
            up_sent: 0,
            down_sent: 0,
            up_got: Vec::new(),
            down_got: Vec::new(),
        }
    }

    fn pump(&mut self, r: &mut Rig<'_>) {
        let (client, conn) = (r.client, r.conn);
        let mut buf = [0; 4096];
        if let Ok(n) = r.peer.send(0, client, &self.up[self.up_sent..]) {
            self.up_sent += n;
        }
        if let Ok(n) = r.server.send(0, conn, &self.down[self.down_sent..]) {
            self.down_sent += n;
        }
        loop {
            match r.server.recv(0, conn, &mut buf) {
                Ok(0) | Err(NetError::WouldBlock) => break,
                Ok(n) => self.up_got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("server recv: {e}"),
            }
        }
        while let Ok(n @ 1..) = r.peer.recv(0, client, &mut buf) {
            self.down_got.extend_from_slice(&buf[..n]);
        }
    }

    fn finish(&mut self, r: &mut Rig<'_>) {
        r.until(300_000, |r| {
            self.pump(r);
            (self.up_got.len() >= self.up.len() && self.down_got.len() >= self.down.len()).then_some(())
        });
        assert!(self.up_got == self.up, "the server read {} bytes of {}", self.up_got.len(), self.up.len());
        assert!(self.down_got == self.down, "the peer read {} bytes of {}", self.down_got.len(), self.down.len());
    }
}

/// After the driver's faults: the streams finish intact and the link
/// accounted for everything the driver did.
fn check_accounting(r: &mut Rig<'_>, before_faults: u64) {
    let done = r.done.get();
    let counters = r.server.link().counters();
    let reported = r.server.link().peer_faults().count - before_faults;
    assert!(
        (done.refused + done.corrupted..=done.refused + 2 * done.corrupted).contains(&reported),
        "every refused completion and corrupt ring reported: {reported} for {done:?}"
    );
    assert_eq!(counters.tx_errors, done.tx_failed, "{counters:?} {done:?}");
    assert_eq!(counters.rx_errors, done.rx_failed, "{counters:?} {done:?}");
    assert_eq!(counters.reattaches, done.corrupted + 1, "the first driver's attach and one per fresh driver");
}

#[derive(Clone, Debug)]
enum Action {
    Fault(usize, Fault),
    /// The driver corrupts the index of its completion ring of a pair.
    Corrupt(usize),
    Pump,
    Wait(u8),
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        any::<u32>().prop_map(Fault::BadId),
        any::<u64>().prop_map(Fault::OtherBuffer),
        any::<u32>().prop_map(Fault::OtherOp),
        any::<u32>().prop_map(Fault::TooLong),
        any::<u64>().prop_map(Fault::OutOfBounds),
        Just(Fault::Duplicate),
        (1..=u32::MAX).prop_map(Fault::Status),
        prop_oneof![0..14u32, FRAME_MAX as u32 + 1..=BUF as u32].prop_map(Fault::ImpossibleLen),
        (14..=FRAME_MAX, any::<u8>()).prop_map(|(n, s)| Fault::Garbage(n, s)),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (prop_oneof![Just(TX), Just(RX)], fault()).prop_map(|(p, f)| Action::Fault(p, f)),
        1 => prop_oneof![Just(TX), Just(RX)].prop_map(Action::Corrupt),
        4 => Just(Action::Pump),
        1 => (0..50u8).prop_map(Action::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_misbehaving_driver_is_reported_and_frames_keep_flowing(actions in prop::collection::vec(action(), 1..60)) {
        let queues = HeapMem::new(QUEUES.layout.bytes());
        let data = HeapMem::new(DATA_BYTES as usize);
        let mut r = Rig::new(&queues, &data);
        let before = r.server.link().peer_faults().count;
        let mut streams = Streams::new(40_000);
        let mut corruptions = 0;
        for a in &actions {
            match *a {
                // Receive faults other than the refused ones only make sense
                // on the receive pair; on transmit they stand for a failure.
                Action::Fault(TX, Fault::ImpossibleLen(_) | Fault::Garbage(..)) => {
                    r.driver.faults[TX].push_back(Fault::Status(status::IO_ERROR))
                }
                Action::Fault(pair, f) => r.driver.faults[pair].push_back(f),
                // A few restarts are enough; each costs the frames the dead
                // driver dropped.
                Action::Corrupt(pair) if corruptions < 3 => {
                    corruptions += 1;
                    r.corrupt_and_restart(pair);
                }
                Action::Corrupt(_) => {}
                Action::Pump => streams.pump(&mut r),
                Action::Wait(ms) => (0..ms).for_each(|_| r.step()),
            }
            r.step();
        }
        streams.finish(&mut r);
        check_accounting(&mut r, before);
    }
}

/// Every fault on both pairs, one after another, then a ring corrupted on
/// each pair: the same checks, so no fault depends on the random mix.
#[test]
fn every_fault_on_both_pairs() {
    let queues = HeapMem::new(QUEUES.layout.bytes());
    let data = HeapMem::new(DATA_BYTES as usize);
    let mut r = Rig::new(&queues, &data);
    let before = r.server.link().peer_faults().count;
    let mut streams = Streams::new(40_000);
    let rx_faults = [
        Fault::BadId(0),
        Fault::BadId(77),
        Fault::OtherBuffer(0),
        Fault::OtherOp(1),
        Fault::TooLong(0),
        Fault::TooLong(u32::MAX),
        Fault::OutOfBounds(0),
        Fault::OutOfBounds(1),
        Fault::OutOfBounds(2),
        Fault::Duplicate,
        Fault::Status(status::IO_ERROR),
        Fault::Status(u32::MAX),
        Fault::ImpossibleLen(0),
        Fault::ImpossibleLen(13),
        Fault::ImpossibleLen(FRAME_MAX as u32 + 1),
        Fault::ImpossibleLen(BUF as u32),
        Fault::Garbage(14, 0),
        Fault::Garbage(FRAME_MAX, 0x5a),
    ];
    for f in rx_faults {
        r.driver.faults[RX].push_back(f);
        if !matches!(f, Fault::ImpossibleLen(_) | Fault::Garbage(..)) {
            r.driver.faults[TX].push_back(f);
        }
        streams.pump(&mut r);
        r.step();
    }
    for _ in 0..100 {
        streams.pump(&mut r);
        r.step();
    }
    let done = r.done.get();
    assert_eq!(done.refused, 2 * 10, "the refused completions were written: {done:?}");
    assert_eq!((done.tx_failed, done.rx_failed), (2, 6), "{done:?}");
    assert!(r.driver.faults.iter().all(VecDeque::is_empty), "every fault was used");
    r.corrupt_and_restart(TX);
    for _ in 0..100 {
        streams.pump(&mut r);
        r.step();
    }
    r.corrupt_and_restart(RX);
    streams.finish(&mut r);
    // And on, with the fresh driver.
    let mut more = Streams::new(20_000);
    more.finish(&mut r);
    check_accounting(&mut r, before);
}
