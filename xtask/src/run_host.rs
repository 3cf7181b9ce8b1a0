//! `cargo xtask run`: the system on the host kernel.
//!
//! The status table (at the end, and live with `--status`) is what the system
//! publishes: the reincarnation server's `@status` lines for the components it
//! supervises, and the host kernel's own view for the PDs nobody supervises
//! (the trusted base: RS itself, the data store, the timer).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use host_kernel::{Config, Event, Machine, NetIo, PdStatus};

use crate::crashes;
use crate::devices::DeviceArgs;
use crate::inject::Injection;
use crate::net_host;
use crate::status::{self, Known, Row};
use crate::workspace::{Error, Workspace};

/// How often the live view is redrawn.
const REFRESH: Duration = Duration::from_millis(250);
/// Console lines shown under the live table.
const TAIL: usize = 12;

/// What the console said so far.
struct Console {
    rx: Receiver<Event>,
    /// The relay's messages (live view only; else printed at once).
    relay_log: Receiver<String>,
    status_lines: Vec<String>,
    tail: VecDeque<String>,
}

impl Console {
    fn pump(&mut self) {
        while let Ok(ev) = self.rx.try_recv() {
            if let Event::Output { line, .. } = &ev
                && line.contains(microkit::status::STATUS_MARK)
            {
                self.status_lines.push(line.clone());
            }
            if let Some(text) = console_line(&ev) {
                self.push(text);
            }
        }
        while let Ok(line) = self.relay_log.try_recv() {
            self.push(line);
        }
    }

    fn push(&mut self, line: String) {
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    /// Rows from the `@status` lines, the kernel's view for the other PDs.
    fn rows(&self, kernel: &[PdStatus]) -> Vec<Row> {
        let names: Vec<String> = kernel.iter().map(|k| k.name.clone()).collect();
        let (mut rows, errors) = status::from_console(&names, self.status_lines.iter().map(String::as_str));
        for e in errors {
            eprintln!("[xtask] {e}");
        }
        for row in rows.iter_mut().filter(|r| r.last.is_none()) {
            if let Some(k) = kernel.iter().find(|k| k.name == row.pd) {
                row.last = Some(Known {
                    state: k.state_name(),
                    generation: k.generation,
                    restarts: k.restarts,
                    fault: k.last_fault,
                });
            }
        }
        rows
    }
}

/// A line the system printed as `cargo xtask run` shows it: `[pd] line` or
/// `[kernel] line`; `None` for other events.
fn console_line(ev: &Event) -> Option<String> {
    match ev {
        Event::Output { pd, line, .. } => Some(format!("[{pd}] {line}")),
        Event::Log { line, .. } => Some(format!("[kernel] {line}")),
        _ => None,
    }
}

/// Writes every line the system prints to `path`, as `cargo xtask run`
/// prints them otherwise, until the system stops.
fn write_log(path: &std::path::Path, rx: Receiver<Event>) -> Result<(), Error> {
    use std::io::Write;
    let mut file = std::io::LineWriter::new(std::fs::File::create(path)?);
    std::thread::Builder::new().name("run-log".into()).spawn(move || {
        for line in rx.iter().filter_map(|ev| console_line(&ev)) {
            if writeln!(file, "{line}").is_err() {
                return;
            }
        }
    })?;
    Ok(())
}

pub fn run(
    ws: &Workspace,
    run_for: Option<Duration>,
    injections: &[Injection],
    live: bool,
    devices: &DeviceArgs,
) -> Result<(), Error> {
    let sd = ws.load_system()?;
    for i in injections {
        if sd.pd(&i.pd).is_none() {
            return Err(
                format!("--inject {}: no protection domain named {:?} in {}", i.pd, i.pd, ws.system.display()).into()
            );
        }
    }
    let bin_dir = ws.build_host(&sd)?;
    // A person at a terminal with nothing else asked for: the shell gets the
    // terminal, the PDs' lines a log file.
    let interactive = !live && run_for.is_none() && devices.console == "stdio" && std::io::stdin().is_terminal();
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })?;
    let (tx, rx) = mpsc::channel();
    let mut config = devices.host(&ws.root, live)?;
    let pending = net_host::prepare(ws, devices)?;
    if let Some(p) = &pending {
        config.net = NetIo::Tap(p.tap().to_string());
    }
    // The crash records, kept as they come (`cargo xtask crashes`).
    let (crash_tx, crash_rx) = mpsc::channel();
    crashes::Log::create(ws, crashes::Target::Host, &bin_dir)?.follow(crash_rx);
    let mut subscribers = vec![tx, crash_tx];
    let mut raw = None;
    if interactive {
        let path = ws.root.join("target").join("run.log");
        let (log_tx, log_rx) = mpsc::channel();
        subscribers.push(log_tx);
        write_log(&path, log_rx)?;
        println!(
            "[xtask] the shell is on this terminal (type help); the PDs' lines go to {} (tail -f it); Ctrl-C stops the system",
            path.display()
        );
        raw = crate::terminal::RawInput::enter()?;
    }
    let machine = Machine::boot_with(
        Config {
            system: sd,
            bin_dir,
            echo: !live && !interactive,
            subscribers,
            scheduling: host_kernel::Scheduling::from_env()?,
        },
        config,
    )?;
    let (log_tx, relay_log) = mpsc::channel();
    let net = match pending {
        Some(p) => Some(p.connect(devices, net_host::log(live.then_some(log_tx)))?),
        None => None,
    };
    let mut console = Console { rx, relay_log, status_lines: Vec::new(), tail: VecDeque::new() };
    let start = Instant::now();
    let mut pending: Vec<&Injection> = injections.iter().collect();
    pending.sort_by_key(|i| i.at);
    let mut pending = pending.into_iter().peekable();
    loop {
        let mut next = [pending.peek().map(|i| i.at), run_for].into_iter().flatten().min();
        if live {
            next = Some(next.map_or(start.elapsed() + REFRESH, |n| n.min(start.elapsed() + REFRESH)));
        }
        let wait = next.map(|at| at.saturating_sub(start.elapsed()));
        let stopped = match wait {
            Some(wait) => stop_rx.recv_timeout(wait).is_ok(),
            None => stop_rx.recv().is_ok(),
        };
        if stopped {
            println!("[xtask] interrupted: stopping the system");
            break;
        }
        while let Some(i) = pending.next_if(|i| i.at <= start.elapsed()) {
            let line = format!("[xtask] injecting {} into {} at {:?}", i.kind, i.pd, start.elapsed());
            if live {
                console.tail.push_back(line);
            } else {
                println!("{line}");
            }
            machine.inject(&i.pd, i.kind)?;
        }
        if live {
            console.pump();
            let rows = console.rows(&machine.status()?);
            // Home, clear, table, console tail.
            let reach = net.as_ref().map(|n| format!("; {}", n.reach)).unwrap_or_default();
            print!(
                "\x1b[H\x1b[2J{} after {:.1?} (Ctrl-C stops{reach})\n\n{}",
                ws.system.display(),
                start.elapsed(),
                status::table(&rows)
            );
            println!();
            for line in &console.tail {
                println!("{line}");
            }
        }
        if run_for.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
    }
    let kernel = machine.status()?;
    machine.shutdown()?;
    // The terminal as it was, before the table.
    drop(raw);
    if let Some(net) = net {
        net.stop();
    }
    // Lines printed just before the end are still on their way.
    std::thread::sleep(Duration::from_millis(50));
    console.pump();
    print!("\n{}", status::table(&console.rows(&kernel)));
    Ok(())
}
