//! Talks to pong three ways: a message in a shared region, a protected procedure
//! call with message registers, and notifications back and forth.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo, debug_println, get_mr, set_mr};

microkit::include_system!("ping");

/// Round trips of notifications to make after start-up.
const ROUNDS: u64 = 3;
/// Label of pong's "checksum the shared message" call.
const CHECKSUM: u64 = 1;

struct Ping {
    rounds: u64,
}

impl Handler for Ping {
    fn notified(&mut self, ch: Channel) {
        if ch != channel::PONG {
            return;
        }
        self.rounds += 1;
        debug_println!("ping: notification round trip {}", self.rounds);
        if self.rounds < ROUNDS {
            channel::PONG.notify();
        }
    }
}

fn init() -> Ping {
    let shared = region::ping_pong();
    let message = b"hello from ping";
    if shared.write_bytes(0, message).is_err() {
        debug_println!("ping: shared region too small");
    }
    set_mr(0, message.len() as u64);
    let reply = channel::PONG.pp_call(MessageInfo::new(CHECKSUM, 1));
    let expected: u64 = message.iter().map(|&b| b as u64).sum();
    debug_println!(
        "ping: pong answered label {} checksum {} ({})",
        reply.label(),
        get_mr(0),
        if get_mr(0) == expected { "correct" } else { "WRONG" }
    );
    channel::PONG.notify();
    Ping { rounds: 0 }
}

microkit::protection_domain!(init);
