//! `cargo xtask bench net --target qemu`: the same figures on seL4/QEMU, through
//! QEMU's user networking (`hostfwd=tcp:127.0.0.1:PORT-:80`), the clients on
//! this machine's loopback.
//!
//! QEMU has no way in from outside to make a PD fail: the failures are a
//! schedule compiled into the PDs (`REINCARNATE_INJECT`, carried out by RS on
//! its clock), so one boot holds every run, each a window of one continuous
//! download or upload: without failures, then a crash every 1 s, then every
//! 4 s, then (download only) hangs. The 25 s case is left out (QEMU is slow
//! enough without it). Failures are placed on this machine's clock by the
//! arrival of RS's `rs: injecting` lines; RS's clock is tied to it by its
//! `@status ... at=` lines.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use microkit::InjectKind;
use microkit::status::StatusLine;

use super::client::{self, Trace};
use super::figures::{Direction, Run};
use super::{DRIVER, MUST_SURVIVE, SMALL_GET, report, wrk};
use crate::devices::DeviceArgs;
use crate::inject::Injection;
use crate::qemu::{self, Qemu};
use crate::sel4;
use crate::workspace::{Error, Workspace};

/// One window of a client's run, in s of RS's clock.
struct Window {
    /// Which client run (phase) it is part of.
    phase: usize,
    direction: Direction,
    from: f64,
    to: f64,
    failures: Option<(Duration, InjectKind)>,
}

/// The schedule: the windows, and the failures in them.
struct Schedule {
    windows: Vec<Window>,
    /// Each client run: which way, and until when (RS's clock, s).
    phases: Vec<(Direction, f64)>,
}

impl Schedule {
    /// `quiet`: the driver policy's window (s), waited out before a window
    /// with failures so that RS's backoff starts afresh in each (not in the
    /// short mode, whose figures are not for quoting).
    fn new(short: bool, quiet: f64) -> Schedule {
        use Direction::{Download, Upload};
        let crash = |every| Some((Duration::from_secs(every), InjectKind::Crash));
        let hang = Some((Duration::from_secs(2), InjectKind::Hang));
        let quiet = if short { 0.0 } else { quiet };
        // A hang on seL4 starves the PDs below the driver's priority until RS
        // sees the missed heartbeats: the hangs come last, in a client run of
        // their own, and not in the short mode (CI).
        let plan = if short {
            vec![(Download, 6.0, None), (Download, 2.0, crash(1)), (Upload, 3.0, None), (Upload, 2.0, crash(1))]
        } else {
            vec![
                (Download, 10.0, None),
                (Download, 4.0, crash(1)),
                (Download, 20.0, crash(4)),
                (Upload, 10.0, None),
                (Upload, 4.0, crash(1)),
                (Upload, 20.0, crash(4)),
                (Download, 6.0, hang),
            ]
        };
        let (mut windows, mut t, mut failures_end) = (Vec::new(), 0.0, None);
        let mut phases: Vec<(Direction, f64)> = Vec::new();
        let mut last_key = None;
        for (direction, len, failures) in plan {
            if let (Some(_), Some(end)) = (failures, failures_end) {
                t = f64::max(t, end + quiet);
            }
            let key = (direction, failures.is_some_and(|f: (Duration, InjectKind)| f.1 == InjectKind::Hang));
            if last_key != Some(key) {
                phases.push((direction, t + len));
                last_key = Some(key);
            }
            let phase = phases.len() - 1;
            phases[phase].1 = t + len;
            windows.push(Window { phase, direction, from: t, to: t + len, failures });
            t += len;
            if failures.is_some() {
                failures_end = Some(t);
            }
        }
        Schedule { windows, phases }
    }

