//! A PD with only a service channel to RS: every admin request is denied, and
//! garbage gets errors, never a fault of RS.
#![forbid(unsafe_code)]

use microkit::{Handler, InjectKind, debug_println};
use rs_api::RsAdmin;

microkit::include_system!("intruder");

struct Intruder;
impl Handler for Intruder {}

fn init() -> Intruder {
    let rs = RsAdmin::new(channel::RS);
    debug_println!("intruder: status: {:?}", rs.status(0).err());
    debug_println!("intruder: restart patient: {:?}", rs.restart("patient").err());
    debug_println!("intruder: inject patient: {:?}", rs.inject("patient", InjectKind::Crash).err());
    debug_println!("intruder: crash patient: {:?}", rs.crash("patient", 0).err());
    let odd = recovery_host_tests::garbage_calls(channel::RS, 0x1234_5678, 2000);
    debug_println!("intruder: garbage answered, {odd} odd replies");
    Intruder
}

microkit::protection_domain!(init);
