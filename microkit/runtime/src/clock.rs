//! A monotonic clock for measurements (benchmarks, latencies).
//!
//! On seL4 it is the ARM generic timer's **physical** counter, `CNTPCT_EL0`: the
//! Microkit SDK's `qemu_virt_aarch64` kernel exports it to user level
//! (`KernelArmExportPCNTUser`; `CNTKCTL_EL1.EL0PCTEN`, and `CNTHCTL_EL2.EL1PCTEN` as
//! the kernel runs at EL2). It does not export the virtual counter (`CNTVCT_EL0`:
//! reading it faults) nor the PMU (`PMCCNTR_EL0`: `KernelArmExportPMUUser` is off),
//! as checked on QEMU 7.2 with seL4 16.0.0. On QEMU `virt` the counter runs at
//! 62.5 MHz ([`frequency`]) and follows the host's clock: under TCG emulation its
//! figures measure the emulator, not an aarch64 core.

/// A monotonic timestamp in [`UNIT`]s: nanoseconds on the host kernel, ticks of
/// [`COUNTER`] on seL4.
pub fn now() -> u64 {
    imp::now()
}

/// [`UNIT`]s per second.
pub fn frequency() -> u64 {
    imp::frequency()
}

/// Converts a difference of [`now`] values to nanoseconds.
pub fn to_nanos(ticks: u64) -> u64 {
    ticks_to_nanos(ticks, frequency())
}

/// `ticks` of a counter running at `hz`, in nanoseconds (saturating; 0 if `hz` is 0).
pub const fn ticks_to_nanos(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    let ns = ticks as u128 * 1_000_000_000 / hz as u128;
    if ns > u64::MAX as u128 { u64::MAX } else { ns as u64 }
}

/// What [`now`] counts.
#[cfg(not(target_os = "none"))]
pub const UNIT: &str = "ns";
/// What [`now`] counts.
#[cfg(target_os = "none")]
pub const UNIT: &str = "ticks";

/// Where [`now`] comes from.
#[cfg(not(target_os = "none"))]
pub const COUNTER: &str = "CLOCK_MONOTONIC";
/// Where [`now`] comes from.
#[cfg(target_os = "none")]
pub const COUNTER: &str = "CNTPCT_EL0";

#[cfg(not(target_os = "none"))]
mod imp {
    pub fn now() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    pub fn frequency() -> u64 {
        1_000_000_000
    }
}

#[cfg(target_os = "none")]
mod imp {
    pub fn now() -> u64 {
        let ticks: u64;
        // SAFETY: reading the physical counter has no side effects; the SDK's
        // kernel exports it to user level (KernelArmExportPCNTUser). The `isb`
        // keeps the read from being hoisted above earlier instructions.
        unsafe { core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) ticks, options(nomem, nostack)) };
        ticks
    }

    pub fn frequency() -> u64 {
        let hz: u64;
        // SAFETY: CNTFRQ_EL0 is readable at EL0 whenever a counter is exported.
        unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
        hz
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_at_the_qemu_frequency() {
        assert_eq!(ticks_to_nanos(625, 62_500_000), 10_000);
        assert_eq!(ticks_to_nanos(1, 62_500_000), 16);
        assert_eq!(ticks_to_nanos(5, 0), 0);
        assert_eq!(ticks_to_nanos(u64::MAX, 1), u64::MAX);
        assert_eq!(to_nanos(1234), 1234);
    }

    #[test]
    fn the_host_clock_moves_forward() {
        let a = now();
        let b = now();
        assert!(b >= a);
    }
}
