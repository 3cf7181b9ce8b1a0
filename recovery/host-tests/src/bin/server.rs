//! A server that depends on `driver`: on its first boot it complains about the
//! driver (RS must restart it) and about a channel that is not a driver (RS must
//! refuse), and asks the driver's state (RS restarts it at once: starting) and
//! that of the channel that is not a driver (refused too); it reports when RS
//! informs it that the driver failed, with the state RS then gives.
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, debug_println};

microkit::include_system!("server");

struct Server;

impl Handler for Server {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::RS_2 {
            match rs_api::dependency_state(channel::RS_2, channel::DRIVER) {
                Ok(state) => debug_println!("server: informed that a driver failed; it is {}", state.name()),
                Err(e) => debug_println!("server: informed that a driver failed; its state: {e}"),
            }
        }
    }
}

fn init() -> Server {
    let boots = recovery_host_tests::count_boot(region::server_state());
    if boots == 1 {
        match rs_api::complain(channel::RS_2, channel::DRIVER) {
            Ok(()) => debug_println!("server: complaint about driver: accepted"),
            Err(e) => debug_println!("server: complaint about driver: {e}"),
        }
        match rs_api::complain(channel::RS_2, channel::RS_2) {
            Ok(()) => debug_println!("server: complaint about rs: accepted"),
            Err(e) => debug_println!("server: complaint about rs: {e}"),
        }
        match rs_api::dependency_state(channel::RS_2, channel::DRIVER) {
            Ok(state) => debug_println!("server: driver after the complaint: {}", state.name()),
            Err(e) => debug_println!("server: driver after the complaint: {e}"),
        }
        match rs_api::dependency_state(channel::RS_2, channel::RS_2) {
            Ok(state) => debug_println!("server: state of rs: {}", state.name()),
            Err(e) => debug_println!("server: state of rs: {e}"),
        }
    }
    Server
}

microkit::protection_domain!(init);
