//! `cargo xtask campaign`: a fault-injection campaign on the host kernel, after
//! MINIX 3's swifi runs and Rio (Ng & Chen). The main `system.xml` boots with
//! workloads that check themselves end to end ([`workload`]); faults go into
//! the running drivers at an interval; each is classified by what followed it,
//! and the classes that must stay at zero decide the exit status ([`report`]).
//!
//! One injector thread per driver: it waits until its driver is up (and, so
//! that RS's budget is never what ends a run, until the driver's policy window
//! has room for another restart), injects one fault drawn from the seed, and
//! watches RS's `@status` lines for the driver for one interval. A restart
//! seen then (or before the next fault: a late effect) gives the fault its
//! class from RS's reason (a kernel fault = crash, a missed heartbeat = hang, a
//! server's complaint = complaint) and a recovery time (fault to the fresh copy
//! up); a workload's wrong output while the fault was the driver's latest marks
//! it too. A driver that stays down past 10 s is left down.

mod report;
mod workload;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use host_kernel::netns::Namespace;
use host_kernel::{Config, ConsoleIo, Corruption, DeviceConfig, Event, Machine, NetIo};
use indicatif::{ProgressBar, ProgressStyle};
use microkit::InjectKind;

use crate::devices::HTTP_PORT;
use crate::workspace::{Error, Workspace};
pub use report::Outcome;
pub use report::{FaultRow, Report, quantiles};

/// The drivers a campaign may target.
pub const DRIVERS: [&str; 3] = ["virtio_net", "virtio_blk", "virtio_console"];

/// How long a driver may stay down before it counts as left down.
const DOWN_LIMIT: Duration = Duration::from_secs(10);
/// How long after a fault the client may take to get its first completion
/// from the fresh copy before the restart counts as not serving again.
const SERVING_LIMIT: Duration = Duration::from_secs(5);
/// What a queue client prints on the fresh copy's first completion
/// (`drivers/queue`'s `QueueClient`, named `<client> on <driver>`: vfs is the
/// client of two drivers).
const SERVING_AGAIN: &str = ": serving again: ";
/// Restarts kept free in a driver's policy budget.
const BUDGET_MARGIN: u64 = 4;

/// What to run.
pub struct Options {
    pub drivers: Vec<&'static str>,
    pub faults: u64,
    pub interval: Duration,
    pub seed: u64,
    /// The fault types to draw from (all if empty).
    pub types: Vec<FaultType>,
    /// Show a progress bar (not under `cargo xtask test`'s captured output).
    pub progress: bool,
}

/// A fault type the campaign injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultType {
    Crash,
    Panic,
    Hang,
    Exit,
    Register,
    Memory,
    Code,
    Stall,
}

impl FaultType {
    pub const ALL: [FaultType; 8] = [
        FaultType::Crash,
        FaultType::Panic,
        FaultType::Hang,
        FaultType::Exit,
        FaultType::Register,
        FaultType::Memory,
        FaultType::Code,
        FaultType::Stall,
    ];
    /// Relative weights when drawing: corruption is what the campaign is for;
    /// the clean kinds (which always manifest) are a small share.
    fn weight(self) -> u64 {
        match self {
            FaultType::Crash | FaultType::Panic | FaultType::Exit => 1,
            FaultType::Hang => 1,
            FaultType::Register | FaultType::Memory | FaultType::Code => 8,
            FaultType::Stall => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultType::Crash => "crash",
            FaultType::Panic => "panic",
            FaultType::Hang => "hang",
            FaultType::Exit => "exit",
            FaultType::Register => "register",
            FaultType::Memory => "memory",
            FaultType::Code => "code",
            FaultType::Stall => "stall",
        }
    }

    pub fn parse(s: &str) -> Result<FaultType, String> {
        FaultType::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            format!("{s:?}: a fault type is one of crash, panic, hang, exit, register, memory, code, stall")
        })
    }
}

/// Stall lengths drawn from (ms): below, around and above what the network
/// server (50 ms) and RS's heartbeats (500 ms) notice.
const STALLS_MS: [u64; 4] = [5, 30, 120, 800];

