//! Times notification round trips (notify the server, wait for its notification)
//! and protected procedure calls, then prints median and p99.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{clock, debug_println, Channel, Handler, MessageInfo};

microkit::include_system!("bench_client");

const ROUNDS: usize = 5000;

struct Client {
    samples: [u64; ROUNDS],
    done: usize,
    sent_at: u64,
}

impl Client {
    fn report(name: &str, samples: &mut [u64]) {
        if let Some((median, p99)) = ipcbench::median_p99(samples) {
            debug_println!("bench {name}: median {median} {} p99 {p99} {} over {} rounds", clock::UNIT, clock::UNIT, samples.len());
        }
    }
}

impl Handler for Client {
    fn notified(&mut self, _ch: Channel) {
        let now = clock::now();
        self.samples[self.done] = now - self.sent_at;
        self.done += 1;
        if self.done < ROUNDS {
            self.sent_at = clock::now();
            channel::BENCH_SERVER.notify();
            return;
        }
        Self::report("notify_rtt", &mut self.samples);
        for sample in self.samples.iter_mut() {
            let start = clock::now();
            channel::BENCH_SERVER.pp_call(MessageInfo::new(0, 1));
            *sample = clock::now() - start;
        }
        Self::report("ppc_rtt", &mut self.samples);
        debug_println!("bench done");
    }
}

fn init() -> Client {
    let mut client = Client { samples: [0; ROUNDS], done: 0, sent_at: 0 };
    client.sent_at = clock::now();
    channel::BENCH_SERVER.notify();
    client
}

microkit::protection_domain!(init);
