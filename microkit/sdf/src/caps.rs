//! The capability report: a least-privilege audit of a system, for humans.
//!
//! For every protection domain (children indented under their parent): its
//! scheduling, image and place in the tree, then every right it holds — each map
//! (region, virtual range, perms, caching, size, fixed physical address), each
//! channel with the directions it may be used in (`notify →`, `ppcall →` are what
//! this PD may do to the peer; `← notify`, `← ppcall` what the peer may do to it),
//! its IRQs and its children. A last section lists every memory region with the
//! PDs that map it, so shared memory is visible at a glance. If the system has a
//! reincarnation server (`rs`), a section lists the PDs with admin rights over it
//! (an admin channel, see [`crate::codegen::admin_channel`]).

use std::fmt::Write as _;

use crate::model::*;

const LABEL: usize = 10;

/// Render the capability report of `sd`.
pub fn report(sd: &SystemDescription) -> String {
    let pds = sd.all_pds();
    let n_irqs: usize = pds.iter().map(|r| r.pd.irqs.len()).sum();
    let mut out = String::new();
    let _ = writeln!(out, "Capabilities granted by {}", sd.file.display());
    let _ = writeln!(
        out,
        "{} protection domain{}, {} memory region{}, {} channel{}, {} IRQ{}",
        pds.len(),
        plural(pds.len()),
        sd.memory_regions.len(),
        plural(sd.memory_regions.len()),
        sd.channels.len(),
        plural(sd.channels.len()),
        n_irqs,
        plural(n_irqs)
    );
    for r in &pds {
        out.push('\n');
        pd_block(sd, r, &mut out);
    }

    out.push_str("\nmemory regions\n");
    let mut rows = Vec::new();
    for mr in &sd.memory_regions {
        let mut users = Vec::new();
        for r in &pds {
            for m in r.pd.maps.iter().filter(|m| m.mr == mr.name) {
                let cache = if m.cached { "" } else { ", uncached" };
                users.push(format!("{} ({}{})", r.pd.name, m.perms, cache));
            }
        }
        rows.push(vec![
            mr.name.clone(),
            format!("size 0x{:x}", mr.size),
            format!("page 0x{:x}", mr.page_size),
            mr.phys_addr.map(|p| format!("phys 0x{p:x}")).unwrap_or_default(),
            if users.is_empty() { "not mapped".to_string() } else { format!("mapped by {}", users.join(", ")) },
        ]);
    }
    if rows.is_empty() {
        out.push_str("  -\n");
    }
    for line in table(&rows) {
        let _ = writeln!(out, "  {line}");
    }
    admin_section(sd, &mut out);
    out
}

