//! The two ends of a queue set as a PD uses them: the event loop of a driver
//! PD ([`DriverShell`], [`DriverPd`]) and of its client, the server end
//! ([`QueueClient`], [`ClientPd`]), with one error policy for both.
//!
//! # Error policy
//!
//! Whatever the peer wrote is checked by the queue layer; the shells decide
//! what follows, the same way in every PD:
//!
//! | what went wrong | who is at fault | what the shell does |
//! | --- | --- | --- |
//! | the peer broke the queue protocol ([`QueueError::is_peer_fault`], or a completion ring it left full) | the peer | reports it (a line `<pd>: the <peer> broke the queue protocol (<reason>); <what was done>`, and [`PeerFaults`]), then skips the descriptor, or, when a ring index is impossible, stops using the rings until a clean queue state: a driver asks for one at once, a client waits for the driver's next attach |
//! | the device broke the virtio contract | the device | completes the request in hand with [`status::IO_ERROR`] (the client learns it failed), notifies, then panics: a fault for the reincarnation server, whose fresh copy of the driver resets the device |
//! | a queue error only this side can cause (a pair it does not have, memory the layout check accepted failing) | this PD | panics: a bug, a fault for the reincarnation server |
//!
//! Nothing is dropped without a report: a skipped descriptor, a lost
//! completion and a stopped pair each print their line and count in
//! [`PeerFaults`]. On a release seL4 kernel there is no debug console and
//! the line compiles away; the count stays, for a PD to publish or complain
//! about (`rs_api::complain`, for a server with a service channel to the
//! reincarnation server).
//!
//! # Use
//!
//! A driver PD is a [`Device`] (serve one request, whether there is input,
//! the interrupt) in a [`DriverPd`], which is its `microkit::Handler`: the
//! IRQ takes input in and fills the client's posted buffers; a notification
//! from the client runs the restart protocol and serves every pair.
//!
//! ```ignore
//! impl Device<Region> for Blk {
//!     type Error = virtio_drivers::Error;
//!     fn serve(&mut self, pair: usize, data: &Region, req: &Desc) -> Result<Reply, Self::Error> { .. }
//!     fn has_input(&self, _pair: usize) -> bool { false }
//!     fn interrupt(&mut self) -> Result<(), Self::Error> { .. }
//! }
//! fn init() -> DriverPd<Blk> {
//!     // Asks the client to attach (the restart protocol).
//!     let shell = DriverShell::new("virtio_blk", region::blk_queues(), region::blk_data(), &QUEUES, CLIENT)?;
//!     DriverPd::new(shell, Blk { .. }, DEVICE_IRQ, CLIENT)
//! }
//! ```
//!
//! A client on one driver is a [`ClientApp`] in a [`ClientPd`]: on each
//! notification, what a dead driver held is resubmitted, every completion
//! goes to the app, then `idle`. A server with more channels (clients of its
//! own, several drivers) drives a [`QueueClient`] from its own handler:
//!
//! ```ignore
//! let mut q = QueueClient::new("net", region::net_queues(), region::net_driver_data(), &QUEUES, DRIVER)?;
//! q.submit(RX, Desc::new(RX_BASE, BUF as u32))?; // waits in the ring until a driver attaches
//! // notified(DRIVER):
//! while let Some(event) = q.next_event() {
//!     match event {
//!         Event::Attached { epoch } => {}
//!         Event::Reclaimed(r) => { q.resubmit(r)?; } // or fail it
//!         Event::Completed { pair, completion } => { /* answer, submit more */ }
//!     }
//! }
//! ```
//!
//! [`QueueError::is_peer_fault`]: crate::QueueError::is_peer_fault
//! [`status::IO_ERROR`]: crate::status::IO_ERROR

mod client;
mod client_pd;
mod driver;
mod driver_pd;

pub use client::{Event, QueueClient};
pub use client_pd::{ClientApp, ClientPd};
pub use driver::{Device, DriverShell, Reply};
pub use driver_pd::DriverPd;

use crate::error::{LayoutError, QueueError};
use crate::layout::{Layout, PairSpec};
use crate::mem::SharedMem;

/// The other end of the channel to the peer: how a shell wakes it.
pub trait Notify {
    /// Signals the peer.
    fn notify(&self);
}

impl Notify for microkit::Channel {
    fn notify(&self) {
        microkit::Channel::notify(*self)
    }
}

impl<N: Notify + ?Sized> Notify for &N {
    fn notify(&self) {
        (**self).notify()
    }
}

/// Everything both ends agree on: the queue set's layout, its pairs, and the
/// size of the data region the buffers are in. A driver crate's `protocol`
/// module defines one (`QUEUES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Where the rings are in the queue region.
    pub layout: Layout,
    /// Each pair's direction and buffer bounds, in order.
    pub pairs: &'static [PairSpec],
    /// Bytes of the data region (both ends check the region they map).
    pub data_bytes: u64,
}

impl QueueSpec {
    /// Checks that `data` is the size the protocol says.
    fn check_data<M: SharedMem>(&self, data: &M) -> Result<(), QueueError> {
        if data.size() as u64 != self.data_bytes {
            return Err(LayoutError::DataSize { found: data.size() as u64, expected: self.data_bytes }.into());
        }
        Ok(())
    }
}

/// The peer faults a shell met and reported: how many, and the last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerFaults {
    /// Reports so far.
    pub count: u64,
    /// The last one.
    pub last: Option<QueueError>,
}

/// Reports a peer fault: one line naming this PD, the peer, the reason and
/// what the shell did about it; counted in `faults`.
fn report(faults: &mut PeerFaults, name: &str, peer: &str, error: QueueError, action: &str) {
    faults.count += 1;
    faults.last = Some(error);
    microkit::debug_println!("{name}: the {peer} broke the queue protocol ({error}); {action}");
}
