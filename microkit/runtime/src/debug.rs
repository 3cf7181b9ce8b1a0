//! Debug output (seL4_DebugPutChar on seL4, the PD's output stream on the host).
//!
//! A release seL4 kernel has no debug console (no `seL4_DebugPutChar`): PDs built
//! for one (`cargo xtask build --target sel4 --config release`, which sets
//! `REINCARNATE_SEL4_CONFIG=release`) get [`DEBUG_OUTPUT`] = false, and the macros
//! compile to nothing (their arguments are still type-checked; the formatting code
//! and its strings are dead and left out of the binary).

use core::fmt;

/// Whether the debug console exists: false only for PDs built for a release seL4
/// kernel.
pub const DEBUG_OUTPUT: bool = !cfg!(reincarnate_sel4_release);

/// A `core::fmt::Write` sink for the debug console.
pub struct DebugWriter;

impl fmt::Write for DebugWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::backend::debug_write(s.as_bytes());
        Ok(())
    }
}

/// Prints to the debug console.
#[macro_export]
macro_rules! debug_print {
    ($($arg:tt)*) => {{
        if $crate::DEBUG_OUTPUT {
            use ::core::fmt::Write as _;
            let _ = ::core::write!($crate::DebugWriter, $($arg)*);
        }
    }};
}

/// Prints a line to the debug console.
#[macro_export]
macro_rules! debug_println {
    () => { $crate::debug_print!("\n") };
    ($($arg:tt)*) => {{
        if $crate::DEBUG_OUTPUT {
            use ::core::fmt::Write as _;
            let _ = ::core::writeln!($crate::DebugWriter, $($arg)*);
        }
    }};
}
