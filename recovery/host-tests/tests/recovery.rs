//! The reincarnation server end to end on the host kernel: real processes, real
//! faults, hangs and complaints, recovered by the policies in `systems/*/policies`.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use host_kernel::{Config, Event, Machine};

const TIMEOUT: Duration = Duration::from_secs(60);

fn boot(system: &str) -> (Machine, Receiver<Event>) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_recovery_rs")).parent().unwrap().to_path_buf();
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("systems").join(system).join("system.xml");
    let system = sdf::SystemDescription::load(path).unwrap();
    if system.pd("ghost").is_some() {
        // ghost's "program" is a file the kernel finds but cannot execute: every
        // start of ghost fails (see systems/recovery/system.xml).
        std::fs::write(bin_dir.join("ghost"), "not a program: ghost never starts\n").unwrap();
    }
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot(Config {
        system,
        bin_dir,
        echo: std::env::var_os("ECHO").is_some(),
        subscribers: vec![tx],
        scheduling: host_kernel::Scheduling::Free,
    })
    .unwrap();
    (machine, rx)
}

/// A console line without RS's `at=<ns>` stamp, so tests can name whole lines.
fn unstamped(line: &str) -> String {
    line.split(' ').filter(|w| !w.starts_with("at=")).collect::<Vec<_>>().join(" ")
}

/// Console lines of the system, with when they were printed (`at=` stamps
/// removed).
struct Console {
    rx: Receiver<Event>,
    seen: Vec<(String, String, Instant)>,
}

impl Console {
    fn new(rx: Receiver<Event>) -> Self {
        Console { rx, seen: Vec::new() }
    }

