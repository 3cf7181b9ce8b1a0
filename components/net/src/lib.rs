//! The network server's core: a smoltcp interface over a [`Link`] (the virtio_net
//! driver's queues in the PD, a wire of memory in tests), and the table of
//! declared sockets that applications use through `net-api`.
//!
//! The core is `no_std` with `alloc` and knows nothing of the kernel: the PD shell
//! feeds it time, frames and requests, and sends the notifications it asks for.
//! A driver restart is invisible here: the shell's [`Link`] resubmits the frames the
//! dead driver held and re-posts receive buffers, and smoltcp's sockets (TCP
//! sequence numbers, windows, timers) are never touched, so connections go on.
//!
//! # Every copy of a byte
//!
//! Received (per frame, then per byte that reaches an application):
//! 1. the device writes the frame into a DMA buffer (virtio_net's receive queue);
//! 2. the driver copies it into a receive buffer in the server's region (the queue
//!    protocol's data area);
//! 3. [`QueueLink`] copies it into the server's private frame buffer before
//!    smoltcp parses it, so a driver that rewrites shared memory meanwhile cannot
//!    change what was checked;
//! 4. smoltcp copies the payload into the socket's receive buffer (per socket, so a
//!    slow reader stalls only its own socket, never the driver's buffers);
//! 5. a read copies it into the application's data region.
//!
//! Sent: the application's region → the socket's transmit buffer (copy 1); smoltcp
//! builds the frame in the link's private scratch buffer (copy 2), which is copied
//! into a transmit buffer of the shared region (copy 3: the queue's memory is
//! reached through `SharedMem`, never as a slice); the driver copies it into a DMA
//! buffer (copy 4); the device reads it.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod config;
mod link;
mod queue_link;
mod serve;
mod stack;
mod table;

pub use config::{Ipv4Config, NetConfig};
pub use link::{FRAME_MAX, Link, LinkDevice};
pub use queue_link::{LinkCounters, QueueLink};
pub use serve::{Reply, serve};
pub use stack::{NetStack, PollOutcome};
pub use table::OwnerSet;
