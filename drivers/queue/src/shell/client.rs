//! The client's shell (the server end of a driver's queues): submit requests,
//! and on each notification from the driver follow the restart protocol and
//! hand over what came back, as [`Event`]s.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use crate::desc::{Desc, status};
use crate::error::QueueError;
use crate::mem::SharedMem;
use crate::server::{Completion, Reclaimed, Server};
use crate::shell::{Notify, PeerFaults, QueueSpec, report};

/// What [`QueueClient::next_event`] hands over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A driver (a new one, or a fresh copy after a crash) attached at
    /// `epoch`: the queues were reset. The completions the old driver had
    /// published and the requests it held follow. (A driver that was there
    /// before the server attaches to the server's first epoch without a
    /// reset: the event comes alone.)
    Attached { epoch: u64 },
    /// A request the old driver held when the queues were reset: resubmit it
    /// ([`QueueClient::resubmit`]) or fail it.
    Reclaimed(Reclaimed),
    /// A request completed.
    Completed { pair: usize, completion: Completion },
}

/// A client's end of a driver's queue set, with the data region the buffers
/// are in and the channel to the driver. See the module documentation for the
/// error policy.
#[derive(Debug)]
pub struct QueueClient<M: SharedMem + Clone, N: Notify> {
    name: &'static str,
    server: Server<M>,
    data: M,
    driver: N,
    faults: PeerFaults,
    /// Events of the last reset not handed over yet.
    pending: VecDeque<Event>,
    /// Whether this round (the calls up to a `None`) looked for an attach.
    polled: bool,
    /// The pair being drained this round.
    cursor: usize,
    /// Pairs whose ring the driver corrupted: not used until it attaches again.
    stopped: Vec<bool>,
    /// A driver attached before (the next attach is a fresh copy's).
    attached_before: bool,
    /// A fresh copy attached and has completed nothing yet.
    awaiting_first: bool,
}

impl<M: SharedMem + Clone, N: Notify> QueueClient<M, N> {
    /// Takes the server end of the queue set in `queues` (buffers in `data`,
    /// both as `spec` says): resets it and publishes a new epoch. Requests may
    /// be submitted at once; they wait in the rings until a driver attaches
    /// (and come back as [`Event::Reclaimed`] then). `name` starts every line
    /// the client prints.
    pub fn new(name: &'static str, queues: M, data: M, spec: &QueueSpec, driver: N) -> Result<Self, QueueError> {
        spec.check_data(&data)?;
        let server = Server::new(queues, spec.layout, spec.pairs)?;
        Ok(QueueClient {
            name,
            server,
            data,
            driver,
            faults: PeerFaults::default(),
            pending: VecDeque::new(),
            polled: false,
            cursor: 0,
            stopped: vec![false; spec.pairs.len()],
            attached_before: false,
            awaiting_first: false,
        })
    }

    /// The data region the buffers are in.
    pub fn data(&self) -> &M {
        &self.data
    }

    /// The current epoch (of the last reset).
    pub fn epoch(&self) -> u64 {
        self.server.epoch()
    }

    /// The peer faults reported so far.
    pub fn peer_faults(&self) -> PeerFaults {
        self.faults
    }

    /// Requests in flight on `pair` (0 for a pair it does not have).
    pub fn in_flight(&mut self, pair: usize) -> usize {
        self.server.pair(pair).map_or(0, |p| p.in_flight())
    }

    /// Submits `request` on `pair` and notifies the driver if it asked.
    /// Returns the request id. [`QueueError::Full`] when a ring's worth is in
    /// flight and [`QueueError::Rejected`] for a buffer outside the pair's
    /// bounds are the caller's; a ring the driver corrupted is reported and
    /// the pair stopped until the driver attaches again
    /// ([`QueueError::NotAttached`] meanwhile).
    pub fn submit(&mut self, pair: usize, request: Desc) -> Result<u32, QueueError> {
        if *self.stopped.get(pair).ok_or(QueueError::NoSuchPair(pair))? {
            return Err(QueueError::NotAttached);
        }
        let p = self.server.pair(pair)?;
        match p.submit(request) {
            Ok(id) => {
                if p.should_notify() {
                    self.driver.notify();
                }
                Ok(id)
            }
            Err(e) => {
                if e.is_peer_fault() {
                    self.on_error(pair, e);
                }
                Err(e)
            }
        }
    }

    /// Submits a reclaimed request again, to the driver now attached.
    pub fn resubmit(&mut self, reclaimed: Reclaimed) -> Result<u32, QueueError> {
        self.submit(reclaimed.pair, Desc { id: 0, ..reclaimed.request })
    }

