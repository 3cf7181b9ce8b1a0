//! `cargo xtask bench fs`: files through the file system server on the host
//! kernel, timed inside `files` (apps/files).
//!
//! * Rounds of small files: each writes 11 files of 1 B to 3 MiB (4.6 MB:
//!   create, truncate, write in 32 KiB calls, fsync, close), then reads each
//!   back and compares. Rounds after the first are measured, in one run
//!   without failures and in one with a virtio_blk crash every 1 s.
//! * Sequential passes, in the run with crashes, after its rounds: one
//!   64 MiB file written front to back in 64 KiB calls, fsynced, read back
//!   and compared (`files::SEQUENTIAL` gives the size and the passes). The
//!   passes take turns without and with crashes, so both kinds come from
//!   one run: two runs of the same code differ here by more than a crash a
//!   second costs.
//! * What a crash costs, from each crash to vfs's "serving again".
//! * Beside them the raw driver: `blk_bench` (drivers/blk-bench) in vfs's
//!   place, as many bytes through the same queues in vfs's request shape
//!   (4 KiB, every buffer in flight), no file system, on a blank disk.
//!
//! The volume is a fresh 512 MiB FAT32 image (`mkfs.fat`: 4 KiB clusters)
//! each run. `--short` runs the same with a 4 MiB file and one pass of each
//! kind: only a check that it still works.
//!
//! `--target qemu`: the same on seL4, the crashes typed into the shell on
//! the console (`inject virtio_blk crash`, which RS carries out), the figures
//! read from the debug console. A line that another PD's line cut there is
//! left out, and said so.

use std::time::{Duration, Instant};

use host_kernel::{Config, DeviceConfig, Machine, NetIo};
use microkit::InjectKind;

use crate::console::Console;
use crate::workspace::{Error, Workspace};

/// One round's figures as `files` prints them.
#[derive(Clone, Copy, Debug, Default)]
struct Round {
    bytes: f64,
    write_ns: f64,
    read_ns: f64,
    fsync_mean_ns: f64,
    fsync_max_ns: f64,
}

