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
//!
//! It serves `rs_api`: complaints on service channels, and its admin interface
//! (component table, restart, stop, start, inject, crash records) on the admin
//! channels `system.xml` declares ([`admin`] holds the parts without the
//! kernel). At every kernel fault of a child it keeps a crash record
//! ([`crashes`]): the fault, and the child's registers and stack as the kernel
//! has them (`Child::crash_context`), read before the child is restarted.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod admin;
pub mod crashes;
mod status;
mod tables;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;

use ds_api::DsClient;

use microkit::reply::ApiError;
use microkit::status::{ComponentState, StatusLine};
use microkit::{
    Channel, Child, Fault, FaultAction, Handler, InjectKind, KernelError, MSG_MAX_LENGTH, MessageInfo, arch_timer,
    debug_println, get_mr, set_mr,
};
use recovery_engine::{Action, AdminError, Engine, Failure, Snapshot, State};
use rs_api::{CrashRecord, Request};
use timer_api::TimerClient;

pub use recovery_engine::ComponentId;
pub use status::status_line;
pub use tables::{Complaint, PdRow, Role, Tables};

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
    /// The last crash records of each component.
    crashes: crashes::Crashes,
    /// When RS started.
    started_ns: u64,
    /// The last call to the timer failed.
    timer_failing: bool,
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
            let result = self.timer.set_timeout(delay);
            if let Err(e) = result {
                debug_println!("rs: cannot set a timeout: {e}");
            }
            if self.timer_failing != result.is_err() {
                self.timer_failing = result.is_err();
                self.publish_base();
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

    /// An `@status` line for each PD of the trusted base as RS sees it (RS
    /// itself up; the timer and the data store up while calls to them work),
    /// so that a console-only table (QEMU) has them too. They are no
    /// components: nothing goes to DS, generation and restarts stay 0.
    fn publish_base(&self) {
        let up = |ok: bool| if ok { ComponentState::Up } else { ComponentState::Down };
        for pd in self.tables.pds {
            let state = match pd.role {
                Role::Rs => up(true),
                Role::Timer => up(!self.timer_failing),
                Role::Ds => up(self.ds.is_some() && !self.ds_failing),
                Role::Supervised(_) | Role::Other => continue,
            };
            let line = StatusLine {
                at: Some(arch_timer::now_ns()),
                pd: pd.name,
                state,
                generation: 0,
                restarts: 0,
                fault: None,
            };
            debug_println!("{line}");
        }
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
                self.ds_failing = true;
                self.publish_base();
            }
        } else if self.ds_failing {
            self.ds_failing = false;
            self.publish_base();
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
            Some(i) => {
                self.record_crash(i, child, fault, now);
                self.with_engine(|e, out| e.on_failure(i, Failure::Fault(fault), now, &mut |a| out(a)))
            }
            None => debug_println!("rs: fault of unknown child {} ({fault})", child.index()),
        }
        FaultAction::Leave
    }

    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> MessageInfo {
        let mut words = [0u64; MSG_MAX_LENGTH];
        let count = msg.count().min(MSG_MAX_LENGTH);
        for (i, w) in words[..count].iter_mut().enumerate() {
            *w = get_mr(i);
        }
        let request = match Request::decode(msg.label(), &words[..count]) {
            Ok(r) => r,
            Err(e) => return e.reply(),
        };
        if request.is_admin() && !self.tables.admin.contains(&ch) {
            return rs_api::Error::Denied.reply();
        }
        match self.serve(ch, request) {
            Ok(n) => microkit::reply::ok(n),
            Err(e) => e.reply(),
        }
    }
}

impl<const N: usize> Rs<N> {
    /// Keeps a crash record of component `i`'s kernel fault (with its
    /// registers and stack, read before anything restarts it) and prints it as
    /// an `@crash` line.
    fn record_crash(&mut self, i: ComponentId, child: Child, fault: Fault, now: u64) {
        let context = child.crash_context().ok().flatten();
        let generation = self.engine.component(i).map_or(0, |c| c.generation);
        let record = CrashRecord { generation, at_ns: now, fault, context };
        let line = format!("{}", record.line(self.tables.names[i.index()]));
        debug_println!("{line}");
        self.crashes.keep(i.index(), record);
    }

