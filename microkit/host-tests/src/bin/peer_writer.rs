//! Writes its peer's end page of their channel: the page is mapped read-only,
//! so this is a VM fault (a PD cannot speak for its peer's end).
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("peer_writer");

struct PeerWriter;
impl Handler for PeerWriter {}

fn init() -> PeerWriter {
    debug_println!("peer_writer: writing forge_server's end page");
    microkit::host::test_support::write_peer_page(channel::FORGE_SERVER.index());
    debug_println!("peer_writer: the write went through");
    PeerWriter
}

microkit::protection_domain!(init);
