//! The smallest executor that does the job: one task at a time, polled with a
//! waker that does nothing. Nothing here sleeps or spins: a task that returns
//! `Pending` waits for the PD shell to poll it again, which it does after every
//! event (a notification from the block driver, a call, the timer). The block
//! device's futures are ready exactly when a completion they wait for has been
//! taken from the queues, so polling after each event is all a waker would do.

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

/// A task: a boxed future, not `Send` (the PD is single-threaded).
pub struct Task<T> {
    future: Pin<Box<dyn Future<Output = T>>>,
}

impl<T> Task<T> {
    pub fn new(f: impl Future<Output = T> + 'static) -> Self {
        Task { future: Box::pin(f) }
    }

    /// Polls once.
    pub fn poll(&mut self) -> Poll<T> {
        let mut cx = Context::from_waker(Waker::noop());
        self.future.as_mut().poll(&mut cx)
    }
}