/// SplitMix64: the campaign's random numbers, one stream per driver, so a run
/// replays from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn pick<T: Copy>(&mut self, items: &[T], weight: impl Fn(T) -> u64) -> T {
        let total: u64 = items.iter().map(|&t| weight(t)).sum();
        let mut r = self.next() % total.max(1);
        for &t in items {
            if r < weight(t) {
                return t;
            }
            r -= weight(t);
        }
        items[items.len() - 1]
    }
}

/// The seed of one driver's stream.
fn stream_seed(seed: u64, driver: &str) -> u64 {
    driver.bytes().fold(seed ^ 0x5151_5151, |h, b| h.rotate_left(7) ^ b as u64).wrapping_mul(0x100_0000_01b3)
}

/// What RS said about a driver, from its `@status` lines.
#[derive(Clone, Debug)]
enum Rs {
    /// Restarting after `reason` (`fault=` of the line).
    Restarting {
        reason: String,
        at: Instant,
    },
    /// Up at this generation.
    Up {
        generation: u64,
        at: Instant,
    },
    Down {
        at: Instant,
    },
}

fn parse_status(line: &str, at: Instant) -> Option<(String, Rs)> {
    let rest = line.split_once("@status ")?.1;
    let field = |name: &str| rest.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_string);
    let pd = field("pd=")?;
    let rs = match field("state=")?.as_str() {
        "restarting" => Rs::Restarting { reason: field("fault=").unwrap_or_default(), at },
        "up" => Rs::Up { generation: field("generation=")?.parse().ok()?, at },
        "down" | "stopped" => Rs::Down { at },
        _ => return None,
    };
    Some((pd, rs))
}

/// Shared between the threads: every fault so far, and each driver's latest.
#[derive(Default)]
struct Shared {
    rows: Vec<FaultRow>,
    latest: std::collections::HashMap<&'static str, usize>,
}

/// The options from the command line; `short` is CI's campaign.
pub fn options(
    driver: &str,
    faults: u64,
    interval: Duration,
    seed: Option<u64>,
    types: Vec<FaultType>,
    short: bool,
) -> Result<Options, Error> {
    let drivers = if driver == "all" {
        DRIVERS.to_vec()
    } else {
        driver
            .split(',')
            .map(|d| {
                DRIVERS
                    .iter()
                    .copied()
                    .find(|k| *k == d)
                    .ok_or_else(|| format!("--driver {d:?}: one of {}, or all", DRIVERS.join(", ")))
            })
            .collect::<Result<_, _>>()?
    };
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let (faults, interval) = if short { (SHORT_FAULTS, SHORT_INTERVAL) } else { (faults, interval) };
    if faults == 0 {
        return Err("--faults must be at least 1".into());
    }
    Ok(Options {
        drivers,
        faults,
        interval,
        seed,
        types,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    })
}

/// `--short` (CI): this many faults across the drivers, this far apart.
pub const SHORT_FAULTS: u64 = 2000;
pub const SHORT_INTERVAL: Duration = Duration::from_millis(50);

/// `cargo xtask campaign` on the host kernel: runs it, prints the table,
/// writes the report files, and fails if a must-be-zero class is not zero.
pub fn run(ws: &Workspace, opts: &Options) -> Result<(), Error> {
    let report = execute(ws, opts)?;
    print!("{}", report.table());
    let out_dir = ws.root.join("target/campaign");
    let json = out_dir.join("report.json");
    let md = out_dir.join("report.md");
    let svg = out_dir.join("recovery.svg");
    std::fs::write(&json, report.json())?;
    std::fs::write(&md, report.markdown())?;
    report.plot(&svg)?;
    std::fs::write(out_dir.join("faults.log"), report.fault_log())?;
    println!("report: {}, {}, {}, faults.log", json.display(), md.display(), svg.display());
    match report.must_be_zero_failures() {
        None => Ok(()),
        Some(why) => Err(format!("the campaign failed: {why}").into()),
    }
}

