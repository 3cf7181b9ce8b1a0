//! Once bench_victim and bench_client are up, restarts bench_victim RESTARTS times
//! and times each restart: from the fault arriving here to the fresh copy's `init`
//! running (its first instruction reads the clock into the shared region). Then
//! tells bench_client to go.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{Channel, Child, Fault, FaultAction, Handler, InjectKind, clock, debug_println};

microkit::include_system!("bench_rs");

const RESTARTS: usize = 1000;

struct Rs {
    samples: [u64; RESTARTS],
    done: usize,
    fault_at: Option<u64>,
    victim_up: bool,
    client_up: bool,
}

impl Handler for Rs {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::BENCH_CLIENT {
            self.client_up = true;
        } else if ch != channel::BENCH_VICTIM {
            return;
        } else if !self.victim_up {
            self.victim_up = true;
        } else if let Some(fault_at) = self.fault_at.take() {
            let init_at = region::victim_stamp().read_u64(ipcbench::stamp::INIT_AT).unwrap_or(fault_at);
            self.samples[self.done] = init_at.wrapping_sub(fault_at);
            self.done += 1;
        }
        if !(self.victim_up && self.client_up) {
            return;
        }
        if self.done < RESTARTS {
            if let Err(e) = child::BENCH_VICTIM.inject(InjectKind::Crash) {
                debug_println!("bench_rs: injection refused: {e}");
            }
            return;
        }
        ipcbench::report("restart", &mut self.samples, "restarts");
        channel::BENCH_CLIENT.notify();
    }

    fn fault(&mut self, child: Child, _fault: Fault) -> FaultAction {
        self.fault_at = Some(clock::now());
        if let Err(e) = child.restart() {
            debug_println!("bench_rs: restart refused: {e}");
        }
        FaultAction::Leave
    }
}

fn init() -> Rs {
    debug_println!("bench clock: {} at {} {}/s", clock::COUNTER, clock::frequency(), clock::UNIT);
    debug_println!("bench_rs: ready");
    Rs { samples: [0; RESTARTS], done: 0, fault_at: None, victim_up: false, client_up: false }
}

microkit::protection_domain!(init);
