//! What a server may ask of the reincarnation server (RS), on its *service
//! channel* to RS (a channel on which the server may call RS).
//!
//! [`COMPLAIN`]: MR0 = the server's own channel id to the driver it complains
//! about. RS restarts the driver if the server really depends on it (has that
//! channel to it in `system.xml`); otherwise it refuses with
//! [`Error::NotADependency`]. RS answers at once and never calls back.
//!
//! Replies follow the runtime's convention ([`microkit::reply`]): [`OK`] or an
//! [`Error`] code; an RS that died during the call is [`Error::PeerFaulted`].
//!
//! RS also notifies a server on its service channel when a driver it depends on
//! has failed (policy action `inform`).
#![no_std]
#![forbid(unsafe_code)]

use microkit::reply::{self, ApiError};
use microkit::{Channel, MessageInfo, set_mr};

/// Label: complain about a driver.
pub const COMPLAIN: u64 = 1;
/// Reply label: done.
pub const OK: u64 = reply::OK;

/// Why a request to RS failed. The codes are the reply labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    /// The channel does not lead to a component RS supervises and the caller
    /// depends on.
    NotADependency = 1,
    /// Unknown label or wrong number of message registers.
    BadRequest = 2,
    /// RS is gone (the kernel answered).
    PeerFaulted = reply::PEER_FAULTED,
    /// RS's reply made no sense (never sent by RS).
    Protocol = reply::PROTOCOL,
}

impl ApiError for Error {
    const SENT: &'static [Self] = &[Error::NotADependency, Error::BadRequest];
    const PEER_FAULTED: Self = Error::PeerFaulted;
    const PROTOCOL: Self = Error::Protocol;
    fn code(self) -> u64 {
        self as u64
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::NotADependency => "not a driver this server depends on",
            Error::BadRequest => "bad request",
            Error::PeerFaulted => "the reincarnation server is gone",
            Error::Protocol => "the reincarnation server's reply is malformed",
        })
    }
}

/// Reports the driver on `driver` (the caller's channel to it) as misbehaving.
pub fn complain(rs: Channel, driver: Channel) -> Result<(), Error> {
    set_mr(0, driver.index() as u64);
    reply::check::<Error>(rs.pp_call(MessageInfo::new(COMPLAIN, 1))).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_follow_the_reply_convention() {
        microkit::reply::conformance::assert_convention::<Error>();
        assert_eq!(Error::from_label(1), Error::NotADependency);
        assert_eq!(Error::from_label(2), Error::BadRequest);
    }
}
