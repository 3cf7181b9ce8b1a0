//! Two network stacks on a wire of memory: TCP and UDP between them, the checks
//! on every request, and a slow reader that stalls only its own socket.

mod common;

use common::{WireEnd, wire};
use net::{Ipv4Config, NetConfig, NetStack};
use net_api::{ConnId, Endpoint, NetError, SocketDecl, SocketId, SocketKind};
use sha2::{Digest, Sha256};

const SERVER_IP: [u8; 4] = [10, 0, 2, 15];
const CLIENT_IP: [u8; 4] = [10, 0, 2, 2];

fn config(ip: [u8; 4], mac_last: u8) -> NetConfig {
    NetConfig {
        mac: [0x52, 0x54, 0, 0x12, 0x34, mac_last],
        ipv4: Ipv4Config { addr: ip, prefix_len: 24, gateway: None },
        random_seed: u64::from(mac_last),
    }
}

fn tcp_listener(name: &'static str, owner: u8, port: u16, backlog: u16, bytes: usize) -> SocketDecl {
    SocketDecl {
        name,
        owner,
        kind: SocketKind::TcpListener { port, backlog },
        rx_bytes: bytes,
        tx_bytes: bytes,
        datagrams: 0,
    }
}

fn tcp_client(name: &'static str, owner: u8, bytes: usize) -> SocketDecl {
    SocketDecl { name, owner, kind: SocketKind::TcpClient, rx_bytes: bytes, tx_bytes: bytes, datagrams: 0 }
}

fn udp(name: &'static str, owner: u8, port: u16) -> SocketDecl {
    SocketDecl { name, owner, kind: SocketKind::Udp { port }, rx_bytes: 4096, tx_bytes: 4096, datagrams: 4 }
}

struct Pair {
    server: NetStack<WireEnd>,
    client: NetStack<WireEnd>,
    now: u64,
}

impl Pair {
    fn new(server: &[SocketDecl], client: &[SocketDecl], drop_every: usize) -> Pair {
        let (a, b) = wire(drop_every);
        Pair {
            server: NetStack::new(&config(SERVER_IP, 1), server, a, 0),
            client: NetStack::new(&config(CLIENT_IP, 2), client, b, 0),
            now: 0,
        }
    }
    /// Polls both sides and advances time by 1 ms.
    fn step(&mut self) {
        self.server.poll(self.now);
        self.client.poll(self.now);
        self.now += 1;
    }
    /// Steps until `f` is true, at most `limit` ms of simulated time.
    fn until<T>(&mut self, limit: u64, mut f: impl FnMut(&mut Pair) -> Option<T>) -> T {
        let end = self.now + limit;
        while self.now < end {
            if let Some(t) = f(self) {
                return t;
            }
            self.step();
        }
        panic!("not done within {limit} ms of simulated time")
    }
}

/// Deterministic bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn connect(p: &mut Pair, client_sock: u16, port: u16, listener: u16) -> (ConnId, ConnId) {
    let c = p.client.connect(0, SocketId(client_sock), Endpoint { addr: SERVER_IP, port }).unwrap();
    let s = p.until(2000, |p| p.server.accept(0, SocketId(listener)).ok());
    (c, s)
}

/// Sends `data` from the client and reads it all on the server; returns what
/// the server read.
fn transfer(p: &mut Pair, c: ConnId, s: ConnId, data: &[u8], limit_ms: u64) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0; 4096];
    p.until(limit_ms, |p| {
        if sent < data.len() {
            match p.client.send(0, c, &data[sent..]) {
                Ok(n) => sent += n,
                Err(NetError::WouldBlock) => {}
                Err(e) => panic!("send: {e}"),
            }
        }
        loop {
            match p.server.recv(0, s, &mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(NetError::WouldBlock) => break,
                Err(e) => panic!("recv: {e}"),
            }
        }
        (got.len() == data.len()).then_some(())
    });
    got
}

#[test]
fn a_mebibyte_over_tcp_arrives_intact() {
    let mut p = Pair::new(&[tcp_listener("http", 0, 80, 2, 16384)], &[tcp_client("out", 0, 16384)], 0);
    let (c, s) = connect(&mut p, 0, 80, 0);
    let data = pattern(1 << 20, 7);
    let got = transfer(&mut p, c, s, &data, 60_000);
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data));
}

