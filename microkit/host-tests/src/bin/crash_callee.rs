//! Panics in the middle of every call it serves.
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo};

microkit::include_system!("crash_callee");

struct CrashCallee;

impl Handler for CrashCallee {
    fn protected(&mut self, _ch: Channel, _msg: MessageInfo) -> MessageInfo {
        panic!("crash_callee: dying mid-call")
    }
}

fn init() -> CrashCallee {
    CrashCallee
}

microkit::protection_domain!(init);
