//! The socket interface of the network server (`net`).
//!
//! Applications do not open sockets at run time: every socket is *declared*
//! beside `system.xml` (after Hubris's `task/net`), with the PD that owns it, its
//! kind (a TCP listener with a backlog, a TCP client, a UDP port) and its buffer
//! sizes. The server allocates all of it at start-up, so one application can never
//! take another's memory, and only the owner may use a socket.
//!
//! Every operation is *prompt*: it is done, or refused with [`NetError::WouldBlock`],
//! when the call returns; nothing waits inside the server. When a socket of an owner
//! becomes readable, writable or closed, the server notifies the owner, which then
//! asks for the [`Readiness`] of its sockets and makes the calls that will now
//! succeed.
//!
//! This crate holds the types both sides agree on, the transport ([`protocol`]:
//! PPC labels, message registers, the per-client data region) and the client
//! stub applications use ([`NetClient`]), and the server's [`report`] for
//! people (counters and socket states, read by the shell).
#![no_std]
#![forbid(unsafe_code)]

mod client;
pub mod protocol;
pub mod report;

pub use client::{NetClient, Slice, WORK_SLICE_NS};

use core::fmt;

use microkit::reply::{self, ApiError};

/// A declared socket: its index in the declaration table, as generated at build time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(pub u16);

/// A TCP connection accepted on a listener or opened by a client socket: the
/// listener's [`SocketId`] and the slot of its backlog that holds the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    pub socket: SocketId,
    pub slot: u16,
}

/// An IPv4 endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub addr: [u8; 4],
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.addr;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// What a socket or connection can do now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data (or a datagram, or a pending connection on a listener) is waiting.
    pub readable: bool,
    /// There is room to send.
    pub writable: bool,
    /// The peer closed its side, or the connection was reset: reads drain what is
    /// left and then return end of stream.
    pub closed: bool,
}

/// Why an operation was refused. Every refusal leaves the server and every other
/// socket as they were. The codes are the reply labels (the runtime's reply
/// convention, `microkit::reply`) and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum NetError {
    /// No such socket or connection.
    BadHandle = 1,
    /// The socket belongs to another PD.
    NotOwner = 2,
    /// The operation does not apply to this kind of socket (e.g. `send_to` on TCP).
    WrongKind = 3,
    /// Nothing to do now (no data, no room, no pending connection); try again
    /// after the next notification.
    WouldBlock = 4,
    /// The connection is not (or no longer) established for this operation.
    NotConnected = 5,
    /// A client socket that is already connecting or connected.
    InUse = 6,
    /// A datagram larger than the socket can ever hold, or one that did not fit
    /// the reader's span (it is dropped).
    TooLarge = 7,
    /// The destination cannot be used (unspecified address, port 0, no route to it).
    BadAddress = 8,
    /// The request does not fit the protocol (see [`protocol`]).
    BadRequest = 9,
    /// A report question from a PD that `net.toml` does not name a reader
    /// ([`report`]).
    Denied = 10,
    /// The server faulted while serving the call.
    PeerFaulted = reply::PEER_FAULTED,
    /// The server's reply made no sense to the client.
    Protocol = reply::PROTOCOL,
}

impl ApiError for NetError {
    const SENT: &'static [Self] = &[
        NetError::BadHandle,
        NetError::NotOwner,
        NetError::WrongKind,
        NetError::WouldBlock,
        NetError::NotConnected,
        NetError::InUse,
        NetError::TooLarge,
        NetError::BadAddress,
        NetError::BadRequest,
        NetError::Denied,
    ];
    const PEER_FAULTED: Self = NetError::PeerFaulted;
    const PROTOCOL: Self = NetError::Protocol;
    fn code(self) -> u64 {
        self as u64
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetError::BadHandle => "no such socket or connection",
            NetError::NotOwner => "the socket belongs to another protection domain",
            NetError::WrongKind => "the operation does not apply to this kind of socket",
            NetError::WouldBlock => "nothing to do now; wait for a notification",
            NetError::NotConnected => "the connection is not established",
            NetError::InUse => "the socket is already in use",
            NetError::TooLarge => "larger than the socket can ever hold",
            NetError::BadAddress => "the destination address or port cannot be used",
            NetError::BadRequest => "the request does not fit the protocol",
            NetError::Denied => "not a reader of the server's report (net.toml [report] readers)",
            NetError::PeerFaulted => "the network server faulted during the call",
            NetError::Protocol => "the network server's reply made no sense",
        })
    }
}

/// The kind of a declared socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// Listens on a TCP port; `backlog` connections can be open at once.
    TcpListener { port: u16, backlog: u16 },
    /// Connects out, one connection at a time, from an ephemeral local port.
    TcpClient,
    /// Sends and receives datagrams on a UDP port.
    Udp { port: u16 },
}

/// One declared socket, as the build generates it from the configuration beside
/// `system.xml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketDecl {
    /// Unique name, for messages.
    pub name: &'static str,
    /// The owning PD's client index in the server (generated from `system.xml`).
    pub owner: u8,
    pub kind: SocketKind,
    /// Receive buffer in bytes (per connection for TCP).
    pub rx_bytes: usize,
    /// Transmit buffer in bytes (per connection for TCP).
    pub tx_bytes: usize,
    /// Datagrams each way (UDP only).
    pub datagrams: usize,
}
