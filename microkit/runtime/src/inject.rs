//! Fault injection: how users and CI make a PD fail on purpose.
//!
//! - [`InjectKind`]: what failure (crash, panic, hang, exit);
//! - [`InjectSchedule`]: a list of `PD:KIND@TIME` entries, e.g.
//!   `counter:crash@1s,ping:panic@2500ms`. On seL4 `cargo xtask run --target qemu
//!   --inject ...` compiles one into the PDs (environment variable
//!   [`SCHEDULE_ENV`] at build time); [`inject_schedule`](crate::inject_schedule)
//!   hands it to the PD that carries it out (the reincarnation server).
//!
//! This file is plain `core` code with no dependency on the rest of the crate: the
//! runtime's build script includes it too, to reject a malformed schedule at build
//! time.

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

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

/// Environment variable that carries a schedule into a seL4 build of the PDs.
pub const SCHEDULE_ENV: &str = "REINCARNATE_INJECT";

/// One entry of an [`InjectSchedule`]: make `pd` fail with `kind` at `at` after boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledInjection<'a> {
    /// The PD's name in `system.xml`.
    pub pd: &'a str,
    pub kind: InjectKind,
    /// Time after boot.
    pub at: Duration,
}

impl fmt::Display for ScheduledInjection<'_> {
    /// The schedule syntax, with the largest unit that keeps the time exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.at.as_nanos();
        let (value, unit) = UNITS
            .iter()
            .rev()
            .find(|(_, scale)| ns.is_multiple_of(*scale as u128))
            .map_or((ns, "ns"), |(unit, scale)| (ns / *scale as u128, *unit));
        write!(f, "{}:{}@{value}{unit}", self.pd, self.kind)
    }
}

/// Time units of the schedule syntax and their size in nanoseconds.
const UNITS: [(&str, u64); 4] = [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)];

/// What is wrong with a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleError<'a> {
    /// An entry is not `PD:KIND@TIME`.
    Syntax(&'a str),
    /// An entry names no PD.
    EmptyPd(&'a str),
    /// An unknown fault kind.
    Kind(&'a str),
    /// A time that is not a whole number followed by `ns`, `us`, `ms` or `s`.
    Time(&'a str),
}

impl fmt::Display for ScheduleError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::Syntax(e) => write!(f, "{e:?}: expected PD:KIND@TIME, e.g. counter:crash@1s"),
            ScheduleError::EmptyPd(e) => write!(f, "{e:?}: missing the PD name"),
            ScheduleError::Kind(e) => write!(f, "{e:?}: {ParseInjectKindError}"),
            ScheduleError::Time(e) => {
                write!(f, "{e:?}: the time must be a whole number with a unit ns, us, ms or s, e.g. 2500ms")
            }
        }
    }
}

/// A validated list of injections, `PD:KIND@TIME` separated by commas (spaces
/// around entries are ignored; an empty text is an empty schedule). TIME is a
/// whole number with a unit `ns`, `us`, `ms` or `s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectSchedule<'a> {
    text: &'a str,
}

impl<'a> InjectSchedule<'a> {
    /// The schedule with no entries.
    pub const EMPTY: InjectSchedule<'static> = InjectSchedule { text: "" };

