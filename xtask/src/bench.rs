//! `cargo xtask bench ...`: figures, printed.
//!
//! Both kernels run the benchmark system `components/ipcbench/system.xml`, whose
//! PDs time themselves with `microkit::clock` and print `bench ...` lines; on the
//! host kernel xtask also times restarts from the kernel's own events.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use clap::Subcommand;
use host_kernel::{Config, Event, Machine};
use microkit::InjectKind;

use crate::qemu::{self, Qemu};
use crate::sel4;
use crate::workspace::{Error, Workspace};

#[derive(Subcommand, Clone, Copy)]
pub enum Bench {
    /// Notification and PPC round trips, restart latency.
    Ipc {
        /// Restarts to time from kernel events (host kernel only).
        #[arg(long, default_value_t = 200)]
        restarts: usize,
    },
    /// Driver throughput on the host kernel: net frames/s and MB/s (UDP echo through
    /// virtio_net, the network server and echo), console bytes/s (echo through
    /// virtio_console, vfs's /dev/console and the shell's echo command).
    Drivers {
        /// UDP echo round trips.
        #[arg(long, default_value_t = 20000)]
        frames: usize,
        /// Console bytes echoed.
        #[arg(long, default_value_t = 1 << 20)]
        console_bytes: usize,
    },
    /// The network server and HTTP: TCP download and upload MB/s without and
    /// with virtio_net crashes every 1, 4 and 25 s, the stall of each crash and
    /// hang, requests/s with 1 and 50 connections, a plot under target/bench/.
    /// Needs root (a network namespace for the TAP) on the host kernel.
    Net {
        /// Length of the runs without failures and with a crash every 1 s and
        /// 4 s (the 25 s run always holds 4 crashes: 105 s).
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Hangs to time (2 s apart).
        #[arg(long, default_value_t = 10)]
        hangs: usize,
        /// Set by `--short`.
        #[arg(skip)]
        quick: bool,
    },
    /// Files through the file system server: write and read MB/s, files/s,
    /// fsync latency, without failures and with a virtio_blk crash every 1 s.
    Fs {
        /// Set by `--short`.
        #[arg(skip)]
        quick: bool,
    },
    /// Crash and hang detection, fault -> "up" published (the bench system),
    /// and fault -> serving again for each driver of the main system under its
    /// workloads (host kernel), with a plot under target/bench/.
    Recovery {
        /// Crashes to time.
        #[arg(long, default_value_t = 200)]
        crashes: usize,
        /// Hangs to time.
        #[arg(long, default_value_t = 50)]
        hangs: usize,
        /// Crashes and hangs per driver of the main system (host kernel).
        #[arg(long, default_value_t = 100)]
        driver_faults: u64,
    },
}

impl Bench {
    /// The short mode CI runs (`--short`): a few seconds per benchmark, enough
    /// to show it still works, too few samples for figures worth quoting.
    pub fn short(self) -> Bench {
        match self {
            Bench::Ipc { .. } => Bench::Ipc { restarts: 20 },
            Bench::Drivers { .. } => Bench::Drivers { frames: 200, console_bytes: 10_000 },
            Bench::Recovery { .. } => Bench::Recovery { crashes: 10, hangs: 3, driver_faults: 6 },
            Bench::Net { .. } => Bench::Net { seconds: 2, hangs: 1, quick: true },
            Bench::Fs { .. } => Bench::Fs { quick: true },
        }
    }
}

impl Default for Bench {
    fn default() -> Self {
        Bench::Ipc { restarts: 200 }
    }
}

/// The benchmark system.
fn bench_system(ws: &Workspace) -> PathBuf {
    ws.root.join("components/ipcbench/system.xml")
}

