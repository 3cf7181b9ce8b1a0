//! The file interface of the file system server (`vfs`).
//!
//! Applications name files by absolute paths (`/dir/long file name.txt`,
//! components separated by `/`, UTF-8, at most [`MAX_PATH`] bytes) and use
//! them through *handles* that `open` returns. A handle belongs to the PD that
//! opened it: the server knows a client by the channel its calls arrive on, so
//! no PD can use, or even probe, another's handles ([`VfsError::NotOwner`]).
//! How many handles a client may hold at once comes from `vfs.toml` beside
//! `system.xml` (checked at build time by `vfs-build`), never from code.
//!
//! Every operation is *prompt*: a call either refuses the request at once
//! (a bad handle, a bad path, a request already pending, ...) or accepts it
//! and returns; nothing waits inside the server. The work (reads of the disk
//! through `virtio_blk`) goes on in the server, which *notifies* the client
//! when it is done; the client then takes the result
//! ([`protocol::label::RESULT`]). One request per client is in flight at a time.
//!
//! `/dev/console` is the console as a stream of bytes, for the clients
//! `vfs.toml` gives it to; its requests are answered in the call, and a
//! console driver restart breaks the stream: EIO, then open again
//! ([`protocol`], "Character devices").
//!
//! Failures of the block driver are the server's business: a request the
//! driver held when it died is given to its fresh copy, so the application
//! sees its read or write complete as if nothing had happened. Only a driver
//! that is *down* (its restart budget spent) turns pending and new requests
//! into [`VfsError::Io`] (EIO), at once: errors go up, nothing hangs.
//!
//! This crate holds the types both sides agree on, the transport
//! ([`protocol`]: PPC labels, message registers, the per-client data region,
//! and every copy of a byte) and the client stub applications use
//! ([`VfsClient`]).
#![no_std]
#![forbid(unsafe_code)]

mod client;
pub mod protocol;

pub use client::{Entry, VfsClient};

use core::fmt;

use microkit::reply::{self, ApiError};

/// The longest path a request may carry, in bytes.
pub const MAX_PATH: usize = 1024;

/// A handle on an open file: the server's slot and a generation, so a handle
/// closed and reused is not the same handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub u64);

impl Handle {
    /// The handle of `slot` at `generation`.
    pub const fn new(slot: u16, generation: u32) -> Handle {
        Handle((generation as u64) << 16 | slot as u64)
    }
    /// The slot in the server's handle table.
    pub const fn slot(self) -> u16 {
        self.0 as u16
    }
    /// The generation of the slot the handle was given at.
    pub const fn generation(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// How to open a file (bits of one MR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenFlags(pub u64);

impl OpenFlags {
    /// Reads allowed.
    pub const READ: OpenFlags = OpenFlags(1);
    /// Writes allowed.
    pub const WRITE: OpenFlags = OpenFlags(2);
    /// Create the file if it does not exist (needs `WRITE`).
    pub const CREATE: OpenFlags = OpenFlags(4);
    /// Cut the file to length 0 on open (needs `WRITE`).
    pub const TRUNCATE: OpenFlags = OpenFlags(8);
    /// Every write goes to the end of the file (needs `WRITE`).
    pub const APPEND: OpenFlags = OpenFlags(16);
    /// Fail if `CREATE` finds the file already there.
    pub const EXCLUSIVE: OpenFlags = OpenFlags(32);
    const ALL: u64 = 63;

    pub const fn union(self, other: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | other.0)
    }
    pub const fn contains(self, other: OpenFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether the combination makes sense: known bits only, at least one of
    /// read or write, and create/truncate/append only with write.
    pub const fn valid(self) -> bool {
        let writes = OpenFlags(4 | 8 | 16 | 32).0;
        self.0 & !Self::ALL == 0 && self.0 & 3 != 0 && (self.0 & writes == 0 || self.0 & 2 != 0)
    }
}

impl core::ops::BitOr for OpenFlags {
    type Output = OpenFlags;
    fn bitor(self, rhs: OpenFlags) -> OpenFlags {
        self.union(rhs)
    }
}

/// Where a seek counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whence {
    Start = 0,
    Current = 1,
    End = 2,
}

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File = 0,
    Dir = 1,
}

/// What `stat` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    pub size: u64,
}

