//! Counts notifications and calls per channel; label 1 echoes MR 0 and reports
//! the counts, label 2 is a slow call (300 ms).
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo, clock, debug_println, get_mr, set_mr};

microkit::include_system!("forge_server");

struct Server {
    notified: [u64; 3],
    calls: [u64; 3],
}

impl Handler for Server {
    fn notified(&mut self, ch: Channel) {
        if let Some(n) = self.notified.get_mut(ch.index() as usize) {
            *n += 1;
        }
    }

    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> MessageInfo {
        if let Some(n) = self.calls.get_mut(ch.index() as usize) {
            *n += 1;
        }
        if ch != channel::FORGE_CALLER && ch != channel::DOOMED_CALLER {
            debug_println!("forge_server: call on channel {}, which may not call", ch.index());
        }
        match msg.label() {
            1 => {
                let echo = get_mr(0);
                set_mr(0, echo);
                set_mr(1, self.notified[channel::FORGE_CALLER.index() as usize]);
                set_mr(2, self.notified[channel::FORGER.index() as usize]);
                set_mr(3, self.calls[channel::FORGER.index() as usize]);
                MessageInfo::new(5, 4)
            }
            2 => {
                debug_println!("forge_server: slow call taken");
                let start = clock::now();
                while clock::now() - start < 300_000_000 {
                    std::hint::spin_loop();
                }
                debug_println!("forge_server: slow call answered");
                MessageInfo::new(5, 0)
            }
            _ => MessageInfo::new(MessageInfo::UNHANDLED, 0),
        }
    }
}

fn init() -> Server {
    Server { notified: [0; 3], calls: [0; 3] }
}

microkit::protection_domain!(init);
