//! The client side: an application's handle on the network server, its channel
//! and its data region. Every call is one PPC (`protocol`); the data passes
//! through the region, starting at offset 0, at most the region's size per call.

use microkit::reply;
use microkit::{Channel, MessageInfo, Region, get_mr, set_mr};

use crate::protocol::{Request, Span};
use crate::{ConnId, Endpoint, NetError, Readiness, SocketId};

/// An application's handle on the network server.
#[derive(Clone, Copy, Debug)]
pub struct NetClient {
    server: Channel,
    region: Region,
}

impl NetClient {
    /// The server is on `server` (the application may call it there); `region` is
    /// the data region the two share (checked at build time by `net-build`).
    pub const fn new(server: Channel, region: Region) -> Self {
        NetClient { server, region }
    }

    /// The channel on which the server notifies readiness changes.
    pub const fn channel(&self) -> Channel {
        self.server
    }

    /// Asks the server for a notification after its next poll (see
    /// [`protocol`](crate::protocol), "Notifications"): to come back to work
    /// left undone after returning to the event loop.
    pub fn poke(&self) {
        self.server.notify();
    }

    /// The most bytes one call moves.
    pub const fn max_transfer(&self) -> usize {
        self.region.size()
    }

    fn call(&self, request: Request, want: usize) -> Result<[u64; 3], NetError> {
        let mut mrs = [0u64; 5];
        let (label, count) = request.encode(&mut mrs);
        for (i, v) in mrs[..count].iter().enumerate() {
            set_mr(i, *v);
        }
        reply::check_count::<NetError>(self.server.pp_call(MessageInfo::new(label, count)), want)?;
        let mut out = [0u64; 3];
        for (i, v) in out[..want].iter_mut().enumerate() {
            *v = get_mr(i);
        }
        Ok(out)
    }

    fn span(&self, len: usize) -> Span {
        Span { offset: 0, len: len.min(self.region.size()) }
    }

    /// Takes a connection that waits on a listener.
    pub fn accept(&self, listener: SocketId) -> Result<ConnId, NetError> {
        let [slot, ..] = self.call(Request::Accept(listener), 1)?;
        Ok(ConnId { socket: listener, slot: u16::try_from(slot).map_err(|_| NetError::Protocol)? })
    }

    /// Starts connecting a client socket to `to`; writable once established.
    pub fn connect(&self, socket: SocketId, to: Endpoint) -> Result<ConnId, NetError> {
        let [slot, ..] = self.call(Request::Connect(socket, to), 1)?;
        Ok(ConnId { socket, slot: u16::try_from(slot).map_err(|_| NetError::Protocol)? })
    }

    /// Reads what has arrived into `buf`; `Ok(0)`: the end of the stream.
    pub fn recv(&self, conn: ConnId, buf: &mut [u8]) -> Result<usize, NetError> {
        let span = self.span(buf.len());
        let [n, ..] = self.call(Request::Recv(conn, span), 1)?;
        let n = usize::try_from(n).ok().filter(|&n| n <= span.len).ok_or(NetError::Protocol)?;
        self.region.read_bytes(0, &mut buf[..n]).map_err(|_| NetError::Protocol)?;
        Ok(n)
    }

    /// Sends from `data` as much as the connection's buffer takes (≥ 1 byte).
    pub fn send(&self, conn: ConnId, data: &[u8]) -> Result<usize, NetError> {
        let span = self.span(data.len());
        self.region.write_bytes(0, &data[..span.len]).map_err(|_| NetError::Protocol)?;
        let [n, ..] = self.call(Request::Send(conn, span), 1)?;
        usize::try_from(n).ok().filter(|&n| n <= span.len).ok_or(NetError::Protocol)
    }

    /// Sends FIN after what was written; reads go on.
    pub fn shutdown(&self, conn: ConnId) -> Result<(), NetError> {
        self.call(Request::Shutdown(conn), 0).map(drop)
    }

    /// Gives the connection back (FIN after what was written).
    pub fn close(&self, conn: ConnId) -> Result<(), NetError> {
        self.call(Request::Close(conn), 0).map(drop)
    }

    /// Resets the connection and gives it back.
    pub fn abort(&self, conn: ConnId) -> Result<(), NetError> {
        self.call(Request::Abort(conn), 0).map(drop)
    }

    /// Sends one datagram (the whole of `data`, which must fit the region).
    pub fn send_to(&self, socket: SocketId, to: Endpoint, data: &[u8]) -> Result<(), NetError> {
        if data.len() > self.region.size() {
            return Err(NetError::TooLarge);
        }
        self.region.write_bytes(0, data).map_err(|_| NetError::Protocol)?;
        self.call(Request::SendTo(socket, to, self.span(data.len())), 0).map(drop)
    }

    /// Receives one datagram into `buf`: its length and sender.
    pub fn recv_from(&self, socket: SocketId, buf: &mut [u8]) -> Result<(usize, Endpoint), NetError> {
        let span = self.span(buf.len());
        let [n, addr, port] = self.call(Request::RecvFrom(socket, span), 3)?;
        let n = usize::try_from(n).ok().filter(|&n| n <= span.len).ok_or(NetError::Protocol)?;
        let addr = u32::try_from(addr).map_err(|_| NetError::Protocol)?.to_be_bytes();
        let port = u16::try_from(port).map_err(|_| NetError::Protocol)?;
        self.region.read_bytes(0, &mut buf[..n]).map_err(|_| NetError::Protocol)?;
        Ok((n, Endpoint { addr, port }))
    }

    /// The readiness of a socket (`slot: None`) or of a connection.
    pub fn readiness(&self, socket: SocketId, slot: Option<u16>) -> Result<Readiness, NetError> {
        let [bits, ..] = self.call(Request::Readiness(socket, slot), 1)?;
        Ok(Readiness::from_bits(bits))
    }
}

/// How long an application may work on one notification before it returns to
/// its event loop (and [`NetClient::poke`]s the server to be called back):
/// well inside the shortest heartbeat period, so a busy application is never
/// taken for a hung one.
pub const WORK_SLICE_NS: u64 = 5_000_000;

/// The end of the current slice of work.
#[derive(Clone, Copy, Debug)]
pub struct Slice {
    until_ns: u64,
}

impl Slice {
    /// A slice of [`WORK_SLICE_NS`] from now.
    pub fn start() -> Slice {
        Slice { until_ns: microkit::arch_timer::now_ns().saturating_add(WORK_SLICE_NS) }
    }

    /// Whether the slice is used up.
    pub fn over(&self) -> bool {
        microkit::arch_timer::now_ns() >= self.until_ns
    }
}
