//! `cargo xtask bench net`: the network server (`net`, smoltcp over virtio_net)
//! and the HTTP application (`http`, port 80) measured from outside the system,
//! on the host kernel (the net device on a TAP in a network namespace made for
//! the benchmark, the clients inside it) or on seL4/QEMU (through QEMU's
//! `hostfwd`, see [`qemu`]):
//!
//! * TCP download (`GET /bytes/N`, every byte compared with `http::pattern_byte`)
//!   and upload (`POST /sink`, the answered length and SHA-256 compared) in MB/s,
//!   with no failures and with a virtio_net crash every 1 s, 4 s and 25 s, beside
//!   MINIX 3's figures;
//! * the stall around each crash and each hang: the longest time no byte moved;
//! * HTTP requests/s for small GETs with 1 and 50 connections (wrk);
//! * a plot of throughput over time with the failures marked
//!   (`target/bench/net-throughput.svg`).
//!
//! It fails if a byte was wrong, a request failed or the network server itself
//! restarted: a driver's restart must be hidden from TCP.

pub(crate) mod client;
mod figures;
pub(crate) mod plot;
mod qemu;
mod wrk;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use host_kernel::netns::{self, Namespace};
use host_kernel::{Config, ConsoleIo, DeviceConfig, Event, Machine, NetIo};
use microkit::InjectKind;

use crate::devices::HTTP_PORT;
use crate::workspace::{Error, Workspace};
use figures::{Direction, Run};

pub use qemu::run_qemu;

/// The driver whose failures the benchmark injects.
const DRIVER: &str = "virtio_net";
/// The PDs that must never restart while the driver does.
const MUST_SURVIVE: [&str; 2] = ["net", "http"];
/// Where the plots go, under the workspace.
pub(crate) const PLOTS: &str = "target/bench";
/// The console of the host kernel's run, beside the plot.
const CONSOLE_LOG: &str = "net-console.log";
/// Bins of the plot.
const BIN: Duration = Duration::from_millis(100);
/// The small GET of the requests/s figure.
const SMALL_GET: &str = "/bytes/64";

/// Failures every so long, of one kind.
type Failures = (Duration, InjectKind);

/// What to measure, and for how long.
pub struct Plan {
    /// Each (failure interval, run length); the first has no failures.
    pub runs: Vec<(Option<Duration>, Duration)>,
    /// Hangs to inject, [`Plan::hang_every`] apart, during a download.
    pub hangs: usize,
    pub hang_every: Duration,
    /// Length of each wrk run.
    pub rate_for: Duration,
    /// Bytes per request (`GET /bytes/N`, `POST /sink`).
    pub request_bytes: usize,
    /// Wait out the driver policy's window before each run with failures, so
    /// that RS's backoff starts afresh in each (not in the short mode, whose
    /// figures are not for quoting).
    pub fresh_backoff: bool,
    /// A download before the runs, not counted: the system's boot-time work
    /// (files' rounds, ...) is over, TCP's windows have grown.
    pub settle: Duration,
}

impl Plan {
    /// The host kernel's plan: `seconds` without failures and with a crash every
    /// 1 s and 4 s, and 4 crashes 25 s apart (105 s); `short`: 2 s without,
    /// 2.5 s with a crash every 1 s (2 crashes), 1 hang, wrk for 1 s.
    pub fn host(seconds: u64, hangs: usize, short: bool) -> Plan {
        let s = Duration::from_secs;
        let runs = if short {
            vec![(None, s(2)), (Some(s(1)), Duration::from_millis(2500))]
        } else {
            let t = s(seconds.max(5));
            vec![(None, t), (Some(s(1)), t), (Some(s(4)), t.max(s(17))), (Some(s(25)), s(105))]
        };
        Plan {
            runs,
            hangs: if short { hangs.min(1) } else { hangs },
            hang_every: s(2),
            rate_for: if short { s(1) } else { s(5) },
            request_bytes: 8 << 20,
            fresh_backoff: !short,
            settle: if short { s(1) } else { s(3) },
        }
    }
}

/// Every event of the running system, kept, so a wait sees what came before it.
#[derive(Clone)]
struct Events(Arc<(Mutex<Vec<Event>>, Condvar)>);