/// `cargo xtask bench [ipc]` on the host kernel.
pub fn run(ws: &Workspace, what: Bench) -> Result<(), Error> {
    match what {
        Bench::Ipc { restarts } => {
            round_trips(ws)?;
            restart_latency(ws, restarts)
        }
        Bench::Recovery { crashes, hangs, driver_faults } => {
            crate::bench_recovery::run(ws, crashes, hangs)?;
            crate::bench_recovery::drivers(ws, driver_faults)
        }
        Bench::Drivers { frames, console_bytes } => crate::bench_drivers::run(ws, frames, console_bytes),
        Bench::Fs { quick } => crate::bench_fs::run(ws, quick),
        Bench::Net { seconds, hangs, quick } => {
            crate::bench_net::run(ws, &crate::bench_net::Plan::host(seconds, hangs, quick))
        }
    }
}

fn boot(ws: &Workspace) -> Result<(Machine, Receiver<Event>), Error> {
    let system = ws.load_system()?;
    let bin_dir = ws.build_host(&system)?;
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::from_env()?))?;
    Ok((machine, rx))
}

pub(crate) fn next<T>(rx: &Receiver<Event>, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> Result<T, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) => {
                if let Some(t) = pick(&ev) {
                    return Ok(t);
                }
            }
            Err(_) => break,
        }
    }
    Err(format!("timed out waiting for {what}").into())
}

/// Restart latency (bench_rs) and notification and PPC round trips (bench_client),
/// timed inside the PDs.
fn round_trips(ws: &Workspace) -> Result<(), Error> {
    let bench_ws = Workspace { root: ws.root.clone(), system: bench_system(ws) };
    let (machine, rx) = boot(&bench_ws)?;
    println!("host kernel, timed inside the PDs of {}:", Path::new("components/ipcbench").display());
    loop {
        let line = next(&rx, "the benchmark PDs", |ev| match ev {
            Event::Output { line, .. } if line.starts_with("bench ") => Some(line.clone()),
            _ => None,
        })?;
        if line == "bench done" {
            break;
        }
        println!("  {line}");
    }
    machine.shutdown()?;
    Ok(())
}

/// The system restart latency is timed on: RS, the timer and one victim whose
/// policy (`recovery/host-tests/systems/bench/policies/victim.toml`) restarts at
/// once, every time, with no backoff, so every sample measures a restart and
/// none the policy. (The main system's `counter` policy, budget 10 in 10 s with
/// backoff, stopped the benchmark long before its 200 restarts.)
const RESTART_SYSTEM: &str = "recovery/host-tests/systems/bench/system.xml";

/// Restart latency: the kernel sees the fault → the fresh copy starts its `init`
/// (RS is told, restarts the child, the new process maps its regions and
/// confines itself).
fn restart_latency(ws: &Workspace, restarts: usize) -> Result<(), Error> {
    let pd = "victim";
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(&ws.root)
        .args(["build", "--release", "--quiet", "-p", "recovery-host-tests", "--bins"])
        .status()?;
    if !status.success() {
        return Err("building the restart benchmark system failed".into());
    }
    let system = sdf::SystemDescription::load(ws.root.join(RESTART_SYSTEM)).map_err(|e| format!("{e}"))?;
    let (tx, rx) = mpsc::channel();
    let bin_dir = ws.root.join("target").join("release");
    let machine = Machine::boot(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::from_env()?))?;
    let mut samples = Vec::with_capacity(restarts);
    for generation in 0..restarts as u64 {
        next(&rx, "victim up", |ev| match ev {
            Event::Ready { pd: p, generation: g, .. } if p == pd && *g == generation => Some(()),
            _ => None,
        })?;
        machine.inject(pd, InjectKind::Crash)?;
        let fault_at = next(&rx, "the fault", |ev| match ev {
            Event::Fault { pd: p, generation: g, at, .. } if p == pd && *g == generation => Some(*at),
            _ => None,
        })?;
        let init_at = next(&rx, "the fresh copy", |ev| match ev {
            Event::Init { pd: p, generation: g, at } if p == pd && *g == generation + 1 => Some(*at),
            _ => None,
        })?;
        samples.push(init_at.duration_since(fault_at));
    }
    machine.shutdown()?;
    samples.sort();
    let at = |q: usize| samples[(samples.len() - 1) * q / 100];
    println!(
        "host kernel, restart latency ({} {pd} crash -> fault seen -> rs restarts it -> fresh copy runs init), {} restarts:",
        Path::new(RESTART_SYSTEM).parent().unwrap_or(Path::new(RESTART_SYSTEM)).display(),
        samples.len()
    );
    println!("  median {:?} p99 {:?}", at(50), at(99));
    Ok(())
}

