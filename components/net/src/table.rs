//! The table of declared sockets: who owns what, which smoltcp sockets stand
//! behind each declaration, and the checks every request passes first.

use alloc::vec;
use alloc::vec::Vec;

use net_api::report::SocketReport;
use net_api::{ConnId, Endpoint, NetError, Readiness, SocketDecl, SocketId, SocketKind};
use smoltcp::iface::{Context, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Duration;
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint, Ipv4Address};

/// A set of owners (client indices < 64) to notify.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerSet(pub u64);

impl OwnerSet {
    pub fn insert(&mut self, owner: u8) {
        if owner < 64 {
            self.0 |= 1 << owner;
        }
    }
    pub fn contains(self, owner: u8) -> bool {
        owner < 64 && self.0 & (1 << owner) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Where one TCP slot (a listener's backlog entry, or a client socket) stands, as
/// the server sees it; smoltcp's own state says where the connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Listening (listener) or unused (client): the application has nothing here.
    Idle,
    /// The application holds it: accepted, or connecting/connected.
    Held,
    /// The application closed it; smoltcp finishes the close, then the slot is
    /// idle again.
    Closing,
}

struct Entry {
    decl: SocketDecl,
    handles: Vec<SocketHandle>,
    slots: Vec<Slot>,
    /// Readiness last reported, per slot (index 0 for UDP and for a listener's
    /// pending-connection readiness).
    last: Vec<Readiness>,
    /// UDP: bytes queued to send before the last poll.
    tx_queued: usize,
    /// UDP: since when (ms) polls have sent nothing of what is queued.
    tx_stuck_since: Option<u64>,
}

/// All declared sockets.
pub(crate) struct SocketTable {
    entries: Vec<Entry>,
    next_ephemeral: u16,
}

const EPHEMERAL_FIRST: u16 = 49152;

/// How long a listener's slot waits for the peer to finish a handshake (from
/// the peer's last segment) before it listens again.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a UDP socket may send nothing of what it has queued before it is
/// emptied (smoltcp asks ARP once a second; a host gives up after about 3).
const UDP_STUCK_MS: u64 = 5000;

impl SocketTable {
    /// Allocates every declared socket in `set`: listeners listen, UDP sockets bind.
    pub(crate) fn new(decls: &[SocketDecl], set: &mut SocketSet<'static>, seed: u64) -> SocketTable {
        let mut entries = Vec::with_capacity(decls.len());
        for decl in decls {
            let mut handles = Vec::new();
            match decl.kind {
                SocketKind::TcpListener { port, backlog } => {
                    for _ in 0..backlog.max(1) {
                        let mut s = tcp_socket(decl);
                        // Cannot fail: the socket is new (closed) and the port is not 0
                        // (checked when the declarations were generated).
                        let _ = s.listen(port);
                        handles.push(set.add(s));
                    }
                }
                SocketKind::TcpClient => handles.push(set.add(tcp_socket(decl))),
                SocketKind::Udp { port } => handles.push(set.add(udp_socket(decl, port))),
            }
            let n = handles.len();
            entries.push(Entry {
                decl: *decl,
                handles,
                slots: vec![Slot::Idle; n],
                last: vec![Readiness::default(); n],
                tx_queued: 0,
                tx_stuck_since: None,
            });
        }
        let span = u16::MAX - EPHEMERAL_FIRST;
        let mut table = SocketTable { entries, next_ephemeral: EPHEMERAL_FIRST + (seed % u64::from(span)) as u16 };
        // Start from what the sockets can do now (a UDP socket can send), so the
        // first poll tells nobody of a change that did not happen.
        table.after_poll(set, 0);
        table
    }

    pub(crate) fn decls(&self) -> impl Iterator<Item = &SocketDecl> {
        self.entries.iter().map(|e| &e.decl)
    }

    /// Where socket `id` stands, for the server's report (anyone may ask; the
    /// caller checked it is a reader).
    pub(crate) fn report(&self, set: &SocketSet<'_>, id: SocketId) -> Result<SocketReport, NetError> {
        let e = self.entries.get(usize::from(id.0)).ok_or(NetError::BadHandle)?;
        let mut r = SocketReport { slots: e.handles.len() as u64, ..SocketReport::default() };
        match e.decl.kind {
            SocketKind::Udp { .. } => {
                let s = set.get::<udp::Socket>(e.handles[0]);
                r.rx_queued = s.recv_queue() as u64;
                r.tx_queued = s.send_queue() as u64;
            }
            _ => {
                for (h, slot) in e.handles.iter().zip(&e.slots) {
                    let s = set.get::<tcp::Socket>(*h);
                    r.held += u64::from(*slot == Slot::Held);
                    r.active += u64::from(s.is_active());
                    r.rx_queued += s.recv_queue() as u64;
                    r.tx_queued += s.send_queue() as u64;
                }
            }
        }
        Ok(r)
    }

    fn entry(&self, owner: u8, id: SocketId) -> Result<&Entry, NetError> {
        let e = self.entries.get(usize::from(id.0)).ok_or(NetError::BadHandle)?;
        if e.decl.owner != owner {
            return Err(NetError::NotOwner);
        }
        Ok(e)
    }

    fn entry_mut(&mut self, owner: u8, id: SocketId) -> Result<&mut Entry, NetError> {
        self.entry(owner, id)?;
        Ok(&mut self.entries[usize::from(id.0)])
    }

    /// The smoltcp handle of a connection the owner holds.
    fn held(&self, owner: u8, conn: ConnId) -> Result<SocketHandle, NetError> {
        let e = self.entry(owner, conn.socket)?;
        if matches!(e.decl.kind, SocketKind::Udp { .. }) {
            return Err(NetError::WrongKind);
        }
        match e.slots.get(usize::from(conn.slot)) {
            Some(Slot::Held) => Ok(e.handles[usize::from(conn.slot)]),
            _ => Err(NetError::BadHandle),
        }
    }

    pub(crate) fn accept(&mut self, set: &mut SocketSet<'_>, owner: u8, id: SocketId) -> Result<ConnId, NetError> {
        let e = self.entry_mut(owner, id)?;
        if !matches!(e.decl.kind, SocketKind::TcpListener { .. }) {
            return Err(NetError::WrongKind);
        }
        for (slot, (h, state)) in e.handles.iter().zip(e.slots.iter_mut()).enumerate() {
            if *state == Slot::Idle && connected(set.get::<tcp::Socket>(*h)) {
                *state = Slot::Held;
                return Ok(ConnId { socket: id, slot: slot as u16 });
            }
        }
        Err(NetError::WouldBlock)
    }

    pub(crate) fn connect(
        &mut self,
        set: &mut SocketSet<'_>,
        cx: &mut Context,
        owner: u8,
        id: SocketId,
        remote: Endpoint,
        routed: bool,
    ) -> Result<ConnId, NetError> {
        if remote.port == 0 || remote.addr == [0; 4] || !routed {
            return Err(NetError::BadAddress);
        }
        let local = self.ephemeral_port();
        let e = self.entry_mut(owner, id)?;
        if e.decl.kind != SocketKind::TcpClient {
            return Err(NetError::WrongKind);
        }
        if e.slots[0] != Slot::Idle {
            return Err(NetError::InUse);
        }
        let s = set.get_mut::<tcp::Socket>(e.handles[0]);
        let [a, b, c, d] = remote.addr;
        let to = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(a, b, c, d)), remote.port);
        s.connect(cx, to, local).map_err(|_| NetError::BadAddress)?;
        e.slots[0] = Slot::Held;
        Ok(ConnId { socket: id, slot: 0 })
    }

