//! The driver PD's shell: attach to the client's queues, take each request,
//! let the device core carry it out, complete it, notify.

use core::fmt::Debug;

use crate::desc::{Desc, status};
use crate::driver::{Driver, Link};
use crate::error::QueueError;
use crate::layout::{Direction, PairSpec};
use crate::mem::SharedMem;
use crate::shell::{Notify, PeerFaults, QueueSpec, report};

/// How a request ended: the completion's status ([`status`]) and the bytes
/// moved (at most the request's `len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// [`status::OK`] or an error code.
    pub status: u32,
    /// Bytes moved.
    pub len: u32,
}

impl Reply {
    /// Carried out; `len` bytes moved.
    pub const fn ok(len: u32) -> Reply {
        Reply { status: status::OK, len }
    }

    /// Failed with `status`; nothing moved.
    pub const fn failed(status: u32) -> Reply {
        Reply { status, len: 0 }
    }
}

/// A driver PD's end of its client's queue set, with the data region the
/// buffers are in and the channel to the client. See the module
/// documentation for the error policy.
#[derive(Debug)]
pub struct DriverShell<M: SharedMem + Clone, N: Notify> {
    name: &'static str,
    queues: Driver<M>,
    data: M,
    client: N,
    pairs: &'static [PairSpec],
    faults: PeerFaults,
}

/// The device part of a driver PD: what [`DriverShell::serve_pairs`] and
/// [`crate::DriverPd`] run. `Err` always means the device broke the virtio
/// contract (the shell fails the request in hand and panics).
pub trait Device<M> {
    /// What a broken device reports.
    type Error: Debug;
    /// Carries out one request of `pair`; for a [`Direction::FromDevice`]
    /// pair, fills the buffer posted (called only while
    /// [`Device::has_input`]).
    fn serve(&mut self, pair: usize, data: &M, request: &Desc) -> Result<Reply, Self::Error>;
    /// Whether there is input for another buffer of `FromDevice` pair `pair`.
    fn has_input(&self, pair: usize) -> bool;
    /// On the device's interrupt: acknowledges it at the device and takes in
    /// what arrived.
    fn interrupt(&mut self) -> Result<(), Self::Error>;
}

impl<M: SharedMem + Clone, N: Notify> DriverShell<M, N> {
    /// Takes the driver's end of the queue set in `queues` (buffers in `data`,
    /// both as `spec` says) and asks the client to attach it: notifies the
    /// client. `name` starts every line the shell prints. An error is a
    /// configuration that cannot work (the regions do not fit the protocol).
    pub fn new(name: &'static str, queues: M, data: M, spec: &QueueSpec, client: N) -> Result<Self, QueueError> {
        spec.check_data(&data)?;
        let queues = Driver::new(queues, spec.layout, spec.pairs)?;
        client.notify();
        Ok(DriverShell { name, queues, data, client, pairs: spec.pairs, faults: PeerFaults::default() })
    }

    /// Call on every notification from the client: follows the restart
    /// protocol. `true`: attached, serve the pairs; `false`: wait.
    pub fn on_notify(&mut self) -> bool {
        match self.queues.poll() {
            Ok(Link::Ready) => true,
            Ok(Link::Attached { epoch }) => {
                microkit::debug_println!("{}: attached to the client's queues (epoch {epoch})", self.name);
                true
            }
            Ok(Link::Waiting) => false,
            Ok(Link::Requested | Link::Reset) => {
                self.client.notify();
                false
            }
            Err(e) => {
                self.on_error(e, "waiting for a clean queue state");
                false
            }
        }
    }

    /// Whether attached to the client's current queue state.
    pub fn is_attached(&self) -> bool {
        self.queues.is_attached()
    }

    /// The data region the buffers are in.
    pub fn data(&self) -> &M {
        &self.data
    }

    /// The peer faults reported so far.
    pub fn peer_faults(&self) -> PeerFaults {
        self.faults
    }

