//! What the status page shows: one row per component, as the data store has it.

/// One component, as RS published it in the data store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComponentRow<'a> {
    pub name: &'a str,
    pub state: &'a str,
    pub generation: u64,
    pub restarts: u64,
    pub last_fault: &'a str,
}

/// Where the rows come from (the PD reads them from DS; tests make them up).
pub trait StatusSource {
    fn rows(&self, each: &mut dyn FnMut(&ComponentRow<'_>));
}
