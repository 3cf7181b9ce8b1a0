//! The ARM generic timer: the machine's one programmable timer.
//!
//! On seL4 it is the EL1 physical timer (`CNTP_*`), which the SDK's kernel
//! exports to user level, with its interrupt on IRQ [`IRQ`]. On the host kernel
//! the same device is a model in the host kernel, keyed by the same IRQ number.
//! Only the PD that holds IRQ [`IRQ`] in `system.xml` may program it (on the host
//! kernel anything else is a capability fault), so the timer driver owns it.
//!
//! The timer fires once when the counter passes the deadline: the owner then gets
//! a notification on its IRQ channel, sets the next deadline and acknowledges
//! the IRQ.

/// The timer's interrupt: PPI 14, the EL1 physical timer, on QEMU `virt`.
pub const IRQ: u64 = 30;

/// Nanoseconds since an arbitrary, fixed point (the counter's zero).
pub fn now_ns() -> u64 {
    imp::now_ns()
}

/// Arms the timer to fire at `deadline_ns` (on the [`now_ns`] scale), replacing
/// any earlier deadline; `None` disarms it. A deadline in the past fires at once.
pub fn set_deadline(deadline_ns: Option<u64>) {
    imp::set_deadline(deadline_ns)
}

/// Converts counter ticks at `freq_hz` to nanoseconds, without overflow.
pub fn ticks_to_ns(ticks: u64, freq_hz: u64) -> u64 {
    if freq_hz == 0 {
        return 0;
    }
    let ns = ticks as u128 * 1_000_000_000 / freq_hz as u128;
    ns.min(u64::MAX as u128) as u64
}

/// Converts nanoseconds to counter ticks at `freq_hz` (rounded up, so a deadline
/// never fires early), without overflow.
pub fn ns_to_ticks(ns: u64, freq_hz: u64) -> u64 {
    let ticks = (ns as u128 * freq_hz as u128).div_ceil(1_000_000_000);
    ticks.min(u64::MAX as u128) as u64
}

#[cfg(not(target_os = "none"))]
mod imp {
    pub fn now_ns() -> u64 {
        crate::clock::now()
    }

    pub fn set_deadline(deadline_ns: Option<u64>) {
        crate::host::timer_set(deadline_ns)
    }
}

#[cfg(target_os = "none")]
mod imp {
    pub fn now_ns() -> u64 {
        let (count, freq) = crate::sel4::timer::counter();
        super::ticks_to_ns(count, freq)
    }

    pub fn set_deadline(deadline_ns: Option<u64>) {
        crate::sel4::timer::set_compare(deadline_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_at_the_qemu_frequency() {
        let f = 62_500_000;
        assert_eq!(ticks_to_ns(62_500_000, f), 1_000_000_000);
        assert_eq!(ticks_to_ns(1, f), 16);
        assert_eq!(ns_to_ticks(1_000_000_000, f), 62_500_000);
        assert_eq!(ns_to_ticks(1, f), 1, "rounds up: never early");
        assert_eq!(ns_to_ticks(16, f), 1);
        assert_eq!(ns_to_ticks(17, f), 2);
    }

    #[test]
    fn conversions_do_not_overflow() {
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(ns_to_ticks(u64::MAX, 62_500_000), u64::MAX / 16 + 1);
        assert_eq!(ticks_to_ns(5, 0), 0);
    }
}
