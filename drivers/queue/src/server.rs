//! The server's end of a queue set: submits requests, checks completions
//! against what it submitted, and runs the restart protocol.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::desc::Desc;
use crate::error::{LayoutError, QueueError};
use crate::layout::{ATTACH, EPOCH, Layout, PairSpec, SHAPE};
use crate::mem::SharedMem;
use crate::ring::{Consumer, Producer};

/// A completed request, as the server submitted it plus what the driver
/// reported. Only `len` and `status` come from the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The request id (now free for reuse).
    pub id: u32,
    /// The request as submitted (the server's own copy, not the driver's).
    pub request: Desc,
    /// Bytes moved, at most `request.len`.
    pub len: u32,
    /// The driver's status code ([`crate::status`]).
    pub status: u32,
}

/// A request that was in flight when the queues were reset: submitted, never
/// completed. The server resubmits it (it gets a new id) or fails it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reclaimed {
    /// The pair it was submitted on.
    pub pair: usize,
    /// The request as submitted (`id` is its old, now invalid, id).
    pub request: Desc,
}

/// What a reset found: completions the old driver had published, the requests
/// still in flight (per pair, in submission order), and the driver's faults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The epoch of the clean queue state now published.
    pub epoch: u64,
    /// Completions found in the rings: these requests are done.
    pub completed: Vec<(usize, Completion)>,
    /// Requests submitted and not completed, per pair in submission order.
    pub in_flight: Vec<Reclaimed>,
    /// Protocol violations met while draining (per pair).
    pub peer_faults: Vec<(usize, QueueError)>,
}

/// Requests in flight on one pair: id → (submission number, request).
#[derive(Debug)]
struct Tracker {
    slots: Vec<Option<(u64, Desc)>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl Tracker {
    fn new(ids: usize) -> Tracker {
        let mut t = Tracker { slots: Vec::new(), free: Vec::new(), next_seq: 0 };
        t.slots.resize(ids, None);
        t.free.extend((0..ids as u32).rev());
        t
    }

    fn alloc(&mut self, mut desc: Desc) -> Option<(u32, Desc)> {
        let id = self.free.pop()?;
        desc.id = id;
        let slot = self.slots.get_mut(id as usize)?;
        *slot = Some((self.next_seq, desc));
        self.next_seq += 1;
        Some((id, desc))
    }

    fn get(&self, id: u32) -> Option<Desc> {
        self.slots.get(id as usize).copied().flatten().map(|(_, d)| d)
    }

    fn release(&mut self, id: u32) {
        if let Some(slot) = self.slots.get_mut(id as usize)
            && slot.take().is_some()
        {
            self.free.push(id);
        }
    }

    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Everything in flight, oldest submission first; the tracker is empty after.
    fn drain(&mut self) -> Vec<Desc> {
        let mut all: Vec<(u64, Desc)> = self.slots.iter_mut().filter_map(Option::take).collect();
        all.sort_unstable_by_key(|(seq, _)| *seq);
        self.free.clear();
        self.free.extend((0..self.slots.len() as u32).rev());
        all.into_iter().map(|(_, d)| d).collect()
    }
}

/// The server's end of one queue pair.
#[derive(Debug)]
pub struct ServerPair<M: SharedMem> {
    spec: PairSpec,
    to_driver: Producer<M>,
    from_driver: Consumer<M>,
    tracker: Tracker,
}

impl<M: SharedMem> ServerPair<M> {
    /// What this pair is for.
    pub fn spec(&self) -> PairSpec {
        self.spec
    }

    /// Requests submitted and not yet completed. At most the ring capacity, so
    /// the driver always finds room for its completions.
    pub fn in_flight(&self) -> usize {
        self.tracker.len()
    }

