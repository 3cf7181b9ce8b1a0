//! `cargo xtask bench ...`: figures, printed.

use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use clap::Subcommand;
use host_kernel::{Config, Event, Machine};
use microkit::InjectKind;

use crate::workspace::{Error, Workspace};

#[derive(Subcommand, Clone, Copy)]
pub enum Bench {
    /// Notification and PPC round trips, restart latency (host kernel).
    Ipc {
        /// Restarts to time.
        #[arg(long, default_value_t = 200)]
        restarts: usize,
    },
    /// Crash and hang detection, fault -> "up" published (host kernel).
    Recovery {
        /// Crashes to time.
        #[arg(long, default_value_t = 200)]
        crashes: usize,
        /// Hangs to time.
        #[arg(long, default_value_t = 50)]
        hangs: usize,
    },
}

pub fn run(ws: &Workspace, what: Bench) -> Result<(), Error> {
    match what {
        Bench::Ipc { restarts } => {
            round_trips(ws)?;
            restart_latency(ws, restarts)
        }
        Bench::Recovery { crashes, hangs } => crate::bench_recovery::run(ws, crashes, hangs),
    }
}

fn boot(ws: &Workspace) -> Result<(Machine, Receiver<Event>), Error> {
    let system = ws.load_system()?;
    let bin_dir = ws.build_host(&system)?;
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot(Config {
        system,
        bin_dir,
        echo: false,
        subscribers: vec![tx],
    })?;
    Ok((machine, rx))
}

fn next<T>(
    rx: &Receiver<Event>,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> Result<T, Error> {
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

/// Notification and PPC round trips, timed inside the client PD.
fn round_trips(ws: &Workspace) -> Result<(), Error> {
    let system = ws.root.join("components/ipcbench/system.xml");
    let bench_ws = Workspace {
        root: ws.root.clone(),
        system,
    };
    let (machine, rx) = boot(&bench_ws)?;
    println!(
        "host kernel, IPC round trips (timed in bench_client, {}):",
        Path::new("components/ipcbench").display()
    );
    loop {
        let line = next(&rx, "the benchmark PDs", |ev| match ev {
            Event::Output { pd, line, .. } if pd == "bench_client" => Some(line.clone()),
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

/// Restart latency: the kernel sees the fault → the fresh copy starts its `init`
/// (RS is told, restarts the child, the new process maps its regions and
/// confines itself).
fn restart_latency(ws: &Workspace, restarts: usize) -> Result<(), Error> {
    let pd = "counter";
    let (machine, rx) = boot(ws)?;
    let mut samples = Vec::with_capacity(restarts);
    for generation in 0..restarts as u64 {
        next(&rx, "counter up", |ev| match ev {
            Event::Ready {
                pd: p,
                generation: g,
                ..
            } if p == pd && *g == generation => Some(()),
            _ => None,
        })?;
        machine.inject(pd, InjectKind::Crash)?;
        let fault_at = next(&rx, "the fault", |ev| match ev {
            Event::Fault {
                pd: p,
                generation: g,
                at,
                ..
            } if p == pd && *g == generation => Some(*at),
            _ => None,
        })?;
        let init_at = next(&rx, "the fresh copy", |ev| match ev {
            Event::Init {
                pd: p,
                generation: g,
                at,
            } if p == pd && *g == generation + 1 => Some(*at),
            _ => None,
        })?;
        samples.push(init_at.duration_since(fault_at));
    }
    machine.shutdown()?;
    samples.sort();
    let at = |q: usize| samples[(samples.len() - 1) * q / 100];
    println!(
        "host kernel, restart latency ({pd} crash -> fault seen -> rs restarts it -> fresh copy runs init), {} restarts:",
        samples.len()
    );
    println!("  median {:?} p99 {:?}", at(50), at(99));
    Ok(())
}
