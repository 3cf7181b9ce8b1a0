//! The reply convention of every server API (`*-api` crates): what the label of
//! a reply to a protected procedure call means, and how a client turns it into a
//! `Result`.
//!
//! This text is the specification; the code follows it.
//!
//! # Labels
//!
//! A server answers a call with a [`MessageInfo`] whose label is one of:
//!
//! | label | meaning | sent by |
//! | --- | --- | --- |
//! | [`OK`] (0) | done; the reply's message registers are the result | the server |
//! | 1 ..= [`CODE_MAX`] | the error of the API with this [`ApiError::code`]; no message register is used | the server |
//! | [`PEER_FAULTED`] | the server faulted, was stopped or restarted while serving the call: the call did not complete | the kernel or the runtime (never a handler) |
//! | [`UNHANDLED`] | the server does not serve calls on this channel (its handler has no `protected`) | the runtime |
//! | other labels of [`RESERVED`] | never sent today; reserved for the runtime and the kernel | — |
//!
//! Labels of [`RESERVED`] are the same in every API, so a client tells a dead
//! peer from an error of the API without knowing the API. [`PROTOCOL`] is in the
//! reserved range but is never a label on the wire: it is the code of the error a
//! client raises itself for a reply it cannot decode.
//!
//! # Peer death
//!
//! A call whose server dies is answered [`PEER_FAULTED`] on both kernels (the
//! host kernel answers it; on seL4 a restarted server's runtime answers the call
//! its previous copy was serving, and a stopped server's pending reply is
//! retired). The client's error is its API's [`ApiError::PEER_FAULTED`]; the
//! server may be back (restarted, with a new generation), so a client may retry,
//! but must not assume that the call took effect or that it did not.
//!
//! # An API's error enum
//!
//! Each API has one error enum that implements [`ApiError`]:
//!
//! - every error the server sends has a code in `1..=CODE_MAX`, stable forever,
//!   listed in [`ApiError::SENT`];
//! - a variant for peer death, [`ApiError::PEER_FAULTED`], whose code is
//!   [`PEER_FAULTED`];
//! - a variant for a reply the client cannot make sense of ([`UNHANDLED`], a
//!   label no error of the API has, too few message registers),
//!   [`ApiError::PROTOCOL`], whose code is [`PROTOCOL`].
//!
//! `#[repr(u64)]` with the codes as discriminants makes `code` `self as u64`:
//!
//! ```
//! use microkit::reply::{self, ApiError};
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Eq)]
//! #[repr(u64)]
//! enum Error {
//!     BadRequest = 1,
//!     PeerFaulted = reply::PEER_FAULTED,
//!     Protocol = reply::PROTOCOL,
//! }
//!
//! impl ApiError for Error {
//!     const SENT: &'static [Self] = &[Error::BadRequest];
//!     const PEER_FAULTED: Self = Error::PeerFaulted;
//!     const PROTOCOL: Self = Error::Protocol;
//!     fn code(self) -> u64 {
//!         self as u64
//!     }
//! }
//!
//! // A client: `reply::check(ch.pp_call(msg))?`; a server: `e.reply()`.
//! let reply = Error::BadRequest.reply();
//! assert_eq!(reply::check::<Error>(reply), Err(Error::BadRequest));
//! assert_eq!(reply::check::<Error>(reply::ok(1)).map(|r| r.count()), Ok(1));
//! assert_eq!(Error::from_label(reply::PEER_FAULTED), Error::PeerFaulted);
//! assert_eq!(Error::from_label(99), Error::Protocol);
//! ```
//!
//! [`conformance`] checks an implementation against this convention.

use crate::message::MessageInfo;

/// Label of a successful reply.
pub const OK: u64 = 0;

/// The labels reserved for the runtime and the kernel: the top 256 labels.
pub const RESERVED: core::ops::RangeInclusive<u64> = RESERVED_MIN..=PEER_FAULTED;