/// One `bench <name>: median <m> <unit> p99 <p> <unit> over <n> <what>` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    pub name: String,
    pub median: u64,
    pub p99: u64,
    pub unit: String,
    pub samples: u64,
}

impl Figure {
    pub fn parse(line: &str) -> Option<Figure> {
        let rest = line.strip_prefix("bench ")?;
        let (name, rest) = rest.split_once(": ")?;
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words.as_slice() {
            ["median", median, unit, "p99", p99, unit2, "over", samples, _what] if unit == unit2 => Some(Figure {
                name: name.to_string(),
                median: median.parse().ok()?,
                p99: p99.parse().ok()?,
                unit: unit.to_string(),
                samples: samples.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// The `bench clock: <counter> at <hz> <unit>/s` line: counter name and frequency.
pub fn parse_clock(line: &str) -> Option<(String, u64)> {
    let rest = line.strip_prefix("bench clock: ")?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    match words.as_slice() {
        [counter, "at", hz, _unit_per_s] => Some((counter.to_string(), hz.parse().ok()?)),
        _ => None,
    }
}

/// `ticks` of a `hz` counter, readable: "41234 ticks (659.7 us)".
fn ticks(ticks: u64, hz: u64) -> String {
    let ns = microkit::clock::ticks_to_nanos(ticks, hz);
    let human = if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    };
    format!("{ticks} ticks ({human})")
}

/// `cargo xtask bench --target qemu`: the benchmark system on seL4/QEMU.
pub fn run_qemu(ws: &Workspace, what: Bench) -> Result<(), Error> {
    if let Bench::Drivers { frames, console_bytes } = what {
        return crate::bench_drivers::run_qemu(ws, frames, console_bytes);
    }
    if let Bench::Net { quick, .. } = what {
        return crate::bench_net::run_qemu(ws, quick);
    }
    if let Bench::Recovery { crashes, hangs, .. } = what {
        return crate::bench_recovery::run_qemu(ws, crashes, hangs);
    }
    if let Bench::Fs { quick } = what {
        return crate::bench_fs::run_qemu(ws, quick);
    }
    sel4::require_sdk("cargo xtask bench --target qemu")?;
    let bench_ws = Workspace { root: ws.root.clone(), system: bench_system(ws) };
    let sd = bench_ws.load_system()?;
    let config = sel4::KernelConfig::Debug;
    let image = sel4::image(&bench_ws, &sd, &sel4::Options { config, inject: Vec::new() })?;
    let pds: Vec<String> = sd.all_pds().iter().map(|r| r.pd.name.clone()).collect();

    let mut qemu = Qemu::spawn(&image, false)?;
    let mut ready: Vec<Option<Duration>> = vec![None; pds.len()];
    let outcome = qemu.run_until(Duration::from_secs(600), |line| {
        for (pd, at) in pds.iter().zip(ready.iter_mut()) {
            if at.is_none() && line.text.contains(&format!("{pd}: ready")) {
                *at = Some(line.at);
            }
        }
        line.text.contains("bench done")
    });
    qemu.stop();
    if outcome != qemu::Outcome::Done {
        return Err(format!("the benchmark did not finish ({outcome:?}); the console:\n{}", qemu.console_text()).into());
    }
    let missing: Vec<&str> = pds.iter().zip(&ready).filter(|(_, at)| at.is_none()).map(|(p, _)| p.as_str()).collect();
    if !missing.is_empty() {
        return Err(format!("no ready line from {missing:?}; the console:\n{}", qemu.console_text()).into());
    }
    let lines = || qemu.console.iter().map(|l| l.text.as_str());
    let (counter, hz) = lines().find_map(parse_clock).ok_or("bench_rs printed no `bench clock:` line")?;
    let figures: Vec<Figure> = lines().filter_map(Figure::parse).collect();
    let figure = |name: &str| {
        figures.iter().find(|f| f.name == name).ok_or_else(|| format!("no `bench {name}:` line on the console"))
    };
    let monitor = qemu.console.iter().find(|l| l.text.contains("MON|INFO: Microkit Monitor started!")).map(|l| l.at);
    let all_ready = ready.iter().flatten().max().copied().unwrap_or_default();

    let sdk = sel4::sdk().unwrap_or_default();
    let sdk_version = std::fs::read_to_string(sdk.join("VERSION")).unwrap_or_default();
    println!(
        "seL4 on QEMU: {} with Microkit SDK {} ({} config, board {}), {}",
        Path::new("components/ipcbench/system.xml").display(),
        sdk_version.trim(),
        config.name(),
        sel4::BOARD,
        qemu::version().unwrap_or_else(|| qemu::QEMU.to_string())
    );
    println!(
        "  These figures come from QEMU's software emulation (TCG) on this machine: they measure the\n  \
         emulator, not an aarch64 core, and vary with the host's load."
    );
    println!(
        "  clock: {counter} (ARM generic timer, physical counter) at {} MHz, readable at EL0 because this\n  \
         kernel exports it (KernelArmExportPCNTUser); the PMU cycle counter PMCCNTR_EL0 is not exported\n  \
         (KernelArmExportPMUUser is off) and CNTVCT_EL0 faults, so figures are timer ticks, not CPU cycles.",
        hz as f64 / 1e6
    );
    println!();
    println!("  boot, wall clock from spawning QEMU to the last PD's ready line: {:.3} s", all_ready.as_secs_f64());
    if let Some(m) = monitor {
        println!("    (Microkit monitor started at {:.3} s)", m.as_secs_f64());
    }
    for (pd, at) in pds.iter().zip(&ready) {
        println!("    {pd:<14} ready at {:.3} s", at.unwrap_or_default().as_secs_f64());
    }
    for (name, what) in [
        ("restart", "restart latency (fault delivered to bench_rs -> bench_victim's init running)"),
        ("notify_rtt", "notification round trip (bench_client -> bench_server -> bench_client)"),
        ("ppc_rtt", "PPC round trip (bench_client calls bench_server)"),
    ] {
        let f = figure(name)?;
        if f.unit != "ticks" {
            return Err(format!("`bench {name}:` is in {}, not ticks", f.unit).into());
        }
        println!("  {what}, {} samples:", f.samples);
        println!("    median {}  p99 {}", ticks(f.median, hz), ticks(f.p99, hz));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_parse_from_the_pd_lines() {
        let f = Figure::parse("bench notify_rtt: median 120 ticks p99 900 ticks over 5000 rounds").unwrap();
        assert_eq!(f, Figure { name: "notify_rtt".into(), median: 120, p99: 900, unit: "ticks".into(), samples: 5000 });
        assert_eq!(Figure::parse("bench restart: median 1 ns p99 2 ns over 3 restarts").unwrap().unit, "ns");
        assert_eq!(Figure::parse("bench done"), None);
        assert_eq!(Figure::parse("bench x: median 1 ticks p99 2 ns over 3 rounds"), None);
        assert_eq!(Figure::parse("bench x: median one ticks p99 2 ticks over 3 rounds"), None);
        assert_eq!(parse_clock("bench clock: CNTPCT_EL0 at 62500000 ticks/s"), Some(("CNTPCT_EL0".into(), 62_500_000)));
        assert_eq!(parse_clock("bench clock: CNTPCT_EL0"), None);
    }

    #[test]
    fn ticks_read_as_time() {
        assert_eq!(ticks(625, 62_500_000), "625 ticks (10.0 us)");
        assert_eq!(ticks(40, 62_500_000), "40 ticks (640 ns)");
        assert_eq!(ticks(125_000, 62_500_000), "125000 ticks (2.00 ms)");
    }
}
