//! Requests to RS as message registers: [`Request::encode`] for clients,
//! [`Request::decode`] (every field checked) for RS.

use microkit::InjectKind;

use crate::{COMPLAIN, CRASH, DEPENDENCY_STATE, Error, INJECT, RESTART, START, STATUS, STOP};

/// Longest PD name (Microkit's `microkit_name` is 64 bytes).
pub const NAME_MAX: usize = 64;
/// Registers a name of `len` bytes takes: its length, then its bytes.
const fn name_words(len: usize) -> usize {
    1 + len.div_ceil(8)
}
/// Most registers a name takes.
pub(crate) const NAME_WORDS_MAX: usize = name_words(NAME_MAX);

/// A PD name: 1 to [`NAME_MAX`] bytes of UTF-8.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_MAX],
    len: u8,
}

impl Name {
    /// `name` if it is 1 to [`NAME_MAX`] bytes long.
    pub fn new(name: &str) -> Option<Name> {
        let len = name.len();
        if len == 0 || len > NAME_MAX {
            return None;
        }
        let mut bytes = [0; NAME_MAX];
        bytes[..len].copy_from_slice(name.as_bytes());
        Some(Name { bytes, len: len as u8 })
    }

    pub fn as_str(&self) -> &str {
        // Built from a `str` or checked by `decode`; never fails.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("?")
    }

    /// Registers this name takes.
    pub fn words(&self) -> usize {
        name_words(self.len as usize)
    }