/// Who may use RS's admin interface.
fn admin_section(sd: &SystemDescription, out: &mut String) {
    const RS: &str = "rs";
    if sd.pd(RS).is_none() {
        return;
    }
    let _ = writeln!(out, "\nadmin rights over {RS} (status, restart, stop, start, inject, crash records)");
    let admins: Vec<Vec<String>> = sd
        .all_pds()
        .iter()
        .filter_map(|r| crate::codegen::admin_channel(sd, &r.pd.name, RS).map(|c| (r.pd.name.clone(), c)))
        .map(|(name, c)| vec![name, format!("channel id {} to {RS} (id {})", c.id, c.peer_id)])
        .collect();
    if admins.is_empty() {
        let _ = writeln!(out, "  - (no PD has an admin channel, id {}, to {RS})", crate::codegen::ADMIN_ID);
    }
    for line in table(&admins) {
        let _ = writeln!(out, "  {line}");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn pd_block(sd: &SystemDescription, r: &PdRef<'_>, out: &mut String) {
    let pd = r.pd;
    let indent = "    ".repeat(r.depth);
    let field = |out: &mut String, label: &str, lines: Vec<String>| {
        if lines.is_empty() {
            let _ = writeln!(out, "{indent}  {label:<LABEL$}-");
        }
        for (i, l) in lines.iter().enumerate() {
            let shown = if i == 0 { label } else { "" };
            let _ = writeln!(out, "{indent}  {shown:<LABEL$}{l}");
        }
    };
    let _ = writeln!(out, "{indent}{}", pd.name);
    field(out, "image", vec![pd.program_image.clone()]);
    field(
        out,
        "sched",
        vec![format!(
            "priority {}, {}, budget {} µs / period {} µs",
            pd.priority,
            if pd.passive { "passive" } else { "active" },
            pd.budget,
            pd.period
        )],
    );
    field(out, "stack", vec![format!("0x{:x}", pd.stack_size)]);
    let parent = match (r.parent, pd.id) {
        (Some(p), Some(id)) => format!("{} (child id {id})", p.name),
        (Some(p), None) => p.name.clone(),
        (None, _) => "- (top level)".to_string(),
    };
    field(out, "parent", vec![parent]);

    let maps: Vec<Vec<String>> = pd
        .maps
        .iter()
        .map(|m| {
            let mr = sd.region(&m.mr);
            let size = mr.map(|r| r.size).unwrap_or(0);
            vec![
                m.mr.clone(),
                format!("0x{:x}..0x{:x}", m.vaddr, m.vaddr.saturating_add(size)),
                m.perms.to_string(),
                if m.cached { "cached" } else { "uncached" }.to_string(),
                format!("size 0x{size:x}"),
                mr.and_then(|r| r.phys_addr).map(|p| format!("phys 0x{p:x}")).unwrap_or_default(),
            ]
        })
        .collect();
    field(out, "maps", table(&maps));

    let chans: Vec<Vec<String>> = sd
        .channels_of(&pd.name)
        .iter()
        .map(|c| {
            let mut row = vec![
                format!("id {}", c.id),
                format!("{} (id {})", c.peer, c.peer_id),
                if c.can_notify { "notify →" } else { "" }.to_string(),
                if c.can_ppcall { "ppcall →" } else { "" }.to_string(),
                if c.peer_can_notify { "← notify" } else { "" }.to_string(),
                if c.peer_can_ppcall { "← ppcall" } else { "" }.to_string(),
            ];
            if !(c.can_notify || c.can_ppcall || c.peer_can_notify || c.peer_can_ppcall) {
                row.push("(no rights either way)".to_string());
            }
            if crate::codegen::admin_channel(sd, &pd.name, &c.peer).is_some_and(|a| a.id == c.id) && c.peer == "rs" {
                row.push("(admin)".to_string());
            }
            row
        })
        .collect();
    field(out, "channels", table(&chans));

    let irqs: Vec<Vec<String>> =
        pd.irqs.iter().map(|q| vec![format!("id {}", q.id), format!("irq {}", q.irq), q.trigger.to_string()]).collect();
    field(out, "irqs", table(&irqs));

    let children: Vec<Vec<String>> = pd
        .children
        .iter()
        .map(|c| vec![c.id.map(|id| format!("id {id}")).unwrap_or_else(|| "id ?".to_string()), c.name.clone()])
        .collect();
    field(out, "children", table(&children));

    let mut setvars: Vec<String> = Vec::new();
    for m in &pd.maps {
        if let Some(s) = &m.setvar_vaddr {
            setvars.push(format!("{s} = vaddr of {}", m.mr));
        }
        if let Some(s) = &m.setvar_size {
            setvars.push(format!("{s} = size of {}", m.mr));
        }
    }
    for s in &pd.setvars {
        setvars.push(format!("{} = paddr of {}", s.symbol, s.region_paddr));
    }
    if !setvars.is_empty() {
        field(out, "setvars", setvars);
    }
}

/// Rows of cells as aligned lines (two spaces between columns, no trailing blanks).
fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0)).collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                if w == 0 {
                    continue;
                }
                if !line.is_empty() {
                    line.push_str("  ");
                }
                line.push_str(cell);
                for _ in cell.chars().count()..w {
                    line.push(' ');
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn report_of_rich_fixture() {
        let text = include_str!("../tests/fixtures/rich.xml");
        let sd = SystemDescription::parse(Path::new("system.xml"), text).unwrap();
        let r = report(&sd);
        assert_eq!(r, EXPECTED, "actual report:\n{r}");
    }

    const EXPECTED: &str = "\
Capabilities granted by system.xml
6 protection domains, 4 memory regions, 3 channels, 3 IRQs

rs
  image     rs.elf
  sched     priority 250, active, budget 2000 µs / period 4000 µs
  stack     0x4000
  parent    - (top level)
  maps      shared_buf  0x4000000..0x4001000  r  cached  size 0x1000
  channels  id 0  crashy (id 7)  ← notify  ← ppcall
  irqs      -
  children  id 0  crashy
            id 1  worker2
  setvars   shared_vaddr = vaddr of shared_buf

    crashy
      image     crashy.elf
      sched     priority 100, passive, budget 1000 µs / period 1000 µs
      stack     0x1000
      parent    rs (child id 0)
      maps      big  0x20000000..0x20400000  rw  uncached  size 0x400000
      channels  id 7  rs (id 0)  notify →  ppcall →
      irqs      -
      children  id 3  grandchild
      setvars   big_size = size of big

        grandchild
          image     worker.elf
          sched     priority 50, active, budget 1000 µs / period 1000 µs
          stack     0x1000
          parent    crashy (child id 3)
          maps      -
          channels  -
          irqs      -
          children  -

    worker2
      image     worker.elf
      sched     priority 60, active, budget 1000 µs / period 1000 µs
      stack     0x1000
      parent    rs (child id 1)
      maps      -
      channels  -
      irqs      -
      children  -

ping
  image     ping.elf
  sched     priority 1, active, budget 1000 µs / period 1000 µs
  stack     0x1000
  parent    - (top level)
  maps      shared_buf  0x4000000..0x4001000  rw  cached    size 0x1000
            uart        0x5000000..0x5001000  rw  uncached  size 0x1000  phys 0x9000000
  channels  id 1  pong (id 0)  notify →  ppcall →  ← notify
            id 3  pong (id 4)                      ← notify
  irqs      id 2  irq 79  level
  children  -
  setvars   buffer_vaddr = vaddr of shared_buf
            buffer_size = size of shared_buf
            dma_paddr = paddr of dma

pong
  image     pong.elf
  sched     priority 2, active, budget 1000 µs / period 1000 µs
  stack     0x1000
  parent    - (top level)
  maps      dma  0x6000000..0x6002000  rx   cached  size 0x2000  phys 0x60000000
            dma  0x7000000..0x7002000  rwx  cached  size 0x2000  phys 0x60000000
  channels  id 0  ping (id 1)  notify →  ← notify  ← ppcall
            id 4  ping (id 3)  notify →
  irqs      id 5  irq 80  edge
            id 6  irq 81  level
  children  -

memory regions
  shared_buf  size 0x1000    page 0x1000                     mapped by rs (r), ping (rw)
  uart        size 0x1000    page 0x1000    phys 0x9000000   mapped by ping (rw, uncached)
  big         size 0x400000  page 0x200000                   mapped by crashy (rw, uncached)
  dma         size 0x2000    page 0x1000    phys 0x60000000  mapped by pong (rx), pong (rwx)

admin rights over rs (status, restart, stop, start, inject, crash records)
  - (no PD has an admin channel, id 60, to rs)
";

    #[test]
    fn channel_without_rights_is_called_out() {
        let xml = r#"<system>
<protection_domain name="a"><program_image path="a.elf"/></protection_domain>
<protection_domain name="b"><program_image path="b.elf"/></protection_domain>
<channel><end pd="a" id="0" notify="false"/><end pd="b" id="0" notify="false"/></channel>
</system>"#;
        let sd = SystemDescription::parse(Path::new("s.xml"), xml).unwrap();
        let r = report(&sd);
        assert!(r.contains("  channels  id 0  b (id 0)  (no rights either way)\n"), "{r}");
        assert!(r.contains("memory regions\n  -\n"), "{r}");
    }

    #[test]
    fn admin_channels_are_listed() {
        let xml = r#"<system>
<protection_domain name="rs" priority="200"><program_image path="rs.elf"/></protection_domain>
<protection_domain name="shell" priority="100"><program_image path="shell.elf"/></protection_domain>
<protection_domain name="app" priority="100"><program_image path="app.elf"/></protection_domain>
<channel><end pd="shell" id="60" pp="true"/><end pd="rs" id="30"/></channel>
<channel><end pd="app" id="60"/><end pd="rs" id="31"/></channel>
</system>"#;
        let sd = SystemDescription::parse(Path::new("s.xml"), xml).unwrap();
        let r = report(&sd);
        assert!(r.contains("admin rights over rs (status, restart, stop, start, inject, crash records)\n  shell  channel id 60 to rs (id 30)\n"), "{r}");
        assert!(!r.contains("  app  channel"), "app may not call: no admin rights\n{r}");
        assert!(r.contains("id 60  rs (id 30)  notify →  ppcall →  ← notify  (admin)"), "{r}");
    }
}
