//! `cargo xtask run`: the system on the host kernel.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use host_kernel::{Config, Machine, status_table};

use crate::inject::Injection;
use crate::workspace::{Error, Workspace};

pub fn run(
    ws: &Workspace,
    run_for: Option<Duration>,
    injections: &[Injection],
) -> Result<(), Error> {
    let sd = ws.load_system()?;
    for i in injections {
        if sd.pd(&i.pd).is_none() {
            return Err(format!(
                "--inject {}: no protection domain named {:?} in {}",
                i.pd,
                i.pd,
                ws.system.display()
            )
            .into());
        }
    }
    let bin_dir = ws.build_host(&sd)?;
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })?;
    let machine = Machine::boot(Config {
        system: sd,
        bin_dir,
        echo: true,
        subscribers: Vec::new(),
    })?;
    let start = Instant::now();
    let mut pending: Vec<&Injection> = injections.iter().collect();
    pending.sort_by_key(|i| i.at);
    let mut pending = pending.into_iter().peekable();
    loop {
        let next = [pending.peek().map(|i| i.at), run_for]
            .into_iter()
            .flatten()
            .min();
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
            println!(
                "[xtask] injecting {} into {} at {:?}",
                i.kind,
                i.pd,
                start.elapsed()
            );
            machine.inject(&i.pd, i.kind)?;
        }
        if run_for.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
    }
    let status = machine.shutdown()?;
    print!("\n{}", status_table(&status));
    Ok(())
}