    /// Writes the name to `out` (length, then bytes); returns the registers used.
    pub fn encode(&self, out: &mut [u64]) -> usize {
        let n = self.words();
        if out.len() < n {
            return 0;
        }
        out[0] = self.len as u64;
        for (i, chunk) in self.bytes[..self.len as usize].chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            out[1 + i] = u64::from_le_bytes(w);
        }
        n
    }

    /// Reads a name from the start of `words`; returns it and the registers it
    /// took. `None` for a length out of range, too few registers, bytes past
    /// the length that are not zero, or bytes that are not UTF-8.
    pub fn decode(words: &[u64]) -> Option<(Name, usize)> {
        let len = usize::try_from(*words.first()?).ok()?;
        if len == 0 || len > NAME_MAX {
            return None;
        }
        let n = name_words(len);
        let mut bytes = [0u8; NAME_MAX + 8];
        for (i, w) in words.get(1..n)?.iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        if bytes[len..].iter().any(|&b| b != 0) {
            return None;
        }
        core::str::from_utf8(&bytes[..len]).ok()?;
        let mut name = Name { bytes: [0; NAME_MAX], len: len as u8 };
        name.bytes[..len].copy_from_slice(&bytes[..len]);
        Some((name, n))
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl core::fmt::Display for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to RS (see the crate documentation for the wire format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A complaint about the driver on the server's channel `0`.
    Complain(u64),
    /// The state of the driver on the server's channel `0`.
    DependencyState(u64),
    /// Row `0` of the component table.
    Status(u64),
    Restart(Name),
    Stop(Name),
    Start(Name),
    Inject(Name, InjectKind),
    /// The `nth` newest crash record of the component.
    Crash(Name, u64),
}

/// Registers a request takes at most.
pub(crate) const REQUEST_WORDS_MAX: usize = 1 + NAME_WORDS_MAX;

impl Request {
    /// Whether only an admin channel may make it.
    pub fn is_admin(&self) -> bool {
        !matches!(self, Request::Complain(_) | Request::DependencyState(_))
    }

    /// The label and registers of the request; returns the label and the
    /// number of registers written to `out` (at least [`REQUEST_WORDS_MAX`] long).
    pub fn encode(&self, out: &mut [u64; REQUEST_WORDS_MAX]) -> (u64, usize) {
        match *self {
            Request::Complain(ch) => {
                out[0] = ch;
                (COMPLAIN, 1)
            }
            Request::DependencyState(ch) => {
                out[0] = ch;
                (DEPENDENCY_STATE, 1)
            }
            Request::Status(index) => {
                out[0] = index;
                (STATUS, 1)
            }
            Request::Restart(name) => (RESTART, name.encode(out)),
            Request::Stop(name) => (STOP, name.encode(out)),
            Request::Start(name) => (START, name.encode(out)),
            Request::Inject(name, kind) => {
                out[0] = kind.code();
                (INJECT, 1 + name.encode(&mut out[1..]))
            }
            Request::Crash(name, nth) => {
                out[0] = nth;
                (CRASH, 1 + name.encode(&mut out[1..]))
            }
        }
    }

    /// Decodes a request from an untrusted caller: `label` and exactly the
    /// registers the call carried. [`Error::BadRequest`] unless every field
    /// is well-formed and nothing is left over.
    pub fn decode(label: u64, words: &[u64]) -> Result<Request, Error> {
        let one = || match words {
            [w] => Ok(*w),
            _ => Err(Error::BadRequest),
        };
        let name_at = |at: usize| -> Result<Name, Error> {
            match Name::decode(words.get(at..).unwrap_or(&[])) {
                Some((name, n)) if at + n == words.len() => Ok(name),
                _ => Err(Error::BadRequest),
            }
        };
        let first = || words.first().copied().ok_or(Error::BadRequest);
        Ok(match label {
            COMPLAIN => Request::Complain(one()?),
            DEPENDENCY_STATE => Request::DependencyState(one()?),
            STATUS => Request::Status(one()?),
            RESTART => Request::Restart(name_at(0)?),
            STOP => Request::Stop(name_at(0)?),
            START => Request::Start(name_at(0)?),
            INJECT => {
                let kind = InjectKind::from_code(first()?).ok_or(Error::BadRequest)?;
                Request::Inject(name_at(1)?, kind)
            }
            CRASH => {
                let nth = first()?;
                Request::Crash(name_at(1)?, nth)
            }
            _ => return Err(Error::BadRequest),
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn round_trip(r: Request) {
        let mut out = [0; REQUEST_WORDS_MAX];
        let (label, n) = r.encode(&mut out);
        assert_eq!(Request::decode(label, &out[..n]), Ok(r));
        // One register more or less is a bad request.
        assert_eq!(Request::decode(label, &out[..n - 1]), Err(Error::BadRequest));
        if n < REQUEST_WORDS_MAX {
            assert_eq!(Request::decode(label, &out[..n + 1]), Err(Error::BadRequest), "{r:?}");
        }
    }

    #[test]
    fn requests_round_trip() {
        let blk = Name::new("virtio_blk").unwrap();
        let long = Name::new(&"x".repeat(NAME_MAX)).unwrap();
        for r in [
            Request::Complain(3),
            Request::DependencyState(3),
            Request::Status(0),
            Request::Restart(blk),
            Request::Stop(long),
            Request::Start(Name::new("a").unwrap()),
            Request::Inject(blk, InjectKind::Hang),
            Request::Crash(long, 3),
        ] {
            round_trip(r);
        }
        assert!(Name::new("").is_none());
        assert!(Name::new(&"x".repeat(NAME_MAX + 1)).is_none());
        assert_eq!(blk.as_str(), "virtio_blk");
    }

    #[test]
    fn malformed_names_are_bad_requests() {
        let mut out = [0; REQUEST_WORDS_MAX];
        let (_, n) = Request::Restart(Name::new("pong").unwrap()).encode(&mut out);
        let bad = |words: &[u64]| Request::decode(RESTART, words);
        let mut w = out;
        w[0] = 0;
        assert_eq!(bad(&w[..n]), Err(Error::BadRequest));
        w[0] = 65;
        assert_eq!(bad(&w[..n]), Err(Error::BadRequest));
        w = out;
        w[1] |= 0xff << 56; // a byte past the length
        assert_eq!(bad(&w[..n]), Err(Error::BadRequest));
        w = out;
        w[1] = 0xffff_ffff; // not UTF-8
        assert_eq!(bad(&w[..n]), Err(Error::BadRequest));
        assert_eq!(Request::decode(INJECT, &[99, 1, 0x61]), Err(Error::BadRequest));
        assert_eq!(Request::decode(99, &[]), Err(Error::BadRequest));
    }

    /// Random labels and registers: decoding never panics, and what decodes
    /// encodes back to the same registers.
    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let label = next() % 24;
            let n = (next() % (REQUEST_WORDS_MAX as u64 + 2)) as usize;
            let words: Vec<u64> = (0..n)
                .map(|i| match next() % 4 {
                    0 => next(),
                    1 => next() % 70,
                    2 if i > 0 => next() & 0x7f7f_7f7f_7f7f_7f7f,
                    _ => 0,
                })
                .collect();
            if let Ok(r) = Request::decode(label, &words) {
                let mut out = [0; REQUEST_WORDS_MAX];
                let (l, m) = r.encode(&mut out);
                assert_eq!((l, &out[..m]), (label, &words[..]));
            }
        }
    }
}