#[test]
fn lost_frames_are_sent_again_and_the_bytes_arrive_intact() {
    // Every 10th frame each way is lost, as frames a dying driver held would be
    // if nobody resubmitted them: TCP's retransmission still delivers every byte.
    let mut p = Pair::new(&[tcp_listener("http", 0, 80, 1, 8192)], &[tcp_client("out", 0, 8192)], 10);
    let (c, s) = p.until(30_000, |p| {
        let c = match p.client.connect(0, SocketId(0), Endpoint { addr: SERVER_IP, port: 80 }) {
            Ok(c) => c,
            Err(NetError::InUse) => ConnId { socket: SocketId(0), slot: 0 },
            Err(e) => panic!("connect: {e}"),
        };
        p.server.accept(0, SocketId(0)).ok().map(|s| (c, s))
    });
    let data = pattern(200_000, 3);
    let got = transfer(&mut p, c, s, &data, 600_000);
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data));
}

#[test]
fn the_end_of_a_stream_reads_as_zero_and_the_slot_listens_again() {
    let mut p = Pair::new(&[tcp_listener("echo", 0, 7, 1, 4096)], &[tcp_client("out", 0, 4096)], 0);
    for round in 0..3u8 {
        let (c, s) = connect(&mut p, 0, 7, 0);
        let data = pattern(1000, round);
        assert_eq!(transfer(&mut p, c, s, &data, 5000), data);
        p.client.close(0, c).unwrap();
        let mut buf = [0; 16];
        p.until(5000, |p| match p.server.recv(0, s, &mut buf) {
            Ok(0) => Some(()),
            Err(NetError::WouldBlock) => None,
            other => panic!("recv after the peer closed: {other:?}"),
        });
        assert!(p.server.readiness(0, SocketId(0), Some(s.slot)).unwrap().closed);
        p.server.close(0, s).unwrap();
        // Both sides finish the close; the client socket and the listener's slot
        // are usable again.
        p.until(5000, |p| {
            p.client.connect(0, SocketId(0), Endpoint { addr: SERVER_IP, port: 7 }).ok().map(|c| {
                p.client.abort(0, c).unwrap();
            })
        });
        p.until(5000, |p| (p.server.accept(0, SocketId(0)) == Err(NetError::WouldBlock)).then_some(()));
        for _ in 0..50 {
            p.step();
        }
    }
}

#[test]
fn udp_datagrams_go_both_ways_with_their_source() {
    let mut p = Pair::new(&[udp("echo", 0, 7)], &[udp("client", 0, 4000)], 0);
    let to = Endpoint { addr: SERVER_IP, port: 7 };
    // The first datagram waits for ARP inside smoltcp.
    p.client.send_to(0, SocketId(0), to, b"hello over udp").unwrap();
    let mut buf = [0; 64];
    let (n, from) = p.until(2000, |p| p.server.recv_from(0, SocketId(0), &mut buf).ok());
    assert_eq!(&buf[..n], b"hello over udp");
    assert_eq!(from, Endpoint { addr: CLIENT_IP, port: 4000 });
    p.server.send_to(0, SocketId(0), from, &buf[..n].to_ascii_uppercase()).unwrap();
    let (n, from) = p.until(2000, |p| p.client.recv_from(0, SocketId(0), &mut buf).ok());
    assert_eq!(&buf[..n], b"HELLO OVER UDP");
    assert_eq!(from, to);
}

