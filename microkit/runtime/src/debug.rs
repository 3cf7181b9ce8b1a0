//! Debug output (seL4_DebugPutChar on seL4, the PD's output stream on the host).

use core::fmt;

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
        use ::core::fmt::Write as _;
        let _ = ::core::write!($crate::DebugWriter, $($arg)*);
    }};
}

/// Prints a line to the debug console.
#[macro_export]
macro_rules! debug_println {
    () => { $crate::debug_print!("\n") };
    ($($arg:tt)*) => {{
        use ::core::fmt::Write as _;
        let _ = ::core::writeln!($crate::DebugWriter, $($arg)*);
    }};
}
