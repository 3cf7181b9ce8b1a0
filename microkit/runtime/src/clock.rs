//! A monotonic clock for measurements (benchmarks, latencies).

/// A monotonic timestamp in [`UNIT`]s: nanoseconds on the host kernel, ticks of
/// the ARM generic timer's virtual counter (CNTVCT_EL0) on seL4.
pub fn now() -> u64 {
    imp::now()
}

/// What [`now`] counts.
#[cfg(not(target_os = "none"))]
pub const UNIT: &str = "ns";
/// What [`now`] counts.
#[cfg(target_os = "none")]
pub const UNIT: &str = "ticks";

#[cfg(not(target_os = "none"))]
mod imp {
    pub fn now() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

#[cfg(target_os = "none")]
mod imp {
    pub fn now() -> u64 {
        let ticks: u64;
        // SAFETY: reading the virtual counter has no side effects; the SDK's
        // kernel exports it to user level (KernelArmExportPCNTUser).
        unsafe { core::arch::asm!("mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
        ticks
    }
}