/// The first reserved label.
pub const RESERVED_MIN: u64 = PEER_FAULTED - 0xff;

/// The largest code an API's own error may have.
pub const CODE_MAX: u64 = RESERVED_MIN - 1;

/// The callee faulted, was stopped or restarted during the call (sent by the
/// kernel or the runtime): [`MessageInfo::PEER_FAULTED`].
pub const PEER_FAULTED: u64 = MessageInfo::PEER_FAULTED;

/// The callee does not serve calls (sent by the runtime): [`MessageInfo::UNHANDLED`].
pub const UNHANDLED: u64 = MessageInfo::UNHANDLED;

/// The code of the error a client raises for a reply it cannot decode (never
/// sent).
pub const PROTOCOL: u64 = PEER_FAULTED - 2;

/// The error enum of one API (see the [module documentation](self)).
pub trait ApiError: Copy + Eq + 'static {
    /// Every error the server sends; each has a distinct code in `1..=CODE_MAX`.
    const SENT: &'static [Self];
    /// The error of a call whose server died ([`PEER_FAULTED`]).
    const PEER_FAULTED: Self;
    /// The error of a reply the client cannot decode ([`PROTOCOL`]).
    const PROTOCOL: Self;

    /// The stable code: the reply label for an error in [`SENT`](Self::SENT),
    /// [`PEER_FAULTED`] and [`PROTOCOL`] for the other two.
    fn code(self) -> u64;

    /// The error a reply with `label` (not [`OK`]) means: one the server sends, a
    /// dead peer, or [`PROTOCOL`](Self::PROTOCOL) for anything else (including
    /// [`UNHANDLED`] and [`PROTOCOL`] itself, which no server sends).
    fn from_label(label: u64) -> Self {
        if label == PEER_FAULTED {
            return Self::PEER_FAULTED;
        }
        Self::SENT.iter().copied().find(|e| e.code() == label).unwrap_or(Self::PROTOCOL)
    }

    /// Whether the server sends this error (not raised by the client).
    fn is_sent(self) -> bool {
        Self::SENT.contains(&self)
    }

    /// The reply a server sends for this error: its code as the label, no
    /// message register.
    fn reply(self) -> MessageInfo {
        MessageInfo::new(self.code(), 0)
    }
}

/// A successful reply using `count` message registers.
pub const fn ok(count: usize) -> MessageInfo {
    MessageInfo::new(OK, count)
}

/// A client's view of a reply: `Ok` with the reply if its label is [`OK`], else
/// the API's error for the label.
pub fn check<E: ApiError>(reply: MessageInfo) -> Result<MessageInfo, E> {
    if reply.label() == OK { Ok(reply) } else { Err(E::from_label(reply.label())) }
}

/// [`check`], and `E::PROTOCOL` unless the reply has at least `count` message
/// registers.
pub fn check_count<E: ApiError>(reply: MessageInfo, count: usize) -> Result<MessageInfo, E> {
    let reply = check(reply)?;
    if reply.count() < count { Err(E::PROTOCOL) } else { Ok(reply) }
}

/// Checks of an [`ApiError`] against the convention, for each API's tests:
/// `microkit::reply::conformance::assert_convention::<MyError>()`.
pub mod conformance {
    use super::*;

