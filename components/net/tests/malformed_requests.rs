//! Malformed and hostile calls from application PDs, through `serve`: random
//! labels, MR counts and values, spans outside the region, other owners'
//! sockets, slots that were never accepted. Each gets a reply the protocol
//! allows (an error code, never OK, where the request is wrong on its face),
//! no byte of the caller's region outside the span changes, nothing panics,
//! and the owner's live connection, a new connection and UDP still work.

mod common;

use std::rc::Rc;

use common::{Queue, WireEnd};
use driver_queue::{HeapMem, SharedMem};
use microkit::reply::{ApiError, OK};
use net::{Ipv4Config, NetConfig, NetStack, Reply, serve};
use net_api::protocol::{NO_SLOT, Request, Span, addr_mr, label};
use net_api::{ConnId, Endpoint, NetError, Readiness, SocketDecl, SocketId, SocketKind};
use proptest::prelude::*;

/// The application whose connection must survive.
const APP: u8 = 5;
/// Another application, with sockets of its own.
const OTHER: u8 = 6;
const REGION: usize = 0x4000;
const SERVER_IP: [u8; 4] = [10, 0, 2, 15];
const PEER_IP: [u8; 4] = [10, 0, 2, 2];
const TX_BYTES: usize = 4096;
/// Where the application keeps the bytes of its own streams in its region.
const SEND_AT: usize = 0x2000;
const RECV_AT: usize = 0x3000;
const CHUNK: usize = 2048;

/// The server's sockets: (owner, kind), in `SocketId` order.
const SOCKETS: [(u8, SocketKind); 4] = [
    (APP, SocketKind::TcpListener { port: 80, backlog: 2 }),
    (APP, SocketKind::Udp { port: 7 }),
    (OTHER, SocketKind::Udp { port: 8 }),
    (OTHER, SocketKind::TcpClient),
];

fn slots(kind: SocketKind) -> u64 {
    match kind {
        SocketKind::TcpListener { backlog, .. } => u64::from(backlog.max(1)),
        _ => 1,
    }
}

struct Setup {
    server: NetStack<WireEnd>,
    peer: NetStack<WireEnd>,
    app_region: HeapMem,
    other_region: HeapMem,
    scratch: Vec<u8>,
    now: u64,
}

impl Setup {
    fn new() -> Setup {
        let (a, b): (Queue, Queue) = (Rc::default(), Rc::default());
        let cfg = |addr, m| NetConfig {
            mac: [0x52, 0x54, 0, 0, 0, m],
            ipv4: Ipv4Config { addr, prefix_len: 24, gateway: None },
            random_seed: u64::from(m),
        };
        let d = |(owner, kind)| SocketDecl { name: "s", owner, kind, rx_bytes: 4096, tx_bytes: TX_BYTES, datagrams: 4 };
        let server = NetStack::new(&cfg(SERVER_IP, 1), &SOCKETS.map(d), WireEnd::new(a.clone(), b.clone()), 0);
        let peer = NetStack::new(
            &cfg(PEER_IP, 2),
            &[(0, SocketKind::TcpClient), (0, SocketKind::TcpClient), (0, SocketKind::Udp { port: 4000 })].map(d),
            WireEnd::new(b, a),
            0,
        );
        let region = || {
            let r = HeapMem::new(REGION);
            r.write_bytes(0, &(0..REGION).map(|i| (i * 7 + 3) as u8).collect::<Vec<_>>()).unwrap();
            r
        };
        Setup { server, peer, app_region: region(), other_region: region(), scratch: Vec::new(), now: 0 }
    }

    fn region(&self, owner: u8) -> &HeapMem {
        if owner == APP { &self.app_region } else { &self.other_region }
    }

    fn raw(&mut self, owner: u8, label: u64, mrs: &[u64]) -> Reply {
        let region = if owner == APP { &self.app_region } else { &self.other_region };
        serve(&mut self.server, owner, label, mrs, region, &mut self.scratch)
    }

