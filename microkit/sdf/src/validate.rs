//! Microkit's rules for a system description (board `qemu_virt_aarch64`).
//!
//! The limits follow the Microkit 2.x tool (`tool/microkit/src/sdf.rs`,
//! `sel4.rs`): ids < 62, priority <= 254, at most 63 PDs, names of at most 64
//! bytes, page sizes 0x1000 and 0x200000, stack sizes 0x1000..=0x1000000 in whole
//! pages, PPC only to strictly higher priority, and the PD stack at the very top
//! of the user address space ([`USER_TOP`]) so that maps must end below it.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Error;
use crate::model::*;
use crate::parse::Taint;

/// Channel, IRQ and child ids must be below this (62 bits of the badge).
pub const MAX_ID_EXCLUSIVE: u64 = 62;
/// Highest PD priority.
pub const MAX_PRIORITY: u64 = 254;
/// Most PDs in one system.
pub const MAX_PDS: usize = 63;
/// Longest PD name in bytes (`microkit_name` is 64 bytes).
pub const MAX_NAME_LEN: usize = 64;
/// Page sizes on aarch64.
pub const PAGE_SIZES: [u64; 2] = [0x1000, 0x20_0000];
/// Smallest stack.
pub const MIN_STACK_SIZE: u64 = 0x1000;
/// Largest stack (16 MiB).
pub const MAX_STACK_SIZE: u64 = 0x100_0000;
/// Top of the user address space for `qemu_virt_aarch64` (hypervisor kernel, 40-bit
/// physical addresses: 1 << 40). The PD stack is `[USER_TOP - stack_size, USER_TOP)`.
pub const USER_TOP: u64 = 0x100_0000_0000;

pub(crate) fn msg_id_range(v: u64) -> String {
    format!("id {v} is out of range: channel, irq and child ids must be < {MAX_ID_EXCLUSIVE}")
}

pub(crate) fn msg_priority_range(v: u64) -> String {
    format!("priority {v} is out of range: it must be between 0 and {MAX_PRIORITY}")
}

/// Check a model against Microkit's rules; returns every problem found (empty if valid).
///
/// [`SystemDescription::parse`] already runs this; call it yourself on a model built
/// or changed in code.
pub fn validate(sd: &SystemDescription) -> Vec<Error> {
    validate_with(sd, &Taint::default())
}

struct V<'a> {
    file: &'a Path,
    errors: Vec<Error>,
}

impl V<'_> {
    fn at(&mut self, line: u32, column: u32, element: &str, msg: impl Into<String>) {
        self.errors.push(Error::new(self.file, line, column, element, msg));
    }
}

const PD: &str = "protection_domain";