    /// Finds a line of `pd` that contains `text`, among the lines seen so far
    /// (the PDs print concurrently, so the order of lines from different PDs is
    /// not the order of events) or by waiting for it; returns it and its time.
    fn wait(&mut self, pd: &str, text: &str) -> (String, Instant) {
        if let Some((_, line, at)) = self.seen.iter().find(|(p, l, _)| p == pd && l.contains(text)) {
            return (line.clone(), *at);
        }
        let deadline = Instant::now() + TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(Event::Output { pd: p, line, at }) => {
                    let line = unstamped(&line);
                    let hit = p == pd && line.contains(text);
                    self.seen.push((p, line.clone(), at));
                    if hit {
                        return (line, at);
                    }
                }
                Ok(Event::Fault { pd: p, .. }) if ["rs", "timer", "ds"].contains(&p.as_str()) => {
                    panic!("{p} itself faulted");
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let tail: Vec<String> = self.seen.iter().rev().take(40).rev().map(|(p, l, _)| format!("[{p}] {l}")).collect();
        panic!("timed out waiting for [{pd}] ...{text}...; last lines:\n{}", tail.join("\n"));
    }

    /// Lines seen so far (and everything that arrives within `settle`).
    fn drain(&mut self, settle: Duration) -> &[(String, String, Instant)] {
        while let Ok(ev) = self.rx.recv_timeout(settle) {
            if let Event::Output { pd, line, at } = ev {
                self.seen.push((pd, unstamped(&line), at));
            }
        }
        &self.seen
    }
}

#[test]
fn crash_hang_complaint_backoff_and_budget() {
    let (machine, rx) = boot("recovery");
    let mut console = Console::new(rx);

    // A complaint from a server that depends on the driver restarts it; one
    // about a channel that is not a driver is refused; the server is informed.
    console.wait("server", "complaint about driver: accepted");
    console.wait("server", "complaint about rs: not a driver this server depends on");
    // The server may ask the driver's state, and only that of a driver.
    console.wait("server", "driver after the complaint: starting");
    console.wait("server", "state of rs: not a driver this server depends on");
    console.wait("rs", "@status pd=driver state=up generation=1 restarts=1 fault=complaint");

    // A PD that never finishes init is treated as hung (3 × 50 ms) and restarted.
    console.wait("rs", "@status pd=stuck state=restarting generation=0 restarts=0 fault=hang");
    console.wait("stuck", "stuck: boot 2");
    console.wait("rs", "@status pd=stuck state=up generation=1");

    // Backoff and budget: flaky fails on every boot. Restarts come at once, then
    // after 50, 100 and 200 ms; the fifth failure finds the budget of 4 spent.
    let mut boots = Vec::new();
    for n in 1..=5 {
        boots.push(console.wait("flaky", &format!("flaky: boot {n}")).1);
    }
    console.wait("rs", "@status pd=flaky state=down generation=4 restarts=4 fault=panic");
    let gaps: Vec<Duration> = boots.windows(2).map(|w| w[1] - w[0]).collect();
    let ms = |n| Duration::from_millis(n);
    // Lower bounds are the policy; upper bounds leave room for a loaded machine
    // (process start-up and console pipes; the exact schedule is unit-tested
    // in recovery-engine).
    assert!(gaps[0] < ms(500), "first restart is immediate: {gaps:?}");
    for (gap, backoff) in gaps[1..].iter().zip([50, 100, 200]) {
        assert!(*gap >= ms(backoff), "restart after {gap:?}, before the {backoff} ms backoff ended: {gaps:?}");
        assert!(*gap < ms(backoff + 500), "restart after {gap:?}, long after the {backoff} ms backoff: {gaps:?}");
    }

    // A crash of the driver: restarted with a new generation, published, and
    // the dependant server informed.
    machine.inject("driver", microkit::InjectKind::Crash).unwrap();
    console.wait("rs", "@status pd=driver state=restarting generation=1 restarts=1 fault=vm-fault addr=0x10");
    console.wait("driver", "driver: boot 3");
    console.wait("rs", "@status pd=driver state=up generation=2 restarts=2");
    console.wait("server", "informed that a driver failed; it is");
    // ... and published in DS: the subscriber is notified and reads the new
    // generation, the state and the fault.
    console.wait("watcher", "watcher: component.driver.generation = 2");
    console.wait("watcher", "watcher: component.driver.last_fault = vm-fault addr 0x10");
    let (line, _) = console.wait("watcher", "watcher: component.driver.state = up");
    assert_eq!(line, "watcher: component.driver.state = up");

    // A hang: the driver stops answering heartbeats; caught within
    // period × misses (2 × 50 ms) plus a tick, and restarted.
    console.drain(Duration::from_millis(300));
    let injected = Instant::now();
    machine.inject("driver", microkit::InjectKind::Hang).unwrap();
    let (_, detected) = console.wait("rs", "@status pd=driver state=restarting generation=2 restarts=2 fault=hang");
    let latency = detected - injected;
    // Silent for period × misses = 100 ms since its last answer (which came
    // at most a period before the hang); slack for a loaded machine.
    assert!(
        latency >= Duration::from_millis(50) && latency <= Duration::from_millis(100 + 400),
        "hang detected after {latency:?}"
    );
    console.wait("driver", "driver: boot 4");

    // The flood did not hurt: flooder finished, and nothing is left of flaky.
    console.wait("flooder", "flooder: flooded");
    let lines = console.drain(Duration::from_millis(500));
    assert!(!lines.iter().any(|(pd, l, _)| pd == "flaky" && l.contains("boot 6")), "flaky came back after down");

    let status = machine.shutdown().unwrap();
    for pd in ["rs", "timer"] {
        let s = status.iter().find(|s| s.name == pd).unwrap();
        assert_eq!(s.restarts, 0, "{pd} never failed");
        assert!(s.last_fault.is_none(), "{pd}: {:?}", s.last_fault);
    }
}

#[test]
fn a_restart_the_kernel_refuses_is_a_failure_recorded_in_ds_and_the_status() {
    let (machine, rx) = boot("recovery");
    let mut console = Console::new(rx);
    // ghost never starts (its program is not built): silent, so hung after
    // 2 × 50 ms; RS restarts it and the kernel refuses.
    console.wait("rs", "@status pd=ghost state=restarting generation=0 restarts=0 fault=hang");
    console.wait("rs", "rs: restart of ghost refused by the kernel: the fresh copy could not be started");
    // The refusal is a failure of ghost: published, retried after the backoff,
    // refused again, and with the budget of 2 spent, down for good.
    console.wait(
        "rs",
        "@status pd=ghost state=restarting generation=1 restarts=1 fault=restart-failed error=start-failed",
    );
    let (line, _) = console.wait("rs", "@status pd=ghost state=down");
    assert_eq!(line, "@status pd=ghost state=down generation=2 restarts=2 fault=restart-failed error=start-failed");
    // ... and in DS, where a subscriber reads it.
    console.wait("watcher", "watcher: component.ghost.last_error = restart start-failed at ");
    console.wait("watcher", "watcher: component.ghost.last_fault = restart-failed start-failed at ");
    console.wait("watcher", "watcher: component.ghost.state = down");
    // RS itself went on: it still recovers another component. (The server's
    // complaints restart driver now and then: inject into a copy that is up,
    // not one still starting, which would never see the injection.)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !machine.status().unwrap().iter().any(|s| s.name == "driver" && s.state == host_kernel::ProcessState::Up) {
        assert!(std::time::Instant::now() < deadline, "driver never came up");
        std::thread::sleep(Duration::from_millis(5));
    }
    machine.inject("driver", microkit::InjectKind::Crash).unwrap();
    let (line, _) = console.wait("rs", "fault=vm-fault addr=0x10");
    assert!(line.contains("@status pd=driver state=restarting"), "{line}");
    let lines = console.drain(Duration::from_millis(300));
    let refusals = lines.iter().filter(|(pd, l, _)| pd == "rs" && l.contains("restart of ghost refused")).count();
    assert_eq!(refusals, 2, "one refusal per restart within the budget");
    let status = machine.shutdown().unwrap();
    let rs = status.iter().find(|s| s.name == "rs").unwrap();
    assert_eq!((rs.restarts, rs.last_fault), (0, None), "rs never failed");
}

