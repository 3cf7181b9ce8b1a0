//! `cargo xtask test`: everything CI runs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::qemu::{Outcome, Qemu};
use crate::sel4::{self, KernelConfig, Options};
use crate::workspace::{Error, Workspace};

/// How long a QEMU boot test may take (it takes a few seconds).
const QEMU_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn step(ws: &Workspace, what: &str, args: &[&str]) -> Result<(), Error> {
    println!("[xtask test] {what}: cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).current_dir(&ws.root).args(args).status()?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed").into()) }
}

pub fn run(ws: &Workspace, qemu_only: bool) -> Result<(), Error> {
    if qemu_only {
        if sel4::sdk().is_none() {
            return Err("--qemu-only: MICROKIT_SDK is not set".into());
        }
        return qemu_tests(ws);
    }
    crate::lint::run(ws)?;
    step(ws, "unit and host-kernel tests", &["test", "--workspace", "--release"])?;
    // bench net says SKIPPED without root and network namespaces.
    for what in ["ipc", "drivers", "recovery", "net", "fs"] {
        step(ws, &format!("benchmark {what} (short)"), &["xtask", "bench", what, "--short"])?;
    }
    crate::pty_session::run(ws)?;
    // The fault-injection campaign: 2,000 faults into the three drivers, with a
    // fixed seed so that a failure replays (the download is off without root).
    step(ws, "fault-injection campaign (short)", &["xtask", "campaign", "--short", "--seed", "1"])?;
    let sd = ws.load_system()?;
    println!("[xtask test] cross-build of every PD for seL4");
    let debug_elfs = sel4::build(ws, &sd, &Options::default())?;
    release_has_no_debug_output(ws, &debug_elfs)?;
    match sel4::sdk() {
        None => println!("[xtask test] SKIPPED: seL4 image and QEMU boot tests: MICROKIT_SDK is not set"),
        Some(_) => qemu_tests(ws)?,
    }
    Ok(())
}

/// The seL4 image and QEMU boot tests, and the benchmarks' short runs on QEMU.
fn qemu_tests(ws: &Workspace) -> Result<(), Error> {
    boot_main_system(ws)?;
    hung_driver_restarts_alone(ws)?;
    recovery_test_system(ws)?;
    for what in ["ipc", "drivers", "recovery", "net", "fs"] {
        step(
            ws,
            &format!("benchmark {what} on QEMU (short)"),
            &["xtask", "bench", what, "--short", "--target", "qemu"],
        )?;
    }
    Ok(())
}

/// On seL4 (one core, fixed priorities) a spinning driver at 150 starved the
/// PDs below it until RS restarted them as hung; with the drivers' MCS budget
/// in system.xml only the hung driver is restarted. Hangs each driver of the
/// main system in turn (virtio_console's client, vfs for the shell, sends nothing
/// while nobody types, so only heartbeats can tell; virtio_blk's and
/// virtio_net's servers may complain first) and watches RS's verdicts for 3 s
/// after it is restarted: every failure RS found is the hung driver's.
fn hung_driver_restarts_alone(ws: &Workspace) -> Result<(), Error> {
    let sd = ws.load_system()?;
    for driver in ["virtio_console", "virtio_blk", "virtio_net"] {
        let inject = vec![crate::inject::Injection::parse(&format!("{driver}:hang@4s"))?];
        let image = sel4::image(ws, &sd, &Options { inject, ..Options::default() })?;
        let mut qemu = Qemu::spawn(&image, false)?;
        let mut failed: Vec<String> = Vec::new();
        let mut restarted_at = None;
        let up = format!("@status pd={driver} state=up generation=1");
        qemu.run_until(QEMU_TIMEOUT, |line| {
            let text = line.text.trim();
            if let Some(rest) = text.strip_prefix("rs: ").and_then(|r| r.split_once(" failed (")) {
                failed.push(rest.0.to_string());
            }
            if restarted_at.is_none() && text.starts_with(&up) {
                restarted_at = Some(std::time::Instant::now());
            }
            restarted_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
        });
        qemu.stop();
        if restarted_at.is_none() || failed.is_empty() || failed.iter().any(|f| f != driver) {
            return Err(format!(
                "QEMU, {driver} hung at 4 s: RS found failed {failed:?} (only {driver}, restarted, expected); \
                 the console printed:\n{}",
                qemu.console_text()
            )
            .into());
        }
        println!("[xtask test] QEMU: a hung {driver} was restarted, and nothing else ({} verdicts)", failed.len());
    }
    Ok(())
}

