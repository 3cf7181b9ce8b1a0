//! The file system server's core: FAT32/FAT16 (`hadris-fat`) over the
//! virtio_blk driver's queues, `/dev/console` over virtio_console's, a block cache with write-back, and the clients'
//! handles and requests (`vfs-api`). `no_std` with `alloc`, no `unsafe`;
//! `cargo test` runs it on the host against the real queue code and a driver
//! that can be slow, fail and restart (`tests/`).
//!
//! # Why asynchronous
//!
//! A PD is event driven, and on seL4 it runs on one core with fixed
//! priorities: the file system must never spin waiting for the block driver
//! (above the driver's priority that starves it; below, it starves everyone
//! else), and a file system operation (look a path up, extend a chain, write
//! an entry) needs many disk reads one after the other. Two ways to suspend
//! an operation at each of them: a stackful coroutine per request around a
//! blocking FAT library (LionsOS's FAT server on libmicrokitco), or an
//! asynchronous FAT library whose operations are futures. This crate takes the
//! second: `hadris-fat` has an async driver with everything needed, the
//! futures need not be `Send`, the suspension points are exactly the block
//! device's polls, and it needs neither a stack per request nor `unsafe`
//! context switching, so the core keeps `#![forbid(unsafe_code)]` and runs
//! unchanged under `cargo test`.
//!
//! # How it runs
//!
//! - [`port::Port`] is the driver's end of the queues plus the cache: block
//!   operations are cut into chunks, submitted, and completed by the driver's
//!   notifications; a dead driver's requests are given to its fresh copy.
//! - [`port::Dev`] is the `hadris_storage::async_::BlockDevice` the file
//!   system mounts: a read returns `Pending` until its chunks came back, a
//!   write goes into the cache, a flush writes back and flushes the device.
//! - [`exec::Task`] is the executor: one boxed future, polled with a no-op
//!   waker; the shell polls after every event.
//! - [`server::Vfs`] holds the clients, their handles and their requests; one
//!   file system operation runs at a time, the others wait in order.
//! - [`device`] serves `/dev/console`, [`console::Console`] on the console
//!   driver's queues: a stream that a driver restart breaks (EIO), answered
//!   in the call.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod console;
pub mod device;
pub mod exec;
pub mod port;
pub mod server;

pub use port::{BlockError, Dev, Limits, Port, PortCounters};
pub use server::{ClientSpec, Reply, Vfs, map_kind};