    /// Serves one request of `pair`: `serve` carries it out (the buffer is
    /// inside the data region: the queue checked it against the pair's
    /// bounds) and says how it ended, or that the device broke; the shell
    /// completes it and notifies the client if asked. A device error
    /// completes the request with [`status::IO_ERROR`], notifies the client
    /// and panics ([`DriverShell::device_broken`]). `false`: nothing to serve
    /// (the ring is empty and a signal is requested, or not attached).
    pub fn serve_one<E: Debug>(&mut self, pair: usize, serve: impl FnOnce(&M, &Desc) -> Result<Reply, E>) -> bool {
        let next = match self.queues.pair(pair) {
            Ok(p) => p.next_request_or_sleep(),
            Err(QueueError::NotAttached) => return false,
            Err(e) => self.bug(e),
        };
        let request = match next {
            Ok(Some(r)) => r,
            Ok(None) => return false,
            Err(e) => return self.on_error(e, "request skipped"),
        };
        let (reply, broken) = match serve(&self.data, &request) {
            Ok(reply) => (reply, None),
            Err(e) => (Reply::failed(status::IO_ERROR), Some(e)),
        };
        let done = Desc { len: reply.len, status: reply.status, ..request };
        let completed = match self.queues.pair(pair) {
            Ok(p) => p.complete(done).map(|()| p.should_notify()),
            Err(e) => self.bug(e),
        };
        let go_on = match completed {
            Ok(notify) => {
                if notify {
                    self.client.notify();
                }
                true
            }
            Err(e) => self.on_error(e, "completion lost"),
        };
        if let Some(e) = broken {
            self.client.notify();
            self.device_broken(e);
        }
        go_on
    }

    /// Serves the requests of `pair` until none is left ([`DriverShell::serve_one`]).
    pub fn serve_all<E: Debug>(&mut self, pair: usize, mut serve: impl FnMut(&M, &Desc) -> Result<Reply, E>) {
        while self.serve_one(pair, &mut serve) {}
    }

    /// Serves every pair in order: all requests of a `ToDevice` pair, and
    /// the posted buffers of a `FromDevice` pair while `device` has input.
    pub fn serve_pairs(&mut self, device: &mut impl Device<M>) {
        for (pair, spec) in self.pairs.iter().enumerate() {
            match spec.direction {
                Direction::ToDevice => self.serve_all(pair, |data, req| device.serve(pair, data, req)),
                Direction::FromDevice => self.serve_input(pair, device),
            }
        }
    }

    /// Fills the posted buffers of every `FromDevice` pair while `device`
    /// has input (after an interrupt; nothing while not attached).
    pub fn deliver(&mut self, device: &mut impl Device<M>) {
        for (pair, spec) in self.pairs.iter().enumerate() {
            if spec.direction == Direction::FromDevice {
                self.serve_input(pair, device);
            }
        }
    }

    fn serve_input(&mut self, pair: usize, device: &mut impl Device<M>) {
        while device.has_input(pair) && self.serve_one(pair, |data, buf| device.serve(pair, data, buf)) {}
    }

    /// The device broke the virtio contract: gives it up with a panic, a
    /// fault for the reincarnation server, whose fresh copy of the driver
    /// resets the device (the client resubmits what this one held).
    pub fn device_broken(&self, error: impl Debug) -> ! {
        panic!("{}: the device misbehaved ({error:?}); giving it up", self.name)
    }

    /// A queue error: reports a peer fault and says whether to go on serving
    /// (`false` after an impossible ring index: the shell has asked the client
    /// for a clean queue state); panics on an error only this side can cause.
    fn on_error(&mut self, e: QueueError, skipped: &str) -> bool {
        match e {
            QueueError::Corrupt { .. } => {
                report(&mut self.faults, self.name, "client", e, "asking for a clean queue state");
                if let Err(e) = self.queues.request_reset() {
                    self.bug(e);
                }
                self.client.notify();
                false
            }
            // A full completion ring: the client has more in flight than a ring holds.
            e if e.is_peer_fault() || e == QueueError::Full => {
                report(&mut self.faults, self.name, "client", e, skipped);
                true
            }
            e => self.bug(e),
        }
    }

    fn bug(&self, e: QueueError) -> ! {
        panic!("{}: queue error on the driver's side: {e}", self.name)
    }
}
