//! Files over HTTP: `GET /files/<path>` and `PUT /files/<path>` through the
//! file system server (`vfs-api`). The core does not call the server: a
//! connection says which file call it needs next ([`FileCall`]) and is given
//! its result ([`FileAnswer`]); the PD shell makes the calls, one at a time
//! (the interface allows one request in flight per client), in turn for the
//! connections that wait.
//!
//! - `GET`: stat (a file, its size: the `Content-Length`), open for reading,
//!   reads of at most [`CHUNK`] bytes as the response drains, close. A read
//!   that fails once the head is sent ends the connection (the client sees a
//!   short body, never wrong bytes).
//! - `PUT`: needs a `Content-Length`; open (create, truncate), writes of the
//!   body as it arrives (at most [`CHUNK`] bytes are buffered: TCP holds the
//!   rest), fsync, close; `201 Created` with the length and SHA-256 of what
//!   was written, as `POST /sink` answers. On an error the rest of the body
//!   is not read and the connection closes after the answer.
//!
//! Every copy of a byte: GET: the server's region → the PD's buffer (copy 1,
//! `VfsClient::take_read`) → the connection's output (copy 2) → the network
//! server's region (copy 3). PUT: the network region → the connection's
//! buffer (copy 1, with the request head's bytes) → the call's buffer (copy
//! 2) → the file server's region (copy 3).

use alloc::string::String;
use alloc::vec::Vec;

use vfs_api::{Handle, Kind, OpenFlags, Stat, VfsError};

/// The most bytes one read or write call moves.
pub const CHUNK: usize = 32 * 1024;

/// The file call a connection needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileCall {
    Stat(String),
    Open(String, OpenFlags),
    Read(Handle, usize),
    Write(Handle, Vec<u8>),
    Fsync(Handle),
    Close(Handle),
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileAnswer {
    Stat(Stat),
    Handle(Handle),
    /// Bytes read (empty: the end of the file).
    Data(Vec<u8>),
    /// Bytes written.
    Written(u64),
    Done,
}

/// The file path of a request path under `/files/`: percent-decoded,
/// absolute. `None`: not under `/files/`; `Some(Err)`: no usable name.
pub fn file_path(request_path: &str) -> Option<Result<String, &'static str>> {
    let rest = request_path.strip_prefix("/files/")?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    if rest.is_empty() {
        return Some(Err("name a file: /files/<path>\n"));
    }
    let mut bytes = Vec::with_capacity(rest.len() + 1);
    bytes.push(b'/');
    let mut it = rest.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = |c: Option<u8>| c.and_then(|c| char::from(c).to_digit(16));
            match (hex(it.next()), hex(it.next())) {
                (Some(h), Some(l)) => bytes.push((h * 16 + l) as u8),
                _ => return Some(Err("a bad %-escape in the path\n")),
            }
        } else {
            bytes.push(b);
        }
    }
    Some(String::from_utf8(bytes).map_err(|_| "the path is not UTF-8\n"))
}

/// The HTTP status for a file server error.
pub fn status_of(e: VfsError) -> (u16, &'static str) {
    match e {
        VfsError::NotFound | VfsError::NotDir => (404, "Not Found"),
        VfsError::BadPath => (400, "Bad Request"),
        VfsError::IsDir | VfsError::Exists | VfsError::NotEmpty | VfsError::InUse => (409, "Conflict"),
        VfsError::Denied => (403, "Forbidden"),
        VfsError::NoSpace => (507, "Insufficient Storage"),
        VfsError::TooLarge => (413, "Payload Too Large"),
        VfsError::Io
        | VfsError::NoVolume
        | VfsError::TooManyOpen
        | VfsError::Busy
        | VfsError::Corrupt
        | VfsError::PeerFaulted => (503, "Service Unavailable"),
        _ => (500, "Internal Server Error"),
    }
}

/// Where a file request stands.
#[derive(Debug)]
pub(crate) enum FileJob {
    GetStat {
        path: String,
    },
    GetOpen {
        path: String,
        size: u64,
    },
    /// The head is sent; `left` bytes of the body to read.
    GetRead {
        handle: Handle,
        left: u64,
    },
    /// Closing after a GET; `broken`: the body was cut short.
    GetClose {
        handle: Handle,
        broken: bool,
    },
    PutOpen {
        path: String,
    },
    /// Writing the body as it comes (the connection's `PutBody`).
    PutWrite {
        handle: Handle,
    },
    PutFsync {
        handle: Handle,
    },
    /// Closing after a PUT: the error to answer with, if any.
    PutClose {
        handle: Handle,
        failed: Option<VfsError>,
    },
}

impl FileJob {
    /// The handle this job holds open, if any (to close if the connection dies).
    pub(crate) fn handle(&self) -> Option<Handle> {
        match self {
            FileJob::GetStat { .. } | FileJob::GetOpen { .. } | FileJob::PutOpen { .. } => None,
            FileJob::GetRead { handle, .. }
            | FileJob::GetClose { handle, .. }
            | FileJob::PutWrite { handle, .. }
            | FileJob::PutFsync { handle }
            | FileJob::PutClose { handle, .. } => Some(*handle),
        }
    }
}

/// A directory is not served (yet): its stat says so.
pub(crate) fn is_file(s: &Stat) -> bool {
    s.kind == Kind::File
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode_or_are_refused() {
        assert_eq!(file_path("/files/a.txt"), Some(Ok(String::from("/a.txt"))));
        assert_eq!(file_path("/files/dir/long%20name.bin?x=1"), Some(Ok(String::from("/dir/long name.bin"))));
        assert!(matches!(file_path("/files/"), Some(Err(_))));
        assert!(matches!(file_path("/files/%zz"), Some(Err(_))));
        assert!(matches!(file_path("/files/%ff"), Some(Err(_))), "not UTF-8");
        assert_eq!(file_path("/bytes/1"), None);
        assert_eq!(status_of(VfsError::NotFound).0, 404);
        assert_eq!(status_of(VfsError::Io).0, 503);
    }
}
