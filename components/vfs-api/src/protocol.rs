//! The wire form of the file interface: call labels, message registers, the
//! client's data region, and the notification that ends a request. Both sides
//! use these functions, so they cannot disagree; the server decodes every
//! request with [`Request::decode`], which refuses anything that is not exactly
//! as below.
//!
//! # Transport
//!
//! An application makes a protected procedure call (PPC) to the file system
//! server on its channel (the server has the higher priority). Control goes in
//! message registers (MRs); paths and data go through the application's *data
//! region*, a memory region only it and the server map, read-write on both
//! sides (checked at build time by `vfs-build`). A request names spans of the
//! region (`offset`, `len`); the server checks each span lies inside the region
//! before it touches it, copies what it reads out of the region before using
//! it, and never keeps a reference into it.
//!
//! # A request's life
//!
//! 1. *Start*: the application calls one of the labels below. The server
//!    checks the request (labels, MR count, spans, path syntax, that the
//!    handle is the caller's) and answers at once: an error label (nothing
//!    started), or `OK` with no MR: the request is accepted and in flight.
//!    A client has at most one request in flight; starting another before
//!    taking the result is [`VfsError::Busy`](crate::VfsError::Busy).
//! 2. *Work*: the server carries the request out between other events (disk
//!    reads and writes through the block driver's queues). It never waits for
//!    the disk inside a call or a notification handler.
//! 3. *Completion*: the server writes what a read returns into the region and
//!    notifies the application on its channel.
//! 4. *Result*: the application calls [`label::RESULT`] (no MR) and gets the
//!    request's outcome: its error label, or `OK` with the result MRs of the
//!    table. Before completion the answer is
//!    [`VfsError::WouldBlock`](crate::VfsError::WouldBlock); with nothing in
//!    flight [`VfsError::BadRequest`](crate::VfsError::BadRequest).
//!
//! | label | request MRs | result MRs (label `OK`) |
//! | --- | --- | --- |
//! | [`label::OPEN`] | flags ([`OpenFlags`](crate::OpenFlags)), path offset, path len | handle |
//! | [`label::CLOSE`] | handle | (none) |
//! | [`label::READ`] | handle, offset, max_len | len (0: end of file) |
//! | [`label::WRITE`] | handle, offset, len | len written (all of it) |
//! | [`label::SEEK`] | handle, whence ([`Whence`]), offset (i64) | new position |
//! | [`label::FSYNC`] | handle | (none) |
//! | [`label::STAT`] | path offset, path len | kind ([`Kind`]), size |
//! | [`label::READDIR`] | path offset, path len, cursor, name offset, name max_len | kind, size, name len (0: no more entries), next cursor |
//! | [`label::MKDIR`] | path offset, path len | (none) |
//! | [`label::RENAME`] | from offset, from len, to offset, to len | (none) |
//! | [`label::UNLINK`] | path offset, path len | (none): a file, or an empty directory |
//! | [`label::RESULT`] | (none) | as the request in flight |
//!
//! The MR count must be exactly as above. A request that does not fit this
//! table (unknown label, wrong MR count, a number out of range, a span outside
//! the region, a path longer than [`MAX_PATH`]) is
//! [`VfsError::BadRequest`](crate::VfsError::BadRequest); a path that is not
//! absolute UTF-8 with non-empty components other than `.` and `..` is
//! [`VfsError::BadPath`](crate::VfsError::BadPath). The server serves its
//! other clients as before.
//!
//! Handles are positions in files: `READ` and `WRITE` move the handle's
//! position; a handle opened with `APPEND` writes at the end whatever the
//! position. `CLOSE` writes the file's size to its directory entry;
//! `FSYNC` also writes back every block the server holds dirty and flushes
//! the device: once `FSYNC` returns `OK`, everything written through the handle
//! is on the disk, whatever fails later.
//!
//! # Notifications
//!
//! The server notifies an application on its channel when its request in
//! flight completed. Notifications coalesce, and one may be spurious (after a
//! server restart, say): on each, the application calls `RESULT`, and goes
//! on waiting on `WouldBlock`.
//!
//! # Character devices
//!
//! Paths under `/dev/` name devices; the one there is is `/dev/console`, the
//! console (virtio_console), open to one handle at a time, for a client whose
//! entry in `vfs.toml` lists it (others get `Denied`; the handle does not count
//! against the client's limit). A device waits for no disk, so its requests
//! are *answered in the call* and never go in flight: they do not count as the
//! client's request in flight, and a client may use the console while a file
//! request of its own is in flight. The labels and MRs are those of the table;
//! the answer carries the result MRs at once:
//!
//! | request on a device | answer (label `OK`) | otherwise |
//! | --- | --- | --- |
//! | `OPEN` of `/dev/console`, flags `READ` and/or `WRITE` only | handle | `InUse`, `Denied`, `NotFound` (another `/dev/` path), `BadRequest` (other flags) |
//! | `READ` | len, at least 1: the bytes typed so far, in the span | `WouldBlock`: none now, a notification follows when some come |
//! | `WRITE` | len taken (what fits in the server's output buffer) | `WouldBlock`: no room now, a notification follows when there is |
//! | `CLOSE` | (none) | |
//! | `SEEK`, `FSYNC` | | `Denied`: a stream has no position |
//!
//! **A console driver restart breaks the stream** (the seed's Sec. 6.2: a
//! character stream cannot be replayed, so the error goes up). The owner of a
//! handle is notified, and every `READ` and `WRITE` on the handle answers
//! `Io` (EIO) from then on: a read waiting for input learns it at once, and a
//! writer learns that output it wrote may not have been sent (what the dead
//! driver held and what waited for it is dropped, not given to the fresh
//! copy). Closing the handle and opening `/dev/console` again gives a handle
//! on the fresh driver; input typed before that open is not kept. The client
//! stub ([`VfsClient`](crate::VfsClient)) puts device bytes in the last
//! [`DEVICE_BYTES`] of the region.
//!
//! Console bytes are copied: typed, by the driver from its DMA buffer into the
//! console data region (copy 1), by the server into its input buffer (copy 2)
//! and, on `READ`, into the client's region (copy 3); written, by the client
//! into its region (copy 1), by the server into its output buffer (copy 2),
//! into the console data region (copy 3), and by the driver to the device
//! (copy 4).
//!
//! # Every copy of a byte
//!
//! Written: the application writes into its region (copy 1); the server copies
//! the span into a private buffer when it accepts the request (copy 2), so the
//! application may reuse its region at once; the file system puts it into the
//! server's block cache (copy 3), from which write-back copies it into the
//! block driver's data region (copy 4); the driver copies it into its DMA
//! bounce buffer (copy 5) for the device. Read: the driver copies from its DMA
//! buffer into the block data region (copy 1), the server into its block
//! cache or the request's buffer (copy 2), the file system into a private
//! buffer (copy 3), the server into the application's region (copy 4), and the
//! application wherever it wants the bytes. Each side of a region is reached
//! through copying accessors, never through references that the peer could
//! change under them. (A zero-copy path, the driver DMA-ing into cache pages,
//! would need the cache inside the DMA region: not done.)

