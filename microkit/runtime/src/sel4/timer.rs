//! The EL1 physical timer's registers (exported to EL0 by the SDK's kernel:
//! `KernelArmExportPTMRUser`, `KernelArmExportPCNTUser`).

use crate::arch_timer::ns_to_ticks;

/// The physical counter and its frequency in Hz.
pub(crate) fn counter() -> (u64, u64) {
    let (count, freq): (u64, u64);
    // SAFETY: reading CNTPCT_EL0 and CNTFRQ_EL0 has no side effects; both are
    // readable at EL0 on the SDK's kernel. The ISB orders the counter read.
    unsafe {
        core::arch::asm!(
            "isb",
            "mrs {c}, cntpct_el0",
            "mrs {f}, cntfrq_el0",
            c = out(reg) count,
            f = out(reg) freq,
            options(nomem, nostack)
        )
    };
    (count, freq)
}

/// Arms the compare register for `deadline_ns`, or disables the timer.
pub(crate) fn set_compare(deadline_ns: Option<u64>) {
    match deadline_ns {
        Some(ns) => {
            let (_, freq) = counter();
            let cval = ns_to_ticks(ns, freq);
            // SAFETY: CNTP_CVAL_EL0 / CNTP_CTL_EL0 are exported to EL0; writing
            // them programs only the timer, whose IRQ this PD holds. ENABLE=1,
            // IMASK=0.
            unsafe {
                core::arch::asm!(
                    "msr cntp_cval_el0, {v}",
                    "msr cntp_ctl_el0, {one}",
                    "isb",
                    v = in(reg) cval,
                    one = in(reg) 1u64,
                    options(nostack)
                )
            }
        }
        None => {
            // SAFETY: as above; ENABLE=0 stops the timer and its interrupt.
            unsafe { core::arch::asm!("msr cntp_ctl_el0, xzr", "isb", options(nostack)) }
        }
    }
}
