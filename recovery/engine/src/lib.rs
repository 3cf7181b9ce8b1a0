//! The reincarnation server's decisions, as a pure state machine: events in
//! (a fault, a missed heartbeat, a complaint, a ready signal, the time), actions
//! out (stop, restart, ping, publish, inform, log). RS carries the actions out;
//! nothing here touches the kernel, so every rule is tested on the host.
//!
//! A component's life ([`Life`]): `Starting` (restarted, `init` running) → `Up`
//! (its runtime said ready) → on a failure `BackingOff` (published as
//! `restarting`) → `Starting` …; `Down` when its budget is spent (or its policy
//! says stop); `Stopped` when an administrator stopped it ([`Engine::admin_stop`];
//! [`Engine::admin_start`] and [`Engine::admin_restart`] bring it back). It is never trusted: a component that never finishes `init`,
//! floods, or fails in a tight loop only ever costs RS a bounded amount of work
//! per event.
#![no_std]
#![forbid(unsafe_code)]

use microkit::{Fault, KernelError};
use recovery_policy::{MAX_BUDGET, OnFailure, Policy, WhenBudgetSpent};

/// A component's state, as RS publishes it (`Stopped`: stopped by an
/// administrator over RS's admin interface).
pub use microkit::status::ComponentState as State;

/// A supervised component: its index in RS's tables (`child::ALL` order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComponentId(usize);

impl ComponentId {
    pub const fn new(index: usize) -> Self {
        ComponentId(index)
    }

    /// The index into RS's tables.
    pub const fn index(self) -> usize {
        self.0
    }
}

/// Why an administrator's request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminError {
    /// No component with that id.
    NoSuchComponent,
    /// Stop of a component that is stopped or down.
    NotRunning,
    /// Start of a component that is not stopped or down.
    AlreadyRunning,
}

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

    /// A hung or misbehaving component still runs; a faulted one waits for a
    /// fault reply.
    fn leaves_it_running(self) -> bool {
        matches!(self, Failure::Hang | Failure::Complaint)
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
    Log(ComponentId, Failure),
    /// Stop the component (a hung one before its restart, or for good).
    Stop(ComponentId),
    /// Start a fresh copy of the component.
    Restart(ComponentId),
    /// Send a heartbeat ping.
    Ping(ComponentId),
    /// Publish the component's state, generation and restart count as they
    /// were when the action was decided.
    Publish(ComponentId, Snapshot),
    /// Publish the component's last fault (policy action `record`).
    Record(ComponentId),
    /// Notify the component's dependants (policy action `inform`).
    Inform(ComponentId),
    /// The budget is spent and the policy escalates: restart the dependants
    /// of the component too (RS knows them from `system.xml`).
    Escalate(ComponentId),
}

/// Where a component is in its life, with what RS knows only in that state.
/// Times are in ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// A fresh copy runs `init`; it has until `since` + the hang timeout to
    /// say it is ready.
    Starting { since: u64 },
    /// Its runtime said ready.
    Up {
        since: u64,
        /// When it last said it was alive (ready or a heartbeat answer).
        last_alive: u64,
        /// When the next heartbeat ping is due.
        next_ping: u64,
    },
    /// Failed; restarted when the backoff ends at `restart_at`.
    BackingOff { since: u64, restart_at: u64 },
    /// Stopped for good: its budget is spent or its policy says stop.
    Down { since: u64 },
    /// Stopped by an administrator; failures and heartbeats are ignored until
    /// it is started again.
    Stopped { since: u64 },
}

impl Life {
    /// The state RS publishes.
    pub fn state(self) -> State {
        match self {
            Life::Starting { .. } => State::Starting,
            Life::Up { .. } => State::Up,
            Life::BackingOff { .. } => State::Restarting,
            Life::Down { .. } => State::Down,
            Life::Stopped { .. } => State::Stopped,
        }
    }

    /// When it entered this state.
    pub fn since_ns(self) -> u64 {
        match self {
            Life::Starting { since }
            | Life::Up { since, .. }
            | Life::BackingOff { since, .. }
            | Life::Down { since }
            | Life::Stopped { since } => since,
        }
    }
}

/// Whether the component already had its one escalation in the current run of
/// failures (a quiet window starts a new run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    /// Spent, the budget escalates if the policy says so.
    First,
    /// Escalated once; spent again, the component goes down.
    Escalated,
}

