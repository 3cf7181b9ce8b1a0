//! Fault knobs: how a test makes a device misbehave.

use std::time::Duration;

/// Ways a malicious device lies in the used ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malice {
    /// Reports a descriptor id the driver never made available (out of range).
    BadId,
    /// Reports more bytes written than the driver's buffers hold.
    BadLen,
    /// Advances the used index by far more than it completed.
    BadIdx,
}

impl std::str::FromStr for Malice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bad-id" => Ok(Malice::BadId),
            "bad-len" => Ok(Malice::BadLen),
            "bad-idx" => Ok(Malice::BadIdx),
            _ => Err(format!("unknown malice {s:?} (bad-id, bad-len, bad-idx)")),
        }
    }
}

/// What a device does wrong, on purpose. The default is an honest device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every n-th request loses its data (a lost frame, discarded console bytes,
    /// a block request that completes with an I/O error); 0: never.
    pub drop_every: u32,
    /// Completes requests this long after the driver's notify, from another thread.
    pub delay: Option<Duration>,
    /// Every n-th request's data reaches the driver with a byte flipped; 0: never.
    pub corrupt_every: u32,
    /// Lies in the used ring on every completion.
    pub malice: Option<Malice>,
}

impl Faults {
    /// An honest device.
    pub fn none() -> Faults {
        Faults::default()
    }
}

/// Counts requests to decide which ones a knob hits.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counter(u64);

impl Counter {
    /// Counts one request; true if it is an `every`-th one.
    pub(crate) fn hit(&mut self, every: u32) -> bool {
        self.0 += 1;
        every != 0 && self.0.is_multiple_of(every as u64)
    }
}
