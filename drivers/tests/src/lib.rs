//! Boots the real `system.xml` on the host kernel with devices attached as a
//! test wants, and waits for what PDs print.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use host_kernel::{Config, DeviceConfig, Event, Machine, Scheduling};

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

/// Boots system.xml with `devices`, free-running (the tests of a binary boot
/// systems side by side; see `Scheduling::Free`).
pub fn boot(devices: DeviceConfig) -> (Machine, Watch) {
    boot_scheduled(devices, Scheduling::Free)
}

/// Boots system.xml with `devices`, its PDs scheduled as `scheduling` says.
pub fn boot_scheduled(devices: DeviceConfig, scheduling: Scheduling) -> (Machine, Watch) {
    let system = sdf::SystemDescription::load(root().join("system.xml")).unwrap();
    let bin_dir = bin_dir(&system);
    let (tx, rx) = mpsc::channel();
    let config = Config::new(system, bin_dir, vec![tx], scheduling);
    let machine = Machine::boot_with(config, devices).unwrap();
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

impl Watch {
    /// The first event not yet taken, of those that have arrived, that `pick`
    /// maps to something; `None` if there is none (it does not wait).
    pub fn take_seen<T>(&mut self, mut pick: impl FnMut(&Event) -> Option<T>) -> Option<T> {
        while let Ok(ev) = self.rx.try_recv() {
            self.seen.push((ev, false));
        }
        self.seen.iter_mut().filter(|(_, taken)| !*taken).find_map(|(ev, taken)| {
            let t = pick(ev)?;
            *taken = true;
            Some(t)
        })
    }
}

/// Waits for a line of `pd` that contains `needle`; returns it.
pub fn line(w: &mut Watch, pd: &str, needle: &str) -> String {
    wait_for(w, &format!("{pd}: ...{needle}..."), |ev| match ev {
        Event::Output { pd: p, line, .. } if p == pd && line.contains(needle) => Some(line.clone()),
        _ => None,
    })
}

/// Every PD's status; panics unless every PD but `driver` never restarted.
/// Returns the driver's restarts.
pub fn only_restarted(machine: &Machine, watch: &mut Watch, driver: &str) -> u64 {
    let status: Vec<host_kernel::PdStatus> = machine.status().expect("the kernel answers");
    let others: Vec<String> = status
        .iter()
        .filter(|s| s.name != driver && s.restarts > 0)
        .map(|s| format!("{} ({} restarts)", s.name, s.restarts))
        .collect();
    assert!(
        others.is_empty(),
        "only {driver} may restart, but: {}; the system's last lines:\n{}",
        others.join(", "),
        watch.recent(80)
    );
    status.iter().find(|s| s.name == driver).map_or(0, |s| s.restarts)
}

/// Runs `work` while `pd` is made to fail every `every`, cycling through
/// `kinds`: each failure is injected `every` after the fresh copy of the last
/// one is up again (so the policy's budget is never what stops the driver).
/// Returns what `work` returned and how many failures were injected while it
/// ran.
pub fn with_failures<T>(
    machine: &Machine,
    pd: &str,
    kinds: &[microkit::InjectKind],
    every: Duration,
    work: impl FnOnce() -> T,
) -> (T, u64) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let injector = s.spawn(|| {
            let mut injected = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(every);
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let before = generation(machine, pd);
                if machine.inject(pd, kinds[injected as usize % kinds.len()]).is_ok() {
                    injected += 1;
                    await_fresh_copy(machine, pd, before);
                }
            }
            injected
        });
        let out = work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, injector.join().unwrap_or(0))
    })
}

fn generation(machine: &Machine, pd: &str) -> Option<(u64, host_kernel::ProcessState)> {
    machine.status().ok()?.into_iter().find(|s| s.name == pd).map(|s| (s.generation, s.state))
}

/// Waits (up to 10 s) until `pd` runs a newer copy than at `before`, up.
fn await_fresh_copy(machine: &Machine, pd: &str, before: Option<(u64, host_kernel::ProcessState)>) {
    let Some((old, _)) = before else { return };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Some((g, host_kernel::ProcessState::Up)) = generation(machine, pd)
            && g > old
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