/// What the policy decides for a failed component, once the budget is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Back off, then restart it.
    Restart,
    /// Restart it with its dependants, with a fresh budget.
    Escalate,
    /// Stop it for good.
    Down,
}

/// One supervised component.
#[derive(Clone, Copy, Debug)]
pub struct Component {
    pub policy: Policy,
    pub life: Life,
    pub generation: u64,
    pub restarts: u64,
    pub last_failure: Option<FailureRecord>,
    /// Restarts in a row without a quiet window in between (drives backoff).
    streak: u32,
    round: Round,
    /// Times of recent restarts (a ring of `policy.budget` entries).
    recent: [u64; MAX_BUDGET as usize],
    recent_len: usize,
    recent_next: usize,
    /// When it was last restarted.
    last_restart: Option<u64>,
    /// When the running copy was started (boot or its last restart).
    pub started_ns: u64,
}

impl Component {
    fn new(policy: Policy, now: u64) -> Self {
        Component {
            policy,
            life: Life::Starting { since: now },
            generation: 0,
            restarts: 0,
            last_failure: None,
            streak: 0,
            round: Round::First,
            recent: [0; MAX_BUDGET as usize],
            recent_len: 0,
            recent_next: 0,
            last_restart: None,
            started_ns: now,
        }
    }

    /// The state RS publishes.
    pub fn state(&self) -> State {
        self.life.state()
    }

    /// When it entered its current state.
    pub fn since_ns(&self) -> u64 {
        self.life.since_ns()
    }

    /// Its state, generation and restart count now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { state: self.state(), generation: self.generation, restarts: self.restarts }
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
        self.last_restart = Some(now);
        let budget = self.budget();
        self.recent[self.recent_next % budget] = now;
        self.recent_next = (self.recent_next + 1) % budget;
        self.recent_len = (self.recent_len + 1).min(budget);
    }

    fn forget_restarts(&mut self) {
        self.recent_len = 0;
        self.recent_next = 0;
    }

    // The steps of a failure, in the order the policy reads.

    /// Record: remember the failure; print it (`log`) and publish it
    /// (`record`) if the policy says so.
    fn record(&mut self, id: ComponentId, failure: Failure, now: u64, out: &mut impl FnMut(Action)) {
        self.last_failure = Some(FailureRecord { failure, at_ns: now });
        if self.policy.actions.log {
            out(Action::Log(id, failure));
        }
        if self.policy.actions.record {
            out(Action::Record(id));
        }
    }

    /// Inform: notify the dependants if the policy says so.
    fn inform(&self, id: ComponentId, out: &mut impl FnMut(Action)) {
        if self.policy.actions.inform {
            out(Action::Inform(id));
        }
    }

    /// Budget check: what the policy decides, given the restarts within the
    /// window. A quiet window since the last restart ends the streak (and so
    /// the backoff) and the escalation round.
    fn check_budget(&mut self, now: u64) -> Verdict {
        if self.restarts_in_window(now) == 0 {
            self.streak = 0;
            self.round = Round::First;
        }
        // It ran long enough since its last restart: not a crash loop.
        if self.last_restart.is_some_and(|t| now.saturating_sub(t) >= self.policy.stable_ns) {
            self.streak = 0;
        }
        let spent = self.restarts_in_window(now) >= self.budget();
        match (self.policy.actions.on_failure, spent, self.policy.when_budget_spent, self.round) {
            (OnFailure::Stop, ..) => Verdict::Down,
            (OnFailure::Restart, false, ..) => Verdict::Restart,
            (OnFailure::Restart, true, WhenBudgetSpent::Stop, _) | (OnFailure::Restart, true, _, Round::Escalated) => {
                Verdict::Down
            }
            (OnFailure::Restart, true, WhenBudgetSpent::Escalate, Round::First) => Verdict::Escalate,
        }
    }

    /// Stop for good: it goes `down`.
    fn go_down(&mut self, id: ComponentId, running: bool, now: u64, out: &mut impl FnMut(Action)) {
        self.life = Life::Down { since: now };
        if !running {
            // Faulted: make sure the remains never run again.
            out(Action::Stop(id));
        }
        out(Action::Publish(id, self.snapshot()));
    }

    /// Escalate once: the component and its dependants start afresh, with a
    /// fresh budget.
    fn escalate(&mut self, id: ComponentId, out: &mut impl FnMut(Action)) {
        self.round = Round::Escalated;
        self.forget_restarts();
        self.streak = 0;
        out(Action::Escalate(id));
    }

    /// Backoff: wait before the restart, the longer the streak; returns the
    /// delay (0: restart at once).
    fn back_off(&mut self, id: ComponentId, running: bool, now: u64, out: &mut impl FnMut(Action)) -> u64 {
        let delay = self.policy.backoff_ns(self.streak);
        if delay != 0 && !running {
            // The faulted thread waits for a fault reply that will not come:
            // stop it while it backs off (on seL4 this also retires the
            // pending reply; callers of it are answered with PEER_FAULTED).
            out(Action::Stop(id));
        }
        self.streak = self.streak.saturating_add(1);
        self.life = Life::BackingOff { since: now, restart_at: now.saturating_add(delay) };
        out(Action::Publish(id, self.snapshot()));
        delay
    }

    /// Restart: a fresh copy, a new generation.
    fn restart(&mut self, id: ComponentId, now: u64, out: &mut impl FnMut(Action)) {
        self.generation += 1;
        self.restarts += 1;
        self.note_restart(now);
        self.life = Life::Starting { since: now };
        self.started_ns = now;
        out(Action::Restart(id));
        out(Action::Publish(id, self.snapshot()));
    }
}