/// PDs built for a release kernel must not call `seL4_DebugPutChar` (the kernel
/// has no such system call); the debug build must (else this check proves nothing).
fn release_has_no_debug_output(ws: &Workspace, debug_elfs: &Path) -> Result<(), Error> {
    println!("[xtask test] cross-build for a release kernel: debug output must be compiled out");
    let sd = ws.load_system()?;
    let release_elfs = sel4::build(ws, &sd, &Options { config: KernelConfig::Release, inject: Vec::new() })?;
    let mut checked = 0;
    for program in sdf::codegen::program_names(&sd) {
        let file = format!("{program}.elf");
        let debug = std::fs::read(debug_elfs.join(&file))?;
        let release = std::fs::read(release_elfs.join(&file))?;
        if !sel4::contains_debug_put_char(&debug) {
            return Err(format!("{file} (debug): no seL4_DebugPutChar found; the check is out of date").into());
        }
        if sel4::contains_debug_put_char(&release) {
            return Err(format!("{file} (release) still calls seL4_DebugPutChar").into());
        }
        checked += 1;
    }
    println!("[xtask test] release config: no seL4_DebugPutChar in {checked} PD ELFs (present in the debug ones)");
    Ok(())
}

/// Boots the main system and waits until every PD reported.
fn boot_main_system(ws: &Workspace) -> Result<(), Error> {
    let sd = ws.load_system()?;
    let image = sel4::image(ws, &sd, &Options::default())?;
    let needed = [
        "MON|INFO: Microkit Monitor started!",
        "counter: boot 1",
        "ping: pong answered label 0 checksum 1462 (correct)",
    ];
    let mut qemu = Qemu::spawn(&image, false)?;
    let mut seen = vec![false; needed.len()];
    let mut console = String::new();
    qemu.run_until(QEMU_TIMEOUT, |line| {
        console.push_str(&line.text);
        console.push('\n');
        // A low-priority PD's line may be cut by others' (printed_interleaved).
        for (n, s) in needed.iter().zip(seen.iter_mut()) {
            *s = *s || crate::qemu::printed_interleaved(&console, n);
        }
        seen.iter().all(|s| *s)
    });
    qemu.stop();
    let missing: Vec<_> = needed.iter().zip(&seen).filter(|(_, s)| !**s).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        return Err(format!(
            "QEMU boot of {}: the console never printed {missing:?}; it printed:\n{}",
            ws.system.display(),
            qemu.console_text()
        )
        .into());
    }
    println!("[xtask test] QEMU boot of system.xml: every PD reported");
    Ok(())
}

/// Boots `microkit/qemu-tests/system.xml` and checks its console against
/// `microkit/qemu-tests/expected.txt`, in order.
fn recovery_test_system(ws: &Workspace) -> Result<(), Error> {
    let test_ws = Workspace { root: ws.root.clone(), system: ws.root.join("microkit/qemu-tests/system.xml") };
    let sd = test_ws.load_system()?;
    let image = sel4::image(&test_ws, &sd, &Options::default())?;
    println!("[xtask test] QEMU recovery test: booting {}", image.display());
    let mut qemu = Qemu::spawn(&image, false)?;
    let mut texts: Vec<String> = Vec::new();
    let mut verdict = Ok(false);
    let outcome = qemu.run_until(QEMU_TIMEOUT, |line| {
        texts.push(line.text.clone());
        verdict = qemu_tests::check_console(texts.iter().map(String::as_str)).map_err(|e| e.to_string());
        !matches!(verdict, Ok(false))
    });
    qemu.stop();
    let console = qemu.console_text();
    match verdict {
        Ok(true) => {
            let at = qemu.console.last().map(|l| l.at).unwrap_or_default();
            println!(
                "[xtask test] QEMU recovery test: passed ({} expected lines in order, {:.1} s after QEMU started)",
                qemu_tests::expected_lines().count(),
                at.as_secs_f64()
            );
            Ok(())
        }
        Err(e) => Err(format!("QEMU recovery test: {e}\nthe console:\n{console}").into()),
        Ok(false) => {
            let missing = qemu_tests::first_missing(texts.iter().map(String::as_str)).unwrap_or("?");
            let why = match outcome {
                Outcome::Exited => "QEMU ended".to_string(),
                _ => format!("timed out after {QEMU_TIMEOUT:?}"),
            };
            Err(format!("QEMU recovery test: {why} before the console showed {missing:?}\nthe console:\n{console}")
                .into())
        }
    }
}
