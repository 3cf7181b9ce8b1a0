//! Boots the real `system.xml` on the host kernel with devices attached as a
//! test wants, and waits for what PDs print.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use host_kernel::{Config, DeviceConfig, Event, Machine};

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Builds every program of system.xml (release, host) once per test process;
/// returns where they are. (Under `cargo test --workspace` they are built already.)
pub fn bin_dir(sd: &sdf::SystemDescription) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    BUILT
        .get_or_init(|| {
            let mut cmd = Command::new(env!("CARGO"));
            cmd.current_dir(root()).args(["build", "--release", "--quiet"]);
            for p in sdf::codegen::program_names(sd) {
                cmd.args(["--bin", &p]);
            }
            assert!(cmd.status().unwrap().success(), "building the PDs failed");
            root().join("target/release")
        })
        .clone()
}

/// Boots system.xml with `devices`.
pub fn boot(devices: DeviceConfig) -> (Machine, Receiver<Event>) {
    let system = sdf::SystemDescription::load(root().join("system.xml")).unwrap();
    let bin_dir = bin_dir(&system);
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot_with(Config { system, bin_dir, echo: false, subscribers: vec![tx] }, devices).unwrap();
    (machine, rx)
}

/// A zeroed disk image of `sectors` sectors in the temp directory.
pub fn disk(name: &str, sectors: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!("reincarnate-{}-{name}.img", std::process::id()));
    std::fs::File::create(&path).unwrap().set_len(sectors * 512).unwrap();
    path
}

/// Waits for the first event `pick` maps to something; panics with what it saw.
pub fn wait_for<T>(rx: &Receiver<Event>, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) => {
                if let Some(t) = pick(&ev) {
                    return t;
                }
                seen.push(ev);
            }
            Err(_) => break,
        }
    }
    let lines: Vec<String> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Output { pd, line, .. } => Some(format!("[{pd}] {line}")),
            Event::Log { line, .. } => Some(format!("[kernel] {line}")),
            Event::Fault { pd, fault, .. } => Some(format!("[fault] {pd}: {fault}")),
            _ => None,
        })
        .collect();
    panic!("timed out waiting for {what}; saw:\n{}", lines.join("\n"));
}

/// Waits for a line of `pd` that contains `needle`; returns it.
pub fn line(rx: &Receiver<Event>, pd: &str, needle: &str) -> String {
    wait_for(rx, &format!("{pd}: ...{needle}..."), |ev| match ev {
        Event::Output { pd: p, line, .. } if p == pd && line.contains(needle) => Some(line.clone()),
        _ => None,
    })
}
