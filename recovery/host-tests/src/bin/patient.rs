//! A quiet child of RS that counts its boots (the admin test restarts, stops,
//! starts and crashes it through RS's admin interface).
#![forbid(unsafe_code)]

use microkit::{Handler, debug_println};

microkit::include_system!("patient");

struct Quiet;
impl Handler for Quiet {}

fn init() -> Quiet {
    let boots = recovery_host_tests::count_boot(region::patient_state());
    debug_println!("patient: boot {boots}");
    Quiet
}

microkit::protection_domain!(init);
