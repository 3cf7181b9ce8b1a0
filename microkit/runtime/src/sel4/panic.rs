//! The panic handler of a PD on seL4: print, then end with the panic trap fault,
//! which the parent decodes as `FaultKind::Panic`.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    // A panic while printing the first one goes straight to the trap.
    if !PANICKING.swap(true, Ordering::Relaxed) {
        crate::debug_println!("{}: {}", super::pd_name(), info);
    }
    super::start::panic_trap()
}