/// Boots the main system with its workloads, runs the campaign and returns
/// its settled report.
pub fn execute(ws: &Workspace, opts: &Options) -> Result<Report, Error> {
    let sd = ws.load_system()?;
    let bin_dir = ws.build_host(&sd)?;
    let clients: Vec<String> = opts.drivers.iter().map(|d| client_of(&sd, d)).collect::<Result<_, _>>()?;
    let net = workload::net_available();
    if let Err(why) = &net {
        println!("[campaign] the TCP download is off: {why}");
    }
    let out_dir = ws.root.join("target/campaign");
    std::fs::create_dir_all(&out_dir)?;
    let disk = out_dir.join("disk.img");
    let _ = std::fs::remove_file(&disk);
    // `files` finds SOAK on it and writes and reads back rounds for ever.
    let soak = files::SOAK.trim_start_matches('/');
    crate::devices::make_fat_image_with(&disk, &[(soak, "files: soak rounds for cargo xtask campaign\n")])?;
    let sock = std::env::temp_dir().join(format!("reincarnate-campaign-{}.sock", std::process::id()));
    let tap = format!("rcp{}", std::process::id() % 100_000);
    let namespace = match &net {
        Ok(()) => Some(Namespace::create("rcamp")?),
        Err(_) => None,
    };
    let devices = DeviceConfig {
        disk: Some(disk.clone()),
        console: ConsoleIo::Socket(sock.clone()),
        net: if namespace.is_some() { NetIo::Tap(tap.clone()) } else { NetIo::Discard },
        mac: None,
    };
    // One receiver per driver's injector and one for the main thread.
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..=opts.drivers.len() {
        let (tx, rx) = mpsc::channel();
        senders.push(tx);
        receivers.push(rx);
    }
    let booted = Instant::now();
    let machine = Machine::boot_with(
        Config {
            system: sd,
            bin_dir,
            echo: false,
            subscribers: senders,
            // Free-running unless asked: scheduled as on seL4, the short
            // campaign (seed 1) saw pong, at the drivers' priority 150,
            // restarted 5 times, and hundreds of file rounds fail. One cause
            // found (a killed driver out of budget did not run to die while
            // the kernel thread waited, so the timer stopped: fixed in
            // `Scheduler::dying`); with it, 300 hangs and stalls (seed 2)
            // still restarted pong twice. Since the PD starts at the kernel's
            // level and the console moved to vfs, both runs passed once each,
            // but 58 of 130 file rounds failed in the second (EIO: vfs takes
            // a driver silent for 500 ms for down). Not settled yet.
            // REINCARNATE_SCHEDULING=sel4 runs it scheduled as on seL4.
            scheduling: host_kernel::Scheduling::from_env_or(host_kernel::Scheduling::Free)?,
        },
        devices,
    )?;
    let main_rx = receivers.remove(0);
    let result = campaign(ws, &machine, main_rx, receivers, &clients, namespace.as_ref(), &tap, &sock, opts, booted);
    // The table before shutdown stops everything.
    let status = machine.status();
    let _ = machine.shutdown();
    drop(namespace);
    std::fs::remove_file(&disk).ok();
    std::fs::remove_file(&sock).ok();
    let mut report = result?;
    report.final_status = status?.iter().map(|s| (s.name.clone(), s.state_name().to_string(), s.restarts)).collect();
    report.finish();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn campaign(
    ws: &Workspace,
    machine: &Machine,
    main_rx: Receiver<Event>,
    receivers: Vec<Receiver<Event>>,
    clients: &[String],
    namespace: Option<&Namespace>,
    tap: &str,
    sock: &Path,
    opts: &Options,
    booted: Instant,
) -> Result<Report, Error> {
    let mut watch = workload::Watch::new(main_rx, booted);
    // Boot: every workload running before the first fault.
    watch.line("virtio_console", "ready", Duration::from_secs(30))?;
    watch.line("files", "soak rounds from here on", Duration::from_secs(60))?;
    let net_addr = match namespace {
        Some(ns) => {
            watch.line("net", "virtio_net attached", Duration::from_secs(30))?;
            watch.line("http", "serving port", Duration::from_secs(30))?;
            let interface =
                net_build::load_interface(&net_build::config_path(&ws.system)).map_err(|errors| errors.join("\n"))?;
            let gateway =
                interface.gateway.map(Ipv4Addr::from).ok_or("net.toml gives no gateway (the TAP's address)")?;
            ns.move_link(tap)?;
            ns.configure(tap, gateway, interface.prefix_len)?;
            Some(SocketAddr::from((Ipv4Addr::from(interface.addr), HTTP_PORT)))
        }
        None => None,
    };
    let stop = AtomicBool::new(false);
    let shared = Mutex::new(Shared::default());
    let problems = workload::Problems::default();
    let per_driver = opts.faults.div_ceil(opts.drivers.len() as u64);
    let bar = if opts.progress { ProgressBar::new(opts.faults) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} faults {per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let budgets: Vec<(u64, Duration, Duration)> =
        opts.drivers.iter().map(|d| driver_budget(ws, d)).collect::<Result<_, Error>>()?;
    let started = Instant::now();
    problems.file_round(started);
    let outcome = std::thread::scope(|s| -> Result<(), Error> {
        let console = s.spawn(|| workload::console(sock, &stop, &problems));
        let net = net_addr.map(|addr| {
            let ns = namespace.expect("a namespace with an address");
            let (stop, problems) = (&stop, &problems);
            s.spawn(move || ns.run(|| workload::download(addr, stop, problems)))
        });
        let mut injectors = Vec::new();
        for (((&driver, rx), &(budget, window, stable)), client) in
            opts.drivers.iter().zip(receivers).zip(&budgets).zip(clients)
        {
            let ctx = Injector {
                machine,
                driver,
                rx,
                interval: opts.interval,
                types: if opts.types.is_empty() { FaultType::ALL.to_vec() } else { opts.types.clone() },
                rng: Rng::new(stream_seed(opts.seed, driver)),
                budget,
                window,
                stable,
                restarts: VecDeque::new(),
                shared: &shared,
                bar: &bar,
                stop: &stop,
                booted,
                net_enabled: namespace.is_some(),
                serving_line: format!("{client} on {driver}{SERVING_AGAIN}"),
                client: client.clone(),
                serving: None,
                stash: VecDeque::new(),
            };
            injectors.push(s.spawn(move || ctx.run(per_driver)));
        }
        // The main thread reads every event: the files workload's checks, and
        // failures outside the injected drivers.
        let mut injected_done = false;
        while !injected_done {
            watch.pump(Duration::from_millis(50), &opts.drivers, &problems);
            let rows = shared.lock().map(|s| s.rows.len()).unwrap_or(0);
            bar.set_message(problems.summary());
            let _ = rows;
            injected_done = injectors.iter().all(|h| h.is_finished());
        }
        let mut errors = Vec::new();
        for h in injectors {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push("an injector panicked".into()),
            }
        }
        // Let the workloads run on a little past the last fault, then stop.
        let settle = Instant::now() + Duration::from_secs(2);
        while Instant::now() < settle {
            watch.pump(Duration::from_millis(50), &opts.drivers, &problems);
        }
        stop.store(true, Ordering::Relaxed);
        problems.file_round(Instant::now());
        if console.join().is_err() {
            errors.push("the console workload panicked".into());
        }
        if let Some(h) = net {
            match h.join() {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => errors.push(format!("the download workload: {e}")),
                Ok(Err(e)) => errors.push(format!("the download workload: {e}")),
                Err(_) => errors.push("the download workload panicked".into()),
            }
        }
        watch.pump(Duration::from_millis(200), &opts.drivers, &problems);
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ").into()) }
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    outcome?;
    let shared = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut report = Report::new(opts, shared.rows, problems.take(), watch.outside, elapsed, namespace.is_some());
    report.set_problem_times(booted);
    Ok(report)
}

/// The driver's client: its one channel peer other than RS.
fn client_of(sd: &sdf::SystemDescription, driver: &str) -> Result<String, Error> {
    let peers: Vec<String> = sd.channels_of(driver).into_iter().map(|c| c.peer).filter(|p| p != "rs").collect();
    match peers.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "{driver} has {} peers besides rs ({}); the campaign needs one client",
            peers.len(),
            peers.join(", ")
        )
        .into()),
    }
}

