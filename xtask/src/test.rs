//! `cargo xtask test`: everything CI runs.

use std::process::Command;

use crate::workspace::{Error, Workspace};

fn step(ws: &Workspace, what: &str, args: &[&str]) -> Result<(), Error> {
    println!("[xtask test] {what}: cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .current_dir(&ws.root)
        .args(args)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed").into())
    }
}

pub fn run(ws: &Workspace) -> Result<(), Error> {
    step(
        ws,
        "unit and host-kernel tests",
        &["test", "--workspace", "--release"],
    )?;
    let sd = ws.load_system()?;
    println!("[xtask test] cross-build of every PD for seL4");
    crate::sel4::build(ws, &sd)?;
    match crate::sel4::sdk() {
        None => println!(
            "[xtask test] SKIPPED: seL4 image and QEMU boot tests: MICROKIT_SDK is not set"
        ),
        Some(_) => {
            let image = crate::sel4::image(ws, &sd)?;
            let console = crate::sel4::qemu(&image, Some(std::time::Duration::from_secs(30)))?;
            let needed = [
                "MON|INFO: Microkit Monitor started!",
                "counter: boot 1",
                "ping: pong answered label 0 checksum 1462 (correct)",
            ];
            let missing: Vec<_> = needed.iter().filter(|n| !console.contains(*n)).collect();
            if !missing.is_empty() {
                return Err(format!("QEMU boot: the console never printed {missing:?}").into());
            }
            println!("[xtask test] QEMU boot: every PD reported");
        }
    }
    Ok(())
}
