//! `cargo xtask bench recovery`: how fast RS notices and repairs a failure, on
//! the host kernel, with the `bench` test system (RS, the timer and one victim;
//! `recovery/host-tests/systems/bench`, policy: restart at once, hung after
//! 2 × 50 ms of silence).
//!
//! Times are when the lines reached the launcher: the victim's runtime prints
//! `injected crash|hang` just before it fails, RS prints `@status` lines as it
//! publishes. Both go through the same kind of pipe, so the pipe delay mostly
//! cancels out.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use host_kernel::{Config, Machine};
use microkit::InjectKind;

use crate::console::Console;
use crate::inject::Injection;
use crate::qemu::{self, Qemu};
use crate::sel4;
use crate::workspace::{Error, Workspace};

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: usize| samples[(samples.len() - 1) * q / 100];
    println!("  {name:<34} median {:>10.3?}  p99 {:>10.3?}  ({} samples)", at(50), at(99), samples.len());
}

pub fn run(ws: &Workspace, crashes: usize, hangs: usize) -> Result<(), Error> {
    let status = Command::new(env!("CARGO"))
        .current_dir(&ws.root)
        .args(["build", "--release", "--quiet", "-p", "recovery-host-tests", "--bins"])
        .status()?;
    if !status.success() {
        return Err("building the bench system failed".into());
    }
    let system_path = ws.root.join("recovery/host-tests/systems/bench/system.xml");
    let system = sdf::SystemDescription::load(&system_path).map_err(|e| format!("{e}"))?;
    let (tx, rx) = mpsc::channel();
    let bin_dir = ws.root.join("target").join("release");
    let machine = Machine::boot(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::from_env()?))?;
    let mut console = Console::new(rx);
    console.wait("rs", "@status pd=victim state=up generation=0")?;

    let (mut detect, mut up, mut hang) = (Vec::new(), Vec::new(), Vec::new());
    let mut generation = 0;
    for _ in 0..crashes {
        machine.inject("victim", InjectKind::Crash)?;
        let crashed = console.wait("victim", "injected crash")?.1;
        let seen = console.wait("rs", &format!("@status pd=victim state=restarting generation={generation} "))?.1;
        generation += 1;
        let back = console.wait("rs", &format!("@status pd=victim state=up generation={generation} "))?.1;
        detect.push(seen - crashed);
        up.push(back - crashed);
    }
    for _ in 0..hangs {
        // Let a heartbeat or two pass, so hangs start at random phases.
        std::thread::sleep(Duration::from_millis(30));
        machine.inject("victim", InjectKind::Hang)?;
        let hung = console.wait("victim", "injected hang")?.1;
        let seen = console.wait("rs", &format!("@status pd=victim state=restarting generation={generation} "))?.1;
        generation += 1;
        console.wait("rs", &format!("@status pd=victim state=up generation={generation} "))?;
        hang.push(seen - hung);
    }
    machine.shutdown()?;
    println!(
        "host kernel, recovery ({}; heartbeat 50 ms, hung after 2 missed):",
        Path::new("recovery/host-tests/systems/bench").display()
    );
    stats("crash detection (crash -> RS knows)", detect);
    stats("fault -> \"up\" published", up);
    stats("hang detection (hang -> RS knows)", hang);
    Ok(())
}

/// The bench system, for either kernel.
fn bench_system(ws: &Workspace) -> PathBuf {
    ws.root.join("recovery/host-tests/systems/bench/system.xml")
}

