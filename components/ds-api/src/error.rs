//! The error of every DS operation, with stable numeric codes, after the
//! runtime's reply convention ([`microkit::reply`]).

use core::fmt;

use microkit::reply::{self, ApiError};

/// Why a DS operation failed. The codes ([`DsError::code`]) are part of the
/// protocol and never change; DS itself sends codes 1..=6, the last two are
/// the convention's reserved codes for a dead DS and for a reply the client
/// library cannot decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum DsError {
    /// Code 1: no such key (or no backup), or no such subscription.
    NotFound = 1,
    /// Code 2: no free entry or subscription slot, or the caller reached its quota.
    Full = 2,
    /// Code 3: a key or value longer than [`KEY_MAX`](crate::KEY_MAX) /
    /// [`VALUE_MAX`](crate::VALUE_MAX), or an output buffer too small for the answer.
    TooLarge = 3,
    /// Code 4: the key's namespace forbids the caller this access
    /// (`component.*` written by anyone but RS, `private.<other>.*`).
    Denied = 4,
    /// Code 5: the key exists and belongs to another PD.
    NotOwner = 5,
    /// Code 6: a malformed request (unknown label, wrong MR count, a length beyond
    /// the buffer layout, a key with bytes outside `!`..=`~`, an empty key).
    BadRequest = 6,
    /// Code [`reply::PEER_FAULTED`]: DS faulted while serving the call (the
    /// kernel's answer).
    PeerFaulted = reply::PEER_FAULTED,
    /// Code [`reply::PROTOCOL`]: DS's reply made no sense to the client (unknown
    /// label, short reply, out-of-range lengths) or the client's buffer region is
    /// unusable.
    Protocol = reply::PROTOCOL,
}

impl ApiError for DsError {
    const SENT: &'static [Self] =
        &[DsError::NotFound, DsError::Full, DsError::TooLarge, DsError::Denied, DsError::NotOwner, DsError::BadRequest];
    const PEER_FAULTED: Self = DsError::PeerFaulted;
    const PROTOCOL: Self = DsError::Protocol;
    fn code(self) -> u64 {
        self as u64
    }
}

impl DsError {
    /// Every error, in code order.
    pub const ALL: [DsError; 8] = [
        DsError::NotFound,
        DsError::Full,
        DsError::TooLarge,
        DsError::Denied,
        DsError::NotOwner,
        DsError::BadRequest,
        DsError::PeerFaulted,
        DsError::Protocol,
    ];

    /// The stable numeric code (a DS reply label for the errors DS sends).
    pub const fn code(self) -> u64 {
        self as u64
    }

    /// The error with this code.
    pub fn from_code(code: u64) -> Option<DsError> {
        DsError::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Whether DS itself answers with this code (the others are raised locally).
    pub fn is_sent_by_ds(self) -> bool {
        self.is_sent()
    }

    /// A short name: `NotFound`, `Full`, ...
    pub const fn name(self) -> &'static str {
        match self {
            DsError::NotFound => "NotFound",
            DsError::Full => "Full",
            DsError::TooLarge => "TooLarge",
            DsError::Denied => "Denied",
            DsError::NotOwner => "NotOwner",
            DsError::BadRequest => "BadRequest",
            DsError::PeerFaulted => "PeerFaulted",
            DsError::Protocol => "Protocol",
        }
    }
}

impl fmt::Display for DsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            DsError::NotFound => "no such key",
            DsError::Full => "the data store is full (or the caller's quota is used up)",
            DsError::TooLarge => "key or value too large",
            DsError::Denied => "the key's namespace denies this access",
            DsError::NotOwner => "the key belongs to another protection domain",
            DsError::BadRequest => "malformed request",
            DsError::PeerFaulted => "the data store faulted during the call",
            DsError::Protocol => "the data store's reply is malformed",
        };
        write!(f, "{what} (ds error {})", self.code())
    }
}

impl core::error::Error for DsError {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn codes_are_stable_and_round_trip() {
        // DS's own codes are 1..=6; peer death and protocol errors have the
        // convention's reserved codes (formerly 7 and 8).
        for (i, e) in DsError::ALL.iter().enumerate() {
            if e.is_sent_by_ds() {
                assert_eq!(e.code(), i as u64 + 1, "{e:?}");
            }
            assert_eq!(DsError::from_code(e.code()), Some(*e));
        }
        assert_eq!(DsError::PeerFaulted.code(), reply::PEER_FAULTED);
        assert_eq!(DsError::Protocol.code(), reply::PROTOCOL);
        assert_eq!(DsError::from_code(0), None);
        assert_eq!(DsError::from_code(7), None);
        assert_eq!(DsError::from_code(9), None);
        assert_eq!(DsError::from_code(u64::MAX), None);
    }

    #[test]
    fn errors_follow_the_reply_convention() {
        microkit::reply::conformance::assert_convention::<DsError>();
        assert_eq!(DsError::from_label(reply::PEER_FAULTED), DsError::PeerFaulted);
        assert_eq!(DsError::from_label(reply::UNHANDLED), DsError::Protocol);
        assert_eq!(DsError::from_label(99), DsError::Protocol);
    }

    #[test]
    fn display_names_the_problem_and_the_code() {
        assert_eq!(DsError::NotOwner.to_string(), "the key belongs to another protection domain (ds error 5)");
        assert_eq!(DsError::Full.name(), "Full");
        assert!(DsError::BadRequest.is_sent_by_ds());
        assert!(!DsError::Protocol.is_sent_by_ds());
    }
}
