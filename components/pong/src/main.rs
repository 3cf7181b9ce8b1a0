//! Serves ping: checksums the message ping left in the shared region (which pong
//! maps read-only) and answers ping's notifications.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo, get_mr, set_mr};

microkit::include_system!("pong");

const CHECKSUM: u64 = 1;
/// Reply label for a bad request.
const BAD_REQUEST: u64 = 2;

struct Pong;

impl Handler for Pong {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::PING {
            channel::PING.notify();
        }
    }

    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> MessageInfo {
        if ch != channel::PING || msg.label() != CHECKSUM || msg.count() != 1 {
            return MessageInfo::new(BAD_REQUEST, 0);
        }
        // The length comes from a peer: bounded by the region, checked below.
        let len = get_mr(0) as usize;
        let mut buf = [0u8; 256];
        let Some(dst) = buf.get_mut(..len) else {
            return MessageInfo::new(BAD_REQUEST, 0);
        };
        if region::ping_pong().read_bytes(0, dst).is_err() {
            return MessageInfo::new(BAD_REQUEST, 0);
        }
        set_mr(0, dst.iter().map(|&b| b as u64).sum());
        MessageInfo::new(0, 1)
    }
}

fn init() -> Pong {
    Pong
}

microkit::protection_domain!(init);