impl Events {
    fn collect(rx: Receiver<Event>) -> Events {
        let events = Events(Arc::new((Mutex::new(Vec::new()), Condvar::new())));
        let e = events.clone();
        std::thread::spawn(move || {
            for ev in rx {
                let (lock, cv) = &*e.0;
                lock.lock().unwrap_or_else(|p| p.into_inner()).push(ev);
                cv.notify_all();
            }
        });
        events
    }

    /// Waits up to `limit` for an event `pick` accepts.
    fn wait(&self, what: &str, limit: Duration, mut pick: impl FnMut(&Event) -> bool) -> Result<(), Error> {
        let deadline = Instant::now() + limit;
        let (lock, cv) = &*self.0;
        let mut seen = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if seen.iter().any(&mut pick) {
                return Ok(());
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| format!("timed out waiting for {what}"))?;
            seen = cv.wait_timeout(seen, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Every line the PDs and the kernel printed, and every fault, start and
    /// ready, timed from `since`, into `path`.
    fn write_log(&self, since: Instant, path: &Path) -> std::io::Result<()> {
        let (lock, _) = &*self.0;
        let seen = lock.lock().unwrap_or_else(|p| p.into_inner());
        let t = |at: &Instant| at.saturating_duration_since(since).as_secs_f64();
        let mut text = String::new();
        for ev in seen.iter() {
            let line = match ev {
                Event::Output { pd, line, at } => format!("{:10.4} [{pd}] {line}", t(at)),
                Event::Log { line, at } => format!("{:10.4} [kernel] {line}", t(at)),
                Event::Fault { pd, generation, fault, at } => {
                    format!("{:10.4} fault {pd} gen {generation}: {fault}", t(at))
                }
                Event::Ready { pd, generation, at } => format!("{:10.4} ready {pd} gen {generation}", t(at)),
                _ => continue,
            };
            text.push_str(&line);
            text.push('\n');
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text)
    }

    fn line(&self, pd: &str, text: &str) -> Result<(), Error> {
        self.wait(
            &format!("[{pd}] {text}"),
            Duration::from_secs(60),
            |ev| matches!(ev, Event::Output { pd: p, line, .. } if p == pd && line.contains(text)),
        )
    }

    /// Waits until `pd`'s copy of `generation` (or a later one) is ready.
    fn ready(&self, pd: &str, generation: u64) -> Result<(), Error> {
        self.wait(
            &format!("{pd} generation {generation} ready"),
            Duration::from_secs(10),
            |ev| matches!(ev, Event::Ready { pd: p, generation: g, .. } if p == pd && *g >= generation),
        )
    }
}

/// The driver's recovery policy (`policies/<driver>.toml` beside the system).
fn driver_policy(ws: &Workspace) -> Result<recovery_policy::Policy, Error> {
    let dir = ws.system.parent().unwrap_or(Path::new("."));
    let path = dir.join("policies").join(format!("{DRIVER}.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    recovery_policy::load::parse(&text).map_err(|e| format!("{}: {}", path.display(), e.join("; ")).into())
}

/// The policy's backoff, in words: a run's stalls depend on it.
fn backoff_note(p: &recovery_policy::Policy, fresh: bool) -> String {
    let ms = |ns: u64| ns / 1_000_000;
    let runs = if fresh {
        format!("each run with failures starts after a quiet {} ms", ms(p.window_ns))
    } else {
        "the runs follow each other (--short)".to_string()
    };
    format!(
        "{DRIVER}'s policy: restart at once, then back off {} ms doubling up to {} ms while restarts follow each other \
         within {} ms, unless the copy ran {} ms without failing (then at once again); {runs}",
        ms(p.backoff_first_ns),
        ms(p.backoff_max_ns),
        ms(p.window_ns),
        ms(p.stable_ns),
    )
}

/// Why the host kernel's network cannot be reached here, if it cannot.
fn unreachable() -> Option<String> {
    if let Err(why) = netns::available() {
        return Some(format!("{why} (the net device's TAP is put in a network namespace: root and `ip netns`)"));
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing (no TAP devices)".into());
    }
    None
}

/// `cargo xtask bench net` on the host kernel.
pub fn run(ws: &Workspace, plan: &Plan) -> Result<(), Error> {
    if let Some(why) = unreachable() {
        println!("SKIPPED: bench net: {why}");
        return Ok(());
    }
    let sd = ws.load_system()?;
    let interface =
        net_build::load_interface(&net_build::config_path(&ws.system)).map_err(|errors| errors.join("\n"))?;
    let gateway = interface.gateway.map(Ipv4Addr::from).ok_or("net.toml gives no gateway (the TAP's address)")?;
    let addr = SocketAddr::from((Ipv4Addr::from(interface.addr), HTTP_PORT));
    let policy = driver_policy(ws)?;
    let bin_dir = ws.build_host(&sd)?;
    let disk = ws.root.join("target").join("bench-net-disk.img");
    std::fs::File::create(&disk)?.set_len(16 << 20)?;
    let namespace = Namespace::create("rbench")?;
    let tap = format!("rbn{}", std::process::id());
    let devices =
        DeviceConfig { disk: Some(disk.clone()), console: ConsoleIo::Discard, net: NetIo::Tap(tap.clone()), mac: None };
    let (tx, rx) = mpsc::channel();
    let booted = Instant::now();
    let machine =
        Machine::boot_with(Config::new(sd, bin_dir, vec![tx], host_kernel::Scheduling::from_env()?), devices)?;
    let events = Events::collect(rx);
    let quiet = Duration::from_nanos(policy.window_ns) + Duration::from_millis(500);
    let result = measure(&machine, &events, &namespace, &tap, gateway, interface.prefix_len, addr, plan, quiet);
    let status = machine.shutdown()?;
    let log = ws.root.join(PLOTS).join(CONSOLE_LOG);
    events.write_log(booted, &log)?;
    let ns_name = namespace.name().to_string();
    drop(namespace);
    std::fs::remove_file(disk).ok();
    let (runs, hangs, rates, failed) = result?;
    let restarts = |pd: &str| status.iter().find(|s| s.name == pd).map_or(0, |s| s.restarts);
    let injected: usize = runs.iter().chain(&hangs).map(|r| r.injected.len()).sum();
    println!(
        "host kernel: the network server (net, smoltcp) over virtio_net on a TAP, http on {addr}, the clients in network namespace {ns_name}:"
    );
    println!("  {}", backoff_note(&policy, plan.fresh_backoff));
    report(&runs, &hangs, rates.as_ref(), &failed, true)?;
    println!(
        "  restarts: {DRIVER} {} ({injected} failures injected); {}",
        restarts(DRIVER),
        MUST_SURVIVE.map(|pd| format!("{pd} {}", restarts(pd))).join(", ")
    );
    plot(ws, "host kernel", "net-throughput.svg", &runs, &hangs)?;
    println!("  console, faults and restarts: {PLOTS}/{CONSOLE_LOG}");
    for pd in MUST_SURVIVE {
        if restarts(pd) != 0 {
            return Err(format!("{pd} restarted {} times: a driver's failure reached it", restarts(pd)).into());
        }
    }
    if !failed.is_empty() {
        return Err(format!("{} of the runs failed", failed.len()).into());
    }
    Ok(())
}

/// The runs without and with crashes, the runs with hangs, requests/s with 1
/// and 50 connections, and the runs that failed (why).
type Measured = (Vec<Run>, Vec<Run>, Option<(wrk::Rate, wrk::Rate)>, Vec<String>);

#[allow(clippy::too_many_arguments)]
fn measure(
    machine: &Machine,
    events: &Events,
    ns: &Namespace,
    tap: &str,
    gateway: Ipv4Addr,
    prefix_len: u8,
    addr: SocketAddr,
    plan: &Plan,
    quiet: Duration,
) -> Result<Measured, Error> {
    events.line("net", "virtio_net attached")?;
    events.line("http", "serving port")?;
    ns.move_link(tap)?;
    ns.configure(tap, gateway, prefix_len)?;
    warm_up(ns, addr)?;
    let body = client::pattern(plan.request_bytes);
    ns.run(|| client::download(addr, plan.settle, &body))?.map_err(|f| format!("settling: {}", f.error))?;
    let generation = || -> Result<u64, Error> {
        Ok(machine.status()?.iter().find(|s| s.name == DRIVER).map_or(0, |s| s.generation))
    };
    let mut g = generation()?;
    let (mut runs, mut hangs, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let mut schedule: Vec<(Direction, Option<Failures>, Duration)> = Vec::new();
    for direction in [Direction::Download, Direction::Upload] {
        for &(every, run_for) in &plan.runs {
            schedule.push((direction, every.map(|e| (e, InjectKind::Crash)), run_for));
        }
    }
    if plan.hangs > 0 {
        let run_for = plan.hang_every * plan.hangs as u32 + plan.hang_every / 2;
        schedule.push((Direction::Download, Some((plan.hang_every, InjectKind::Hang)), run_for));
    }
    let mut last_failure: Option<Instant> = None;
    for (direction, failures, run_for) in schedule {
        // RS's backoff grows while restarts follow each other within the
        // policy's window: each run with failures starts afresh.
        if let (Some(_), Some(last), true) = (failures, last_failure, plan.fresh_backoff) {
            std::thread::sleep((last + quiet).saturating_duration_since(Instant::now()));
        }
        if failures.is_some() {
            last_failure = Some(Instant::now() + run_for);
        }
        match one_run(machine, events, ns, addr, direction, run_for, failures, &body, &mut g) {
            Ok(run) if failures.is_some_and(|f| f.1 == InjectKind::Hang) => hangs.push(run),
            Ok(run) => runs.push(run),
            Err(e) => {
                println!("[bench net]   FAILED: {e}");
                failed.push(e.to_string());
                // The driver may be backing off: let it come back, and count afresh.
                std::thread::sleep(Duration::from_secs(2));
                g = generation()?;
            }
        }
    }
    let url = format!("http://{addr}{SMALL_GET}");
    let rates = wrk::one_and_fifty(|| ns.command("wrk"), &url, plan.rate_for)?;
    Ok((runs, hangs, rates, failed))
}

/// Until one small GET is answered (the TAP has just come up; ARP).
fn warm_up(ns: &Namespace, addr: SocketAddr) -> Result<(), Error> {
    let expected = client::pattern(64);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ns.run(|| client::download(addr, Duration::ZERO, &expected))? {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(format!("the system never answered: {}", e.error).into()),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// One client run, with a failure of the driver injected every so often; the
/// next failure waits until the driver's fresh copy is ready.
#[allow(clippy::too_many_arguments)]
fn one_run(
    machine: &Machine,
    events: &Events,
    ns: &Namespace,
    addr: SocketAddr,
    direction: Direction,
    run_for: Duration,
    failures: Option<(Duration, InjectKind)>,
    body: &[u8],
    generation: &mut u64,
) -> Result<Run, Error> {
    let what = match direction {
        Direction::Download => "download",
        Direction::Upload => "upload",
    };
    let label = failures.map_or("no failures".to_string(), |(e, k)| format!("{k} every {}", figures::secs(e)));
    let start = Instant::now();
    println!("[bench net] {what}, {label}, {}", figures::secs(run_for));
    std::thread::scope(|s| {
        let client = s.spawn(|| {
            ns.run(|| match direction {
                Direction::Download => client::download(addr, run_for, body),
                Direction::Upload => client::upload(addr, run_for, body),
            })
        });
        let mut injected = Vec::new();
        let mut failure = || -> Result<(), Error> {
            let Some((every, kind)) = failures else { return Ok(()) };
            for k in 1.. {
                let at = start + every * k;
                if at + Duration::from_millis(100) > start + run_for {
                    break;
                }
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                if client.is_finished() {
                    break;
                }
                events.ready(DRIVER, *generation)?;
                machine.inject(DRIVER, kind)?;
                injected.push(Instant::now());
                *generation += 1;
            }
            Ok(())
        };
        let injecting = failure();
        let trace = client.join().map_err(|_| "the client thread panicked")??;
        injecting?;
        let trace = trace.map_err(|e| format!("{what}, {label}: {}", e.error))?;
        let injected = injected.iter().map(|at| at.saturating_duration_since(trace.start)).collect();
        Ok(Run { direction, failures, trace, injected })
    })
}

/// The figures, as a table.
fn report(
    runs: &[Run],
    hangs: &[Run],
    rates: Option<&(wrk::Rate, wrk::Rate)>,
    failed: &[String],
    host: bool,
) -> Result<(), Error> {
    let mut at_1s = Vec::new();
    let mut crash_stalls = Vec::new();
    for direction in [Direction::Download, Direction::Upload] {
        let of: Vec<&Run> = runs.iter().filter(|r| r.direction == direction).collect();
        let Some(base) = of.iter().find(|r| r.failures.is_none()) else { continue };
        let bytes = base.trace.request_bytes;
        match direction {
            Direction::Download => println!("  TCP download, GET /bytes/{bytes} again and again, every byte checked:"),
            Direction::Upload => {
                println!("  TCP upload, POST /sink of {bytes} bytes again and again, length and SHA-256 checked:")
            }
        }
        println!(
            "    {:<28} {:>9} {:>10} {:>8}   {:>22}  {:>7}",
            "", "MB/s", "% no-fail", "MINIX 3", "stall median / max", "crashes"
        );
        for r in &of {
            let pct = 100.0 * r.trace.mb_per_s() / base.trace.mb_per_s();
            let stalls = r.stalls();
            crash_stalls.extend(&stalls);
            let every = r.failures.map(|f| f.0);
            if every == Some(Duration::from_secs(1)) {
                at_1s.push((direction, pct));
            }
            let stall = match figures::median_max(&stalls) {
                Some((m, x)) => format!("{} / {}", figures::ms(m), figures::ms(x)),
                None => format!("(longest gap {})", figures::ms(figures::longest_gap(&r.trace.points))),
            };
            println!(
                "    {:<28} {:>9.1} {:>9.1}% {:>8}   {:>22}  {:>7}",
                r.label(),
                r.trace.mb_per_s(),
                pct,
                every.and_then(figures::minix).map_or(String::new(), |m| format!("{m} %")),
                stall,
                r.injected.len()
            );
        }
    }
    let hang_stalls: Vec<Duration> = hangs.iter().flat_map(Run::stalls).collect();
    if let Some((m, x)) = figures::median_max(&hang_stalls) {
        println!(
            "  virtio_net hangs during a download (net complains of a driver that holds frames too long): stall median {} max {} ({} hangs, {:.1} MB/s)",
            figures::ms(m),
            figures::ms(x),
            hang_stalls.len(),
            hangs[0].trace.mb_per_s()
        );
    }
    if let Some((one, fifty)) = rates {
        println!(
            "  HTTP requests/s, GET {SMALL_GET} kept alive (wrk): 1 connection {:.0}/s (latency {}), 50 connections {:.0}/s (latency {})",
            one.per_s, one.latency, fifty.per_s, fifty.latency
        );
    }
    for e in failed {
        println!("  FAILED: {e}");
    }
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("  targets:");
    for (direction, pct) in at_1s {
        println!(
            "    {direction:?} at 1 crash/s >= 98 % of no-failure throughput: {pct:.1} % ({})",
            verdict(pct >= 98.0)
        );
    }
    if let Some((m, _)) = figures::median_max(&crash_stalls) {
        let target = if host { "" } else { " (the target is the host kernel's)" };
        println!(
            "    stall after a crash <= 20 ms median: {}{target} ({})",
            figures::ms(m),
            verdict(m <= Duration::from_millis(20))
        );
    }
    if let Some((_, x)) = figures::median_max(&hang_stalls) {
        println!(
            "    stall after a hang <= 100 ms: max {} ({})",
            figures::ms(x),
            verdict(x <= Duration::from_millis(100))
        );
    }
    Ok(())
}

/// The plot, one panel per run.
fn plot(ws: &Workspace, kernel: &str, file: &str, runs: &[Run], hangs: &[Run]) -> Result<(), Error> {
    let panels: Vec<plot::Panel> = runs
        .iter()
        .chain(hangs)
        .map(|r| plot::Panel {
            title: format!("{:?}, {} ({:.1} MB/s)", r.direction, r.label(), r.trace.mb_per_s()),
            series: figures::over_time(&r.trace.points, BIN),
            marks: r.injected.iter().map(Duration::as_secs_f64).collect(),
        })
        .collect();
    let path: PathBuf = ws.root.join(PLOTS).join(file);
    let caption =
        format!("{kernel}: TCP throughput through net, {} ms bins; red: virtio_net failures", BIN.as_millis());
    plot::throughput(&path, &caption, &panels)?;
    println!("  plot: {}", path.strip_prefix(&ws.root).unwrap_or(&path).display());
    Ok(())
}