/// The number in `line` right after `after`.
fn num(line: &str, after: &str) -> Option<f64> {
    let at = line.find(after)? + after.len();
    line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The sequential pass as `files` prints it.
#[derive(Clone, Copy, Debug, Default)]
struct Sequential {
    bytes: f64,
    /// Bytes a call.
    call: f64,
    write_ns: f64,
    read_ns: f64,
    fsync_ns: f64,
}

/// The median of each figure of `passes` (each on its own).
fn median_of(passes: &[Sequential]) -> Sequential {
    let med = |f: fn(&Sequential) -> f64| median(passes.iter().map(f).collect());
    Sequential {
        bytes: med(|s| s.bytes),
        call: med(|s| s.call),
        write_ns: med(|s| s.write_ns),
        read_ns: med(|s| s.read_ns),
        fsync_ns: med(|s| s.fsync_ns),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn parse_sequential(line: &str) -> Option<Sequential> {
    Some(Sequential {
        bytes: num(line, ".bin (")?,
        call: num(line, " bytes, ")?,
        write_ns: num(line, "; write ")?,
        read_ns: num(line, " ns, read ")?,
        fsync_ns: num(line, " ns, fsync ")?,
    })
}

fn parse(line: &str) -> Option<Round> {
    let num = |after: &str| num(line, after);
    Some(Round {
        bytes: num("files (")?,
        write_ns: num("; write ")?,
        read_ns: num(" ns, read ")?,
        fsync_mean_ns: num("fsync mean ")?,
        fsync_max_ns: num(" ns max ")?,
    })
}

/// The size of the sequential pass's file: 64 MiB (`--short`: 4 MiB).
fn sequential_bytes(short: bool) -> u64 {
    if short { 4 << 20 } else { 64 << 20 }
}

/// Sequential passes of each kind the run with crashes makes, taking turns
/// (their medians are reported): 3 (`--short`: 1).
fn sequential_passes(short: bool) -> usize {
    if short { 1 } else { 3 }
}

/// The benchmark's volume: 512 MiB, which mkfs.fat (like Windows) formats
/// with 4 KiB clusters. (`cargo xtask run`'s 64 MiB image has 512 B
/// clusters, the most FAT32 allows at that size: the file system then walks
/// the FAT eight times per 4 KiB.)
const IMAGE_BYTES: u64 = 512 << 20;

/// A fresh FAT32 image at `disk`; with `passes`, `files::SEQUENTIAL` asks
/// for that many sequential passes.
fn make_image(disk: &std::path::Path, short: bool, passes: usize) -> Result<(), Error> {
    let _ = std::fs::remove_file(disk);
    let marker = files::SEQUENTIAL.trim_start_matches('/');
    let text = format!("{} {passes}\n", sequential_bytes(short));
    let extra: &[(&str, &str)] = if passes > 0 { &[(marker, &text)] } else { &[] };
    crate::devices::make_fat_image_sized(disk, IMAGE_BYTES, extra)?;
    Ok(())
}

/// What one run measured.
struct Run {
    rounds: Vec<Round>,
    /// The run with crashes: its sequential passes without and with crashes.
    sequential: Option<(Vec<Sequential>, Vec<Sequential>)>,
    crashes: u64,
    /// For each crash: from the crash to vfs's "serving again" (the fresh
    /// driver completed a request).
    recoveries: Vec<Duration>,
}

/// The line vfs's queue client prints when a fresh virtio_blk completed its
/// first request.
const SERVING_AGAIN: &str = "vfs on virtio_blk: serving again";

/// For each crash time, the time to the first "serving again" after it.
fn recoveries<T: Copy + PartialOrd + std::ops::Sub<Output = Duration>>(crashes: &[T], served: &[T]) -> Vec<Duration> {
    crashes.iter().filter_map(|&c| served.iter().find(|&&s| s >= c).map(|&s| s - c)).collect()
}

/// What `files` printed so far, and so when crashes are on: in the run with
/// crashes, through the rounds and in every odd sequential pass (the even
/// passes, in between, are the same run's figures without failures: runs
/// differ by more than a crash a second costs on this VM).
#[derive(Default)]
struct Progress {
    mounted: bool,
    rounds_seen: usize,
    rounds: Vec<Round>,
    passes: Vec<Sequential>,
    /// Round lines another PD's output cut (QEMU's one console).
    cut: usize,
    error: Option<String>,
}

impl Progress {
    /// Takes a console line (`files: ...` or vfs's mount line).
    fn take(&mut self, line: &str) {
        if line.contains("vfs: FAT volume mounted") {
            self.mounted = true;
        }
        let Some(at) = line.find("files: ") else { return };
        let text = &line[at..];
        if text.contains("ERROR") {
            self.error.get_or_insert_with(|| text.to_string());
        } else if text.starts_with("files: round ") {
            self.rounds_seen += 1;
            match parse(text) {
                Some(r) if !text.starts_with("files: round 0:") => self.rounds.push(r),
                Some(_) => {}
                None => self.cut += 1,
            }
        } else if text.starts_with("files: sequential: pass") {
            match parse_sequential(text) {
                Some(p) => self.passes.push(p),
                None => self.cut += 1,
            }
        }
    }

    fn rounds_done(&self) -> bool {
        self.rounds_seen >= files::ROUNDS as usize
    }

    fn crashing(&self) -> bool {
        self.mounted && (!self.rounds_done() || (self.passes.len() + self.cut) % 2 == 1)
    }

    fn finished(&self, passes: usize) -> bool {
        self.error.is_some() || (self.rounds_done() && self.passes.len() + self.cut >= passes)
    }

    /// The run's figures: the even passes are without failures, the odd ones
    /// with crashes.
    fn into_run(self, crashes: u64, recoveries: Vec<Duration>) -> Result<Run, Error> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        let pick = |odd: usize| -> Vec<Sequential> {
            self.passes.iter().enumerate().filter(|(i, _)| i % 2 == odd).map(|(_, p)| *p).collect()
        };
        let (even, odd) = (pick(0), pick(1));
        let sequential = (!even.is_empty() && !odd.is_empty()).then_some((even, odd));
        Ok(Run { rounds: self.rounds, sequential, crashes, recoveries })
    }
}

/// Boots the system on a fresh image, and runs `files`'s rounds; `crashes`:
/// with a virtio_blk crash every 1 s through them, then sequential passes
/// taking turns without and with crashes.
fn run_once(ws: &Workspace, crashes: bool, short: bool) -> Result<Run, Error> {
    let system = ws.load_system()?;
    let bin_dir = ws.build_host(&system)?;
    let disk = ws.root.join("target").join("bench-fs.img");
    let passes = if crashes { 2 * sequential_passes(short) } else { 0 };
    make_image(&disk, short, passes)?;
    let devices = DeviceConfig { disk: Some(disk.clone()), net: NetIo::Discard, ..Default::default() };
    let (tx, rx) = std::sync::mpsc::channel();
    let machine =
        Machine::boot_with(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::from_env()?), devices)?;
    let mut console = Console::new(rx);
    console.wait("vfs", "FAT volume mounted")?;
    let mut progress = Progress { mounted: true, ..Progress::default() };
    let mut crashed_at = Vec::new();
    let mut next_crash = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !progress.finished(passes) {
        if Instant::now() > deadline {
            return Err("files did not finish in 300 s".into());
        }
        if crashes && progress.crashing() {
            let at = *next_crash.get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
            if Instant::now() >= at {
                crashed_at.push(Instant::now());
                machine.inject("virtio_blk", InjectKind::Crash)?;
                next_crash = Some(at + Duration::from_secs(1));
            }
        } else {
            next_crash = None;
        }
        if let Some((line, _)) = console.wait_for("files", "", Duration::from_millis(20))? {
            progress.take(&format!("files: {}", line.trim_start_matches("files: ")));
        }
    }
    let mut served = Vec::new();
    while let Some((_, at)) = console.wait_for("vfs", SERVING_AGAIN, Duration::ZERO)? {
        served.push(at);
    }
    machine.shutdown()?;
    let _ = std::fs::remove_file(&disk);
    let recoveries = recoveries(&crashed_at, &served);
    progress.into_run(crashed_at.len() as u64, recoveries)
}

/// The raw driver's sweep (`blk_bench` in vfs's place, see
/// drivers/blk-bench) as it prints it.
#[derive(Clone, Copy, Debug, Default)]
struct Raw {
    bytes: f64,
    write_ns: f64,
    read_ns: f64,
}

/// The median of each figure of the raw sweeps.
fn median_raw(passes: &[Raw]) -> Raw {
    let med = |f: fn(&Raw) -> f64| median(passes.iter().map(f).collect());
    Raw { bytes: med(|r| r.bytes), write_ns: med(|r| r.write_ns), read_ns: med(|r| r.read_ns) }
}

fn parse_raw(line: &str) -> Option<Raw> {
    Some(Raw {
        bytes: num(line, "read back ")?,
        write_ns: num(line, "; write ")?,
        read_ns: num(line, " ns (with the flush), read ")?,
    })
}

/// A blank disk of twice the sequential pass (the sweep writes and reads
/// half the disk: as many bytes as vfs's file).
fn make_blank(disk: &std::path::Path, short: bool) -> Result<(), Error> {
    let _ = std::fs::remove_file(disk);
    std::fs::File::create(disk)?.set_len(2 * sequential_bytes(short))?;
    Ok(())
}

/// Boots the system with blk_bench in vfs's place on a blank disk and returns
/// its sweep.
fn raw_once(ws: &Workspace, short: bool) -> Result<Raw, Error> {
    let (_, system) = crate::stand_in::system(ws, "vfs", "blk_bench")?;
    let bin_dir = ws.build_host(&system)?;
    let disk = ws.root.join("target").join("bench-blk.img");
    make_blank(&disk, short)?;
    let devices = DeviceConfig { disk: Some(disk.clone()), net: NetIo::Discard, ..Default::default() };
    let (tx, rx) = std::sync::mpsc::channel();
    let machine =
        Machine::boot_with(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::from_env()?), devices)?;
    let mut console = Console::new(rx);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut passes = Vec::new();
    while passes.len() < blk_bench::PASSES as usize {
        let text = format!("blk_bench: raw: pass {}:", passes.len());
        if let Some((line, _)) = console.wait_for("vfs", &text, Duration::from_millis(50))? {
            passes.push(parse_raw(&line).ok_or_else(|| format!("cannot read {line:?}"))?);
        }
        if let Some((l, _)) = console.wait_for("vfs", "blk_bench: ERROR", Duration::ZERO)? {
            return Err(l.into());
        }
        if Instant::now() > deadline {
            return Err("blk_bench did not finish its sweeps in 120 s".into());
        }
    }
    machine.shutdown()?;
    let _ = std::fs::remove_file(&disk);
    Ok(median_raw(&passes))
}

