//! The model of the ARM generic timer: one deadline, owned by the PD that holds
//! the timer's IRQ (`microkit::arch_timer::IRQ`) in `system.xml`. When the
//! monotonic clock passes the deadline the timer fires once: its owner gets a
//! notification on the IRQ's channel, as seL4 delivers the timer interrupt.

/// The armed deadline, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchTimer {
    armed: Option<Armed>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Armed {
    pd: usize,
    deadline_ns: u64,
}

impl ArchTimer {
    /// PD `pd` arms the timer (`deadline_ns` > 0) or disarms it (0).
    pub fn set(&mut self, pd: usize, deadline_ns: u64) {
        self.armed = (deadline_ns != 0).then_some(Armed { pd, deadline_ns });
    }

    /// Nanoseconds from `now_ns` until the timer fires (0 if it is due), or `None`
    /// if it is not armed.
    pub fn due_in(&self, now_ns: u64) -> Option<u64> {
        self.armed.map(|a| a.deadline_ns.saturating_sub(now_ns))
    }

    /// If the deadline has passed: disarms the timer and returns its owner.
    pub fn fire(&mut self, now_ns: u64) -> Option<usize> {
        match self.armed {
            Some(a) if a.deadline_ns <= now_ns => {
                self.armed = None;
                Some(a.pd)
            }
            _ => None,
        }
    }

    /// The owner is gone (restarted or stopped): a fresh driver starts with the
    /// timer disarmed, as its `init` resets the device.
    pub fn reset_if_owner(&mut self, pd: usize) {
        if self.armed.is_some_and(|a| a.pd == pd) {
            self.armed = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_when_due() {
        let mut t = ArchTimer::default();
        assert_eq!(t.due_in(0), None);
        t.set(3, 1000);
        assert_eq!(t.due_in(400), Some(600));
        assert_eq!(t.fire(999), None);
        assert_eq!(t.fire(1000), Some(3));
        assert_eq!(t.fire(5000), None, "one deadline, one interrupt");
        assert_eq!(t.due_in(5000), None);
    }

    #[test]
    fn a_new_deadline_replaces_the_old_and_zero_disarms() {
        let mut t = ArchTimer::default();
        t.set(1, 1000);
        t.set(1, 50);
        assert_eq!(t.due_in(0), Some(50));
        t.set(1, 0);
        assert_eq!(t.fire(u64::MAX), None);
    }

    #[test]
    fn a_past_deadline_is_due_at_once() {
        let mut t = ArchTimer::default();
        t.set(0, 10);
        assert_eq!(t.due_in(100), Some(0));
        assert_eq!(t.fire(100), Some(0));
    }

    #[test]
    fn reset_only_for_the_owner() {
        let mut t = ArchTimer::default();
        t.set(2, 10);
        t.reset_if_owner(1);
        assert_eq!(t.due_in(0), Some(10));
        t.reset_if_owner(2);
        assert_eq!(t.due_in(0), None);
    }
}