    /// Call in a loop on every notification from the driver, until `None`:
    /// first the restart protocol (a driver asking to attach gets a reset and
    /// a notification; [`Event::Attached`], then what the reset found), then
    /// every completion of every pair. `None`: nothing more, and a signal is
    /// requested on every pair, so the next completion notifies. Completions
    /// that do not match a request in flight are reported and skipped.
    pub fn next_event(&mut self) -> Option<Event> {
        if !self.polled {
            self.polled = true;
            self.poll_attach();
        }
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        while self.cursor < self.stopped.len() {
            let pair = self.cursor;
            if self.stopped[pair] {
                self.cursor += 1;
                continue;
            }
            let next = match self.server.pair(pair) {
                Ok(p) => p.next_completion(),
                Err(e) => self.bug(e),
            };
            match next {
                Ok(Some(completion)) => {
                    if self.awaiting_first {
                        // The fresh copy's own first completion (the reset's
                        // were the dead one's): the service is back. `cargo
                        // xtask campaign` times "fault -> serving again" by it.
                        self.awaiting_first = false;
                        microkit::debug_println!(
                            "{}: serving again: the fresh driver completed a request (epoch {})",
                            self.name,
                            self.epoch()
                        );
                    }
                    return Some(Event::Completed { pair, completion });
                }
                Ok(None) => self.cursor += 1,
                Err(e) => self.on_error(pair, e),
            }
        }
        self.polled = false;
        self.cursor = 0;
        None
    }

    /// [`QueueClient::next_event`] with the usual answer to a reset: every
    /// reclaimed request is resubmitted to the new driver (`resubmitted` is
    /// told of each, with the epoch), and only completions are handed over.
    /// A reclaimed request that cannot be resubmitted (the new driver
    /// corrupted its ring: reported) comes back failed, with
    /// [`status::DRIVER_RESTARTED`].
    pub fn next_completion(&mut self, mut resubmitted: impl FnMut(u64, &Reclaimed)) -> Option<(usize, Completion)> {
        loop {
            match self.next_event()? {
                Event::Attached { .. } => {}
                Event::Reclaimed(r) => match self.resubmit(r) {
                    Ok(_) => resubmitted(self.epoch(), &r),
                    Err(_) => {
                        let failed = Completion {
                            id: r.request.id,
                            request: r.request,
                            len: 0,
                            status: status::DRIVER_RESTARTED,
                        };
                        return Some((r.pair, failed));
                    }
                },
                Event::Completed { pair, completion } => return Some((pair, completion)),
            }
        }
    }

    fn poll_attach(&mut self) {
        let recovery = match self.server.poll_attach() {
            Ok(Some(recovery)) => recovery,
            Ok(None) => {
                // A driver that asked before this server started attached to
                // the epoch the start published (its request): no reset, and
                // nothing was in flight, but it is attached all the same.
                if !self.attached_before && self.server.driver_attached() {
                    self.attached_before = true;
                    self.pending.push_back(Event::Attached { epoch: self.epoch() });
                }
                return;
            }
            Err(e) => return self.on_error(0, e),
        };
        for (_, e) in recovery.peer_faults {
            report(&mut self.faults, self.name, "driver", e, "completion ignored");
        }
        self.stopped.iter_mut().for_each(|s| *s = false);
        self.awaiting_first = self.attached_before;
        self.attached_before = true;
        self.pending.push_back(Event::Attached { epoch: recovery.epoch });
        let completed = recovery.completed.into_iter().map(|(pair, completion)| Event::Completed { pair, completion });
        self.pending.extend(completed);
        self.pending.extend(recovery.in_flight.into_iter().map(Event::Reclaimed));
        self.driver.notify();
    }

    /// A queue error from the driver's side: reported; a corrupt ring stops
    /// its pair until the next attach. Panics on an error only this side can
    /// cause.
    fn on_error(&mut self, pair: usize, e: QueueError) {
        match e {
            QueueError::Corrupt { .. } => {
                report(&mut self.faults, self.name, "driver", e, "pair stopped until the driver attaches again");
                if let Some(s) = self.stopped.get_mut(pair) {
                    *s = true;
                }
            }
            QueueError::BadAttach { .. } => report(&mut self.faults, self.name, "driver", e, "attach request ignored"),
            e if e.is_peer_fault() => report(&mut self.faults, self.name, "driver", e, "completion ignored"),
            e => self.bug(e),
        }
    }

    fn bug(&self, e: QueueError) -> ! {
        panic!("{}: queue error on the client's side: {e}", self.name)
    }
}
