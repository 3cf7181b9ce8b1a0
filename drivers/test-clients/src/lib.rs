//! Test PDs on the virtio drivers' queues, the client (server) end of each,
//! on `driver_queue::QueueClient`, until the real servers (network, file
//! system) replace them; the `system.xml` beside the workspace runs them:
//!
//! - `console_client` echoes each line it reads in capitals.
//!
//! The network server (`components/net`) replaced the net driver's test
//! client, the file system server (`components/vfs`) the block driver's
//! (`blk_client`, with its pattern and benchmark).
//!
//! The library holds what the PDs and the host tests that check them
//! (`drivers/tests`) share.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
