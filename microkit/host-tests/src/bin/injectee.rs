//! Tells its parent (the supervisor) that it is up, on every boot; the supervisor
//! injects faults into it with `Child::inject`.
#![forbid(unsafe_code)]

use microkit::Handler;

microkit::include_system!("injectee");

struct Injectee;
impl Handler for Injectee {}

fn init() -> Injectee {
    channel::SUPERVISOR.notify();
    Injectee
}

microkit::protection_domain!(init);