#[test]
fn rs_survives_a_thousand_crashes_in_a_row() {
    let (machine, rx) = boot("thousand");
    let mut console = Console::new(rx);
    console.wait("crashy", "crashy: boot 1001: staying up");
    console.wait("rs", "@status pd=crashy state=up generation=1000 restarts=1000 fault=vm-fault addr=0x10");
    // RS still works: one more crash is recovered like the first.
    machine.inject("crashy", microkit::InjectKind::Crash).unwrap();
    console.wait("rs", "@status pd=crashy state=up generation=1001 restarts=1001");
    let status = machine.shutdown().unwrap();
    let crashy = status.iter().find(|s| s.name == "crashy").unwrap();
    assert_eq!(crashy.restarts, 1001, "the kernel counted every restart");
    for pd in ["rs", "timer", "ds"] {
        let s = status.iter().find(|s| s.name == pd).unwrap();
        assert!(s.last_fault.is_none(), "{pd}: {:?}", s.last_fault);
    }
}

#[test]
fn an_admin_pd_manages_components_and_reads_crash_records() {
    let (machine, rx) = boot("admin");
    let mut console = Console::new(rx);

    // The component table: every PD of system.xml, the trusted base as RS
    // knows it, PDs RS does not supervise as unknown.
    console.wait("admin", "admin: 6 rows");
    for row in [
        "admin: row timer TrustedBase up gen=0 restarts=0 fault=- uptime=",
        "admin: row rs TrustedBase up gen=0",
        "admin: row patient Supervised up gen=0 restarts=0 fault=- uptime=",
        "admin: row sleeper Supervised up gen=0",
        "admin: row admin Other unknown gen=0 restarts=0 fault=- uptime=-",
        "admin: row intruder Other unknown",
    ] {
        console.wait("admin", row);
    }

    // Restart: a fresh copy, generation + 1.
    console.wait("admin", "admin: restart patient: Ok(())");
    console.wait("patient", "patient: boot 2");
    console.wait("admin", "admin: row patient Supervised up gen=1 restarts=1 fault=-");
    console.wait("rs", "@status pd=patient state=up generation=1 restarts=1");

    // Stop and start.
    console.wait("admin", "admin: stop sleeper: Ok(())");
    console.wait("admin", "admin: stop sleeper again: Err(NotRunning)");
    console.wait("admin", "admin: row sleeper Supervised stopped gen=0 restarts=0 fault=- uptime=-");
    console.wait("rs", "@status pd=sleeper state=stopped generation=0");
    console.wait("admin", "admin: start sleeper: Ok(())");
    console.wait("admin", "admin: start sleeper again: Err(AlreadyRunning)");
    console.wait("sleeper", "sleeper: boot 2");
    console.wait("admin", "admin: row sleeper Supervised up gen=1 restarts=1");

    // An injected crash, and its record: registers, stack, and a PC that
    // symbolizes into the runtime's injection path in patient's ELF.
    console.wait("admin", "admin: crash patient before any: Some(NoRecord)");
    console.wait("admin", "admin: inject crash into patient: Ok(())");
    let (line, _) = console.wait("admin", "admin: record @crash pd=patient generation=1");
    let (pd, record) = rs_api::CrashRecord::parse(&line).expect("an @crash line");
    assert_eq!(pd, "patient");
    assert_eq!(record.fault.kind, microkit::FaultKind::VmFault);
    assert_eq!(record.fault.addr, Some(0x10));
    let ctx = record.context.expect("the host kernel passes the signal context on");
    assert!(ctx.register_count >= 23, "{ctx:?}");
    assert_eq!(Some(ctx.pc), record.fault.pc);
    assert!(ctx.stack_len >= 64 && ctx.stack_base <= ctx.sp, "stack around sp: {ctx:?}");
    assert_ne!(ctx.load_base, 0, "PD binaries are PIE");
    // RS printed the same record on its console.
    let (rs_line, _) = console.wait("rs", "@crash pd=patient generation=1");
    assert_eq!(rs_api::CrashRecord::parse(&rs_line).map(|(_, r)| r), Some(record));
    let elf = Path::new(env!("CARGO_BIN_EXE_patient"));
    // The PC itself (in a debug build `write_volatile` is a function of its
    // own), and the return addresses on the stack lead to the injection.
    let mut frames = crash_report::symbolize(elf, ctx.elf_pc()).unwrap();
    assert!(frames.iter().any(|f| f.function.is_some() && f.line.is_some()), "{frames:?}");
    frames.extend(crash_report::stack_scan(elf, &ctx).unwrap().into_iter().flat_map(|(_, f)| f));
    let in_path = |f: &crash_report::Frame| f.function.as_deref().is_some_and(|n| n.contains("wild_write"));
    assert!(frames.iter().any(in_path), "the PC is not in the injection path: {frames:?}");
    let injection = |f: &crash_report::Frame| {
        f.function.as_deref().is_some_and(|n| n.contains("perform_injection"))
            && f.file.as_deref().is_some_and(|f| f.ends_with("microkit/runtime/src/dispatch.rs"))
    };
    assert!(frames.iter().any(injection), "{frames:?}");
    let report = crash_report::report(pd, &record, Some(elf));
    assert!(report.contains("registers (") && report.contains("stack around sp"), "{report}");
    console.wait("admin", "admin: second record: Some(NoRecord)");

    // Requests about what RS does not supervise, or what does not exist.
    console.wait("admin", "admin: restart rs: Some(NotSupervised)");
    console.wait("admin", "admin: restart nobody: Some(NoSuchComponent)");
    console.wait("admin", "admin: restart empty name: Some(NoSuchComponent)");

    // A PD without the admin channel is denied everything.
    console.wait("intruder", "intruder: status: Some(Denied)");
    console.wait("intruder", "intruder: restart patient: Some(Denied)");
    console.wait("intruder", "intruder: inject patient: Some(Denied)");
    console.wait("intruder", "intruder: crash patient: Some(Denied)");

    // Garbage on both channels: answered with errors, RS never faults (a
    // fault of rs fails `wait`), and it still serves.
    console.wait("intruder", "intruder: garbage answered, 0 odd replies");
    console.wait("admin", "admin: garbage answered, 0 odd replies");
    console.wait("admin", "admin: after the garbage, 6 rows");
    console.wait("admin", "admin: done");

    let status = machine.shutdown().unwrap();
    let rs = status.iter().find(|s| s.name == "rs").unwrap();
    assert_eq!((rs.restarts, rs.last_fault), (0, None), "rs never failed");
}
