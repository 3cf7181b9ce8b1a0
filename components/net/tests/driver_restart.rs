//! The network server's stack on the real queue protocol, against a driver
//! (the queue crate's driver shell with a device made of memory) that is
//! crashed while it holds frames: the fresh driver gets the frames the dead one
//! held, and a TCP transfer goes on intact with no retransmission timeout.

mod common;

use std::rc::Rc;

use common::{Queue, WireEnd};
use driver_queue::{Desc, Device, DriverShell, HeapMem, Notify, Reply, SharedMem};
use net::{Ipv4Config, NetConfig, NetStack, QueueLink};
use net_api::{Endpoint, NetError, SocketDecl, SocketId, SocketKind};
use sha2::{Digest, Sha256};
use virtio_net::protocol::{DATA_BYTES, OP_MAC, QUEUES, RX, TX};

struct NoBell;
impl Notify for NoBell {
    fn notify(&self) {}
}

const SERVER_MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

/// The device: frames to it go on the wire, frames from the wire fill posted buffers.
struct WireDevice {
    out: Queue,
    inp: Queue,
    /// Frames put on the wire, by every copy of the driver.
    sent: Rc<std::cell::Cell<u64>>,
}

impl<'m> Device<&'m HeapMem> for WireDevice {
    type Error = &'static str;
    fn serve(&mut self, pair: usize, data: &&'m HeapMem, req: &Desc) -> Result<Reply, &'static str> {
        if pair == TX && req.op == OP_MAC {
            data.write_bytes(req.offset as usize, &SERVER_MAC).map_err(|_| "mac")?;
            return Ok(Reply::ok(6));
        }
        if pair == TX {
            let mut frame = vec![0; req.len as usize];
            data.read_bytes(req.offset as usize, &mut frame).map_err(|_| "read")?;
            self.out.borrow_mut().push_back(frame);
            self.sent.set(self.sent.get() + 1);
            return Ok(Reply::ok(req.len));
        }
        let frame = self.inp.borrow_mut().pop_front().ok_or("no input")?;
        data.write_bytes(req.offset as usize, &frame).map_err(|_| "write")?;
        Ok(Reply::ok(frame.len() as u32))
    }
    fn has_input(&self, pair: usize) -> bool {
        pair == RX && !self.inp.borrow().is_empty()
    }
    fn interrupt(&mut self) -> Result<(), &'static str> {
        Ok(())
    }
}

type Driver<'m> = DriverShell<&'m HeapMem, NoBell>;

/// `rounds` exchanges between the stack's link and the driver, if one runs:
/// the link takes the driver's completions, the driver serves what it was given.
fn exchange(
    link: &mut QueueLink<&HeapMem, NoBell>,
    driver: &mut Option<Driver<'_>>,
    dev: &mut WireDevice,
    rounds: usize,
) {
    for _ in 0..rounds {
        link.on_driver_notification();
        if let Some(d) = driver.as_mut()
            && d.on_notify()
        {
            d.serve_pairs(dev);
        }
    }
}

fn config(addr: [u8; 4], mac: [u8; 6]) -> NetConfig {
    NetConfig { mac, ipv4: Ipv4Config { addr, prefix_len: 24, gateway: None }, random_seed: 1 }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect()
}

/// Sends 512 KiB from the server's side to the peer; crashes the driver (drops
/// it while frames wait in its rings, then starts a fresh one) at each step in
/// `crash_at`. Returns the simulated ms the transfer took, the link's counters
/// and the frames the device put on the wire.
fn transfer(crash_at: &[u64]) -> (u64, net::LinkCounters, u64) {
    transfer_losing(crash_at, false, false)
}

/// How long a crashed driver is gone when frames are lost meanwhile.
const OUTAGE_MS: u64 = 5;

