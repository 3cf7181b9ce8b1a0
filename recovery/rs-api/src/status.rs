//! A row of RS's component table ([`crate::STATUS`]).

use microkit::status::ComponentState;
use microkit::{Fault, FaultKind};

use crate::request::{NAME_WORDS_MAX, Name};

/// How RS knows the PD of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervision {
    /// A child of RS: state, generation, restarts and faults are RS's own.
    Supervised,
    /// RS itself, the timer or the data store: up while RS's calls to them
    /// work; never restarted (generation 0). Their start is RS's own.
    TrustedBase,
    /// Any other PD: RS does not know its state.
    Other,
}

impl Supervision {
    const fn code(self) -> u64 {
        match self {
            Supervision::Supervised => 1,
            Supervision::TrustedBase => 2,
            Supervision::Other => 3,
        }
    }

    const fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Supervision::Supervised),
            2 => Some(Supervision::TrustedBase),
            3 => Some(Supervision::Other),
            _ => None,
        }
    }
}

/// One row of the component table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComponentStatus {
    pub name: Name,
    pub supervision: Supervision,
    /// `None`: RS does not know.
    pub state: Option<ComponentState>,
    pub generation: u64,
    pub restarts: u64,
    pub last_fault: Option<Fault>,
    /// When the last fault happened (RS's clock, ns; 0 if none).
    pub last_fault_at_ns: u64,
    /// When the running copy was started (RS's clock, ns), if known.
    pub started_at_ns: Option<u64>,
    /// RS's clock when it answered.
    pub now_ns: u64,
}

const FIXED_WORDS: usize = 12;
/// Most registers a row takes.
pub(crate) const STATUS_WORDS_MAX: usize = FIXED_WORDS + NAME_WORDS_MAX;

impl ComponentStatus {
    /// How long the running copy has run, if it runs and its start is known.
    pub fn uptime_ns(&self) -> Option<u64> {
        match self.state {
            Some(ComponentState::Up | ComponentState::Starting) => {
                self.started_at_ns.map(|s| self.now_ns.saturating_sub(s))
            }
            _ => None,
        }
    }

    /// Writes the row; returns the registers used (0 if `out` is too short).
    pub fn encode(&self, out: &mut [u64]) -> usize {
        if out.len() < FIXED_WORDS + self.name.words() {
            return 0;
        }
        out[0] = self.supervision.code();
        out[1] = self.state.map_or(0, state_code);
        out[2] = self.generation;
        out[3] = self.restarts;
        encode_fault(self.last_fault, &mut out[4..9]);
        out[9] = self.last_fault_at_ns;
        out[10] = self.started_at_ns.map_or(0, |s| s.max(1));
        out[11] = self.now_ns;
        FIXED_WORDS + self.name.encode(&mut out[FIXED_WORDS..])
    }

    /// Reads a row from RS's reply; `None` if it is not one.
    pub fn decode(words: &[u64]) -> Option<Self> {
        let fixed = words.get(..FIXED_WORDS)?;
        let supervision = Supervision::from_code(fixed[0])?;
        let state = match fixed[1] {
            0 => None,
            n => Some(state_from_code(n)?),
        };
        let last_fault = decode_fault(&fixed[4..9])?;
        let (name, n) = Name::decode(&words[FIXED_WORDS..])?;
        if FIXED_WORDS + n != words.len() {
            return None;
        }
        Some(ComponentStatus {
            name,
            supervision,
            state,
            generation: fixed[2],
            restarts: fixed[3],
            last_fault,
            last_fault_at_ns: fixed[9],
            started_at_ns: (fixed[10] != 0).then_some(fixed[10]),
            now_ns: fixed[11],
        })
    }
}

/// A state in a register: 1 + its place in [`ComponentState::ALL`] (0 is
/// left for "unknown").
pub fn state_code(state: ComponentState) -> u64 {
    ComponentState::ALL.iter().position(|x| *x == state).map_or(0, |i| i as u64 + 1)
}

/// Inverse of [`state_code`]; `None` for a register that is no state.
pub fn state_from_code(code: u64) -> Option<ComponentState> {
    ComponentState::ALL.get(usize::try_from(code.checked_sub(1)?).ok()?).copied()
}

/// A fault in five registers: kind (0 = none), code, flags (1: address, 2:
/// PC), address, PC.
pub(crate) fn encode_fault(fault: Option<Fault>, out: &mut [u64]) {
    let Some(f) = fault else {
        out[..5].fill(0);
        return;
    };
    out[0] = f.kind.code();
    out[1] = f.code;
    out[2] = f.addr.is_some() as u64 | (f.pc.is_some() as u64) << 1;
    out[3] = f.addr.unwrap_or(0);
    out[4] = f.pc.unwrap_or(0);
}

/// Inverse of [`encode_fault`]: `Some(None)` for no fault, `None` for words
/// that are not a fault.
pub(crate) fn decode_fault(words: &[u64]) -> Option<Option<Fault>> {
    let [kind, code, flags, addr, pc] = *words.get(..5)? else { return None };
    if kind == 0 {
        return Some(None);
    }
    let k = FaultKind::from_code(kind);
    if k.code() != kind || flags > 3 {
        return None;
    }
    Some(Some(Fault { kind: k, code, addr: (flags & 1 != 0).then_some(addr), pc: (flags & 2 != 0).then_some(pc) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let row = ComponentStatus {
            name: Name::new("virtio_net").unwrap(),
            supervision: Supervision::Supervised,
            state: Some(ComponentState::Up),
            generation: 3,
            restarts: 3,
            last_fault: Some(Fault { kind: FaultKind::VmFault, code: 11, addr: Some(0x10), pc: Some(0x5555) }),
            last_fault_at_ns: 77,
            started_at_ns: Some(100),
            now_ns: 1100,
        };
        let mut out = [0; STATUS_WORDS_MAX];
        let n = row.encode(&mut out);
        assert_eq!(ComponentStatus::decode(&out[..n]), Some(row));
        assert_eq!(row.uptime_ns(), Some(1000));
        let other = ComponentStatus { supervision: Supervision::Other, state: None, started_at_ns: None, ..row };
        let n = other.encode(&mut out);
        assert_eq!(ComponentStatus::decode(&out[..n]), Some(other));
        assert_eq!(other.uptime_ns(), None);
        assert_eq!(ComponentStatus::decode(&out[..n - 1]), None);
        out[1] = 9;
        assert_eq!(ComponentStatus::decode(&out[..n]), None);
    }
}
