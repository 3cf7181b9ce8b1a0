//! The wire form of the socket interface: call labels, message registers, and
//! the client's data region. Both sides use these functions, so they cannot
//! disagree; the server decodes every request with [`Request::decode`], which
//! refuses anything that is not exactly as below.
//!
//! # Transport
//!
//! An application makes a protected procedure call (PPC) to the network server
//! on its channel (the server has the higher priority). Control goes in message
//! registers (MRs); data goes through the application's *data region*, a memory
//! region only it and the server map, read-write on both sides. A request names
//! a span of the region (`offset`, `len`); the server checks the span lies inside
//! the region before it touches it, copies what it reads out of the region
//! before using it, and never keeps a reference into it.
//!
//! | label | request MRs | reply MRs (label `OK`) |
//! | --- | --- | --- |
//! | [`label::ACCEPT`] | socket | slot |
//! | [`label::CONNECT`] | socket, IPv4 address (big-endian u32), port | slot |
//! | [`label::RECV`] | socket, slot, offset, max_len (≥ 1) | len (0: end of stream) |
//! | [`label::SEND`] | socket, slot, offset, len (≥ 1) | len taken (≥ 1) |
//! | [`label::SHUTDOWN`] | socket, slot | (none) |
//! | [`label::CLOSE`] | socket, slot | (none) |
//! | [`label::ABORT`] | socket, slot | (none) |
//! | [`label::SEND_TO`] | socket, address, port, offset, len | (none) |
//! | [`label::RECV_FROM`] | socket, offset, max_len | len, address, port |
//! | [`label::READINESS`] | socket, slot or [`NO_SLOT`] | readiness bits ([`Readiness::to_bits`]) |
//!
//! The MR count must be exactly as above. A failed request is answered with the
//! label of its [`NetError`](crate::NetError) (the runtime's reply convention,
//! `microkit::reply`) and no MR. A request that does not fit this table (unknown
//! label, wrong MR count, a number out of range, a span outside the region) is
//! answered [`NetError::BadRequest`](crate::NetError::BadRequest); the server
//! serves the others as before.
//!
//! # Notifications
//!
//! The server notifies an application on its channel when the readiness of one
//! of its sockets or connections changed. Notifications coalesce: on one, the
//! application asks [`label::READINESS`] for each socket it cares about (or just
//! retries its reads and writes, which are prompt).
//!
//! An application notifies the server to be notified back after the server's
//! next poll. One that stops early with work left (its event loop must run: a
//! PD busy in one handler for longer than its heartbeat period is restarted as
//! hung) does so, returns, and carries on when the notification comes.
//!
//! # Every copy of a byte
//!
//! Sent: the application writes into its region (copy 1), the server copies the
//! span into a private buffer (copy 2) and smoltcp into the socket's buffer
//! (copy 3). Received: smoltcp's socket buffer → the server's private buffer
//! (copy 1) → the application's region (copy 2) → wherever the application
//! wants it. Each side of the region is reached through copying accessors, never
//! through references that the peer could change under them.

use crate::{ConnId, Endpoint, Readiness, SocketId};

/// Call labels.
pub mod label {
    pub const ACCEPT: u64 = 1;
    pub const CONNECT: u64 = 2;
    pub const RECV: u64 = 3;
    pub const SEND: u64 = 4;
    pub const SHUTDOWN: u64 = 5;
    pub const CLOSE: u64 = 6;
    pub const ABORT: u64 = 7;
    pub const SEND_TO: u64 = 8;
    pub const RECV_FROM: u64 = 9;
    pub const READINESS: u64 = 10;
}

/// The `slot` of a [`label::READINESS`] request about the socket itself.
pub const NO_SLOT: u64 = u64::MAX;

/// A span of the application's data region.
pub use microkit::Span;

/// A span of at least one byte: a stream read of none could not be told from
/// the end of the stream, a write of none could not be answered.
fn bytes(offset: u64, len: u64, region: usize) -> Option<Span> {
    Span::within(offset, len, region).filter(|s| s.len > 0)
}

/// A request, decoded and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Accept(SocketId),
    Connect(SocketId, Endpoint),
    Recv(ConnId, Span),
    Send(ConnId, Span),
    Shutdown(ConnId),
    Close(ConnId),
    Abort(ConnId),
    SendTo(SocketId, Endpoint, Span),
    RecvFrom(SocketId, Span),
    Readiness(SocketId, Option<u16>),
}

