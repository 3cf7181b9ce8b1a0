//! Once the forger scribbles: notifies forge_server and calls it 200 times,
//! checking every reply; then calls the forger (which must answer for real),
//! then crash_callee twice (PEER_FAULTED: it dies mid-call, then it is gone).
#![forbid(unsafe_code)]

use microkit::{Handler, MessageInfo, debug_println, get_mr, set_mr};

microkit::include_system!("forge_caller");

const CALLS: u64 = 200;

struct Caller;
impl Handler for Caller {}

fn init() -> Caller {
    while region::forge_flag().read_u64(0) != Ok(1) {
        std::hint::spin_loop();
    }
    let (mut forged, mut wrong) = (0, 0);
    for i in 0..CALLS {
        channel::FORGE_SERVER.notify();
        set_mr(0, 1000 + i);
        let reply = channel::FORGE_SERVER.pp_call(MessageInfo::new(1, 1));
        if reply.label() != 5 || reply.count() != 4 {
            forged += 1;
        } else if get_mr(0) != 1000 + i || get_mr(1) != i + 1 {
            wrong += 1;
        }
    }
    debug_println!(
        "forge_caller: {CALLS} calls: {forged} forged replies, {wrong} wrong; server saw {} notifications from me, {} from the forger, {} calls from the forger",
        get_mr(1),
        get_mr(2),
        get_mr(3)
    );
    let reply = channel::FORGER.pp_call(MessageInfo::new(1, 0));
    debug_println!("forge_caller: forger answered label {}", reply.label());
    let first = channel::CRASH_CALLEE.pp_call(MessageInfo::new(1, 0));
    let second = channel::CRASH_CALLEE.pp_call(MessageInfo::new(1, 0));
    debug_println!("forge_caller: crash_callee answered label {} then {}", first.label(), second.label());
    Caller
}

microkit::protection_domain!(init);
