//! The recovery test system (`system.xml` beside this crate): the supervisor's
//! logic, the layout of the counter's report, and the console check that
//! `cargo xtask test` (seL4 on QEMU) and `tests/host.rs` (host kernel) share.
//!
//! The test: `test_supervisor` waits until both children said their `init` is done.
//! `test_panicker` panics on its first boot by itself and must come back.
//! Then the supervisor injects a crash, a panic and an exit into `test_counter`
//! ([`INJECTIONS`]), one per boot; each fault must arrive with its kind, and each
//! restarted copy must find its `.data` and `.bss` statics at their initial values
//! ([`DATA_INITIAL`], 0) although the previous copy changed them. First of all,
//! the supervisor restarts a child id it does not have: the kernel must refuse it
//! with [`KernelError::NotAChild`] and the supervisor must go on (on seL4 the
//! runtime refuses it; a bare invocation would be a cap fault of the supervisor).
//! The PD binaries in
//! `src/bin/` are thin shells around [`Supervisor`].
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

use core::fmt;

use microkit::status::{ComponentState, StatusLine};
use microkit::{Fault, FaultKind, InjectKind, KernelError};

/// The console lines the test must show, in order (see `expected.txt`).
pub const EXPECTED: &str = include_str!("../expected.txt");

/// What `test_supervisor` injects into `test_counter`, one per boot.
pub const INJECTIONS: [InjectKind; 3] = [InjectKind::Crash, InjectKind::Panic, InjectKind::Exit];

/// Initial value of `test_counter`'s `.data` static (its `.bss` static starts at 0).
pub const DATA_INITIAL: u64 = 7;

/// How much `test_counter` adds to both statics after reporting them, so that a
/// copy that is not fresh would report other values.
pub const DIRTY: u64 = 100;

/// Word offsets in the `counter_report` region.
pub mod report {
    /// Boots so far (the region outlives restarts).
    pub const BOOTS: usize = 0;
    /// The `.data` static as `init` found it.
    pub const DATA: usize = 8;
    /// The `.bss` static as `init` found it.
    pub const BSS: usize = 16;
    /// `microkit::clock::now()` first thing in `init`.
    pub const INIT_AT: usize = 24;
}

/// What `test_counter` reported from one `init`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterReport {
    pub boot: u64,
    pub data: u64,
    pub bss: u64,
    pub init_at: u64,
}

/// A child of the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Counter,
    Panicker,
}