/// A driver's policy: restarts allowed within the window, and how long a copy
/// must run before a failure is restarted at once again (not backed off).
fn driver_budget(ws: &Workspace, driver: &str) -> Result<(u64, Duration, Duration), Error> {
    let dir = ws.system.parent().unwrap_or(Path::new("."));
    let path = dir.join("policies").join(format!("{driver}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let p = recovery_policy::load::parse(&text).map_err(|e| format!("{}: {}", path.display(), e.join("; ")))?;
    Ok((p.budget as u64, Duration::from_nanos(p.window_ns), Duration::from_nanos(p.stable_ns)))
}

struct Injector<'a> {
    machine: &'a Machine,
    driver: &'static str,
    rx: Receiver<Event>,
    interval: Duration,
    types: Vec<FaultType>,
    rng: Rng,
    budget: u64,
    window: Duration,
    stable: Duration,
    /// When RS restarted the driver, within the last window.
    restarts: VecDeque<Instant>,
    shared: &'a Mutex<Shared>,
    bar: &'a ProgressBar,
    stop: &'a AtomicBool,
    booted: Instant,
    net_enabled: bool,
    /// The driver's client PD (its channel peer other than RS), whose queue
    /// client prints "serving again" on the fresh copy's first completion.
    client: String,
    /// What the client's queue client prints on the fresh copy's first
    /// completion, after the PD's name.
    serving_line: String,
    /// The client's latest "serving again" line since the last fault: when.
    serving: Option<Instant>,
    /// Events read ahead while waiting for "serving again", not yet handled.
    stash: VecDeque<Event>,
}

impl Injector<'_> {
    fn run(mut self, faults: u64) -> Result<(), String> {
        let mut generation = self.wait_up(0, Instant::now())?.0;
        // A turn that only records a late effect, or finds the driver gone,
        // injects nothing: turns go on until `faults` were injected (bounded).
        let mut injected = 0;
        for _ in 0..faults.saturating_mul(3) {
            if injected >= faults {
                break;
            }
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            self.wait_for_budget();
            // A late effect of the last fault (a hang RS noticed after the
            // interval) is that fault's, not the next one's.
            if let Some((reason, detected)) = self.poll_restart() {
                self.restarts.push_back(detected);
                let (g, up) = self.wait_up(generation + 1, detected)?;
                generation = g;
                let serving = if up.is_some() { self.wait_serving(detected) } else { None };
                let mut s = self.shared.lock().map_err(|_| "poisoned")?;
                if let Some(&i) = s.latest.get(self.driver) {
                    let row = &mut s.rows[i];
                    let at = self.booted + row.at;
                    row.manifested(&reason, detected - at, up.map(|u| u - at));
                    row.serving_ms = serving.map(|t| (t - at).as_secs_f64() * 1e3);
                    row.late = true;
                    if row.outcome == Outcome::LeftDown {
                        return Err(format!("{} left down after fault {i}", self.driver));
                    }
                }
                continue;
            }
            let kind = self.rng.pick(&self.types, FaultType::weight);
            let choice = self.rng.next();
            self.serving = None;
            let at = Instant::now();
            let detail = match self.inject(kind, choice) {
                Ok(d) => d,
                // The driver went away under us (a late effect of the last
                // fault): not this fault's doing; wait for it to come back.
                Err(e) => {
                    generation = self.wait_up(generation + 1, at).map(|g| g.0).unwrap_or(generation);
                    let _ = e;
                    continue;
                }
            };
            let index = {
                let mut s = self.shared.lock().map_err(|_| "poisoned")?;
                s.rows.push(FaultRow::new(self.driver, kind, detail, at.duration_since(self.booted), generation));
                let i = s.rows.len() - 1;
                s.latest.insert(self.driver, i);
                i
            };
            self.bar.inc(1);
            injected += 1;
            // Watch one interval for RS to restart the driver (a clean kind
            // always ends in a restart: until it comes; a stall: past its end).
            let window = match kind {
                FaultType::Crash | FaultType::Panic | FaultType::Hang | FaultType::Exit => DOWN_LIMIT,
                FaultType::Stall => {
                    Duration::from_millis(STALLS_MS[(choice % STALLS_MS.len() as u64) as usize])
                        + self.interval.max(Duration::from_millis(600))
                }
                _ => self.interval,
            };
            let outcome = match self.watch_restart(window)? {
                Some((reason, detected)) => {
                    self.restarts.push_back(detected);
                    let (g, up) = self.wait_up(generation + 1, at)?;
                    generation = g;
                    let serving = if up.is_some() { self.wait_serving(at) } else { None };
                    Some((reason, detected, up, serving))
                }
                None => None,
            };
            let mut s = self.shared.lock().map_err(|_| "poisoned")?;
            let row = &mut s.rows[index];
            match outcome {
                Some((reason, detected, up, serving)) => {
                    row.manifested(&reason, detected - at, up.map(|u| u - at));
                    row.serving_ms = serving.map(|t| (t - at).as_secs_f64() * 1e3);
                }
                None => row.outcome = Outcome::NoEffect,
            }
            if row.outcome == Outcome::LeftDown {
                return Err(format!("{} left down after fault {index}", self.driver));
            }
        }
        let _ = self.net_enabled;
        Ok(())
    }

    fn inject(&mut self, kind: FaultType, choice: u64) -> Result<String, host_kernel::MachineError> {
        let m = self.machine;
        let d = self.driver;
        let clean = |k: InjectKind| m.inject(d, k).map(|()| format!("{k} (the runtime's own)"));
        Ok(match kind {
            FaultType::Crash => clean(InjectKind::Crash)?,
            FaultType::Panic => clean(InjectKind::Panic)?,
            FaultType::Hang => clean(InjectKind::Hang)?,
            FaultType::Exit => clean(InjectKind::Exit)?,
            FaultType::Register => m.corrupt(d, Corruption::Register, choice)?.to_string(),
            FaultType::Memory => m.corrupt(d, Corruption::Memory, choice)?.to_string(),
            FaultType::Code => m.corrupt(d, Corruption::Code, choice)?.to_string(),
            FaultType::Stall => {
                let ms = STALLS_MS[(choice % STALLS_MS.len() as u64) as usize];
                m.corrupt(d, Corruption::Stall(Duration::from_millis(ms)), choice)?.to_string()
            }
        })
    }

    /// Waits until the copy ran the policy's `stable` time since its last
    /// restart (so RS restarts it at once: recovery times are not backoff), and
    /// until fewer than budget - margin restarts are in the policy window.
    fn wait_for_budget(&mut self) {
        if let Some(&last) = self.restarts.back() {
            let quiet = (last + self.stable + Duration::from_millis(10)).saturating_duration_since(Instant::now());
            std::thread::sleep(quiet);
        }
        loop {
            let now = Instant::now();
            while self.restarts.front().is_some_and(|&t| now.duration_since(t) > self.window) {
                self.restarts.pop_front();
            }
            if (self.restarts.len() as u64) + BUDGET_MARGIN < self.budget {
                return;
            }
            let oldest = self.restarts.front().copied().unwrap_or(now);
            let wait = (oldest + self.window + Duration::from_millis(20)).saturating_duration_since(now);
            std::thread::sleep(wait.min(Duration::from_millis(200)));
            self.drain();
        }
    }

    /// The next event (read ahead ones first), noting the client's "serving
    /// again" lines on the way.
    fn recv(&mut self, until: Instant) -> Option<Event> {
        let ev = match self.stash.pop_front() {
            Some(ev) => ev,
            None => self.rx.recv_timeout(until.checked_duration_since(Instant::now())?).ok()?,
        };
        if let Event::Output { pd, line, at } = &ev
            && *pd == self.client
            && line.contains(&self.serving_line)
        {
            self.serving = Some(*at);
        }
        Some(ev)
    }

    /// The next event already in, without waiting.
    fn try_recv(&mut self) -> Option<Event> {
        if self.stash.is_empty() {
            let ev = self.rx.try_recv().ok()?;
            self.stash.push_back(ev);
        }
        self.recv(Instant::now())
    }

    /// Waits (up to [`SERVING_LIMIT`] after the fault) for the client's first
    /// completion from the fresh copy; what else comes meanwhile is kept for
    /// later. None: the client got nothing from it in that time.
    fn wait_serving(&mut self, fault: Instant) -> Option<Instant> {
        let until = fault + SERVING_LIMIT;
        let mut ahead = VecDeque::new();
        while self.serving.is_none() {
            let Some(ev) = self.recv(until) else { break };
            ahead.push_back(ev);
        }
        ahead.append(&mut self.stash);
        self.stash = ahead;
        self.serving
    }

    /// Events of this driver from RS, in order.
    fn next_status(&mut self, until: Instant) -> Option<Rs> {
        loop {
            if let Event::Output { pd, line, at } = self.recv(until)?
                && pd == "rs"
                && let Some((p, rs)) = parse_status(&line, at)
                && p == self.driver
            {
                return Some(rs);
            }
        }
    }

    /// Drops what came in meanwhile, noting restarts.
    fn drain(&mut self) {
        while let Some(ev) = self.try_recv() {
            if let Event::Output { pd, line, .. } = ev
                && pd == "rs"
                && let Some((p, Rs::Restarting { at, .. })) = parse_status(&line, Instant::now())
                && p == self.driver
            {
                self.restarts.push_back(at);
            }
        }
    }

    /// A restart of the driver that RS announced already (not waiting).
    fn poll_restart(&mut self) -> Option<(String, Instant)> {
        while let Some(ev) = self.try_recv() {
            if let Event::Output { pd, line, at } = ev
                && pd == "rs"
                && let Some((p, rs)) = parse_status(&line, at)
                && p == self.driver
            {
                match rs {
                    Rs::Restarting { reason, at } => return Some((reason, at)),
                    Rs::Down { at } => return Some(("down".into(), at)),
                    Rs::Up { .. } => {}
                }
            }
        }
        None
    }

    /// A restart of the driver within `limit`: RS's reason and when.
    fn watch_restart(&mut self, limit: Duration) -> Result<Option<(String, Instant)>, String> {
        let until = Instant::now() + limit;
        while let Some(rs) = self.next_status(until) {
            if let Rs::Restarting { reason, at } = rs {
                return Ok(Some((reason, at)));
            }
            if let Rs::Down { .. } = rs {
                return Ok(Some(("down".into(), Instant::now())));
            }
        }
        Ok(None)
    }

    /// Waits until RS says the driver is up at `generation` or later; returns
    /// the generation and when (None: left down).
    fn wait_up(&mut self, generation: u64, since: Instant) -> Result<(u64, Option<Instant>), String> {
        // Already up (the kernel's view) at boot.
        if generation == 0 {
            let deadline = Instant::now() + DOWN_LIMIT;
            while Instant::now() < deadline {
                let st = self.machine.status().map_err(|e| e.to_string())?;
                if let Some(s) = st.iter().find(|s| s.name == self.driver)
                    && s.state == host_kernel::ProcessState::Up
                {
                    return Ok((s.generation, Some(Instant::now())));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return Err(format!("{} never came up", self.driver));
        }
        let until = since + DOWN_LIMIT;
        while let Some(rs) = self.next_status(until) {
            match rs {
                Rs::Up { generation: g, at } if g >= generation => return Ok((g, Some(at))),
                Rs::Restarting { at, .. } => self.restarts.push_back(at),
                _ => {}
            }
        }
        Ok((generation, None))
    }
}

/// Writes the seed-derived stream's first `n` choices (for tests).
#[cfg(test)]
fn stream(seed: u64, driver: &str, n: usize) -> Vec<u64> {
    let mut r = Rng::new(stream_seed(seed, driver));
    (0..n).map(|_| r.next()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_replay_and_differ_per_driver() {
        assert_eq!(stream(7, "virtio_net", 5), stream(7, "virtio_net", 5));
        assert_ne!(stream(7, "virtio_net", 5), stream(7, "virtio_blk", 5));
        assert_ne!(stream(7, "virtio_net", 5), stream(8, "virtio_net", 5));
    }

    #[test]
    fn weighted_picks_cover_every_type() {
        let mut r = Rng::new(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            seen.insert(r.pick(&FaultType::ALL, FaultType::weight));
        }
        assert_eq!(seen.len(), FaultType::ALL.len());
    }

    #[test]
    fn status_lines_parse() {
        let now = Instant::now();
        let l = "@status pd=virtio_blk state=restarting generation=0 restarts=0 at=1 fault=hang";
        let (pd, rs) = parse_status(l, now).unwrap();
        assert_eq!(pd, "virtio_blk");
        assert!(matches!(rs, Rs::Restarting { reason, .. } if reason == "hang"));
        let (_, rs) = parse_status("rs: @status pd=x state=up generation=3 restarts=3 at=9 fault=-", now).unwrap();
        assert!(matches!(rs, Rs::Up { generation: 3, .. }));
        assert!(parse_status("nothing here", now).is_none());
    }
}
