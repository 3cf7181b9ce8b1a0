//! The seL4 target: PD ELFs for `aarch64-unknown-none`, the Microkit image, QEMU.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sdf::SystemDescription;

use crate::workspace::{Error, Workspace};

pub const TARGET: &str = "aarch64-unknown-none";

/// Builds every program of the system for seL4; returns the directory holding
/// `<program>.elf` for the Microkit tool.
pub fn build(ws: &Workspace, sd: &SystemDescription) -> Result<PathBuf, Error> {
    let programs = sdf::codegen::program_names(sd);
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&ws.root)
        .args(["build", "--release", "--quiet", "--target", TARGET]);
    for p in &programs {
        cmd.args(["--bin", p]);
    }
    if let Some((k, v)) = ws.system_env() {
        cmd.env(k, v);
    }
    if !cmd.status()?.success() {
        return Err(format!("cross-building {} for {TARGET} failed", programs.join(", ")).into());
    }
    let out = ws.root.join("build").join("sel4");
    std::fs::create_dir_all(&out)?;
    let built = ws.root.join("target").join(TARGET).join("release");
    for p in &programs {
        std::fs::copy(built.join(p), out.join(format!("{p}.elf")))?;
    }
    println!(
        "built {} PD ELFs for {TARGET} in {}",
        programs.len(),
        out.display()
    );
    Ok(out)
}

/// The Microkit SDK, if `MICROKIT_SDK` names one.
pub fn sdk() -> Option<PathBuf> {
    let sdk = PathBuf::from(std::env::var_os("MICROKIT_SDK")?);
    sdk.join("bin").join("microkit").is_file().then_some(sdk)
}

/// Builds `loader.img` with the SDK's `microkit` tool from the unchanged system.xml.
pub fn image(ws: &Workspace, sd: &SystemDescription) -> Result<PathBuf, Error> {
    let sdk = sdk().ok_or(
        "MICROKIT_SDK is not set (or has no bin/microkit): the image needs a Microkit SDK",
    )?;
    let elfs = build(ws, sd)?;
    let image = elfs.join("loader.img");
    let status = Command::new(sdk.join("bin").join("microkit"))
        .arg(&ws.system)
        .args([
            "--board",
            "qemu_virt_aarch64",
            "--config",
            "debug",
            "--search-path",
        ])
        .arg(&elfs)
        .arg("-o")
        .arg(&image)
        .arg("-r")
        .arg(elfs.join("report.txt"))
        .status()?;
    if !status.success() {
        return Err("the microkit tool rejected the system".into());
    }
    Ok(image)
}

/// Boots the image on QEMU with the console on this terminal; stops after
/// `run_for` if given. Returns what the console printed.
pub fn qemu(image: &std::path::Path, run_for: Option<Duration>) -> Result<String, Error> {
    let mut cmd = Command::new("qemu-system-aarch64");
    cmd.args([
        "-machine",
        "virt,virtualization=on",
        "-cpu",
        "cortex-a53",
        "-m",
        "2G",
        "-nographic",
    ])
    .args(["-global", "virtio-mmio.force-legacy=false"])
    .arg("-device")
    .arg(format!(
        "loader,file={},addr=0x70000000,cpu-num=0",
        image.display()
    ));
    let Some(run_for) = run_for else {
        cmd.status()?;
        return Ok(String::new());
    };
    let child = Command::new("timeout")
        .arg(format!("{}", run_for.as_secs_f64()))
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(std::process::Stdio::null())
        .output()?;
    let console = String::from_utf8_lossy(&child.stdout).into_owned();
    print!("{console}");
    Ok(console)
}
