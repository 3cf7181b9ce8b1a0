//! The system as a picture: a Graphviz graph (`cargo xtask caps --dot FILE`,
//! `--svg FILE`), so nobody has to read the SDF by eye.
//!
//! - a PD is a box with its priority (and budget if it has one); a PD with
//!   children is a cluster that holds it and its children, nested as deep as
//!   they are;
//! - a channel is an arrow per right: `notify` thin (both ways: one arrow with
//!   two heads), `ppc` (protected procedure call) bold, towards the callee;
//!   supervision channels (id 61 on the child's side) dotted grey as
//!   `heartbeat`; an admin channel to `rs` (id 60) is labelled `admin ppc`;
//!   the ids at the ends are the arrow's tail and head labels;
//! - a memory region is a cylinder (size; physical address if fixed); a region
//!   a PD maps uncached at a fixed physical address is a device (a 3-D box).
//!   Each map is a dashed line from the PD, labelled with its perms;
//! - an IRQ is a diamond with its number, pointing at the PD that receives it.

use std::fmt::Write as _;

use crate::codegen::{ADMIN_ID, SUPERVISION_ID};
use crate::model::*;

/// The graph of `sd` in Graphviz's DOT language.
pub fn graph(sd: &SystemDescription) -> String {
    let mut out = String::new();
    let title = sd.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let _ = writeln!(out, "digraph system {{");
    let _ = writeln!(
        out,
        "  label={}; labelloc=t; fontname=\"Helvetica\"; rankdir=LR; compound=true; newrank=true;",
        quote(&title)
    );
    let _ = writeln!(out, "  node [fontname=\"Helvetica\", fontsize=11]; edge [fontname=\"Helvetica\", fontsize=9];");
    for pd in &sd.protection_domains {
        pd_cluster(pd, 1, &mut out);
    }
    // Memory regions and devices.
    for mr in &sd.memory_regions {
        let device = mr.phys_addr.is_some()
            && sd.all_pds().iter().any(|r| r.pd.maps.iter().any(|m| m.mr == mr.name && !m.cached));
        let mut label = format!("{}\\n{}", mr.name, size(mr.size));
        if let Some(p) = mr.phys_addr {
            let _ = write!(label, "\\nphys {p:#x}");
        }
        let (shape, fill) = if device { ("box3d", "#fde9c9") } else { ("cylinder", "#e8f0fe") };
        let _ = writeln!(
            out,
            "  {} [label=\"{label}\", shape={shape}, style=filled, fillcolor=\"{fill}\"];",
            id("mr", &mr.name)
        );
    }
    for r in sd.all_pds() {
        for m in &r.pd.maps {
            let cache = if m.cached { "" } else { " uncached" };
            let _ = writeln!(
                out,
                "  {} -> {} [style=dashed, arrowhead=none, color=\"#5b7db1\", label=\"{}{cache}\"];",
                id("pd", &r.pd.name),
                id("mr", &m.mr),
                m.perms
            );
        }
        for q in &r.pd.irqs {
            let irq = format!("irq_{}_{}", sanitize(&r.pd.name), q.id);
            let _ = writeln!(
                out,
                "  {irq} [label=\"IRQ {}\\n{}\", shape=diamond, style=filled, fillcolor=\"#f9d5d3\"];",
                q.irq, q.trigger
            );
            let _ = writeln!(out, "  {irq} -> {} [color=\"#c0392b\", headlabel=\"{}\"];", id("pd", &r.pd.name), q.id);
        }
    }
    // Channels.
    for ch in &sd.channels {
        let [a, b] = &ch.ends;
        let supervision = (b.id == SUPERVISION_ID || a.id == SUPERVISION_ID) && !a.pp && !b.pp;
        let (pa, pb) = (id("pd", &a.pd), id("pd", &b.pd));
        if supervision {
            let _ = writeln!(
                out,
                "  {pa} -> {pb} [dir=both, style=dotted, color=grey60, fontcolor=grey50, label=\"heartbeat\", taillabel=\"{}\", headlabel=\"{}\"];",
                a.id, b.id
            );
            continue;
        }
        match (a.notify, b.notify) {
            (true, true) => {
                let _ = writeln!(
                    out,
                    "  {pa} -> {pb} [dir=both, label=\"notify\", taillabel=\"{}\", headlabel=\"{}\"];",
                    a.id, b.id
                );
            }
            (true, false) => {
                let _ =
                    writeln!(out, "  {pa} -> {pb} [label=\"notify\", taillabel=\"{}\", headlabel=\"{}\"];", a.id, b.id);
            }
            (false, true) => {
                let _ =
                    writeln!(out, "  {pb} -> {pa} [label=\"notify\", taillabel=\"{}\", headlabel=\"{}\"];", b.id, a.id);
            }
            (false, false) => {}
        }
        for (from, to) in [(a, b), (b, a)] {
            if from.pp {
                let admin = to.pd == "rs" && from.id == ADMIN_ID;
                let _ = writeln!(
                    out,
                    "  {} -> {} [style=bold, color=\"#8e44ad\", fontcolor=\"#8e44ad\", label=\"{}\", taillabel=\"{}\", headlabel=\"{}\"];",
                    id("pd", &from.pd),
                    id("pd", &to.pd),
                    if admin { "admin ppc" } else { "ppc" },
                    from.id,
                    to.id
                );
            }
        }
    }
    out.push_str("}\n");
    out
}

