//! Microkit's rules for a system description (board `qemu_virt_aarch64`).
//!
//! The limits follow the Microkit 2.x tool (`tool/microkit/src/sdf.rs`,
//! `sel4.rs`): ids < 62, priority <= 254, at most 63 PDs, names of at most 64
//! bytes, page sizes 0x1000 and 0x200000, stack sizes 0x1000..=0x1000000 in whole
//! pages, PPC only to strictly higher priority, and the PD stack at the very top
//! of the user address space ([`USER_TOP`]) so that maps must end below it.

use std::collections::HashMap;

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

const PD: &str = "protection_domain";
const MR: &str = "memory_region";

/// The rules, in the order their errors are reported. Each rule is one method of
/// [`Check`], named for the rule; the loops here only walk the model.
pub(crate) fn validate_with(sd: &SystemDescription, taint: &Taint) -> Vec<Error> {
    let mut v = Check::new(sd, taint);
    let pds = sd.all_pds();

    // Protection domains.
    v.system_has_a_protection_domain(&pds);
    v.at_most_63_protection_domains(&pds);
    for r in &pds {
        v.pd_names_are_unique(r.pd);
        v.pd_names_are_at_most_64_bytes(r.pd);
        v.priority_at_most_254(r.pd);
        v.budget_at_most_period(r.pd);
        v.stack_size_in_range_in_whole_pages(r.pd);
        v.child_pds_have_an_id(r);
        v.top_level_pds_have_no_id(r);
        v.child_ids_below_62(r);
        v.child_ids_are_unique_per_parent(r.pd);
        v.pd_has_a_program_image(r.pd);
    }

    // Memory regions.
    for mr in &sd.memory_regions {
        v.memory_region_names_are_unique(mr);
        v.page_size_is_4k_or_2m(mr);
        v.region_size_is_whole_pages(mr);
        v.phys_addr_is_page_aligned(mr);
        if let Some(end) = v.physical_range_does_not_overflow(mr) {
            v.physical_ranges_do_not_overlap(mr, end);
        }
    }

    // Ids: irqs and channel ends share each PD's id space.
    for r in &pds {
        for irq in &r.pd.irqs {
            if v.ids_below_62(irq.id, irq.line, irq.column, "irq") {
                v.ids_are_unique_per_pd(&r.pd.name, irq.id, "irq", irq.line, irq.column, "irq");
            }
            v.irq_numbers_are_unique(&r.pd.name, irq);
        }
    }

    // Channels.
    for ch in &sd.channels {
        for end in &ch.ends {
            let known = v.channel_ends_name_known_pds(end);
            if v.ids_below_62(end.id, end.line, end.column, "end") && known {
                v.ids_are_unique_per_pd(&end.pd, end.id, "channel", end.line, end.column, "end");
            }
        }
        if v.ppc_goes_one_way(ch) {
            v.ppc_goes_to_higher_priority(ch);
        }
    }

    // Maps and setvars, per PD.
    for r in &pds {
        let mut placed = Vec::new();
        for map in &r.pd.maps {
            v.map_perms_are_not_empty_or_write_only(map);
            let Some(mr) = v.maps_name_known_regions(map) else { continue };
            v.map_vaddr_is_page_aligned(map, mr);
            let Some(end) = v.maps_do_not_wrap(map, mr) else { continue };
            v.maps_end_below_the_stack(r.pd, map, end);
            v.maps_do_not_overlap(r.pd, map, end, &mut placed);
        }
        v.setvar_regions_are_known(r.pd);
        v.setvar_symbols_are_unique(r.pd);
    }

    v.errors
}

/// A map placed in a PD's address space: the map and its range `[start, end)`.
type Placed<'a> = (&'a Map, u64, u64);

