//! Malformed traffic from the wire (the TAP side): random bytes, truncated
//! frames, wrong checksums, wrong lengths, impossible header lengths, slipped
//! in among the frames of a real TCP connection. The server never panics, and
//! afterwards the connection still carries every byte intact both ways, a new
//! connection is accepted, a ping is answered and UDP goes both ways.

mod common;
mod frames;

use std::rc::Rc;

use common::{Queue, WireEnd};
use frames::{Host, Tcp};
use net::{FRAME_MAX, Ipv4Config, NetConfig, NetStack};
use net_api::{ConnId, Endpoint, NetError, SocketDecl, SocketId, SocketKind};
use proptest::prelude::*;

const SERVER: Host = Host { mac: [0x52, 0x54, 0, 0x12, 0x34, 1], ip: [10, 0, 2, 15] };
const PEER: Host = Host { mac: [0x52, 0x54, 0, 0x12, 0x34, 2], ip: [10, 0, 2, 2] };
/// A host on the link that only ever sends garbage.
const STRANGER: Host = Host { mac: [0x02, 0, 0, 0, 0, 9], ip: [10, 0, 2, 99] };
const HTTP: u16 = 80;
const ECHO: u16 = 7;
/// A port nothing listens on.
const CLOSED: u16 = 9;

fn config(h: Host) -> NetConfig {
    NetConfig {
        mac: h.mac,
        ipv4: Ipv4Config { addr: h.ip, prefix_len: 24, gateway: None },
        random_seed: h.mac[5].into(),
    }
}

fn decl(kind: SocketKind) -> SocketDecl {
    SocketDecl { name: "s", owner: 0, kind, rx_bytes: 4096, tx_bytes: 4096, datagrams: 4 }
}

/// The server and a real peer on a wire, with a TCP connection between them.
struct Net {
    server: NetStack<WireEnd>,
    peer: NetStack<WireEnd>,
    /// Frames to the server (where the garbage goes).
    to_server: Queue,
    to_peer: Queue,
    now: u64,
    client: ConnId,
    conn: ConnId,
    /// The peer's port of the connection.
    peer_port: u16,
}

impl Net {
    fn new() -> Net {
        let (to_server, to_peer): (Queue, Queue) = (Rc::default(), Rc::default());
        let server = NetStack::new(
            &config(SERVER),
            &[decl(SocketKind::TcpListener { port: HTTP, backlog: 2 }), decl(SocketKind::Udp { port: ECHO })],
            WireEnd::new(to_peer.clone(), to_server.clone()),
            0,
        );
        let peer = NetStack::new(
            &config(PEER),
            &[decl(SocketKind::TcpClient), decl(SocketKind::TcpClient), decl(SocketKind::Udp { port: 4000 })],
            WireEnd::new(to_server.clone(), to_peer.clone()),
            0,
        );
        let mut net = Net {
            server,
            peer,
            to_server,
            to_peer,
            now: 0,
            client: ConnId { socket: SocketId(0), slot: 0 },
            conn: ConnId { socket: SocketId(0), slot: 0 },
            peer_port: 0,
        };
        net.client = net.peer.connect(0, SocketId(0), Endpoint { addr: SERVER.ip, port: HTTP }).unwrap();
        net.conn = net.until(2000, |n| {
            n.sniff_peer_port();
            n.server.accept(0, SocketId(0)).ok()
        });
        assert_ne!(net.peer_port, 0, "the peer's SYN was seen");
        net
    }

    /// Remembers the peer's port from the first TCP frame it sent.
    fn sniff_peer_port(&mut self) {
        if self.peer_port != 0 {
            return;
        }
        for f in self.to_server.borrow().iter() {
            if f.len() >= frames::L4 + 20 && f[12..14] == [8, 0] && f[frames::IP + 9] == frames::PROTO_TCP {
                self.peer_port = u16::from_be_bytes([f[frames::L4], f[frames::L4 + 1]]);
            }
        }
    }

