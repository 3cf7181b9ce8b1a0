//! The crash records RS keeps: the last [`CRASH_RECORDS`] per component,
//! newest first.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use rs_api::{CRASH_RECORDS, CrashRecord};

/// One ring of records per component.
pub struct Crashes {
    rings: Vec<VecDeque<CrashRecord>>,
}

impl Crashes {
    pub fn new(components: usize) -> Self {
        Crashes { rings: (0..components).map(|_| VecDeque::with_capacity(CRASH_RECORDS)).collect() }
    }

    /// Keeps `record` for component `i`, dropping its oldest beyond the limit.
    pub fn keep(&mut self, i: usize, record: CrashRecord) {
        if let Some(ring) = self.rings.get_mut(i) {
            if ring.len() == CRASH_RECORDS {
                ring.pop_back();
            }
            ring.push_front(record);
        }
    }

    /// The `nth` newest record of component `i` (0 = the newest).
    pub fn get(&self, i: usize, nth: u64) -> Option<&CrashRecord> {
        self.rings.get(i)?.get(usize::try_from(nth).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkit::{Fault, FaultKind};

    #[test]
    fn keeps_the_newest() {
        let mut c = Crashes::new(2);
        let rec = |g| CrashRecord { generation: g, at_ns: g, fault: Fault::new(FaultKind::Panic), context: None };
        for g in 0..6 {
            c.keep(1, rec(g));
        }
        c.keep(5, rec(9)); // no such component: ignored
        assert_eq!(c.get(1, 0).map(|r| r.generation), Some(5));
        assert_eq!(c.get(1, 3).map(|r| r.generation), Some(2));
        assert_eq!(c.get(1, 4), None);
        assert_eq!(c.get(0, 0), None);
        assert_eq!(c.get(1, u64::MAX), None);
    }
}
