//! The reincarnation server's decisions, as a pure state machine: events in
//! (a fault, a missed heartbeat, a complaint, a ready signal, the time), actions
//! out (stop, restart, ping, publish, inform, log). RS carries the actions out;
//! nothing here touches the kernel, so every rule is tested on the host.
//!
//! A component's life: `Starting` (restarted, `init` running) → `Up` (its
//! runtime said ready) → on a failure `Restarting` (backoff) → `Starting` …;
//! `Down` when its budget is spent (or its policy says stop). It is never
//! trusted: a component that never finishes `init`, floods, or fails in a tight
//! loop only ever costs RS a bounded amount of work per event.
#![no_std]
#![forbid(unsafe_code)]

use microkit::{Fault, KernelError};
use recovery_policy::{MAX_BUDGET, Policy, WhenBudgetSpent};

/// A component's state, as RS publishes it (`Stopped` is not used: RS stops a
/// component only to restart it, or for good as `Down`).
pub use microkit::status::ComponentState as State;

/// What RS publishes about a component at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub state: State,
    pub generation: u64,
    pub restarts: u64,
}

/// Why a component is being recovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The kernel reported a fault (crash, VM fault, panic, exit, cap fault).
    Fault(Fault),
    /// It missed the policy's number of heartbeats in a row, or never finished
    /// `init` within that time.
    Hang,
    /// A server that depends on it reported it misbehaving.
    Complaint,
    /// The kernel refused RS's restart of it: it did not come back, which counts
    /// as a failure like any other (backoff and budget decide what follows).
    RestartFailed(KernelError),
}

impl Failure {
    /// The failure as a fault record: the kernel's fault, or a fault of kind
    /// `Hang` or `Complaint`.
    pub fn as_fault(self) -> Fault {
        match self {
            Failure::Fault(f) => f,
            Failure::Hang => Fault::new(microkit::FaultKind::Hang),
            Failure::Complaint => Fault::new(microkit::FaultKind::Complaint),
            Failure::RestartFailed(e) => Fault::restart_failed(e),
        }
    }
}

/// The last failure, with when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureRecord {
    pub failure: Failure,
    pub at_ns: u64,
}

/// What RS must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Print the failure (policy action `log`).
    Log(usize, Failure),
    /// Stop the component (a hung one before its restart, or for good).
    Stop(usize),
    /// Start a fresh copy of the component.
    Restart(usize),
    /// Send a heartbeat ping.
    Ping(usize),
    /// Publish the component's state, generation and restart count as they
    /// were when the action was decided.
    Publish(usize, Snapshot),
    /// Publish the component's last fault (policy action `record`).
    Record(usize),
    /// Notify the component's dependants (policy action `inform`).
    Inform(usize),
    /// The budget is spent and the policy escalates: restart the dependants
    /// of the component too (RS knows them from `system.xml`).
    Escalate(usize),
}

/// One supervised component.
#[derive(Clone, Copy, Debug)]
pub struct Component {
    pub policy: Policy,
    pub state: State,
    pub generation: u64,
    pub restarts: u64,
    pub last_failure: Option<FailureRecord>,
    /// When it entered its current state.
    pub since_ns: u64,
    /// Restarts in a row without a quiet window in between (drives backoff).
    streak: u32,
    /// Times of recent restarts (a ring of `policy.budget` entries).
    recent: [u64; MAX_BUDGET as usize],
    recent_len: usize,
    recent_next: usize,
    /// When a backoff ends.
    restart_at: Option<u64>,
    /// When the next heartbeat ping is due.
    next_ping: u64,
    /// When it last said it was alive (ready or a heartbeat answer).
    last_alive: u64,
    escalated: bool,
}

impl Component {
    fn new(policy: Policy, now: u64) -> Self {
        Component {
            policy,
            state: State::Starting,
            generation: 0,
            restarts: 0,
            last_failure: None,
            since_ns: now,
            streak: 0,
            recent: [0; MAX_BUDGET as usize],
            recent_len: 0,
            recent_next: 0,
            restart_at: None,
            next_ping: now,
            last_alive: now,
            escalated: false,
        }
    }