    /// Every failure: at the start of its window, then `every` apart, the last
    /// at least 0.5 s before the window's end... (a hang's window starts 0.5 s
    /// before its first failure, for its stall to be seen whole).
    fn injections(&self) -> Vec<Injection> {
        let mut out = Vec::new();
        for w in &self.windows {
            let Some((every, kind)) = w.failures else { continue };
            let mut at = if kind == InjectKind::Hang { w.from + 0.5 } else { w.from };
            while at + 0.5 <= w.to {
                out.push(Injection { pd: DRIVER.into(), kind, at: Duration::from_secs_f64(at) });
                at += every.as_secs_f64();
            }
        }
        out
    }
}

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Whether `GET /bytes/64` on a fresh connection is answered within 1 s.
fn probe(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let second = Duration::from_secs(1);
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, second) else { return false };
    let _ = s.set_read_timeout(Some(second));
    let request = format!("GET {SMALL_GET} HTTP/1.1\r\nHost: reincarnate\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    s.write_all(request.as_bytes()).is_ok() && s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// The part of `trace` within `from..to` (since its start) as a trace of its own.
fn slice(trace: &Trace, from: Duration, to: Duration) -> Trace {
    let before = trace.points.iter().take_while(|p| p.0 < from).last().map_or(0, |p| p.1);
    let points: Vec<(Duration, u64)> =
        trace.points.iter().filter(|p| p.0 >= from && p.0 < to).map(|p| (p.0 - from, p.1 - before)).collect();
    let moved = points.last().map_or(0, |p| p.1);
    Trace {
        start: trace.start + from,
        points,
        verified: moved,
        elapsed: to.saturating_sub(from),
        requests: 1,
        request_bytes: trace.request_bytes,
    }
}

/// `cargo xtask bench net --target qemu`.
pub fn run_qemu(ws: &Workspace, short: bool) -> Result<(), Error> {
    sel4::require_sdk("cargo xtask bench net --target qemu")?;
    let policy = super::driver_policy(ws)?;
    let schedule = Schedule::new(short, policy.window_ns as f64 / 1e9 + 0.5);
    let sd = ws.load_system()?;
    let config = sel4::KernelConfig::Debug;
    let injections = schedule.injections();
    let image = sel4::image(ws, &sd, &sel4::Options { config, inject: injections.clone() })?;
    let http_port = free_port()?;
    let udp_port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
    let disk = ws.root.join("target").join("bench-net-disk-qemu.img");
    std::fs::File::create(&disk)?.set_len(16 << 20)?;
    let devices = DeviceArgs { disk: Some(disk.clone()), http_port, host_port: udp_port, ..Default::default() };
    devices.write_qemu_args(&ws.root, &sd, &image)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, http_port));
    println!("[bench net] QEMU: {} failures of {DRIVER} compiled in; http at {addr}", injections.len());
    let spawned = Instant::now();
    let mut qemu = Qemu::spawn(&image, false)?;
    let result = measure(&mut qemu, spawned, addr, &schedule, short);
    qemu.stop();
    std::fs::remove_file(disk).ok();
    qemu.save_console(&ws.root.join(super::PLOTS).join("net-console-qemu.log"))?;
    let (runs, hangs, rates, failed) = match result {
        Ok(r) => r,
        Err(e) => return Err(format!("{e}\nthe console:\n{}", qemu.console_text()).into()),
    };
    // RS's view of the restarts.
    let restarts = |pd: &str| {
        qemu.console
            .iter()
            .filter_map(|l| StatusLine::parse(&l.text).and_then(Result::ok))
            .filter(|s| s.pd == pd)
            .map(|s| s.restarts)
            .max()
            .unwrap_or(0)
    };
    let driver_restarts = restarts(DRIVER);
    let survivors: Vec<(&str, u64)> = MUST_SURVIVE.iter().map(|pd| (*pd, restarts(pd))).collect();
    println!(
        "seL4 on QEMU ({} config, {}): net and http through QEMU's user networking, {addr} -> port 80;\n  \
         QEMU software emulation (TCG) on this machine, not hardware; failures from a compiled-in schedule:",
        config.name(),
        qemu::version().unwrap_or_else(|| qemu::QEMU.to_string())
    );
    println!("  {}", super::backoff_note(&policy, !short));
    report(&runs, &hangs, rates.as_ref(), &failed, false)?;
    println!(
        "  restarts (RS's @status lines): {DRIVER} {driver_restarts} ({} failures scheduled); {}",
        injections.len(),
        survivors.iter().map(|(pd, n)| format!("{pd} {n}")).collect::<Vec<_>>().join(", ")
    );
    super::plot(ws, "seL4 on QEMU", "net-throughput-qemu.svg", &runs, &hangs)?;
    println!("  console: {}/net-console-qemu.log", super::PLOTS);
    if let Some((pd, n)) = survivors.iter().find(|(_, n)| *n != 0) {
        return Err(format!("{pd} restarted {n} times: a driver's failure reached it").into());
    }
    if !failed.is_empty() {
        return Err(format!("{} of the client runs failed", failed.len()).into());
    }
    Ok(())
}

