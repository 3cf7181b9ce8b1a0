//! Panics on its first boot (the boot count lives in a region that outlives
//! restarts); on later boots tells the supervisor it is up.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::Handler;

microkit::include_system!("test_panicker");

struct Panicker;
impl Handler for Panicker {}

fn init() -> Panicker {
    let state = region::panicker_state();
    let boot = state.read_u64(0).unwrap_or(0) + 1;
    let _ = state.write_u64(0, boot);
    if boot == 1 {
        panic!("test_panicker: first boot");
    }
    channel::TEST_SUPERVISOR.notify();
    Panicker
}

microkit::protection_domain!(init);