    /// Its state, generation and restart count now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { state: self.state, generation: self.generation, restarts: self.restarts }
    }

    fn budget(&self) -> usize {
        (self.policy.budget as usize).clamp(1, MAX_BUDGET as usize)
    }

    /// Restarts within the window that ends at `now`.
    fn restarts_in_window(&self, now: u64) -> usize {
        let from = now.saturating_sub(self.policy.window_ns);
        self.recent[..self.recent_len].iter().filter(|&&t| t > from || from == 0).count()
    }

    fn note_restart(&mut self, now: u64) {
        let budget = self.budget();
        self.recent[self.recent_next % budget] = now;
        self.recent_next = (self.recent_next + 1) % budget;
        self.recent_len = (self.recent_len + 1).min(budget);
    }

    fn forget_restarts(&mut self) {
        self.recent_len = 0;
        self.recent_next = 0;
    }
}

/// All components RS supervises, indexed like `child::ALL`.
pub struct Engine<const N: usize> {
    pub components: [Component; N],
}

impl<const N: usize> Engine<N> {
    /// Components that are all starting at `now` (the system just booted).
    pub fn new(policies: [Policy; N], now: u64) -> Self {
        Engine { components: policies.map(|p| Component::new(p, now)) }
    }

    /// The component's runtime said it is ready, or answered a heartbeat.
    pub fn on_alive(&mut self, i: usize, now: u64, out: &mut impl FnMut(Action)) {
        let Some(c) = self.components.get_mut(i) else {
            return;
        };
        c.last_alive = now;
        if c.state == State::Starting {
            c.state = State::Up;
            c.since_ns = now;
            c.next_ping = now.saturating_add(c.policy.heartbeat_period_ns);
            out(Action::Publish(i, c.snapshot()));
        }
    }

    /// The component failed. Stale reports (for a component that is already
    /// being restarted or is down) are ignored.
    pub fn on_failure(&mut self, i: usize, failure: Failure, now: u64, out: &mut impl FnMut(Action)) {
        let Some(c) = self.components.get_mut(i) else {
            return;
        };
        if matches!(c.state, State::Restarting | State::Down) {
            return;
        }
        let policy = c.policy;
        c.last_failure = Some(FailureRecord { failure, at_ns: now });
        if policy.actions.log {
            out(Action::Log(i, failure));
        }
        if policy.actions.record {
            out(Action::Record(i));
        }
        let running = matches!(failure, Failure::Hang | Failure::Complaint);
        if running {
            // Still running (hung or misbehaving): stop it before anything else.
            out(Action::Stop(i));
        }
        if policy.actions.inform {
            out(Action::Inform(i));
        }
        // A quiet window since the last restart ends the streak.
        let quiet = c.restarts_in_window(now) == 0;
        if quiet {
            c.streak = 0;
            c.escalated = false;
        }
        let spent = c.restarts_in_window(now) >= c.budget();
        if policy.actions.stop || spent && (policy.when_budget_spent == WhenBudgetSpent::Stop || c.escalated) {
            c.state = State::Down;
            c.since_ns = now;
            c.restart_at = None;
            if !running {
                // Faulted: make sure the remains never run again.
                out(Action::Stop(i));
            }
            out(Action::Publish(i, c.snapshot()));
            return;
        }
        if spent {
            // Escalate once: the component and its dependants start afresh.
            c.escalated = true;
            c.forget_restarts();
            c.streak = 0;
            out(Action::Escalate(i));
        }
        let delay = policy.backoff_ns(c.streak);
        if delay != 0 && !running {
            // The faulted thread waits for a fault reply that will not come:
            // stop it while it backs off (on seL4 this also retires the
            // pending reply; callers of it are answered with PEER_FAULTED).
            out(Action::Stop(i));
        }
        c.streak = c.streak.saturating_add(1);
        c.state = State::Restarting;
        c.since_ns = now;
        c.restart_at = Some(now.saturating_add(delay));
        out(Action::Publish(i, c.snapshot()));
        if delay == 0 {
            self.restart(i, now, out);
        }
    }

    fn restart(&mut self, i: usize, now: u64, out: &mut impl FnMut(Action)) {
        let Some(c) = self.components.get_mut(i) else {
            return;
        };
        c.restart_at = None;
        c.generation += 1;
        c.restarts += 1;
        c.note_restart(now);
        c.state = State::Starting;
        c.since_ns = now;
        out(Action::Restart(i));
        out(Action::Publish(i, c.snapshot()));
    }

