//! `cargo xtask lint`: formatting and lints, as CI checks them (`cargo xtask test`
//! runs this first).
//!
//! - `cargo fmt --check` against `rustfmt.toml`;
//! - clippy with warnings as errors over the whole workspace built for the host
//!   (every target: libraries, binaries, tests);
//! - clippy with warnings as errors over every PD of `system.xml` built for seL4
//!   (`aarch64-unknown-none`), for the debug and the release kernel configuration,
//!   since `cfg(target_os = "none")` and the release config compile other code.
//!
//! A lint that is allowed is allowed at the narrowest scope, with a comment that
//! says why.

use crate::sel4::{self, KernelConfig, Options};
use crate::test::step;
use crate::workspace::{Error, Workspace};

pub fn run(ws: &Workspace) -> Result<(), Error> {
    step(ws, "formatting (rustfmt.toml)", &["fmt", "--all", "--check"])?;
    step(
        ws,
        "lints, host build",
        &["clippy", "--workspace", "--all-targets", "--release", "--quiet", "--", "-D", "warnings"],
    )?;
    let sd = ws.load_system()?;
    for config in [KernelConfig::Debug, KernelConfig::Release] {
        println!("[xtask test] lints, seL4 build of every PD ({} kernel)", config.name());
        sel4::clippy(ws, &sd, &Options { config, inject: Vec::new() })?;
    }
    println!("[xtask test] formatting and lints: clean");
    Ok(())
}