fn socket(mr: u64) -> Option<SocketId> {
    u16::try_from(mr).ok().map(SocketId)
}

fn conn(socket_mr: u64, slot_mr: u64) -> Option<ConnId> {
    Some(ConnId { socket: socket(socket_mr)?, slot: u16::try_from(slot_mr).ok()? })
}

fn endpoint(addr: u64, port: u64) -> Option<Endpoint> {
    Some(Endpoint { addr: u32::try_from(addr).ok()?.to_be_bytes(), port: u16::try_from(port).ok()? })
}

/// An endpoint's address as an MR.
pub fn addr_mr(e: &Endpoint) -> u64 {
    u64::from(u32::from_be_bytes(e.addr))
}

impl Request {
    /// Decodes a call with `label` and MRs `mrs` (exactly the request's count)
    /// from an application whose data region is `region` bytes; `None` for
    /// anything malformed.
    pub fn decode(label: u64, mrs: &[u64], region: usize) -> Option<Request> {
        use label::*;
        Some(match (label, mrs) {
            (ACCEPT, &[s]) => Request::Accept(socket(s)?),
            (CONNECT, &[s, a, p]) => Request::Connect(socket(s)?, endpoint(a, p)?),
            (RECV, &[s, c, o, l]) => Request::Recv(conn(s, c)?, bytes(o, l, region)?),
            (SEND, &[s, c, o, l]) => Request::Send(conn(s, c)?, bytes(o, l, region)?),
            (SHUTDOWN, &[s, c]) => Request::Shutdown(conn(s, c)?),
            (CLOSE, &[s, c]) => Request::Close(conn(s, c)?),
            (ABORT, &[s, c]) => Request::Abort(conn(s, c)?),
            (SEND_TO, &[s, a, p, o, l]) => Request::SendTo(socket(s)?, endpoint(a, p)?, Span::within(o, l, region)?),
            (RECV_FROM, &[s, o, l]) => Request::RecvFrom(socket(s)?, Span::within(o, l, region)?),
            (READINESS, &[s, NO_SLOT]) => Request::Readiness(socket(s)?, None),
            (READINESS, &[s, c]) => Request::Readiness(socket(s)?, Some(u16::try_from(c).ok()?)),
            _ => return None,
        })
    }

    /// The call's label and MRs (the client side of [`Request::decode`]).
    pub fn encode(&self, mrs: &mut [u64; 5]) -> (u64, usize) {
        let c = |c: &ConnId| [u64::from(c.socket.0), u64::from(c.slot)];
        let (label, words): (u64, &[u64]) = match self {
            Request::Accept(s) => (label::ACCEPT, &[u64::from(s.0)]),
            Request::Connect(s, e) => (label::CONNECT, &[u64::from(s.0), addr_mr(e), u64::from(e.port)]),
            Request::Recv(k, sp) => (label::RECV, &[c(k)[0], c(k)[1], sp.offset as u64, sp.len as u64]),
            Request::Send(k, sp) => (label::SEND, &[c(k)[0], c(k)[1], sp.offset as u64, sp.len as u64]),
            Request::Shutdown(k) => (label::SHUTDOWN, &c(k)),
            Request::Close(k) => (label::CLOSE, &c(k)),
            Request::Abort(k) => (label::ABORT, &c(k)),
            Request::SendTo(s, e, sp) => {
                (label::SEND_TO, &[u64::from(s.0), addr_mr(e), u64::from(e.port), sp.offset as u64, sp.len as u64])
            }
            Request::RecvFrom(s, sp) => (label::RECV_FROM, &[u64::from(s.0), sp.offset as u64, sp.len as u64]),
            Request::Readiness(s, slot) => (label::READINESS, &[u64::from(s.0), slot.map_or(NO_SLOT, u64::from)]),
        };
        mrs[..words.len()].copy_from_slice(words);
        (label, words.len())
    }
}

impl Readiness {
    /// Bit 0 readable, bit 1 writable, bit 2 closed.
    pub fn to_bits(self) -> u64 {
        u64::from(self.readable) | u64::from(self.writable) << 1 | u64::from(self.closed) << 2
    }
    pub fn from_bits(bits: u64) -> Readiness {
        Readiness { readable: bits & 1 != 0, writable: bits & 2 != 0, closed: bits & 4 != 0 }
    }
}