#[test]
fn every_request_is_checked_and_a_refusal_changes_nothing() {
    let decls = [tcp_listener("web", 0, 80, 1, 4096), udp("dns", 1, 53), tcp_client("out", 1, 4096)];
    let mut p = Pair::new(&decls, &[tcp_client("out", 0, 4096)], 0);
    let s = &mut p.server;
    let mut buf = [0; 8];
    let here = Endpoint { addr: CLIENT_IP, port: 9 };
    assert_eq!(s.accept(0, SocketId(9)), Err(NetError::BadHandle));
    assert_eq!(s.accept(1, SocketId(0)), Err(NetError::NotOwner), "another PD's listener");
    assert_eq!(s.accept(0, SocketId(0)), Err(NetError::WouldBlock));
    assert_eq!(s.accept(1, SocketId(1)), Err(NetError::WrongKind), "accept on UDP");
    let conn = ConnId { socket: SocketId(0), slot: 0 };
    assert_eq!(s.recv(0, conn, &mut buf), Err(NetError::BadHandle), "a connection never accepted");
    assert_eq!(s.send(0, ConnId { socket: SocketId(0), slot: 7 }, b"x"), Err(NetError::BadHandle), "no such slot");
    assert_eq!(s.recv(1, conn, &mut buf), Err(NetError::NotOwner));
    assert_eq!(s.send_to(0, SocketId(1), here, b"x"), Err(NetError::NotOwner));
    assert_eq!(s.send_to(1, SocketId(0), here, b"x"), Err(NetError::NotOwner));
    assert_eq!(s.send_to(1, SocketId(1), Endpoint { addr: CLIENT_IP, port: 0 }, b"x"), Err(NetError::BadAddress));
    assert_eq!(s.send_to(1, SocketId(1), Endpoint { addr: [0; 4], port: 5 }, b"x"), Err(NetError::BadAddress));
    assert_eq!(s.send_to(1, SocketId(1), here, &[0; 5000]), Err(NetError::TooLarge));
    assert_eq!(s.recv_from(1, SocketId(1), &mut buf), Err(NetError::WouldBlock));
    assert_eq!(s.recv_from(1, SocketId(2), &mut buf), Err(NetError::WrongKind));
    assert_eq!(s.connect(1, SocketId(1), here), Err(NetError::WrongKind));
    assert_eq!(s.connect(0, SocketId(2), here), Err(NetError::NotOwner));
    assert_eq!(s.connect(1, SocketId(2), Endpoint { addr: [0; 4], port: 80 }), Err(NetError::BadAddress));
    assert_eq!(s.readiness(0, SocketId(1), None), Err(NetError::NotOwner));
    assert_eq!(s.readiness(1, SocketId(1), Some(0)), Err(NetError::WrongKind));
    // After all that the listener still works.
    let (c, s) = connect(&mut p, 0, 80, 0);
    assert_eq!(transfer(&mut p, c, s, b"still serving", 5000), b"still serving");
}

#[test]
fn a_reader_that_never_reads_stalls_only_its_own_connection() {
    let decls = [tcp_listener("slow", 0, 81, 1, 4096), tcp_listener("fast", 1, 82, 1, 4096)];
    let mut p = Pair::new(&decls, &[tcp_client("a", 0, 4096), tcp_client("b", 0, 4096)], 0);
    let (ca, _sa) = connect(&mut p, 0, 81, 0);
    // Fill the slow connection: its owner never reads.
    let junk = pattern(64 * 1024, 1);
    let mut stuck = 0;
    for _ in 0..2000 {
        if let Ok(n) = p.client.send(0, ca, &junk[stuck..]) {
            stuck += n;
        }
        p.step();
    }
    assert!(stuck < junk.len(), "the slow connection should be full, sent {stuck}");
    // Owner 1's connection still carries 256 KiB intact.
    let cb = p.client.connect(0, SocketId(1), Endpoint { addr: SERVER_IP, port: 82 }).unwrap();
    let sb = p.until(2000, |p| p.server.accept(1, SocketId(1)).ok());
    let data = pattern(256 * 1024, 9);
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = vec![0; 4096];
    p.until(60_000, |p| {
        if let Ok(n) = p.client.send(0, cb, &data[sent..]) {
            sent += n;
        }
        while let Ok(n @ 1..) = p.server.recv(1, sb, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        (got.len() == data.len()).then_some(())
    });
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data));
}

#[test]
fn owners_are_told_when_their_sockets_change_and_only_they() {
    let decls = [tcp_listener("zero", 0, 80, 1, 4096), udp("three", 3, 53)];
    let mut p = Pair::new(&decls, &[tcp_client("c", 0, 4096)], 0);
    p.client.connect(0, SocketId(0), Endpoint { addr: SERVER_IP, port: 80 }).unwrap();
    let mut told = net::OwnerSet::default();
    for _ in 0..200 {
        told.0 |= p.server.poll(p.now).notify.0;
        p.client.poll(p.now);
        p.now += 1;
    }
    assert!(told.contains(0), "the listener's owner hears of the pending connection");
    assert!(!told.contains(3), "the UDP socket's owner has nothing to hear");
}

