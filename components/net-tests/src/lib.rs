//! The main system booted on the host kernel with its net device on a TAP in a
//! network namespace of the test's own (addresses from net.toml), and the real
//! clients that reach it from inside: curl, and failures injected into the
//! driver meanwhile.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
        Self::boot_with_disk(None)
    }

    /// [`NetSystem::boot`] with `disk` as the block device's image.
    pub fn boot_with_disk(disk: Option<std::path::PathBuf>) -> NetSystem {
        let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let interface = net_build::load_interface(&root().join("net.toml")).unwrap_or_else(|e| panic!("{e:?}"));
        let gateway = Ipv4Addr::from(interface.gateway.expect("net.toml gives a gateway"));
        let tap = format!("rnt{}", std::process::id() % 100_000);
        let (machine, mut watch) = boot(DeviceConfig { net: NetIo::Tap(tap.clone()), disk, ..Default::default() });
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
    /// If it is still running after 3/8 of that, the namespace's TCP state
    /// (`ss -tnoi`: windows, retransmissions, timers of every connection) is
    /// taken then and printed, so a connection that stalled can be told from
    /// one that was merely slow.
    pub fn curl(&self, args: &[&str], max_s: u32) -> Output {
        let mut cmd = self.ns.command("curl");
        cmd.args(["-sS", "--max-time", &max_s.to_string()]).args(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("curl runs");
        let pid = child.id();
        let snapshot_after = u64::from(max_s) * 3 / 8;
        let snapshot_at = Instant::now() + Duration::from_secs(snapshot_after);
        let done = AtomicBool::new(false);
        let ns = &self.ns;
        std::thread::scope(|s| {
            s.spawn(|| {
                while Instant::now() < snapshot_at {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                if let Ok(ss) = ns.command("ss").args(["-tnoi"]).output() {
                    println!(
                        "curl (pid {pid}) still running after {snapshot_after} s; TCP in the namespace:\n{}",
                        String::from_utf8_lossy(&ss.stdout)
                    );
                }
            });
            let out = child.wait_with_output().expect("curl runs");
            done.store(true, Ordering::Relaxed);
            out
        })
    }

    /// The last `n` lines the system printed (PD output, kernel messages,
    /// faults, starts), for a failure's message.
    pub fn recent(&mut self, n: usize) -> String {
        self.watch.recent(n)
    }

    /// Every PD's status; panics unless `net` and every PD but `driver` never
    /// restarted. Returns the driver's restarts.
    pub fn only_restarted(&mut self, driver: &str) -> u64 {
        driver_tests::only_restarted(&self.machine, &mut self.watch, driver)
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
