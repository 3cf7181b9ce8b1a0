//! The [`Link`] over the virtio_net driver's queues (crate `driver-queue`,
//! protocol `virtio_net::protocol`): pair 0 carries frames to the device (and the
//! MAC request), pair 1 brings frames from it in buffers the server posts.
//!
//! # A driver restart
//!
//! When RS restarts the driver, the fresh copy asks to attach; the queue client
//! resets the rings and hands back every request the dead driver held: transmit
//! frames (sent again as they were, so TCP never waits for a retransmission
//! timeout) and posted receive buffers (posted again). Nothing here or in smoltcp
//! starts over: sockets, sequence numbers and the MAC address stay.
//!
//! # A driver that stops consuming
//!
//! [`QueueLink::stalled`] tells the PD shell that frames have been waiting on the
//! driver longer than a limit with no completion, so the shell can complain to
//! RS before heartbeats would notice (a driver can answer heartbeats and still
//! never send).
//!
//! A driver that hangs while it holds no transmit frame (a TCP sender waiting
//! for ACKs that a hung driver never delivers) would only be caught when TCP
//! retransmits, a second later. So while traffic flows, [`QueueLink::probe`]
//! asks the driver for the MAC address whenever it has completed nothing for a
//! short while: the driver answers that at once, without the device, and a
//! driver that does not is stalled like one that holds frames.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use driver_queue::{Completion, Desc, Event, Notify, PeerFaults, QueueClient, QueueError, SharedMem, status};
use virtio_net::protocol::{BUF, BUFS, OP_MAC, OP_SEND, QUEUES, RX, RX_BASE, TX, TX_BASE};

use crate::link::{FRAME_MAX, Link};

/// What the link has seen (the server's report, `net_api::report`).
pub use net_api::report::LinkCounters;

/// The server's end of the net driver's queues.
pub struct QueueLink<M: SharedMem + Clone, N: Notify> {
    queues: QueueClient<M, N>,
    free_tx: Vec<u64>,
    /// Filled receive buffers not yet given to smoltcp: offset, length.
    rx_ready: VecDeque<(u64, usize)>,
    /// Receive buffers that could not be posted (queues reset under us): posted
    /// at the next chance.
    rx_unposted: Vec<u64>,
    scratch: Vec<u8>,
    mac: Option<[u8; 6]>,
    counters: LinkCounters,
    /// When the driver last completed a transmit request, or attached (ms).
    tx_progress_ms: u64,
    /// Whether a driver has attached since the link was made: before that,
    /// requests wait in the rings for it and nothing is stalled.
    attached: bool,
    /// When the driver last completed anything (ms).
    completion_ms: u64,
    /// When a frame last passed either way (ms).
    traffic_ms: Option<u64>,
    now_ms: u64,
}

impl<M: SharedMem + Clone, N: Notify> QueueLink<M, N> {
    /// Takes the queues (`queues`, `data`) toward the driver (`driver` notifies
    /// it), posts every receive buffer and asks for the MAC address.
    pub fn new(queues: M, data: M, driver: N) -> Result<Self, QueueError> {
        let queues = QueueClient::new("net on virtio_net", queues, data, &QUEUES, driver)?;
        let free_tx = (0..BUFS).map(|i| TX_BASE + i * BUF).collect();
        let rx_unposted = (0..BUFS).map(|i| RX_BASE + i * BUF).collect();
        let mut link = QueueLink {
            queues,
            free_tx,
            rx_ready: VecDeque::new(),
            rx_unposted,
            scratch: Vec::new(),
            mac: None,
            counters: LinkCounters::default(),
            tx_progress_ms: 0,
            attached: false,
            completion_ms: 0,
            traffic_ms: None,
            now_ms: 0,
        };
        link.post_rx();
        // Cannot fail: every transmit buffer is free and the rings are new.
        let _ = link.ask_mac();
        Ok(link)
    }

    /// The device's MAC address, once the driver said it.
    pub fn mac(&self) -> Option<[u8; 6]> {
        self.mac
    }

    pub fn counters(&self) -> LinkCounters {
        self.counters
    }

    /// The protocol violations of the driver reported so far (completions
    /// skipped, a ring stopped until the driver attaches again): for the shell
    /// to complain of the driver to RS.
    pub fn peer_faults(&self) -> PeerFaults {
        self.queues.peer_faults()
    }

    /// The current epoch of the queues (one more per driver attach).
    pub fn epoch(&self) -> u64 {
        self.queues.epoch()
    }

    /// Time for [`QueueLink::stalled`] (ms).
    pub fn set_now(&mut self, now_ms: u64) {
        if self.queues.in_flight(TX) == 0 {
            self.tx_progress_ms = now_ms;
        }
        self.now_ms = now_ms;
    }

    /// Whether frames (or the MAC request) wait on the driver: then the shell
    /// must look at [`QueueLink::stalled`] again soon.
    pub fn waiting(&mut self) -> bool {
        self.queues.in_flight(TX) > 0
    }

    /// Whether frames passed in the last `window_ms`.
    pub fn active(&self, window_ms: u64) -> bool {
        self.traffic_ms.is_some_and(|t| self.now_ms.saturating_sub(t) <= window_ms)
    }