use crate::{Handle, Kind, MAX_PATH, OpenFlags, Whence};

/// Call labels.
pub mod label {
    pub const OPEN: u64 = 1;
    pub const CLOSE: u64 = 2;
    pub const READ: u64 = 3;
    pub const WRITE: u64 = 4;
    pub const SEEK: u64 = 5;
    pub const FSYNC: u64 = 6;
    pub const STAT: u64 = 7;
    pub const READDIR: u64 = 8;
    pub const MKDIR: u64 = 9;
    pub const RENAME: u64 = 10;
    pub const UNLINK: u64 = 11;
    pub const RESULT: u64 = 12;
}

/// Bytes at the end of a client's region that device requests use (the client
/// stub keeps its file transfers out of them: `VfsClient::with_devices`).
pub const DEVICE_BYTES: usize = 1024;

/// The most MRs a request has.
pub const REQUEST_MRS: usize = 5;
/// The most MRs a result has.
pub const RESULT_MRS: usize = 4;

/// A span of the application's data region.
pub use microkit::Span;

/// A span that holds a path: at most [`MAX_PATH`] bytes.
fn path_span(offset: u64, len: u64, region: usize) -> Option<Span> {
    Span::within(offset, len, region).filter(|s| s.len <= MAX_PATH)
}

/// A request, decoded and checked against the region's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Open { flags: OpenFlags, path: Span },
    Close(Handle),
    Read { handle: Handle, to: Span },
    Write { handle: Handle, from: Span },
    Seek { handle: Handle, whence: Whence, offset: i64 },
    Fsync(Handle),
    Stat(Span),
    ReadDir { path: Span, cursor: u64, name: Span },
    Mkdir(Span),
    Rename { from: Span, to: Span },
    Unlink(Span),
    Result,
}