    /// The time passed: ends backoffs, sends due pings, detects hangs.
    pub fn on_tick(&mut self, now: u64, out: &mut impl FnMut(Action)) {
        for i in 0..N {
            let c = &mut self.components[i];
            match c.state {
                State::Restarting if c.restart_at.is_some_and(|t| t <= now) => self.restart(i, now, out),
                State::Starting
                    if c.policy.heartbeat_period_ns != 0
                        && now.saturating_sub(c.since_ns) >= c.policy.hang_timeout_ns() =>
                {
                    self.on_failure(i, Failure::Hang, now, out);
                }
                State::Up if c.policy.heartbeat_period_ns != 0 => {
                    // Silent for `misses` periods although pinged every period:
                    // hung. A component that hangs is caught within
                    // period × misses (plus a tick) of its last sign of life.
                    if now.saturating_sub(c.last_alive) >= c.policy.hang_timeout_ns() {
                        self.on_failure(i, Failure::Hang, now, out);
                    } else if now >= c.next_ping {
                        c.next_ping = now.saturating_add(c.policy.heartbeat_period_ns);
                        out(Action::Ping(i));
                    }
                }
                _ => {}
            }
        }
    }

    /// Restart component `i` as part of an escalation (it did not fail itself).
    pub fn restart_for_escalation(&mut self, i: usize, now: u64, out: &mut impl FnMut(Action)) {
        let Some(c) = self.components.get(i) else {
            return;
        };
        if c.state != State::Down {
            out(Action::Stop(i));
            self.restart(i, now, out);
        }
    }

    /// When the earliest backoff ends, if any component waits in one: RS sets a
    /// timeout for it, so backoffs are as exact as the timer.
    pub fn next_restart_at(&self) -> Option<u64> {
        self.components.iter().filter(|c| c.state == State::Restarting).filter_map(|c| c.restart_at).min()
    }