/// Why a request failed. Every refusal leaves the server, the client's other
/// handles and every other client as they were. The codes are the reply
/// labels (the runtime's reply convention, `microkit::reply`) and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum VfsError {
    /// No such handle (never given, closed, or its slot reused since).
    BadHandle = 1,
    /// The handle belongs to another PD.
    NotOwner = 2,
    /// The request does not fit the protocol (see [`protocol`]).
    BadRequest = 3,
    /// The path is not absolute, not UTF-8, longer than [`MAX_PATH`], has an
    /// empty, `.` or `..` component, or a name FAT cannot hold.
    BadPath = 4,
    /// No such file or directory.
    NotFound = 5,
    /// The file exists (create with `EXCLUSIVE`, mkdir, rename without replace).
    Exists = 6,
    /// A component of the path is a file, or readdir on a file.
    NotDir = 7,
    /// The operation needs a file and the path is a directory.
    IsDir = 8,
    /// The directory is not empty.
    NotEmpty = 9,
    /// The volume is full.
    NoSpace = 10,
    /// The client holds as many handles as `vfs.toml` allows it.
    TooManyOpen = 11,
    /// A request of this client is still in flight: take its result first.
    Busy = 12,
    /// Nothing to take yet: the request is still in flight (wait for the
    /// notification).
    WouldBlock = 13,
    /// The disk failed the request, or its driver is down for good (EIO).
    Io = 14,
    /// The volume's structures are damaged (the request is refused; nothing
    /// is written).
    Corrupt = 15,
    /// Writing through a handle opened without `WRITE`, reading through one
    /// without `READ`, or a read-only volume.
    Denied = 16,
    /// The file is open (unlink, rename of an open file).
    InUse = 17,
    /// The file would grow past FAT's 4 GiB, or a seek before the start.
    TooLarge = 18,
    /// No volume is mounted (the disk is not FAT, or mounting failed).
    NoVolume = 19,
    /// The server faulted while serving the call.
    PeerFaulted = reply::PEER_FAULTED,
    /// The server's reply made no sense to the client.
    Protocol = reply::PROTOCOL,
}

impl ApiError for VfsError {
    const SENT: &'static [Self] = &[
        VfsError::BadHandle,
        VfsError::NotOwner,
        VfsError::BadRequest,
        VfsError::BadPath,
        VfsError::NotFound,
        VfsError::Exists,
        VfsError::NotDir,
        VfsError::IsDir,
        VfsError::NotEmpty,
        VfsError::NoSpace,
        VfsError::TooManyOpen,
        VfsError::Busy,
        VfsError::WouldBlock,
        VfsError::Io,
        VfsError::Corrupt,
        VfsError::Denied,
        VfsError::InUse,
        VfsError::TooLarge,
        VfsError::NoVolume,
    ];
    const PEER_FAULTED: Self = VfsError::PeerFaulted;
    const PROTOCOL: Self = VfsError::Protocol;
    fn code(self) -> u64 {
        self as u64
    }
}

impl VfsError {
    /// The error of a reply label the server sends, if it is one.
    pub fn from_code(code: u64) -> Option<VfsError> {
        Self::SENT.iter().copied().find(|e| e.code() == code)
    }
}

impl fmt::Display for VfsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VfsError::BadHandle => "no such handle",
            VfsError::NotOwner => "the handle belongs to another protection domain",
            VfsError::BadRequest => "the request does not fit the protocol",
            VfsError::BadPath => "the path cannot be used",
            VfsError::NotFound => "no such file or directory",
            VfsError::Exists => "the file exists",
            VfsError::NotDir => "not a directory",
            VfsError::IsDir => "is a directory",
            VfsError::NotEmpty => "the directory is not empty",
            VfsError::NoSpace => "the volume is full",
            VfsError::TooManyOpen => "too many open handles for this client",
            VfsError::Busy => "a request is already in flight",
            VfsError::WouldBlock => "the request is still in flight; wait for the notification",
            VfsError::Io => "I/O error",
            VfsError::Corrupt => "the volume is damaged",
            VfsError::Denied => "not allowed on this handle or volume",
            VfsError::InUse => "the file is open",
            VfsError::TooLarge => "the file would be too large",
            VfsError::NoVolume => "no volume is mounted",
            VfsError::PeerFaulted => "the file system server faulted during the call",
            VfsError::Protocol => "the file system server's reply made no sense",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_follow_the_reply_convention() {
        microkit::reply::conformance::assert_convention::<VfsError>();
        for e in VfsError::SENT {
            assert_eq!(VfsError::from_code(e.code()), Some(*e));
            assert_eq!(VfsError::from_label(e.code()), *e);
        }
    }
}
