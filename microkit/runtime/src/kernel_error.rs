//! Why the kernel refused an operation on a child or an IRQ.
//!
//! [`Child::restart`](crate::Child::restart), [`Child::stop`](crate::Child::stop),
//! [`Child::inject`](crate::Child::inject) and [`Channel::irq_ack`](crate::Channel::irq_ack)
//! return `Result<(), KernelError>` on both kernels alike:
//!
//! - an id that is not one of this PD's children, or a channel that delivers no IRQ
//!   to it, is [`KernelError::NotAChild`] / [`KernelError::NotAnIrq`]. On seL4 the
//!   runtime finds this out before it invokes anything (the PD holds no capability
//!   in that slot, and seL4 answers a `Call` on an empty slot with a cap fault of
//!   the caller); on the host kernel the kernel answers it;
//! - an invocation the seL4 kernel refuses is the `seL4_Error` it answered
//!   ([`KernelError::from_sel4`]);
//! - a restart the host kernel cannot carry out (the fresh process does not start)
//!   is [`KernelError::StartFailed`].
//!
//! Each error has a stable [`code`](KernelError::code) (the host kernel's reply
//! frame carries it) and a [`name`](KernelError::name) (status lines and the data
//! store show it).

use core::fmt;

/// Why the kernel refused an operation on a child or an IRQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelError {
    /// The id is not a child of this PD (`system.xml` gives it no child with that
    /// id): it holds no capability to such a thread.
    NotAChild,
    /// The channel delivers no IRQ to this PD: it holds no IRQ handler there.
    NotAnIrq,
    /// The kernel could not start the fresh copy (host kernel: its process did not
    /// start, e.g. its program is missing).
    StartFailed,
    /// `seL4_InvalidArgument`.
    InvalidArgument,
    /// `seL4_InvalidCapability`: the capability is not of the kind the operation needs.
    InvalidCapability,
    /// `seL4_IllegalOperation`.
    IllegalOperation,
    /// `seL4_RangeError`.
    RangeError,
    /// `seL4_AlignmentError`.
    AlignmentError,
    /// `seL4_FailedLookup`.
    FailedLookup,
    /// `seL4_TruncatedMessage`.
    TruncatedMessage,
    /// `seL4_DeleteFirst`.
    DeleteFirst,
    /// `seL4_RevokeFirst`.
    RevokeFirst,
    /// `seL4_NotEnoughMemory`.
    NotEnoughMemory,
    /// A code this runtime does not know (kept as the kernel sent it).
    Unknown(u64),
}

/// The seL4 errors, in `seL4_Error` order (1..=10).
const SEL4: [KernelError; 10] = [
    KernelError::InvalidArgument,
    KernelError::InvalidCapability,
    KernelError::IllegalOperation,
    KernelError::RangeError,
    KernelError::AlignmentError,
    KernelError::FailedLookup,
    KernelError::TruncatedMessage,
    KernelError::DeleteFirst,
    KernelError::RevokeFirst,
    KernelError::NotEnoughMemory,
];

/// Codes of the errors that are not seL4's (above every `seL4_Error`).
const NOT_A_CHILD: u64 = 0x100;
const NOT_AN_IRQ: u64 = 0x101;
const START_FAILED: u64 = 0x102;

impl KernelError {
    /// Every error but [`KernelError::Unknown`].
    pub const ALL: [KernelError; 13] = [
        KernelError::NotAChild,
        KernelError::NotAnIrq,
        KernelError::StartFailed,
        SEL4[0],
        SEL4[1],
        SEL4[2],
        SEL4[3],
        SEL4[4],
        SEL4[5],
        SEL4[6],
        SEL4[7],
        SEL4[8],
        SEL4[9],
    ];

    /// The error of a seL4 invocation reply label (`seL4_Error`): `None` for 0
    /// (`seL4_NoError`).
    pub const fn from_sel4(error: u64) -> Option<KernelError> {
        match error {
            0 => None,
            1..=10 => Some(SEL4[error as usize - 1]),
            other => Some(KernelError::Unknown(other)),
        }
    }

