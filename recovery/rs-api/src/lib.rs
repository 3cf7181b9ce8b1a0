//! What other PDs may ask of the reincarnation server (RS): the protocol, its
//! types and the client stubs. This text is the specification.
//!
//! # Channels and rights
//!
//! Every request is a protected procedure call to RS. What a caller may ask
//! depends on the channel it calls on, as `system.xml` declares it:
//!
//! - a **service channel**: any channel to `rs` on which the caller may call
//!   (`pp="true"` on its end), other than an admin channel. A server uses it to
//!   [`complain`] about a driver it depends on and to ask its
//!   [`dependency_state`] (a server that has waited long on a silent driver
//!   tells a restart under way, or a driver starved of the CPU, from one RS
//!   has given up on); RS also notifies a server on it
//!   when a driver it depends on failed (policy action `inform`).
//! - an **admin channel**: a channel to `rs` with id [`ADMIN_ID`] (60) on the
//!   caller's end, on which the caller may call. Only on it may a PD use the
//!   admin requests ([`RsAdmin`]): the component table, restart, stop, start,
//!   fault injection, crash records. An admin request on any other channel is
//!   answered [`Error::Denied`]. `cargo xtask caps` lists the admin PDs.
//!
//! # Requests
//!
//! Labels and message registers (MR*n*); a *name* is a PD name of at most
//! [`NAME_MAX`] bytes, sent as MR*k* = its length and then its bytes,
//! little-endian, eight per register ([`Name::encode`]). A request with
//! another label, another number of registers or a malformed name is answered
//! [`Error::BadRequest`] ([`Request::decode`] is the check RS makes).
//!
//! | label | request | MRs | reply MRs |
//! | --- | --- | --- | --- |
//! | [`COMPLAIN`] (1) | a server reports a driver misbehaving | MR0 = the server's channel id to it | — |
//! | [`DEPENDENCY_STATE`] (2) | a server asks the state of a driver it depends on | MR0 = the server's channel id to it | MR0 = the state (1 starting, 2 up, 3 restarting, 4 down, 5 stopped) |
//! | [`STATUS`] (16) | the `index`th row of the component table | MR0 = index | a [`ComponentStatus`] |
//! | [`RESTART`] (17) | stop it and start a fresh copy, a new generation | name | — |
//! | [`STOP`] (18) | stop it until started | name | — |
//! | [`START`] (19) | start a stopped or down component (`service up`) | name | — |
//! | [`INJECT`] (20) | make it fail on purpose | MR0 = [`InjectKind::code`], name | — |
//! | [`CRASH`] (21) | its `nth` newest crash record (0 = the newest) | MR0 = nth, name | a [`CrashRecord`] |
//!
//! The component table has one row per PD of `system.xml`, in its order: the
//! components RS supervises (its children) with their state, generation,
//! restarts, last fault and the start of their running copy; and the rest as
//! RS knows them ([`Supervision`]): RS itself, the timer and the data store
//! (the trusted base, which RS calls and does not restart) are `up` while RS's
//! calls to them work; any other PD's state is unknown to RS. An index past the
//! end is [`Error::NoSuchComponent`]: a client reads rows `0, 1, ...` until it.
//!
//! Restart, stop, start and inject name a child of RS; another PD of the
//! system is [`Error::NotSupervised`], a name of none [`Error::NoSuchComponent`].
//! RS acts before it answers (the stop or restart is done; an injected failure
//! reaches the component at once on seL4, when it next waits on the host
//! kernel) and publishes the change as for any recovery (`@status`, DS).
//!
//! # Crash records
//!
//! At each kernel fault of a child, RS keeps a [`CrashRecord`]: when (RS's
//! clock, ns), the generation that faulted, the fault (kind, code, address,
//! PC) and, where the kernel has them, the registers and some stack around SP
//! (a [`microkit::CrashContext`]: registers on both kernels, stack bytes on the
//! host kernel only). It keeps the last [`CRASH_RECORDS`] per component, and
//! prints each as an `@crash` line ([`CrashRecord::line`]) that `cargo xtask
//! crashes` reads and symbolizes.
//!
//! # Replies
//!
//! Replies follow the runtime's convention ([`microkit::reply`]): [`OK`] with
//! the reply registers above, or an [`Error`] code; an RS that died during the
//! call is [`Error::PeerFaulted`]. RS answers at once, never blocks on the
//! caller, and never faults on a request: every field is checked.
#![no_std]
#![forbid(unsafe_code)]

