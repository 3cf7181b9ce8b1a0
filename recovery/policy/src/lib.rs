//! A recovery policy: what the reincarnation server (RS) does when one of its
//! children fails. One file per restartable component in `policies/`, read at
//! build time (feature `load`) and compiled into RS as plain data.
#![cfg_attr(not(feature = "load"), no_std)]
#![forbid(unsafe_code)]

#[cfg(feature = "load")]
pub mod load;
#[cfg(feature = "load")]
pub mod tables;

/// The most restarts a budget may allow within one window (RS keeps one
/// timestamp per allowed restart).
pub const MAX_BUDGET: u32 = 64;

/// What to do when a component fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Print the failure on the debug console.
    pub log: bool,
    /// Publish the fault in DS (`component.<name>.last_fault`).
    pub record: bool,
    /// Restart the component or stop it for good: exactly one of the two.
    pub on_failure: OnFailure,
    /// Notify the dependants that have a service channel to RS.
    pub inform: bool,
}

/// What becomes of a failed component (policy actions `"restart"` or `"stop"`;
/// a policy file names exactly one of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Restart the component (within budget, after backoff).
    #[default]
    Restart,
    /// Stop the component and publish it `down` (instead of restarting).
    Stop,
}

/// What happens when the restart budget is spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenBudgetSpent {
    /// Stop the component and publish it `down`; no more restarts.
    Stop,
    /// Restart the component together with its dependants once, with a fresh
    /// budget (Erlang's one-for-all); spent again, the component goes `down`.
    Escalate,
}

/// A component's recovery policy. Times are in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Restarts allowed within [`Policy::window_ns`].
    pub budget: u32,
    pub window_ns: u64,
    /// Backoff before the k-th restart in a row (k ≥ 1; the first is
    /// immediate): `min(backoff_first_ns · 2^(k-1), backoff_max_ns)`.
    pub backoff_first_ns: u64,
    pub backoff_max_ns: u64,
    /// A failure this long after the last restart (the component ran that long
    /// without failing) starts the backoff over, as a quiet window does: a
    /// component that keeps failing at start is backed off, one that fails now
    /// and then is restarted at once every time. Default: the window.
    pub stable_ns: u64,
    /// Heartbeat period; 0 = no heartbeats (faults and complaints only).
    pub heartbeat_period_ns: u64,
    /// Heartbeats missed in a row before the component counts as hung.
    pub heartbeat_misses: u32,
    pub actions: Actions,
    pub when_budget_spent: WhenBudgetSpent,
}

impl Policy {
    /// The backoff before the `k`-th consecutive restart (0-based: the first
    /// restart after a quiet period is immediate).
    pub fn backoff_ns(&self, k: u32) -> u64 {
        if k == 0 {
            return 0;
        }
        let factor = 1u64.checked_shl(k - 1).unwrap_or(u64::MAX);
        self.backoff_first_ns.saturating_mul(factor).min(self.backoff_max_ns)
    }

    /// How long a hung component goes unnoticed at most: heartbeat period times
    /// allowed misses.
    pub fn hang_timeout_ns(&self) -> u64 {
        self.heartbeat_period_ns.saturating_mul(self.heartbeat_misses as u64)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn policy() -> Policy {
        Policy {
            budget: 3,
            window_ns: 1_000,
            backoff_first_ns: 10,
            backoff_max_ns: 50,
            stable_ns: 1_000,
            heartbeat_period_ns: 100,
            heartbeat_misses: 3,
            actions: Actions::default(),
            when_budget_spent: WhenBudgetSpent::Stop,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let got: Vec<u64> = (0..6).map(|k| p.backoff_ns(k)).collect();
        assert_eq!(got, [0, 10, 20, 40, 50, 50]);
        assert_eq!(p.backoff_ns(200), 50, "no overflow for long streaks");
    }

    #[test]
    fn hang_timeout() {
        assert_eq!(policy().hang_timeout_ns(), 300);
    }
}
