//! `cargo xtask`: build, run, check and measure a reincarnate system.
#![forbid(unsafe_code)]

mod bench;
mod bench_drivers;
mod bench_fs;
mod bench_net;
mod bench_recovery;
mod campaign;
mod caps_picture;
mod console;
mod crashes;
mod devices;
mod inject;
mod lint;
mod net_host;
mod pty_session;
mod qemu;
mod run_host;
mod run_qemu;
mod sel4;
mod stand_in;
mod status;
mod terminal;
mod test;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use inject::Injection;
use sel4::KernelConfig;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run, check and measure a reincarnate system")]
struct Cli {
    /// The system description (Microkit SDF).
    #[arg(long, global = true, default_value = "system.xml")]
    system: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot the system on the host kernel (Ctrl-C stops it) or on seL4/QEMU.
    Run {
        /// Where: `host` (the host kernel) or `qemu` (seL4 on QEMU; needs MICROKIT_SDK).
        #[arg(long, default_value = "host")]
        target: RunTarget,
        /// Run for this long, stop, and print the status table (e.g. 5s). On QEMU
        /// the table comes from the `@status` lines on the console.
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        run_for: Option<Duration>,
        /// Inject a fault: PD:KIND@TIME, KIND one of crash, panic, hang, exit
        /// (repeatable). On QEMU the schedule is compiled into the PDs
        /// (REINCARNATE_INJECT) and carried out inside the system.
        #[arg(long, value_parser = Injection::parse)]
        inject: Vec<Injection>,
        #[command(flatten)]
        devices: devices::DeviceArgs,
        /// seL4 kernel configuration (`--target qemu` only).
        #[arg(long, default_value = "debug")]
        config: KernelConfig,
        /// Show a live status table, refreshed in place (like `top`), with the
        /// last console lines under it (host kernel).
        #[arg(long)]
        status: bool,
    },
    /// Build every PD of the system: `host` binaries or `sel4` ELFs.
    Build {
        #[arg(long, default_value = "host")]
        target: BuildTarget,
        /// seL4 kernel configuration the PDs are for (`--target sel4` only):
        /// `release` compiles debug output out (a release kernel has no debug console).
        #[arg(long, default_value = "debug")]
        config: KernelConfig,
    },
    /// Build loader.img with the Microkit SDK (MICROKIT_SDK).
    Image {
        /// Microkit SDK configuration (`debug` or `release`).
        #[arg(long, default_value = "debug")]
        config: KernelConfig,
    },
    /// Validate the system description; print every error.
    Check,
    /// Print the capabilities of every PD (least-privilege audit), or draw the
    /// system (`--dot FILE`, `--svg FILE`).
    Caps {
        /// Write the system as a Graphviz graph to FILE.
        #[arg(long)]
        dot: Option<PathBuf>,
        /// Draw the system as SVG to FILE (runs Graphviz's `dot`).
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Print the crash records the reincarnation server kept (`@crash` lines of
    /// the last `cargo xtask run`), the PC symbolized against the PD's ELF.
    Crashes {
        /// Only this PD's records.
        pd: Option<String>,
        /// Which run: `host` (target/crashes/host.log) or `qemu` (target/crashes/qemu.log).
        #[arg(long, default_value = "host")]
        target: crashes::Target,
        /// Read this console log instead.
        #[arg(long)]
        log: Option<PathBuf>,
        /// The directory of the PD ELFs (default: the one the run used).
        #[arg(long)]
        elfs: Option<PathBuf>,
        /// Records shown per PD (the newest).
        #[arg(long, default_value_t = 4)]
        last: usize,
    },
    /// Check formatting and run clippy (host and seL4 builds), warnings as errors.
    Lint,
    /// Run everything CI runs.
    Test {
        /// Only the seL4 image and QEMU boot tests (needs MICROKIT_SDK): for
        /// working on the seL4 side without the host suite first.
        #[arg(long)]
        qemu_only: bool,
    },
    /// A fault-injection campaign: faults (register, memory and code bit flips,
    /// stalls, and the four clean kinds) into running drivers while workloads
    /// check every byte end to end; a report under target/campaign/. Fails if
    /// anything outside the injected driver failed, wrong bytes reached an
    /// application, or a component was left down.
    Campaign {
        /// Where: `host` (the host kernel; seL4/QEMU is not there yet).
        #[arg(long, default_value = "host")]
        target: RunTarget,
        /// The driver to inject into: virtio_net, virtio_blk, virtio_console, or `all`.
        #[arg(long, default_value = "all")]
        driver: String,
        /// Faults in all (shared among the drivers).
        #[arg(long, default_value_t = 1000)]
        faults: u64,
        /// How long each driver is watched after a fault before the next one.
        #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// The seed (the same seed draws the same faults); default: from the clock.
        #[arg(long)]
        seed: Option<u64>,
        /// Only these fault types (comma-separated: crash, panic, hang, exit,
        /// register, memory, code, stall); default all.
        #[arg(long, value_delimiter = ',', value_parser = campaign::FaultType::parse)]
        types: Vec<campaign::FaultType>,
        /// What `cargo xtask test` runs: 2,000 faults, each driver watched 50 ms.
        #[arg(long)]
        short: bool,
    },
    /// Measure and print figures: `bench [ipc]` on the host kernel, `bench --target qemu` on seL4.
    Bench {
        /// Where: `host` (the host kernel) or `qemu` (seL4 on QEMU; needs MICROKIT_SDK).
        #[arg(long, default_value = "host", global = true)]
        target: RunTarget,
        /// Few samples, a few seconds each: what `cargo xtask test` runs so a
        /// benchmark that breaks fails CI.
        #[arg(long, global = true)]
        short: bool,
        #[command(subcommand)]
        what: Option<bench::Bench>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RunTarget {
    Host,
    Qemu,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BuildTarget {
    Host,
    Sel4,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ws = match workspace::Workspace::locate(&cli.system) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Cmd::Run { target: RunTarget::Host, config: KernelConfig::Release, .. }
        | Cmd::Build { target: BuildTarget::Host, config: KernelConfig::Release } => {
            Err("--config applies to seL4 only (--target qemu for run, --target sel4 for build)".into())
        }
        Cmd::Run { target: RunTarget::Host, run_for, inject, status, devices, .. } => {
            run_host::run(&ws, run_for, &inject, status, &devices)
        }
        Cmd::Run { target: RunTarget::Qemu, status: true, .. } => {
            Err("--status is for the host kernel; on QEMU the table is printed at the end (--for)".into())
        }
        Cmd::Run { target: RunTarget::Qemu, run_for, inject, config, devices, .. } => {
            run_qemu::run(&ws, run_for, &inject, config, &devices)
        }
        Cmd::Build { target, config } => ws.load_system().and_then(|sd| match target {
            BuildTarget::Host => ws.build_host(&sd).map(|dir| println!("built host PDs in {}", dir.display())),
            BuildTarget::Sel4 => sel4::build(&ws, &sd, &sel4::Options { config, inject: Vec::new() }).map(|_| ()),
        }),
        Cmd::Image { config } => ws
            .load_system()
            .and_then(|sd| sel4::image(&ws, &sd, &sel4::Options { config, inject: Vec::new() }))
            .map(|img| println!("{}", img.display())),
        Cmd::Check => ws.load_system().map(|sd| {
            println!("{}: ok ({} protection domains)", ws.system.display(), sd.all_pds().len());
        }),
        Cmd::Caps { dot: None, svg: None } => ws.load_system().map(|sd| print!("{}", sdf::caps::report(&sd))),
        Cmd::Caps { dot, svg } => {
            ws.load_system().and_then(|sd| caps_picture::write(&sd, dot.as_deref(), svg.as_deref()))
        }
        Cmd::Crashes { pd, target, log, elfs, last } => {
            crashes::run(&ws, pd.as_deref(), target, log.as_deref(), elfs.as_deref(), last)
        }
        Cmd::Lint => lint::run(&ws),
        Cmd::Campaign { target: RunTarget::Qemu, .. } => {
            Err("campaign --target qemu: not implemented yet (the host kernel only)".into())
        }
        Cmd::Campaign { target: RunTarget::Host, driver, faults, interval, seed, types, short } => {
            campaign::options(&driver, faults, interval, seed, types, short).and_then(|o| campaign::run(&ws, &o))
        }
        Cmd::Test { qemu_only } => test::run(&ws, qemu_only),
        Cmd::Bench { target, short, what } => {
            let what = what.unwrap_or_default();
            let what = if short { what.short() } else { what };
            match target {
                RunTarget::Host => bench::run(&ws, what),
                RunTarget::Qemu => bench::run_qemu(&ws, what),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
