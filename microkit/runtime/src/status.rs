//! Machine-readable status lines: how a supervisor (the reincarnation server)
//! tells tools on the other side of the console what became of each PD.
//!
//! ```text
//! @status pd=counter state=up generation=1 restarts=1 fault=vm-fault addr=0x10 pc=0x200abc
//! @status pd=ping state=up generation=0 restarts=0 fault=-
//! ```
//!
//! `state` is `starting`, `up`, `restarting`, `down` or `stopped`; `fault` (always last) is
//! the last fault's kind ([`FaultKind::name`]) with its address and PC where
//! known, or `-`. A restart the kernel refused is `fault=restart-failed
//! error=NAME` ([`KernelError::name`](crate::KernelError::name)). A supervisor prints a [`StatusLine`] with `debug_println!("{line}")`;
//! `cargo xtask run --target qemu --for ...` parses the console with
//! [`StatusLine::parse`] and prints a table of each PD's last line.

use core::fmt;

use crate::fault::{Fault, FaultKind};

/// What marks a status line.
pub const STATUS_MARK: &str = "@status";

/// Life-cycle state of a component as its supervisor (the reincarnation server)
/// publishes it. Not the kernel's view of its process (the host kernel's
/// `ProcessState`): here `Down` is "left down for good", a decision of the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentState {
    /// A fresh copy was started; its `init` has not finished yet.
    Starting,
    /// Running (its `init` finished, or it has not faulted).
    Up,
    /// Faulted and being restarted.
    Restarting,
    /// Faulted and left down (by policy, or out of restarts).
    Down,
    /// Stopped on purpose.
    Stopped,
}

impl ComponentState {
    /// All states.
    pub const ALL: [ComponentState; 5] = [
        ComponentState::Starting,
        ComponentState::Up,
        ComponentState::Restarting,
        ComponentState::Down,
        ComponentState::Stopped,
    ];

    /// The name in a status line.
    pub const fn name(self) -> &'static str {
        match self {
            ComponentState::Starting => "starting",
            ComponentState::Up => "up",
            ComponentState::Restarting => "restarting",
            ComponentState::Down => "down",
            ComponentState::Stopped => "stopped",
        }
    }
}

/// One `@status` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusLine<'a> {
    pub pd: &'a str,
    pub state: ComponentState,
    /// 0 for the first instance, +1 per restart.
    pub generation: u64,
    pub restarts: u64,
    /// When the supervisor published it, in ns on its clock
    /// (`microkit::arch_timer::now_ns`), if it says (`at=`).
    pub at: Option<u64>,
    /// The last fault (its `code` is not part of the line and parses as 0, but
    /// for a `restart-failed`'s kernel error).
    pub fault: Option<Fault>,
}

/// Why a line that carries [`STATUS_MARK`] is not a valid status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusError<'a> {
    /// A field is missing.
    Missing(&'static str),
    /// A field has a value that does not parse.
    BadValue { field: &'static str, value: &'a str },
    /// A word that is not `key=value`.
    Malformed(&'a str),
}

impl fmt::Display for StatusError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::Missing(field) => write!(f, "status line without {field}="),
            StatusError::BadValue { field, value } => write!(f, "status line with a bad {field}: {value:?}"),
            StatusError::Malformed(word) => write!(f, "status line with {word:?}, which is not key=value"),
        }
    }
}

impl fmt::Display for StatusLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{STATUS_MARK} pd={} state={} generation={} restarts={} ",
            self.pd,
            self.state.name(),
            self.generation,
            self.restarts
        )?;
        if let Some(at) = self.at {
            write!(f, "at={at} ")?;
        }
        f.write_str("fault=")?;
        match self.fault {
            None => f.write_str("-"),
            Some(fault) => {
                f.write_str(fault.kind.name())?;
                if let Some(addr) = fault.addr {
                    write!(f, " addr={addr:#x}")?;
                }
                if let Some(pc) = fault.pc {
                    write!(f, " pc={pc:#x}")?;
                }
                if let Some(error) = fault.kernel_error() {
                    write!(f, " error={}", error.name())?;
                }
                Ok(())
            }
        }
    }
}

