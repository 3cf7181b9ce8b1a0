//! The status table of a system on seL4, from the `@status` lines its supervisor
//! printed on the console (format: `microkit::status`).

use std::fmt::Write as _;

use microkit::Fault;
use microkit::status::StatusLine;

/// One PD's row: the last status line about it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub pd: String,
    /// `None`: the console never mentioned this PD.
    pub last: Option<Known>,
}

/// What the last status line said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub state: &'static str,
    pub generation: u64,
    pub restarts: u64,
    pub fault: Option<Fault>,
}

/// The rows for `pds` (in that order; PDs only the console names come after
/// them) and the malformed status lines, with the reason.
pub fn from_console<'a>(pds: &[String], lines: impl IntoIterator<Item = &'a str>) -> (Vec<Row>, Vec<String>) {
    let mut rows: Vec<Row> = pds.iter().map(|pd| Row { pd: pd.clone(), last: None }).collect();
    let mut errors = Vec::new();
    for line in lines {
        match StatusLine::parse(line) {
            None => {}
            Some(Err(e)) => errors.push(format!("{line:?}: {e}")),
            Some(Ok(s)) => {
                let known =
                    Known { state: s.state.name(), generation: s.generation, restarts: s.restarts, fault: s.fault };
                match rows.iter_mut().find(|r| r.pd == s.pd) {
                    Some(row) => row.last = Some(known),
                    None => rows.push(Row { pd: s.pd.to_string(), last: Some(known) }),
                }
            }
        }
    }
    (rows, errors)
}

/// A fault as a status line has it: kind, address and PC where known (no code).
fn fault_text(f: &Fault) -> String {
    let mut text = f.kind.name().to_string();
    if let Some(addr) = f.addr {
        let _ = write!(text, " addr {addr:#x}");
    }
    if let Some(pc) = f.pc {
        let _ = write!(text, " pc {pc:#x}");
    }
    text
}

/// Renders the rows like the host kernel's status table.
pub fn table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.pd.len()).max().unwrap_or(2).max(2);
    let mut out = format!("{:<width$}  {:<10}  {:>4}  {:>8}  {}\n", "PD", "STATE", "GEN", "RESTARTS", "LAST FAULT");
    for r in rows {
        let (state, generation, restarts, fault) = match &r.last {
            None => ("unknown", "-".to_string(), "-".to_string(), "-".to_string()),
            Some(k) => (
                k.state,
                k.generation.to_string(),
                k.restarts.to_string(),
                k.fault.map_or_else(|| "-".to_string(), |f| fault_text(&f)),
            ),
        };
        let _ = writeln!(out, "{:<width$}  {state:<10}  {generation:>4}  {restarts:>8}  {fault}", r.pd);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_per_pd_wins_and_silent_pds_are_unknown() {
        let pds = ["rs".to_string(), "counter".to_string(), "ping".to_string()];
        let console = [
            "MON|INFO: Microkit Monitor started!",
            "@status pd=counter state=restarting generation=1 restarts=1 fault=vm-fault addr=0x10 pc=0x200eac",
            "counter: boot 2",
            "@status pd=counter state=up generation=1 restarts=1 fault=vm-fault addr=0x10 pc=0x200eac",
            "rs: @status pd=ping state=up generation=0 restarts=0 fault=-",
            "@status pd=ghost state=down generation=2 restarts=2 fault=exit",
            "@status pd=ping state=sleepy generation=0 restarts=0 fault=-",
        ];
        let (rows, errors) = from_console(&pds, console);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("bad state"), "{errors:?}");
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "PD       STATE        GEN  RESTARTS  LAST FAULT");
        assert_eq!(lines[1], "rs       unknown        -         -  -");
        assert_eq!(lines[2], "counter  up             1         1  vm-fault addr 0x10 pc 0x200eac");
        assert_eq!(lines[3], "ping     up             0         0  -");
        assert_eq!(lines[4], "ghost    down           2         2  exit");
        assert_eq!(lines.len(), 5);
    }
}
