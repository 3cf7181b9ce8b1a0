//! The stack: one smoltcp interface, its sockets, the table of declarations.

use alloc::boxed::Box;
use alloc::vec::Vec;

use net_api::report::SocketReport;
use net_api::{ConnId, Endpoint, NetError, Readiness, SocketDecl, SocketId};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::config::NetConfig;
use crate::link::{FRAME_MAX, Link, LinkDevice, frame_buffer};
use crate::table::{OwnerSet, SocketTable};

/// What a poll asks the PD shell to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollOutcome {
    /// Owners whose sockets changed readiness: notify each.
    pub notify: OwnerSet,
    /// Poll again at this time (ms), or when a frame or a request arrives.
    pub next_poll_ms: Option<u64>,
}

/// The network stack of the server.
pub struct NetStack<L: Link> {
    link: L,
    iface: Interface,
    sockets: SocketSet<'static>,
    table: SocketTable,
    frame: Box<[u8; FRAME_MAX]>,
    now: Instant,
    /// smoltcp's clock runs this far ahead of the caller's (see [`NetStack::link_reset`]).
    skew_ms: u64,
    /// The link was reset: fire the timers that wait on what it lost.
    kick: bool,
}

/// After a link reset, smoltcp's clock may jump to timers due within this long.
const KICK_WINDOW_MS: u64 = 2_000;
/// The most timer deadlines one link reset jumps to.
const KICKS: usize = 16;

