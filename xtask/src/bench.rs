//! `cargo xtask bench ...`: figures, printed.

use clap::Subcommand;

use crate::workspace::{Error, Workspace};

#[derive(Subcommand, Clone, Copy)]
pub enum Bench {
    /// Notification and PPC round trips, restart latency (host kernel).
    Ipc,
}

pub fn run(_ws: &Workspace, what: Bench) -> Result<(), Error> {
    match what {
        Bench::Ipc => Err("not yet".into()),
    }
}