/// [`raw_once`] on seL4 under QEMU.
fn raw_qemu(ws: &Workspace, short: bool) -> Result<Raw, Error> {
    use crate::sel4;
    let (file, sd) = crate::stand_in::system(ws, "vfs", "blk_bench")?;
    let image =
        sel4::image_of(ws, &file, &sd, &sel4::Options { config: sel4::KernelConfig::Debug, inject: Vec::new() })?;
    let disk = ws.root.join("target").join("bench-blk-qemu.img");
    make_blank(&disk, short)?;
    let devices = crate::devices::DeviceArgs {
        disk: Some(disk.clone()),
        console: "none".into(),
        no_net: true,
        ..Default::default()
    };
    devices.write_qemu_args(&ws.root, &sd, &image)?;
    let mut qemu = crate::qemu::Qemu::spawn(&image, false)?;
    let last = format!("blk_bench: raw: pass {}:", blk_bench::PASSES - 1);
    let outcome =
        qemu.run_until(Duration::from_secs(300), |l| l.text.contains(&last) || l.text.contains("blk_bench: ERROR"));
    qemu.stop();
    let _ = std::fs::remove_file(&disk);
    qemu.save_console(&ws.root.join(crate::bench_net::PLOTS).join("fs-console-qemu-raw.log"))?;
    if outcome != crate::qemu::Outcome::Done {
        return Err(format!("blk_bench did not finish ({outcome:?}); the console:\n{}", qemu.console_text()).into());
    }
    let passes: Vec<Raw> = qemu
        .console
        .iter()
        .filter_map(|l| l.text.contains("blk_bench: raw: pass").then(|| parse_raw(&l.text)).flatten())
        .collect();
    if passes.is_empty() {
        return Err(format!("blk_bench's sweeps could not be read; the console:\n{}", qemu.console_text()).into());
    }
    Ok(median_raw(&passes))
}

