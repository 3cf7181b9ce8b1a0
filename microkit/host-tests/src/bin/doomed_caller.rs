//! Makes a slow call to forge_server; the test kills this PD while the call is
//! being served.
#![forbid(unsafe_code)]

use microkit::{Handler, MessageInfo, debug_println};

microkit::include_system!("doomed_caller");

struct Doomed;
impl Handler for Doomed {}

fn init() -> Doomed {
    debug_println!("doomed_caller: calling slow");
    let reply = channel::FORGE_SERVER.pp_call(MessageInfo::new(2, 0));
    debug_println!("doomed_caller: answered label {}", reply.label());
    Doomed
}

microkit::protection_domain!(init);
