//! Network namespaces and the relay into them, with real sockets: 8 MiB each way
//! through the relay, half-closes passed on in both directions, the cap on
//! connections, a target that refuses, and stopping. The relay's mechanics are
//! tested on loopback (no privileges); the namespace tests need root and `ip
//! netns` (else "SKIPPED") and use only addresses inside namespaces they made.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use host_kernel::netns::{self, Namespace, Relay, RelayOptions};

const SIZE: usize = 8 << 20;
/// No socket operation of a test waits longer than this.
const PATIENCE: Duration = Duration::from_secs(30);

/// `SIZE` bytes of a pseudo-random sequence (xorshift) of this seed.
fn pattern(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(SIZE);
    while out.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn same(what: &str, got: &[u8], want: &[u8]) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: {} bytes, {} expected; first difference at byte {at}", got.len(), want.len());
    }
}

fn bounded(s: &TcpStream) {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
}

fn read_to_end(mut s: &TcpStream) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    s.read_to_end(&mut v)?;
    Ok(v)
}

/// The server's side of the two exchanges, on the one connection it accepts;
/// returns what it received.
///
/// - `ClientFirst`: read until the client's half-close, then answer, then close.
/// - `ServerFirst`: send and half-close first, then read until the client's half-close.
#[derive(Clone, Copy)]
enum Order {
    ClientFirst,
    ServerFirst,
}

fn serve_one(listener: TcpListener, order: Order, answer: Vec<u8>) -> JoinHandle<io::Result<Vec<u8>>> {
    std::thread::spawn(move || {
        let (s, _) = listener.accept()?;
        bounded(&s);
        match order {
            Order::ClientFirst => {
                let got = read_to_end(&s)?;
                (&s).write_all(&answer)?;
                s.shutdown(Shutdown::Write)?;
                Ok(got)
            }
            Order::ServerFirst => {
                (&s).write_all(&answer)?;
                s.shutdown(Shutdown::Write)?;
                read_to_end(&s)
            }
        }
    })
}

/// One exchange through the relay at `via`, checked both ways.
fn exchange(via: SocketAddr, listener: TcpListener, order: Order) {
    let (up, down) = (pattern(1), pattern(2));
    let server = serve_one(listener, order, down.clone());
    let c = TcpStream::connect(via).unwrap();
    bounded(&c);
    let got = match order {
        Order::ClientFirst => {
            (&c).write_all(&up).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            // The server answers only once it has seen the half-close.
            read_to_end(&c).unwrap()
        }
        Order::ServerFirst => {
            // The server's half-close ends this read; then the client still sends.
            let got = read_to_end(&c).unwrap();
            (&c).write_all(&up).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            got
        }
    };
    same("client received", &got, &down);
    same("server received", &server.join().unwrap().unwrap(), &up);
}

fn loopback_listener() -> TcpListener {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap()
}

fn any_port() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

/// A relay whose messages are kept.
fn start_relay(target: SocketAddr, ns: Option<&Namespace>, max_connections: usize) -> (Relay, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let log = lines.clone();
    let options = RelayOptions {
        max_connections,
        log: Some(Arc::new(move |l| log.lock().unwrap().push(l))),
        ..RelayOptions::default()
    };
    (Relay::start(any_port(), target, ns, options).unwrap(), lines)
}

#[test]
fn eight_mib_each_way_with_half_closes_over_loopback() {
    let listener = loopback_listener();
    let (relay, log) = start_relay(listener.local_addr().unwrap(), None, 4);
    exchange(relay.local_addr(), listener.try_clone().unwrap(), Order::ClientFirst);
    exchange(relay.local_addr(), listener, Order::ServerFirst);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

#[test]
fn a_refusing_target_closes_the_client_and_says_so() {
    // The port of a listener just closed refuses, unless a test running
    // beside this one was given it meanwhile: then try another.
    let mut tries = Vec::new();
    for _ in 0..5 {
        let gone = loopback_listener().local_addr().unwrap();
        let (relay, log) = start_relay(gone, None, 4);
        let c = TcpStream::connect(relay.local_addr()).unwrap();
        bounded(&c);
        // Closed at once: the read ends (EOF, or a reset if the close raced our write).
        let mut buf = [0; 16];
        let closed = matches!((&c).read(&mut buf), Ok(0) | Err(_));
        drop(relay);
        let log = log.lock().unwrap().join("\n");
        if closed && log.contains(&format!("cannot connect to {gone}")) && log.contains("refused") {
            return;
        }
        tries.push(format!("{gone}: closed {closed}, log {log:?}"));
    }
    panic!("the relay never closed the client with a refused target: {tries:#?}");
}

#[test]
fn connections_past_the_cap_are_turned_away_and_a_freed_slot_is_reused() {
    let listener = loopback_listener();
    let (relay, log) = start_relay(listener.local_addr().unwrap(), None, 2);
    let mut held: Vec<(TcpStream, TcpStream)> = (0..2)
        .map(|i| {
            let c = TcpStream::connect(relay.local_addr()).unwrap();
            bounded(&c);
            let (s, _) = listener.accept().unwrap();
            bounded(&s);
            (&c).write_all(&[i]).unwrap();
            let mut b = [0];
            (&s).read_exact(&mut b).unwrap();
            assert_eq!(b[0], i);
            (c, s)
        })
        .collect();
    let third = TcpStream::connect(relay.local_addr()).unwrap();
    bounded(&third);
    let mut b = [0];
    assert!(matches!((&third).read(&mut b), Ok(0) | Err(_)), "the third connection is closed");
    assert!(log.lock().unwrap().iter().any(|l| l.contains("2 connections are open already")), "{:?}", log);
    // Close one at both ends: its slot is free again once its threads are done.
    drop(held.remove(0));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let c = TcpStream::connect(relay.local_addr()).unwrap();
        bounded(&c);
        c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        (&c).write_all(b"x").unwrap();
        listener.set_nonblocking(true).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        if let Ok((s, _)) = listener.accept() {
            s.set_nonblocking(false).unwrap();
            bounded(&s);
            let mut b = [0];
            (&s).read_exact(&mut b).unwrap();
            assert_eq!(&b, b"x");
            break;
        }
        listener.set_nonblocking(false).unwrap();
        assert!(Instant::now() < deadline, "no slot came free: {:?}", log);
    }
}

