//! Records when its `init` starts, and tells bench_rs it is up.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{Handler, clock, debug_println};

microkit::include_system!("bench_victim");

struct Victim;
impl Handler for Victim {}

fn init() -> Victim {
    let init_at = clock::now();
    let stamp = region::victim_stamp();
    let _ = stamp.write_u64(ipcbench::stamp::INIT_AT, init_at);
    let boots = stamp.read_u64(ipcbench::stamp::BOOTS).unwrap_or(0) + 1;
    let _ = stamp.write_u64(ipcbench::stamp::BOOTS, boots);
    if boots == 1 {
        debug_println!("bench_victim: ready");
    }
    channel::BENCH_RS.notify();
    Victim
}

microkit::protection_domain!(init);