    fn ephemeral_port(&mut self) -> u16 {
        let p = self.next_ephemeral;
        self.next_ephemeral = if p == u16::MAX { EPHEMERAL_FIRST } else { p + 1 };
        p
    }

    /// Reads into `buf`; `Ok(0)` is the end of the stream (the peer closed, or the
    /// connection was reset).
    pub(crate) fn recv(
        &mut self,
        set: &mut SocketSet<'_>,
        owner: u8,
        conn: ConnId,
        buf: &mut [u8],
    ) -> Result<usize, NetError> {
        let s = set.get_mut::<tcp::Socket>(self.held(owner, conn)?);
        let got = if s.can_recv() {
            s.recv_slice(buf).map_err(|_| NetError::NotConnected)
        } else if !s.may_recv() && s.state() != tcp::State::SynSent && s.state() != tcp::State::SynReceived {
            Ok(0)
        } else {
            Err(NetError::WouldBlock)
        };
        if !s.can_recv() {
            self.seen_not_ready(conn, |r| r.readable = false);
        }
        got
    }

    /// The owner has seen `conn` not ready (a read that emptied it, a write
    /// that filled it): readiness reported to it is set so, and the first poll
    /// that finds the socket ready again notifies it. Without this, a socket
    /// that filled and drained between two polls would look unchanged to
    /// both, and an owner waiting for the notification would wait for good.
    fn seen_not_ready(&mut self, conn: ConnId, f: impl FnOnce(&mut Readiness)) {
        if let Some(r) =
            self.entries.get_mut(usize::from(conn.socket.0)).and_then(|e| e.last.get_mut(usize::from(conn.slot)))
        {
            f(r);
        }
    }