    fn step(&mut self) {
        self.server.poll(self.now);
        self.peer.poll(self.now);
        self.now += 1;
    }

    fn until<T>(&mut self, limit: u64, mut f: impl FnMut(&mut Net) -> Option<T>) -> T {
        let end = self.now + limit;
        while self.now < end {
            if let Some(t) = f(self) {
                return t;
            }
            self.step();
        }
        panic!("not done within {limit} ms of simulated time")
    }

    /// A frame to the server, slipped in at `at` (modulo the frames waiting).
    fn inject(&mut self, frame: Vec<u8>, at: usize) {
        assert!(frame.len() <= FRAME_MAX, "the link drops longer frames before the stack");
        let mut q = self.to_server.borrow_mut();
        let at = at % (q.len() + 1);
        q.insert(at, frame);
    }
}

/// A well-formed frame that the garbage is made from.
#[derive(Clone, Copy, Debug)]
enum Base {
    /// An ARP request from the stranger for the server's address.
    Arp,
    /// A SYN from the stranger to the listener.
    Syn,
    /// A UDP datagram from the stranger to a closed port.
    Udp,
    /// A ping from the stranger.
    Ping,
    /// A segment of the live connection, from the peer, carrying data.
    Live,
}

impl Base {
    fn frame(self, net: &Net) -> Vec<u8> {
        let t = |src_port, dst_port, flags| Tcp { src_port, dst_port, seq: 1000, ack: 0, flags, window: 8192 };
        match self {
            Base::Arp => frames::arp_request(STRANGER, SERVER.ip),
            Base::Syn => frames::tcp(STRANGER, SERVER, t(1234, HTTP, frames::SYN), &[]),
            Base::Udp => frames::udp(STRANGER, SERVER, 1234, CLOSED, b"a datagram nobody wants"),
            Base::Ping => frames::ping(STRANGER, SERVER, 7, 1, b"garbage ping"),
            Base::Live => frames::tcp(
                PEER,
                SERVER,
                Tcp { ack: 1, ..t(net.peer_port, HTTP, frames::ACK | frames::PSH) },
                b"INJECTED BYTES",
            ),
        }
    }
}

/// One piece of garbage for the wire.
#[derive(Clone, Debug)]
enum Garbage {
    /// Any bytes at all (up to a full frame, none included).
    Random(Vec<u8>),
    /// A frame cut short (to `len` modulo its length).
    Truncated(Base, usize),
    BadIpChecksum(Base),
    BadL4Checksum(Base),
    /// The IPv4 total length set to this (the IPv4 checksum made right).
    IpTotalLen(Base, u16),
    /// The IPv4 header length set to this many words (checksum made right).
    IpHeaderWords(Base, u8),
    /// A segment from the stranger to a closed port with this TCP data offset
    /// (in words), both checksums right: only the header length is wrong.
    TcpDataWords(u8),
    /// A datagram from the stranger to a closed port with this UDP length,
    /// both checksums right.
    UdpLen(u16),
    /// Bytes changed at positions (modulo the length), the IPv4 checksum made
    /// right or not.
    Flipped(Base, Vec<(usize, u8)>, bool),
    /// An empty frame, and one with only an Ethernet header.
    Empty(bool),
}