    /// Carries out a well-formed request from channel `ch` (admin requests
    /// only from an admin channel); returns the reply's registers, already set.
    fn serve(&mut self, ch: Channel, request: Request) -> Result<usize, rs_api::Error> {
        let now = arch_timer::now_ns();
        let mut out = [0u64; MSG_MAX_LENGTH];
        let n = match request {
            Request::Complain(about) => {
                let Some(&Complaint { about: i, .. }) = Complaint::find(self.tables.complaints, ch, about) else {
                    return Err(rs_api::Error::NotADependency);
                };
                debug_println!("rs: a server complains about {}", self.tables.names[i.index()]);
                self.with_engine(|e, out| e.on_failure(i, Failure::Complaint, now, &mut |a| out(a)));
                0
            }
            Request::DependencyState(about) => {
                let Some(&Complaint { about: i, .. }) = Complaint::find(self.tables.complaints, ch, about) else {
                    return Err(rs_api::Error::NotADependency);
                };
                let state = self.engine.component(i).map(|c| c.state()).ok_or(rs_api::Error::NoSuchComponent)?;
                out[0] = rs_api::state_code(state);
                1
            }
            Request::Status(index) => {
                let pd = usize::try_from(index).ok().and_then(|i| self.tables.pds.get(i));
                let pd = pd.ok_or(rs_api::Error::NoSuchComponent)?;
                let component = match pd.role {
                    Role::Supervised(i) => self.engine.component(i),
                    _ => None,
                };
                let base = admin::Base {
                    rs_started_ns: self.started_ns,
                    timer_ok: !self.timer_failing,
                    ds_ok: self.ds.is_some() && !self.ds_failing,
                };
                admin::row(pd, component, base, now).encode(&mut out)
            }
            Request::Restart(name) => {
                let i = admin::resolve(self.tables.pds, &name)?;
                debug_println!("rs: restart of {name} asked by an administrator");
                self.admin_op(|e, out| e.admin_restart(i, now, &mut |a| out(a)))?;
                0
            }
            Request::Stop(name) => {
                let i = admin::resolve(self.tables.pds, &name)?;
                debug_println!("rs: stop of {name} asked by an administrator");
                self.admin_op(|e, out| e.admin_stop(i, now, &mut |a| out(a)))?;
                0
            }
            Request::Start(name) => {
                let i = admin::resolve(self.tables.pds, &name)?;
                debug_println!("rs: start of {name} asked by an administrator");
                self.admin_op(|e, out| e.admin_start(i, now, &mut |a| out(a)))?;
                0
            }
            Request::Inject(name, kind) => {
                let i = admin::resolve(self.tables.pds, &name)?;
                debug_println!("rs: injecting {kind} into {name} (asked by an administrator)");
                if let Err(e) = self.tables.children[i.index()].inject(kind) {
                    self.refused(i, "inject", e);
                    return Err(rs_api::Error::KernelRefused);
                }
                0
            }
            Request::Crash(name, nth) => {
                let i = admin::resolve(self.tables.pds, &name)?;
                let record = self.crashes.get(i.index(), nth).ok_or(rs_api::Error::NoRecord)?;
                record.encode(&mut out)
            }
        };
        for (i, w) in out[..n].iter().enumerate() {
            set_mr(i, *w);
        }
        Ok(n)
    }

    /// Runs an administrator's operation on the engine and carries out what it
    /// decides.
    fn admin_op(
        &mut self,
        f: impl FnOnce(&mut Engine<N>, &mut dyn FnMut(Action)) -> Result<(), AdminError>,
    ) -> Result<(), rs_api::Error> {
        let mut result = Ok(());
        self.with_engine(|e, out| result = f(e, out));
        result.map_err(admin::error)
    }
}

impl<const N: usize> Rs<N> {
    /// RS for one system: sets up its ticks and publishes every component.
    pub fn new(tables: &'static Tables<N>) -> Self {
        let now = arch_timer::now_ns();
        let engine = Engine::new(tables.policies, now).with_priorities(tables.priorities);
        let timer = TimerClient::new(tables.timer);
        let mut injections: Vec<(ComponentId, InjectKind, u64)> = microkit::inject_schedule()
            .iter()
            .filter_map(|s| {
                let i = ComponentId::new(tables.names.iter().position(|n| *n == s.pd)?);
                Some((i, s.kind, now.saturating_add(s.at.as_nanos().min(u64::MAX as u128) as u64)))
            })
            .collect();
        injections.sort_by_key(|(_, _, at)| *at);
        let mut timer_failing = false;
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
                timer_failing = true;
            }
        }
        let ds = tables.ds.map(|(ch, region)| DsClient::new(ch, region()));
        let mut rs = Rs {
            tables,
            engine,
            timer,
            ds,
            ds_failing: false,
            injections: injections.into(),
            todo: VecDeque::new(),
            crashes: crashes::Crashes::new(N),
            started_ns: now,
            timer_failing,
        };
        debug_println!("rs: supervising {N} components");
        rs.publish_base();
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