    /// The shortest heartbeat period of any component: how often RS needs a
    /// tick (`None` if no component has heartbeats).
    pub fn tick_period_ns(&self) -> Option<u64> {
        self.components.iter().map(|c| c.policy.heartbeat_period_ns).filter(|&p| p != 0).min()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use microkit::FaultKind;
    use recovery_policy::Actions;
    use std::string::ToString;
    use std::vec::Vec;

    const MS: u64 = 1_000_000;

    fn policy() -> Policy {
        Policy {
            budget: 3,
            window_ns: 1000 * MS,
            backoff_first_ns: 10 * MS,
            backoff_max_ns: 40 * MS,
            heartbeat_period_ns: 100 * MS,
            heartbeat_misses: 3,
            actions: Actions { log: true, record: true, restart: true, stop: false, inform: true },
            when_budget_spent: WhenBudgetSpent::Stop,
        }
    }

    fn crash() -> Failure {
        Failure::Fault(Fault::new(FaultKind::VmFault))
    }

    struct Run<const N: usize> {
        e: Engine<N>,
        actions: Vec<Action>,
    }

    impl<const N: usize> Run<N> {
        fn new(policies: [Policy; N]) -> Self {
            let mut r = Run { e: Engine::new(policies, 0), actions: Vec::new() };
            for i in 0..N {
                r.alive(i, 0);
            }
            r.actions.clear();
            r
        }
        fn alive(&mut self, i: usize, now: u64) {
            let a = &mut self.actions;
            self.e.on_alive(i, now, &mut |x| a.push(x));
        }
        fn fail(&mut self, i: usize, f: Failure, now: u64) -> Vec<Action> {
            let mut a = Vec::new();
            self.e.on_failure(i, f, now, &mut |x| a.push(x));
            a
        }
        fn tick(&mut self, now: u64) -> Vec<Action> {
            let mut a = Vec::new();
            self.e.on_tick(now, &mut |x| a.push(x));
            a
        }
    }

    #[test]
    fn a_crash_restarts_at_once_and_publishes() {
        let mut r = Run::new([policy()]);
        let a = r.fail(0, crash(), 5 * MS);
        assert_eq!(
            a,
            [
                Action::Log(0, crash()),
                Action::Record(0),
                Action::Inform(0),
                Action::Publish(0, Snapshot { state: State::Restarting, generation: 0, restarts: 0 }),
                Action::Restart(0),
                Action::Publish(0, Snapshot { state: State::Starting, generation: 1, restarts: 1 })
            ]
        );
        let c = &r.e.components[0];
        assert_eq!((c.state, c.generation, c.restarts), (State::Starting, 1, 1));
        r.alive(0, 6 * MS);
        assert_eq!(r.e.components[0].state, State::Up);
        assert_eq!(r.actions, [Action::Publish(0, Snapshot { state: State::Up, generation: 1, restarts: 1 })]);
    }

    #[test]
    fn restarts_in_a_row_back_off_exponentially_up_to_the_cap() {
        let mut p = policy();
        p.budget = 10;
        let mut r = Run::new([p]);
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..5 {
            now += MS;
            let a = r.fail(0, crash(), now);
            match r.e.next_restart_at() {
                Some(at) => {
                    delays.push(at - now);
                    assert!(a.contains(&Action::Stop(0)), "a faulted component is stopped during its backoff: {a:?}");
                    assert!(r.tick(at - 1).is_empty(), "not before the backoff ends");
                    assert!(r.tick(at).contains(&Action::Restart(0)));
                    now = at;
                }
                None => delays.push(0),
            }
            r.alive(0, now);
        }
        assert_eq!(delays, [0, 10 * MS, 20 * MS, 40 * MS, 40 * MS]);
    }

    #[test]
    fn a_quiet_window_resets_the_backoff() {
        let mut r = Run::new([policy()]);
        r.fail(0, crash(), MS);
        r.alive(0, 2 * MS);
        r.fail(0, crash(), 3 * MS);
        assert_eq!(r.e.next_restart_at(), Some(13 * MS));
        r.tick(13 * MS);
        r.alive(0, 14 * MS);
        // More than a window later: immediate again.
        let a = r.fail(0, crash(), 2000 * MS);
        assert!(a.contains(&Action::Restart(0)), "{a:?}");
    }

    #[test]
    fn a_spent_budget_stops_the_component_for_good() {
        let mut p = policy();
        p.backoff_first_ns = 0;
        p.backoff_max_ns = 0;
        let mut r = Run::new([p]);
        for k in 1..=3 {
            assert!(r.fail(0, crash(), k * MS).contains(&Action::Restart(0)));
            r.alive(0, k * MS);
        }
        let a = r.fail(0, crash(), 4 * MS);
        assert!(!a.contains(&Action::Restart(0)), "{a:?}");
        assert!(a.contains(&Action::Stop(0)));
        assert_eq!(r.e.components[0].state, State::Down);
        assert_eq!(r.e.components[0].restarts, 3);
        // Down is final: later reports and ticks change nothing.
        assert!(r.fail(0, crash(), 5 * MS).is_empty());
        assert!(r.tick(10_000 * MS).is_empty());
    }

    #[test]
    fn escalation_restarts_dependants_once_then_down() {
        let mut p = policy();
        p.backoff_first_ns = 0;
        p.backoff_max_ns = 0;
        p.when_budget_spent = WhenBudgetSpent::Escalate;
        let mut r = Run::new([p]);
        for k in 1..=3 {
            r.fail(0, crash(), k * MS);
            r.alive(0, k * MS);
        }
        let a = r.fail(0, crash(), 4 * MS);
        assert!(a.contains(&Action::Escalate(0)) && a.contains(&Action::Restart(0)), "{a:?}");
        // The escalation's restart is the first of the fresh budget.
        for k in 5..=6 {
            assert!(r.fail(0, crash(), k * MS).contains(&Action::Restart(0)));
            r.alive(0, k * MS);
        }
        let a = r.fail(0, crash(), 7 * MS);
        assert!(!a.contains(&Action::Escalate(0)) && !a.contains(&Action::Restart(0)), "{a:?}");
        assert_eq!(r.e.components[0].state, State::Down);
    }

    #[test]
    fn a_hang_is_detected_after_period_times_misses() {
        let mut r = Run::new([policy()]);
        // Ready at 0; pings at 100 and 200 ms go unanswered; at 300 ms it has
        // been silent for period × misses.
        let mut detected = None;
        for t in (10..=600).step_by(10) {
            let a = r.tick(t * MS);
            if a.contains(&Action::Stop(0)) {
                detected = Some(t);
                assert!(a.contains(&Action::Restart(0)), "{a:?}");
                break;
            }
        }
        assert_eq!(detected, Some(300));
        assert_eq!(r.e.components[0].last_failure.unwrap().failure, Failure::Hang);
    }

    #[test]
    fn answered_heartbeats_keep_it_up() {
        let mut r = Run::new([policy()]);
        for t in (10..=5000).step_by(10) {
            let a = r.tick(t * MS);
            assert!(!a.contains(&Action::Stop(0)), "at {t} ms: {a:?}");
            if a.contains(&Action::Ping(0)) {
                r.alive(0, t * MS + 1);
            }
        }
        assert_eq!(r.e.components[0].state, State::Up);
    }

    #[test]
    fn a_component_that_never_finishes_init_counts_as_hung() {
        let mut r = Run::new([policy()]);
        r.fail(0, crash(), 0);
        assert_eq!(r.e.components[0].state, State::Starting);
        assert!(!r.tick(299 * MS).contains(&Action::Stop(0)));
        assert!(r.tick(300 * MS).contains(&Action::Stop(0)));
    }

    #[test]
    fn a_complaint_stops_and_restarts() {
        let mut r = Run::new([policy()]);
        let a = r.fail(0, Failure::Complaint, MS);
        let stop = a.iter().position(|x| *x == Action::Stop(0)).unwrap();
        let restart = a.iter().position(|x| *x == Action::Restart(0)).unwrap();
        assert!(stop < restart);
    }

    #[test]
    fn stale_reports_while_restarting_are_ignored() {
        let mut r = Run::new([policy()]);
        r.fail(0, crash(), MS);
        r.alive(0, MS);
        r.fail(0, crash(), 2 * MS); // now in backoff
        assert_eq!(r.e.components[0].state, State::Restarting);
        assert!(r.fail(0, crash(), 3 * MS).is_empty());
        assert!(r.fail(0, Failure::Hang, 3 * MS).is_empty());
        assert_eq!(r.e.components[0].restarts, 1);
    }

    #[test]
    fn stop_policy_never_restarts() {
        let mut p = policy();
        p.actions.restart = false;
        p.actions.stop = true;
        let mut r = Run::new([p]);
        let a = r.fail(0, crash(), MS);
        assert!(!a.contains(&Action::Restart(0)));
        assert_eq!(r.e.components[0].state, State::Down);
    }

    #[test]
    fn a_thousand_crashes_in_a_tight_loop_stay_bounded() {
        let mut p = policy();
        p.budget = 64;
        p.window_ns = 10 * MS;
        p.backoff_first_ns = 0;
        p.backoff_max_ns = 0;
        let mut r = Run::new([p]);
        for k in 1..=1000u64 {
            let now = k * MS;
            let a = r.fail(0, crash(), now);
            assert!(a.len() <= 8);
            assert!(a.contains(&Action::Restart(0)), "crash {k}: {a:?}");
            r.alive(0, now);
        }
        assert_eq!(r.e.components[0].restarts, 1000);
        assert_eq!(r.e.components[0].generation, 1000);
    }

    #[test]
    fn a_failed_restart_counts_against_the_budget_then_down() {
        let refused = Failure::RestartFailed(KernelError::StartFailed);
        let mut r = Run::new([policy()]);
        // The crash restarts at once; RS reports that the restart was refused.
        assert!(r.fail(0, crash(), MS).contains(&Action::Restart(0)));
        let a = r.fail(0, refused, MS);
        assert!(a.contains(&Action::Record(0)) && !a.contains(&Action::Restart(0)), "{a:?}");
        assert_eq!(r.e.components[0].state, State::Restarting);
        assert_eq!(r.e.components[0].last_failure.unwrap().failure, refused);
        // Retried after the backoff, refused again, ... until the budget is spent.
        let mut now = MS;
        while let Some(at) = r.e.next_restart_at() {
            now = at;
            assert!(r.tick(now).contains(&Action::Restart(0)));
            r.fail(0, refused, now);
        }
        let c = &r.e.components[0];
        assert_eq!((c.state, c.restarts), (State::Down, 3), "after {now} ns");
        assert_eq!(refused.as_fault().to_string(), "restart-failed start-failed");
    }

    #[test]
    fn out_of_range_components_are_ignored() {
        let mut r = Run::new([policy()]);
        assert!(r.fail(7, crash(), MS).is_empty());
        r.alive(7, MS);
    }
}
