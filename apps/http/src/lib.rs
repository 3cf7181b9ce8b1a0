//! The HTTP/1.1 server application, as a `no_std` core: one [`Connection`] per TCP
//! connection, fed the bytes that arrived and asked for the bytes to send. The PD
//! shell moves them between the core and the network server's sockets.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /` | an HTML page with the live component table |
//! | `GET /status.json` | the same table as JSON |
//! | `GET /bytes/N` | `N` deterministic pseudo-random bytes ([`pattern_byte`]), for benchmarks |
//! | `POST /sink` | reads a `Content-Length` body; answers its length and SHA-256 as JSON |
//! | `GET /files/<path>` | the file at `<path>` on the FAT volume (through `vfs`, see [`files`]) |
//! | `PUT /files/<path>` | writes the body (a `Content-Length` one) to `<path>`, fsynced; `201` with its length and SHA-256 |
//!
//! Connections are kept alive (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only
//! with `Connection: keep-alive`), and pipelined requests are answered in order.
//! A malformed request gets 400, a request head over [`HEAD_MAX`] bytes or a
//! `/bytes` count over [`BYTES_MAX`] gets 413, an unknown path 404, another method
//! 405, a body without a length 411; each error answer closes the connection. The
//! core never panics on what a client sends.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod connection;
pub mod files;
mod pattern;
mod response;
mod status;
mod table;

pub use connection::{Connection, HEAD_MAX};
pub use files::{FileAnswer, FileCall};
pub use pattern::{BYTES_MAX, fill_pattern, pattern_byte};
pub use status::{ComponentRow, StatusSource};
pub use table::{ComponentTable, PREFIX as COMPONENT_PREFIX};