    fn call(&mut self, owner: u8, r: Request) -> Result<Vec<u64>, NetError> {
        let mut mrs = [0; 5];
        let (l, n) = r.encode(&mut mrs);
        let reply = self.raw(owner, l, &mrs[..n]);
        if reply.label == OK { Ok(reply.mrs[..reply.count].to_vec()) } else { Err(NetError::from_label(reply.label)) }
    }

    fn step(&mut self) {
        self.server.poll(self.now);
        self.peer.poll(self.now);
        self.now += 1;
    }

    fn until<T>(&mut self, limit: u64, mut f: impl FnMut(&mut Setup) -> Option<T>) -> T {
        let end = self.now + limit;
        while self.now < end {
            if let Some(t) = f(self) {
                return t;
            }
            self.step();
        }
        panic!("not done within {limit} ms of simulated time")
    }

    /// The peer connects with its socket `client`; the application accepts.
    fn connect(&mut self, client: u16) -> (ConnId, ConnId) {
        let c = self.peer.connect(0, SocketId(client), Endpoint { addr: SERVER_IP, port: 80 }).unwrap();
        let slot = self.until(2000, |s| s.call(APP, Request::Accept(SocketId(0))).ok());
        (c, ConnId { socket: SocketId(0), slot: slot[0] as u16 })
    }
}

/// What the protocol table says of a label: request MRs, reply MRs.
fn shape(l: u64) -> Option<(usize, usize)> {
    Some(match l {
        label::ACCEPT => (1, 1),
        label::CONNECT => (3, 1),
        label::RECV | label::SEND => (4, 1),
        label::SHUTDOWN | label::CLOSE | label::ABORT => (2, 0),
        label::SEND_TO => (5, 0),
        label::RECV_FROM => (3, 3),
        label::READINESS => (2, 1),
        _ => return None,
    })
}

/// The span a request names (offset, len MRs), if it names one.
fn span_mrs(l: u64, mrs: &[u64]) -> Option<(u64, u64)> {
    match l {
        label::RECV | label::SEND => Some((mrs[2], mrs[3])),
        label::SEND_TO => Some((mrs[3], mrs[4])),
        label::RECV_FROM => Some((mrs[1], mrs[2])),
        _ => None,
    }
}

/// Whether a call fits the protocol table, decided here from the table (not
/// with the decoder under test).
fn well_formed(l: u64, mrs: &[u64]) -> bool {
    let Some((n, _)) = shape(l) else { return false };
    if mrs.len() != n || mrs[0] > u64::from(u16::MAX) {
        return false;
    }
    let u16_ok = |v: u64| v <= u64::from(u16::MAX);
    let fields_ok = match l {
        label::RECV | label::SEND | label::SHUTDOWN | label::CLOSE | label::ABORT => u16_ok(mrs[1]),
        label::CONNECT | label::SEND_TO => mrs[1] <= u64::from(u32::MAX) && u16_ok(mrs[2]),
        label::READINESS => mrs[1] == NO_SLOT || u16_ok(mrs[1]),
        _ => true,
    };
    let span_ok = span_mrs(l, mrs).is_none_or(|(o, len)| u128::from(o) + u128::from(len) <= REGION as u128)
        && (l != label::RECV && l != label::SEND || mrs[3] >= 1);
    fields_ok && span_ok
}