    pub(crate) fn send(
        &mut self,
        set: &mut SocketSet<'_>,
        owner: u8,
        conn: ConnId,
        data: &[u8],
    ) -> Result<usize, NetError> {
        let s = set.get_mut::<tcp::Socket>(self.held(owner, conn)?);
        let sent = if !s.may_send() {
            if matches!(s.state(), tcp::State::SynSent | tcp::State::SynReceived) {
                Err(NetError::WouldBlock)
            } else {
                Err(NetError::NotConnected)
            }
        } else {
            match s.send_slice(data) {
                Ok(0) if !data.is_empty() => Err(NetError::WouldBlock),
                Ok(n) => Ok(n),
                Err(_) => Err(NetError::NotConnected),
            }
        };
        if !(s.may_send() && s.can_send()) {
            self.seen_not_ready(conn, |r| r.writable = false);
        }
        sent
    }

    /// Sends FIN after what was written; reads go on until the peer closes.
    pub(crate) fn shutdown(&self, set: &mut SocketSet<'_>, owner: u8, conn: ConnId) -> Result<(), NetError> {
        set.get_mut::<tcp::Socket>(self.held(owner, conn)?).close();
        Ok(())
    }

    /// Gives the connection back: FIN after what was written, then the slot is
    /// reused once smoltcp has finished with it.
    pub(crate) fn close(&mut self, set: &mut SocketSet<'_>, owner: u8, conn: ConnId) -> Result<(), NetError> {
        let h = self.held(owner, conn)?;
        set.get_mut::<tcp::Socket>(h).close();
        self.entries[usize::from(conn.socket.0)].slots[usize::from(conn.slot)] = Slot::Closing;
        Ok(())
    }

    /// Resets the connection at once and gives the slot back.
    pub(crate) fn abort(&mut self, set: &mut SocketSet<'_>, owner: u8, conn: ConnId) -> Result<(), NetError> {
        let h = self.held(owner, conn)?;
        set.get_mut::<tcp::Socket>(h).abort();
        self.entries[usize::from(conn.socket.0)].slots[usize::from(conn.slot)] = Slot::Closing;
        Ok(())
    }

