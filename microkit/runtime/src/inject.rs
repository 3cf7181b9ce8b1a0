//! Fault injection: how users and CI make a PD fail on purpose.

use core::fmt;
use core::str::FromStr;

/// A failure to inject into a PD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectKind {
    /// Write through a wild pointer (a VM fault at [`InjectKind::CRASH_ADDRESS`]).
    Crash,
    /// A Rust panic.
    Panic,
    /// An endless loop: the PD stops answering anything.
    Hang,
    /// The PD ends by itself.
    Exit,
}

impl InjectKind {
    /// The unmapped address a `Crash` writes to (on both kernels).
    pub const CRASH_ADDRESS: u64 = 0x10;

    /// All kinds, for command-line help.
    pub const ALL: [InjectKind; 4] = [InjectKind::Crash, InjectKind::Panic, InjectKind::Hang, InjectKind::Exit];

    /// Wire code.
    pub const fn code(self) -> u64 {
        match self {
            InjectKind::Crash => 1,
            InjectKind::Panic => 2,
            InjectKind::Hang => 3,
            InjectKind::Exit => 4,
        }
    }

    /// Inverse of [`InjectKind::code`].
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(InjectKind::Crash),
            2 => Some(InjectKind::Panic),
            3 => Some(InjectKind::Hang),
            4 => Some(InjectKind::Exit),
            _ => None,
        }
    }

    /// The name used on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            InjectKind::Crash => "crash",
            InjectKind::Panic => "panic",
            InjectKind::Hang => "hang",
            InjectKind::Exit => "exit",
        }
    }
}

impl fmt::Display for InjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown fault kind on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseInjectKindError;

impl fmt::Display for ParseInjectKindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fault kind must be one of crash, panic, hang, exit")
    }
}

impl FromStr for InjectKind {
    type Err = ParseInjectKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InjectKind::ALL.into_iter().find(|k| k.name() == s).ok_or(ParseInjectKindError)
    }
}

/// Carries out an injected failure in the calling PD. Returns only for kinds
/// that do not end the PD (none today).
pub(crate) fn perform(kind: InjectKind) {
    crate::debug_println!("{}: injected {}", crate::pd_name(), kind);
    match kind {
        InjectKind::Crash => crate::backend::wild_write(InjectKind::CRASH_ADDRESS),
        InjectKind::Panic => panic!("injected panic"),
        InjectKind::Hang => loop {
            core::hint::spin_loop();
        },
        InjectKind::Exit => crate::backend::exit(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for kind in InjectKind::ALL {
            assert_eq!(kind.name().parse::<InjectKind>(), Ok(kind));
            assert_eq!(InjectKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!("boom".parse::<InjectKind>(), Err(ParseInjectKindError));
        assert_eq!(InjectKind::from_code(0), None);
    }
}