/// The error a well-formed call must get whatever the state of the sockets,
/// if the table of sockets decides it.
fn decided_error(owner: u8, l: u64, mrs: &[u64]) -> Option<NetError> {
    // No route: not on the server's subnet (10.0.2.0/24, no gateway), not
    // broadcast, not multicast.
    let routed = |a: u64| a >> 8 == 0x0a_00_02 || a == u64::from(u32::MAX) || a >> 28 == 0xe;
    let bad_addr = |a: u64, p: u64| a == 0 || p == 0 || !routed(a);
    if l == label::CONNECT && bad_addr(mrs[1], mrs[2]) {
        return Some(NetError::BadAddress);
    }
    let Some(&(sock_owner, kind)) = SOCKETS.get(mrs[0] as usize) else { return Some(NetError::BadHandle) };
    if sock_owner != owner {
        return Some(NetError::NotOwner);
    }
    let udp = matches!(kind, SocketKind::Udp { .. });
    match l {
        label::ACCEPT if !matches!(kind, SocketKind::TcpListener { .. }) => Some(NetError::WrongKind),
        label::CONNECT if kind != SocketKind::TcpClient => Some(NetError::WrongKind),
        label::RECV | label::SEND | label::SHUTDOWN | label::CLOSE | label::ABORT if udp => Some(NetError::WrongKind),
        label::RECV | label::SEND | label::SHUTDOWN | label::CLOSE | label::ABORT if mrs[1] >= slots(kind) => {
            Some(NetError::BadHandle)
        }
        label::SEND_TO | label::RECV_FROM if !udp => Some(NetError::WrongKind),
        label::SEND_TO if bad_addr(mrs[1], mrs[2]) => Some(NetError::BadAddress),
        label::SEND_TO if mrs[4] > TX_BYTES as u64 => Some(NetError::TooLarge),
        label::READINESS if mrs[1] != NO_SLOT && udp => Some(NetError::WrongKind),
        label::READINESS if mrs[1] != NO_SLOT && mrs[1] >= slots(kind) => Some(NetError::BadHandle),
        _ => None,
    }
}

/// Serves one call and checks the reply against the protocol; returns it.
fn checked_call(s: &mut Setup, owner: u8, l: u64, mrs: &[u64]) -> Reply {
    let mut before = vec![0; REGION];
    s.region(owner).read_bytes(0, &mut before).unwrap();
    let reply = s.raw(owner, l, mrs);
    let mut after = vec![0; REGION];
    s.region(owner).read_bytes(0, &mut after).unwrap();
    let what = format!("call {l} {mrs:x?} from {owner}: {reply:?}");
    assert!(reply.count <= reply.mrs.len(), "{what}");
    if reply.label != OK {
        assert!(NetError::SENT.iter().any(|e| e.code() == reply.label), "an error the API has: {what}");
        assert_eq!(reply.count, 0, "no MR with an error: {what}");
    }
    if !well_formed(l, mrs) {
        assert_eq!(reply.label, NetError::BadRequest.code(), "malformed: {what}");
    } else {
        assert_ne!(reply.label, NetError::BadRequest.code(), "well-formed: {what}");
        if let Some(e) = decided_error(owner, l, mrs) {
            assert_eq!(reply.label, e.code(), "{e:?} expected: {what}");
        }
    }
    // Only a successful read writes to the region, and only inside its span.
    let mut written = 0..0;
    if reply.label == OK {
        let (_, count) = shape(l).unwrap();
        assert_eq!(reply.count, count, "the reply's MRs: {what}");
        if let Some((o, len)) = span_mrs(l, mrs) {
            if l == label::RECV || l == label::RECV_FROM || l == label::SEND {
                assert!(reply.mrs[0] <= len, "no more than the span: {what}");
            }
            if l == label::SEND {
                assert!(reply.mrs[0] >= 1, "a send takes at least a byte: {what}");
            }
            if l == label::RECV || l == label::RECV_FROM {
                written = o as usize..(o + reply.mrs[0]) as usize;
            }
        }
    }
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(b == a || written.contains(&i), "byte {i:#x} of the caller's region changed: {what}");
    }
    reply
}

/// The application's own streams over its live connection, through its region.
struct Streams {
    up: Vec<u8>,
    down: Vec<u8>,
    up_sent: usize,
    down_sent: usize,
    up_got: Vec<u8>,
    down_got: Vec<u8>,
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

impl Streams {
    fn new(len: usize) -> Streams {
        Streams {
            up: pattern(len, 3),
            down: pattern(len, 4),
            up_sent: 0,
            down_sent: 0,
            up_got: Vec::new(),
            down_got: Vec::new(),
        }
    }

