//! Once bench_rs says go: times notification round trips (notify the server, wait
//! for its notification) and protected procedure calls, then prints median and p99.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{Channel, Handler, MessageInfo, clock, debug_println};

microkit::include_system!("bench_client");

const ROUNDS: usize = 5000;

struct Client {
    samples: [u64; ROUNDS],
    done: usize,
    sent_at: u64,
}

impl Client {
    fn ppc_round_trips(&mut self) {
        for sample in self.samples.iter_mut() {
            let start = clock::now();
            channel::BENCH_SERVER.pp_call(MessageInfo::new(0, 1));
            *sample = clock::now() - start;
        }
        ipcbench::report("ppc_rtt", &mut self.samples, "rounds");
    }
}

impl Handler for Client {
    fn notified(&mut self, ch: Channel) {
        let now = clock::now();
        if ch == channel::BENCH_RS {
            // Restarts are done: go.
            self.sent_at = clock::now();
            channel::BENCH_SERVER.notify();
            return;
        }
        self.samples[self.done] = now - self.sent_at;
        self.done += 1;
        if self.done < ROUNDS {
            self.sent_at = clock::now();
            channel::BENCH_SERVER.notify();
            return;
        }
        ipcbench::report("notify_rtt", &mut self.samples, "rounds");
        self.ppc_round_trips();
        debug_println!("bench done");
    }
}

fn init() -> Client {
    debug_println!("bench_client: ready");
    channel::BENCH_RS.notify();
    Client { samples: [0; ROUNDS], done: 0, sent_at: 0 }
}

microkit::protection_domain!(init);
