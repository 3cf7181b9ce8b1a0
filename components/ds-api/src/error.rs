//! The error of every DS operation, with stable numeric codes.

use core::fmt;

/// Why a DS operation failed. The codes ([`DsError::code`]) are part of the
/// protocol and never change; DS itself sends codes 1..=6, the last two are
/// raised by the client library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DsError {
    /// Code 1: no such key (or no backup), or no such subscription.
    NotFound,
    /// Code 2: no free entry or subscription slot, or the caller reached its quota.
    Full,
    /// Code 3: a key or value longer than [`KEY_MAX`](crate::KEY_MAX) /
    /// [`VALUE_MAX`](crate::VALUE_MAX), or an output buffer too small for the answer.
    TooLarge,
    /// Code 4: the key's namespace forbids the caller this access
    /// (`component.*` written by anyone but RS, `private.<other>.*`).
    Denied,
    /// Code 5: the key exists and belongs to another PD.
    NotOwner,
    /// Code 6: a malformed request (unknown label, wrong MR count, a length beyond
    /// the buffer layout, a key with bytes outside `!`..=`~`, an empty key).
    BadRequest,
    /// Code 7: DS faulted while serving the call (the kernel's answer).
    PeerFaulted,
    /// Code 8: DS's reply made no sense to the client (unknown label, short
    /// reply, out-of-range lengths) or the client's buffer region is unusable.
    Protocol,
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

    /// The stable numeric code (a DS reply label).
    pub const fn code(self) -> u64 {
        match self {
            DsError::NotFound => 1,
            DsError::Full => 2,
            DsError::TooLarge => 3,
            DsError::Denied => 4,
            DsError::NotOwner => 5,
            DsError::BadRequest => 6,
            DsError::PeerFaulted => 7,
            DsError::Protocol => 8,
        }
    }

    /// The error with this code.
    pub const fn from_code(code: u64) -> Option<DsError> {
        match code {
            1 => Some(DsError::NotFound),
            2 => Some(DsError::Full),
            3 => Some(DsError::TooLarge),
            4 => Some(DsError::Denied),
            5 => Some(DsError::NotOwner),
            6 => Some(DsError::BadRequest),
            7 => Some(DsError::PeerFaulted),
            8 => Some(DsError::Protocol),
            _ => None,
        }
    }

    /// Whether DS itself answers with this code (the others are raised locally).
    pub const fn is_sent_by_ds(self) -> bool {
        !matches!(self, DsError::PeerFaulted | DsError::Protocol)
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
        for (i, e) in DsError::ALL.iter().enumerate() {
            assert_eq!(e.code(), i as u64 + 1, "{e:?}");
            assert_eq!(DsError::from_code(e.code()), Some(*e));
        }
        assert_eq!(DsError::from_code(0), None);
        assert_eq!(DsError::from_code(9), None);
        assert_eq!(DsError::from_code(u64::MAX), None);
    }

    #[test]
    fn display_names_the_problem_and_the_code() {
        assert_eq!(DsError::NotOwner.to_string(), "the key belongs to another protection domain (ds error 5)");
        assert_eq!(DsError::Full.name(), "Full");
        assert!(DsError::BadRequest.is_sent_by_ds());
        assert!(!DsError::Protocol.is_sent_by_ds());
    }
}
