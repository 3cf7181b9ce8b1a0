//! Parent of the probes: prints every fault it receives, restarts only `fresh`.
#![forbid(unsafe_code)]

use microkit::{debug_println, Child, Fault, FaultAction, Handler};

microkit::include_system!("supervisor");

struct Supervisor;

fn name(c: Child) -> &'static str {
    match c {
        child::WRITE_OUTSIDE_MAPS => "write_outside_maps",
        child::WRITE_READ_ONLY_MAP => "write_read_only_map",
        child::OPEN_FILE => "open_file",
        child::OPEN_SOCKET => "open_socket",
        child::FRESH => "fresh",
        _ => "?",
    }
}

impl Handler for Supervisor {
    fn fault(&mut self, c: Child, fault: Fault) -> FaultAction {
        debug_println!("supervisor: {} faulted: {fault}", name(c));
        if c == child::FRESH {
            c.restart();
        }
        FaultAction::Leave
    }
}

fn init() -> Supervisor {
    Supervisor
}

microkit::protection_domain!(init);