    /// The peer sends and reads directly; the application through `serve`.
    fn pump(&mut self, s: &mut Setup, client: ConnId, conn: ConnId) {
        if self.up_sent < self.up.len()
            && let Ok(n) = s.peer.send(0, client, &self.up[self.up_sent..])
        {
            self.up_sent += n;
        }
        if self.down_sent < self.down.len() {
            let chunk = &self.down[self.down_sent..(self.down_sent + CHUNK).min(self.down.len())];
            s.app_region.write_bytes(SEND_AT, chunk).unwrap();
            match s.call(APP, Request::Send(conn, Span { offset: SEND_AT, len: chunk.len() })) {
                Ok(r) => self.down_sent += r[0] as usize,
                Err(NetError::WouldBlock) => {}
                Err(e) => panic!("application send: {e}"),
            }
        }
        loop {
            match s.call(APP, Request::Recv(conn, Span { offset: RECV_AT, len: CHUNK })) {
                Ok(r) if r[0] > 0 => {
                    let mut got = vec![0; r[0] as usize];
                    s.app_region.read_bytes(RECV_AT, &mut got).unwrap();
                    self.up_got.extend_from_slice(&got);
                }
                Ok(_) | Err(NetError::WouldBlock) => break,
                Err(e) => panic!("application recv: {e}"),
            }
        }
        let mut buf = [0; CHUNK];
        while let Ok(n @ 1..) = s.peer.recv(0, client, &mut buf) {
            self.down_got.extend_from_slice(&buf[..n]);
        }
    }

    fn finish(&mut self, s: &mut Setup, client: ConnId, conn: ConnId) {
        s.until(30_000, |s| {
            self.pump(s, client, conn);
            (self.up_got.len() >= self.up.len() && self.down_got.len() >= self.down.len()).then_some(())
        });
        assert!(self.up_got == self.up, "the application read {} bytes of {}", self.up_got.len(), self.up.len());
        assert!(self.down_got == self.down, "the peer read {} bytes of {}", self.down_got.len(), self.down.len());
    }
}

/// A call as random as it gets, or a real request with one MR changed, or
/// with one MR too many or too few.
#[derive(Clone, Debug)]
struct Call {
    owner: u8,
    label: u64,
    mrs: Vec<u64>,
}

fn mr() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..6u64,
        1 => Just(u64::from(u16::MAX)),
        1 => Just(u64::from(u16::MAX) + 1),
        1 => Just(u64::from(u32::MAX)),
        1 => Just(u64::from(u32::MAX) + 1),
        1 => Just(NO_SLOT),
        1 => Just(u64::MAX - 1),
        2 => REGION as u64 - 8..REGION as u64 + 8,
        2 => 0..=REGION as u64,
        1 => Just(addr_mr(&Endpoint { addr: PEER_IP, port: 0 })),
        1 => Just(addr_mr(&Endpoint { addr: SERVER_IP, port: 0 })),
        1 => prop_oneof![Just(7u64), Just(8), Just(80), Just(4000)],
        2 => any::<u64>(),
    ]
}

fn owner() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(APP), 3 => Just(OTHER), 1 => any::<u8>()]
}

