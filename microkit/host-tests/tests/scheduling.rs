//! The host kernel schedules PDs as seL4 does (one CPU, fixed priorities, MCS
//! budgets), and as ordinary processes in the free-running mode.
//!
//! One test in its own binary: its spinners take a whole CPU, and no other
//! system of this process may share it meanwhile.

use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use host_kernel::{Config, Event, Machine, Scheduling};

const SCHED_RR: i64 = 2;
const SCHED_IDLE: i64 = 5;
const SETTLE: Duration = Duration::from_millis(300);
const MEASURE: Duration = Duration::from_millis(1500);

/// Boots `sched.xml`; returns the machine, the kernel's scheduling line and
/// the pids of `high` and `low` once both spin.
fn boot(scheduling: Scheduling) -> (Machine, String, u32, u32) {
    let system = sdf::SystemDescription::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("sched.xml")).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_spinner")).parent().unwrap().to_path_buf();
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot(Config::new(system, bin_dir, vec![tx], scheduling)).unwrap();
    let line = wait_spinning(&rx);
    let pid = |name: &str| machine.status().unwrap().into_iter().find(|s| s.name == name).unwrap().pid.unwrap();
    let (high, low) = (pid("high"), pid("low"));
    (machine, line, high, low)
}

/// Waits until both spinners spin; returns the kernel's scheduling line.
fn wait_spinning(rx: &Receiver<Event>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut line, mut spinning) = (String::new(), 0);
    while spinning < 2 {
        let left = deadline.checked_duration_since(Instant::now()).expect("the spinners did not start");
        match rx.recv_timeout(left).expect("the spinners did not start") {
            Event::Log { line: l, .. } if l.starts_with("scheduling") => line = l,
            Event::Output { line: l, .. } if l == "spinner: spinning" => spinning += 1,
            _ => {}
        }
    }
    line
}

/// CPU time the process has used (`/proc/PID/schedstat`, nanoseconds).
fn cpu(pid: u32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    Duration::from_nanos(text.split_whitespace().next().unwrap().parse().unwrap())
}

/// Shares of a CPU that `high` and `low` got over [`MEASURE`].
fn shares(high: u32, low: u32) -> (f64, f64) {
    std::thread::sleep(SETTLE);
    let (h0, l0, t0) = (cpu(high), cpu(low), Instant::now());
    std::thread::sleep(MEASURE);
    let elapsed = t0.elapsed().as_secs_f64();
    ((cpu(high) - h0).as_secs_f64() / elapsed, (cpu(low) - l0).as_secs_f64() / elapsed)
}

/// (`Cpus_allowed_list`, scheduling policy, real-time priority, nice) of a process.
fn sched_of(pid: u32) -> (String, i64, i64, i64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let cpus = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim().to_string();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): state is field 3.
    let fields: Vec<i64> =
        stat.rsplit_once(')').unwrap().1.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect();
    // stat fields 19 (nice), 40 (rt_priority) and 41 (policy), counted from 1.
    (cpus, fields[41 - 4], fields[40 - 4], fields[19 - 4])
}

#[test]
fn pds_run_on_one_cpu_by_priority_within_their_budgets_and_freely_when_asked() {
    // As on seL4.
    let (machine, line, high, low) = boot(Scheduling::Sel4 { cpu: None });
    // high is SCHED_IDLE while its budget is spent: look until it is not.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut h_sched = sched_of(high);
    while h_sched.1 == SCHED_IDLE && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(3));
        h_sched = sched_of(high);
    }
    let l_sched = sched_of(low);
    println!("sel4 mode: {line}; high {h_sched:?}, low {l_sched:?}");
    assert_eq!(h_sched.0, l_sched.0, "both on one CPU");
    assert!(!h_sched.0.contains([',', '-']), "one CPU, not {:?}", h_sched.0);
    let (h, l) = shares(high, low);
    println!(
        "sel4 mode: high (150, budget 3 ms / 10 ms, enforced as 30 ms / 100 ms) got {:.0} % of a CPU, low (100) {:.0} %",
        h * 100.0,
        l * 100.0
    );
    assert!(h + l < 1.1, "two spinners on one CPU got {:.2} CPUs", h + l);
    if line.contains("real-time by priority") {
        assert_eq!((h_sched.1, l_sched.1), (SCHED_RR, SCHED_RR));
        assert!(h_sched.2 > l_sched.2, "high's real-time level is above low's");
        // The budget holds high to 30 %; low gets what is left, not a whole CPU.
        assert!((0.2..0.45).contains(&h), "high got {h:.2} of a CPU with a 30 % budget");
        assert!(l > 0.4 && l < 0.85, "low got {l:.2} of a CPU below a 30 % spinner");
    } else {
        println!(
            "real-time scheduling not permitted here: checked one CPU and nice levels only (budgets are not enforced)"
        );
        assert!(h_sched.3 < l_sched.3, "high is less nice than low");
    }
    drop(machine);

    // Free-running: each spinner may take a whole CPU.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (machine, _, high, low) = boot(Scheduling::Free);
    let (h, l) = shares(high, low);
    println!("free mode: high got {:.0} % of a CPU, low {:.0} % ({cpus} CPUs)", h * 100.0, l * 100.0);
    assert!(h > 0.6, "free-running high got {h:.2} of a CPU: its budget is not enforced in this mode");
    if cpus >= 2 {
        assert!(h + l > 1.3, "free-running spinners got {:.2} CPUs of {cpus}", h + l);
    }
    drop(machine);
}
