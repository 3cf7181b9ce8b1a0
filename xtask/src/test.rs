//! `cargo xtask test`: everything CI runs.

use std::process::Command;

use crate::workspace::{Error, Workspace};

fn step(ws: &Workspace, what: &str, args: &[&str]) -> Result<(), Error> {
    println!("[xtask test] {what}: cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).current_dir(&ws.root).args(args).status()?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed").into()) }
}

pub fn run(ws: &Workspace) -> Result<(), Error> {
    step(ws, "unit and host-kernel tests", &["test", "--workspace", "--release"])?;
    Ok(())
}
