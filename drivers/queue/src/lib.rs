//! Queues between a driver and its server in shared memory, after sDDF: rings
//! of buffer descriptors, a signalling protocol, and a restart protocol that
//! lets a server outlive its driver.
//!
//! This text is the specification; the code follows it.
//!
//! # Rings
//!
//! A ring ([`ring`]) is a single-producer / single-consumer queue of fixed-size
//! descriptors ([`Desc`]: buffer offset, length, request id, op, status, arg)
//! with a capacity that is a power of two. `tail` counts descriptors ever
//! enqueued and is written only by the producer; `head` counts descriptors
//! ever dequeued and is written only by the consumer. Both are free-running
//! `u64`s (they never wrap in practice; the arithmetic is wrapping anyway), so
//! `tail − head` is the fill level and slot `i mod capacity` holds descriptor `i`.
//!
//! - The producer writes the slot, then stores `tail + 1` with *release*; the
//!   consumer loads `tail` with *acquire*, then reads the slot.
//! - The consumer reads the slot, then stores `head + 1` with *release*; the
//!   producer loads `head` with *acquire* before reusing the slot.
//!
//! The peer is not trusted. Each side keeps its own index privately (its copy
//! in shared memory is only ever written) and checks every value of the peer's
//! index it reads: it must be at most `capacity` away from its own and must not
//! move backwards, else [`QueueError::Corrupt`]. A descriptor from the peer is
//! checked against the [`Bounds`] of its data region (offset + length inside,
//! optionally buffer-aligned) before anyone uses it, else
//! [`QueueError::BadDescriptor`]. Errors that only a faulty peer can cause say
//! so ([`QueueError::is_peer_fault`]): the caller reports the peer to the
//! reincarnation server instead of trusting it. Nothing here panics on
//! anything a peer wrote.
//!
//! # Pairs and directions
//!
//! As in sDDF, data flows through pairs of rings: a *free* ring and an *active*
//! ring ([`layout`]). For a pair going [`Direction::ToDevice`] (net TX, block
//! requests, console output) the server enqueues work in the active ring and
//! the driver returns it, done, in the free ring. For
//! [`Direction::FromDevice`] (net RX, console input) the server enqueues empty
//! buffers in the free ring and the driver returns them, filled, in the
//! active ring. Either way one ring carries requests to the driver and the
//! other carries completions back. The server never has more than a ring's
//! worth of requests in flight per pair, so neither ring can overflow.
//!
//! # Signalling
//!
//! Each ring has a `need_signal` word on the consumer's cache line. The
//! producer notifies the consumer (a Microkit notification) only when the
//! consumer asked for it, and the consumer sleeps only after asking and then
//! finding the ring still empty:
//!
//! ```text
//! consumer, when the ring looks empty          producer, after a batch of enqueues
//!   C1 need_signal := 1                          P1 tail := tail + n      (release)
//!   C2 full fence (SeqCst)                       P2 full fence (SeqCst)
//!   C3 read tail                                 P3 if need_signal != 0:
//!   C4 if empty: wait for a notification              need_signal := 0; notify
//!      else: need_signal := 0; keep dequeuing
//! ```
//!
//! *No lost wake-up.* C1→C3 and P1→P3 are each a store followed by a load of
//! the other side's word, with a full fence between: in any execution one of
//! the two fences comes first, so either C3 sees the producer's new tail (the
//! consumer does not sleep) or P3 sees `need_signal = 1` (the producer
//! notifies). It cannot be that the consumer sleeps on an empty ring while the
//! producer skips the notification. (An acquire/release pair is not enough: a
//! store may be reordered after a later load, which is exactly this race.)
//!
//! *No needless notification.* The producer notifies only if `need_signal` was
//! set, and clears it in doing so: one notification per request, however many
//! descriptors follow, and none to a consumer that is busy (it has not asked).
//! A consumer that asks and then finds work withdraws its request (C4); a
//! producer that read the flag just before that sends one spurious
//! notification, which costs a wake-up and an empty poll, never correctness.
//! seL4 notifications coalesce, so at most one is pending anyway.
//!
//! In code: the consumer loops `while let Some(d) = c.dequeue()? {..}` and
//! returns to the event loop only when [`ring::Consumer::request_signal`]
//! answers `true`; the producer calls [`ring::Producer::should_notify`] once
//! after a batch and notifies if it answers `true`.
//!
//! # Restart
//!
//! A queue set ([`Layout`]) starts with a control block:
//!
//! | word | written by | meaning |
//! | --- | --- | --- |
//! | `epoch` | server | generation of the clean queue state; 0: never set up |
//! | `shape` | server | layout version, pairs, capacity (sanity check) |
//! | `attach` | driver | the epoch the driver asks for, or is attached to |
//!
//! Ownership of the ring words: `tail` and the slots belong to the producer,
//! `head` to the consumer, `need_signal` is set by the consumer and cleared
//! by the producer. Only during a reset, while no driver uses the rings, does
//! the server write all of them.
//!
//! 1. A driver that starts (first boot, or a fresh copy after a crash) reads
//!    `epoch` = E, writes `attach` = E + 1 and notifies the server
//!    ([`Driver::new`]). From then on it does not touch the rings.
//! 2. The server, on a notification, finds `attach` = `epoch` + 1
//!    ([`Server::poll_attach`]). Its predecessor being dead and the new driver
//!    waiting, nobody else touches the rings. It drains the completions the old
//!    driver had published (each checked against the request it claims to
//!    complete; the bad ones are reported), then everything it submitted and
//!    did not see completed is *in flight*: requests the old driver never took,
//!    took and lost, or completed without publishing (a driver dying
//!    mid-batch). It returns them, per pair in submission order
//!    ([`Recovery`]), to be resubmitted or failed. It resets every ring to
//!    empty with `need_signal` = 1, writes `shape`, then stores `epoch` =
//!    E + 1 with release and notifies the driver.
//! 3. The driver, on the notification, sees `epoch` = its request: it checks
//!    `shape`, attaches to the clean rings and starts from nothing
//!    ([`Driver::poll`] → [`Link::Attached`]).
//!
//! The server tracks what it submitted in its own memory, so "in flight" is
//! exact whatever the driver left behind: a completion counts only if it is in
//! the completion ring, names a request in flight, and echoes that request's
//! buffer, op and argument. Only length and status come from the driver.
//!
//! Races covered: a driver that dies after asking and before the answer leaves
//! the same request to its successor (it reads the same E), which the single
//! reset answers; one that dies after attaching makes its successor read the
//! new epoch and ask for the next one, so that one is reset again. A server
//! that starts ([`Server::new`]) resets and publishes a new epoch too; a live
//! driver sees the epoch move ([`Link::Reset`]), drops what it held and asks
//! again, and the server resets once more, now with the driver quiet. A
//! driver that asked before the server started (`attach` = 1 on a zeroed
//! queue set) finds the server's first epoch equal to its request and
//! attaches to it without a reset: nothing was in flight; the client learns
//! it from `attach` = `epoch` ([`Server::driver_attached`]). A
//! request in flight may have reached the device before its driver died: a
//! resubmitted request can be carried out twice (block writes are idempotent,
//! a duplicate frame is the network's business).
//!
//! # PD shells
//!
//! [`shell`] is the event loop every PD on a queue set runs, written once: a
//! driver PD's [`DriverShell`] (attach, take each request, let the device core
//! carry it out, complete, notify) and its client's [`QueueClient`] (submit;
//! on each notification the restart protocol, then every completion, as
//! [`Event`]s; resubmit what a dead driver held). Both follow one error
//! policy, given in the module: a peer that breaks the protocol is reported
//! (a line naming the reason, and a count) and its descriptor skipped, or the
//! rings abandoned for a clean state; a device that breaks the virtio
//! contract fails the request in hand and panics, for the reincarnation
//! server to restart the driver; nothing is dropped without a report.
//!
//! # Memory
//!
//! Rings live in anything that implements [`SharedMem`]: atomic words at
//! offsets plus byte copies. [`microkit::Region`] implements it for PDs;
//! [`HeapMem`] is a heap buffer for tests and host-side users.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod desc;
pub mod driver;
pub mod error;
pub mod layout;
pub mod mem;
pub mod ring;
pub mod server;
pub mod shell;

pub use desc::{Bounds, DESC_BYTES, Desc, DescError, status};
pub use driver::{Driver, DriverPair, Link};
pub use error::{LayoutError, QueueError};
pub use layout::{CONTROL_BYTES, Direction, Layout, MAX_PAIRS, PairSpec, RingKind};
pub use mem::{HeapMem, MemError, SharedMem};
pub use ring::{Consumer, MAX_CAPACITY, Producer, RingLayout, split};
pub use server::{Completion, Reclaimed, Recovery, Server, ServerPair};
pub use shell::{
    ClientApp, ClientPd, Device, DriverPd, DriverShell, Event, Notify, PeerFaults, QueueClient, QueueSpec, Reply,
};