/// All components RS supervises, indexed like `child::ALL`.
pub struct Engine<const N: usize> {
    pub components: [Component; N],
    /// Each component's scheduling priority (seL4's, from the system
    /// description; all equal unless [`Engine::with_priorities`] says).
    priorities: [u8; N],
}

impl<const N: usize> Engine<N> {
    /// Components that are all starting at `now` (the system just booted).
    pub fn new(policies: [Policy; N], now: u64) -> Self {
        Engine { components: policies.map(|p| Component::new(p, now)), priorities: [0; N] }
    }

    /// The components' scheduling priorities. On one core with fixed
    /// priorities a component that spins starves every component below it:
    /// their heartbeats go unanswered too, for want of the CPU, not because
    /// they hang. So a component is taken as hung only while no component of
    /// a higher priority is silent itself (its last sign of life a heartbeat
    /// period or more ago); meanwhile its own silence is held a period short
    /// of the verdict, so once that one is restarted (or answers) the starved
    /// ones have a period to answer, and one still silent then is taken as
    /// hung.
    pub fn with_priorities(mut self, priorities: [u8; N]) -> Self {
        self.priorities = priorities;
        self
    }

    /// The highest priority of a component silent at `now` (with heartbeats,
    /// no sign of life for a period): those below it may be starved.
    fn highest_silent(&self, now: u64) -> Option<u8> {
        self.components
            .iter()
            .zip(self.priorities)
            .filter(|(c, _)| {
                let quiet_since = match c.life {
                    Life::Up { last_alive, .. } => last_alive,
                    Life::Starting { since } => since,
                    _ => return false,
                };
                c.policy.heartbeat_period_ns != 0 && now.saturating_sub(quiet_since) >= c.policy.heartbeat_period_ns
            })
            .map(|(_, p)| p)
            .max()
    }

    /// Every component's id, in table order.
    pub fn ids() -> impl Iterator<Item = ComponentId> {
        (0..N).map(ComponentId)
    }

    /// The component `id`, if there is one.
    pub fn component(&self, id: ComponentId) -> Option<&Component> {
        self.components.get(id.0)
    }

    /// The component's runtime said it is ready, or answered a heartbeat.
    pub fn on_alive(&mut self, id: ComponentId, now: u64, out: &mut impl FnMut(Action)) {
        let Some(c) = self.components.get_mut(id.0) else {
            return;
        };
        match &mut c.life {
            Life::Starting { .. } => {
                let next_ping = now.saturating_add(c.policy.heartbeat_period_ns);
                c.life = Life::Up { since: now, last_alive: now, next_ping };
                out(Action::Publish(id, c.snapshot()));
            }
            Life::Up { last_alive, .. } => *last_alive = now,
            // A late answer from a copy that is gone.
            Life::BackingOff { .. } | Life::Down { .. } | Life::Stopped { .. } => {}
        }
    }

