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

/// What a running system printed and did: every event is kept, so a wait for
/// one PD's line does not lose another's that came first (PDs print through
/// separate pipes: lines of different PDs arrive in no fixed order).
pub struct Watch {
    rx: Receiver<Event>,
    seen: Vec<(Event, bool)>,
}

/// Boots system.xml with `devices`.
pub fn boot(devices: DeviceConfig) -> (Machine, Watch) {
    let system = sdf::SystemDescription::load(root().join("system.xml")).unwrap();
    let bin_dir = bin_dir(&system);
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot_with(Config { system, bin_dir, echo: false, subscribers: vec![tx] }, devices).unwrap();
    (machine, Watch { rx, seen: Vec::new() })
}

/// A zeroed disk image of `sectors` sectors in the temp directory.
pub fn disk(name: &str, sectors: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!("reincarnate-{}-{name}.img", std::process::id()));
    std::fs::File::create(&path).unwrap().set_len(sectors * 512).unwrap();
    path
}

fn describe(e: &Event) -> Option<String> {
    Some(match e {
        Event::Output { pd, line, .. } => format!("[{pd}] {line}"),
        Event::Log { line, .. } => format!("[kernel] {line}"),
        Event::Fault { pd, fault, .. } => format!("[fault] {pd}: {fault}"),
        Event::Started { pd, generation, .. } => format!("[started] {pd} gen {generation}"),
        Event::Ready { pd, generation, .. } => format!("[ready] {pd} gen {generation}"),
        Event::Stopped { pd, .. } => format!("[stopped] {pd}"),
        Event::Init { .. } => return None,
    })
}

impl Watch {
    /// The last `n` events seen (after taking whatever has arrived), one line each.
    pub fn recent(&mut self, n: usize) -> String {
        while let Ok(ev) = self.rx.try_recv() {
            self.seen.push((ev, false));
        }
        let lines: Vec<String> = self.seen.iter().filter_map(|(e, _)| describe(e)).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Waits for the first event not yet taken that `pick` maps to something (it may
/// have come already); panics with everything seen.
pub fn wait_for<T>(w: &mut Watch, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    for (ev, taken) in w.seen.iter_mut().filter(|(_, taken)| !*taken) {
        if let Some(t) = pick(ev) {
            *taken = true;
            return t;
        }
    }
    let deadline = Instant::now() + TIMEOUT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match w.rx.recv_timeout(left) {
            Ok(ev) => {
                let t = pick(&ev);
                let taken = t.is_some();
                w.seen.push((ev, taken));
                if let Some(t) = t {
                    return t;
                }
            }
            Err(_) => break,
        }
    }
    let lines: Vec<String> = w.seen.iter().filter_map(|(e, _)| describe(e)).collect();
    panic!("timed out waiting for {what}; saw:\n{}", lines.join("\n"));
}

/// Waits for a line of `pd` that contains `needle`; returns it.
pub fn line(w: &mut Watch, pd: &str, needle: &str) -> String {
    wait_for(w, &format!("{pd}: ...{needle}..."), |ev| match ev {
        Event::Output { pd: p, line, .. } if p == pd && line.contains(needle) => Some(line.clone()),
        _ => None,
    })
}