/// [`run_once`] on seL4 under QEMU: the crashes typed into the shell on the
/// console (`inject virtio_blk crash`, which RS carries out), the figures
/// read from the debug console. Also returns the lines of `files` that
/// another PD's output cut there.
fn qemu_once(ws: &Workspace, crashes: bool, short: bool) -> Result<(Run, usize), Error> {
    use crate::sel4;
    use std::io::{Read, Write};
    let sd = ws.load_system()?;
    let image = sel4::image(ws, &sd, &sel4::Options { config: sel4::KernelConfig::Debug, inject: Vec::new() })?;
    let disk = ws.root.join("target").join("bench-fs-qemu.img");
    let passes = if crashes { 2 * sequential_passes(short) } else { 0 };
    make_image(&disk, short, passes)?;
    let devices = crate::devices::DeviceArgs { disk: Some(disk.clone()), no_net: true, ..Default::default() };
    devices.write_qemu_args(&ws.root, &sd, &image)?;
    let mut qemu = crate::qemu::Qemu::spawn(&image, false)?;
    let socket = ws.root.join("target").join("qemu-console.sock");
    let mut shell = None;
    let mut progress = Progress::default();
    let mut next_crash = None;
    let limit = Duration::from_secs(900);
    let outcome = loop {
        let until = (qemu.elapsed() + Duration::from_millis(20)).min(limit);
        match qemu.run_until(until, |l| {
            progress.take(&l.text);
            progress.finished(passes)
        }) {
            crate::qemu::Outcome::TimedOut if qemu.elapsed() < limit => {}
            other => break other,
        }
        if crashes && shell.is_none() {
            shell = std::os::unix::net::UnixStream::connect(&socket).ok();
            if let Some(s) = &shell {
                s.set_nonblocking(true)?;
            }
        }
        if let Some(s) = shell.as_mut() {
            // What the shell answers is not needed: drained so it never blocks.
            let mut sink = [0u8; 4096];
            while s.read(&mut sink).is_ok_and(|n| n > 0) {}
            if progress.crashing() {
                let at = *next_crash.get_or_insert_with(|| qemu.elapsed() + Duration::from_secs(1));
                if qemu.elapsed() >= at {
                    s.write_all(b"inject virtio_blk crash\r")?;
                    next_crash = Some(at + Duration::from_secs(1));
                }
            } else {
                next_crash = None;
            }
        }
    };
    qemu.stop();
    let _ = std::fs::remove_file(&disk);
    let name = if crashes { "fs-console-qemu-crashes.log" } else { "fs-console-qemu.log" };
    qemu.save_console(&ws.root.join(crate::bench_net::PLOTS).join(name))?;
    if outcome != crate::qemu::Outcome::Done {
        return Err(format!("files did not finish ({outcome:?}); the console:\n{}", qemu.console_text()).into());
    }
    let cut = progress.cut;
    let at =
        |text: &str| -> Vec<Duration> { qemu.console.iter().filter(|l| l.text.contains(text)).map(|l| l.at).collect() };
    let crashed_at = at("rs: injecting crash into virtio_blk");
    let recoveries = recoveries(&crashed_at, &at(SERVING_AGAIN));
    let run = progress
        .into_run(crashed_at.len() as u64, recoveries)
        .map_err(|e| format!("{e}\nthe console:\n{}", qemu.console_text()))?;
    if run.rounds.is_empty() {
        return Err(format!("no round of files could be read; the console:\n{}", qemu.console_text()).into());
    }
    Ok((run, cut))
}

