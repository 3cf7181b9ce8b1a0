//! What the reincarnation server reports on the console: one `@status` line per
//! published change (`microkit::status`; `cargo xtask run` builds its status
//! table from these lines on both kernels), mirroring the keys it publishes in
//! the data store (`component.<name>.state|generation|restarts|last_fault`; RS
//! also publishes `.last_error` when the kernel refuses an operation on it).

use microkit::status::StatusLine;
use recovery_engine::{Failure, Snapshot};

/// The `@status` line of component `name`, published at `at` (ns).
pub fn status_line(name: &str, snapshot: Snapshot, failure: Option<Failure>, at: Option<u64>) -> StatusLine<'_> {
    StatusLine {
        at,
        pd: name,
        state: snapshot.state,
        generation: snapshot.generation,
        restarts: snapshot.restarts,
        fault: failure.map(Failure::as_fault),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use microkit::{Fault, FaultKind};
    use recovery_engine::{ComponentId, Engine, State};
    use recovery_policy::{Actions, OnFailure, Policy, WhenBudgetSpent};
    use std::string::ToString;

    #[test]
    fn status_lines() {
        let p = Policy {
            budget: 2,
            window_ns: 10,
            backoff_first_ns: 0,
            backoff_max_ns: 0,
            stable_ns: 10_000_000_000,
            heartbeat_period_ns: 0,
            heartbeat_misses: 0,
            actions: Actions { on_failure: OnFailure::Restart, ..Actions::default() },
            when_budget_spent: WhenBudgetSpent::Stop,
        };
        let mut e = Engine::new([p], 0);
        let line = |e: &Engine<1>| {
            let c = &e.components[0];
            status_line("blk", c.snapshot(), c.last_failure.map(|r| r.failure), None).to_string()
        };
        assert_eq!(line(&e), "@status pd=blk state=starting generation=0 restarts=0 fault=-");
        let fault = Fault { kind: FaultKind::VmFault, code: 0, addr: Some(0x10), pc: None };
        let blk = ComponentId::new(0);
        e.on_failure(blk, Failure::Fault(fault), 1, &mut |_| {});
        assert_eq!(e.components[0].state(), State::Starting);
        assert_eq!(line(&e), "@status pd=blk state=starting generation=1 restarts=1 fault=vm-fault addr=0x10");
        e.on_alive(blk, 2, &mut |_| {});
        e.on_failure(blk, Failure::Hang, 3, &mut |_| {});
        assert_eq!(line(&e), "@status pd=blk state=starting generation=2 restarts=2 fault=hang");
        let c = &e.components[0];
        let timed = status_line("blk", c.snapshot(), None, Some(77)).to_string();
        assert_eq!(timed, "@status pd=blk state=starting generation=2 restarts=2 at=77 fault=-");
        // The line parses back.
        let text = line(&e);
        let parsed = StatusLine::parse(&text).unwrap().unwrap();
        assert_eq!(parsed.fault.map(|f| f.kind), Some(FaultKind::Hang));
    }
}
