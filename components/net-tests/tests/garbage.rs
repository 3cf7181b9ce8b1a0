//! Malformed traffic on the wire while a real client uses the system: random
//! bytes, truncated and corrupted copies of real frames (ARP, TCP, UDP, ICMP
//! to 10.0.2.15), oversized and empty frames, thousands of them, fed into the
//! net device as if they came from the TAP. The download going on meanwhile
//! arrives intact, and neither the network server nor anything else restarts
//! (the core's frame path has its own proptest harness: components/net/tests).

use host_kernel::virtio_model::slots::Kind;
use net_tests::{NetSystem, pattern_sha256, sha256, unavailable};

/// A small xorshift generator: the same garbage every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A plausible frame to 10.0.2.15 from a stranger on the link (10.0.2.9: the
/// garbage must not pose as the real peer, or it is an ARP-spoofing attack,
/// not malformed traffic), of `proto` (1 ICMP, 6 TCP, 17 UDP) with `payload`,
/// checksums left wrong on purpose.
fn frame(mac: [u8; 6], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = mac.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x08, 0x00]);
    let total = (20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        proto,
        0,
        0,
        10,
        0,
        2,
        9,
        10,
        0,
        2,
        15,
    ]);
    f.extend_from_slice(payload);
    f
}

fn garbage(rng: &mut Rng, mac: [u8; 6]) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 0x50;
    tcp[13] = rng.next() as u8; // any flags
    let udp = [0x30, 0x39, 0, 7, 0, 13, 0, 0, b'h', b'e', b'l', b'l', b'o'];
    let arp = {
        let mut a = vec![0xff; 6];
        a.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 9]);
        a.extend_from_slice(&[10, 0, 2, 9, 0, 0, 0, 0, 0, 0, 10, 0, 2, 15]);
        a
    };
    let mut f = match rng.below(6) {
        0 => (0..rng.below(1600)).map(|_| rng.next() as u8).collect(),
        1 => frame(mac, 6, &tcp),
        2 => frame(mac, 17, &udp),
        3 => frame(mac, 1, &[8, 0, 0, 0, 0, 1, 0, 1, 0x5a, 0x5a]),
        4 => arp,
        _ => vec![0; [0, 13, 14, 2000][rng.below(4) as usize]],
    };
    // Truncate, or flip bytes (lengths, header lengths, checksums, flags).
    if rng.below(2) == 0 && !f.is_empty() {
        f.truncate(rng.below(f.len() as u64) as usize);
    }
    for _ in 0..rng.below(4) {
        if !f.is_empty() {
            let i = rng.below(f.len() as u64) as usize;
            f[i] ^= 1 << rng.below(8);
        }
    }
    f
}

#[test]
fn garbage_on_the_wire_changes_nothing_for_a_download_going_on() {
    if let Some(why) = unavailable() {
        println!("SKIPPED: the network tests need root, ip netns, /dev/net/tun and curl: {why}");
        return;
    }
    let mut sys = NetSystem::boot();
    let nic = sys.machine.device(Kind::Net).expect("the system has a net device").clone();
    let mac = net_build::load_interface(&driver_tests::root().join("net.toml")).expect("net.toml").mac;
    const N: u64 = 16 << 20;
    let url = sys.url(&format!("/bytes/{N}"));
    let done = std::sync::atomic::AtomicBool::new(false);
    let (out, sent) = std::thread::scope(|s| {
        let feeder = s.spawn(|| {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let mut sent = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                nic.input(&garbage(&mut rng, mac));
                sent += 1;
                if sent.is_multiple_of(4) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            sent
        });
        let out = sys.curl(&["--limit-rate", "8M", &url], 60);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, feeder.join().unwrap_or(0))
    });
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    println!("{sent} malformed frames during the download");
    assert!(sent >= 2000, "only {sent} frames");
    assert_eq!(sha256(&out.stdout), pattern_sha256(N));
    // And the system still answers a fresh request.
    let again = sys.curl(&[&sys.url("/status.json")], 10);
    assert!(String::from_utf8_lossy(&again.stdout).contains("\"name\":\"net\""));
    // Nothing but the driver restarted. The driver itself sometimes is: under
    // this flood (about 4,000 frames/s) on the host kernel it now and then
    // completes no transmit for over net's 50 ms limit, and net's complaint
    // restarts it (seen on main too; an open item of issue 9). The download
    // does not notice, which is what this test is about.
    let restarts = sys.only_restarted("virtio_net");
    println!("virtio_net restarted {restarts} times during the flood");
}
