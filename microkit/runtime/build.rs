//! For seL4 builds (`target_os = "none"`): puts the PD linker script `sel4.ld` on
//! the linker's search path. Cargo passes a dependency's `rustc-link-search` on to
//! the binaries that use it, so a PD links with `-C link-arg=-Tsel4.ld` (set for
//! `aarch64-unknown-none` in the workspace's `.cargo/config.toml`) without knowing
//! where this crate lives. (`rustc-link-arg` from a library would not reach them.)

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo::rerun-if-changed=sel4.ld");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("sel4.ld", out.join("sel4.ld")).expect("copy sel4.ld to OUT_DIR");
    println!("cargo::rustc-link-search=native={}", out.display());
}