    /// Parses and validates a schedule.
    pub fn parse(text: &'a str) -> Result<Self, ScheduleError<'a>> {
        for entry in entries(text) {
            parse_entry(entry)?;
        }
        Ok(InjectSchedule { text })
    }

    /// The entries, in the order of the text.
    pub fn iter(&self) -> impl Iterator<Item = ScheduledInjection<'a>> + 'a {
        // Validated by `parse`: nothing is skipped.
        entries(self.text).filter_map(|e| parse_entry(e).ok())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

fn entries(text: &str) -> impl Iterator<Item = &str> {
    let all_blank = text.trim().is_empty();
    text.split(',').map(str::trim).filter(move |_| !all_blank)
}

fn parse_entry(entry: &str) -> Result<ScheduledInjection<'_>, ScheduleError<'_>> {
    let (pd, rest) = entry.split_once(':').ok_or(ScheduleError::Syntax(entry))?;
    let (kind, time) = rest.split_once('@').ok_or(ScheduleError::Syntax(entry))?;
    if pd.is_empty() {
        return Err(ScheduleError::EmptyPd(entry));
    }
    if pd.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(ScheduleError::Syntax(entry));
    }
    let kind = kind.parse::<InjectKind>().map_err(|_| ScheduleError::Kind(entry))?;
    let digits = time.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = time.split_at(digits);
    let scale = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, s)| *s).ok_or(ScheduleError::Time(entry))?;
    let ns = number.parse::<u64>().ok().and_then(|n| n.checked_mul(scale)).ok_or(ScheduleError::Time(entry))?;
    Ok(ScheduledInjection { pd, kind, at: Duration::from_nanos(ns) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::vec::Vec;

    #[test]
    fn names_and_codes_round_trip() {
        for kind in InjectKind::ALL {
            assert_eq!(kind.name().parse::<InjectKind>(), Ok(kind));
            assert_eq!(InjectKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!("boom".parse::<InjectKind>(), Err(ParseInjectKindError));
        assert_eq!(InjectKind::from_code(0), None);
    }

    #[test]
    fn schedules_parse_in_order() {
        let s = InjectSchedule::parse("counter:crash@1s, ping:panic@2500ms,x:hang@7us,y:exit@0ns").unwrap();
        let got: Vec<_> = s.iter().collect();
        assert_eq!(
            got,
            [
                ScheduledInjection { pd: "counter", kind: InjectKind::Crash, at: Duration::from_secs(1) },
                ScheduledInjection { pd: "ping", kind: InjectKind::Panic, at: Duration::from_millis(2500) },
                ScheduledInjection { pd: "x", kind: InjectKind::Hang, at: Duration::from_micros(7) },
                ScheduledInjection { pd: "y", kind: InjectKind::Exit, at: Duration::ZERO },
            ]
        );
        assert_eq!(s.len(), 4);
        assert!(InjectSchedule::parse("").unwrap().is_empty());
        assert!(InjectSchedule::parse("  ").unwrap().is_empty());
        assert!(InjectSchedule::EMPTY.is_empty());
    }

    #[test]
    fn malformed_schedules_say_which_entry() {
        let err = |t| InjectSchedule::parse(t).unwrap_err();
        assert_eq!(err("counter"), ScheduleError::Syntax("counter"));
        assert_eq!(err("counter:crash"), ScheduleError::Syntax("counter:crash"));
        assert_eq!(err("a:crash@1s,:crash@1s"), ScheduleError::EmptyPd(":crash@1s"));
        assert_eq!(err("a:boom@1s"), ScheduleError::Kind("a:boom@1s"));
        assert_eq!(err("a:crash@1"), ScheduleError::Time("a:crash@1"));
        assert_eq!(err("a:crash@1.5s"), ScheduleError::Time("a:crash@1.5s"));
        assert_eq!(err("a:crash@ms"), ScheduleError::Time("a:crash@ms"));
        assert_eq!(err("a:crash@99999999999s"), ScheduleError::Time("a:crash@99999999999s"));
        assert_eq!(err("a:crash@1s,"), ScheduleError::Syntax(""));
        assert_eq!(err("a b:crash@1s"), ScheduleError::Syntax("a b:crash@1s"));
        assert!(format!("{}", err("a:boom@1s")).contains("crash, panic, hang, exit"));
    }

    #[test]
    fn entries_print_in_the_schedule_syntax() {
        let e =
            |ns| format!("{}", ScheduledInjection { pd: "c", kind: InjectKind::Crash, at: Duration::from_nanos(ns) });
        assert_eq!(e(1_000_000_000), "c:crash@1s");
        assert_eq!(e(2_500_000_000), "c:crash@2500ms");
        assert_eq!(e(1_500), "c:crash@1500ns");
        assert_eq!(e(0), "c:crash@0s");
        for text in ["c:crash@2500ms", "c:hang@7us"] {
            let entry = InjectSchedule::parse(text).unwrap().iter().next().unwrap();
            assert_eq!(format!("{entry}"), text);
        }
    }
}
