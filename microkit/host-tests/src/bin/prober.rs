//! Does, in `init`, the one forbidden thing its PD name says.
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("prober");

struct Prober;
impl Handler for Prober {}

fn init() -> Prober {
    let rw = region::probe_rw();
    let ro = region::probe_ro();
    match microkit::pd_name() {
        "write_outside_maps" => {
            debug_println!("probe: writing just past the end of a map");
            microkit::host::test_support::raw_write(rw.base() as u64 + rw.size() as u64);
        }
        "write_read_only_map" => {
            debug_println!("probe: writing a read-only map");
            microkit::host::test_support::raw_write(ro.base() as u64);
        }
        "open_file" => {
            let opened = std::fs::File::open("/etc/hostname");
            debug_println!("probe: open returned {:?}", opened.map(|_| ()));
        }
        "open_socket" => {
            let bound = std::net::UdpSocket::bind("127.0.0.1:0");
            debug_println!("probe: socket returned {:?}", bound.map(|_| ()));
        }
        "inject_stranger" => {
            // It has no children and no IRQs: each operation must be refused,
            // and it must go on.
            let stranger = microkit::Child::new(0);
            let results = [
                ("inject", stranger.inject(microkit::InjectKind::Crash)),
                ("restart", stranger.restart()),
                ("stop", stranger.stop()),
                ("irq_ack", microkit::Channel::new(0).irq_ack()),
            ];
            for (what, result) in results {
                match result {
                    Ok(()) => debug_println!("probe: {what} went through"),
                    Err(e) => debug_println!("probe: {what} refused: {}", e.name()),
                }
            }
            debug_println!("probe: still running");
        }
        other => debug_println!("probe: nothing to do for {other}"),
    }
    Prober
}

microkit::protection_domain!(init);