fn request() -> impl Strategy<Value = Request> {
    let sock = || (0..6u16).prop_map(SocketId);
    let conn = || (sock(), prop_oneof![0..3u16, any::<u16>()]).prop_map(|(socket, slot)| ConnId { socket, slot });
    let span = || {
        prop_oneof![(0..REGION, 0..=2 * CHUNK), (any::<usize>(), any::<usize>())]
            .prop_map(|(offset, len)| Span { offset, len })
    };
    let ep = || {
        (
            prop_oneof![Just(PEER_IP), Just(SERVER_IP), Just([0; 4]), any::<[u8; 4]>()],
            prop_oneof![Just(4000u16), any::<u16>()],
        )
            .prop_map(|(addr, port)| Endpoint { addr, port })
    };
    prop_oneof![
        sock().prop_map(Request::Accept),
        (sock(), ep()).prop_map(|(s, e)| Request::Connect(s, e)),
        (conn(), span()).prop_map(|(c, s)| Request::Recv(c, s)),
        (conn(), span()).prop_map(|(c, s)| Request::Send(c, s)),
        conn().prop_map(Request::Shutdown),
        conn().prop_map(Request::Close),
        conn().prop_map(Request::Abort),
        (sock(), ep(), span()).prop_map(|(s, e, sp)| Request::SendTo(s, e, sp)),
        (sock(), span()).prop_map(|(s, sp)| Request::RecvFrom(s, sp)),
        (sock(), prop::option::of(prop_oneof![0..3u16, any::<u16>()]))
            .prop_map(|(s, slot)| Request::Readiness(s, slot)),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    let encoded = |r: Request| {
        let mut mrs = [0; 5];
        let (l, n) = r.encode(&mut mrs);
        (l, mrs[..n].to_vec())
    };
    prop_oneof![
        2 => (owner(), prop_oneof![0..=12u64, any::<u64>()], prop::collection::vec(mr(), 0..=7))
            .prop_map(|(owner, label, mrs)| Call { owner, label, mrs }),
        3 => (owner(), request()).prop_map(move |(owner, r)| {
            let (label, mrs) = encoded(r);
            Call { owner, label, mrs }
        }),
        2 => (owner(), request(), any::<prop::sample::Index>(), mr()).prop_map(move |(owner, r, at, v)| {
            let (label, mut mrs) = encoded(r);
            let i = at.index(mrs.len());
            mrs[i] = v;
            Call { owner, label, mrs }
        }),
        1 => (owner(), request(), any::<bool>(), mr()).prop_map(move |(owner, r, longer, v)| {
            let (label, mut mrs) = encoded(r);
            if longer { mrs.push(v) } else { mrs.pop(); }
            Call { owner, label, mrs }
        }),
    ]
}

/// Calls the application would make on its own live connection or UDP socket,
/// which would rightly change them (close it, read its bytes, send datagrams
/// the peer would read): not made, as the test is about the calls that must
/// not change them.
fn would_rightly_change_the_application(c: &Call, conn: ConnId) -> bool {
    c.owner == APP
        && well_formed(c.label, &c.mrs)
        && match c.label {
            label::RECV | label::SEND | label::SHUTDOWN | label::CLOSE | label::ABORT => {
                c.mrs[0] == u64::from(conn.socket.0) && c.mrs[1] == u64::from(conn.slot)
            }
            label::SEND_TO => c.mrs[0] == 1,
            _ => false,
        }
}

#[derive(Clone, Debug)]
enum Action {
    Call(Call),
    /// The application and the peer move their streams on.
    Pump,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![8 => call().prop_map(Action::Call), 2 => Just(Action::Pump)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hostile_calls_get_their_codes_and_the_server_goes_on(actions in prop::collection::vec(action(), 1..120)) {
        let mut s = Setup::new();
        let (client, conn) = s.connect(0);
        let mut streams = Streams::new(10_000);
        for a in &actions {
            match a {
                Action::Call(c) if !would_rightly_change_the_application(c, conn) => {
                    checked_call(&mut s, c.owner, c.label, &c.mrs);
                }
                Action::Call(_) => {}
                Action::Pump => streams.pump(&mut s, client, conn),
            }
            s.step();
        }
        still_serving(&mut s, &mut streams, client, conn);
    }
}

/// After the calls: the live connection finishes its streams intact, a second
/// connection is accepted and carries bytes, UDP goes both ways.
fn still_serving(s: &mut Setup, streams: &mut Streams, client: ConnId, conn: ConnId) {
    streams.finish(s, client, conn);
    let (c2, s2) = s.connect(1);
    assert_ne!(s2.slot, conn.slot);
    let mut second = Streams::new(3000);
    second.finish(s, c2, s2);

    s.peer.send_to(0, SocketId(2), Endpoint { addr: SERVER_IP, port: 7 }, b"udp still works").unwrap();
    let r = s.until(2000, |s| s.call(APP, Request::RecvFrom(SocketId(1), Span { offset: 0, len: 64 })).ok());
    let from = Endpoint { addr: PEER_IP, port: 4000 };
    assert_eq!(r, vec![15, addr_mr(&from), 4000]);
    let mut got = [0; 15];
    s.app_region.read_bytes(0, &mut got).unwrap();
    assert_eq!(&got, b"udp still works");
    s.app_region.write_bytes(64, b"and back").unwrap();
    assert_eq!(s.call(APP, Request::SendTo(SocketId(1), from, Span { offset: 64, len: 8 })), Ok(vec![]));
    // The other application may have sent the peer datagrams too (from port 8).
    let mut buf = [0; 64];
    let n = s.until(2000, |s| match s.peer.recv_from(0, SocketId(2), &mut buf) {
        Ok((n, e)) if e == Endpoint { addr: SERVER_IP, port: 7 } => Some(n),
        _ => None,
    });
    assert_eq!(&buf[..n], b"and back");
}

/// Every call of the table with every MR count but its own, and each field
/// one past its range: refused as malformed; the server goes on.
#[test]
fn every_label_with_every_wrong_count_and_every_field_out_of_range() {
    let mut s = Setup::new();
    let (client, conn) = s.connect(0);
    for l in 0..=12u64 {
        for n in 0..=7 {
            let mrs = vec![1; n];
            if well_formed(l, &mrs) {
                continue;
            }
            for owner in [APP, OTHER] {
                checked_call(&mut s, owner, l, &mrs);
            }
        }
    }
    for r in [
        Request::Recv(conn, Span { offset: 0, len: 8 }),
        Request::Send(conn, Span { offset: 0, len: 8 }),
        Request::Close(conn),
        Request::Connect(SocketId(3), Endpoint { addr: PEER_IP, port: 9 }),
        Request::SendTo(SocketId(2), Endpoint { addr: PEER_IP, port: 9 }, Span { offset: 0, len: 8 }),
        Request::RecvFrom(SocketId(2), Span { offset: 0, len: 8 }),
        Request::Readiness(SocketId(0), Some(0)),
    ] {
        let mut mrs = [0; 5];
        let (l, n) = r.encode(&mut mrs);
        for i in 0..n {
            for v in [u64::from(u16::MAX) + 1, u64::from(u32::MAX) + 1, REGION as u64 + 1, u64::MAX - 1] {
                let mut m = mrs[..n].to_vec();
                m[i] = v;
                // A value that is still in range for its field is served: not a
                // call this test means for the live connection.
                if well_formed(l, &m) {
                    continue;
                }
                let owner =
                    if l == label::CONNECT || l == label::SEND_TO || l == label::RECV_FROM { OTHER } else { APP };
                checked_call(&mut s, owner, l, &m);
            }
        }
    }
    let mut streams = Streams::new(5000);
    still_serving(&mut s, &mut streams, client, conn);
}

/// A stream read of no bytes was answered "0 bytes", which means the end of
/// the stream, while the connection was open with bytes waiting; a write of
/// none was answered "0 taken", which the protocol never says. Both are
/// refused now, and the bytes are still there.
#[test]
fn a_read_or_write_of_no_bytes_is_refused_not_taken_for_the_end_of_the_stream() {
    let mut s = Setup::new();
    let (client, conn) = s.connect(0);
    s.peer.send(0, client, b"waiting").unwrap();
    s.until(2000, |s| {
        let bits = s.call(APP, Request::Readiness(SocketId(0), Some(conn.slot))).unwrap()[0];
        Readiness::from_bits(bits).readable.then_some(())
    });
    for l in [label::RECV, label::SEND] {
        let reply = checked_call(&mut s, APP, l, &[0, u64::from(conn.slot), 0, 0]);
        assert_eq!(reply.label, NetError::BadRequest.code());
    }
    assert_eq!(s.call(APP, Request::Recv(conn, Span { offset: 0, len: 64 })), Ok(vec![7]));
}

/// A datagram to an address with no route (off the subnet, no gateway) was
/// taken, and then never left smoltcp's queue: every later datagram of the
/// socket waited behind it for good. It is refused now; so is a connection
/// to such an address.
#[test]
fn a_destination_with_no_route_is_refused_and_the_socket_goes_on() {
    let mut s = Setup::new();
    let nowhere = Endpoint { addr: [192, 168, 7, 7], port: 53 };
    s.app_region.write_bytes(64, b"to the peer").unwrap();
    assert_eq!(
        s.call(APP, Request::SendTo(SocketId(1), nowhere, Span { offset: 64, len: 11 })),
        Err(NetError::BadAddress)
    );
    assert_eq!(s.call(OTHER, Request::Connect(SocketId(3), nowhere)), Err(NetError::BadAddress));
    let peer = Endpoint { addr: PEER_IP, port: 4000 };
    assert_eq!(s.call(APP, Request::SendTo(SocketId(1), peer, Span { offset: 64, len: 11 })), Ok(vec![]));
    let mut buf = [0; 64];
    let (n, _) = s.until(3000, |s| s.peer.recv_from(0, SocketId(2), &mut buf).ok());
    assert_eq!(&buf[..n], b"to the peer");
    // The broadcast address has a route.
    let all = Endpoint { addr: [255; 4], port: 4000 };
    assert_eq!(s.call(APP, Request::SendTo(SocketId(1), all, Span { offset: 64, len: 11 })), Ok(vec![]));
    let (n, _) = s.until(3000, |s| s.peer.recv_from(0, SocketId(2), &mut buf).ok());
    assert_eq!(&buf[..n], b"to the peer");
}
/// A datagram to a host on the subnet that never answers ARP stayed at the
/// head of smoltcp's queue for good, and every later datagram of the socket
/// waited behind it; other sockets waited too, as smoltcp's one ARP request a
/// second went to that host each time. Now a socket that has sent nothing of
/// its queue for a few seconds starts afresh, and datagrams flow again.
#[test]
fn a_datagram_to_a_host_that_never_answers_does_not_block_sockets_for_good() {
    let mut s = Setup::new();
    s.app_region.write_bytes(64, b"to the peer").unwrap();
    s.other_region.write_bytes(64, b"from the other").unwrap();
    let ghost = Endpoint { addr: [10, 0, 2, 77], port: 53 };
    let peer = Endpoint { addr: PEER_IP, port: 4000 };
    assert_eq!(s.call(APP, Request::SendTo(SocketId(1), ghost, Span { offset: 64, len: 11 })), Ok(vec![]));
    let start = s.now;
    let mut from = [false; 2];
    let mut buf = [0; 64];
    s.until(10_000, |s| {
        // Both applications keep sending to the peer; a full queue is refused.
        for r in [
            s.call(APP, Request::SendTo(SocketId(1), peer, Span { offset: 64, len: 11 })),
            s.call(OTHER, Request::SendTo(SocketId(2), peer, Span { offset: 64, len: 14 })),
        ] {
            assert!(matches!(r, Ok(_) | Err(NetError::WouldBlock)), "{r:?}");
        }
        while let Ok((n, e)) = s.peer.recv_from(0, SocketId(2), &mut buf) {
            match e.port {
                7 => assert_eq!(&buf[..n], b"to the peer"),
                8 => assert_eq!(&buf[..n], b"from the other"),
                p => panic!("a datagram from port {p}"),
            }
            from[usize::from(e.port - 7)] = true;
        }
        (from == [true; 2]).then_some(())
    });
    assert!(s.now - start > 3000, "the sockets waited for the host a while first ({} ms)", s.now - start);
}
