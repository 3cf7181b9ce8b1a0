//! Calls as an application makes them, through `serve` with a data region of
//! memory: TCP and UDP work, and every malformed or foreign request is refused
//! with its code while the sockets go on.

mod common;

use std::rc::Rc;

use common::{Queue, WireEnd};
use driver_queue::{HeapMem, SharedMem};
use microkit::reply::{ApiError, OK};
use net::{Ipv4Config, NetConfig, NetStack, serve};
use net_api::protocol::{Request, Span, addr_mr, label};
use net_api::{ConnId, Endpoint, NetError, Readiness, SocketDecl, SocketId, SocketKind};

const APP: u8 = 5;
const OTHER: u8 = 6;
const REGION: usize = 0x4000;

struct Setup {
    server: NetStack<WireEnd>,
    peer: NetStack<WireEnd>,
    region: HeapMem,
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
        let d = |owner, kind| SocketDecl { name: "s", owner, kind, rx_bytes: 4096, tx_bytes: 4096, datagrams: 4 };
        let server = NetStack::new(
            &cfg([10, 0, 2, 15], 1),
            &[
                d(APP, SocketKind::TcpListener { port: 80, backlog: 2 }),
                d(APP, SocketKind::Udp { port: 7 }),
                d(OTHER, SocketKind::Udp { port: 8 }),
            ],
            WireEnd::new(a.clone(), b.clone()),
            0,
        );
        let peer = NetStack::new(
            &cfg([10, 0, 2, 2], 2),
            &[d(0, SocketKind::TcpClient), d(0, SocketKind::Udp { port: 4000 })],
            WireEnd::new(b, a),
            0,
        );
        Setup { server, peer, region: HeapMem::new(REGION), scratch: Vec::new(), now: 0 }
    }

    fn call(&mut self, owner: u8, r: Request) -> Result<Vec<u64>, NetError> {
        let mut mrs = [0; 5];
        let (l, n) = r.encode(&mut mrs);
        self.raw(owner, l, &mrs[..n])
    }

    fn raw(&mut self, owner: u8, label: u64, mrs: &[u64]) -> Result<Vec<u64>, NetError> {
        let reply = serve(&mut self.server, owner, label, mrs, &self.region, &mut self.scratch);
        if reply.label == OK { Ok(reply.mrs[..reply.count].to_vec()) } else { Err(NetError::from_label(reply.label)) }
    }

    fn step(&mut self) {
        self.server.poll(self.now);
        self.peer.poll(self.now);
        self.now += 1;
    }
}

#[test]
fn an_application_accepts_reads_and_writes_through_its_region() {
    let mut s = Setup::new();
    let c = s.peer.connect(0, SocketId(0), Endpoint { addr: [10, 0, 2, 15], port: 80 }).unwrap();
    let mut slot = None;
    for _ in 0..200 {
        s.step();
        if let Ok(r) = s.call(APP, Request::Accept(SocketId(0))) {
            slot = Some(r[0] as u16);
            break;
        }
    }
    let conn = ConnId { socket: SocketId(0), slot: slot.expect("accepted") };
    s.peer.send(0, c, b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut got = 0;
    for _ in 0..200 {
        s.step();
        if let Ok(r) = s.call(APP, Request::Recv(conn, Span { offset: 100, len: 1000 })) {
            got = r[0] as usize;
            break;
        }
    }
    let mut bytes = vec![0; got];
    s.region.read_bytes(100, &mut bytes).unwrap();
    assert_eq!(bytes, b"GET / HTTP/1.1\r\n\r\n");
    s.region.write_bytes(2000, b"HTTP/1.1 200 OK\r\n").unwrap();
    assert_eq!(s.call(APP, Request::Send(conn, Span { offset: 2000, len: 17 })), Ok(vec![17]));
    let r = s.call(APP, Request::Readiness(SocketId(0), Some(conn.slot))).unwrap();
    assert!(Readiness::from_bits(r[0]).writable);
    let mut buf = [0; 64];
    let mut n = 0;
    for _ in 0..200 {
        s.step();
        if let Ok(k) = s.peer.recv(0, c, &mut buf) {
            n = k;
            break;
        }
    }
    assert_eq!(&buf[..n], b"HTTP/1.1 200 OK\r\n");
    assert_eq!(s.call(APP, Request::Close(conn)), Ok(vec![]));
    assert_eq!(s.call(APP, Request::Close(conn)), Err(NetError::BadHandle), "closed once");
}

#[test]
fn udp_through_the_region_reports_the_sender() {
    let mut s = Setup::new();
    let to = Endpoint { addr: [10, 0, 2, 15], port: 7 };
    s.peer.send_to(0, SocketId(1), to, b"ping").unwrap();
    let mut r = Err(NetError::WouldBlock);
    for _ in 0..200 {
        s.step();
        r = s.call(APP, Request::RecvFrom(SocketId(1), Span { offset: 0, len: 64 }));
        if r.is_ok() {
            break;
        }
    }
    let from = Endpoint { addr: [10, 0, 2, 2], port: 4000 };
    assert_eq!(r, Ok(vec![4, addr_mr(&from), 4000]));
    s.region.write_bytes(64, b"PONG").unwrap();
    assert_eq!(s.call(APP, Request::SendTo(SocketId(1), from, Span { offset: 64, len: 4 })), Ok(vec![]));
}

#[test]
fn malformed_and_foreign_requests_get_their_codes_and_change_nothing() {
    let mut s = Setup::new();
    let conn = ConnId { socket: SocketId(0), slot: 0 };
    assert_eq!(s.raw(APP, 77, &[]), Err(NetError::BadRequest), "unknown label");
    assert_eq!(s.raw(APP, label::ACCEPT, &[0, 0]), Err(NetError::BadRequest), "an MR too many");
    assert_eq!(s.raw(APP, label::RECV, &[0, 0, REGION as u64 - 4, 8]), Err(NetError::BadRequest), "past the region");
    assert_eq!(s.raw(APP, label::SEND, &[0, 0, u64::MAX, 8]), Err(NetError::BadRequest), "a wrapping span");
    assert_eq!(s.call(OTHER, Request::Accept(SocketId(0))), Err(NetError::NotOwner));
    assert_eq!(s.call(APP, Request::RecvFrom(SocketId(2), Span { offset: 0, len: 8 })), Err(NetError::NotOwner));
    assert_eq!(s.call(APP, Request::Accept(SocketId(40))), Err(NetError::BadHandle));
    assert_eq!(s.call(APP, Request::Recv(conn, Span { offset: 0, len: 8 })), Err(NetError::BadHandle));
    assert_eq!(s.call(APP, Request::Accept(SocketId(1))), Err(NetError::WrongKind));
    assert_eq!(s.call(APP, Request::Accept(SocketId(0))), Err(NetError::WouldBlock));
    // Still serving: a connection is accepted afterwards.
    s.peer.connect(0, SocketId(0), Endpoint { addr: [10, 0, 2, 15], port: 80 }).unwrap();
    let accepted = (0..200).any(|_| {
        s.step();
        s.call(APP, Request::Accept(SocketId(0))).is_ok()
    });
    assert!(accepted);
}