fn whence(mr: u64) -> Option<Whence> {
    Some(match mr {
        0 => Whence::Start,
        1 => Whence::Current,
        2 => Whence::End,
        _ => return None,
    })
}

impl Request {
    /// Decodes a call with `label` and MRs `mrs` (exactly the request's count)
    /// from an application whose data region is `region` bytes; `None` for
    /// anything malformed.
    pub fn decode(label: u64, mrs: &[u64], region: usize) -> Option<Request> {
        use label::*;
        let path = |o, l| path_span(o, l, region);
        Some(match (label, mrs) {
            (OPEN, &[f, o, l]) => {
                let flags = OpenFlags(f);
                if !flags.valid() {
                    return None;
                }
                Request::Open { flags, path: path(o, l)? }
            }
            (CLOSE, &[h]) => Request::Close(Handle(h)),
            (READ, &[h, o, l]) => Request::Read { handle: Handle(h), to: Span::within(o, l, region)? },
            (WRITE, &[h, o, l]) => Request::Write { handle: Handle(h), from: Span::within(o, l, region)? },
            (SEEK, &[h, w, o]) => Request::Seek { handle: Handle(h), whence: whence(w)?, offset: o as i64 },
            (FSYNC, &[h]) => Request::Fsync(Handle(h)),
            (STAT, &[o, l]) => Request::Stat(path(o, l)?),
            (READDIR, &[o, l, c, no, nl]) => {
                Request::ReadDir { path: path(o, l)?, cursor: c, name: Span::within(no, nl, region)? }
            }
            (MKDIR, &[o, l]) => Request::Mkdir(path(o, l)?),
            (RENAME, &[fo, fl, to, tl]) => Request::Rename { from: path(fo, fl)?, to: path(to, tl)? },
            (UNLINK, &[o, l]) => Request::Unlink(path(o, l)?),
            (RESULT, &[]) => Request::Result,
            _ => return None,
        })
    }

    /// The handle the request is on, if it is on one.
    pub fn handle(&self) -> Option<Handle> {
        match *self {
            Request::Close(h) | Request::Fsync(h) => Some(h),
            Request::Read { handle, .. } | Request::Write { handle, .. } | Request::Seek { handle, .. } => Some(handle),
            _ => None,
        }
    }

    /// The call's label and MRs (the client side of [`Request::decode`]).
    pub fn encode(&self, mrs: &mut [u64; REQUEST_MRS]) -> (u64, usize) {
        let s = |s: &Span| [s.offset as u64, s.len as u64];
        let (label, words): (u64, &[u64]) = match self {
            Request::Open { flags, path } => (label::OPEN, &[flags.0, s(path)[0], s(path)[1]]),
            Request::Close(h) => (label::CLOSE, &[h.0]),
            Request::Read { handle, to } => (label::READ, &[handle.0, s(to)[0], s(to)[1]]),
            Request::Write { handle, from } => (label::WRITE, &[handle.0, s(from)[0], s(from)[1]]),
            Request::Seek { handle, whence, offset } => (label::SEEK, &[handle.0, *whence as u64, *offset as u64]),
            Request::Fsync(h) => (label::FSYNC, &[h.0]),
            Request::Stat(p) => (label::STAT, &s(p)),
            Request::ReadDir { path, cursor, name } => {
                (label::READDIR, &[s(path)[0], s(path)[1], *cursor, s(name)[0], s(name)[1]])
            }
            Request::Mkdir(p) => (label::MKDIR, &s(p)),
            Request::Rename { from, to } => (label::RENAME, &[s(from)[0], s(from)[1], s(to)[0], s(to)[1]]),
            Request::Unlink(p) => (label::UNLINK, &s(p)),
            Request::Result => (label::RESULT, &[]),
        };
        mrs[..words.len()].copy_from_slice(words);
        (label, words.len())
    }
}