impl Who {
    pub const fn name(self) -> &'static str {
        match self {
            Who::Counter => "test_counter",
            Who::Panicker => "test_panicker",
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the supervisor does to the world: the PD binary carries these out with
/// `debug_println!`, `Child::inject` and `Child::restart`; tests record them.
pub trait Effects {
    fn line(&mut self, line: fmt::Arguments<'_>);
    fn inject(&mut self, who: Who, kind: InjectKind) -> Result<(), KernelError>;
    fn restart(&mut self, who: Who) -> Result<(), KernelError>;
}

#[derive(Clone, Copy, Debug, Default)]
struct ChildState {
    generation: u64,
    restarts: u64,
    fault: Option<Fault>,
    restarting: bool,
    /// Boot number of the last `init` that finished (0: none yet).
    ready_boot: u64,
}

/// The supervisor's logic.
#[derive(Debug, Default)]
pub struct Supervisor {
    counter: ChildState,
    panicker: ChildState,
    all_ready: bool,
    /// Injections into the counter so far.
    injected: usize,
    failures: u32,
    /// `clock::now()` when the counter's last fault arrived.
    fault_at: Option<u64>,
    done: bool,
}

/// The fault an injection must produce.
fn expected_fault(kind: InjectKind) -> &'static str {
    match kind {
        InjectKind::Crash => "vm-fault addr 0x10",
        InjectKind::Panic => "panic",
        InjectKind::Exit => "exit status 1",
        InjectKind::Hang => "(nothing)",
    }
}

/// Whether `fault` is what injecting `kind` must produce.
fn fault_matches(kind: InjectKind, fault: &Fault) -> bool {
    match kind {
        InjectKind::Crash => fault.kind == FaultKind::VmFault && fault.addr == Some(InjectKind::CRASH_ADDRESS),
        InjectKind::Panic => fault.kind == FaultKind::Panic,
        InjectKind::Exit => fault.kind == FaultKind::Exit && fault.code == 1,
        InjectKind::Hang => false,
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the test has passed or failed.
    pub fn done(&self) -> bool {
        self.done
    }

    fn child(&mut self, who: Who) -> &mut ChildState {
        match who {
            Who::Counter => &mut self.counter,
            Who::Panicker => &mut self.panicker,
        }
    }

    fn status(&mut self, who: Who, fx: &mut impl Effects) {
        let c = *self.child(who);
        let state = if c.restarting { ComponentState::Restarting } else { ComponentState::Up };
        let line = StatusLine {
            pd: who.name(),
            state,
            generation: c.generation,
            restarts: c.restarts,
            at: None,
            fault: c.fault,
        };
        fx.line(format_args!("{line}"));
    }

    fn fail(&mut self, fx: &mut impl Effects, what: fmt::Arguments<'_>) {
        self.failures += 1;
        fx.line(format_args!("test_supervisor: FAIL: {what}"));
    }

    /// `test_counter` finished an `init` and reported `r`; `now` is the clock.
    pub fn counter_ready(&mut self, r: CounterReport, fx: &mut impl Effects) {
        let fresh = r.data == DATA_INITIAL && r.bss == 0;
        let restarted = self.counter.restarting;
        self.counter.restarting = false;
        self.counter.ready_boot = r.boot;
        if restarted {
            if fresh {
                fx.line(format_args!(
                    "test_supervisor: test_counter restarted fresh: boot {}, data {}, bss {}",
                    r.boot, r.data, r.bss
                ));
            } else {
                self.fail(fx, format_args!("test_counter restarted with data {} bss {} (not fresh)", r.data, r.bss));
            }
            if let Some(at) = self.fault_at.take() {
                let ticks = r.init_at.wrapping_sub(at);
                fx.line(format_args!(
                    "test_supervisor: restart latency (fault delivered -> init running): {ticks} {} = {} ns",
                    microkit::clock::UNIT,
                    microkit::clock::to_nanos(ticks)
                ));
            }
        } else if !fresh {
            self.fail(fx, format_args!("test_counter booted with data {} bss {}", r.data, r.bss));
        }
        self.status(Who::Counter, fx);
        self.next(fx);
    }

    /// `test_panicker` finished an `init` (its boot number `boot`).
    pub fn panicker_ready(&mut self, boot: u64, fx: &mut impl Effects) {
        if self.panicker.restarting {
            fx.line(format_args!("test_supervisor: test_panicker restarted: boot {boot}"));
        }
        self.panicker.restarting = false;
        self.panicker.ready_boot = boot;
        self.status(Who::Panicker, fx);
        self.next(fx);
    }

    /// A child faulted; `now` is the clock when the fault arrived.
    pub fn fault(&mut self, who: Who, fault: Fault, now: u64, fx: &mut impl Effects) {
        fx.line(format_args!("test_supervisor: {who} faulted: {fault}"));
        match who {
            Who::Counter => match self.injected.checked_sub(1).map(|i| INJECTIONS[i]) {
                Some(kind) if fault_matches(kind, &fault) => {}
                Some(kind) => {
                    self.fail(fx, format_args!("injected {kind}: expected {}, got {fault}", expected_fault(kind)))
                }
                None => self.fail(fx, format_args!("test_counter faulted before any injection: {fault}")),
            },
            Who::Panicker => {
                if fault.kind != FaultKind::Panic || self.panicker.generation != 0 {
                    self.fail(fx, format_args!("test_panicker: expected one panic on its first boot, got {fault}"));
                }
            }
        }
        let c = self.child(who);
        c.fault = Some(fault);
        c.generation += 1;
        c.restarts += 1;
        c.restarting = true;
        if who == Who::Counter {
            self.fault_at = Some(now);
        }
        self.status(who, fx);
        if let Err(e) = fx.restart(who) {
            self.fail(fx, format_args!("restart of {} refused: {e}", who.name()));
        }
    }

    /// What the restart of a child id it does not have (`None`: every id is a
    /// child) returned: it must be refused as [`KernelError::NotAChild`].
    pub fn stranger_restarted(&mut self, result: Option<Result<(), KernelError>>, fx: &mut impl Effects) {
        match result {
            Some(Err(e @ KernelError::NotAChild)) => {
                fx.line(format_args!("test_supervisor: restart of a child it does not have refused: {e}"))
            }
            Some(Err(e)) => self.fail(fx, format_args!("restart of a child it does not have refused with {e}")),
            Some(Ok(())) => self.fail(fx, format_args!("restart of a child it does not have went through")),
            None => self.fail(fx, format_args!("no child id is free to probe")),
        }
    }

    /// Moves the test on once nobody is restarting.
    fn next(&mut self, fx: &mut impl Effects) {
        if self.done || self.counter.ready_boot == 0 || self.panicker.ready_boot == 0 {
            return;
        }
        if self.counter.restarting || self.panicker.restarting {
            return;
        }
        if !self.all_ready {
            self.all_ready = true;
            fx.line(format_args!(
                "test_supervisor: all children ready (test_counter boot {}, test_panicker boot {})",
                self.counter.ready_boot, self.panicker.ready_boot
            ));
        }
        match INJECTIONS.get(self.injected) {
            Some(&kind) => {
                self.injected += 1;
                fx.line(format_args!("test_supervisor: injecting {kind} into test_counter"));
                if let Err(e) = fx.inject(Who::Counter, kind) {
                    self.fail(fx, format_args!("injection into test_counter refused: {e}"));
                }
            }
            None => {
                self.done = true;
                if self.failures == 0 {
                    fx.line(format_args!(
                        "test_supervisor: PASS: {} injections into test_counter, each restarted fresh; \
                         test_panicker restarted after its panic",
                        INJECTIONS.len()
                    ));
                } else {
                    fx.line(format_args!("test_supervisor: FAIL: {} check(s) failed", self.failures));
                }
            }
        }
    }
}

/// Checks console output against [`EXPECTED`]: every expected line must be
/// contained in a console line, in order; no console line may contain
/// `test_supervisor: FAIL`. `Ok(true)` when all were seen, `Ok(false)` while some
/// are still to come, `Err` with the reason on a failure.
pub fn check_console<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<bool, CheckError<'a>> {
    let mut expected = expected_lines().peekable();
    for line in lines {
        if line.contains("test_supervisor: FAIL") {
            return Err(CheckError::Failed(line));
        }
        if expected.peek().is_some_and(|e| line.contains(e)) {
            expected.next();
        }
    }
    Ok(expected.peek().is_none())
}

/// The expected lines, without comments and blank lines.
pub fn expected_lines() -> impl Iterator<Item = &'static str> {
    EXPECTED.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The first expected line not seen in `lines` (in order), if any.
pub fn first_missing<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let mut expected = expected_lines().peekable();
    for line in lines {
        if expected.peek().is_some_and(|e| line.contains(e)) {
            expected.next();
        }
    }
    expected.next()
}

/// Why the console check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError<'a> {
    /// The supervisor reported a failed check in this line.
    Failed(&'a str),
}

impl fmt::Display for CheckError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Failed(line) => write!(f, "the test system reported a failure: {line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    #[derive(Default)]
    struct Recorder {
        lines: Vec<String>,
        injected: Vec<(Who, InjectKind)>,
        restarted: Vec<Who>,
    }

    impl Effects for Recorder {
        fn line(&mut self, line: fmt::Arguments<'_>) {
            self.lines.push(line.to_string());
        }
        fn inject(&mut self, who: Who, kind: InjectKind) -> Result<(), KernelError> {
            self.injected.push((who, kind));
            Ok(())
        }
        fn restart(&mut self, who: Who) -> Result<(), KernelError> {
            self.restarted.push(who);
            Ok(())
        }
    }

    #[test]
    fn a_refused_restart_of_a_stranger_is_expected_and_anything_else_fails() {
        let mut fx = Recorder::default();
        let mut s = Supervisor::new();
        s.stranger_restarted(Some(Err(KernelError::NotAChild)), &mut fx);
        assert_eq!(s.failures, 0);
        assert_eq!(
            fx.lines,
            ["test_supervisor: restart of a child it does not have refused: not a child of this protection domain"]
        );
        for wrong in [Some(Ok(())), Some(Err(KernelError::IllegalOperation)), None] {
            s.stranger_restarted(wrong, &mut fx);
        }
        assert_eq!(s.failures, 3);
        assert!(fx.lines[1..].iter().all(|l| l.starts_with("test_supervisor: FAIL: ")), "{:?}", fx.lines);
    }

    fn report(boot: u64, init_at: u64) -> CounterReport {
        CounterReport { boot, data: DATA_INITIAL, bss: 0, init_at }
    }

    fn injected_fault(kind: InjectKind) -> Fault {
        match kind {
            InjectKind::Crash => Fault { addr: Some(0x10), pc: Some(0x200abc), ..Fault::new(FaultKind::VmFault) },
            InjectKind::Panic => Fault::new(FaultKind::Panic),
            InjectKind::Exit => Fault { code: 1, ..Fault::new(FaultKind::Exit) },
            InjectKind::Hang => unreachable!(),
        }
    }

    /// Plays the whole test as the kernels would; `fresh` says whether restarted
    /// counters report initial statics.
    fn play(fresh: bool) -> Recorder {
        let mut s = Supervisor::new();
        let mut fx = Recorder::default();
        s.stranger_restarted(Some(Err(KernelError::NotAChild)), &mut fx);
        s.fault(Who::Panicker, Fault::new(FaultKind::Panic), 0, &mut fx);
        s.counter_ready(report(1, 0), &mut fx);
        assert!(fx.injected.is_empty(), "injected before every child was ready");
        s.panicker_ready(2, &mut fx);
        for boot in 2..=4 {
            let (_, kind) = *fx.injected.last().expect("an injection");
            s.fault(Who::Counter, injected_fault(kind), 1000, &mut fx);
            let r =
                CounterReport { data: if fresh { DATA_INITIAL } else { DATA_INITIAL + DIRTY }, ..report(boot, 1625) };
            s.counter_ready(r, &mut fx);
        }
        assert!(s.done());
        fx
    }

    #[test]
    fn a_correct_run_prints_the_expected_lines_in_order() {
        let fx = play(true);
        assert_eq!(check_console(fx.lines.iter().map(String::as_str)), Ok(true), "{:#?}", fx.lines);
        assert_eq!(
            fx.injected,
            [(Who::Counter, InjectKind::Crash), (Who::Counter, InjectKind::Panic), (Who::Counter, InjectKind::Exit)]
        );
        assert_eq!(fx.restarted, [Who::Panicker, Who::Counter, Who::Counter, Who::Counter]);
        assert!(fx.lines.iter().any(|l| l == "@status pd=test_counter state=up generation=3 restarts=3 fault=exit"));
        assert!(
            fx.lines
                .iter()
                .any(|l| l.starts_with("test_supervisor: restart latency (fault delivered -> init running): 625 "))
        );
    }

    #[test]
    fn a_restart_that_is_not_fresh_fails() {
        let fx = play(false);
        let err = check_console(fx.lines.iter().map(String::as_str)).unwrap_err();
        assert_eq!(
            err,
            CheckError::Failed("test_supervisor: FAIL: test_counter restarted with data 107 bss 0 (not fresh)")
        );
        assert!(fx.lines.last().unwrap().contains("FAIL: 3 check(s) failed"));
    }

    #[test]
    fn a_fault_of_the_wrong_kind_fails() {
        let mut s = Supervisor::new();
        let mut fx = Recorder::default();
        s.panicker_ready(1, &mut fx);
        s.counter_ready(report(1, 0), &mut fx);
        assert_eq!(fx.injected, [(Who::Counter, InjectKind::Crash)]);
        s.fault(Who::Counter, Fault::new(FaultKind::Panic), 0, &mut fx);
        assert!(
            fx.lines
                .iter()
                .any(|l| l == "test_supervisor: FAIL: injected crash: expected vm-fault addr 0x10, got panic")
        );
    }

    #[test]
    fn the_check_wants_every_line_in_order() {
        let lines: Vec<&str> = expected_lines().collect();
        assert_eq!(check_console(lines.iter().copied()), Ok(true));
        assert_eq!(check_console(lines[..3].iter().copied()), Ok(false));
        assert_eq!(first_missing(lines[..3].iter().copied()), Some(lines[3]));
        let mut swapped = lines.clone();
        swapped.swap(3, 4);
        assert_eq!(check_console(swapped.iter().copied()), Ok(false));
        assert_eq!(first_missing(lines.iter().copied()), None);
    }
}
