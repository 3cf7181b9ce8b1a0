//! The timer driver's protocol: protected procedure calls on a client's channel
//! to the `timer` PD, which has a higher priority than all its clients.
//!
//! | label           | MR0 in                 | reply                          |
//! |-----------------|------------------------|--------------------------------|
//! | [`NOW`]         | –                      | MR0 = now (ns)                 |
//! | [`SET_TIMEOUT`] | delay (ns)             | –                              |
//! | [`SET_PERIODIC`]| period (ns), 0 = stop  | –                              |
//! | [`CANCEL`]      | –                      | –                              |
//!
//! The reply's label is [`OK`] or an [`Error`] code. A due timeout or tick is a
//! notification on the same channel; ticks that come due while the client has
//! not yet run coalesce (a notification is one bit), so a periodic client reads
//! [`TimerClient::now`] rather than counting notifications.
#![no_std]
#![forbid(unsafe_code)]

use microkit::{Channel, MessageInfo, get_mr, set_mr};

pub const NOW: u64 = 1;
pub const SET_TIMEOUT: u64 = 2;
pub const SET_PERIODIC: u64 = 3;
pub const CANCEL: u64 = 4;

/// Reply label: done.
pub const OK: u64 = 0;

/// The shortest period the driver accepts: shorter ones would let one client
/// keep the timer PD (the highest priority in the system) busy.
pub const MIN_PERIOD_NS: u64 = 100_000;

/// Why the timer refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Unknown label or wrong number of message registers.
    BadRequest = 1,
    /// A period below [`MIN_PERIOD_NS`].
    PeriodTooShort = 2,
    /// The timer PD is gone (the call was answered by the kernel).
    PeerFaulted = 3,
}

impl Error {
    fn from_label(label: u64) -> Error {
        match label {
            2 => Error::PeriodTooShort,
            l if l == MessageInfo::PEER_FAULTED => Error::PeerFaulted,
            _ => Error::BadRequest,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::BadRequest => "bad request",
            Error::PeriodTooShort => "period too short",
            Error::PeerFaulted => "the timer is gone",
        })
    }
}

/// A client's handle on the timer: its channel to the `timer` PD.
#[derive(Clone, Copy, Debug)]
pub struct TimerClient {
    ch: Channel,
}

impl TimerClient {
    pub const fn new(ch: Channel) -> Self {
        TimerClient { ch }
    }

    /// The channel on which the timer notifies this client.
    pub const fn channel(&self) -> Channel {
        self.ch
    }

    fn call(&self, label: u64, arg: Option<u64>) -> Result<u64, Error> {
        if let Some(a) = arg {
            set_mr(0, a);
        }
        let reply = self.ch.pp_call(MessageInfo::new(label, arg.is_some() as usize));
        if reply.label() == OK { Ok(get_mr(0)) } else { Err(Error::from_label(reply.label())) }
    }

    /// Nanoseconds on the timer's clock.
    pub fn now(&self) -> Result<u64, Error> {
        self.call(NOW, None)
    }

    /// One notification after `delay_ns`; replaces an earlier timeout.
    pub fn set_timeout(&self, delay_ns: u64) -> Result<(), Error> {
        self.call(SET_TIMEOUT, Some(delay_ns)).map(drop)
    }

    /// A notification every `period_ns` (0 stops them).
    pub fn set_periodic(&self, period_ns: u64) -> Result<(), Error> {
        self.call(SET_PERIODIC, Some(period_ns)).map(drop)
    }

    /// Cancels the timeout and the ticks.
    pub fn cancel(&self) -> Result<(), Error> {
        self.call(CANCEL, None).map(drop)
    }
}