#[test]
fn dropping_the_relay_closes_its_connections_and_its_port() {
    let listener = loopback_listener();
    let (relay, log) = start_relay(listener.local_addr().unwrap(), None, 4);
    let at = relay.local_addr();
    let c = TcpStream::connect(at).unwrap();
    bounded(&c);
    let (s, _) = listener.accept().unwrap();
    bounded(&s);
    (&c).write_all(b"hi").unwrap();
    let mut b = [0; 2];
    (&s).read_exact(&mut b).unwrap();
    let t = Instant::now();
    drop(relay);
    assert!(t.elapsed() < Duration::from_secs(2), "stopping took {:?}", t.elapsed());
    assert_eq!(read_to_end(&c).unwrap_or_default(), b"", "the client sees its connection end");
    assert_eq!(read_to_end(&s).unwrap_or_default(), b"", "so does the target");
    assert!(TcpStream::connect(at).is_err(), "nothing listens on {at} any more");
    assert!(log.lock().unwrap().is_empty(), "stopping is no error: {:?}", log.lock().unwrap());
}

#[test]
fn a_relay_that_cannot_listen_says_where() {
    let taken = loopback_listener();
    let at = taken.local_addr().unwrap();
    let e = Relay::start(at, at, None, RelayOptions::default()).err().expect("the port is taken");
    assert!(e.to_string().contains(&format!("cannot listen on {at}")), "{e}");
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr))))
    }
}

fn netns_list() -> String {
    String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).into_owned()
}

/// A namespace with one end of a veth pair in it, at `addr`/24 and up. (The other
/// end stays here, down and without an address: nothing here reaches `addr`.)
fn namespace_with_link(addr: Ipv4Addr) -> Namespace {
    let ns = Namespace::create("rnc-test").unwrap();
    let n = ns.name().rsplit('-').next().unwrap();
    let (inside, outside) = (format!("rnv{}i{n}", std::process::id()), format!("rnv{}o{n}", std::process::id()));
    ip(&["link", "add", &inside, "type", "veth", "peer", "name", &outside]).unwrap();
    let moved = ns.move_link(&inside).and_then(|()| ns.configure(&inside, addr, 24));
    if let Err(e) = moved {
        let _ = ip(&["link", "del", &outside]);
        panic!("{e}");
    }
    ns
}

#[test]
fn a_namespace_is_made_configured_entered_and_deleted() {
    if let Err(why) = netns::available() {
        println!("SKIPPED: network namespaces need root and `ip netns`: {why}");
        return;
    }
    let addr = Ipv4Addr::new(10, 0, 2, 2);
    let ns = namespace_with_link(addr);
    let name = ns.name().to_string();
    assert!(netns_list().lines().any(|l| l.split_whitespace().next() == Some(&name)), "{}", netns_list());
    let out = ns.command("ip").args(["-br", "addr"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("10.0.2.2/24") && text.contains("127.0.0.1/8"), "{text}");
    // A socket made by `run` is the namespace's: it can bind the namespace's address.
    let bound = ns.run(|| TcpListener::bind((addr, 0)).map(|l| l.local_addr().unwrap())).unwrap();
    assert_eq!(bound.unwrap().ip(), addr);
    assert!(TcpListener::bind((addr, 0)).is_err(), "{addr} is not this namespace's");
    drop(ns);
    assert!(!netns_list().lines().any(|l| l.split_whitespace().next() == Some(&name)), "{}", netns_list());
}

#[test]
fn the_relay_reaches_a_server_inside_a_namespace() {
    if let Err(why) = netns::available() {
        println!("SKIPPED: network namespaces need root and `ip netns`: {why}");
        return;
    }
    let addr = Ipv4Addr::new(10, 0, 2, 15);
    let ns = namespace_with_link(addr);
    // The server's socket is made inside the namespace, where alone `addr` is.
    let listener = ns.run(|| TcpListener::bind((addr, 0))).unwrap().unwrap();
    let (relay, log) = start_relay(listener.local_addr().unwrap(), Some(&ns), 4);
    exchange(relay.local_addr(), listener.try_clone().unwrap(), Order::ClientFirst);
    exchange(relay.local_addr(), listener, Order::ServerFirst);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    drop(relay);
    // Without the namespace, the same target is out of reach (no local address;
    // the connect is refused or unroutable inside a fresh, empty namespace).
    let empty = Namespace::create("rnc-test").unwrap();
    let (relay, log) = start_relay(SocketAddr::from((addr, 80)), Some(&empty), 4);
    let c = TcpStream::connect(relay.local_addr()).unwrap();
    bounded(&c);
    let mut b = [0];
    assert!(matches!((&c).read(&mut b), Ok(0) | Err(_)));
    drop(relay);
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains(&format!("in network namespace {}", empty.name()))
            && log.contains("cannot connect to 10.0.2.15:80"),
        "{log}"
    );
}
