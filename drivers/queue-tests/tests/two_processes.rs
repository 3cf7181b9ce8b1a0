//! qserver and qdriver as two processes on the host kernel: two million
//! numbered requests (release; fewer in debug) through driver-queue rings in a
//! shared memfd region, with real notifications, while the driver crashes
//! twice mid-batch and forges a completion once.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use host_kernel::{Config, Event, Machine};

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_qserver")).parent().unwrap().to_path_buf()
}

#[test]
fn every_request_completes_exactly_once_across_driver_crashes_and_a_lie() {
    let system = sdf::SystemDescription::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("system.xml")).unwrap();
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let machine = Machine::boot(Config::new(system, bin_dir(), vec![tx], host_kernel::Scheduling::Free)).unwrap();
    let deadline = start + Duration::from_secs(120);
    let mut lines = Vec::new();
    let done = loop {
        let left = deadline.checked_duration_since(Instant::now()).unwrap_or_default();
        match rx.recv_timeout(left) {
            Ok(Event::Output { pd, line, .. }) => {
                if line.starts_with("qserver: done:") {
                    break line;
                }
                lines.push(format!("[{pd}] {line}"));
            }
            Ok(Event::Fault { pd, fault, .. }) => lines.push(format!("[kernel] {pd} faulted: {fault}")),
            Ok(_) => {}
            Err(_) => panic!("no result in time; saw:\n{}", lines.join("\n")),
        }
    };
    let took = start.elapsed();
    let _ = machine.shutdown();
    eprintln!("{}\n{done}\n(wall clock {took:.2?})", lines.join("\n"));
    let n = if cfg!(debug_assertions) { 200_000 } else { 2_000_000 };
    assert!(done.contains(&format!("{n} of {n} requests completed, every one exactly once")), "{done}");
    assert!(done.contains("duplicates 0, bad 0, driver restarts 3, peer faults 1,"), "{done}");
    let reclaimed: u64 = done.rsplit("reclaimed ").next().unwrap().trim().parse().unwrap();
    assert!(reclaimed > 0, "the crashes left requests in flight: {done}");
    let crashes = lines.iter().filter(|l| l.contains("injected crash")).count();
    assert_eq!(crashes, 2, "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("qserver: driver misbehaved (completion for request")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("qdriver: boot 4 attached")), "{lines:#?}");
}
