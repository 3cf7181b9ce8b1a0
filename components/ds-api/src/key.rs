//! Key syntax and a fixed-size key builder.

use core::fmt;

use crate::{DsError, KEY_MAX};

/// Checks a key: 1..=[`KEY_MAX`] bytes, each printable ASCII other than space
/// (`!`..=`~`). Too long is [`DsError::TooLarge`], anything else wrong is
/// [`DsError::BadRequest`].
pub fn check_key(key: &[u8]) -> Result<(), DsError> {
    if key.is_empty() {
        return Err(DsError::BadRequest);
    }
    check_prefix(key)
}

/// Checks a subscription prefix: like [`check_key`], but it may be empty (all keys).
pub fn check_prefix(prefix: &[u8]) -> Result<(), DsError> {
    if prefix.len() > KEY_MAX {
        return Err(DsError::TooLarge);
    }
    if prefix.iter().all(|b| b.is_ascii_graphic()) { Ok(()) } else { Err(DsError::BadRequest) }
}

/// A key built in place, without a heap: `Key::component("net", "state")` is
/// `component.net.state`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key {
    len: usize,
    bytes: [u8; KEY_MAX],
}

impl Key {
    /// `key`, checked with [`check_key`].
    pub fn new(key: &str) -> Result<Key, DsError> {
        Key::from_parts(&[key])
    }

    /// `component.<name>.<field>`: what RS publishes about `name` (see
    /// [`component`](crate::component) for the fields).
    pub fn component(name: &str, field: &str) -> Result<Key, DsError> {
        Key::from_parts(&["component.", name, ".", field])
    }

    /// `private.<owner>.<field>`: readable and writable by `owner` only.
    pub fn private(owner: &str, field: &str) -> Result<Key, DsError> {
        Key::from_parts(&["private.", owner, ".", field])
    }

    /// The concatenation of `parts`, checked with [`check_key`].
    pub fn from_parts(parts: &[&str]) -> Result<Key, DsError> {
        let mut key = Key { len: 0, bytes: [0; KEY_MAX] };
        for part in parts {
            let end = key.len.checked_add(part.len()).filter(|&e| e <= KEY_MAX).ok_or(DsError::TooLarge)?;
            key.bytes[key.len..end].copy_from_slice(part.as_bytes());
            key.len = end;
        }
        check_key(key.as_bytes())?;
        Ok(key)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The key as text (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_without_spaces() {
        assert_eq!(check_key(b"net.mac"), Ok(()));
        assert_eq!(check_key(b"!~"), Ok(()));
        assert_eq!(check_key(b""), Err(DsError::BadRequest));
        assert_eq!(check_key(b"a b"), Err(DsError::BadRequest));
        assert_eq!(check_key(b"a\0"), Err(DsError::BadRequest));
        assert_eq!(check_key("é".as_bytes()), Err(DsError::BadRequest));
        assert_eq!(check_key(&[b'k'; KEY_MAX]), Ok(()));
        assert_eq!(check_key(&[b'k'; KEY_MAX + 1]), Err(DsError::TooLarge));
        assert_eq!(check_prefix(b""), Ok(()));
        assert_eq!(check_prefix(&[b'p'; KEY_MAX + 1]), Err(DsError::TooLarge));
    }

    #[test]
    fn keys_are_built_from_parts() {
        assert_eq!(Key::component("net", "state").unwrap().as_str(), "component.net.state");
        assert_eq!(Key::private("blk", "state").unwrap().as_str(), "private.blk.state");
        // The longest PD name Microkit allows still fits.
        let name = "n".repeat(64);
        let key = Key::component(&name, crate::component::LAST_FAULT).unwrap();
        assert_eq!(key.as_bytes().len(), "component.".len() + 64 + ".last_fault".len());
        assert_eq!(Key::new(&"k".repeat(KEY_MAX + 1)), Err(DsError::TooLarge));
        assert_eq!(Key::component("a b", "state"), Err(DsError::BadRequest));
        assert_eq!(Key::new(""), Err(DsError::BadRequest));
    }
}
