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
//! Replies follow the runtime's convention ([`microkit::reply`]): the label is
//! [`OK`] or an [`Error`] code; a timer that died during the call is
//! [`Error::PeerFaulted`]. A due timeout or tick is a
//! notification on the same channel; ticks that come due while the client has
//! not yet run coalesce (a notification is one bit), so a periodic client reads
//! [`TimerClient::now`] rather than counting notifications.
#![no_std]
#![forbid(unsafe_code)]

use microkit::reply::{self, ApiError};
use microkit::{Channel, MessageInfo, get_mr, set_mr};

pub const NOW: u64 = 1;
pub const SET_TIMEOUT: u64 = 2;
pub const SET_PERIODIC: u64 = 3;
pub const CANCEL: u64 = 4;

/// Reply label: done.
pub const OK: u64 = reply::OK;

/// The shortest period the driver accepts: shorter ones would let one client
/// keep the timer PD (the highest priority in the system) busy.
pub const MIN_PERIOD_NS: u64 = 100_000;

/// Why a timer request failed. The codes are the reply labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    /// Unknown label or wrong number of message registers.
    BadRequest = 1,
    /// A period below [`MIN_PERIOD_NS`].
    PeriodTooShort = 2,
    /// The timer PD is gone (the call was answered by the kernel).
    PeerFaulted = reply::PEER_FAULTED,
    /// The timer's reply made no sense (never sent by the timer).
    Protocol = reply::PROTOCOL,
}

impl ApiError for Error {
    const SENT: &'static [Self] = &[Error::BadRequest, Error::PeriodTooShort];
    const PEER_FAULTED: Self = Error::PeerFaulted;
    const PROTOCOL: Self = Error::Protocol;
    fn code(self) -> u64 {
        self as u64
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::BadRequest => "bad request",
            Error::PeriodTooShort => "period too short",
            Error::PeerFaulted => "the timer is gone",
            Error::Protocol => "the timer's reply is malformed",
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

    /// Calls the timer; `want` is how many MRs a successful reply must carry.
    fn call(&self, label: u64, arg: Option<u64>, want: usize) -> Result<u64, Error> {
        if let Some(a) = arg {
            set_mr(0, a);
        }
        reply::check_count::<Error>(self.ch.pp_call(MessageInfo::new(label, arg.is_some() as usize)), want)?;
        Ok(if want > 0 { get_mr(0) } else { 0 })
    }

    /// Nanoseconds on the timer's clock.
    pub fn now(&self) -> Result<u64, Error> {
        self.call(NOW, None, 1)
    }

    /// One notification after `delay_ns`; replaces an earlier timeout.
    pub fn set_timeout(&self, delay_ns: u64) -> Result<(), Error> {
        self.call(SET_TIMEOUT, Some(delay_ns), 0).map(drop)
    }

    /// A notification every `period_ns` (0 stops them).
    pub fn set_periodic(&self, period_ns: u64) -> Result<(), Error> {
        self.call(SET_PERIODIC, Some(period_ns), 0).map(drop)
    }

    /// Cancels the timeout and the ticks.
    pub fn cancel(&self) -> Result<(), Error> {
        self.call(CANCEL, None, 0).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_follow_the_reply_convention() {
        microkit::reply::conformance::assert_convention::<Error>();
        assert_eq!(Error::from_label(2), Error::PeriodTooShort);
        assert_eq!(Error::from_label(MessageInfo::PEER_FAULTED), Error::PeerFaulted);
    }
}
