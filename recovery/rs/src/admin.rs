//! RS's admin interface, the parts that need no kernel: which component a
//! request names, and the rows of the component table (see `rs_api`).

use microkit::status::ComponentState;
use recovery_engine::{AdminError, Component, ComponentId};
use rs_api::{ComponentStatus, Error, Name, Supervision};

use crate::tables::{PdRow, Role};

/// The supervised component called `name`: [`Error::NoSuchComponent`] for no
/// PD of the system, [`Error::NotSupervised`] for a PD that is not RS's child.
pub fn resolve(pds: &[PdRow], name: &Name) -> Result<ComponentId, Error> {
    match pds.iter().find(|p| p.name == name.as_str()).map(|p| p.role) {
        None => Err(Error::NoSuchComponent),
        Some(Role::Supervised(i)) => Ok(i),
        Some(_) => Err(Error::NotSupervised),
    }
}

/// The engine's refusal as the API's error.
pub fn error(e: AdminError) -> Error {
    match e {
        AdminError::NoSuchComponent => Error::NoSuchComponent,
        AdminError::NotRunning => Error::NotRunning,
        AdminError::AlreadyRunning => Error::AlreadyRunning,
    }
}

/// What RS knows of the trusted base: when RS started, and whether its last
/// calls to the timer and the data store worked.
#[derive(Clone, Copy, Debug)]
pub struct Base {
    pub rs_started_ns: u64,
    pub timer_ok: bool,
    pub ds_ok: bool,
}

/// The table row of `pd` at `now`; `component` is the engine's record of it if
/// it is supervised.
pub fn row(pd: &PdRow, component: Option<&Component>, base: Base, now: u64) -> ComponentStatus {
    let name = Name::new(pd.name).unwrap_or_else(|| Name::new("?").expect("a valid name"));
    let up_if = |ok: bool| Some(if ok { ComponentState::Up } else { ComponentState::Down });
    let mut row = ComponentStatus {
        name,
        supervision: Supervision::TrustedBase,
        state: None,
        generation: 0,
        restarts: 0,
        last_fault: None,
        last_fault_at_ns: 0,
        started_at_ns: Some(base.rs_started_ns),
        now_ns: now,
    };
    match (pd.role, component) {
        (Role::Supervised(_), Some(c)) => {
            row.supervision = Supervision::Supervised;
            row.state = Some(c.state());
            row.generation = c.generation;
            row.restarts = c.restarts;
            row.last_fault = c.last_failure.map(|f| f.failure.as_fault());
            row.last_fault_at_ns = c.last_failure.map_or(0, |f| f.at_ns);
            row.started_at_ns = Some(c.started_ns);
        }
        (Role::Rs, _) => row.state = up_if(true),
        (Role::Timer, _) => row.state = up_if(base.timer_ok),
        (Role::Ds, _) => row.state = up_if(base.ds_ok),
        (Role::Supervised(_) | Role::Other, _) => {
            row.supervision = Supervision::Other;
            row.started_at_ns = None;
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkit::{Fault, FaultKind};
    use recovery_engine::{Engine, Failure};
    use recovery_policy::{Actions, OnFailure, Policy, WhenBudgetSpent};

    const PDS: &[PdRow] = &[
        PdRow { name: "timer", role: Role::Timer },
        PdRow { name: "rs", role: Role::Rs },
        PdRow { name: "blk", role: Role::Supervised(ComponentId::new(0)) },
        PdRow { name: "client", role: Role::Other },
    ];

    fn policy() -> Policy {
        Policy {
            budget: 2,
            window_ns: 10,
            backoff_first_ns: 0,
            backoff_max_ns: 0,
            stable_ns: 10,
            heartbeat_period_ns: 0,
            heartbeat_misses: 0,
            actions: Actions { on_failure: OnFailure::Restart, ..Actions::default() },
            when_budget_spent: WhenBudgetSpent::Stop,
        }
    }

    #[test]
    fn names_resolve_to_children_only() {
        let name = |s| Name::new(s).unwrap();
        assert_eq!(resolve(PDS, &name("blk")), Ok(ComponentId::new(0)));
        assert_eq!(resolve(PDS, &name("rs")), Err(Error::NotSupervised));
        assert_eq!(resolve(PDS, &name("client")), Err(Error::NotSupervised));
        assert_eq!(resolve(PDS, &name("nobody")), Err(Error::NoSuchComponent));
    }

    #[test]
    fn rows_of_every_kind() {
        let mut e = Engine::new([policy()], 0);
        let fault = Fault { kind: FaultKind::VmFault, code: 11, addr: Some(0x10), pc: Some(0x20) };
        e.on_failure(ComponentId::new(0), Failure::Fault(fault), 5, &mut |_| {});
        let base = Base { rs_started_ns: 1, timer_ok: true, ds_ok: false };
        let blk = row(&PDS[2], e.component(ComponentId::new(0)), base, 9);
        assert_eq!(blk.supervision, Supervision::Supervised);
        assert_eq!((blk.generation, blk.restarts, blk.last_fault), (1, 1, Some(fault)));
        assert_eq!((blk.state, blk.started_at_ns, blk.last_fault_at_ns), (Some(ComponentState::Starting), Some(5), 5));
        assert_eq!(blk.uptime_ns(), Some(4));
        let timer = row(&PDS[0], None, base, 9);
        assert_eq!((timer.supervision, timer.state), (Supervision::TrustedBase, Some(ComponentState::Up)));
        let ds = row(&PdRow { name: "ds", role: Role::Ds }, None, base, 9);
        assert_eq!(ds.state, Some(ComponentState::Down));
        let client = row(&PDS[3], None, base, 9);
        assert_eq!((client.supervision, client.state, client.uptime_ns()), (Supervision::Other, None, None));
    }
}