    pub(crate) fn send_to(
        &mut self,
        set: &mut SocketSet<'_>,
        owner: u8,
        id: SocketId,
        to: Endpoint,
        routed: bool,
        data: &[u8],
    ) -> Result<(), NetError> {
        let e = self.entry(owner, id)?;
        if !matches!(e.decl.kind, SocketKind::Udp { .. }) {
            return Err(NetError::WrongKind);
        }
        // A datagram with no route would never leave smoltcp's queue, and every
        // later one of the socket would wait behind it.
        if to.port == 0 || to.addr == [0; 4] || !routed {
            return Err(NetError::BadAddress);
        }
        if data.len() > e.decl.tx_bytes {
            return Err(NetError::TooLarge);
        }
        let [a, b, c, d] = to.addr;
        let to = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(a, b, c, d)), to.port);
        let s = set.get_mut::<udp::Socket>(e.handles[0]);
        let sent = s.send_slice(data, to).map_err(|err| match err {
            udp::SendError::BufferFull => NetError::WouldBlock,
            udp::SendError::Unaddressable => NetError::BadAddress,
        });
        if !s.can_send() {
            self.seen_not_ready(ConnId { socket: id, slot: 0 }, |r| r.writable = false);
        }
        sent
    }

    pub(crate) fn recv_from(
        &mut self,
        set: &mut SocketSet<'_>,
        owner: u8,
        id: SocketId,
        buf: &mut [u8],
    ) -> Result<(usize, Endpoint), NetError> {
        let e = self.entry(owner, id)?;
        if !matches!(e.decl.kind, SocketKind::Udp { .. }) {
            return Err(NetError::WrongKind);
        }
        let s = set.get_mut::<udp::Socket>(e.handles[0]);
        let got = match s.recv_slice(buf) {
            Ok((n, meta)) => Ok((n, endpoint(meta.endpoint))),
            Err(udp::RecvError::Exhausted) => Err(NetError::WouldBlock),
            // The datagram did not fit `buf`: it is dropped (as recvfrom truncates), say so.
            Err(udp::RecvError::Truncated) => Err(NetError::TooLarge),
        };
        if !s.can_recv() {
            self.seen_not_ready(ConnId { socket: id, slot: 0 }, |r| r.readable = false);
        }
        got
    }

    /// The readiness of a socket (for a listener: readable when a connection waits
    /// to be accepted) or of a held connection.
    pub(crate) fn readiness(
        &self,
        set: &SocketSet<'_>,
        owner: u8,
        id: SocketId,
        slot: Option<u16>,
    ) -> Result<Readiness, NetError> {
        let e = self.entry(owner, id)?;
        match (e.decl.kind, slot) {
            (SocketKind::Udp { .. }, None) => Ok(udp_readiness(set.get::<udp::Socket>(e.handles[0]))),
            (SocketKind::TcpListener { .. }, None) => Ok(Readiness {
                readable: e.handles.iter().zip(&e.slots).any(|(h, s)| *s == Slot::Idle && connected(set.get(*h))),
                ..Readiness::default()
            }),
            (SocketKind::Udp { .. }, Some(_)) => Err(NetError::WrongKind),
            (_, Some(slot)) => {
                let h = self.held(owner, ConnId { socket: id, slot })?;
                Ok(tcp_readiness(set.get(h)))
            }
            (SocketKind::TcpClient, None) => {
                let h = self.held(owner, ConnId { socket: id, slot: 0 })?;
                Ok(tcp_readiness(set.get(h)))
            }
        }
    }

    /// Before a poll: what each UDP socket has queued to send, to tell after
    /// the poll whether any of it left.
    pub(crate) fn before_poll(&mut self, set: &SocketSet<'_>) {
        for e in &mut self.entries {
            if matches!(e.decl.kind, SocketKind::Udp { .. }) {
                e.tx_queued = set.get::<udp::Socket>(e.handles[0]).send_queue();
            }
        }
    }

    /// After a poll at `now_ms`: slots whose close has finished become idle
    /// (listeners listen again), UDP sockets stuck behind a datagram that cannot
    /// leave are emptied, and the owners of sockets whose readiness changed are
    /// returned.
    pub(crate) fn after_poll(&mut self, set: &mut SocketSet<'_>, now_ms: u64) -> OwnerSet {
        let mut notify = OwnerSet::default();
        for e in &mut self.entries {
            let mut changed = false;
            for i in 0..e.handles.len() {
                let h = e.handles[i];
                let now = match e.decl.kind {
                    SocketKind::Udp { port } => {
                        let queued = set.get::<udp::Socket>(h).send_queue();
                        if queued == 0 || queued < e.tx_queued {
                            e.tx_stuck_since = None;
                        } else if e.tx_stuck_since.is_none() {
                            e.tx_stuck_since = Some(now_ms);
                        }
                        // smoltcp keeps a datagram whose next hop never answers ARP at
                        // the head of the queue for good, and every later datagram
                        // waits behind it. After a while the socket starts afresh, as a
                        // host drops datagrams to a neighbour it cannot resolve (what it
                        // had received unread is lost too: smoltcp cannot drop one
                        // datagram alone).
                        if e.tx_stuck_since.is_some_and(|t| now_ms.saturating_sub(t) >= UDP_STUCK_MS) {
                            set.remove(h);
                            e.handles[0] = set.add(udp_socket(&e.decl, port));
                            e.tx_stuck_since = None;
                        }
                        udp_readiness(set.get::<udp::Socket>(e.handles[0]))
                    }
                    _ => {
                        let s = set.get_mut::<tcp::Socket>(h);
                        let finished = matches!(s.state(), tcp::State::Closed | tcp::State::TimeWait);
                        if e.slots[i] == Slot::Closing && finished {
                            // The close is done (a TIME-WAIT is cut short: the peer has
                            // closed too, and the slot is wanted for the next one).
                            s.abort();
                            e.slots[i] = Slot::Idle;
                        }
                        if let (Slot::Idle, SocketKind::TcpListener { port, .. }) = (e.slots[i], e.decl.kind) {
                            // An idle listener slot whose connection smoltcp closed (the
                            // application closed it, the peer gave up before accept, or the
                            // handshake timed out) listens again.
                            if s.state() == tcp::State::Closed {
                                let _ = s.listen(IpListenEndpoint::from(port));
                            }
                            // A handshake its peer does not finish (a spoofed SYN, a host
                            // gone) would hold the slot forever: smoltcp answers it with
                            // SYN-ACKs for good. It times out instead; a connection that
                            // is established has no timeout.
                            let timeout = (s.state() == tcp::State::SynReceived).then_some(HANDSHAKE_TIMEOUT);
                            if s.timeout() != timeout {
                                s.set_timeout(timeout);
                            }
                        }
                        match e.slots[i] {
                            Slot::Held => tcp_readiness(s),
                            Slot::Idle => Readiness { readable: connected(s), ..Readiness::default() },
                            Slot::Closing => Readiness::default(),
                        }
                    }
                };
                if now != e.last[i] {
                    e.last[i] = now;
                    changed = true;
                }
            }
            if changed {
                notify.insert(e.decl.owner);
            }
        }
        notify
    }
}