/// `cargo xtask bench recovery --target qemu`: the same bench system on seL4.
/// RS carries out a compiled-in injection schedule and stamps its console lines
/// with its clock (`at=` ns, from the ARM generic timer's counter), so the
/// figures are measured inside the system, not through the emulated UART.
pub fn run_qemu(ws: &Workspace, crashes: usize, hangs: usize) -> Result<(), Error> {
    sel4::require_sdk("cargo xtask bench recovery --target qemu")?;
    let bench_ws = Workspace { root: ws.root.clone(), system: bench_system(ws) };
    let sd = bench_ws.load_system()?;
    // Crashes 300 ms apart, then hangs 500 ms apart (detection takes 100 ms).
    let mut inject = Vec::new();
    let mut at = Duration::from_secs(1);
    for _ in 0..crashes {
        inject.push(Injection { pd: "victim".into(), kind: InjectKind::Crash, at });
        at += Duration::from_millis(300);
    }
    for _ in 0..hangs {
        inject.push(Injection { pd: "victim".into(), kind: InjectKind::Hang, at });
        at += Duration::from_millis(500);
    }
    let config = sel4::KernelConfig::Debug;
    let image = sel4::image(&bench_ws, &sd, &sel4::Options { config, inject })?;
    let mut qemu = Qemu::spawn(&image, false)?;
    let expected = crashes + hangs;
    let mut ups = 0;
    let outcome = qemu.run_until(at + Duration::from_secs(120), |line| {
        if line.text.contains("@status pd=victim state=up ") {
            ups += 1;
        }
        ups > expected
    });
    qemu.stop();
    if outcome != qemu::Outcome::Done {
        return Err(format!("the benchmark did not finish ({outcome:?}); the console:\n{}", qemu.console_text()).into());
    }
    let (mut detect, mut up, mut hang) = (Vec::new(), Vec::new(), Vec::new());
    let mut injected: Option<(bool, u64)> = None;
    let mut seen = None;
    for line in &qemu.console {
        let text = line.text.as_str();
        if let Some(rest) = text.split("rs: injecting ").nth(1) {
            let at = rest.rsplit("at=").next().and_then(|n| n.trim().parse().ok());
            injected = at.map(|at| (rest.starts_with("hang"), at));
            seen = None;
        } else if let Some(Ok(s)) = microkit::status::StatusLine::parse(text) {
            let (Some((is_hang, t0)), Some(t)) = (injected, s.at) else { continue };
            match s.state {
                microkit::status::ComponentState::Restarting if seen.is_none() => {
                    seen = Some(t);
                    let d = Duration::from_nanos(t.saturating_sub(t0));
                    if is_hang { hang.push(d) } else { detect.push(d) }
                }
                microkit::status::ComponentState::Up if seen.is_some() => {
                    if !is_hang {
                        up.push(Duration::from_nanos(t.saturating_sub(t0)));
                    }
                    injected = None;
                }
                _ => {}
            }
        }
    }
    if detect.len() != crashes || hang.len() != hangs {
        return Err(format!(
            "saw {} of {crashes} crashes and {} of {hangs} hangs recovered; the console:\n{}",
            detect.len(),
            hang.len(),
            qemu.console_text()
        )
        .into());
    }
    println!(
        "seL4 on QEMU ({}, {}), recovery ({}; heartbeat 50 ms, hung after 2 missed):",
        config.name(),
        qemu::version().unwrap_or_else(|| qemu::QEMU.to_string()),
        Path::new("recovery/host-tests/systems/bench").display()
    );
    println!("  measured by RS with the ARM generic timer's counter (62.5 MHz); QEMU software emulation, not hardware");
    stats("crash detection (inject -> RS knows)", detect);
    stats("fault -> \"up\" published", up);
    stats("hang detection (inject -> RS knows)", hang);
    Ok(())
}

/// `cargo xtask bench recovery`'s second part: the main system under the
/// campaign's workloads (files on VFS, console echo, TCP downloads where a
/// network namespace can be made), `faults_per_driver` crashes and hangs into
/// each driver. Beside RS's view (fault -> restart, fault -> "up") it times
/// what an application waits for: fault -> serving again, the driver's client
/// (net, and vfs for both the block and the console driver) getting its first completion from the fresh copy.
/// Times are when the lines reached the launcher, as above.
pub fn drivers(ws: &Workspace, faults_per_driver: u64) -> Result<(), Error> {
    use crate::campaign::{self, FaultType};
    let opts = campaign::Options {
        drivers: campaign::DRIVERS.to_vec(),
        faults: faults_per_driver * campaign::DRIVERS.len() as u64,
        interval: Duration::from_millis(100),
        seed: 1,
        types: vec![FaultType::Crash, FaultType::Hang],
        progress: false,
    };
    let report = campaign::execute(ws, &opts)?;
    println!(
        "host kernel, recovery of the main system's drivers under load ({} faults in {:.1} s; workloads: files, console{}):",
        report.faults.len(),
        report.elapsed.as_secs_f64(),
        if report.download_enabled { ", TCP downloads" } else { "; TCP downloads off: no network namespace" }
    );
    let ms = |q: Option<[f64; 4]>| {
        q.map_or("-".to_string(), |q| format!("median {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms", q[0], q[2], q[3]))
    };
    let mut missing = Vec::new();
    for driver in campaign::DRIVERS {
        for kind in [FaultType::Crash, FaultType::Hang] {
            let rows: Vec<_> = report.faults.iter().filter(|f| f.driver == driver && f.kind == kind).collect();
            let pick = |get: fn(&&campaign::FaultRow) -> Option<f64>| {
                campaign::quantiles(rows.iter().filter_map(get).collect())
            };
            let serving: Vec<f64> = rows.iter().filter_map(|f| f.serving_ms).collect();
            let restarted = rows.iter().filter(|f| f.recovered_ms.is_some()).count();
            println!("  {driver} {} ({} injected, {restarted} restarted):", kind.name(), rows.len());
            println!("    {:<36} {}", "fault -> RS restarts it", ms(pick(|f| f.detected_ms)));
            println!("    {:<36} {}", "fault -> fresh copy \"up\"", ms(pick(|f| f.recovered_ms)));
            println!(
                "    {:<36} {}  ({} of {restarted} within 5 s)",
                "fault -> serving again",
                ms(campaign::quantiles(serving.clone())),
                serving.len()
            );
            if restarted > 0 && serving.is_empty() {
                missing.push(format!("{driver} {}", kind.name()));
            }
        }
    }
    let dir = ws.root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let svg = dir.join("recovery-drivers.svg");
    report.plot(&svg)?;
    println!("  plot (CDF of fault -> up and fault -> serving again): {}", svg.display());
    if let Some(why) = report.must_be_zero_failures() {
        return Err(format!("bench recovery: the campaign's checks failed: {why}").into());
    }
    if !missing.is_empty() {
        return Err(format!("bench recovery: no restart served again within 5 s: {}", missing.join(", ")).into());
    }
    Ok(())
}