impl<L: Link> NetStack<L> {
    /// Brings the interface up at `now_ms` with every declared socket.
    pub fn new(config: &NetConfig, decls: &[SocketDecl], mut link: L, now_ms: u64) -> Self {
        let mut frame = frame_buffer();
        let now = Instant::from_millis(now_ms as i64);
        let mut ic = Config::new(HardwareAddress::Ethernet(EthernetAddress(config.mac)));
        ic.random_seed = config.random_seed;
        let mut iface = Interface::new(ic, &mut LinkDevice::new(&mut link, &mut frame), now);
        let [a, b, c, d] = config.ipv4.addr;
        iface.update_ip_addrs(|addrs| {
            // The interface holds up to smoltcp's IFACE_MAX_ADDR_COUNT (≥ 2); it is new.
            let _ = addrs.push(IpCidr::new(Ipv4Address::new(a, b, c, d).into(), config.ipv4.prefix_len));
        });
        if let Some([a, b, c, d]) = config.ipv4.gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(Ipv4Address::new(a, b, c, d));
        }
        let mut sockets = SocketSet::new(Vec::new());
        let table = SocketTable::new(decls, &mut sockets, config.random_seed);
        NetStack { link, iface, sockets, table, frame, now, skew_ms: 0, kick: false }
    }

    /// The link was reset (the driver restarted): frames it held on the way in
    /// were lost with it, ACKs among them. A sender whose last ACKs were lost
    /// would wait for smoltcp's retransmission timeout (at least 1 s) before it
    /// sends again; instead, at the next poll smoltcp's clock jumps to each
    /// timer due within [`KICK_WINDOW_MS`], so the unacknowledged data goes
    /// out again at once and the peer's answer carries on the connection. The
    /// jump is kept (smoltcp's clock only runs ahead, never back); the
    /// server's own timeouts use the caller's clock.
    pub fn link_reset(&mut self) {
        self.kick = true;
    }

    /// Moves frames both ways and runs smoltcp's timers, at `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> PollOutcome {
        self.now = Instant::from_millis(now_ms.saturating_add(self.skew_ms) as i64);
        let mut device = LinkDevice::new(&mut self.link, &mut self.frame);
        self.table.before_poll(&self.sockets);
        self.iface.poll(self.now, &mut device, &mut self.sockets);
        if core::mem::take(&mut self.kick) {
            for _ in 0..KICKS {
                let Some(at) = self.iface.poll_at(self.now, &self.sockets).filter(|at| *at > self.now) else { break };
                let ahead = (at - self.now).total_millis();
                if ahead == 0 || ahead > KICK_WINDOW_MS {
                    break;
                }
                self.skew_ms += ahead;
                self.now = at;
                self.iface.poll(self.now, &mut device, &mut self.sockets);
            }
        }
        let notify = self.table.after_poll(&mut self.sockets, now_ms);
        let next_poll_ms = self
            .iface
            .poll_at(self.now, &self.sockets)
            .map(|t| (t.total_millis().max(0) as u64).saturating_sub(self.skew_ms).max(now_ms));
        PollOutcome { notify, next_poll_ms }
    }

    /// The link, for the shell (driver restarts, counters).
    pub fn link(&mut self) -> &mut L {
        &mut self.link
    }

    /// The declared sockets, in [`SocketId`] order.
    pub fn decls(&self) -> impl Iterator<Item = &SocketDecl> {
        self.table.decls()
    }

    /// Where socket `id` stands (the server's report).
    pub fn socket_report(&self, id: SocketId) -> Result<SocketReport, NetError> {
        self.table.report(&self.sockets, id)
    }

    pub fn accept(&mut self, owner: u8, listener: SocketId) -> Result<ConnId, NetError> {
        self.table.accept(&mut self.sockets, owner, listener)
    }

    pub fn connect(&mut self, owner: u8, socket: SocketId, remote: Endpoint) -> Result<ConnId, NetError> {
        let routed = self.routed(remote.addr);
        self.table.connect(&mut self.sockets, self.iface.context(), owner, socket, remote, routed)
    }

    pub fn recv(&mut self, owner: u8, conn: ConnId, buf: &mut [u8]) -> Result<usize, NetError> {
        self.table.recv(&mut self.sockets, owner, conn, buf)
    }

    pub fn send(&mut self, owner: u8, conn: ConnId, data: &[u8]) -> Result<usize, NetError> {
        self.table.send(&mut self.sockets, owner, conn, data)
    }

    pub fn shutdown(&mut self, owner: u8, conn: ConnId) -> Result<(), NetError> {
        self.table.shutdown(&mut self.sockets, owner, conn)
    }

    pub fn close(&mut self, owner: u8, conn: ConnId) -> Result<(), NetError> {
        self.table.close(&mut self.sockets, owner, conn)
    }

    pub fn abort(&mut self, owner: u8, conn: ConnId) -> Result<(), NetError> {
        self.table.abort(&mut self.sockets, owner, conn)
    }

    pub fn send_to(&mut self, owner: u8, socket: SocketId, to: Endpoint, data: &[u8]) -> Result<(), NetError> {
        let routed = self.routed(to.addr);
        self.table.send_to(&mut self.sockets, owner, socket, to, routed, data)
    }

    pub fn recv_from(&mut self, owner: u8, socket: SocketId, buf: &mut [u8]) -> Result<(usize, Endpoint), NetError> {
        self.table.recv_from(&mut self.sockets, owner, socket, buf)
    }

    /// Whether smoltcp can send to `addr`: the broadcast address, a multicast
    /// group, the interface's subnet, or anything through the default gateway
    /// (as smoltcp's interface decides).
    fn routed(&self, addr: [u8; 4]) -> bool {
        let [a, b, c, d] = addr;
        let addr = IpAddress::Ipv4(Ipv4Address::new(a, b, c, d));
        addr.is_broadcast()
            || addr.is_multicast()
            || self.iface.ip_addrs().iter().any(|cidr| cidr.contains_addr(&addr))
            || self.iface.routes().get_default_ipv4_route().is_some()
    }

    /// Readiness of a socket (`slot: None`: a UDP socket, a listener's pending
    /// connections, a client's connection) or of a listener's connection.
    pub fn readiness(&self, owner: u8, socket: SocketId, slot: Option<u16>) -> Result<Readiness, NetError> {
        self.table.readiness(&self.sockets, owner, socket, slot)
    }
}