fn udp_socket(decl: &SocketDecl, port: u16) -> udp::Socket<'static> {
    let meta = || vec![udp::PacketMetadata::EMPTY; decl.datagrams.max(1)];
    let rx = udp::PacketBuffer::new(meta(), vec![0; decl.rx_bytes]);
    let tx = udp::PacketBuffer::new(meta(), vec![0; decl.tx_bytes]);
    let mut s = udp::Socket::new(rx, tx);
    // Cannot fail: the port is not 0 (checked when the declarations were generated).
    let _ = s.bind(port);
    s
}

fn tcp_socket(decl: &SocketDecl) -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(vec![0; decl.rx_bytes]);
    let tx = tcp::SocketBuffer::new(vec![0; decl.tx_bytes]);
    let mut s = tcp::Socket::new(rx, tx);
    // As TCP_NODELAY: a response's last short segment goes out at once instead
    // of waiting for the ACK of the one before, which a peer delaying its ACKs
    // (Linux: 40 ms) would hold back; applications write whole responses.
    s.set_nagle_enabled(false);
    s
}

/// A connection that has completed its handshake (it may already be half closed
/// by the peer, with data still to read).
fn connected(s: &tcp::Socket<'_>) -> bool {
    matches!(s.state(), tcp::State::Established | tcp::State::CloseWait)
}

fn tcp_readiness(s: &tcp::Socket<'_>) -> Readiness {
    Readiness {
        readable: s.can_recv(),
        writable: s.may_send() && s.can_send(),
        closed: !s.may_recv()
            && !matches!(s.state(), tcp::State::SynSent | tcp::State::SynReceived | tcp::State::Listen),
    }
}

fn udp_readiness(s: &udp::Socket<'_>) -> Readiness {
    Readiness { readable: s.can_recv(), writable: s.can_send(), closed: false }
}

fn endpoint(e: IpEndpoint) -> Endpoint {
    let IpAddress::Ipv4(a) = e.addr;
    Endpoint { addr: a.octets(), port: e.port }
}
