//! Called from a PD crate's `build.rs`: generates `$OUT_DIR/<program>.rs` with the
//! program's channel, child, IRQ, region and setvar constants, read from the
//! system description at build time. Nothing is copied by hand.
//!
//! ```ignore
//! // build.rs
//! fn main() { microkit_build::generate(&["ping"], "../../system.xml") }
//! // src/main.rs
//! microkit::include_system!("ping");
//! ```
//!
//! The system file is `$REINCARNATE_SYSTEM` when set (`cargo xtask --system`),
//! otherwise `default_system`, relative to the crate's manifest directory.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Environment variable naming the system description to build for.
pub const SYSTEM_ENV: &str = "REINCARNATE_SYSTEM";

/// The system description this build is for (see the crate docs), loaded and
/// validated; stops the build with every error if it is invalid. Registers the
/// file and the variable with cargo, so a change rebuilds.
pub fn system(default_system: &str) -> (PathBuf, sdf::SystemDescription) {
    println!("cargo:rerun-if-env-changed={SYSTEM_ENV}");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let path = match std::env::var(SYSTEM_ENV) {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => manifest_dir.join(default_system),
    };
    load(path)
}

/// Loads and validates `path`, registered with cargo; stops the build with
/// every error.
fn load(path: PathBuf) -> (PathBuf, sdf::SystemDescription) {
    println!("cargo:rerun-if-changed={}", path.display());
    match sdf::SystemDescription::load(&path) {
        Ok(sd) => (path, sd),
        Err(errors) => {
            eprintln!("{errors}");
            panic!("{} is not a valid system description ({} errors above)", path.display(), errors.len());
        }
    }
}

/// Loads the system description at `path` (relative to the crate), ignoring
/// `$REINCARNATE_SYSTEM`: for test crates whose PDs belong to fixed systems.
pub fn fixed_system(path: &str) -> (PathBuf, sdf::SystemDescription) {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    load(manifest_dir.join(path))
}

/// Generates the constants of each program; stops the build with every error of
/// the system description if it is invalid.
pub fn generate(programs: &[&str], default_system: &str) {
    let (path, sd) = system(default_system);
    write_modules(programs, &path, &sd);
}

/// [`generate`] for a program that takes the place of another in the system
/// (a benchmark's stand-in: `cargo xtask bench` boots the system with
/// `takes_place_of`'s program image replaced): it gets `takes_place_of`'s
/// channels, IRQs, children and maps, as its module `program`.
pub fn generate_stand_in(program: &str, takes_place_of: &str, default_system: &str) {
    let (path, sd) = system(default_system);
    write_module(program, takes_place_of, &path, &sd);
}

/// [`generate`] for a fixed system (see [`fixed_system`]).
pub fn generate_fixed(programs: &[&str], system: &str) {
    let (path, sd) = fixed_system(system);
    write_modules(programs, &path, &sd);
}

fn write_modules(programs: &[&str], path: &std::path::Path, sd: &sdf::SystemDescription) {
    for program in programs {
        write_module(program, program, path, sd);
    }
}

/// Writes `$OUT_DIR/<program>.rs` with the constants of `source`'s place in
/// the system (the same program, or the one a stand-in replaces).
fn write_module(program: &str, source: &str, path: &std::path::Path, sd: &sdf::SystemDescription) {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo for build scripts"));
    let text = match sdf::codegen::program_module(sd, source) {
        Ok(text) => text,
        Err(e) if source == program => panic!("{}: program {program}: {e}", path.display()),
        Err(e) => panic!("{}: program {source} (for its stand-in {program}): {e}", path.display()),
    };
    let file = out_dir.join(format!("{program}.rs"));
    if let Err(e) = std::fs::write(&file, text) {
        panic!("cannot write {}: {e}", file.display());
    }
}
