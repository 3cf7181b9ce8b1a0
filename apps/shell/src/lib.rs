//! The shell on the console (MINIX 3's shell and `service(8)`, for
//! reincarnate): a line editor with history ([`editor`]), its commands
//! ([`command`]) and how it prints RS's answers ([`format`]). The PD
//! (`src/bin/shell.rs`) reads the console driver's queues, runs component
//! commands on its admin channel to RS and file commands on VFS.
//!
//! Everything here is plain `no_std` code, tested on the host.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod command;
pub mod editor;
pub mod format;

/// The prompt.
pub const PROMPT: &str = "reincarnate> ";
/// The first line the shell prints (and prints again after the console
/// driver restarted).
pub const GREETING: &str = "reincarnate shell: type help";
