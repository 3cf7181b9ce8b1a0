//! What a server may ask of the reincarnation server (RS), on its *service
//! channel* to RS (a channel on which the server may call RS).
//!
//! [`COMPLAIN`]: MR0 = the server's own channel id to the driver it complains
//! about. RS restarts the driver if the server really depends on it (has that
//! channel to it in `system.xml`); otherwise it refuses with
//! [`Error::NotADependency`]. RS answers at once and never calls back.
//!
//! RS also notifies a server on its service channel when a driver it depends on
//! has failed (policy action `inform`).
#![no_std]
#![forbid(unsafe_code)]

use microkit::{Channel, MessageInfo, set_mr};

/// Label: complain about a driver.
pub const COMPLAIN: u64 = 1;
/// Reply label: done.
pub const OK: u64 = 0;

/// Why RS refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The channel does not lead to a component RS supervises and the caller
    /// depends on.
    NotADependency = 1,
    /// Unknown label or wrong number of message registers.
    BadRequest = 2,
    /// RS is gone (the kernel answered).
    PeerFaulted = 3,
}

impl Error {
    pub fn from_label(label: u64) -> Error {
        match label {
            1 => Error::NotADependency,
            l if l == MessageInfo::PEER_FAULTED => Error::PeerFaulted,
            _ => Error::BadRequest,
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::NotADependency => "not a driver this server depends on",
            Error::BadRequest => "bad request",
            Error::PeerFaulted => "the reincarnation server is gone",
        })
    }
}

/// Reports the driver on `driver` (the caller's channel to it) as misbehaving.
pub fn complain(rs: Channel, driver: Channel) -> Result<(), Error> {
    set_mr(0, driver.index() as u64);
    let reply = rs.pp_call(MessageInfo::new(COMPLAIN, 1));
    if reply.label() == OK { Ok(()) } else { Err(Error::from_label(reply.label())) }
}
