//! The seL4 target: PD ELFs for `aarch64-unknown-none`, the Microkit image.

use std::path::{Path, PathBuf};
use std::process::Command;

use microkit::InjectSchedule;
use sdf::SystemDescription;

use crate::inject::Injection;
use crate::workspace::{Error, Workspace};

pub const TARGET: &str = "aarch64-unknown-none";
/// The Microkit board every system is built for.
pub const BOARD: &str = "qemu_virt_aarch64";

/// The Microkit SDK configuration (and seL4 kernel) the PDs are built for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelConfig {
    /// Debug kernel: debug console (`debug_println!`), hardware debug API.
    #[default]
    Debug,
    /// Release kernel: no debug console; `debug_println!` compiles to nothing.
    Release,
}

impl KernelConfig {
    pub fn name(self) -> &'static str {
        match self {
            KernelConfig::Debug => "debug",
            KernelConfig::Release => "release",
        }
    }

    /// Cargo's target directory for this configuration: release builds keep their
    /// own, so switching configuration does not rebuild everything each time.
    fn target_dir(self, ws: &Workspace) -> PathBuf {
        match self {
            KernelConfig::Debug => ws.root.join("target"),
            KernelConfig::Release => ws.root.join("target").join("sel4-release"),
        }
    }
}

/// How to build the PDs for seL4.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub config: KernelConfig,
    /// Compiled into every PD as `REINCARNATE_INJECT` (see `microkit::inject_schedule`).
    pub inject: Vec<Injection>,
}

/// Environment variable with the kernel configuration (read by the runtime's build script).
const CONFIG_ENV: &str = "REINCARNATE_SEL4_CONFIG";

/// The `REINCARNATE_INJECT` value for `injections`, checked against the system
/// (every PD must exist) and against the runtime's own parser.
pub fn inject_schedule(sd: &SystemDescription, injections: &[Injection]) -> Result<String, Error> {
    for i in injections {
        if sd.pd(&i.pd).is_none() {
            return Err(
                format!("--inject {}: no protection domain named {:?} in {}", i.pd, i.pd, sd.file.display()).into()
            );
        }
    }
    let text = injections
        .iter()
        .map(|i| microkit::ScheduledInjection { pd: &i.pd, kind: i.kind, at: i.at }.to_string())
        .collect::<Vec<_>>()
        .join(",");
    InjectSchedule::parse(&text).map_err(|e| format!("--inject: {e}"))?;
    Ok(text)
}

/// A cargo command for every program of the system on seL4: `cargo SUBCOMMAND
/// --release --target aarch64-unknown-none -p .. --bin ..` with the system, the
/// kernel configuration and the injection schedule in its environment.
fn cargo_for_sel4(
    ws: &Workspace,
    sd: &SystemDescription,
    opts: &Options,
    subcommand: &str,
) -> Result<(Command, Vec<String>), Error> {
    let programs = sdf::codegen::program_names(sd);
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&ws.root).args([subcommand, "--release", "--quiet", "--target", TARGET]);
    cmd.arg("--target-dir").arg(opts.config.target_dir(ws));
    for p in ws.packages_of(&programs)? {
        cmd.args(["-p", &p]);
    }
    for p in &programs {
        cmd.args(["--bin", p]);
    }
    if let Some((k, v)) = ws.system_env() {
        cmd.env(k, v);
    }
    cmd.env(CONFIG_ENV, opts.config.name());
    let schedule = inject_schedule(sd, &opts.inject)?;
    if schedule.is_empty() {
        cmd.env_remove(microkit::SCHEDULE_ENV);
    } else {
        println!("[xtask] fault-injection schedule compiled into the PDs: {}={schedule}", microkit::SCHEDULE_ENV);
        cmd.env(microkit::SCHEDULE_ENV, &schedule);
    }
    Ok((cmd, programs))
}

/// Runs clippy over every program of the system as it is built for seL4, with
/// warnings as errors (the host build of the same crates is linted separately).
pub fn clippy(ws: &Workspace, sd: &SystemDescription, opts: &Options) -> Result<(), Error> {
    let (mut cmd, programs) = cargo_for_sel4(ws, sd, opts, "clippy")?;
    cmd.args(["--", "-D", "warnings"]);
    if !cmd.status()?.success() {
        return Err(format!(
            "clippy for {TARGET} ({} kernel) found problems in {}",
            opts.config.name(),
            programs.join(", ")
        )
        .into());
    }
    Ok(())
}

/// Builds every program of the system for seL4; returns the directory holding
/// `<program>.elf` for the Microkit tool.
pub fn build(ws: &Workspace, sd: &SystemDescription, opts: &Options) -> Result<PathBuf, Error> {
    let (mut cmd, programs) = cargo_for_sel4(ws, sd, opts, "build")?;
    let target_dir = opts.config.target_dir(ws);
    if !cmd.status()?.success() {
        return Err(format!("cross-building {} for {TARGET} failed", programs.join(", ")).into());
    }
    let out = output_dir(ws, opts.config);
    std::fs::create_dir_all(&out)?;
    let built = target_dir.join(TARGET).join("release");
    for p in &programs {
        std::fs::copy(built.join(p), out.join(format!("{p}.elf")))?;
    }
    println!("built {} PD ELFs for {TARGET} ({} kernel) in {}", programs.len(), opts.config.name(), out.display());
    Ok(out)
}