fn pd_cluster(pd: &ProtectionDomain, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let mut label = format!("{}\\nprio {}", pd.name, pd.priority);
    if pd.budget != pd.period {
        let _ = write!(label, "\\nbudget {}/{} µs", pd.budget, pd.period);
    }
    if pd.passive {
        label.push_str("\\npassive");
    }
    let node = format!(
        "{} [label=\"{label}\", shape=box, style=\"rounded,filled\", fillcolor=\"#eaf7ea\"];",
        id("pd", &pd.name)
    );
    if pd.children.is_empty() {
        let _ = writeln!(out, "{indent}{node}");
        return;
    }
    let _ = writeln!(out, "{indent}subgraph {} {{", id("cluster", &pd.name));
    let _ = writeln!(out, "{indent}  label=\"{} and its children\"; style=\"rounded,dashed\"; color=grey50;", pd.name);
    let _ = writeln!(out, "{indent}  {node}");
    for child in &pd.children {
        pd_cluster(child, depth + 1, out);
    }
    let _ = writeln!(out, "{indent}}}");
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

fn id(kind: &str, name: &str) -> String {
    format!("{kind}_{}", sanitize(name))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn graph_of_rich_fixture() {
        let text = include_str!("../tests/fixtures/rich.xml");
        let sd = SystemDescription::parse(Path::new("system.xml"), text).unwrap();
        let g = graph(&sd);
        assert!(g.starts_with("digraph system {"), "{g}");
        assert!(g.ends_with("}\n"));
        // Nesting: rs's cluster holds crashy's, which holds grandchild.
        let rs = g.find("subgraph cluster_rs {").unwrap();
        let crashy = g.find("subgraph cluster_crashy {").unwrap();
        let grandchild = g.find("pd_grandchild [").unwrap();
        assert!(rs < crashy && crashy < grandchild, "{g}");
        // Maps with perms, devices, IRQs, both kinds of channel.
        assert!(
            g.contains("pd_ping -> mr_uart [style=dashed, arrowhead=none, color=\"#5b7db1\", label=\"rw uncached\"];"),
            "{g}"
        );
        assert!(g.contains("mr_uart [label=\"uart\\n4 KiB\\nphys 0x9000000\", shape=box3d"), "{g}");
        assert!(g.contains("mr_shared_buf [label=\"shared_buf\\n4 KiB\", shape=cylinder"), "{g}");
        assert!(g.contains("irq_ping_2 [label=\"IRQ 79\\nlevel\", shape=diamond"), "{g}");
        assert!(g.contains("irq_ping_2 -> pd_ping"), "{g}");
        assert!(g.contains("label=\"ppc\", taillabel=\"1\", headlabel=\"0\"];"), "{g}");
        assert!(g.contains("label=\"notify\""), "{g}");
        // Braces balance.
        assert_eq!(g.matches('{').count(), g.matches('}').count());
    }

    #[test]
    fn supervision_and_admin_channels_are_told_apart() {
        let xml = r#"<system>
<protection_domain name="rs" priority="200"><program_image path="rs.elf"/>
  <protection_domain name="drv" id="0" priority="100"><program_image path="drv.elf"/></protection_domain>
</protection_domain>
<protection_domain name="shell" priority="100"><program_image path="shell.elf"/></protection_domain>
<channel><end pd="rs" id="10"/><end pd="drv" id="61"/></channel>
<channel><end pd="shell" id="60" pp="true"/><end pd="rs" id="30"/></channel>
</system>"#;
        let sd = SystemDescription::parse(Path::new("s.xml"), xml).unwrap();
        let g = graph(&sd);
        assert!(g.contains("pd_rs -> pd_drv [dir=both, style=dotted"), "{g}");
        assert!(g.contains("label=\"heartbeat\""), "{g}");
        assert!(
            g.contains("pd_shell -> pd_rs [style=bold, color=\"#8e44ad\", fontcolor=\"#8e44ad\", label=\"admin ppc\""),
            "{g}"
        );
    }
}