    /// The component failed: record → budget check → backoff → restart, stop
    /// or escalate, with the dependants informed before the restart. Stale
    /// reports (for a component that is already backing off or is down) are
    /// ignored.
    pub fn on_failure(&mut self, id: ComponentId, failure: Failure, now: u64, out: &mut impl FnMut(Action)) {
        let Some(c) = self.components.get_mut(id.0) else {
            return;
        };
        if matches!(c.life, Life::BackingOff { .. } | Life::Down { .. } | Life::Stopped { .. }) {
            return;
        }
        c.record(id, failure, now, out);
        let running = failure.leaves_it_running();
        if running {
            // Still running (hung or misbehaving): stop it before anything else.
            out(Action::Stop(id));
        }
        c.inform(id, out);
        match c.check_budget(now) {
            Verdict::Down => return c.go_down(id, running, now, out),
            Verdict::Escalate => c.escalate(id, out),
            Verdict::Restart => {}
        }
        if c.back_off(id, running, now, out) == 0 {
            c.restart(id, now, out);
        }
    }

    /// The time passed: ends backoffs, sends due pings, detects hangs.
    pub fn on_tick(&mut self, now: u64, out: &mut impl FnMut(Action)) {
        // Taken once per tick: a restart within this tick leaves those it
        // starved a period to answer all the same.
        let highest_silent = self.highest_silent(now);
        for id in Self::ids() {
            let starved = highest_silent.is_some_and(|p| p > self.priorities[id.0]);
            let c = &mut self.components[id.0];
            let heartbeats = c.policy.heartbeat_period_ns != 0;
            let hang_timeout = c.policy.hang_timeout_ns();
            // Maybe starved (see `with_priorities`): its silence is held a
            // period short of the verdict.
            let held = now.saturating_sub(hang_timeout.saturating_sub(c.policy.heartbeat_period_ns));
            match &mut c.life {
                Life::BackingOff { restart_at, .. } if *restart_at <= now => c.restart(id, now, out),
                Life::Starting { since } if heartbeats && starved => *since = (*since).max(held),
                Life::Starting { since } if heartbeats && now.saturating_sub(*since) >= hang_timeout => {
                    self.on_failure(id, Failure::Hang, now, out)
                }
                Life::Up { last_alive, next_ping, .. } if heartbeats => {
                    // Silent for `misses` periods although pinged every period:
                    // hung. A component that hangs is caught within
                    // period × misses (plus a tick) of its last sign of life,
                    // or, if one above it is silent too, a period after that
                    // one is not.
                    if starved {
                        *last_alive = (*last_alive).max(held);
                    }
                    if now.saturating_sub(*last_alive) >= hang_timeout {
                        self.on_failure(id, Failure::Hang, now, out);
                    } else if now >= *next_ping {
                        *next_ping = now.saturating_add(c.policy.heartbeat_period_ns);
                        out(Action::Ping(id));
                    }
                }
                _ => {}
            }
        }
    }

    /// Restart component `id` as part of an escalation (it did not fail itself).
    pub fn restart_for_escalation(&mut self, id: ComponentId, now: u64, out: &mut impl FnMut(Action)) {
        let Some(c) = self.components.get_mut(id.0) else {
            return;
        };
        if !matches!(c.life, Life::Down { .. }) {
            out(Action::Stop(id));
            c.restart(id, now, out);
        }
    }

    /// An administrator restarts component `id`, whatever its state: a fresh
    /// copy, a new generation (counted as a restart, not charged to its budget,
    /// which starts afresh).
    pub fn admin_restart(&mut self, id: ComponentId, now: u64, out: &mut impl FnMut(Action)) -> Result<(), AdminError> {
        let c = self.components.get_mut(id.0).ok_or(AdminError::NoSuchComponent)?;
        out(Action::Stop(id));
        c.forget_restarts();
        c.streak = 0;
        c.round = Round::First;
        c.restart(id, now, out);
        // A manual restart does not count against the budget.
        c.forget_restarts();
        Ok(())
    }

    /// An administrator stops component `id` until it is started again.
    /// [`AdminError::NotRunning`] if it is already stopped or down.
    pub fn admin_stop(&mut self, id: ComponentId, now: u64, out: &mut impl FnMut(Action)) -> Result<(), AdminError> {
        let c = self.components.get_mut(id.0).ok_or(AdminError::NoSuchComponent)?;
        if matches!(c.life, Life::Stopped { .. } | Life::Down { .. }) {
            return Err(AdminError::NotRunning);
        }
        c.life = Life::Stopped { since: now };
        out(Action::Stop(id));
        out(Action::Publish(id, c.snapshot()));
        Ok(())
    }

