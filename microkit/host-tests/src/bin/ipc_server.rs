//! Counts `notified` calls; answers calls: how many notifications, or the message
//! registers reversed.
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo, get_mr, set_mr};

microkit::include_system!("ipc_server");

struct Server {
    notified: u64,
}

impl Handler for Server {
    fn notified(&mut self, _ch: Channel) {
        self.notified += 1;
    }

    fn protected(&mut self, _ch: Channel, msg: MessageInfo) -> MessageInfo {
        match msg.label() {
            1 => {
                set_mr(0, self.notified);
                MessageInfo::new(0, 1)
            }
            2 => {
                let n = msg.count();
                let words: Vec<u64> = (0..n).map(get_mr).collect();
                for (i, w) in words.iter().rev().enumerate() {
                    set_mr(i, *w);
                }
                MessageInfo::new(3, n)
            }
            _ => MessageInfo::new(MessageInfo::UNHANDLED, 0),
        }
    }
}

fn init() -> Server {
    // Busy until the client has sent all its signals.
    while region::ipc_flag().read_u64(0) != Ok(1) {
        std::hint::spin_loop();
    }
    Server { notified: 0 }
}

microkit::protection_domain!(init);
