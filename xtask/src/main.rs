//! `cargo xtask`: build, run, check and measure a reincarnate system.
#![forbid(unsafe_code)]

mod bench;
mod bench_recovery;
mod inject;
mod run_host;
mod sel4;
mod test;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use inject::Injection;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, run, check and measure a reincarnate system"
)]
struct Cli {
    /// The system description (Microkit SDF).
    #[arg(long, global = true, default_value = "system.xml")]
    system: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot the system on the host kernel (Ctrl-C stops it).
    Run {
        /// Where: `host` (the host kernel) or `qemu` (seL4 on QEMU; needs MICROKIT_SDK).
        #[arg(long, default_value = "host")]
        target: RunTarget,
        /// Run for this long, stop, and print the status table (e.g. 5s).
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        run_for: Option<Duration>,
        /// Inject a fault: PD:KIND@TIME, KIND one of crash, panic, hang, exit (repeatable).
        #[arg(long, value_parser = Injection::parse)]
        inject: Vec<Injection>,
    },
    /// Build every PD of the system: `host` binaries or `sel4` ELFs.
    Build {
        #[arg(long, default_value = "host")]
        target: BuildTarget,
    },
    /// Build loader.img with the Microkit SDK (MICROKIT_SDK).
    Image,
    /// Validate the system description; print every error.
    Check,
    /// Print the capabilities of every PD (least-privilege audit).
    Caps,
    /// Run everything CI runs.
    Test,
    /// Measure and print figures.
    Bench {
        #[command(subcommand)]
        what: bench::Bench,
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
        Cmd::Run {
            target: RunTarget::Host,
            run_for,
            inject,
        } => run_host::run(&ws, run_for, &inject),
        Cmd::Run {
            target: RunTarget::Qemu,
            run_for,
            inject,
        } => {
            if inject.is_empty() {
                ws.load_system()
                    .and_then(|sd| sel4::image(&ws, &sd))
                    .and_then(|img| sel4::qemu(&img, run_for))
                    .map(|_| ())
            } else {
                Err("--inject is not available on QEMU yet".into())
            }
        }
        Cmd::Build { target } => ws.load_system().and_then(|sd| match target {
            BuildTarget::Host => ws
                .build_host(&sd)
                .map(|dir| println!("built host PDs in {}", dir.display())),
            BuildTarget::Sel4 => sel4::build(&ws, &sd).map(|_| ()),
        }),
        Cmd::Image => ws
            .load_system()
            .and_then(|sd| sel4::image(&ws, &sd))
            .map(|img| println!("{}", img.display())),
        Cmd::Check => ws.load_system().map(|sd| {
            println!(
                "{}: ok ({} protection domains)",
                ws.system.display(),
                sd.all_pds().len()
            );
        }),
        Cmd::Caps => ws
            .load_system()
            .map(|sd| print!("{}", sdf::caps::report(&sd))),
        Cmd::Test => test::run(&ws),
        Cmd::Bench { what } => bench::run(&ws, what),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