/// A kind as an MR.
pub fn kind_mr(kind: Kind) -> u64 {
    kind as u64
}

/// The kind in an MR.
pub fn kind_of(mr: u64) -> Option<Kind> {
    match mr {
        0 => Some(Kind::File),
        1 => Some(Kind::Dir),
        _ => None,
    }
}

/// Checks a path's syntax: absolute, UTF-8, components non-empty and not `.`
/// or `..` (a trailing `/` is allowed). `/` alone is the root.
pub fn check_path(bytes: &[u8]) -> Option<&str> {
    let text = core::str::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(text);
    }
    rest.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0')).then_some(text)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn round_trip() {
        let sp = |offset, len| Span { offset, len };
        let all = [
            Request::Open { flags: OpenFlags::WRITE | OpenFlags::CREATE, path: sp(0, 5) },
            Request::Close(Handle::new(3, 7)),
            Request::Read { handle: Handle(9), to: sp(0, 4096) },
            Request::Write { handle: Handle(9), from: sp(16, 10) },
            Request::Seek { handle: Handle(1), whence: Whence::End, offset: -5 },
            Request::Fsync(Handle(2)),
            Request::Stat(sp(0, 1)),
            Request::ReadDir { path: sp(0, 1), cursor: 77, name: sp(100, 300) },
            Request::Mkdir(sp(0, 3)),
            Request::Rename { from: sp(0, 3), to: sp(3, 4) },
            Request::Unlink(sp(0, 3)),
            Request::Result,
        ];
        for r in all {
            let mut mrs = [0; REQUEST_MRS];
            let (label, n) = r.encode(&mut mrs);
            assert_eq!(Request::decode(label, &mrs[..n], 4096 + 16), Some(r));
        }
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(Request::decode(label::OPEN, &[1, 0, 5], 4), None, "outside the region");
        assert_eq!(Request::decode(label::OPEN, &[1, u64::MAX, 2], 4096), None, "overflow");
        assert_eq!(Request::decode(label::OPEN, &[0, 0, 5], 4096), None, "neither read nor write");
        assert_eq!(Request::decode(label::OPEN, &[1 | 4, 0, 5], 4096), None, "create without write");
        assert_eq!(Request::decode(label::OPEN, &[1 << 20 | 1, 0, 5], 4096), None, "unknown flag");
        assert_eq!(Request::decode(label::STAT, &[0, MAX_PATH as u64 + 1], 1 << 16), None, "path too long");
        assert_eq!(Request::decode(label::SEEK, &[1, 3, 0], 4096), None, "bad whence");
        assert_eq!(Request::decode(label::CLOSE, &[1, 2], 4096), None, "MR count");
        assert_eq!(Request::decode(99, &[], 4096), None, "label");
    }

    #[test]
    fn paths() {
        assert_eq!(check_path(b"/"), Some("/"));
        assert_eq!(check_path(b"/a/b c/long name.txt"), Some("/a/b c/long name.txt"));
        assert_eq!(check_path(b"/dir/"), Some("/dir/"));
        for bad in [&b"a"[..], b"", b"//a", b"/a//b", b"/./a", b"/a/..", b"/\xff", b"/a\0"] {
            assert_eq!(check_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn handles_and_flags() {
        let h = Handle::new(513, 0xdead_beef);
        assert_eq!((h.slot(), h.generation()), (513, 0xdead_beef));
        assert!(OpenFlags::READ.valid());
        assert!((OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE).valid());
        assert!(!(OpenFlags::READ | OpenFlags::TRUNCATE).valid());
    }
}