impl<'a> StatusLine<'a> {
    /// Finds and parses a status line in one line of console output: `None` if the
    /// line has no [`STATUS_MARK`] word (anything before it, such as the rest of
    /// an interleaved line, is ignored, as are trailing `\r` and unknown fields).
    pub fn parse(line: &'a str) -> Option<Result<Self, StatusError<'a>>> {
        let at = find_mark(line)?;
        Some(parse_fields(line[at + STATUS_MARK.len()..].trim_end_matches(['\r', '\n'])))
    }
}

/// Start of the mark as a word of its own (followed by a space or the end).
fn find_mark(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find(STATUS_MARK) {
        let at = from + i;
        let after = &line[at + STATUS_MARK.len()..];
        if after.is_empty() || after.starts_with(' ') {
            return Some(at);
        }
        from = at + STATUS_MARK.len();
    }
    None
}

fn number<'a>(field: &'static str, value: &'a str) -> Result<u64, StatusError<'a>> {
    value.parse().map_err(|_| StatusError::BadValue { field, value })
}

fn hex<'a>(field: &'static str, value: &'a str) -> Result<u64, StatusError<'a>> {
    value.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok()).ok_or(StatusError::BadValue { field, value })
}

fn parse_fields(text: &str) -> Result<StatusLine<'_>, StatusError<'_>> {
    let (mut pd, mut state, mut generation, mut restarts, mut fault) = (None, None, None, None, None);
    let mut at = None;
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    while let Some(word) = words.next() {
        let (key, value) = word.split_once('=').ok_or(StatusError::Malformed(word))?;
        match key {
            "pd" if !value.is_empty() => pd = Some(value),
            "pd" => return Err(StatusError::BadValue { field: "pd", value }),
            "state" => {
                let s = ComponentState::ALL.into_iter().find(|s| s.name() == value);
                state = Some(s.ok_or(StatusError::BadValue { field: "state", value })?);
            }
            "generation" => generation = Some(number("generation", value)?),
            "restarts" => restarts = Some(number("restarts", value)?),
            "at" => at = Some(number("at", value)?),
            "fault" if value == "-" => fault = Some(None),
            "fault" => {
                let kind = FaultKind::from_name(value).ok_or(StatusError::BadValue { field: "fault", value })?;
                let mut f = Fault::new(kind);
                // The fault's own fields follow it.
                for word in words.by_ref() {
                    match word.split_once('=') {
                        Some(("addr", v)) => f.addr = Some(hex("addr", v)?),
                        Some(("pc", v)) => f.pc = Some(hex("pc", v)?),
                        Some(("error", v)) => {
                            let error = crate::KernelError::from_name(v);
                            f.code = error.ok_or(StatusError::BadValue { field: "error", value: v })?.code();
                        }
                        _ => return Err(StatusError::Malformed(word)),
                    }
                }
                fault = Some(Some(f));
            }
            _ => {} // a field of a later version
        }
    }
    Ok(StatusLine {
        pd: pd.ok_or(StatusError::Missing("pd"))?,
        state: state.ok_or(StatusError::Missing("state"))?,
        generation: generation.ok_or(StatusError::Missing("generation"))?,
        restarts: restarts.ok_or(StatusError::Missing("restarts"))?,
        at,
        fault: fault.ok_or(StatusError::Missing("fault"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn vm_fault() -> Fault {
        Fault { kind: FaultKind::VmFault, code: 0, addr: Some(0x10), pc: Some(0x200abc) }
    }

    #[test]
    fn lines_print_and_parse_back() {
        let line = StatusLine {
            pd: "counter",
            state: ComponentState::Up,
            generation: 1,
            restarts: 1,
            at: None,
            fault: Some(vm_fault()),
        };
        let text = format!("{line}");
        assert_eq!(text, "@status pd=counter state=up generation=1 restarts=1 fault=vm-fault addr=0x10 pc=0x200abc");
        assert_eq!(StatusLine::parse(&text), Some(Ok(line)));
        let quiet = StatusLine {
            pd: "ping",
            state: ComponentState::Stopped,
            generation: 0,
            restarts: 0,
            at: None,
            fault: None,
        };
        assert_eq!(format!("{quiet}"), "@status pd=ping state=stopped generation=0 restarts=0 fault=-");
        assert_eq!(StatusLine::parse(&format!("{quiet}")), Some(Ok(quiet)));
        let panic =
            StatusLine { fault: Some(Fault::new(FaultKind::Panic)), state: ComponentState::Restarting, ..quiet };
        assert_eq!(StatusLine::parse(&format!("{panic}")), Some(Ok(panic)));
        let refused = StatusLine { fault: Some(Fault::restart_failed(crate::KernelError::StartFailed)), ..quiet };
        assert_eq!(
            format!("{refused}"),
            "@status pd=ping state=stopped generation=0 restarts=0 fault=restart-failed error=start-failed"
        );
        assert_eq!(StatusLine::parse(&format!("{refused}")), Some(Ok(refused)));
        let timed = StatusLine { at: Some(123_456), ..panic };
        assert_eq!(
            format!("{timed}"),
            "@status pd=ping state=restarting generation=0 restarts=0 at=123456 fault=panic"
        );
        assert_eq!(StatusLine::parse(&format!("{timed}")), Some(Ok(timed)));
    }

    #[test]
    fn console_noise_around_a_line_is_ignored() {
        let got =
            StatusLine::parse("rs: @status pd=a state=down generation=2 restarts=3 fault=panic\r").unwrap().unwrap();
        assert_eq!((got.pd, got.state, got.generation, got.restarts), ("a", ComponentState::Down, 2, 3));
        assert_eq!(got.fault, Some(Fault::new(FaultKind::Panic)));
        // Fields in another order, and one from a later version.
        let got = StatusLine::parse("@status fault=- restarts=0 generation=0 state=up pd=b since=5").unwrap().unwrap();
        assert_eq!((got.pd, got.fault), ("b", None));
        assert_eq!(StatusLine::parse("ping: notification round trip 1"), None);
        assert_eq!(StatusLine::parse("@statusbar pd=a"), None);
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let err = |l| StatusLine::parse(l).unwrap().unwrap_err();
        assert_eq!(err("@status"), StatusError::Missing("pd"));
        assert_eq!(err("@status pd=a state=up generation=0 restarts=0"), StatusError::Missing("fault"));
        assert_eq!(
            err("@status pd=a state=asleep generation=0 restarts=0 fault=-"),
            StatusError::BadValue { field: "state", value: "asleep" }
        );
        assert_eq!(
            err("@status pd=a state=up generation=x restarts=0 fault=-"),
            StatusError::BadValue { field: "generation", value: "x" }
        );
        assert_eq!(
            err("@status pd=a state=up generation=0 restarts=0 fault=oops"),
            StatusError::BadValue { field: "fault", value: "oops" }
        );
        assert_eq!(
            err("@status pd=a state=up generation=0 restarts=0 fault=vm-fault addr=16"),
            StatusError::BadValue { field: "addr", value: "16" }
        );
        assert_eq!(
            err("@status pd=a state=up generation=0 restarts=0 fault=panic junk"),
            StatusError::Malformed("junk")
        );
        assert_eq!(err("@status pd= state=up"), StatusError::BadValue { field: "pd", value: "" });
        assert_eq!(
            err("@status pd=a state=up generation=0 restarts=0 fault=restart-failed error=oops"),
            StatusError::BadValue { field: "error", value: "oops" }
        );
        assert!(format!("{}", err("@status")).contains("pd="));
    }
}