    /// Submits `request` (its `id` is ignored): returns the id the completion
    /// will carry. [`QueueError::Full`] when a ring's worth is in flight.
    pub fn submit(&mut self, request: Desc) -> Result<u32, QueueError> {
        self.spec.bounds.check(&request).map_err(|reason| QueueError::Rejected { desc: request, reason })?;
        let (id, desc) = self.tracker.alloc(request).ok_or(QueueError::Full)?;
        if let Err(e) = self.to_driver.enqueue(desc) {
            self.tracker.release(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Takes the next completion, `None` if there is none. A completion that
    /// names no request in flight, or does not match its request, is consumed
    /// and reported as a peer fault; its request (if any) stays in flight.
    pub fn complete(&mut self) -> Result<Option<Completion>, QueueError> {
        let Some(done) = self.from_driver.dequeue()? else { return Ok(None) };
        let Some(request) = self.tracker.get(done.id) else { return Err(QueueError::UnknownId { id: done.id }) };
        if done.offset != request.offset || done.op != request.op || done.arg != request.arg || done.len > request.len {
            return Err(QueueError::Mismatch { id: done.id });
        }
        self.tracker.release(done.id);
        Ok(Some(Completion { id: done.id, request, len: done.len, status: done.status }))
    }

    /// After submitting a batch: whether to notify the driver.
    pub fn should_notify(&mut self) -> bool {
        self.to_driver.should_notify()
    }

    /// Before waiting: asks for a notification on the next completion. `true`:
    /// nothing arrived, wait; `false`: completions arrived, keep taking them.
    pub fn request_signal(&mut self) -> Result<bool, QueueError> {
        self.from_driver.request_signal()
    }

    /// The next completion; when there is none, asks for a signal and looks
    /// once more, so a completion that races with going to sleep is not lost.
    /// `None`: wait for a notification.
    pub fn next_completion(&mut self) -> Result<Option<Completion>, QueueError> {
        loop {
            if let Some(c) = self.complete()? {
                return Ok(Some(c));
            }
            if self.request_signal()? {
                return Ok(None);
            }
        }
    }
}

/// The server's end of a queue set: the owner of the restart protocol.
#[derive(Debug)]
pub struct Server<M: SharedMem + Clone> {
    mem: M,
    layout: Layout,
    epoch: u64,
    pairs: Vec<ServerPair<M>>,
}

impl<M: SharedMem + Clone> Server<M> {
    /// Takes the server's end of the queue set at `layout` in `mem`: resets every
    /// ring and publishes a new epoch (a server start is a reset; nothing is in
    /// flight). `specs` gives each pair's direction and bounds, in order.
    pub fn new(mem: M, layout: Layout, specs: &[PairSpec]) -> Result<Self, QueueError> {
        if specs.len() != layout.pairs() {
            return Err(LayoutError::PairCount { layout: layout.pairs(), given: specs.len() }.into());
        }
        layout.check(&mem)?;
        let mut pairs = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let ring = |kind| layout.ring(i, kind).ok_or(QueueError::NoSuchPair(i));
            let (to, from) = (ring(spec.to_driver())?, ring(spec.from_driver())?);
            to.reset(&mem)?;
            from.reset(&mem)?;
            pairs.push(ServerPair {
                spec: *spec,
                to_driver: Producer::attach(mem.clone(), to, spec.bounds)?,
                from_driver: Consumer::attach(mem.clone(), from, spec.bounds)?,
                tracker: Tracker::new(layout.capacity() as usize),
            });
        }
        // Continue the epoch count (a restarted server finds its last epoch).
        let epoch = mem.word(layout.control(EPOCH))?.load(Ordering::Relaxed);
        let mut server = Server { mem, layout, epoch, pairs };
        server.publish()?;
        Ok(server)
    }

    /// Publishes the next epoch: the rings' clean state happens-before it.
    fn publish(&mut self) -> Result<(), QueueError> {
        self.mem.word(self.layout.control(SHAPE))?.store(self.layout.shape(), Ordering::Relaxed);
        self.epoch = self.epoch.wrapping_add(1);
        self.mem.word(self.layout.control(EPOCH))?.store(self.epoch, Ordering::Release);
        Ok(())
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether a driver is attached to the current epoch.
    pub fn driver_attached(&self) -> bool {
        self.mem.word(self.layout.control(ATTACH)).is_ok_and(|w| w.load(Ordering::Acquire) == self.epoch)
    }

    /// Pair `i`.
    pub fn pair(&mut self, i: usize) -> Result<&mut ServerPair<M>, QueueError> {
        self.pairs.get_mut(i).ok_or(QueueError::NoSuchPair(i))
    }

    /// All pairs.
    pub fn pairs_mut(&mut self) -> &mut [ServerPair<M>] {
        &mut self.pairs
    }

    /// On a notification from the driver: if it asks to attach (a driver that
    /// started, or restarted), resets the queue set and says what was in
    /// flight; notify the driver afterwards. `None`: no request pending.
    pub fn poll_attach(&mut self) -> Result<Option<Recovery>, QueueError> {
        let asked = self.mem.word(self.layout.control(ATTACH))?.load(Ordering::Acquire);
        if asked == self.epoch.wrapping_add(1) {
            return self.reset().map(Some);
        }
        // `asked == epoch`: attached. Behind: a request older than our last
        // reset, which the driver renews when it sees the new epoch.
        if (asked.wrapping_sub(self.epoch) as i64) <= 0 {
            return Ok(None);
        }
        Err(QueueError::BadAttach { value: asked })
    }

    /// The reset: only while no driver uses the rings (the driver that asked
    /// waits for the new epoch; its predecessor is dead).
    fn reset(&mut self) -> Result<Recovery, QueueError> {
        let mut recovery = Recovery::default();
        for (i, pair) in self.pairs.iter_mut().enumerate() {
            // What the old driver completed counts as completed. At most one
            // ring's worth: a dead driver cannot keep adding.
            for _ in 0..=pair.to_driver.capacity() {
                match pair.complete() {
                    Ok(Some(c)) => recovery.completed.push((i, c)),
                    Ok(None) => break,
                    Err(e @ (QueueError::Corrupt { .. } | QueueError::Memory(_))) => {
                        recovery.peer_faults.push((i, e));
                        break;
                    }
                    Err(e) => recovery.peer_faults.push((i, e)),
                }
            }
            recovery.in_flight.extend(pair.tracker.drain().into_iter().map(|request| Reclaimed { pair: i, request }));
            pair.to_driver.layout().reset(&self.mem)?;
            pair.from_driver.layout().reset(&self.mem)?;
            pair.to_driver.reset_local();
            pair.from_driver.reset_local();
        }
        self.publish()?;
        recovery.epoch = self.epoch;
        Ok(recovery)
    }
}
