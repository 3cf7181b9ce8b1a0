//! The reincarnation server (RS): the parent of every restartable PD.
//!
//! It detects failures three ways — kernel faults, missed heartbeats (pinged on
//! each child's supervision channel every period, answered by the child's
//! runtime), complaints from servers — and recovers each child by its policy
//! (`policies/<child>.toml`, compiled in by build.rs): stop, fresh copy, new
//! generation, publish. The decisions are `recovery-engine`'s; this file only
//! carries them out. The PD binary is a thin shell around [`Rs`] and the
//! [`Tables`] generated for its system.
//!
//! RS never blocks on, or calls into, a less trusted PD: it calls only the timer
//! and the data store (top-level, higher priority, part of the trusted base) and
//! only notifies its children and their servers.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod status;
mod tables;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;

use ds_api::DsClient;

use microkit::reply::ApiError;
use microkit::{
    Channel, Child, Fault, FaultAction, Handler, InjectKind, KernelError, MessageInfo, arch_timer, debug_println,
    get_mr,
};
use recovery_engine::{Action, Engine, Failure, Snapshot, State};
use timer_api::TimerClient;

pub use recovery_engine::ComponentId;
pub use status::status_line;
pub use tables::{Complaint, Tables};

pub struct Rs<const N: usize> {
    tables: &'static Tables<N>,
    engine: Engine<N>,
    timer: TimerClient,
    /// The data store, where RS publishes `component.<name>.*`.
    ds: Option<DsClient>,
    /// The last publication failed (report only the first of a series).
    ds_failing: bool,
    /// Failures to inject at a time after boot (`--inject` on seL4, compiled in
    /// as `REINCARNATE_INJECT`): (component, kind, when in ns), by time.
    injections: VecDeque<(ComponentId, InjectKind, u64)>,
    /// Actions still to carry out (escalations add more).
    todo: VecDeque<Action>,
}

impl<const N: usize> Rs<N> {
    fn component_of_child(&self, child: Child) -> Option<ComponentId> {
        self.tables.children.iter().position(|c| *c == child).map(ComponentId::new)
    }

    fn component_of_heartbeat(&self, ch: Channel) -> Option<ComponentId> {
        self.tables.heartbeat.iter().position(|h| *h == Some(ch)).map(ComponentId::new)
    }

    /// Carries out queued actions, then sets the timer for the next backoff end.
    fn drain(&mut self) {
        while let Some(action) = self.todo.pop_front() {
            self.perform(action);
        }
        if let Some(at) = self.engine.next_restart_at() {
            let delay = at.saturating_sub(arch_timer::now_ns());
            if let Err(e) = self.timer.set_timeout(delay) {
                debug_println!("rs: cannot set a timeout: {e}");
            }
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Log(i, failure) => {
                debug_println!("rs: {} failed ({}); policy decides", self.tables.names[i.index()], failure.as_fault());
            }
            Action::Stop(i) => {
                if let Err(e) = self.tables.children[i.index()].stop() {
                    self.refused(i, "stop", e);
                }
            }
            Action::Restart(i) => {
                if let Err(e) = self.tables.children[i.index()].restart() {
                    // It did not come back: a failure of the component, and the
                    // policy decides (backoff, budget, down).
                    self.refused(i, "restart", e);
                    // It is not starting: drop the publication of that.
                    let starting =
                        |a: &Action| matches!(a, Action::Publish(j, s) if *j == i && s.state == State::Starting);
                    self.todo.retain(|a| !starting(a));
                    let todo = &mut self.todo;
                    let failure = Failure::RestartFailed(e);
                    self.engine.on_failure(i, failure, arch_timer::now_ns(), &mut |a| todo.push_back(a));
                } else if self.tables.heartbeat[i.index()].is_none() {
                    // No supervision channel: no ready signal will come.
                    let todo = &mut self.todo;
                    self.engine.on_alive(i, arch_timer::now_ns(), &mut |a| todo.push_back(a));
                }
            }
            Action::Ping(i) => {
                if let Some(ch) = self.tables.heartbeat[i.index()] {
                    ch.notify();
                }
            }
            Action::Publish(i, snapshot) => self.publish(i, snapshot),
            Action::Record(i) => self.record(i),
            Action::Inform(i) => {
                for ch in self.tables.inform[i.index()] {
                    ch.notify();
                }
            }
            Action::Escalate(i) => {
                let name = self.tables.names[i.index()];
                debug_println!("rs: {name} spent its restart budget; escalating to its dependants");
                let now = arch_timer::now_ns();
                for &j in self.tables.escalate[i.index()] {
                    let todo = &mut self.todo;
                    self.engine.restart_for_escalation(j, now, &mut |a| todo.push_back(a));
                }
            }
        }
    }

