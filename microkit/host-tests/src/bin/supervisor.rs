//! Parent of the probes: prints every fault it receives, restarts only `fresh`
//! and `injectee`. Each time `injectee` reports that it is up, the supervisor
//! injects the next of [`INJECTIONS`] into it.
#![forbid(unsafe_code)]

use microkit::{Channel, Child, Fault, FaultAction, Handler, InjectKind, debug_println};

microkit::include_system!("supervisor");

/// What the supervisor injects into `injectee`, one per boot of it.
const INJECTIONS: [InjectKind; 3] = [InjectKind::Crash, InjectKind::Panic, InjectKind::Exit];

struct Supervisor {
    injected: usize,
}

fn name(c: Child) -> &'static str {
    match c {
        child::WRITE_OUTSIDE_MAPS => "write_outside_maps",
        child::WRITE_READ_ONLY_MAP => "write_read_only_map",
        child::OPEN_FILE => "open_file",
        child::OPEN_SOCKET => "open_socket",
        child::FRESH => "fresh",
        child::INJECTEE => "injectee",
        child::INJECT_STRANGER => "inject_stranger",
        _ => "?",
    }
}

impl Handler for Supervisor {
    fn notified(&mut self, ch: Channel) {
        if ch != channel::INJECTEE {
            return;
        }
        match INJECTIONS.get(self.injected) {
            Some(&kind) => {
                debug_println!("supervisor: injecting {kind} into injectee");
                self.injected += 1;
                if let Err(e) = child::INJECTEE.inject(kind) {
                    debug_println!("supervisor: injection into injectee refused: {e}");
                }
            }
            None => debug_println!("supervisor: injectee up after {} injections", self.injected),
        }
    }

    fn fault(&mut self, c: Child, fault: Fault) -> FaultAction {
        debug_println!("supervisor: {} faulted: {fault}", name(c));
        if (c == child::FRESH || c == child::INJECTEE)
            && let Err(e) = c.restart()
        {
            debug_println!("supervisor: restart of {} refused: {e}", name(c));
        }
        FaultAction::Leave
    }
}

fn init() -> Supervisor {
    Supervisor { injected: 0 }
}

microkit::protection_domain!(init);