/// [`transfer`], where each crash also takes the driver away for
/// [`OUTAGE_MS`] and loses the frames that arrive meanwhile (as a device reset
/// does: the peer's ACKs among them) if `lose_inbound`, and the stack is told of
/// the link reset (as the PD shell does) if `kick`.
fn transfer_losing(crash_at: &[u64], lose_inbound: bool, kick: bool) -> (u64, net::LinkCounters, u64) {
    let queues = HeapMem::new(QUEUES.layout.bytes());
    let data = HeapMem::new(DATA_BYTES as usize);
    let to_peer: Queue = Rc::default();
    let to_server: Queue = Rc::default();
    let sent_on_wire = Rc::new(std::cell::Cell::new(0));
    let device = || WireDevice { out: to_peer.clone(), inp: to_server.clone(), sent: sent_on_wire.clone() };
    let mut dev = device();
    let mut driver = Some(DriverShell::new("virtio_net", &queues, &data, &QUEUES, NoBell).unwrap());
    let mut link = QueueLink::new(&queues, &data, NoBell).unwrap();
    // Attach and learn the MAC before the stack comes up, as the PD does.
    exchange(&mut link, &mut driver, &mut dev, 4);
    assert_eq!(link.mac(), Some(SERVER_MAC));
    let decl = |kind| SocketDecl { name: "s", owner: 0, kind, rx_bytes: 16384, tx_bytes: 16384, datagrams: 0 };
    let mut server = NetStack::new(
        &config([10, 0, 2, 15], SERVER_MAC),
        &[decl(SocketKind::TcpListener { port: 80, backlog: 1 })],
        link,
        0,
    );
    let peer_link = WireEnd::new(to_server.clone(), to_peer.clone());
    let mut peer =
        NetStack::new(&config([10, 0, 2, 2], [0x52, 0x54, 0, 0, 0, 2]), &[decl(SocketKind::TcpClient)], peer_link, 0);
    let c = peer.connect(0, SocketId(0), Endpoint { addr: [10, 0, 2, 15], port: 80 }).unwrap();
    let data_out = pattern(512 * 1024);
    let mut sent = 0;
    let mut got = Vec::new();
    let mut conn = None;
    let mut buf = vec![0; 4096];
    let mut start = None;
    let mut down_until = 0;
    for now in 0..120_000u64 {
        server.link().set_now(now);
        server.poll(now);
        if crash_at.contains(&now) {
            assert!(server.link().counters().tx_frames > 0);
            // The driver dies with what it holds; its fresh copy resets the device.
            drop(driver.take());
            if lose_inbound {
                // Down for a while: what arrives meanwhile is lost with the device's reset.
                down_until = now + OUTAGE_MS;
            } else {
                driver = Some(DriverShell::new("virtio_net", &queues, &data, &QUEUES, NoBell).unwrap());
                dev = device();
            }
        }
        if driver.is_none() {
            to_server.borrow_mut().clear();
            if now >= down_until {
                driver = Some(DriverShell::new("virtio_net", &queues, &data, &QUEUES, NoBell).unwrap());
                dev = device();
                if kick {
                    server.link_reset();
                }
            }
        }
        exchange(server.link(), &mut driver, &mut dev, 3);
        peer.poll(now);
        if conn.is_none() {
            conn = server.accept(0, SocketId(0)).ok();
            start = Some(now);
            continue;
        }
        let s = conn.unwrap_or_else(|| unreachable!());
        if sent < data_out.len() {
            match server.send(0, s, &data_out[sent..]) {
                Ok(n) => sent += n,
                Err(NetError::WouldBlock) => {}
                Err(e) => panic!("send: {e}"),
            }
        }
        while let Ok(n @ 1..) = peer.recv(0, c, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == data_out.len() {
            assert_eq!(Sha256::digest(&got), Sha256::digest(&data_out), "every byte intact");
            return (now - start.unwrap_or(0), server.link().counters(), sent_on_wire.get());
        }
    }
    panic!("the transfer did not finish: {} of {} bytes", got.len(), data_out.len());
}

#[test]
fn three_driver_crashes_mid_transfer_lose_no_frame_and_no_byte() {
    let (clean_ms, clean, clean_wire) = transfer(&[]);
    assert_eq!(clean.resubmitted, 0);
    assert_eq!(clean.reattaches, 1, "one driver, attached once (it was there before the link), never restarted");
    assert_eq!(clean_wire, clean.tx_frames);
    let (crashed_ms, crashed, crashed_wire) = transfer(&[15, 40, 65]);
    assert_eq!(crashed.reattaches, 4, "the first driver and three fresh copies attached");
    assert!(crashed.resubmitted > 0, "the dead drivers held requests that were given to the fresh ones");
    assert_eq!(crashed.tx_dropped, 0);
    assert_eq!(
        crashed_wire, crashed.tx_frames,
        "every frame the stack sent reached the wire, those the dead drivers held through their fresh copies"
    );
    // smoltcp's retransmission timeout is at least 1 s before it has measured
    // the round trip; three crashes that waited for it would add seconds.
    assert!(
        crashed_ms < clean_ms + 100,
        "three driver crashes made the transfer take {crashed_ms} ms against {clean_ms} ms without"
    );
}

/// Crashes that also lose what was on its way in (the peer's ACKs) would leave
/// the sender waiting for smoltcp's 1 s retransmission timeout; told of the
/// link reset, the stack sends again at once.
#[test]
fn after_a_link_reset_lost_acks_cost_no_retransmission_timeout() {
    let (clean_ms, ..) = transfer(&[]);
    let (slow_ms, ..) = transfer_losing(&[15, 40, 65], true, false);
    let (kicked_ms, kicked, _) = transfer_losing(&[15, 40, 65], true, true);
    assert_eq!(kicked.reattaches, 4, "the first driver and three fresh copies");
    assert!(
        slow_ms >= clean_ms + 1000,
        "without the kick: {slow_ms} ms against {clean_ms} ms (the test shows nothing)"
    );
    assert!(kicked_ms < clean_ms + 100, "told of the resets: {kicked_ms} ms against {clean_ms} ms without crashes");
}

/// A driver that stops consuming frames is `stalled` once the limit passes with
/// frames waiting, not before, and never before a driver has attached (frames
/// submitted at start-up wait in the rings for it).
#[test]
fn a_driver_that_stops_consuming_is_stalled_after_the_limit() {
    use net::Link;
    let queues = HeapMem::new(QUEUES.layout.bytes());
    let data = HeapMem::new(DATA_BYTES as usize);
    let (to_peer, to_server): (Queue, Queue) = (Rc::default(), Rc::default());
    let sent = Rc::new(std::cell::Cell::new(0));
    let mut dev = WireDevice { out: to_peer.clone(), inp: to_server.clone(), sent: sent.clone() };
    let mut link = QueueLink::new(&queues, &data, NoBell).unwrap();
    let frame = |link: &mut QueueLink<&HeapMem, NoBell>| {
        link.tx_buffer(60).unwrap().fill(0xab);
        link.send(60);
    };
    link.set_now(0);
    frame(&mut link);
    link.set_now(10_000);
    assert!(link.waiting());
    assert!(!link.stalled(40), "no driver has attached yet: nothing is stalled");

    let mut driver = DriverShell::new("virtio_net", &queues, &data, &QUEUES, NoBell).unwrap();
    for _ in 0..4 {
        link.on_driver_notification();
        if driver.on_notify() {
            driver.serve_pairs(&mut dev);
        }
    }
    link.set_now(10_000);
    assert!(!link.waiting(), "the driver consumed the frame and the MAC request");
    assert_eq!(sent.get(), 1);

    // Now it stops consuming (hung): a frame waits.
    frame(&mut link);
    link.set_now(10_030);
    assert!(link.waiting());
    assert!(!link.stalled(40));
    link.set_now(10_041);
    assert!(link.stalled(40), "41 ms with a frame waiting and no completion");
    // It comes back and consumes: not stalled any more.
    link.on_driver_notification();
    if driver.on_notify() {
        driver.serve_pairs(&mut dev);
    }
    link.on_driver_notification();
    link.set_now(10_100);
    assert!(!link.stalled(40));
    assert_eq!(sent.get(), 2);
}

/// While traffic flows, a driver that completed nothing for a while is probed
/// (the MAC request), so a hang with no frame held is caught as a stall too;
/// with no traffic, nothing is probed.
#[test]
fn a_quiet_driver_is_probed_while_traffic_flows() {
    use net::Link;
    let queues = HeapMem::new(QUEUES.layout.bytes());
    let data = HeapMem::new(DATA_BYTES as usize);
    let (to_peer, to_server): (Queue, Queue) = (Rc::default(), Rc::default());
    let mut dev = WireDevice { out: to_peer, inp: to_server, sent: Rc::default() };
    let mut link = QueueLink::new(&queues, &data, NoBell).unwrap();
    let mut driver = DriverShell::new("virtio_net", &queues, &data, &QUEUES, NoBell).unwrap();
    let mut run_driver = |link: &mut QueueLink<&HeapMem, NoBell>| {
        for _ in 0..3 {
            link.on_driver_notification();
            if driver.on_notify() {
                driver.serve_pairs(&mut dev);
            }
        }
    };
    link.set_now(1000);
    run_driver(&mut link);
    assert!(!link.probe(1000, 20), "no traffic yet: no probe");
    link.tx_buffer(60).unwrap().fill(1);
    link.send(60);
    run_driver(&mut link);
    link.set_now(1010);
    assert!(!link.probe(1000, 20), "the driver completed something 10 ms ago");
    link.set_now(1030);
    assert!(link.probe(1000, 20), "quiet for 30 ms while traffic flowed: probed");
    assert!(link.waiting());
    link.set_now(1060);
    assert!(!link.stalled(40));
    link.set_now(1071);
    assert!(link.stalled(40), "a hung driver does not answer the probe");
    run_driver(&mut link);
    link.set_now(1080);
    assert!(!link.stalled(40) && !link.waiting(), "it answered");
    assert_eq!(link.counters().probes, 1);
    link.set_now(5000);
    assert!(!link.probe(1000, 20), "no traffic for 4 s: no probe");
}

/// `n` connections, each sending `each` bytes from the server to a peer that
/// reads at most `read_per_ms` bytes of each per ms (as curl's --limit-rate
/// does), while the driver crashes every `crash_every` ms, loses what arrives
/// for [`OUTAGE_MS`], and the stack is told of each reset. Returns, per
/// connection, the longest time (ms) no byte of it arrived once its first had,
/// and the time all took.
fn many_transfers_losing(n: usize, each: usize, crash_every: u64, read_per_ms: usize) -> (Vec<u64>, u64) {
    let queues = HeapMem::new(QUEUES.layout.bytes());
    let data = HeapMem::new(DATA_BYTES as usize);
    let to_peer: Queue = Rc::default();
    let to_server: Queue = Rc::default();
    let sent_on_wire = Rc::new(std::cell::Cell::new(0));
    let device = || WireDevice { out: to_peer.clone(), inp: to_server.clone(), sent: sent_on_wire.clone() };
    let mut dev = device();
    let mut driver = Some(DriverShell::new("virtio_net", &queues, &data, &QUEUES, NoBell).unwrap());
    let mut link = QueueLink::new(&queues, &data, NoBell).unwrap();
    exchange(&mut link, &mut driver, &mut dev, 4);
    let decl = |kind| SocketDecl { name: "s", owner: 0, kind, rx_bytes: 16384, tx_bytes: 32768, datagrams: 0 };
    let mut server = NetStack::new(
        &config([10, 0, 2, 15], SERVER_MAC),
        &[decl(SocketKind::TcpListener { port: 80, backlog: n as u16 })],
        link,
        0,
    );
    let peer_link = WireEnd::new(to_server.clone(), to_peer.clone());
    let client_decls: Vec<SocketDecl> = (0..n).map(|_| decl(SocketKind::TcpClient)).collect();
    let mut peer = NetStack::new(&config([10, 0, 2, 2], [0x52, 0x54, 0, 0, 0, 2]), &client_decls, peer_link, 0);
    let clients: Vec<_> = (0..n)
        .map(|i| peer.connect(0, SocketId(i as u16), Endpoint { addr: [10, 0, 2, 15], port: 80 }).unwrap())
        .collect();
    let data_out = pattern(each);
    let mut conns = Vec::new();
    let mut sent = vec![0usize; n];
    let mut got = vec![0usize; n];
    let mut last_byte = vec![0u64; n];
    let mut longest = vec![0u64; n];
    let mut buf = vec![0; 4096];
    let mut down_until = 0;
    for now in 0..300_000u64 {
        server.link().set_now(now);
        server.poll(now);
        if now > 0 && now % crash_every == 0 {
            drop(driver.take());
            down_until = now + OUTAGE_MS;
        }
        if driver.is_none() {
            to_server.borrow_mut().clear();
            if now >= down_until {
                driver = Some(DriverShell::new("virtio_net", &queues, &data, &QUEUES, NoBell).unwrap());
                dev = device();
                server.link_reset();
            }
        }
        exchange(server.link(), &mut driver, &mut dev, 3);
        peer.poll(now);
        while conns.len() < n {
            match server.accept(0, SocketId(0)) {
                Ok(c) => conns.push(c),
                Err(_) => break,
            }
        }
        for (i, &s) in conns.iter().enumerate() {
            if sent[i] < each {
                match server.send(0, s, &data_out[sent[i]..]) {
                    Ok(n) => sent[i] += n,
                    Err(NetError::WouldBlock) => {}
                    Err(e) => panic!("send: {e}"),
                }
            }
        }
        for (i, &c) in clients.iter().enumerate() {
            let want = read_per_ms.min(buf.len());
            if let Ok(k @ 1..) = peer.recv(0, c, &mut buf[..want]) {
                assert_eq!(&buf[..k], &data_out[got[i]..got[i] + k], "connection {i}: bytes intact");
                if got[i] > 0 {
                    longest[i] = longest[i].max(now - last_byte[i]);
                }
                got[i] += k;
                last_byte[i] = now;
            }
        }
        if conns.len() == n && got.iter().all(|&g| g == each) {
            return (longest, now);
        }
    }
    let stuck: Vec<String> = (0..n)
        .filter(|&i| got[i] < each)
        .map(|i| format!("{i}: {} of {each}, last byte at {}", got[i], last_byte[i]))
        .collect();
    panic!("transfers did not finish: {}", stuck.join("; "));
}

/// A hundred connections through driver crashes every 300 ms that lose what
/// was on its way in: once data flows, no connection waits seconds for a
/// retransmission timeout (a link reset fires the timers that wait on what it
/// lost).
#[test]
fn many_connections_through_lossy_driver_crashes_never_stall_for_seconds() {
    let (longest, took) = many_transfers_losing(100, 256 << 10, 300, 40);
    let worst = longest.iter().max().copied().unwrap_or(0);
    println!("connections done in {took} ms; longest stalls {longest:?}");
    assert!(worst < 1500, "a connection got no byte for {worst} ms");
}
