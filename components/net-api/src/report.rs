//! The server's report: what the link to the driver has seen and where each
//! declared socket stands, for people (the shell's `net` command). It moves no
//! data and changes nothing in the server.
//!
//! # Who may ask
//!
//! The *readers* that `net.toml` names (`[report] readers = ["shell"]`), each a
//! PD with one channel to the server on which it may call (checked at build
//! time by `net-build`). A call with a report label on any other channel is
//! refused with [`NetError::Denied`](crate::NetError::Denied). A reader that
//! also owns sockets uses the same channel for both.
//!
//! # Transport
//!
//! One PPC per question; the answer is in message registers only (a reader
//! needs no data region). Socket names, owners and kinds are build-time facts:
//! the reader's build (`net_build::generate_reader`) generates them from the
//! same `net.toml`, so only the numbers that change travel.
//!
//! | label | request MRs | reply MRs (label `OK`) |
//! | --- | --- | --- |
//! | [`label::LINK`] | (none) | the [`LinkCounters`] fields, in their order (8) |
//! | [`label::SOCKET`] | socket | slots, held, active, rx queued, tx queued (5) |
//!
//! `SOCKET` of a socket index past the last declaration is
//! [`NetError::BadHandle`](crate::NetError::BadHandle); a wrong MR count is
//! [`NetError::BadRequest`](crate::NetError::BadRequest).
//!
//! # Every copy of a byte
//!
//! None: counters are read from the server's own state into MRs.

use microkit::reply;
use microkit::{Channel, MessageInfo, get_mr};

use crate::{NetError, SocketId};

/// Call labels, apart from the socket interface's ([`crate::protocol::label`]).
pub mod label {
    pub const LINK: u64 = 32;
    pub const SOCKET: u64 = 33;
}

/// What the link to the driver has seen since the server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub tx_frames: u64,
    pub rx_frames: u64,
    /// Frames the driver failed (the device said no): lost, TCP sends again.
    pub tx_errors: u64,
    /// Receive buffers that came back failed or with an impossible length.
    pub rx_errors: u64,
    /// Frames smoltcp built while every transmit buffer was in flight: lost.
    pub tx_dropped: u64,
    /// Requests a dead driver held that were given to its fresh copy (not
    /// those posted before the first driver attached).
    pub resubmitted: u64,
    /// Times a driver attached to the queues (1 at boot, one more per restart).
    pub reattaches: u64,
    /// Liveness probes sent to a quiet driver while traffic flowed.
    pub probes: u64,
}

const LINK_MRS: usize = 8;

impl LinkCounters {
    /// The reply's MRs.
    pub fn to_mrs(&self) -> [u64; LINK_MRS] {
        [
            self.tx_frames,
            self.rx_frames,
            self.tx_errors,
            self.rx_errors,
            self.tx_dropped,
            self.resubmitted,
            self.reattaches,
            self.probes,
        ]
    }

    pub fn from_mrs(m: [u64; LINK_MRS]) -> LinkCounters {
        let [tx_frames, rx_frames, tx_errors, rx_errors, tx_dropped, resubmitted, reattaches, probes] = m;
        LinkCounters { tx_frames, rx_frames, tx_errors, rx_errors, tx_dropped, resubmitted, reattaches, probes }
    }
}

/// Where one declared socket stands now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketReport {
    /// smoltcp sockets behind the declaration (a listener's backlog; 1 otherwise).
    pub slots: u64,
    /// Slots the owner holds (accepted or connecting connections; 0 for UDP).
    pub held: u64,
    /// TCP connections not closed, listening or in TIME-WAIT (0 for UDP).
    pub active: u64,
    /// Bytes (TCP) or datagram bytes (UDP) received and not yet read by the owner.
    pub rx_queued: u64,
    /// Bytes the owner sent that have not left (or, for TCP, not been acknowledged).
    pub tx_queued: u64,
}

const SOCKET_MRS: usize = 5;

impl SocketReport {
    pub fn to_mrs(&self) -> [u64; SOCKET_MRS] {
        [self.slots, self.held, self.active, self.rx_queued, self.tx_queued]
    }

    pub fn from_mrs(m: [u64; SOCKET_MRS]) -> SocketReport {
        let [slots, held, active, rx_queued, tx_queued] = m;
        SocketReport { slots, held, active, rx_queued, tx_queued }
    }
}

/// A report request, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    Link,
    Socket(SocketId),
}

impl Question {
    /// Whether `label` is one of the report's (the server then answers it
    /// with [`Question::decode`], or refuses a caller that is no reader).
    pub fn is_report(label: u64) -> bool {
        matches!(label, label::LINK | label::SOCKET)
    }

    /// Decodes a call; `None` for a wrong MR count or a number out of range.
    pub fn decode(label: u64, mrs: &[u64]) -> Option<Question> {
        match (label, mrs) {
            (label::LINK, []) => Some(Question::Link),
            (label::SOCKET, &[s]) => u16::try_from(s).ok().map(|s| Question::Socket(SocketId(s))),
            _ => None,
        }
    }
}

/// A reader's handle on the server's report.
#[derive(Clone, Copy, Debug)]
pub struct NetReport {
    server: Channel,
}

impl NetReport {
    /// The server is on `server`, on which the reader may call it.
    pub const fn new(server: Channel) -> Self {
        NetReport { server }
    }

    fn call<const N: usize>(&self, label: u64, mrs: &[u64]) -> Result<[u64; N], NetError> {
        for (i, v) in mrs.iter().enumerate() {
            microkit::set_mr(i, *v);
        }
        reply::check_count::<NetError>(self.server.pp_call(MessageInfo::new(label, mrs.len())), N)?;
        Ok(core::array::from_fn(get_mr))
    }

    /// The link's counters.
    pub fn link(&self) -> Result<LinkCounters, NetError> {
        self.call(label::LINK, &[]).map(LinkCounters::from_mrs)
    }

    /// Where socket `id` stands.
    pub fn socket(&self, id: SocketId) -> Result<SocketReport, NetError> {
        self.call(label::SOCKET, &[u64::from(id.0)]).map(SocketReport::from_mrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_decode_exactly() {
        assert_eq!(Question::decode(label::LINK, &[]), Some(Question::Link));
        assert_eq!(Question::decode(label::SOCKET, &[3]), Some(Question::Socket(SocketId(3))));
        assert_eq!(Question::decode(label::LINK, &[0]), None);
        assert_eq!(Question::decode(label::SOCKET, &[]), None);
        assert_eq!(Question::decode(label::SOCKET, &[1 << 16]), None);
        assert_eq!(Question::decode(crate::protocol::label::ACCEPT, &[0]), None);
        assert!(Question::is_report(label::LINK) && Question::is_report(label::SOCKET));
        // The report's labels are none of the socket interface's.
        for l in 1..=crate::protocol::label::READINESS {
            assert!(!Question::is_report(l), "{l}");
        }
    }

    #[test]
    fn answers_round_trip() {
        let c = LinkCounters {
            tx_frames: 1,
            rx_frames: 2,
            tx_errors: 3,
            rx_errors: 4,
            tx_dropped: 5,
            resubmitted: 6,
            reattaches: 7,
            probes: 8,
        };
        assert_eq!(LinkCounters::from_mrs(c.to_mrs()), c);
        let s = SocketReport { slots: 128, held: 2, active: 3, rx_queued: 10, tx_queued: 20 };
        assert_eq!(SocketReport::from_mrs(s.to_mrs()), s);
    }
}
