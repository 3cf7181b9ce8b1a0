//! What the reincarnation server reports: the `@status` console line, the one
//! record of a component's state that both kernels print (`cargo xtask run`
//! builds its status table from these lines), mirroring the keys RS publishes
//! in the data store (`component.<name>.state|generation|restarts|last_fault`).
use core::fmt;

use recovery_engine::{Failure, Snapshot};

/// `@status pd=<name> state=<state> generation=<n> restarts=<n> fault=<fault|->`;
/// the fault comes last because it contains spaces.
pub struct StatusLine<'a> {
    pub name: &'a str,
    /// What is being published (the component may have moved on since).
    pub snapshot: Snapshot,
    /// The component's last failure.
    pub failure: Option<Failure>,
}

/// A failure as RS publishes it: the kernel's fault text, `hang` or `complaint`.
pub struct FailureText(pub Failure);

impl fmt::Display for FailureText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Failure::Fault(fault) => write!(f, "{fault}"),
            Failure::Hang => f.write_str("hang"),
            Failure::Complaint => f.write_str("complaint"),
        }
    }
}

impl fmt::Display for StatusLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.snapshot;
        write!(
            f,
            "@status pd={} state={} generation={} restarts={} fault=",
            self.name,
            s.state.as_str(),
            s.generation,
            s.restarts
        )?;
        match self.failure {
            Some(failure) => write!(f, "{}", FailureText(failure)),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use microkit::{Fault, FaultKind};
    use recovery_engine::{Engine, State};
    use recovery_policy::{Actions, Policy, WhenBudgetSpent};
    use std::string::ToString;

    #[test]
    fn status_lines() {
        let p = Policy {
            budget: 2,
            window_ns: 10,
            backoff_first_ns: 0,
            backoff_max_ns: 0,
            heartbeat_period_ns: 0,
            heartbeat_misses: 0,
            actions: Actions {
                restart: true,
                ..Actions::default()
            },
            when_budget_spent: WhenBudgetSpent::Stop,
        };
        let mut e = Engine::new([p], 0);
        let line = |e: &Engine<1>| {
            let c = &e.components[0];
            StatusLine {
                name: "blk",
                snapshot: c.snapshot(),
                failure: c.last_failure.map(|r| r.failure),
            }
            .to_string()
        };
        assert_eq!(
            line(&e),
            "@status pd=blk state=starting generation=0 restarts=0 fault=-"
        );
        let fault = Fault {
            kind: FaultKind::VmFault,
            code: 0,
            addr: Some(0x10),
            pc: None,
        };
        e.on_failure(0, Failure::Fault(fault), 1, &mut |_| {});
        assert_eq!(e.components[0].state, State::Starting);
        assert_eq!(
            line(&e),
            "@status pd=blk state=starting generation=1 restarts=1 fault=vm-fault addr 0x10"
        );
        e.on_alive(0, 2, &mut |_| {});
        e.on_failure(0, Failure::Hang, 3, &mut |_| {});
        assert_eq!(
            line(&e),
            "@status pd=blk state=starting generation=2 restarts=2 fault=hang"
        );
    }
}