/// An owner that writes only when told (as every PD does) finishes a transfer,
/// whenever else it also writes (an application woken by another event):
/// a write that fills the socket counts as seeing it not writable, so the
/// poll that frees room notifies, even if no poll in between found it full.
#[test]
fn a_writer_that_waits_for_notifications_is_told_when_room_comes_back() {
    let mut rng = 0x2545_f491u32;
    let mut next = move |n: u32| {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng % n
    };
    for case in 0..60 {
        let (server_bytes, client_bytes) = (1024 + next(16) as usize * 1024, 1024 + next(16) as usize * 1024);
        let read_per_ms = 64 + next(4096) as usize;
        let other_wakeups = 1 + next(8);
        let mut p = Pair::new(&[tcp_listener("l", 0, 80, 1, server_bytes)], &[tcp_client("c", 0, client_bytes)], 0);
        let (c, s) = connect(&mut p, 0, 80, 0);
        let data = pattern(64 * 1024, 9);
        let (mut sent, mut got) = (0, Vec::new());
        let mut buf = vec![0; read_per_ms];
        let write = |p: &mut Pair, sent: &mut usize| {
            while *sent < data.len() {
                match p.server.send(0, s, &data[*sent..]) {
                    Ok(n) => *sent += n,
                    Err(NetError::WouldBlock) => break,
                    Err(e) => panic!("send: {e}"),
                }
            }
        };
        write(&mut p, &mut sent);
        for _ in 0..20_000 {
            let told = p.server.poll(p.now).notify;
            // Woken by something else now and then for the first 200 ms; after that, only when told.
            if told.contains(0) || (p.now < 200 && next(other_wakeups) == 0) {
                write(&mut p, &mut sent);
            }
            p.client.poll(p.now);
            p.now += 1;
            if let Ok(n @ 1..) = p.client.recv(0, c, &mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            if got.len() == data.len() {
                break;
            }
        }
        assert_eq!(
            got.len(),
            data.len(),
            "case {case} (buffers {server_bytes}/{client_bytes}, reads of {read_per_ms}): the writer was left waiting after {sent} bytes"
        );
        assert_eq!(Sha256::digest(&got), Sha256::digest(&data));
    }
}

#[test]
fn the_report_says_where_each_socket_stands() {
    let decls = [tcp_listener("web", 0, 80, 3, 4096), udp("dns", 0, 53)];
    let mut p = Pair::new(&decls, &[tcp_client("out", 0, 4096), udp("u", 0, 5353)], 0);
    let idle = p.server.socket_report(SocketId(0)).unwrap();
    assert_eq!((idle.slots, idle.held, idle.active), (3, 0, 0), "{idle:?}");
    let (c, s) = connect(&mut p, 0, 80, 0);
    // 100 bytes that the server's owner has not read yet.
    p.client.send(0, c, &pattern(100, 3)).unwrap();
    p.until(2000, |p| (p.server.socket_report(SocketId(0)).unwrap().rx_queued == 100).then_some(()));
    let r = p.server.socket_report(SocketId(0)).unwrap();
    assert_eq!((r.slots, r.held, r.active, r.rx_queued), (3, 1, 1, 100), "{r:?}");
    let client = p.client.socket_report(SocketId(0)).unwrap();
    assert_eq!((client.slots, client.held, client.active), (1, 1, 1), "{client:?}");
    p.server.close(0, s).unwrap();
    p.client.close(0, c).unwrap();
    p.until(5000, |p| (p.server.socket_report(SocketId(0)).unwrap().active == 0).then_some(()));
    assert_eq!(p.server.socket_report(SocketId(0)).unwrap().held, 0);
    let udp = p.server.socket_report(SocketId(1)).unwrap();
    assert_eq!((udp.slots, udp.held, udp.active), (1, 0, 0), "{udp:?}");
    assert_eq!(p.server.socket_report(SocketId(2)), Err(NetError::BadHandle));
}