    /// Publishes component `i`'s state, generation and restart count: in DS
    /// (if the system has one) and as an `@status` line.
    fn publish(&mut self, i: ComponentId, snapshot: Snapshot) {
        let name = self.tables.names[i.index()];
        self.put(name, ds_api::component::STATE, snapshot.state.name().as_bytes());
        self.put(name, ds_api::component::GENERATION, format!("{}", snapshot.generation).as_bytes());
        self.put(name, ds_api::component::RESTARTS, format!("{}", snapshot.restarts).as_bytes());
        let failure = self.engine.component(i).and_then(|c| c.last_failure).map(|r| r.failure);
        debug_println!("{}", status_line(name, snapshot, failure, Some(arch_timer::now_ns())));
    }

    /// Publishes component `i`'s last failure in DS: the fault and when (ns).
    fn record(&mut self, i: ComponentId) {
        if let Some(r) = self.engine.component(i).and_then(|c| c.last_failure) {
            let text = format!("{} at {}", r.failure.as_fault(), r.at_ns);
            self.put(self.tables.names[i.index()], ds_api::component::LAST_FAULT, text.as_bytes());
        }
    }

    /// Carries out the scheduled injections that are due.
    fn inject_due(&mut self, now: u64) {
        while let Some(&(i, kind, _)) = self.injections.front().filter(|(_, _, at)| *at <= now) {
            self.injections.pop_front();
            // `at=` is when, on RS's clock (`cargo xtask bench --target qemu`).
            debug_println!("rs: injecting {kind} into {} (schedule) at={now}", self.tables.names[i.index()]);
            if let Err(e) = self.tables.children[i.index()].inject(kind) {
                self.refused(i, "inject", e);
            }
        }
    }

    /// The kernel refused RS's `operation` on component `i`: say so, and publish
    /// it in DS as `component.<name>.last_error`.
    fn refused(&mut self, i: ComponentId, operation: &str, error: KernelError) {
        let name = self.tables.names[i.index()];
        debug_println!("rs: {operation} of {name} refused by the kernel: {error}");
        let text = format!("{operation} {} at {}", error.name(), arch_timer::now_ns());
        self.put(name, ds_api::component::LAST_ERROR, text.as_bytes());
    }

    fn put(&mut self, name: &str, field: &str, value: &[u8]) {
        let Some(ds) = &self.ds else { return };
        let result = ds_api::Key::component(name, field).and_then(|key| ds.put(key.as_str(), value));
        if let Err(e) = result {
            if !self.ds_failing {
                debug_println!("rs: cannot publish {name}.{field} in DS: {e}");
            }
            self.ds_failing = true;
        } else {
            self.ds_failing = false;
        }
    }

    fn with_engine(&mut self, f: impl FnOnce(&mut Engine<N>, &mut dyn FnMut(Action))) {
        let todo = &mut self.todo;
        f(&mut self.engine, &mut |a| todo.push_back(a));
        self.drain();
    }
}