pub(crate) fn validate_with(sd: &SystemDescription, taint: &Taint) -> Vec<Error> {
    let mut v = V { file: &sd.file, errors: Vec::new() };
    let pds = sd.all_pds();

    // --- protection domains -------------------------------------------------
    if pds.is_empty() && taint.pds.is_empty() {
        v.at(0, 0, "system", "the system must contain at least one protection domain");
    }
    if let Some(r) = pds.get(MAX_PDS) {
        v.at(
            r.pd.line,
            r.pd.column,
            PD,
            format!("too many protection domains: {} in total, Microkit allows at most {MAX_PDS}", pds.len()),
        );
    }
    let mut names: HashMap<&str, u32> = HashMap::new();
    for r in &pds {
        let pd = r.pd;
        let (l, c) = (pd.line, pd.column);
        if let Some(first) = names.get(pd.name.as_str()) {
            v.at(l, c, PD, format!("duplicate protection domain name '{}' (first defined on line {first})", pd.name));
        } else {
            names.insert(&pd.name, l);
        }
        if pd.name.len() > MAX_NAME_LEN {
            v.at(
                l,
                c,
                PD,
                format!(
                    "protection domain name '{}' is {} bytes long; the maximum is {MAX_NAME_LEN}",
                    pd.name,
                    pd.name.len()
                ),
            );
        }
        if u64::from(pd.priority) > MAX_PRIORITY {
            v.at(l, c, PD, msg_priority_range(pd.priority.into()));
        }
        if pd.budget > pd.period {
            v.at(l, c, PD, format!("budget ({}) must be less than or equal to period ({})", pd.budget, pd.period));
        }
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&pd.stack_size) {
            v.at(l, c, PD, format!(
                "stack_size 0x{:x} is out of range: it must be between 0x{MIN_STACK_SIZE:x} and 0x{MAX_STACK_SIZE:x}",
                pd.stack_size));
        } else if pd.stack_size % PAGE_SIZES[0] != 0 {
            v.at(
                l,
                c,
                PD,
                format!("stack_size 0x{:x} is not a multiple of the page size 0x{:x}", pd.stack_size, PAGE_SIZES[0]),
            );
        }
        match (r.parent, pd.id) {
            (Some(parent), None) => v.at(
                l,
                c,
                PD,
                format!("child protection domain '{}' of '{}' has no 'id' attribute", pd.name, parent.name),
            ),
            (None, Some(_)) => {
                v.at(l, c, PD, format!("top-level protection domain '{}' must not have an 'id'", pd.name))
            }
            (Some(_), Some(id)) if u64::from(id) >= MAX_ID_EXCLUSIVE => v.at(l, c, PD, msg_id_range(id.into())),
            _ => {}
        }
        // Child ids: their own id space per parent.
        let mut child_ids: HashMap<u8, &ProtectionDomain> = HashMap::new();
        for ch in &pd.children {
            if let Some(id) = ch.id {
                if let Some(first) = child_ids.get(&id) {
                    v.at(
                        ch.line,
                        ch.column,
                        PD,
                        format!(
                            "duplicate child id {id} in protection domain '{}': already used by '{}' (line {})",
                            pd.name, first.name, first.line
                        ),
                    );
                } else {
                    child_ids.insert(id, ch);
                }
            }
        }
        if pd.program_image.is_empty() && !taint.pds.contains(&pd.name) {
            // The parser reports a missing <program_image>; this catches built models.
            if !v.errors.iter().any(|e| e.line == l && e.message.contains("program_image")) {
                v.at(l, c, PD, format!("protection domain '{}' has no program image", pd.name));
            }
        }
    }

    // --- memory regions -----------------------------------------------------
    const MR: &str = "memory_region";
    let mut mr_names: HashMap<&str, u32> = HashMap::new();
    let mut phys: Vec<(&MemoryRegion, u64, u64)> = Vec::new();
    for mr in &sd.memory_regions {
        let (l, c) = (mr.line, mr.column);
        if let Some(first) = mr_names.get(mr.name.as_str()) {
            v.at(l, c, MR, format!("duplicate memory region name '{}' (first defined on line {first})", mr.name));
        } else {
            mr_names.insert(&mr.name, l);
        }
        let page_ok = PAGE_SIZES.contains(&mr.page_size);
        if !page_ok {
            v.at(l, c, MR, format!("page_size 0x{:x} is not supported: it must be 0x1000 or 0x200000", mr.page_size));
        }
        if mr.size == 0 {
            v.at(l, c, MR, "size must not be zero");
        } else if page_ok && mr.size % mr.page_size != 0 {
            v.at(l, c, MR, format!("size 0x{:x} is not a multiple of the page size 0x{:x}", mr.size, mr.page_size));
        }
        if let Some(pa) = mr.phys_addr {
            if page_ok && pa % mr.page_size != 0 {
                v.at(l, c, MR, format!("phys_addr 0x{pa:x} is not aligned to the page size 0x{:x}", mr.page_size));
            }
            match pa.checked_add(mr.size) {
                None => v.at(
                    l,
                    c,
                    MR,
                    format!("phys_addr 0x{pa:x} + size 0x{:x} overflows the physical address space", mr.size),
                ),
                Some(end) => {
                    for (other, s, e) in &phys {
                        if pa < *e && *s < end {
                            v.at(l, c, MR, format!(
                                "physical range [0x{pa:x}..0x{end:x}) of '{}' overlaps '{}' [0x{s:x}..0x{e:x}) (line {})",
                                mr.name, other.name, other.line));
                        }
                    }
                    phys.push((mr, pa, end));
                }
            }
        }
    }

    // --- ids: irqs and channel ends share each PD's id space ----------------
    let pd_known = |n: &str| names.contains_key(n);
    let mut ids: HashMap<(&str, u8), (&'static str, u32)> = HashMap::new();
    let mut irq_nums: HashMap<u64, (&str, u32)> = HashMap::new();
    for r in &pds {
        let pd = r.pd;
        for irq in &pd.irqs {
            if u64::from(irq.id) >= MAX_ID_EXCLUSIVE {
                v.at(irq.line, irq.column, "irq", msg_id_range(irq.id.into()));
            } else if let Some((what, line)) = ids.get(&(pd.name.as_str(), irq.id)) {
                v.at(
                    irq.line,
                    irq.column,
                    "irq",
                    format!(
                        "id {} is already used in protection domain '{}' by the {what} on line {line}",
                        irq.id, pd.name
                    ),
                );
            } else {
                ids.insert((&pd.name, irq.id), ("irq", irq.line));
            }
            if let Some((owner, line)) = irq_nums.get(&irq.irq) {
                v.at(
                    irq.line,
                    irq.column,
                    "irq",
                    format!("irq {} is already used by protection domain '{owner}' (line {line})", irq.irq),
                );
            } else {
                irq_nums.insert(irq.irq, (&pd.name, irq.line));
            }
        }
    }

    // --- channels -----------------------------------------------------------
    for ch in &sd.channels {
        for end in &ch.ends {
            let known = pd_known(&end.pd);
            if !known && !taint.pds.contains(&end.pd) {
                v.at(end.line, end.column, "end", format!("channel end names unknown protection domain '{}'", end.pd));
            }
            if u64::from(end.id) >= MAX_ID_EXCLUSIVE {
                v.at(end.line, end.column, "end", msg_id_range(end.id.into()));
            } else if known {
                if let Some((what, line)) = ids.get(&(end.pd.as_str(), end.id)) {
                    v.at(
                        end.line,
                        end.column,
                        "end",
                        format!(
                            "id {} is already used in protection domain '{}' by the {what} on line {line}",
                            end.id, end.pd
                        ),
                    );
                } else {
                    ids.insert((&end.pd, end.id), ("channel", end.line));
                }
            }
        }
        let [a, b] = &ch.ends;
        if a.pp && b.pp {
            v.at(
                ch.line,
                ch.column,
                "channel",
                "both ends have pp=\"true\": protected procedure calls go one way only",
            );
            continue;
        }
        for (caller, callee) in [(a, b), (b, a)] {
            if !caller.pp || taint.pds.contains(&caller.pd) || taint.pds.contains(&callee.pd) {
                continue;
            }
            if let (Some(from), Some(to)) = (sd.pd(&caller.pd), sd.pd(&callee.pd))
                && from.priority >= to.priority
            {
                v.at(
                    caller.line,
                    caller.column,
                    "end",
                    format!(
                        "'{}' (priority {}) may not make protected procedure calls to '{}' (priority {}): \
                         the callee's priority must be strictly higher",
                        from.name, from.priority, to.name, to.priority
                    ),
                );
            }
        }
    }

    // --- maps and setvars, per PD -------------------------------------------
    for r in &pds {
        let pd = r.pd;
        let stack_bottom = USER_TOP.saturating_sub(pd.stack_size);
        let mut placed: Vec<(&Map, u64, u64)> = Vec::new();
        for map in &pd.maps {
            let (l, c) = (map.line, map.column);
            if map.perms == Perms::default() {
                v.at(l, c, "map", "perms must not be empty");
            } else if map.perms == (Perms { read: false, write: true, execute: false }) {
                v.at(l, c, "map", "perms 'w': write-only mappings are not allowed");
            }
            let Some(mr) = sd.region(&map.mr) else {
                if !taint.mrs.contains(&map.mr) {
                    v.at(l, c, "map", format!("map names unknown memory region '{}'", map.mr));
                }
                continue;
            };
            if PAGE_SIZES.contains(&mr.page_size) && map.vaddr % mr.page_size != 0 {
                v.at(
                    l,
                    c,
                    "map",
                    format!("vaddr 0x{:x} is not aligned to the region's page size 0x{:x}", map.vaddr, mr.page_size),
                );
            }
            let Some(end) = map.vaddr.checked_add(mr.size) else {
                v.at(
                    l,
                    c,
                    "map",
                    format!(
                        "map of '{}' at vaddr 0x{:x} with size 0x{:x} wraps around the address space",
                        map.mr, map.vaddr, mr.size
                    ),
                );
                continue;
            };
            if end > USER_TOP {
                v.at(l, c, "map", format!(
                    "map of '{}' [0x{:x}..0x{end:x}) extends beyond the user address space, which ends at 0x{USER_TOP:x}",
                    map.mr, map.vaddr));
            } else if end > stack_bottom {
                v.at(l, c, "map", format!(
                    "map of '{}' [0x{:x}..0x{end:x}) overlaps the stack [0x{stack_bottom:x}..0x{USER_TOP:x}) of protection domain '{}'",
                    map.mr, map.vaddr, pd.name));
            }
            for (other, s, e) in &placed {
                if map.vaddr < *e && *s < end {
                    v.at(l, c, "map", format!(
                        "map of '{}' [0x{:x}..0x{end:x}) overlaps map of '{}' [0x{s:x}..0x{e:x}) on line {} in protection domain '{}'",
                        map.mr, map.vaddr, other.mr, other.line, pd.name));
                }
            }
            placed.push((map, map.vaddr, end));
        }

        // Setvar symbols: from map attributes and <setvar> elements, in document order.
        let mut syms: Vec<(&str, u32, u32, &str)> = Vec::new();
        for map in &pd.maps {
            for s in [&map.setvar_vaddr, &map.setvar_size].into_iter().flatten() {
                syms.push((s, map.line, map.column, "map"));
            }
        }
        for sv in &pd.setvars {
            syms.push((&sv.symbol, sv.line, sv.column, "setvar"));
            if sd.region(&sv.region_paddr).is_none() && !taint.mrs.contains(&sv.region_paddr) {
                v.at(
                    sv.line,
                    sv.column,
                    "setvar",
                    format!("setvar region_paddr names unknown memory region '{}'", sv.region_paddr),
                );
            }
        }
        syms.sort_by_key(|s| (s.1, s.2));
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (sym, l, c, el) in syms {
            if let Some(first) = seen.get(sym) {
                v.at(
                    l,
                    c,
                    el,
                    format!("setvar symbol '{sym}' is already set on line {first} in protection domain '{}'", pd.name),
                );
            } else {
                seen.insert(sym, l);
            }
        }
    }

    v.errors
}
