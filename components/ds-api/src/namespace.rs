//! Who may read and write which key. DS enforces these rules; clients may use
//! them to predict an answer.
//!
//! | key | read by | written (put, delete) by |
//! | --- | --- | --- |
//! | `component.*` | everyone | [`RS_NAME`] only |
//! | `private.<owner>.*` | `<owner>` only | `<owner>` only |
//! | anything else | everyone | the PD that created it, while it exists |
//!
//! A violation of the namespace rules is [`DsError::Denied`]; overwriting or
//! deleting another PD's key elsewhere is [`DsError::NotOwner`]. Ownership of a
//! key ends when it is deleted. PD names must not contain `.` (checked at build
//! time), so `private.<owner>.` names exactly one PD.

use crate::{DsError, RS_NAME};

/// Prefix of the keys RS publishes about components.
pub const COMPONENT: &[u8] = b"component.";
/// Prefix of the keys private to one PD.
pub const PRIVATE: &[u8] = b"private.";

/// The namespace a key is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace<'k> {
    /// `component.*`.
    Component,
    /// `private.<owner>.*` (the owner is everything up to the next `.`, or the
    /// rest of the key if there is none).
    Private {
        /// The name after `private.`.
        owner: &'k [u8],
    },
    /// Any other key.
    Shared,
}

/// The namespace of `key`.
pub fn of(key: &[u8]) -> Namespace<'_> {
    if key.starts_with(COMPONENT) {
        Namespace::Component
    } else if let Some(rest) = key.strip_prefix(PRIVATE) {
        let end = rest.iter().position(|&b| b == b'.').unwrap_or(rest.len());
        Namespace::Private { owner: &rest[..end] }
    } else {
        Namespace::Shared
    }
}

/// Whether `reader` may read `key`.
pub fn may_read(reader: &str, key: &[u8]) -> bool {
    match of(key) {
        Namespace::Private { owner } => owner == reader.as_bytes(),
        Namespace::Component | Namespace::Shared => true,
    }
}

/// Whether the namespace of `key` lets `writer` write it ([`DsError::Denied`] if
/// not). Ownership of shared keys is checked by the store, not here.
pub fn check_write(writer: &str, key: &[u8]) -> Result<(), DsError> {
    let allowed = match of(key) {
        Namespace::Component => writer == RS_NAME,
        Namespace::Private { owner } => owner == writer.as_bytes(),
        Namespace::Shared => true,
    };
    if allowed { Ok(()) } else { Err(DsError::Denied) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_keys_are_written_by_rs_and_read_by_all() {
        assert_eq!(check_write("rs", b"component.net.state"), Ok(()));
        assert_eq!(check_write("net", b"component.net.state"), Err(DsError::Denied));
        assert!(may_read("anyone", b"component.net.state"));
        // `components.x` is not the component namespace.
        assert_eq!(of(b"components.x"), Namespace::Shared);
    }

    #[test]
    fn private_keys_belong_to_the_pd_they_name() {
        assert_eq!(of(b"private.blk.state"), Namespace::Private { owner: b"blk" });
        assert_eq!(check_write("blk", b"private.blk.state"), Ok(()));
        assert_eq!(check_write("blk2", b"private.blk.state"), Err(DsError::Denied));
        assert_eq!(check_write("bl", b"private.blk.state"), Err(DsError::Denied));
        assert_eq!(check_write("rs", b"private.blk.state"), Err(DsError::Denied));
        assert!(may_read("blk", b"private.blk.state"));
        assert!(!may_read("blkx", b"private.blk.state"));
        assert!(!may_read("rs", b"private.blk.state"));
        // A key that is just `private.<name>` is that PD's too.
        assert!(may_read("blk", b"private.blk"));
        assert!(!may_read("blk", b"private."));
    }

    #[test]
    fn other_keys_are_open_to_read_and_create() {
        assert_eq!(check_write("net", b"net.mac"), Ok(()));
        assert!(may_read("vfs", b"net.mac"));
        assert!(may_read("vfs", b"privateer"));
    }
}