impl<const N: usize> Handler for Rs<N> {
    fn notified(&mut self, ch: Channel) {
        let now = arch_timer::now_ns();
        if ch == self.timer.channel() {
            self.inject_due(now);
            self.with_engine(|e, out| e.on_tick(now, &mut |a| out(a)));
        } else if let Some(i) = self.component_of_heartbeat(ch) {
            self.with_engine(|e, out| e.on_alive(i, now, &mut |a| out(a)));
        }
    }

    fn fault(&mut self, child: Child, fault: Fault) -> FaultAction {
        let now = arch_timer::now_ns();
        match self.component_of_child(child) {
            Some(i) => self.with_engine(|e, out| e.on_failure(i, Failure::Fault(fault), now, &mut |a| out(a))),
            None => debug_println!("rs: fault of unknown child {} ({fault})", child.index()),
        }
        FaultAction::Leave
    }

    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> MessageInfo {
        if msg.label() != rs_api::COMPLAIN || msg.count() != 1 {
            return rs_api::Error::BadRequest.reply();
        }
        let Some(&Complaint { about: i, .. }) = Complaint::find(self.tables.complaints, ch, get_mr(0)) else {
            return rs_api::Error::NotADependency.reply();
        };
        debug_println!("rs: a server complains about {}", self.tables.names[i.index()]);
        let now = arch_timer::now_ns();
        self.with_engine(|e, out| e.on_failure(i, Failure::Complaint, now, &mut |a| out(a)));
        microkit::reply::ok(0)
    }
}

impl<const N: usize> Rs<N> {
    /// RS for one system: sets up its ticks and publishes every component.
    pub fn new(tables: &'static Tables<N>) -> Self {
        let now = arch_timer::now_ns();
        let engine = Engine::new(tables.policies, now);
        let timer = TimerClient::new(tables.timer);
        let mut injections: Vec<(ComponentId, InjectKind, u64)> = microkit::inject_schedule()
            .iter()
            .filter_map(|s| {
                let i = ComponentId::new(tables.names.iter().position(|n| *n == s.pd)?);
                Some((i, s.kind, now.saturating_add(s.at.as_nanos().min(u64::MAX as u128) as u64)))
            })
            .collect();
        injections.sort_by_key(|(_, _, at)| *at);
        let tick = match engine.tick_period_ns() {
            Some(period) => Some(period),
            // Injections need ticks even without heartbeats.
            None if !injections.is_empty() => Some(100_000_000),
            None => None,
        };
        if let Some(period) = tick {
            // Ticks at a tenth of the shortest heartbeat period bound the detection
            // jitter; never faster than the timer allows.
            let tick = (period / 10).max(timer_api::MIN_PERIOD_NS);
            if let Err(e) = timer.set_periodic(tick) {
                debug_println!("rs: cannot get ticks from the timer: {e}");
            }
        }
        let ds = tables.ds.map(|(ch, region)| DsClient::new(ch, region()));
        let mut rs =
            Rs { tables, engine, timer, ds, ds_failing: false, injections: injections.into(), todo: VecDeque::new() };
        debug_println!("rs: supervising {N} components");
        for i in Engine::<N>::ids() {
            rs.publish(i, rs.engine.components[i.index()].snapshot());
            if tables.heartbeat[i.index()].is_none() {
                // No supervision channel: no ready signal will come.
                rs.with_engine(|e, out| e.on_alive(i, now, &mut |a| out(a)));
            }
        }
        rs
    }
}

/// The RS program: `rs::pd!("rs");` is a whole PD binary. Its build script
/// writes `$OUT_DIR/<program>_tables.rs` with
/// `recovery_policy::tables::write_for_system`.
#[macro_export]
macro_rules! pd {
    ($program:literal) => {
        ::microkit::include_system!($program);

        mod tables {
            include!(concat!(env!("OUT_DIR"), "/", $program, "_tables.rs"));
        }

        fn init() -> $crate::Rs<{ tables::N }> {
            $crate::Rs::new(&tables::TABLES)
        }

        ::microkit::protection_domain!(init);
    };
}