/// Where the ELFs and the image go: `build/sel4` (`build/sel4-release`) for the
/// workspace's `system.xml`, a subdirectory named after the path of any other.
fn output_dir(ws: &Workspace, config: KernelConfig) -> PathBuf {
    let base = ws.root.join("build").join(match config {
        KernelConfig::Debug => "sel4",
        KernelConfig::Release => "sel4-release",
    });
    if ws.system_env().is_none() {
        return base;
    }
    let relative = ws.system.strip_prefix(&ws.root).unwrap_or(&ws.system).with_extension("");
    let name: String = relative
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' })
        .collect();
    base.join(name.trim_start_matches('-'))
}

/// The Microkit SDK, if `MICROKIT_SDK` names one.
pub fn sdk() -> Option<PathBuf> {
    let sdk = PathBuf::from(std::env::var_os("MICROKIT_SDK")?);
    sdk.join("bin").join("microkit").is_file().then_some(sdk)
}

/// The SDK, or an error that says what is missing.
pub fn require_sdk(what: &str) -> Result<PathBuf, Error> {
    sdk().ok_or_else(|| {
        match std::env::var_os("MICROKIT_SDK") {
            None => format!("{what} needs a Microkit SDK: MICROKIT_SDK is not set"),
            Some(p) => {
                format!("{what} needs a Microkit SDK: MICROKIT_SDK={} has no bin/microkit", Path::new(&p).display())
            }
        }
        .into()
    })
}

/// Builds `loader.img` with the SDK's `microkit` tool from the unchanged system
/// description.
pub fn image(ws: &Workspace, sd: &SystemDescription, opts: &Options) -> Result<PathBuf, Error> {
    image_of(ws, &ws.system, sd, opts)
}

/// [`image`] of the system in `system_file` (`sd` its model), its programs
/// built as for `ws`'s system (a benchmark's stand-in, see `stand_in`).
pub fn image_of(ws: &Workspace, system_file: &Path, sd: &SystemDescription, opts: &Options) -> Result<PathBuf, Error> {
    let sdk = require_sdk("the seL4 image")?;
    let board_config = sdk.join("board").join(BOARD).join(opts.config.name());
    if !board_config.is_dir() {
        return Err(format!(
            "the Microkit SDK at {} has no {} config for {BOARD} ({} is missing)",
            sdk.display(),
            opts.config.name(),
            board_config.display()
        )
        .into());
    }
    let elfs = build(ws, sd, opts)?;
    let image = elfs.join("loader.img");
    let status = Command::new(sdk.join("bin").join("microkit"))
        .arg(system_file)
        .args(["--board", BOARD, "--config", opts.config.name(), "--search-path"])
        .arg(&elfs)
        .arg("-o")
        .arg(&image)
        .arg("-r")
        .arg(elfs.join("report.txt"))
        .status()?;
    if !status.success() {
        return Err("the microkit tool rejected the system".into());
    }
    // QEMU's devices at the slots this system maps (see `qemu::command`).
    crate::devices::DeviceArgs::default().write_qemu_args(&ws.root, sd, &image)?;
    Ok(image)
}

/// The `debug_put_char` system call's tell-tale instruction, `mov x7, #-12`
/// (MOVN x7, #11), as it sits in a PD's code: how `cargo xtask test` checks that a
/// release build has no debug output left.
pub const MOV_X7_DEBUG_PUT_CHAR: [u8; 4] = 0x9280_0167u32.to_le_bytes();

/// Whether an ELF file contains the instruction at a 4-byte-aligned offset.
pub fn contains_debug_put_char(elf: &[u8]) -> bool {
    elf.chunks_exact(4).any(|w| w == MOV_X7_DEBUG_PUT_CHAR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkit::InjectKind;
    use std::time::Duration;

    fn system() -> SystemDescription {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        SystemDescription::load(root.join("system.xml")).unwrap()
    }

    #[test]
    fn schedules_name_existing_pds_in_the_runtime_syntax() {
        let sd = system();
        let inj = |pd: &str, kind, ms| Injection { pd: pd.into(), kind, at: Duration::from_millis(ms) };
        let s = inject_schedule(&sd, &[inj("counter", InjectKind::Crash, 1000), inj("ping", InjectKind::Panic, 2500)])
            .unwrap();
        assert_eq!(s, "counter:crash@1s,ping:panic@2500ms");
        assert_eq!(inject_schedule(&sd, &[]).unwrap(), "");
        let err = inject_schedule(&sd, &[inj("nobody", InjectKind::Crash, 1)]).unwrap_err().to_string();
        assert!(err.contains("no protection domain named \"nobody\""), "{err}");
    }

    #[test]
    fn the_debug_put_char_instruction_is_found_only_aligned() {
        let mut elf = vec![0u8; 16];
        assert!(!contains_debug_put_char(&elf));
        elf[9..13].copy_from_slice(&MOV_X7_DEBUG_PUT_CHAR);
        assert!(!contains_debug_put_char(&elf));
        elf[8..12].copy_from_slice(&MOV_X7_DEBUG_PUT_CHAR);
        assert!(contains_debug_put_char(&elf));
    }
}
