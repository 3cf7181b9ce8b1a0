//! Answers every notification with one, and every call at once.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo, debug_println};

microkit::include_system!("bench_server");

struct Server;

impl Handler for Server {
    fn notified(&mut self, _ch: Channel) {
        channel::BENCH_CLIENT.notify();
    }

    fn protected(&mut self, _ch: Channel, msg: MessageInfo) -> MessageInfo {
        msg
    }
}

fn init() -> Server {
    debug_println!("bench_server: ready");
    Server
}

microkit::protection_domain!(init);