/// `cargo xtask bench fs --target qemu`.
pub fn run_qemu(ws: &Workspace, short: bool) -> Result<(), Error> {
    crate::sel4::require_sdk("cargo xtask bench fs --target qemu")?;
    let raw = raw_qemu(ws, short)?;
    let (clean, cut0) = qemu_once(ws, false, short)?;
    let (crashed, cut1) = qemu_once(ws, true, short)?;
    let title = format!(
        "seL4 on QEMU (debug config, {}; software emulation, not hardware)",
        crate::qemu::version().unwrap_or_else(|| crate::qemu::QEMU.to_string())
    );
    report(ws, &title, "fs-qemu.svg", short, &raw, &clean, &crashed)?;
    println!("  consoles: target/bench/fs-console-qemu-raw.log, fs-console-qemu.log, fs-console-qemu-crashes.log");
    if cut0 + cut1 > 0 {
        println!("  ({} round lines cut by other PDs' output on the debug console were left out)", cut0 + cut1);
    }
    Ok(())
}

fn summary(rounds: &[Round]) -> Round {
    let n = rounds.len().max(1) as f64;
    let mut s = Round::default();
    for r in rounds {
        s.bytes += r.bytes;
        s.write_ns += r.write_ns;
        s.read_ns += r.read_ns;
        s.fsync_mean_ns += r.fsync_mean_ns / n;
        s.fsync_max_ns = s.fsync_max_ns.max(r.fsync_max_ns);
    }
    s
}

pub fn run(ws: &Workspace, short: bool) -> Result<(), Error> {
    let raw = raw_once(ws, short)?;
    let clean = run_once(ws, false, short)?;
    let crashed = run_once(ws, true, short)?;
    report(ws, "host kernel", "fs.svg", short, &raw, &clean, &crashed)
}