type Measured = (Vec<Run>, Vec<Run>, Option<(wrk::Rate, wrk::Rate)>, Vec<String>);

fn measure(
    qemu: &mut Qemu,
    spawned: Instant,
    addr: SocketAddr,
    schedule: &Schedule,
    short: bool,
) -> Result<Measured, Error> {
    // Serving: http's up line on the console (RS's @status, printed whole
    // at RS's priority), then the first small GET answered through hostfwd,
    // each try on a fresh connection given 1 s. A connection made before the
    // guest listened waited for slirp's SYN retransmission, seconds.
    let http_up = |l: &crate::qemu::Line| {
        StatusLine::parse(&l.text)
            .and_then(Result::ok)
            .is_some_and(|s| s.pd == "http" && s.state == microkit::status::ComponentState::Up)
    };
    let limit = spawned.elapsed() + Duration::from_secs(300);
    if !qemu.console.iter().any(&http_up) && qemu.run_until(limit, &http_up) != qemu::Outcome::Done {
        return Err("http never came up on the console".into());
    }
    let serving = loop {
        qemu.run_until(spawned.elapsed() + Duration::from_millis(50), |_| false);
        if probe(addr) {
            break Instant::now();
        }
        if spawned.elapsed() > Duration::from_secs(300) {
            return Err("http never answered through QEMU's hostfwd".into());
        }
    };
    println!(
        "[bench net] QEMU: http answered through hostfwd {:.2} s after QEMU started",
        serving.duration_since(spawned).as_secs_f64()
    );
    // RS's clock: its first @status lines come as it starts; http's "up" line says
    // how far RS's clock was when it printed it, and its arrival when that was
    // here. (Not the first answer through hostfwd: that came seconds after http
    // was up, when slirp's first connection to the guest waited for a
    // retransmission, and shifted every window off its failures.)
    let status: Vec<(String, u64, Duration)> = qemu
        .console
        .iter()
        .filter_map(|l| Some((StatusLine::parse(&l.text)?.ok()?, l.at)))
        .filter_map(|(s, arrived)| Some((s.pd.to_string(), s.at?, arrived)))
        .collect();
    let rs_start = status.iter().map(|s| s.1).min();
    let http_up = status.iter().filter(|s| s.0 == "http").max_by_key(|s| s.1);
    let (up_rs, up_here) = match (rs_start, http_up) {
        (Some(a), Some(&(_, b, arrived))) => (Duration::from_nanos(b.saturating_sub(a)), spawned + arrived),
        _ => (Duration::ZERO, serving),
    };
    // RS's `t` s as an instant of this machine.
    let at = |t: f64| (up_here + Duration::from_secs_f64(t)).checked_sub(up_rs).unwrap_or(up_here);
    let first_failure = schedule.injections().first().map_or(0.0, |i| i.at.as_secs_f64());
    if at(first_failure) < Instant::now() + Duration::from_secs(1) {
        return Err("the system served too late for its compiled-in schedule".into());
    }
    let body = client::pattern(1 << 20);
    let mut traces = Vec::new();
    let mut failed = Vec::new();
    for &(direction, until) in &schedule.phases {
        let run_for = at(until).saturating_duration_since(Instant::now());
        let limit = (at(until) + Duration::from_secs(30)).saturating_duration_since(spawned);
        let trace = std::thread::scope(|s| {
            let client = s.spawn(|| match direction {
                Direction::Download => client::download(addr, run_for, &body),
                Direction::Upload => client::upload(addr, run_for, &body),
            });
            // The console meanwhile (RS's injection lines, timed on arrival).
            while !client.is_finished() && spawned.elapsed() < limit {
                qemu.run_until(spawned.elapsed() + Duration::from_millis(100), |_| false);
            }
            client.join().map_err(|_| "the client thread panicked")
        })?;
        match trace {
            Ok(t) => traces.push((t, None)),
            Err(f) => {
                failed.push(format!("{direction:?} until {until} s (RS's clock): {}", f.error));
                // Its windows count up to the last byte that moved.
                let cut = f.trace.points.last().map_or(Duration::ZERO, |p| p.0);
                traces.push((f.trace, Some(cut)));
                // Whatever broke, let the system settle before the next run.
                std::thread::sleep(at(until).saturating_duration_since(Instant::now()));
            }
        }
    }
    let injected: Vec<Instant> =
        qemu.console.iter().filter(|l| l.text.contains("rs: injecting")).map(|l| spawned + l.at).collect();
    let (mut runs, mut hangs) = (Vec::new(), Vec::new());
    for w in &schedule.windows {
        let Some((trace, cut)) = traces.get(w.phase) else { continue };
        // RS's clock is placed here within tens of ms, and a window with
        // failures starts with one: the failures seen decide the edges (a
        // window without any ends at the next one seen; one with failures
        // starts at its first, if that came a little early).
        let (mut from, mut to) = (at(w.from), at(w.to));
        let next_failure = |after: Instant| injected.iter().copied().filter(|i| *i >= after).min();
        match w.failures {
            None => to = next_failure(from).map_or(to, |i| i.min(to)),
            Some(_) => from = next_failure(from - Duration::from_millis(500)).map_or(from, |i| i.min(from)),
        }
        let from = from.max(trace.start).saturating_duration_since(trace.start);
        let to = to.saturating_duration_since(trace.start);
        if cut.is_some_and(|c| to > c) {
            continue;
        }
        let part = slice(trace, from, to);
        let injected = injected
            .iter()
            .filter(|i| **i >= part.start && **i < part.start + part.elapsed)
            .map(|i| i.saturating_duration_since(part.start))
            .collect();
        let run = Run { direction: w.direction, failures: w.failures, trace: part, injected };
        if w.failures.is_some_and(|f| f.1 == InjectKind::Hang) { hangs.push(run) } else { runs.push(run) }
    }
    let rate_for = Duration::from_secs(if short { 1 } else { 3 });
    let url = format!("http://{addr}{SMALL_GET}");
    let rates = wrk::one_and_fifty(|| std::process::Command::new("wrk"), &url, rate_for)?;
    Ok((runs, hangs, rates, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_fits_its_windows() {
        for short in [false, true] {
            let s = Schedule::new(short, 10.5);
            let inj = s.injections();
            for i in &inj {
                let t = i.at.as_secs_f64();
                let w = s.windows.iter().find(|w| w.from <= t && t < w.to).expect("in a window");
                assert_eq!(w.failures.map(|f| f.1), Some(i.kind), "{t}");
            }
            let upload_at = s.windows.iter().find(|w| w.direction == Direction::Upload).unwrap().from;
            let crashes = inj.iter().filter(|i| i.at.as_secs_f64() < upload_at && i.kind == InjectKind::Crash);
            assert!(crashes.count() >= if short { 2 } else { 8 });
            for w in &s.windows {
                let (direction, until) = s.phases[w.phase];
                assert!(direction == w.direction && w.to <= until);
            }
            assert_eq!(s.phases.len(), if short { 2 } else { 3 }, "download, upload, and the hangs apart");
            for pair in s.windows.windows(2) {
                assert!(pair[0].to <= pair[1].from, "windows do not overlap");
            }
            if !short {
                // A quiet window before each window with failures but the first.
                let failing: Vec<&Window> = s.windows.iter().filter(|w| w.failures.is_some()).collect();
                assert!(failing.windows(2).all(|p| p[1].from - p[0].to >= 10.5));
            }
        }
    }

    #[test]
    fn a_slice_is_rebased() {
        let ms = Duration::from_millis;
        let t = Trace {
            start: Instant::now(),
            points: vec![(ms(10), 100), (ms(20), 200), (ms(30), 300)],
            verified: 300,
            elapsed: ms(30),
            requests: 1,
            request_bytes: 300,
        };
        let s = slice(&t, ms(15), ms(35));
        assert_eq!(s.points, vec![(ms(5), 100), (ms(15), 200)]);
        assert_eq!((s.verified, s.elapsed), (200, ms(20)));
    }
}
