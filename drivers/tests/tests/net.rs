//! The net driver end to end: a peer ↔ net model ↔ virtio_net PD ↔ the network
//! server `net` (smoltcp: ARP and ping for 10.0.2.15) ↔ `echo` (UDP echo on port
//! 7). First an in-process peer; then a TAP device in a network namespace,
//! reached with the real `ping`.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use driver_tests::{DeviceConfig, boot, disk, line};
use host_kernel::NetIo;
use host_kernel::virtio_model::slots::Kind;

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const PEER: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|p| u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)]) as u32).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[10, 0, 2, 2, 0, 0, 0, 0, 0, 0, 10, 0, 2, 15]);
    f
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = MAC.to_vec();
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + payload.len();
    let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 2, 2, 10, 0, 2, 15];
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

#[test]
fn an_in_process_peer_gets_arp_ping_and_udp_echo_answers() {
    let image = disk("net", 64);
    let (tx, peer) = mpsc::channel::<Vec<u8>>();
    let sink = Box::new(move |f: &[u8]| {
        let _ = tx.send(f.to_vec());
    });
    let (machine, mut rx) =
        boot(DeviceConfig { disk: Some(image.clone()), net: NetIo::Sink(sink), ..Default::default() });
    assert_eq!(line(&mut rx, "virtio_net", "ready"), "virtio_net: device reset and ready, MAC 52:54:00:12:34:56");
    line(&mut rx, "net", "virtio_net attached");
    line(&mut rx, "echo", "serving TCP and UDP port 7");
    let nic = machine.device(Kind::Net).unwrap().clone();
    let recv = || peer.recv_timeout(Duration::from_secs(20)).expect("an answer from the system");

    nic.input(&arp_request());
    let arp = recv();
    assert_eq!(&arp[0..6], &PEER);
    assert_eq!(&arp[12..14], &[0x08, 0x06]);
    assert_eq!(&arp[20..22], &[0, 2]); // reply
    assert_eq!(&arp[22..28], &MAC);

    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(&[0x5a; 56]);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    nic.input(&ipv4(1, &icmp));
    let pong = recv();
    assert_eq!(pong[34], 0, "an echo reply");
    assert_eq!(checksum(&pong[34..]), 0);
    assert_eq!(&pong[42..], &[0x5a; 56]);

    let mut udp = vec![0x30, 0x39, 0, 7, 0, 13, 0, 0];
    udp.extend_from_slice(b"hello");
    nic.input(&ipv4(17, &udp));
    let echo = recv();
    assert_eq!(&echo[42..], b"hello");
    assert_eq!(&echo[36..38], &[0x30, 0x39]);

    // A burst: every frame answered, none corrupted.
    for seq in 0..50u16 {
        let mut u = vec![0x30, 0x39, 0, 7, 0, 10, 0, 0];
        u.extend_from_slice(&seq.to_be_bytes());
        nic.input(&ipv4(17, &u));
        let e = recv();
        assert_eq!(&e[42..44], &seq.to_be_bytes());
    }
    machine.shutdown().unwrap();
    std::fs::remove_file(image).ok();
}

fn have_ip_netns() -> Result<(), String> {
    let uid = Command::new("id").arg("-u").output().map_err(|e| format!("id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".into());
    }
    let ok = Command::new("ip").args(["netns", "list"]).output().map_err(|e| format!("ip: {e}"))?;
    if !ok.status.success() {
        return Err("`ip netns` is unavailable".into());
    }
    if Command::new("ping").arg("-V").output().is_err() {
        return Err("`ping` is not installed (ci/setup.sh installs iputils-ping)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing".into());
    }
    Ok(())
}

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().unwrap()
}

#[test]
fn ping_from_a_network_namespace_reaches_the_system_through_a_tap() {
    if let Err(why) = have_ip_netns() {
        println!("SKIPPED: TAP test needs root, ip netns and /dev/net/tun: {why}");
        return;
    }
    let id = std::process::id() % 100_000;
    let (ns, tap) = (format!("rnc{id}"), format!("rtap{id}"));
    assert!(ip(&["netns", "add", &ns]).status.success());
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
        }
    }
    let _cleanup = Cleanup(ns.clone());
    let image = disk("tap", 64);
    let (machine, mut rx) =
        boot(DeviceConfig { disk: Some(image.clone()), net: NetIo::Tap(tap.clone()), ..Default::default() });
    line(&mut rx, "net", "virtio_net attached");
    // The kernel opened the TAP in this namespace; move it into the test's own.
    for args in [
        vec!["link", "set", &tap, "netns", &ns],
        vec!["netns", "exec", &ns, "ip", "addr", "add", "10.0.2.2/24", "dev", &tap],
        vec!["netns", "exec", &ns, "ip", "link", "set", &tap, "up"],
    ] {
        let out = ip(&args);
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out =
        Command::new("ip").args(["netns", "exec", &ns, "ping", "-c", "3", "-W", "5", "10.0.2.15"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "ping failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("3 received"), "{text}");
    machine.shutdown().unwrap();
    std::fs::remove_file(image).ok();
}