mod client;
mod crash;
mod request;
mod status;

use microkit::reply::{self, ApiError};

pub use client::{RsAdmin, complain, dependency_state};
pub use crash::{CRASH_RECORDS, CrashRecord};
pub use microkit::InjectKind;
pub use request::{NAME_MAX, Name, Request};
pub use status::{ComponentStatus, Supervision, state_code, state_from_code};

/// The channel id an admin PD uses for its channel to RS.
pub const ADMIN_ID: u8 = 60;

/// Label: complain about a driver.
pub const COMPLAIN: u64 = 1;
/// Label: the state of a driver the caller depends on.
pub const DEPENDENCY_STATE: u64 = 2;
/// Label: one row of the component table.
pub const STATUS: u64 = 16;
/// Label: restart a component.
pub const RESTART: u64 = 17;
/// Label: stop a component.
pub const STOP: u64 = 18;
/// Label: start a stopped or down component.
pub const START: u64 = 19;
/// Label: inject a failure into a component.
pub const INJECT: u64 = 20;
/// Label: read a crash record.
pub const CRASH: u64 = 21;
/// Reply label: done.
pub const OK: u64 = reply::OK;

/// Why a request to RS failed. The codes are the reply labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    /// The channel does not lead to a component RS supervises and the caller
    /// depends on.
    NotADependency = 1,
    /// Unknown label, wrong number of message registers or a malformed field.
    BadRequest = 2,
    /// An admin request on a channel that is not an admin channel.
    Denied = 3,
    /// No component of that name, or a table index past the end.
    NoSuchComponent = 4,
    /// A PD of the system that RS does not supervise (not its child).
    NotSupervised = 5,
    /// Stop of a component that is already stopped or down.
    NotRunning = 6,
    /// Start of a component that is not stopped or down.
    AlreadyRunning = 7,
    /// No crash record with that number.
    NoRecord = 8,
    /// The kernel refused RS's operation on the component.
    KernelRefused = 9,
    /// RS is gone (the kernel answered).
    PeerFaulted = reply::PEER_FAULTED,
    /// RS's reply made no sense (never sent by RS).
    Protocol = reply::PROTOCOL,
}

impl ApiError for Error {
    const SENT: &'static [Self] = &[
        Error::NotADependency,
        Error::BadRequest,
        Error::Denied,
        Error::NoSuchComponent,
        Error::NotSupervised,
        Error::NotRunning,
        Error::AlreadyRunning,
        Error::NoRecord,
        Error::KernelRefused,
    ];
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
            Error::Denied => "denied: not an admin channel",
            Error::NoSuchComponent => "no such component",
            Error::NotSupervised => "not a component the reincarnation server supervises",
            Error::NotRunning => "not running",
            Error::AlreadyRunning => "already running",
            Error::NoRecord => "no such crash record",
            Error::KernelRefused => "the kernel refused",
            Error::PeerFaulted => "the reincarnation server is gone",
            Error::Protocol => "the reincarnation server's reply is malformed",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_follow_the_reply_convention() {
        microkit::reply::conformance::assert_convention::<Error>();
        assert_eq!(Error::from_label(1), Error::NotADependency);
        assert_eq!(Error::from_label(2), Error::BadRequest);
        assert_eq!(Error::from_label(3), Error::Denied);
        assert_eq!(Error::from_label(9), Error::KernelRefused);
    }
}