    /// Panics (with what is wrong) unless `E` follows the convention: sent codes
    /// distinct and in `1..=CODE_MAX`, every sent error round-trips through its
    /// label, [`PEER_FAULTED`] is peer death, and [`OK`], [`UNHANDLED`],
    /// [`PROTOCOL`], unknown and other reserved labels are protocol errors.
    pub fn assert_convention<E: ApiError + core::fmt::Debug>() {
        for (i, e) in E::SENT.iter().enumerate() {
            let code = e.code();
            assert!((1..=CODE_MAX).contains(&code), "{e:?}: code {code} outside 1..=CODE_MAX");
            assert!(E::SENT[..i].iter().all(|o| o.code() != code), "{e:?}: code {code} used twice");
            assert_eq!(E::from_label(code), *e, "{e:?} does not round-trip through its label");
            assert_eq!(check::<E>(e.reply()), Err(*e));
            assert!(e.is_sent());
        }
        assert_eq!(E::PEER_FAULTED.code(), PEER_FAULTED, "peer death has the reserved code");
        assert_eq!(E::PROTOCOL.code(), PROTOCOL, "the protocol error has the reserved code");
        assert!(!E::PEER_FAULTED.is_sent() && !E::PROTOCOL.is_sent(), "no server sends the reserved errors");
        assert_eq!(E::from_label(PEER_FAULTED), E::PEER_FAULTED);
        assert_eq!(check::<E>(MessageInfo::new(PEER_FAULTED, 0)), Err(E::PEER_FAULTED));
        for label in [OK, UNHANDLED, PROTOCOL, RESERVED_MIN, CODE_MAX] {
            if E::SENT.iter().all(|e| e.code() != label) {
                assert_eq!(E::from_label(label), E::PROTOCOL, "label {label:#x}");
            }
        }
        let unknown = (1..=CODE_MAX).find(|l| E::SENT.iter().all(|e| e.code() != *l)).unwrap_or(CODE_MAX);
        assert_eq!(E::from_label(unknown), E::PROTOCOL, "an unknown code");
        assert_eq!(check::<E>(ok(2)).map(|r| r.count()), Ok(2));
        assert_eq!(check_count::<E>(ok(1), 2), Err(E::PROTOCOL));
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u64)]
    enum Example {
        First = 1,
        Second = 2,
        Last = CODE_MAX,
        PeerFaulted = PEER_FAULTED,
        Protocol = PROTOCOL,
    }

    impl ApiError for Example {
        const SENT: &'static [Self] = &[Example::First, Example::Second, Example::Last];
        const PEER_FAULTED: Self = Example::PeerFaulted;
        const PROTOCOL: Self = Example::Protocol;
        fn code(self) -> u64 {
            self as u64
        }
    }

    #[test]
    fn the_example_follows_the_convention() {
        conformance::assert_convention::<Example>();
    }

    #[test]
    fn reserved_labels_are_the_runtimes() {
        assert!(RESERVED.contains(&PEER_FAULTED) && RESERVED.contains(&UNHANDLED) && RESERVED.contains(&PROTOCOL));
        assert!(!RESERVED.contains(&CODE_MAX) && !RESERVED.contains(&OK));
        // The labels fit a seL4 message info (52 bits).
        assert_eq!(MessageInfo::new(PROTOCOL, 0).label(), PROTOCOL);
        assert_eq!(MessageInfo::new(RESERVED_MIN, 0).label(), RESERVED_MIN);
    }

    #[test]
    fn a_short_reply_is_a_protocol_error() {
        assert_eq!(check_count::<Example>(ok(0), 1), Err(Example::Protocol));
        assert_eq!(check_count::<Example>(ok(1), 1).map(|r| r.count()), Ok(1));
        assert_eq!(check_count::<Example>(Example::Second.reply(), 0), Err(Example::Second));
    }

    /// An enum that breaks the convention is caught.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Broken {
        Dead,
        Bad,
    }

    impl ApiError for Broken {
        const SENT: &'static [Self] = &[];
        const PEER_FAULTED: Self = Broken::Dead;
        const PROTOCOL: Self = Broken::Bad;
        fn code(self) -> u64 {
            match self {
                Broken::Dead => 3, // the old timer/rs code for a dead peer
                Broken::Bad => PROTOCOL,
            }
        }
    }

    #[test]
    #[should_panic(expected = "peer death has the reserved code")]
    fn a_private_code_for_peer_death_breaks_the_convention() {
        conformance::assert_convention::<Broken>();
    }
}
