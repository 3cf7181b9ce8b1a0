//! The component table as the data store has it: RS publishes
//! `component.<name>.<field>` keys; the PD subscribes to `component.` and
//! feeds every change here.

use alloc::string::String;
use alloc::vec::Vec;

use crate::status::{ComponentRow, StatusSource};

/// The prefix of RS's keys.
pub const PREFIX: &str = "component.";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Row {
    name: String,
    state: String,
    generation: u64,
    restarts: u64,
    last_fault: String,
}

/// Every component RS has published, in the order first seen.
#[derive(Clone, Debug, Default)]
pub struct ComponentTable {
    rows: Vec<Row>,
}

impl ComponentTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a change of `key` (with its new `value`, empty if deleted). Keys
    /// outside `component.<name>.<field>` and values that are not text are
    /// ignored: the table shows only what it understands.
    pub fn apply(&mut self, key: &[u8], value: &[u8], deleted: bool) {
        let (Ok(key), Ok(value)) = (core::str::from_utf8(key), core::str::from_utf8(value)) else { return };
        let Some((name, field)) = key.strip_prefix(PREFIX).and_then(|rest| rest.rsplit_once('.')) else { return };
        if name.is_empty() {
            return;
        }
        let row = match self.rows.iter().position(|r| r.name == name) {
            Some(i) => &mut self.rows[i],
            None => {
                self.rows.push(Row { name: name.into(), state: "unknown".into(), ..Row::default() });
                let last = self.rows.len() - 1;
                &mut self.rows[last]
            }
        };
        let value = if deleted { "" } else { value };
        match field {
            "state" => row.state = value.into(),
            "generation" => row.generation = value.trim().parse().unwrap_or(0),
            "restarts" => row.restarts = value.trim().parse().unwrap_or(0),
            "last_fault" => row.last_fault = value.into(),
            _ => {}
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl StatusSource for ComponentTable {
    fn rows(&self, each: &mut dyn FnMut(&ComponentRow<'_>)) {
        for r in &self.rows {
            let last_fault = if r.last_fault.is_empty() { "-" } else { r.last_fault.as_str() };
            each(&ComponentRow {
                name: &r.name,
                state: &r.state,
                generation: r.generation,
                restarts: r.restarts,
                last_fault,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn rows(t: &ComponentTable) -> Vec<(String, String, u64, u64, String)> {
        let mut out = Vec::new();
        t.rows(&mut |r| {
            out.push((r.name.to_string(), r.state.to_string(), r.generation, r.restarts, r.last_fault.to_string()))
        });
        out
    }

    #[test]
    fn changes_build_rows_and_garbage_is_ignored() {
        let mut t = ComponentTable::new();
        t.apply(b"component.virtio_net.state", b"up", false);
        t.apply(b"component.virtio_net.generation", b"3", false);
        t.apply(b"component.virtio_net.restarts", b"3", false);
        t.apply(b"component.virtio_net.last_fault", b"vm-fault addr 0x10", false);
        t.apply(b"component.net.state", b"up", false);
        t.apply(b"component..state", b"x", false);
        t.apply(b"other.key", b"x", false);
        t.apply(b"component.bad.state", &[0xff, 0xfe], false);
        t.apply(b"component.net.generation", b"not a number", false);
        assert_eq!(
            rows(&t),
            [
                ("virtio_net".into(), "up".into(), 3, 3, "vm-fault addr 0x10".into()),
                ("net".into(), "up".into(), 0, 0, "-".into()),
            ]
        );
        t.apply(b"component.virtio_net.last_fault", b"", true);
        assert_eq!(rows(&t)[0].4, "-");
    }
}