/// One run of the rules over one model: the errors so far and what the rules
/// that look across elements have seen.
struct Check<'a> {
    sd: &'a SystemDescription,
    /// Names and regions the parser already reported (their elements were
    /// dropped); rules that refer to them stay quiet.
    taint: &'a Taint,
    errors: Vec<Error>,
    /// PD name → line of its first definition.
    pd_names: HashMap<&'a str, u32>,
    /// Memory region name → line of its first definition.
    mr_names: HashMap<&'a str, u32>,
    /// Regions with a physical address and their range `[start, end)`.
    phys: Vec<(&'a MemoryRegion, u64, u64)>,
    /// (PD, id) → what uses it (`irq` or `channel`) and on which line.
    ids: HashMap<(&'a str, u8), (&'static str, u32)>,
    /// IRQ number → the PD that has it and the line.
    irq_numbers: HashMap<u64, (&'a str, u32)>,
}

impl<'a> Check<'a> {
    fn new(sd: &'a SystemDescription, taint: &'a Taint) -> Self {
        Check {
            sd,
            taint,
            errors: Vec::new(),
            pd_names: HashMap::new(),
            mr_names: HashMap::new(),
            phys: Vec::new(),
            ids: HashMap::new(),
            irq_numbers: HashMap::new(),
        }
    }

    fn at(&mut self, line: u32, column: u32, element: &str, msg: impl Into<String>) {
        self.errors.push(Error::new(&self.sd.file, line, column, element, msg));
    }

    // --- protection domains -------------------------------------------------

    /// A system has at least one protection domain.
    fn system_has_a_protection_domain(&mut self, pds: &[PdRef<'a>]) {
        if pds.is_empty() && self.taint.pds.is_empty() {
            self.at(0, 0, "system", "the system must contain at least one protection domain");
        }
    }

    /// At most [`MAX_PDS`] (63) protection domains, children included.
    fn at_most_63_protection_domains(&mut self, pds: &[PdRef<'a>]) {
        if let Some(r) = pds.get(MAX_PDS) {
            self.at(
                r.pd.line,
                r.pd.column,
                PD,
                format!("too many protection domains: {} in total, Microkit allows at most {MAX_PDS}", pds.len()),
            );
        }
    }

    /// PD names are unique across the whole system, children included.
    fn pd_names_are_unique(&mut self, pd: &'a ProtectionDomain) {
        if let Some(first) = self.pd_names.get(pd.name.as_str()) {
            let msg = format!("duplicate protection domain name '{}' (first defined on line {first})", pd.name);
            self.at(pd.line, pd.column, PD, msg);
        } else {
            self.pd_names.insert(&pd.name, pd.line);
        }
    }

    /// A PD name fits `microkit_name`: at most [`MAX_NAME_LEN`] (64) bytes.
    fn pd_names_are_at_most_64_bytes(&mut self, pd: &ProtectionDomain) {
        if pd.name.len() > MAX_NAME_LEN {
            self.at(
                pd.line,
                pd.column,
                PD,
                format!(
                    "protection domain name '{}' is {} bytes long; the maximum is {MAX_NAME_LEN}",
                    pd.name,
                    pd.name.len()
                ),
            );
        }
    }

    /// A priority is at most [`MAX_PRIORITY`] (254).
    fn priority_at_most_254(&mut self, pd: &ProtectionDomain) {
        if u64::from(pd.priority) > MAX_PRIORITY {
            self.at(pd.line, pd.column, PD, msg_priority_range(pd.priority.into()));
        }
    }

    /// A PD's scheduling budget is at most its period.
    fn budget_at_most_period(&mut self, pd: &ProtectionDomain) {
        if pd.budget > pd.period {
            let msg = format!("budget ({}) must be less than or equal to period ({})", pd.budget, pd.period);
            self.at(pd.line, pd.column, PD, msg);
        }
    }

    /// A stack is [`MIN_STACK_SIZE`] to [`MAX_STACK_SIZE`] bytes, in whole pages.
    fn stack_size_in_range_in_whole_pages(&mut self, pd: &ProtectionDomain) {
        let (l, c) = (pd.line, pd.column);
        if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&pd.stack_size) {
            self.at(l, c, PD, format!(
                "stack_size 0x{:x} is out of range: it must be between 0x{MIN_STACK_SIZE:x} and 0x{MAX_STACK_SIZE:x}",
                pd.stack_size));
        } else if !pd.stack_size.is_multiple_of(PAGE_SIZES[0]) {
            self.at(
                l,
                c,
                PD,
                format!("stack_size 0x{:x} is not a multiple of the page size 0x{:x}", pd.stack_size, PAGE_SIZES[0]),
            );
        }
    }

    /// A child PD has an `id` (its parent names it by that id).
    fn child_pds_have_an_id(&mut self, r: &PdRef<'a>) {
        if let (Some(parent), None) = (r.parent, r.pd.id) {
            let msg = format!("child protection domain '{}' of '{}' has no 'id' attribute", r.pd.name, parent.name);
            self.at(r.pd.line, r.pd.column, PD, msg);
        }
    }

    /// A top-level PD has no `id` (it has no parent to name it).
    fn top_level_pds_have_no_id(&mut self, r: &PdRef<'a>) {
        if let (None, Some(_)) = (r.parent, r.pd.id) {
            let msg = format!("top-level protection domain '{}' must not have an 'id'", r.pd.name);
            self.at(r.pd.line, r.pd.column, PD, msg);
        }
    }

    /// A child id is below [`MAX_ID_EXCLUSIVE`] (62).
    fn child_ids_below_62(&mut self, r: &PdRef<'a>) {
        if let (Some(_), Some(id)) = (r.parent, r.pd.id)
            && u64::from(id) >= MAX_ID_EXCLUSIVE
        {
            self.at(r.pd.line, r.pd.column, PD, msg_id_range(id.into()));
        }
    }

    /// The children of one parent have distinct ids (each parent has its own
    /// id space for children).
    fn child_ids_are_unique_per_parent(&mut self, pd: &ProtectionDomain) {
        let mut child_ids: HashMap<u8, &ProtectionDomain> = HashMap::new();
        for ch in &pd.children {
            if let Some(id) = ch.id {
                if let Some(first) = child_ids.get(&id) {
                    let msg = format!(
                        "duplicate child id {id} in protection domain '{}': already used by '{}' (line {})",
                        pd.name, first.name, first.line
                    );
                    self.at(ch.line, ch.column, PD, msg);
                } else {
                    child_ids.insert(id, ch);
                }
            }
        }
    }

    /// A PD has a program image.
    fn pd_has_a_program_image(&mut self, pd: &ProtectionDomain) {
        let (l, c) = (pd.line, pd.column);
        if pd.program_image.is_empty() && !self.taint.pds.contains(&pd.name) {
            // The parser reports a missing <program_image>; this catches built models.
            if !self.errors.iter().any(|e| e.line == l && e.message.contains("program_image")) {
                self.at(l, c, PD, format!("protection domain '{}' has no program image", pd.name));
            }
        }
    }

    // --- memory regions -----------------------------------------------------

    /// Memory region names are unique.
    fn memory_region_names_are_unique(&mut self, mr: &'a MemoryRegion) {
        if let Some(first) = self.mr_names.get(mr.name.as_str()) {
            let msg = format!("duplicate memory region name '{}' (first defined on line {first})", mr.name);
            self.at(mr.line, mr.column, MR, msg);
        } else {
            self.mr_names.insert(&mr.name, mr.line);
        }
    }

    /// A region's page size is one of [`PAGE_SIZES`] (4 KiB or 2 MiB).
    fn page_size_is_4k_or_2m(&mut self, mr: &MemoryRegion) {
        if !PAGE_SIZES.contains(&mr.page_size) {
            let msg = format!("page_size 0x{:x} is not supported: it must be 0x1000 or 0x200000", mr.page_size);
            self.at(mr.line, mr.column, MR, msg);
        }
    }

    /// A region's size is not zero and a whole number of its pages.
    fn region_size_is_whole_pages(&mut self, mr: &MemoryRegion) {
        let page_ok = PAGE_SIZES.contains(&mr.page_size);
        if mr.size == 0 {
            self.at(mr.line, mr.column, MR, "size must not be zero");
        } else if page_ok && !mr.size.is_multiple_of(mr.page_size) {
            let msg = format!("size 0x{:x} is not a multiple of the page size 0x{:x}", mr.size, mr.page_size);
            self.at(mr.line, mr.column, MR, msg);
        }
    }

    /// A region's physical address is aligned to its page size.
    fn phys_addr_is_page_aligned(&mut self, mr: &MemoryRegion) {
        if let Some(pa) = mr.phys_addr
            && PAGE_SIZES.contains(&mr.page_size)
            && !pa.is_multiple_of(mr.page_size)
        {
            let msg = format!("phys_addr 0x{pa:x} is not aligned to the page size 0x{:x}", mr.page_size);
            self.at(mr.line, mr.column, MR, msg);
        }
    }

    /// A region's physical range ends inside the physical address space; its
    /// end, if it has a physical address and the range fits.
    fn physical_range_does_not_overflow(&mut self, mr: &MemoryRegion) -> Option<u64> {
        let pa = mr.phys_addr?;
        let end = pa.checked_add(mr.size);
        if end.is_none() {
            let msg = format!("phys_addr 0x{pa:x} + size 0x{:x} overflows the physical address space", mr.size);
            self.at(mr.line, mr.column, MR, msg);
        }
        end
    }

    /// Regions with physical addresses do not overlap.
    fn physical_ranges_do_not_overlap(&mut self, mr: &'a MemoryRegion, end: u64) {
        let Some(pa) = mr.phys_addr else { return };
        let overlaps: Vec<String> = self
            .phys
            .iter()
            .filter(|(_, s, e)| pa < *e && *s < end)
            .map(|(other, s, e)| {
                format!(
                    "physical range [0x{pa:x}..0x{end:x}) of '{}' overlaps '{}' [0x{s:x}..0x{e:x}) (line {})",
                    mr.name, other.name, other.line
                )
            })
            .collect();
        for msg in overlaps {
            self.at(mr.line, mr.column, MR, msg);
        }
        self.phys.push((mr, pa, end));
    }

    // --- ids: irqs and channel ends share each PD's id space ----------------

    /// Channel and IRQ ids are below [`MAX_ID_EXCLUSIVE`] (62, the bits of the
    /// badge); true if this one is.
    fn ids_below_62(&mut self, id: u8, line: u32, column: u32, element: &str) -> bool {
        let ok = u64::from(id) < MAX_ID_EXCLUSIVE;
        if !ok {
            self.at(line, column, element, msg_id_range(id.into()));
        }
        ok
    }

    /// Within one PD, IRQs and channel ends have distinct ids. `what` is the
    /// use of this id (`irq` or `channel`), named in later errors.
    fn ids_are_unique_per_pd(
        &mut self,
        pd: &'a str,
        id: u8,
        what: &'static str,
        line: u32,
        column: u32,
        element: &str,
    ) {
        if let Some((first, first_line)) = self.ids.get(&(pd, id)) {
            let msg =
                format!("id {id} is already used in protection domain '{pd}' by the {first} on line {first_line}");
            self.at(line, column, element, msg);
        } else {
            self.ids.insert((pd, id), (what, line));
        }
    }

    /// An IRQ number belongs to one PD only.
    fn irq_numbers_are_unique(&mut self, pd: &'a str, irq: &Irq) {
        if let Some((owner, line)) = self.irq_numbers.get(&irq.irq) {
            let msg = format!("irq {} is already used by protection domain '{owner}' (line {line})", irq.irq);
            self.at(irq.line, irq.column, "irq", msg);
        } else {
            self.irq_numbers.insert(irq.irq, (pd, irq.line));
        }
    }

    // --- channels -----------------------------------------------------------

    /// A channel end names a PD of the system; true if it does.
    fn channel_ends_name_known_pds(&mut self, end: &End) -> bool {
        let known = self.pd_names.contains_key(end.pd.as_str());
        if !known && !self.taint.pds.contains(&end.pd) {
            let msg = format!("channel end names unknown protection domain '{}'", end.pd);
            self.at(end.line, end.column, "end", msg);
        }
        known
    }

    /// At most one end of a channel may make protected procedure calls; true if
    /// the channel keeps to that.
    fn ppc_goes_one_way(&mut self, ch: &Channel) -> bool {
        let [a, b] = &ch.ends;
        if a.pp && b.pp {
            let msg = "both ends have pp=\"true\": protected procedure calls go one way only";
            self.at(ch.line, ch.column, "channel", msg);
            return false;
        }
        true
    }

    /// A protected procedure call goes to a PD of strictly higher priority.
    fn ppc_goes_to_higher_priority(&mut self, ch: &Channel) {
        let [a, b] = &ch.ends;
        for (caller, callee) in [(a, b), (b, a)] {
            if !caller.pp || self.taint.pds.contains(&caller.pd) || self.taint.pds.contains(&callee.pd) {
                continue;
            }
            if let (Some(from), Some(to)) = (self.sd.pd(&caller.pd), self.sd.pd(&callee.pd))
                && from.priority >= to.priority
            {
                self.at(
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

    /// A map's perms are not empty and not write-only.
    fn map_perms_are_not_empty_or_write_only(&mut self, map: &Map) {
        if map.perms == Perms::default() {
            self.at(map.line, map.column, "map", "perms must not be empty");
        } else if map.perms == (Perms { read: false, write: true, execute: false }) {
            self.at(map.line, map.column, "map", "perms 'w': write-only mappings are not allowed");
        }
    }

    /// A map names a memory region of the system; the region, if it does.
    fn maps_name_known_regions(&mut self, map: &Map) -> Option<&'a MemoryRegion> {
        let mr = self.sd.region(&map.mr);
        if mr.is_none() && !self.taint.mrs.contains(&map.mr) {
            self.at(map.line, map.column, "map", format!("map names unknown memory region '{}'", map.mr));
        }
        mr
    }

    /// A map's vaddr is aligned to its region's page size.
    fn map_vaddr_is_page_aligned(&mut self, map: &Map, mr: &MemoryRegion) {
        if PAGE_SIZES.contains(&mr.page_size) && !map.vaddr.is_multiple_of(mr.page_size) {
            let msg = format!("vaddr 0x{:x} is not aligned to the region's page size 0x{:x}", map.vaddr, mr.page_size);
            self.at(map.line, map.column, "map", msg);
        }
    }

    /// A map does not wrap around the address space; its end, if it does not.
    fn maps_do_not_wrap(&mut self, map: &Map, mr: &MemoryRegion) -> Option<u64> {
        let end = map.vaddr.checked_add(mr.size);
        if end.is_none() {
            let msg = format!(
                "map of '{}' at vaddr 0x{:x} with size 0x{:x} wraps around the address space",
                map.mr, map.vaddr, mr.size
            );
            self.at(map.line, map.column, "map", msg);
        }
        end
    }

    /// A map ends below the PD's stack, which sits at the top of the user
    /// address space ([`USER_TOP`]).
    fn maps_end_below_the_stack(&mut self, pd: &ProtectionDomain, map: &Map, end: u64) {
        let stack_bottom = USER_TOP.saturating_sub(pd.stack_size);
        let (l, c) = (map.line, map.column);
        if end > USER_TOP {
            self.at(l, c, "map", format!(
                "map of '{}' [0x{:x}..0x{end:x}) extends beyond the user address space, which ends at 0x{USER_TOP:x}",
                map.mr, map.vaddr));
        } else if end > stack_bottom {
            self.at(l, c, "map", format!(
                "map of '{}' [0x{:x}..0x{end:x}) overlaps the stack [0x{stack_bottom:x}..0x{USER_TOP:x}) of protection domain '{}'",
                map.mr, map.vaddr, pd.name));
        }
    }

    /// The maps of one PD do not overlap. `placed` holds the PD's maps so far.
    fn maps_do_not_overlap<'m>(&mut self, pd: &ProtectionDomain, map: &'m Map, end: u64, placed: &mut Vec<Placed<'m>>) {
        for (other, s, e) in placed.iter() {
            if map.vaddr < *e && *s < end {
                self.at(map.line, map.column, "map", format!(
                    "map of '{}' [0x{:x}..0x{end:x}) overlaps map of '{}' [0x{s:x}..0x{e:x}) on line {} in protection domain '{}'",
                    map.mr, map.vaddr, other.mr, other.line, pd.name));
            }
        }
        placed.push((map, map.vaddr, end));
    }

    /// A `<setvar>`'s `region_paddr` names a memory region of the system.
    fn setvar_regions_are_known(&mut self, pd: &ProtectionDomain) {
        for sv in &pd.setvars {
            if self.sd.region(&sv.region_paddr).is_none() && !self.taint.mrs.contains(&sv.region_paddr) {
                let msg = format!("setvar region_paddr names unknown memory region '{}'", sv.region_paddr);
                self.at(sv.line, sv.column, "setvar", msg);
            }
        }
    }

    /// Within one PD, each setvar symbol (from map attributes and `<setvar>`
    /// elements) is set once; the second, in document order, is the error.
    fn setvar_symbols_are_unique(&mut self, pd: &ProtectionDomain) {
        let mut syms: Vec<(&str, u32, u32, &str)> = Vec::new();
        for map in &pd.maps {
            for s in [&map.setvar_vaddr, &map.setvar_size].into_iter().flatten() {
                syms.push((s, map.line, map.column, "map"));
            }
        }
        for sv in &pd.setvars {
            syms.push((&sv.symbol, sv.line, sv.column, "setvar"));
        }
        syms.sort_by_key(|s| (s.1, s.2));
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (sym, l, c, el) in syms {
            if let Some(first) = seen.get(sym) {
                let msg =
                    format!("setvar symbol '{sym}' is already set on line {first} in protection domain '{}'", pd.name);
                self.at(l, c, el, msg);
            } else {
                seen.insert(sym, l);
            }
        }
    }
}
