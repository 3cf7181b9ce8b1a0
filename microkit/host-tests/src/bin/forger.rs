//! A hostile PD: for half a second it overwrites every IPC page it may write
//! (its ends of its channels to forge_caller and forge_server, its own page)
//! with forged signal counters, call slots and label-666 replies for the
//! sequence numbers 1 to 8, and rings every doorbell it can. Then it serves calls
//! honestly (label 7).
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo, clock, debug_println};

microkit::include_system!("forger");

const SCRIBBLE_NS: u64 = 500_000_000;

struct Forger;

impl Handler for Forger {
    fn protected(&mut self, _ch: Channel, _msg: MessageInfo) -> MessageInfo {
        MessageInfo::new(7, 0)
    }
}

fn init() -> Forger {
    let _ = region::forge_flag().write_u64(0, 1);
    let start = clock::now();
    let mut round = 1;
    while clock::now() - start < SCRIBBLE_NS {
        // Small sequence numbers: the ones forge_caller's calls will carry.
        microkit::host::test_support::scribble_ipc_pages(round % 8 + 1);
        round += 1;
    }
    // Its own runtime reads these pages too: wipe them (a reply sequence number
    // left equal to forge_caller's would make it think the call answered).
    microkit::host::test_support::scribble_ipc_pages(0);
    debug_println!("forger: scribbled {round} rounds");
    Forger
}

microkit::protection_domain!(init);