    /// The stable code: the `seL4_Error` value for seL4's errors, 0x100 and up
    /// for the others.
    pub const fn code(self) -> u64 {
        match self {
            KernelError::NotAChild => NOT_A_CHILD,
            KernelError::NotAnIrq => NOT_AN_IRQ,
            KernelError::StartFailed => START_FAILED,
            KernelError::InvalidArgument => 1,
            KernelError::InvalidCapability => 2,
            KernelError::IllegalOperation => 3,
            KernelError::RangeError => 4,
            KernelError::AlignmentError => 5,
            KernelError::FailedLookup => 6,
            KernelError::TruncatedMessage => 7,
            KernelError::DeleteFirst => 8,
            KernelError::RevokeFirst => 9,
            KernelError::NotEnoughMemory => 10,
            KernelError::Unknown(code) => code,
        }
    }

    /// Inverse of [`code`](Self::code); a code of no known error is `Unknown`.
    pub const fn from_code(code: u64) -> KernelError {
        match code {
            NOT_A_CHILD => KernelError::NotAChild,
            NOT_AN_IRQ => KernelError::NotAnIrq,
            START_FAILED => KernelError::StartFailed,
            1..=10 => SEL4[code as usize - 1],
            other => KernelError::Unknown(other),
        }
    }

    /// Short lower-case name, as status lines print it (`unknown` for `Unknown`).
    pub const fn name(self) -> &'static str {
        match self {
            KernelError::NotAChild => "not-a-child",
            KernelError::NotAnIrq => "not-an-irq",
            KernelError::StartFailed => "start-failed",
            KernelError::InvalidArgument => "invalid-argument",
            KernelError::InvalidCapability => "invalid-capability",
            KernelError::IllegalOperation => "illegal-operation",
            KernelError::RangeError => "range-error",
            KernelError::AlignmentError => "alignment-error",
            KernelError::FailedLookup => "failed-lookup",
            KernelError::TruncatedMessage => "truncated-message",
            KernelError::DeleteFirst => "delete-first",
            KernelError::RevokeFirst => "revoke-first",
            KernelError::NotEnoughMemory => "not-enough-memory",
            KernelError::Unknown(_) => "unknown",
        }
    }

    /// Inverse of [`name`](Self::name) for every error but `Unknown`.
    pub fn from_name(name: &str) -> Option<KernelError> {
        KernelError::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::NotAChild => f.write_str("not a child of this protection domain"),
            KernelError::NotAnIrq => f.write_str("no IRQ of this protection domain on that channel"),
            KernelError::StartFailed => f.write_str("the fresh copy could not be started"),
            KernelError::Unknown(code) => write!(f, "kernel error {code}"),
            other => write!(f, "seL4 error {} ({})", other.code(), other.name()),
        }
    }
}

impl core::error::Error for KernelError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn codes_and_names_round_trip() {
        for e in KernelError::ALL {
            assert_eq!(KernelError::from_code(e.code()), e);
            assert_eq!(KernelError::from_name(e.name()), Some(e));
        }
        assert_eq!(KernelError::from_code(77), KernelError::Unknown(77));
        assert_eq!(KernelError::Unknown(77).code(), 77);
        assert_eq!(KernelError::from_name("unknown"), None);
    }

    #[test]
    fn sel4_errors_keep_their_numbers() {
        assert_eq!(KernelError::from_sel4(0), None);
        assert_eq!(KernelError::from_sel4(2), Some(KernelError::InvalidCapability));
        assert_eq!(KernelError::from_sel4(3), Some(KernelError::IllegalOperation));
        assert_eq!(KernelError::from_sel4(10), Some(KernelError::NotEnoughMemory));
        assert_eq!(KernelError::from_sel4(11), Some(KernelError::Unknown(11)));
        for code in 1..=10 {
            assert_eq!(KernelError::from_sel4(code).map(KernelError::code), Some(code));
        }
    }

    #[test]
    fn display_says_what_happened() {
        assert_eq!(format!("{}", KernelError::NotAChild), "not a child of this protection domain");
        assert_eq!(format!("{}", KernelError::IllegalOperation), "seL4 error 3 (illegal-operation)");
    }
}
