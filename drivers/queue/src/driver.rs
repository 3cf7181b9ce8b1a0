//! The driver's end of a queue set: takes requests, returns completions, and
//! asks the server for a clean queue state whenever it (re)starts.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::desc::Desc;
use crate::error::{LayoutError, QueueError};
use crate::layout::{ATTACH, EPOCH, Layout, PairSpec, SHAPE};
use crate::mem::SharedMem;
use crate::ring::{Consumer, Producer};

/// The driver's end of one queue pair.
#[derive(Debug)]
pub struct DriverPair<M: SharedMem> {
    spec: PairSpec,
    requests: Consumer<M>,
    completions: Producer<M>,
}

impl<M: SharedMem> DriverPair<M> {
    /// What this pair is for.
    pub fn spec(&self) -> PairSpec {
        self.spec
    }

    /// The next request (or empty buffer, for `FromDevice`), checked against the
    /// pair's bounds: a bad one is [`QueueError::BadDescriptor`].
    pub fn next_request(&mut self) -> Result<Option<Desc>, QueueError> {
        self.requests.dequeue()
    }

    /// Completes a request: `done` is the request as taken, with `len` and
    /// `status` set. Never full while the server keeps to its limit of a ring's
    /// worth in flight; [`QueueError::Full`] means it did not.
    pub fn complete(&mut self, done: Desc) -> Result<(), QueueError> {
        self.completions.enqueue(done)
    }

    /// After completing a batch: whether to notify the server.
    pub fn should_notify(&mut self) -> bool {
        self.completions.should_notify()
    }

    /// Before waiting: asks for a notification on the next request. `true`:
    /// nothing arrived, wait; `false`: requests arrived, keep taking them.
    pub fn request_signal(&mut self) -> Result<bool, QueueError> {
        self.requests.request_signal()
    }

    /// The next request; when there is none, asks for a signal and looks once
    /// more, so a request that races with going to sleep is not lost. `None`:
    /// wait for a notification.
    pub fn next_request_or_sleep(&mut self) -> Result<Option<Desc>, QueueError> {
        loop {
            if let Some(r) = self.next_request()? {
                return Ok(Some(r));
            }
            if self.request_signal()? {
                return Ok(None);
            }
        }
    }
}

/// Where the driver is in the restart protocol, as [`Driver::poll`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Attached to the current epoch; carry on.
    Ready,
    /// Just attached to a clean queue set (epoch given): start from nothing.
    Attached { epoch: u64 },
    /// Asked to attach; the server has not answered yet. Wait.
    Waiting,
    /// Asked (again) to attach: notify the server, then wait.
    Requested,
    /// The server reset the queues under us: every request we held is gone
    /// (the server reclaimed it). Drop them, notify the server, wait.
    Reset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting { asked: u64 },
    Attached { epoch: u64 },
}

/// The driver's end of a queue set.
#[derive(Debug)]
pub struct Driver<M: SharedMem + Clone> {
    mem: M,
    layout: Layout,
    specs: Vec<PairSpec>,
    state: State,
    pairs: Vec<DriverPair<M>>,
}

impl<M: SharedMem + Clone> Driver<M> {
    /// Takes the driver's end of the queue set at `layout` in `mem` and asks the
    /// server to attach: the caller must notify the server, then call
    /// [`Driver::poll`] on each notification. The rings are not touched until
    /// the server has answered with a clean state.
    pub fn new(mem: M, layout: Layout, specs: &[PairSpec]) -> Result<Self, QueueError> {
        if specs.len() != layout.pairs() {
            return Err(LayoutError::PairCount { layout: layout.pairs(), given: specs.len() }.into());
        }
        layout.check(&mem)?;
        let mut driver =
            Driver { mem, layout, specs: specs.to_vec(), state: State::Waiting { asked: 0 }, pairs: Vec::new() };
        let epoch = driver.load(EPOCH)?;
        driver.ask(epoch)?;
        Ok(driver)
    }

    fn load(&self, at: usize) -> Result<u64, QueueError> {
        Ok(self.mem.word(self.layout.control(at))?.load(Ordering::Acquire))
    }

    /// Asks for the epoch after `seen`; stops using the rings.
    fn ask(&mut self, seen: u64) -> Result<(), QueueError> {
        self.pairs.clear();
        let asked = seen.wrapping_add(1);
        self.mem.word(self.layout.control(ATTACH))?.store(asked, Ordering::Release);
        self.state = State::Waiting { asked };
        Ok(())
    }

    /// Call first on every notification from the server (and after `new`):
    /// follows the restart protocol and says what to do.
    pub fn poll(&mut self) -> Result<Link, QueueError> {
        let epoch = self.load(EPOCH)?;
        match self.state {
            State::Attached { epoch: ours } if ours == epoch => Ok(Link::Ready),
            State::Attached { .. } => {
                self.ask(epoch)?;
                Ok(Link::Reset)
            }
            State::Waiting { asked } if asked == epoch => {
                self.attach(epoch)?;
                Ok(Link::Attached { epoch })
            }
            // The server has not reached our request yet.
            State::Waiting { asked } if asked == epoch.wrapping_add(1) => Ok(Link::Waiting),
            // The server moved on past our request (it restarted): ask again.
            State::Waiting { .. } => {
                self.ask(epoch)?;
                Ok(Link::Requested)
            }
        }
    }

    fn attach(&mut self, epoch: u64) -> Result<(), QueueError> {
        let shape = self.load(SHAPE)?;
        if shape != self.layout.shape() {
            return Err(QueueError::LayoutMismatch { found: shape, expected: self.layout.shape() });
        }
        let mut pairs = Vec::with_capacity(self.specs.len());
        for (i, spec) in self.specs.iter().enumerate() {
            let ring = |kind| self.layout.ring(i, kind).ok_or(QueueError::NoSuchPair(i));
            pairs.push(DriverPair {
                spec: *spec,
                requests: Consumer::attach(self.mem.clone(), ring(spec.to_driver())?, spec.bounds)?,
                completions: Producer::attach(self.mem.clone(), ring(spec.from_driver())?, spec.bounds)?,
            });
        }
        self.pairs = pairs;
        self.state = State::Attached { epoch };
        Ok(())
    }

    /// Gives up the current queue state and asks the server for a clean one
    /// (the next epoch), as after a reset: for a driver that found the rings
    /// unusable (the server corrupted an index). The caller notifies the
    /// server; the server reclaims every request this driver held.
    pub fn request_reset(&mut self) -> Result<(), QueueError> {
        let epoch = self.load(EPOCH)?;
        self.ask(epoch)
    }

    /// Whether attached (as of the last [`Driver::poll`]).
    pub fn is_attached(&self) -> bool {
        matches!(self.state, State::Attached { .. })
    }

    /// The epoch attached to, if any.
    pub fn epoch(&self) -> Option<u64> {
        match self.state {
            State::Attached { epoch } => Some(epoch),
            State::Waiting { .. } => None,
        }
    }

    /// Pair `i`: only while attached.
    pub fn pair(&mut self, i: usize) -> Result<&mut DriverPair<M>, QueueError> {
        if !self.is_attached() {
            return Err(QueueError::NotAttached);
        }
        self.pairs.get_mut(i).ok_or(QueueError::NoSuchPair(i))
    }

    /// All pairs (empty while not attached).
    pub fn pairs_mut(&mut self) -> &mut [DriverPair<M>] {
        &mut self.pairs
    }
}