impl Garbage {
    /// The frame. Nothing here may carry a transport checksum that passes,
    /// except to a closed port from the stranger, so no garbage can rightly
    /// change the connection (TCP has no defence against a spoofed segment
    /// with a right checksum, and the test is not about that).
    fn frame(&self, net: &Net) -> Vec<u8> {
        let mut f = match self {
            Garbage::Random(bytes) => return bytes.clone(),
            Garbage::Empty(false) => return Vec::new(),
            Garbage::Empty(true) => return frames::ethernet(SERVER.mac, STRANGER.mac, frames::ETHERTYPE_IPV4, &[]),
            Garbage::Truncated(b, len) => {
                let mut f = b.frame(net);
                f.truncate(len % f.len());
                f
            }
            Garbage::BadIpChecksum(b) => {
                let mut f = b.frame(net);
                if f.len() > frames::L4 {
                    f[frames::IP + 10] ^= 0x5a;
                }
                f
            }
            Garbage::BadL4Checksum(b) => b.frame(net),
            Garbage::IpTotalLen(b, len) => {
                let mut f = b.frame(net);
                frames::set_ip_total_len(&mut f, *len);
                frames::fix_ip_checksum(&mut f);
                f
            }
            Garbage::IpHeaderWords(b, words) => {
                let mut f = b.frame(net);
                frames::set_ip_header_words(&mut f, *words);
                frames::fix_ip_checksum(&mut f);
                f
            }
            Garbage::TcpDataWords(words) => {
                let t = Tcp { src_port: 1234, dst_port: CLOSED, seq: 5, ack: 0, flags: frames::SYN, window: 512 };
                let mut f = frames::tcp(STRANGER, SERVER, t, b"payload after the header");
                frames::set_tcp_data_words(&mut f, *words);
                frames::fix_l4_checksum(&mut f);
                return f;
            }
            Garbage::UdpLen(len) => {
                let mut f = frames::udp(STRANGER, SERVER, 1234, CLOSED, b"a datagram of the wrong length");
                frames::set_udp_len(&mut f, *len);
                frames::fix_l4_checksum(&mut f);
                return f;
            }
            Garbage::Flipped(b, flips, fix_ip) => {
                let mut f = b.frame(net);
                // The ARP sender fields stay (else the garbage could rightly
                // claim the peer's address).
                let keep = if matches!(b, Base::Arp) { 14 + 8..14 + 18 } else { 0..0 };
                for &(at, x) in flips {
                    let at = at % f.len();
                    if !keep.contains(&at) {
                        f[at] ^= x;
                    }
                }
                if *fix_ip {
                    frames::fix_ip_checksum(&mut f);
                }
                f
            }
        };
        frames::break_l4_checksum(&mut f);
        f
    }
}

fn base() -> impl Strategy<Value = Base> {
    prop_oneof![Just(Base::Arp), Just(Base::Syn), Just(Base::Udp), Just(Base::Ping), Just(Base::Live)]
}

fn garbage() -> impl Strategy<Value = Garbage> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..=FRAME_MAX).prop_map(Garbage::Random),
        3 => (base(), any::<usize>()).prop_map(|(b, n)| Garbage::Truncated(b, n)),
        1 => base().prop_map(Garbage::BadIpChecksum),
        1 => base().prop_map(Garbage::BadL4Checksum),
        2 => (base(), prop_oneof![0..80u16, any::<u16>()]).prop_map(|(b, n)| Garbage::IpTotalLen(b, n)),
        2 => (base(), 0..16u8).prop_map(|(b, n)| Garbage::IpHeaderWords(b, n)),
        2 => (0..16u8).prop_map(Garbage::TcpDataWords),
        2 => prop_oneof![0..64u16, any::<u16>()].prop_map(Garbage::UdpLen),
        3 => (base(), prop::collection::vec((any::<usize>(), 1..=255u8), 1..8), any::<bool>())
            .prop_map(|(b, f, fix)| Garbage::Flipped(b, f, fix)),
        1 => any::<bool>().prop_map(Garbage::Empty),
    ]
}

#[derive(Clone, Debug)]
enum Action {
    /// Garbage slipped in among the frames waiting for the server.
    Garbage(Garbage, usize),
    /// The peer sends more of its stream, the server more of its own.
    Data,
    /// Time passes (ms).
    Wait(u8),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (garbage(), any::<usize>()).prop_map(|(g, at)| Action::Garbage(g, at)),
        3 => Just(Action::Data),
        1 => any::<u8>().prop_map(Action::Wait),
    ]
}

/// Deterministic bytes.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

