//! What the kernel knows about each PD, and the final status table.

use std::fmt::Write as _;

use microkit::Fault;

/// The kernel's view of a PD: whether a process of it runs. Not what a
/// supervisor publishes about it ([`microkit::status::ComponentState`]): here
/// `Down` is "faulted (or did not start), no process", whatever its parent then
/// decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Started; `init` has not finished yet.
    Starting,
    /// Running its event loop.
    Up,
    /// Faulted, or its process did not start; not (yet) restarted.
    Down,
    /// Stopped by its parent, or by the system shutting down.
    Stopped,
}

/// One row of the status table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdStatus {
    pub name: String,
    pub state: ProcessState,
    /// 0 for the first instance; +1 per restart.
    pub generation: u64,
    pub restarts: u64,
    pub last_fault: Option<Fault>,
    /// Process id of the current instance, if one runs.
    pub pid: Option<u32>,
}

impl PdStatus {
    /// The state as the status table prints it.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            ProcessState::Starting if self.generation > 0 => "restarting",
            ProcessState::Starting => "starting",
            ProcessState::Up => "up",
            ProcessState::Down => "down",
            ProcessState::Stopped => "stopped",
        }
    }
}

/// Renders the status table: name, state, generation, restarts, last fault.
pub fn status_table(rows: &[PdStatus]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(2).max(2);
    let mut out = format!("{:<width$}  {:<10}  {:>4}  {:>8}  {}\n", "PD", "STATE", "GEN", "RESTARTS", "LAST FAULT");
    for r in rows {
        let fault = r.last_fault.map_or_else(|| "-".to_string(), |f| f.to_string());
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:>4}  {:>8}  {}",
            r.name,
            r.state_name(),
            r.generation,
            r.restarts,
            fault
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkit::FaultKind;

    #[test]
    fn table_has_one_row_per_pd() {
        let rows = [
            PdStatus {
                name: "rs".into(),
                state: ProcessState::Up,
                generation: 0,
                restarts: 0,
                last_fault: None,
                pid: Some(1),
            },
            PdStatus {
                name: "crashy".into(),
                state: ProcessState::Starting,
                generation: 2,
                restarts: 2,
                last_fault: Some(Fault { kind: FaultKind::VmFault, code: 11, addr: Some(0x10), pc: None }),
                pid: None,
            },
        ];
        let table = status_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("rs      up"));
        assert!(lines[2].contains("restarting") && lines[2].ends_with("vm-fault addr 0x10"), "{table}");
    }
}
