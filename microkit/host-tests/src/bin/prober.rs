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
            debug_println!("probe: injecting into a child it does not have");
            microkit::Child::new(0).inject(microkit::InjectKind::Crash);
            debug_println!("probe: the injection went through");
        }
        other => debug_println!("probe: nothing to do for {other}"),
    }
    Prober
}

microkit::protection_domain!(init);