/// Both directions of one connection: what each side sent and received.
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
            up: pattern(len, 1),
            down: pattern(len, 2),
            up_sent: 0,
            down_sent: 0,
            up_got: Vec::new(),
            down_got: Vec::new(),
        }
    }

    /// Sends what the sockets take and reads what arrived, on both sides.
    fn pump(&mut self, net: &mut Net, client: ConnId, conn: ConnId) {
        let mut buf = [0; 2048];
        if self.up_sent < self.up.len() {
            match net.peer.send(0, client, &self.up[self.up_sent..]) {
                Ok(n) => self.up_sent += n,
                Err(NetError::WouldBlock) => {}
                Err(e) => panic!("peer send: {e}"),
            }
        }
        if self.down_sent < self.down.len() {
            match net.server.send(0, conn, &self.down[self.down_sent..]) {
                Ok(n) => self.down_sent += n,
                Err(NetError::WouldBlock) => {}
                Err(e) => panic!("server send: {e}"),
            }
        }
        loop {
            match net.server.recv(0, conn, &mut buf) {
                Ok(0) | Err(NetError::WouldBlock) => break,
                Ok(n) => self.up_got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("server recv: {e}"),
            }
        }
        loop {
            match net.peer.recv(0, client, &mut buf) {
                Ok(0) | Err(NetError::WouldBlock) => break,
                Ok(n) => self.down_got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("peer recv: {e}"),
            }
        }
    }

    fn done(&self) -> bool {
        self.up_got.len() >= self.up.len() && self.down_got.len() >= self.down.len()
    }

    fn check(&self) {
        assert!(
            self.up_got == self.up,
            "the server read {} bytes, not the {} the peer sent",
            self.up_got.len(),
            self.up.len()
        );
        assert!(
            self.down_got == self.down,
            "the peer read {} bytes, not the {} sent",
            self.down_got.len(),
            self.down.len()
        );
    }
}

/// After the garbage: the live connection finishes its streams intact, a new
/// connection is accepted and carries bytes, a ping is answered, UDP works.
fn still_serving(net: &mut Net, streams: &mut Streams) {
    let (client, conn) = (net.client, net.conn);
    net.until(60_000, |n| {
        streams.pump(n, client, conn);
        streams.done().then_some(())
    });
    streams.check();

    let c2 = net.peer.connect(0, SocketId(1), Endpoint { addr: SERVER.ip, port: HTTP }).unwrap();
    let s2 = net.until(5000, |n| n.server.accept(0, SocketId(0)).ok());
    assert_ne!(s2.slot, conn.slot, "a second backlog slot");
    let mut second = Streams::new(3000);
    net.until(10_000, |n| {
        second.pump(n, c2, s2);
        second.done().then_some(())
    });
    second.check();

    // A ping from the peer: answered at once (the server knows the peer's MAC).
    net.to_server.borrow_mut().push_back(frames::ping(PEER, SERVER, 0x4242, 9, b"are you there"));
    net.server.poll(net.now);
    let answered = net.to_peer.borrow().iter().any(|f| frames::is_echo_reply(f, SERVER, 0x4242, 9, b"are you there"));
    assert!(answered, "the server answers a ping");

    let to = Endpoint { addr: SERVER.ip, port: ECHO };
    net.peer.send_to(0, SocketId(2), to, b"udp still works").unwrap();
    let mut buf = [0; 64];
    let (n, from) = net.until(2000, |n| n.server.recv_from(0, SocketId(1), &mut buf).ok());
    assert_eq!(&buf[..n], b"udp still works");
    assert_eq!(from, Endpoint { addr: PEER.ip, port: 4000 });
    net.server.send_to(0, SocketId(1), from, b"and back").unwrap();
    let (n, _) = net.until(2000, |n| n.peer.recv_from(0, SocketId(2), &mut buf).ok());
    assert_eq!(&buf[..n], b"and back");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn garbage_on_the_wire_leaves_the_server_serving(actions in prop::collection::vec(action(), 1..80)) {
        let mut net = Net::new();
        let mut streams = Streams::new(12_000);
        let (client, conn) = (net.client, net.conn);
        for a in &actions {
            match a {
                Action::Garbage(g, at) => {
                    let f = g.frame(&net);
                    net.inject(f, *at);
                }
                Action::Data => streams.pump(&mut net, client, conn),
                Action::Wait(ms) => {
                    for _ in 0..*ms {
                        net.step();
                    }
                }
            }
            net.step();
        }
        still_serving(&mut net, &mut streams);
    }
}

