//! For seL4 builds (`target_os = "none"`):
//! - puts the PD linker script `sel4.ld` on the linker's search path. Cargo passes
//!   a dependency's `rustc-link-search` on to the binaries that use it, so a PD
//!   links with `-C link-arg=-Tsel4.ld` (set for `aarch64-unknown-none` in the
//!   workspace's `.cargo/config.toml`) without knowing where this crate lives.
//!   (`rustc-link-arg` from a library would not reach them.)
//! - reads the kernel configuration the PDs are built for, `REINCARNATE_SEL4_CONFIG`
//!   (`debug`, the default, or `release`; `cargo xtask build --target sel4 --config
//!   ...` sets it): `release` sets the cfg `reincarnate_sel4_release` (no debug
//!   console, no hardware debug API; see `src/debug.rs`, `src/sel4_abi.rs`).
//! - checks the fault-injection schedule `REINCARNATE_INJECT` (see `src/inject.rs`),
//!   so a malformed one is a build error, never a panic in a PD.

use std::{env, fs, path::PathBuf};

#[allow(dead_code)] // the build script uses only the schedule parser
#[path = "src/inject.rs"]
mod inject;

const CONFIG_ENV: &str = "REINCARNATE_SEL4_CONFIG";

fn main() {
    println!("cargo::rerun-if-changed=sel4.ld");
    println!("cargo::rerun-if-changed=src/inject.rs");
    println!("cargo::rerun-if-env-changed={CONFIG_ENV}");
    println!("cargo::rerun-if-env-changed={}", inject::SCHEDULE_ENV);
    println!("cargo::rustc-check-cfg=cfg(reincarnate_sel4_release)");

    if let Ok(schedule) = env::var(inject::SCHEDULE_ENV)
        && let Err(e) = inject::InjectSchedule::parse(&schedule)
    {
        eprintln!("error: {}={schedule:?}: {e}", inject::SCHEDULE_ENV);
        std::process::exit(1);
    }

    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    match env::var(CONFIG_ENV).as_deref() {
        Err(_) | Ok("") | Ok("debug") => {}
        Ok("release") => println!("cargo::rustc-cfg=reincarnate_sel4_release"),
        Ok(other) => {
            eprintln!("error: {CONFIG_ENV}={other:?}: the seL4 kernel configuration must be `debug` or `release`");
            std::process::exit(1);
        }
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("sel4.ld", out.join("sel4.ld")).expect("copy sel4.ld to OUT_DIR");
    println!("cargo::rustc-link-search=native={}", out.display());
}