/// Prints the figures of `clean` and `crashed` rounds and plots them.
fn report(
    ws: &Workspace,
    kernel: &str,
    plot: &str,
    short: bool,
    raw: &Raw,
    clean_run: &Run,
    crashed_run: &Run,
) -> Result<(), Error> {
    let (clean, crashed) = (&clean_run.rounds[..], &crashed_run.rounds[..]);
    let (c, k) = (summary(clean), summary(crashed));
    let files = files::FILES.len() as f64;
    let crashes = crashed_run.crashes;
    let mbs = |bytes: f64, ns: f64| bytes / (ns / 1e9) / 1e6;
    let pct = |a: f64, b: f64| if b > 0.0 { 100.0 * a / b } else { 0.0 };
    let (p0, p1) = crashed_run.sequential.as_ref().ok_or("the run with crashes made no sequential passes")?;
    let (s0, s1) = (&median_of(p0), &median_of(p1));
    println!(
        "{kernel}, one {} MiB file through vfs (a 512 MiB FAT32 volume, 4 KiB clusters, on virtio_blk), written front to back in {} KiB calls, fsync, read back; the median of {} passes of each kind, taking turns in one run{}:",
        s0.bytes as u64 >> 20,
        s0.call as u64 >> 10,
        sequential_passes(short),
        if short { " (--short: figures not worth quoting)" } else { "" }
    );
    let (w0, w1) = (mbs(s0.bytes, s0.write_ns), mbs(s1.bytes, s1.write_ns));
    let (r0, r1) = (mbs(s0.bytes, s0.read_ns), mbs(s1.bytes, s1.read_ns));
    println!(
        "  sequential write (with the fsync): {w0:.1} MB/s; with a virtio_blk crash every 1 s: {w1:.1} MB/s ({:.0} %)",
        pct(w1, w0)
    );
    println!(
        "  sequential read: {r0:.1} MB/s; with crashes: {r1:.1} MB/s ({:.0} %) (the end of the file, up to vfs's clean cache of {} MiB, may still be cached)",
        pct(r1, r0),
        (vfs::Limits::default().clean * vfs::port::SECTOR) >> 20
    );
    let (rw, rr) = (mbs(raw.bytes, raw.write_ns), mbs(raw.bytes, raw.read_ns));
    println!(
        "  the raw driver beside it (blk_bench in vfs's place: the same {} MiB through the queues in 4 KiB requests, no file system; the median of {} sweeps): write {rw:.1} MB/s, read {rr:.1} MB/s; vfs does {:.0} % and {:.0} % of that",
        raw.bytes as u64 >> 20,
        blk_bench::PASSES,
        pct(w0, rw),
        pct(r0, rr)
    );
    println!("  the fsync after the write: {:.1} ms; with crashes: {:.1} ms", s0.fsync_ns / 1e6, s1.fsync_ns / 1e6);
    let each = |passes: &[Sequential], ns: fn(&Sequential) -> f64| -> String {
        passes.iter().map(|p| format!("{:.1}", mbs(p.bytes, ns(p)))).collect::<Vec<_>>().join(", ")
    };
    println!(
        "  each pass, in MB/s: write {} / with crashes {}; read {} / with crashes {}",
        each(p0, |p| p.write_ns),
        each(p1, |p| p.write_ns),
        each(p0, |p| p.read_ns),
        each(p1, |p| p.read_ns)
    );
    let mut rec: Vec<f64> = crashed_run.recoveries.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    if !rec.is_empty() {
        rec.sort_by(f64::total_cmp);
        let med = rec[rec.len() / 2];
        println!(
            "  what a crash costs: from the crash to vfs served again (a fresh virtio_blk completed a request), median {med:.1} ms, max {:.1} ms over {} crashes: at one crash a second, {:.1} % of the time",
            rec[rec.len() - 1],
            rec.len(),
            med / 10.0
        );
    }
    println!(
        "{kernel}, files through vfs (the same volume), {} rounds of {} files (1 B .. 3 MiB, {:.1} MB) after a warm-up round{}:",
        clean.len(),
        files::FILES.len(),
        c.bytes / clean.len().max(1) as f64 / 1e6,
        if short { " (--short: figures not worth quoting)" } else { "" }
    );
    let (w0, r0) = (mbs(c.bytes, c.write_ns), mbs(c.bytes, c.read_ns));
    let (w1, r1) = (mbs(k.bytes, k.write_ns), mbs(k.bytes, k.read_ns));
    println!(
        "  write (create, write, fsync, close): {w0:.1} MB/s; with a virtio_blk crash every 1 s: {w1:.1} MB/s ({:.0} %)",
        pct(w1, w0)
    );
    println!(
        "  read back (open, read, compare, close): {r0:.1} MB/s; with crashes: {r1:.1} MB/s ({:.0} %)",
        pct(r1, r0)
    );
    let fps = |r: &Round, n: usize| files * n as f64 / (r.write_ns / 1e9);
    println!(
        "  files written and fsynced: {:.0}/s; with crashes: {:.0}/s",
        fps(&c, clean.len()),
        fps(&k, crashed.len())
    );
    println!(
        "  fsync latency: mean {:.2} ms, max {:.2} ms; with crashes: mean {:.2} ms, max {:.2} ms ({crashes} crashes in the run)",
        c.fsync_mean_ns / 1e6,
        c.fsync_max_ns / 1e6,
        k.fsync_mean_ns / 1e6,
        k.fsync_max_ns / 1e6
    );
    let svg = ws.root.join(crate::bench_net::PLOTS).join(plot);
    crate::bench_net::plot::throughput(
        &svg,
        &format!("files through vfs, per round ({kernel})"),
        &[
            panel("write, no failures", clean, |r| r.write_ns),
            panel("write, a virtio_blk crash every 1 s", crashed, |r| r.write_ns),
            panel("read back, no failures", clean, |r| r.read_ns),
            panel("read back, a virtio_blk crash every 1 s", crashed, |r| r.read_ns),
        ],
    )?;
    println!("  plot (MB/s of each round over the run's time): {}", svg.display());
    Ok(())
}

/// A round's MB/s (`ns` of its write or read part) at the end of the round,
/// on the time of those parts summed from the first measured round.
fn panel(title: &str, rounds: &[Round], ns: fn(&Round) -> f64) -> crate::bench_net::plot::Panel {
    let mut at = 0.0;
    let series = rounds
        .iter()
        .map(|r| {
            at += ns(r) / 1e9;
            (at, r.bytes / (ns(r) / 1e9) / 1e6)
        })
        .collect();
    crate::bench_net::plot::Panel { title: title.to_string(), series, marks: Vec::new() }
}