    /// While frames passed in the last `active_ms`, asks a driver that has
    /// completed nothing for `quiet_ms` and holds no transmit request for the MAC
    /// address (see the module documentation). Returns whether it asked.
    pub fn probe(&mut self, active_ms: u64, quiet_ms: u64) -> bool {
        let quiet = self.now_ms.saturating_sub(self.completion_ms) > quiet_ms;
        if !self.attached || self.waiting() || !self.active(active_ms) || !quiet {
            return false;
        }
        let asked = self.ask_mac();
        if asked {
            self.counters.probes += 1;
            self.tx_progress_ms = self.now_ms;
        }
        asked
    }

    /// Frames have waited on the driver for more than `limit_ms` with no transmit
    /// completion since it attached or last completed one.
    pub fn stalled(&mut self, limit_ms: u64) -> bool {
        self.attached && self.queues.in_flight(TX) > 0 && self.now_ms.saturating_sub(self.tx_progress_ms) > limit_ms
    }

    /// On every notification from the driver: the restart protocol, then every
    /// completion.
    pub fn on_driver_notification(&mut self) {
        while let Some(event) = self.queues.next_event() {
            match event {
                Event::Attached { .. } => {
                    self.counters.reattaches += 1;
                    self.attached = true;
                    // A fresh copy starts with a clean slate.
                    self.tx_progress_ms = self.now_ms;
                    self.completion_ms = self.now_ms;
                }
                Event::Reclaimed(r) => match self.queues.resubmit(r) {
                    // Requests posted before the first driver attached are
                    // reclaimed too (it attaches at a new epoch): not a restart's.
                    Ok(_) if self.counters.reattaches > 1 => self.counters.resubmitted += 1,
                    Ok(_) => {}
                    // The new driver broke its ring at once (reported by the queue
                    // client): the frame is lost (TCP sends it again), the buffer
                    // is ours again.
                    Err(_) if r.pair == TX => self.free_tx.push(r.request.offset),
                    Err(_) => self.rx_unposted.push(r.request.offset),
                },
                Event::Completed { pair, completion } => self.completed(pair, completion),
            }
        }
        self.post_rx();
    }

    fn completed(&mut self, pair: usize, c: Completion) {
        let offset = c.request.offset;
        self.completion_ms = self.now_ms;
        if pair == TX {
            self.tx_progress_ms = self.now_ms;
            if c.request.op == OP_MAC {
                let mut m = [0u8; 6];
                if c.status == status::OK
                    && c.len == 6
                    && self.queues.data().read_bytes(offset as usize, &mut m).is_ok()
                {
                    self.mac = Some(m);
                    self.free_tx.push(offset);
                } else {
                    self.free_tx.push(offset);
                    let _ = self.ask_mac(); // no buffer: asked again by the next probe
                }
                return;
            }
            if c.status != status::OK {
                self.counters.tx_errors += 1;
            }
            self.free_tx.push(offset);
            return;
        }
        let len = c.len as usize;
        if c.status == status::OK && (14..=FRAME_MAX).contains(&len) && len as u64 <= BUF {
            self.rx_ready.push_back((offset, len));
        } else {
            self.counters.rx_errors += 1;
            self.rx_unposted.push(offset);
        }
    }

    fn ask_mac(&mut self) -> bool {
        let Some(offset) = self.free_tx.pop() else { return false };
        if self.queues.submit(TX, Desc { op: OP_MAC, ..Desc::new(offset, 6) }).is_err() {
            self.free_tx.push(offset);
            return false;
        }
        true
    }

    fn post_rx(&mut self) {
        while let Some(offset) = self.rx_unposted.pop() {
            if self.queues.submit(RX, Desc::new(offset, BUF as u32)).is_err() {
                self.rx_unposted.push(offset);
                return;
            }
        }
    }
}

impl<M: SharedMem + Clone, N: Notify> Link for QueueLink<M, N> {
    fn recv(&mut self, buf: &mut [u8; FRAME_MAX]) -> Option<usize> {
        while let Some((offset, len)) = self.rx_ready.pop_front() {
            // The one copy out of shared memory: smoltcp parses private bytes.
            let ok = self.queues.data().read_bytes(offset as usize, &mut buf[..len]).is_ok();
            self.rx_unposted.push(offset);
            self.post_rx();
            if ok {
                self.counters.rx_frames += 1;
                self.traffic_ms = Some(self.now_ms);
                return Some(len);
            }
            self.counters.rx_errors += 1;
        }
        None
    }

    fn can_send(&self) -> bool {
        !self.free_tx.is_empty()
    }

    fn tx_buffer(&mut self, len: usize) -> Option<&mut [u8]> {
        if self.free_tx.is_empty() || len > FRAME_MAX {
            self.counters.tx_dropped += 1;
            return None;
        }
        self.scratch.resize(len, 0);
        Some(&mut self.scratch)
    }

    fn send(&mut self, len: usize) {
        let Some(offset) = self.free_tx.pop() else {
            self.counters.tx_dropped += 1;
            return;
        };
        let len = len.min(self.scratch.len());
        let sent = self.queues.data().write_bytes(offset as usize, &self.scratch[..len]).is_ok()
            && self.queues.submit(TX, Desc { op: OP_SEND, ..Desc::new(offset, len as u32) }).is_ok();
        if sent {
            self.counters.tx_frames += 1;
            self.traffic_ms = Some(self.now_ms);
        } else {
            self.free_tx.push(offset);
            self.counters.tx_dropped += 1;
        }
    }
}
