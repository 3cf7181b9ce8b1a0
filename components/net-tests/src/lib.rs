//! The main system booted on the host kernel with its net device on a TAP in a
//! network namespace of the test's own (addresses from net.toml), and the real
//! clients that reach it from inside: curl, and failures injected into the
//! driver meanwhile.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

pub use driver_tests::with_failures;
use driver_tests::{DeviceConfig, Machine, Watch, boot, line, root};
use host_kernel::NetIo;
use host_kernel::netns::{self, Namespace};
use sha2::{Digest, Sha256};

/// One booted system at a time per test process: each is a dozen processes on
/// a small machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Why the TAP tests cannot run here, if they cannot (they print `SKIPPED`).
pub fn unavailable() -> Option<String> {
    if let Err(why) = netns::available() {
        return Some(why);
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing".into());
    }
    if Command::new("curl").arg("--version").output().is_err() {
        return Some("curl is not installed (ci/setup.sh installs it)".into());
    }
    None
}

/// The running system and the namespace its link's far end is in.
pub struct NetSystem {
    pub machine: Machine,
    pub watch: Watch,
    pub ns: Namespace,
    /// The system's address (net.toml).
    pub addr: Ipv4Addr,
    _one: MutexGuard<'static, ()>,
}

impl NetSystem {
    /// Boots system.xml with the net device on a fresh TAP, moves the TAP into a
    /// new namespace with net.toml's gateway address, and waits until the
    /// network server and http are up.
    pub fn boot() -> NetSystem {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let interface = net_build::load_interface(&root().join("net.toml")).unwrap_or_else(|e| panic!("{e:?}"));
        let gateway = Ipv4Addr::from(interface.gateway.expect("net.toml gives a gateway"));
        let tap = format!("rnt{}", std::process::id() % 100_000);
        let (machine, mut watch) = boot(DeviceConfig { net: NetIo::Tap(tap.clone()), ..Default::default() });
        line(&mut watch, "net", "virtio_net attached");
        line(&mut watch, "http", "serving port 80");
        let ns = Namespace::create("rnt").expect("a network namespace");
        ns.move_link(&tap).expect("the TAP moves into the namespace");
        ns.configure(&tap, gateway, interface.prefix_len).expect("the TAP gets the gateway address");
        let addr = Ipv4Addr::from(interface.addr);
        NetSystem { machine, watch, ns, addr, _one: one }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Runs curl inside the namespace with `args`, bounded by `max_s` seconds.
    pub fn curl(&self, args: &[&str], max_s: u32) -> Output {
        let mut cmd = self.ns.command("curl");
        cmd.args(["-sS", "--max-time", &max_s.to_string()]).args(args);
        cmd.output().expect("curl runs")
    }

    /// Every PD's status; panics unless `net` and every PD but `driver` never
    /// restarted. Returns the driver's restarts.
    pub fn only_restarted(&self, driver: &str) -> u64 {
        driver_tests::only_restarted(&self.machine, driver)
    }
}

/// SHA-256 of the first `n` bytes `GET /bytes/N` serves.
pub fn pattern_sha256(n: u64) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < n {
        let len = (n - at).min(buf.len() as u64) as usize;
        http::fill_pattern(at, &mut buf[..len]);
        h.update(&buf[..len]);
        at += len as u64;
    }
    hex(&h.finalize())
}

pub fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
