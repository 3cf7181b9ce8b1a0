//! Test PDs on the virtio drivers' queues, the client (server) end of each,
//! on `driver_queue::QueueClient`, until the real servers (network, file
//! system) replace them; the `system.xml` beside the workspace runs them:
//!
//! - `blk_client` writes a [`blk_pattern`] to a few sectors, reads them back
//!   and says whether the bytes match, then times a sequential read of the
//!   disk and random 4 KiB reads (`cargo xtask bench drivers`);
//! - `console_client` echoes each line it reads in capitals.
//!
//! The network server (`components/net`) replaced the net driver's test client.
//!
//! The library holds what the PDs and the host tests that check them
//! (`drivers/tests`) share.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod blk_pattern;
