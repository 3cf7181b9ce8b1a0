//! The data store end to end: `system.xml` beside this crate booted on the host
//! kernel, every PD its own confined process, DS the same code as in the main
//! system. The PDs print what they did and got; the tests read their lines.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use host_kernel::{Config, Event, Machine};
use microkit::InjectKind;

const TIMEOUT: Duration = Duration::from_secs(20);

fn boot() -> (Machine, Receiver<Event>) {
    let system = sdf::SystemDescription::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("system.xml")).unwrap();
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_dstest_ds")).parent().unwrap().to_path_buf();
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::Free)).unwrap();
    (machine, rx)
}

/// Collects events until `done` says it has what it needs; every event seen is
/// kept, so a test can look at what happened before too.
struct Log {
    rx: Receiver<Event>,
    seen: Vec<Event>,
}

impl Log {
    fn new(rx: Receiver<Event>) -> Log {
        Log { rx, seen: Vec::new() }
    }

    /// The first line of `pd` starting with `prefix` (waiting for it).
    fn line(&mut self, pd: &str, prefix: &str) -> String {
        if let Some(l) = self.lines(pd).into_iter().find(|l| l.starts_with(prefix)) {
            return l;
        }
        let deadline = Instant::now() + TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(ev) = self.rx.recv_timeout(left) else { break };
            let hit = matches!(&ev, Event::Output { pd: p, line, .. } if p == pd && line.starts_with(prefix));
            self.seen.push(ev);
            if hit {
                return self.lines(pd).into_iter().rev().find(|l| l.starts_with(prefix)).unwrap();
            }
        }
        panic!("timed out waiting for {pd}: {prefix}...; saw:\n{:#?}", self.seen);
    }

    fn lines(&self, pd: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|ev| match ev {
                Event::Output { pd: p, line, .. } if p == pd => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    fn faults(&self, pd: &str) -> usize {
        self.seen.iter().filter(|ev| matches!(ev, Event::Fault { pd: p, .. } if p == pd)).count()
    }
}

#[test]
fn keys_cross_pds_and_the_access_rules_hold() {
    let (_m, rx) = boot();
    let mut log = Log::new(rx);
    assert_eq!(log.line("alice", "alice: put shared.colour"), "alice: put shared.colour -> ok");
    assert_eq!(log.line("alice", "alice: put private.alice.note"), "alice: put private.alice.note -> ok");
    assert_eq!(log.line("alice", "alice: put component."), "alice: put component.alice.state -> Denied");
    // bob reads alice's key, cannot overwrite or delete it, cannot see her
    // private key nor write RS's namespace; the refusals leave the value intact.
    for (prefix, want) in [
        ("bob: get shared.colour ->", "bob: get shared.colour -> blue"),
        ("bob: put shared.colour", "bob: put shared.colour -> NotOwner"),
        ("bob: delete shared.colour", "bob: delete shared.colour -> NotOwner"),
        ("bob: get private.alice.note", "bob: get private.alice.note -> Denied"),
        ("bob: put private.alice.note", "bob: put private.alice.note -> Denied"),
        ("bob: put component.bob.state", "bob: put component.bob.state -> Denied"),
        ("bob: get no.such.key", "bob: get no.such.key -> NotFound"),
        ("bob: put oversized value", "bob: put oversized value -> TooLarge"),
        ("bob: get shared.colour again", "bob: get shared.colour again -> blue"),
    ] {
        assert_eq!(log.line("bob", prefix), want);
    }
    // Not even RS reads a component's private state.
    assert_eq!(log.line("rs", "rs: get private.phoenix.state"), "rs: get private.phoenix.state -> Denied");
}

#[test]
fn a_subscriber_is_notified_and_reads_every_latest_value() {
    let (_m, rx) = boot();
    let mut log = Log::new(rx);
    assert_eq!(log.line("bob", "bob: subscribe news."), "bob: subscribe news. -> ok");
    assert_eq!(log.line("bob", "bob: put ready.bob"), "bob: put ready.bob -> ok");
    // alice publishes only after seeing bob's ready.bob (itself a notification),
    // so bob reads the news only through DS's notifications.
    assert_eq!(log.line("alice", "alice: published"), "alice: published 31 changes, 0 failed");
    let line = log.line("bob", "bob: news done");
    let counts = line
        .strip_prefix("bob: news done: headline \"headline 20\", 10 items; read ")
        .unwrap_or_else(|| panic!("bob saw stale or missing news: {line}"));
    // "N changes in M notifications": every key once per read, the latest value
    // wins, and a change is never read without a notification having come.
    let numbers: Vec<u32> = counts.split(' ').filter_map(|w| w.parse().ok()).collect();
    let [changes, notifications] = numbers[..] else { panic!("{line}") };
    assert!((12..=31 + 8).contains(&changes), "{line}");
    assert!(notifications >= 1, "{line}");
    // ...and bob also follows RS's publications.
    assert!(log.line("bob", "bob: saw component.phoenix.state").starts_with("bob: saw component.phoenix.state = "));
}

#[test]
fn a_restarted_component_gets_its_backed_up_state_back() {
    let (m, rx) = boot();
    let mut log = Log::new(rx);
    let first = log.line("phoenix", "phoenix: no backup;");
    let rest = first.strip_prefix("phoenix: no backup; backed up 400 bytes ").unwrap();
    let (state, result) = rest.split_once(" -> ").unwrap();
    assert_eq!(result, "ok", "{first}");
    // Crash it (a wild pointer); rs restarts it as a fresh copy.
    m.inject("phoenix", InjectKind::Crash).unwrap();
    let second = log.line("phoenix", "phoenix: restored");
    assert_eq!(second, format!("phoenix: restored 400 bytes {state} (intact)"));
    assert_eq!(log.faults("phoenix"), 1);
    let rs = log.line("rs", "rs: phoenix faulted");
    assert!(rs.starts_with("rs: phoenix faulted (vm-fault addr 0x10"), "{rs}");
    assert!(rs.ends_with(r#"restarted it; published ["ok", "ok", "ok", "ok"] ok"#), "{rs}");
    // Subscribers learn of the restart from RS's publications.
    assert_eq!(log.line("bob", "bob: saw component.phoenix.restarts = 1"), "bob: saw component.phoenix.restarts = 1");
    assert!(log.line("bob", "bob: saw component.phoenix.last_fault").contains("vm-fault addr 0x10"));
    let status = m.status().unwrap();
    let phoenix = status.iter().find(|s| s.name == "phoenix").unwrap();
    assert_eq!((phoenix.generation, phoenix.restarts), (1, 1));
}

#[test]
fn garbage_requests_are_refused_and_ds_keeps_serving() {
    let (m, rx) = boot();
    let mut log = Log::new(rx);
    let last = log.line("mallory", "mallory: after the garbage");
    let garbage: Vec<String> = log.lines("mallory").into_iter().filter(|l| l.starts_with("mallory: garbage")).collect();
    assert_eq!(garbage.len(), 11, "{garbage:#?}");
    for line in &garbage {
        assert!(line.ends_with("-> BadRequest"), "{line}");
    }
    assert_eq!(last, "mallory: after the garbage: put -> ok, get -> still served");
    // The others are served as usual, and DS never faulted.
    log.line("bob", "bob: news done");
    log.line("bob", "bob: get shared.colour again");
    assert_eq!(log.faults("ds"), 0);
    let status = m.status().unwrap();
    let ds = status.iter().find(|s| s.name == "ds").unwrap();
    assert_eq!((ds.generation, ds.restarts), (0, 0));
    assert!(ds.pid.is_some(), "ds is running");
}

#[test]
fn ds_names_its_clients_from_the_system_description() {
    let (_m, rx) = boot();
    let mut log = Log::new(rx);
    assert_eq!(
        log.line("ds", "ds: "),
        "ds: 128 entries, 64 subscriptions; 5 clients: rs (0) alice (1) bob (2) mallory (3) phoenix (4)"
    );
}