    /// An administrator starts component `id` that is stopped or down (MINIX's
    /// `service up`): a fresh copy, a new generation, a fresh budget.
    /// [`AdminError::AlreadyRunning`] if it is starting, up or backing off.
    pub fn admin_start(&mut self, id: ComponentId, now: u64, out: &mut impl FnMut(Action)) -> Result<(), AdminError> {
        let c = self.components.get(id.0).ok_or(AdminError::NoSuchComponent)?;
        if !matches!(c.life, Life::Stopped { .. } | Life::Down { .. }) {
            return Err(AdminError::AlreadyRunning);
        }
        self.admin_restart(id, now, out)
    }

    /// When the earliest backoff ends, if any component waits in one: RS sets a
    /// timeout for it, so backoffs are as exact as the timer.
    pub fn next_restart_at(&self) -> Option<u64> {
        self.components
            .iter()
            .filter_map(|c| match c.life {
                Life::BackingOff { restart_at, .. } => Some(restart_at),
                _ => None,
            })
            .min()
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
    const C0: ComponentId = ComponentId::new(0);

    fn policy() -> Policy {
        Policy {
            budget: 3,
            window_ns: 1000 * MS,
            backoff_first_ns: 10 * MS,
            backoff_max_ns: 40 * MS,
            stable_ns: 1000 * MS,
            heartbeat_period_ns: 100 * MS,
            heartbeat_misses: 3,
            actions: Actions { log: true, record: true, on_failure: OnFailure::Restart, inform: true },
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
            Self::with_priorities(policies, [0; N])
        }
        fn with_priorities(policies: [Policy; N], priorities: [u8; N]) -> Self {
            let mut r = Run { e: Engine::new(policies, 0).with_priorities(priorities), actions: Vec::new() };
            for i in 0..N {
                r.alive(i, 0);
            }
            r.actions.clear();
            r
        }
        fn alive(&mut self, i: usize, now: u64) {
            let a = &mut self.actions;
            self.e.on_alive(ComponentId::new(i), now, &mut |x| a.push(x));
        }
        fn fail(&mut self, i: usize, f: Failure, now: u64) -> Vec<Action> {
            let mut a = Vec::new();
            self.e.on_failure(ComponentId::new(i), f, now, &mut |x| a.push(x));
            a
        }
        fn tick(&mut self, now: u64) -> Vec<Action> {
            let mut a = Vec::new();
            self.e.on_tick(now, &mut |x| a.push(x));
            a
        }
    }

    #[test]
    fn an_administrator_stops_starts_and_restarts() {
        let mut r = Run::new([policy()]);
        let mut a = Vec::new();
        // Restart from up: a new generation, published as starting.
        r.e.admin_restart(C0, 5, &mut |x| a.push(x)).unwrap();
        assert_eq!(a[0], Action::Stop(C0));
        assert!(a.contains(&Action::Restart(C0)));
        assert_eq!(r.e.components[0].generation, 1);
        assert_eq!(r.e.components[0].started_ns, 5);
        assert_eq!(r.e.components[0].state(), State::Starting);
        r.alive(0, 6);
        // Stop: stopped, failures and heartbeats ignored, never pinged.
        a.clear();
        r.e.admin_stop(C0, 10, &mut |x| a.push(x)).unwrap();
        assert_eq!(a, [Action::Stop(C0), Action::Publish(C0, r.e.components[0].snapshot())]);
        assert_eq!(r.e.components[0].state(), State::Stopped);
        assert_eq!(r.e.admin_stop(C0, 11, &mut |_| {}), Err(AdminError::NotRunning));
        assert!(r.fail(0, crash(), 12).is_empty());
        assert!(r.tick(10_000 * MS).is_empty());
        // Start: up again with a new generation; starting twice is refused.
        a.clear();
        r.e.admin_start(C0, 20, &mut |x| a.push(x)).unwrap();
        assert!(a.contains(&Action::Restart(C0)));
        assert_eq!(r.e.components[0].generation, 2);
        assert_eq!(r.e.admin_start(C0, 21, &mut |_| {}), Err(AdminError::AlreadyRunning));
        assert_eq!(r.e.admin_stop(ComponentId::new(7), 21, &mut |_| {}), Err(AdminError::NoSuchComponent));
        // Manual restarts do not spend the budget of 3.
        for t in 0..5 {
            r.e.admin_restart(C0, 30 + t, &mut |_| {}).unwrap();
        }
        r.alive(0, 40);
        assert!(r.fail(0, crash(), 41).contains(&Action::Publish(C0, r.e.components[0].snapshot())));
        assert_ne!(r.e.components[0].state(), State::Down);
    }

    #[test]
    fn a_crash_restarts_at_once_and_publishes() {
        let mut r = Run::new([policy()]);
        let a = r.fail(0, crash(), 5 * MS);
        assert_eq!(
            a,
            [
                Action::Log(C0, crash()),
                Action::Record(C0),
                Action::Inform(C0),
                Action::Publish(C0, Snapshot { state: State::Restarting, generation: 0, restarts: 0 }),
                Action::Restart(C0),
                Action::Publish(C0, Snapshot { state: State::Starting, generation: 1, restarts: 1 })
            ]
        );
        let c = &r.e.components[0];
        assert_eq!((c.state(), c.generation, c.restarts), (State::Starting, 1, 1));
        r.alive(0, 6 * MS);
        assert_eq!(r.e.components[0].state(), State::Up);
        assert_eq!(r.actions, [Action::Publish(C0, Snapshot { state: State::Up, generation: 1, restarts: 1 })]);
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
                    assert!(a.contains(&Action::Stop(C0)), "a faulted component is stopped during its backoff: {a:?}");
                    assert!(r.tick(at - 1).is_empty(), "not before the backoff ends");
                    assert!(r.tick(at).contains(&Action::Restart(C0)));
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
        assert!(a.contains(&Action::Restart(C0)), "{a:?}");
    }

    #[test]
    fn a_failure_after_a_stable_run_is_restarted_at_once_a_crash_loop_is_backed_off() {
        let mut p = policy();
        p.stable_ns = 100 * MS;
        p.budget = 10;
        let mut r = Run::new([p]);
        r.fail(0, crash(), MS);
        r.alive(0, 2 * MS);
        // Again 1 ms after the restart: a crash loop, backed off.
        r.fail(0, crash(), 3 * MS);
        assert_eq!(r.e.next_restart_at(), Some(13 * MS));
        r.tick(13 * MS);
        r.alive(0, 14 * MS);
        // 200 ms after that restart, well inside the window: it had run stably,
        // so it is restarted at once, every time it fails like this.
        for k in 1..=3u64 {
            let a = r.fail(0, crash(), 13 * MS + k * 200 * MS);
            assert!(a.contains(&Action::Restart(C0)), "failure {k}: {a:?}");
            r.alive(0, 13 * MS + k * 200 * MS + MS);
        }
    }

    #[test]
    fn a_spent_budget_stops_the_component_for_good() {
        let mut p = policy();
        p.backoff_first_ns = 0;
        p.backoff_max_ns = 0;
        let mut r = Run::new([p]);
        for k in 1..=3 {
            assert!(r.fail(0, crash(), k * MS).contains(&Action::Restart(C0)));
            r.alive(0, k * MS);
        }
        let a = r.fail(0, crash(), 4 * MS);
        assert!(!a.contains(&Action::Restart(C0)), "{a:?}");
        assert!(a.contains(&Action::Stop(C0)));
        assert_eq!(r.e.components[0].state(), State::Down);
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
        assert!(a.contains(&Action::Escalate(C0)) && a.contains(&Action::Restart(C0)), "{a:?}");
        // The escalation's restart is the first of the fresh budget.
        for k in 5..=6 {
            assert!(r.fail(0, crash(), k * MS).contains(&Action::Restart(C0)));
            r.alive(0, k * MS);
        }
        let a = r.fail(0, crash(), 7 * MS);
        assert!(!a.contains(&Action::Escalate(C0)) && !a.contains(&Action::Restart(C0)), "{a:?}");
        assert_eq!(r.e.components[0].state(), State::Down);
    }

    #[test]
    fn a_hang_is_detected_after_period_times_misses() {
        let mut r = Run::new([policy()]);
        // Ready at 0; pings at 100 and 200 ms go unanswered; at 300 ms it has
        // been silent for period × misses.
        let mut detected = None;
        for t in (10..=600).step_by(10) {
            let a = r.tick(t * MS);
            if a.contains(&Action::Stop(C0)) {
                detected = Some(t);
                assert!(a.contains(&Action::Restart(C0)), "{a:?}");
                break;
            }
        }
        assert_eq!(detected, Some(300));
        assert_eq!(r.e.components[0].last_failure.unwrap().failure, Failure::Hang);
    }

    /// A driver at a high priority spins (hangs) from 0: the application
    /// below it gets no CPU and answers nothing either. Only the driver is
    /// taken as hung; the application, answering once the driver is
    /// restarted, stays up.
    #[test]
    fn a_component_starved_by_a_hung_one_above_it_is_not_taken_as_hung() {
        let (mut driver, app) = (policy(), policy());
        driver.heartbeat_misses = 5; // caught after the application would be
        let mut r = Run::with_priorities([driver, app], [150, 100]);
        let mut restarted = Vec::new();
        for t in (10..=1000).step_by(10) {
            let a = r.tick(t * MS);
            restarted.extend(a.iter().filter_map(|x| match x {
                Action::Restart(c) => Some((*c, t)),
                _ => None,
            }));
            if restarted.iter().any(|(c, _)| *c == C0) && t % 50 == 0 {
                // The fresh driver runs; the application gets the CPU and answers.
                r.alive(0, t * MS);
                r.alive(1, t * MS);
            }
        }
        assert_eq!(restarted, [(C0, 500)], "only the driver, after period × its misses");
        assert_eq!(r.e.components[1].state(), State::Up);
    }

    /// Starvation delays the verdict, never hides a hang: an application that
    /// stays silent after the driver above it came back is taken as hung a
    /// period later.
    #[test]
    fn a_hung_component_below_a_hung_one_is_still_caught() {
        let mut driver = policy();
        driver.heartbeat_misses = 5;
        let mut r = Run::with_priorities([driver, policy()], [150, 100]);
        let mut app_hung_at = None;
        for t in (10..=2000).step_by(10) {
            let a = r.tick(t * MS);
            if a.contains(&Action::Restart(C0)) || (t > 500 && t % 50 == 0) {
                r.alive(0, t * MS); // the fresh driver answers from then on
            }
            if a.contains(&Action::Stop(ComponentId::new(1))) {
                app_hung_at = Some(t);
                break;
            }
        }
        let t = app_hung_at.expect("the application is caught");
        assert!((500..=700).contains(&t), "caught at {t} ms");
    }

    #[test]
    fn answered_heartbeats_keep_it_up() {
        let mut r = Run::new([policy()]);
        for t in (10..=5000).step_by(10) {
            let a = r.tick(t * MS);
            assert!(!a.contains(&Action::Stop(C0)), "at {t} ms: {a:?}");
            if a.contains(&Action::Ping(C0)) {
                r.alive(0, t * MS + 1);
            }
        }
        assert_eq!(r.e.components[0].state(), State::Up);
    }

    #[test]
    fn a_component_that_never_finishes_init_counts_as_hung() {
        let mut r = Run::new([policy()]);
        r.fail(0, crash(), 0);
        assert_eq!(r.e.components[0].state(), State::Starting);
        assert!(!r.tick(299 * MS).contains(&Action::Stop(C0)));
        assert!(r.tick(300 * MS).contains(&Action::Stop(C0)));
    }

    #[test]
    fn a_complaint_stops_and_restarts() {
        let mut r = Run::new([policy()]);
        let a = r.fail(0, Failure::Complaint, MS);
        let stop = a.iter().position(|x| *x == Action::Stop(C0)).unwrap();
        let restart = a.iter().position(|x| *x == Action::Restart(C0)).unwrap();
        assert!(stop < restart);
    }

    #[test]
    fn stale_reports_while_restarting_are_ignored() {
        let mut r = Run::new([policy()]);
        r.fail(0, crash(), MS);
        r.alive(0, MS);
        r.fail(0, crash(), 2 * MS); // now in backoff
        assert_eq!(r.e.components[0].state(), State::Restarting);
        assert!(r.fail(0, crash(), 3 * MS).is_empty());
        assert!(r.fail(0, Failure::Hang, 3 * MS).is_empty());
        assert_eq!(r.e.components[0].restarts, 1);
    }

    #[test]
    fn stop_policy_never_restarts() {
        let mut p = policy();
        p.actions.on_failure = OnFailure::Stop;
        let mut r = Run::new([p]);
        let a = r.fail(0, crash(), MS);
        assert!(!a.contains(&Action::Restart(C0)));
        assert_eq!(r.e.components[0].state(), State::Down);
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
            assert!(a.contains(&Action::Restart(C0)), "crash {k}: {a:?}");
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
        assert!(r.fail(0, crash(), MS).contains(&Action::Restart(C0)));
        let a = r.fail(0, refused, MS);
        assert!(a.contains(&Action::Record(C0)) && !a.contains(&Action::Restart(C0)), "{a:?}");
        assert_eq!(r.e.components[0].state(), State::Restarting);
        assert_eq!(r.e.components[0].last_failure.unwrap().failure, refused);
        // Retried after the backoff, refused again, ... until the budget is spent.
        let mut now = MS;
        while let Some(at) = r.e.next_restart_at() {
            now = at;
            assert!(r.tick(now).contains(&Action::Restart(C0)));
            r.fail(0, refused, now);
        }
        let c = &r.e.components[0];
        assert_eq!((c.state(), c.restarts), (State::Down, 3), "after {now} ns");
        assert_eq!(refused.as_fault().to_string(), "restart-failed start-failed");
    }

    #[test]
    fn out_of_range_components_are_ignored() {
        let mut r = Run::new([policy()]);
        assert!(r.fail(7, crash(), MS).is_empty());
        r.alive(7, MS);
    }

    #[test]
    fn a_restart_time_exists_only_while_backing_off() {
        let mut r = Run::new([policy()]);
        assert!(
            matches!(r.e.components[0].life, Life::Up { since: 0, last_alive: 0, next_ping } if next_ping == 100 * MS)
        );
        assert_eq!(r.e.next_restart_at(), None);
        r.fail(0, crash(), MS);
        r.alive(0, MS);
        r.fail(0, crash(), 2 * MS);
        assert_eq!(r.e.components[0].life, Life::BackingOff { since: 2 * MS, restart_at: 12 * MS });
        assert_eq!(r.e.next_restart_at(), Some(12 * MS));
        // A late heartbeat answer from the failed copy changes nothing.
        r.actions.clear();
        r.alive(0, 3 * MS);
        assert!(r.actions.is_empty(), "{:?}", r.actions);
        assert_eq!(r.e.components[0].life, Life::BackingOff { since: 2 * MS, restart_at: 12 * MS });
        r.tick(12 * MS);
        assert_eq!(r.e.components[0].life, Life::Starting { since: 12 * MS });
        assert_eq!(r.e.next_restart_at(), None);
    }

    #[test]
    fn a_quiet_window_after_an_escalation_allows_another() {
        let mut p = policy();
        p.backoff_first_ns = 0;
        p.backoff_max_ns = 0;
        p.when_budget_spent = WhenBudgetSpent::Escalate;
        let mut r = Run::new([p]);
        let spend = |r: &mut Run<1>, from: u64| {
            for k in from..from + 3 {
                r.fail(0, crash(), k * MS);
                r.alive(0, k * MS);
            }
            r.fail(0, crash(), (from + 3) * MS)
        };
        assert!(spend(&mut r, 1).contains(&Action::Escalate(C0)));
        r.alive(0, 4 * MS);
        // More than a window later the run of failures is over: spent again,
        // it escalates again instead of going down.
        let a = spend(&mut r, 2000);
        assert!(a.contains(&Action::Escalate(C0)) && a.contains(&Action::Restart(C0)), "{a:?}");
        assert_eq!(r.e.components[0].state(), State::Starting);
    }

    #[test]
    fn escalation_restarts_a_backing_off_dependant_at_once_and_leaves_a_down_one_down() {
        let mut down = policy();
        down.actions.on_failure = OnFailure::Stop;
        let mut r = Run::new([policy(), down]);
        r.fail(0, crash(), MS);
        r.alive(0, MS);
        r.fail(0, crash(), 2 * MS);
        r.fail(1, crash(), 2 * MS);
        assert_eq!(r.e.components[1].state(), State::Down);
        let mut a = Vec::new();
        r.e.restart_for_escalation(C0, 3 * MS, &mut |x| a.push(x));
        assert_eq!(a[..2], [Action::Stop(C0), Action::Restart(C0)]);
        assert_eq!(r.e.components[0].life, Life::Starting { since: 3 * MS });
        assert_eq!(r.e.next_restart_at(), None);
        a.clear();
        r.e.restart_for_escalation(ComponentId::new(1), 3 * MS, &mut |x| a.push(x));
        assert!(a.is_empty(), "{a:?}");
        assert_eq!(r.e.components[1].state(), State::Down);
    }
}
