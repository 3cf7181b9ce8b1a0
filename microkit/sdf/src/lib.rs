//! The Microkit System Description File (`system.xml`) as typed Rust data.
//!
//! `system.xml` is the single source of truth of a reincarnate system: its
//! protection domains (PDs), memory regions, channels, IRQs and the parent/child
//! tree. This crate
//!
//! * parses it ([`SystemDescription::parse`], [`SystemDescription::load`]) into the
//!   model in [`model`], keeping the line and column of every element;
//! * checks it against the rules of the Microkit 2.x tool for `qemu_virt_aarch64`
//!   ([`validate()`]), reporting **every** problem as `file:line:col: <element>: message`;
//! * generates per-program Rust constants ([`codegen::program_module`]);
//! * renders a least-privilege audit of who may do what ([`caps::report`]).
//!
//! ```
//! let xml = r#"<system>
//!   <protection_domain name="ping" priority="1"><program_image path="ping.elf"/></protection_domain>
//!   <protection_domain name="pong" priority="2"><program_image path="pong.elf"/></protection_domain>
//!   <channel><end pd="ping" id="1" pp="true"/><end pd="pong" id="0"/></channel>
//! </system>"#;
//! let sd = sdf::SystemDescription::parse("system.xml".as_ref(), xml).unwrap();
//! let ch = &sd.channels_of("ping")[0];
//! assert_eq!((ch.id, ch.peer.as_str(), ch.can_ppcall), (1, "pong", true));
//! ```
//!
//! Host-only code; it never panics on any input.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod caps;
pub mod codegen;
pub mod dot;
pub mod error;
pub mod model;
mod parse;
pub mod validate;

use std::path::Path;

pub use error::{Error, Errors};
pub use model::{
    Channel, ChannelEnd, End, Irq, Map, MemoryRegion, PdRef, Perms, ProtectionDomain, SetVar, SystemDescription,
    Trigger,
};
pub use parse::{DEFAULT_BUDGET, DEFAULT_PAGE_SIZE, DEFAULT_STACK_SIZE};
pub use validate::validate;

impl SystemDescription {
    /// Parse and validate the text of a system description. `file` is used in error
    /// messages and generated code only.
    ///
    /// Returns every error found, sorted by position. An XML syntax error stops
    /// parsing and is the only error returned.
    pub fn parse(file: &Path, text: &str) -> Result<SystemDescription, Errors> {
        let (sd, mut errors, taint) = parse::parse(file, text);
        if let Some(sd) = &sd {
            errors.extend(validate::validate_with(sd, &taint));
        }
        // File-level errors (line 0) go last.
        errors.sort_by_key(|e| (e.line == 0, e.line, e.column));
        match sd {
            Some(sd) if errors.is_empty() => Ok(sd),
            _ => Err(Errors(errors)),
        }
    }

    /// Read `path` and [`parse`](SystemDescription::parse) it. A read error is
    /// returned as an [`Error`] at line 0.
    pub fn load(path: impl AsRef<Path>) -> Result<SystemDescription, Errors> {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(text) => SystemDescription::parse(path, &text),
            Err(e) => Err(Error::new(path, 0, 0, "", format!("cannot read file: {e}")).into()),
        }
    }
}