/// Each kind of garbage once, a burst of it with no real frame between: the
/// same checks, so a case the random mix rarely draws is always covered.
#[test]
fn every_kind_of_garbage_at_once() {
    let mut net = Net::new();
    let bases = [Base::Arp, Base::Syn, Base::Udp, Base::Ping, Base::Live];
    let mut burst = vec![Garbage::Empty(false), Garbage::Empty(true), Garbage::Random(vec![0xff; FRAME_MAX])];
    for b in bases {
        burst.extend([
            Garbage::Truncated(b, 13),
            Garbage::Truncated(b, 14),
            Garbage::Truncated(b, 33),
            Garbage::Truncated(b, 41),
            Garbage::BadIpChecksum(b),
            Garbage::BadL4Checksum(b),
            Garbage::IpTotalLen(b, 0),
            Garbage::IpTotalLen(b, 19),
            Garbage::IpTotalLen(b, 21),
            Garbage::IpTotalLen(b, u16::MAX),
            Garbage::IpHeaderWords(b, 0),
            Garbage::IpHeaderWords(b, 4),
            Garbage::IpHeaderWords(b, 6),
            Garbage::IpHeaderWords(b, 15),
        ]);
    }
    burst.extend((0..16).map(Garbage::TcpDataWords));
    burst.extend([0, 1, 7, 8, 9, 20, 1000, u16::MAX].map(Garbage::UdpLen));
    let mut streams = Streams::new(12_000);
    let (client, conn) = (net.client, net.conn);
    streams.pump(&mut net, client, conn);
    for g in &burst {
        let f = g.frame(&net);
        net.inject(f, 0);
    }
    still_serving(&mut net, &mut streams);
}

/// A SYN from a host that never finishes the handshake (spoofed, or gone)
/// takes a backlog slot; the slot listens again after the server's handshake
/// timeout, so a few such SYNs cannot lock a listener for good. Here the
/// listener has two slots, one held by the live connection.
#[test]
fn a_handshake_nobody_finishes_gives_its_backlog_slot_back() {
    let mut net = Net::new();
    let t = Tcp { src_port: 1234, dst_port: HTTP, seq: 77, ack: 0, flags: frames::SYN, window: 8192 };
    net.inject(frames::tcp(STRANGER, SERVER, t, &[]), 0);
    net.step();
    let start = net.now;
    // The peer tries to connect once a second (its SYNs are refused while
    // the stranger's handshake holds the slot).
    let mut client = None;
    let conn = net.until(120_000, |n| {
        if let Ok(s) = n.server.accept(0, SocketId(0)) {
            return Some(s);
        }
        match ((n.now - start) % 1000, client) {
            // Refused: given up, to try again.
            (0, Some(c)) if n.peer.readiness(0, SocketId(1), None).unwrap().closed => {
                n.peer.abort(0, c).unwrap();
                client = None;
            }
            (10, None) => {
                client = Some(n.peer.connect(0, SocketId(1), Endpoint { addr: SERVER.ip, port: HTTP }).unwrap())
            }
            _ => {}
        }
        None
    });
    let waited = net.now - start;
    assert!(waited > 1000, "the stranger's handshake held the slot for a while ({waited} ms)");
    let client = client.expect("connected");
    let mut streams = Streams::new(3000);
    net.until(10_000, |n| {
        streams.pump(n, client, conn);
        streams.done().then_some(())
    });
    streams.check();
}
