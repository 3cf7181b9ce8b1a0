//! The recovery test system on the host kernel: the same PDs and the same console
//! check as `cargo xtask test` runs on seL4/QEMU.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use host_kernel::{Config, Event, Machine};

#[test]
fn the_recovery_test_system_passes_on_the_host_kernel() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let system = sdf::SystemDescription::load(dir.join("system.xml")).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_test_supervisor")).parent().unwrap().to_path_buf();
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::Free)).unwrap();
    // Only the supervisor's lines: one PD's output keeps its order on the host.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Event::Output { pd, line, .. }) if pd == "test_supervisor" => {
                let done = line.contains("test_supervisor: PASS") || line.contains("test_supervisor: FAIL");
                lines.push(line);
                if done {
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let status = machine.shutdown().unwrap();
    let console = lines.join("\n");
    match qemu_tests::check_console(lines.iter().map(String::as_str)) {
        Ok(true) => {}
        Ok(false) => panic!(
            "the supervisor never printed {:?}; it printed:\n{console}",
            qemu_tests::first_missing(lines.iter().map(String::as_str)).unwrap_or("?")
        ),
        Err(e) => panic!("{e}; it printed:\n{console}"),
    }
    let counter = status.iter().find(|s| s.name == "test_counter").unwrap();
    assert_eq!((counter.generation, counter.restarts), (3, 3));
}
