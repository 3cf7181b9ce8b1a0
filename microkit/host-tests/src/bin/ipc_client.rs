//! Sends a burst of notifications while the server is busy (they must coalesce),
//! then makes protected procedure calls that use many message registers.
#![forbid(unsafe_code)]

use microkit::{Handler, MessageInfo, debug_println, get_mr, set_mr};

microkit::include_system!("ipc_client");

const SIGNALS: u64 = 1000;
const COUNT_NOTIFICATIONS: u64 = 1;
const REVERSE: u64 = 2;

struct Client;
impl Handler for Client {}

fn init() -> Client {
    for _ in 0..SIGNALS {
        channel::IPC_SERVER.notify();
    }
    // Let the server leave its init (it spins until this flag is set).
    let _ = region::ipc_flag().write_u64(0, 1);
    let reply = channel::IPC_SERVER.pp_call(MessageInfo::new(COUNT_NOTIFICATIONS, 0));
    debug_println!("client: {SIGNALS} signals -> {} notified calls (label {})", get_mr(0), reply.label());

    let n = 10;
    for i in 0..n {
        set_mr(i, 100 + i as u64);
    }
    let reply = channel::IPC_SERVER.pp_call(MessageInfo::new(REVERSE, n));
    let mut got = [0u64; 10];
    for (i, slot) in got.iter_mut().enumerate() {
        *slot = get_mr(i);
    }
    debug_println!("client: reply label {} count {} mrs {:?}", reply.label(), reply.count(), got);
    Client
}

microkit::protection_domain!(init);
