//! Positive tests: every element and attribute of the rich fixture lands in the model.

use std::path::Path;

use sdf::*;

const RICH: &str = include_str!("fixtures/rich.xml");

fn rich() -> SystemDescription {
    match SystemDescription::parse(Path::new("tests/fixtures/rich.xml"), RICH) {
        Ok(sd) => sd,
        Err(e) => panic!("rich fixture must be valid:\n{e}"),
    }
}

#[test]
fn memory_regions() {
    let sd = rich();
    let mrs = &sd.memory_regions;
    assert_eq!(mrs.len(), 4);
    assert_eq!(
        mrs[0],
        MemoryRegion {
            name: "shared_buf".into(),
            size: 0x1000,
            page_size: 0x1000,
            phys_addr: None,
            line: 4,
            column: 5
        }
    );
    // `_` separators, explicit page size, phys_addr.
    assert_eq!((mrs[1].name.as_str(), mrs[1].size, mrs[1].phys_addr), ("uart", 0x1000, Some(0x900_0000)));
    assert_eq!((mrs[2].size, mrs[2].page_size), (0x40_0000, 0x20_0000));
    // decimal size
    assert_eq!((mrs[3].size, mrs[3].line), (8192, 7));
    assert_eq!(sd.region("dma").map(|r| r.phys_addr), Some(Some(0x6000_0000)));
    assert!(sd.region("nope").is_none());
}

#[test]
fn protection_domain_attributes_and_defaults() {
    let sd = rich();
    assert_eq!(sd.protection_domains.len(), 3);
    let rs = &sd.protection_domains[0];
    assert_eq!(rs.name, "rs");
    assert_eq!((rs.priority, rs.budget, rs.period, rs.passive), (250, 2000, 4000, false));
    assert_eq!((rs.stack_size, rs.id, rs.line, rs.column), (0x4000, None, 9, 5));
    assert_eq!(rs.program_image, "rs.elf");

    let ping = sd.pd("ping").unwrap();
    // defaults: budget 1000, period = budget, stack one page, not passive
    assert_eq!((ping.priority, ping.budget, ping.period), (1, DEFAULT_BUDGET, 1000));
    assert_eq!((ping.stack_size, ping.passive, ping.id), (DEFAULT_STACK_SIZE, false, None));
    assert_eq!(ping.stack_size, 0x1000);
}

#[test]
fn nested_children_two_levels() {
    let sd = rich();
    let rs = &sd.protection_domains[0];
    assert_eq!(rs.children.len(), 2);
    let crashy = &rs.children[0];
    assert_eq!((crashy.name.as_str(), crashy.id, crashy.priority, crashy.passive), ("crashy", Some(0), 100, true));
    let grandchild = &crashy.children[0];
    assert_eq!((grandchild.name.as_str(), grandchild.id, grandchild.line), ("grandchild", Some(3), 15));
    assert!(!grandchild.passive);
    assert_eq!(rs.children[1].id, Some(1));

    let flat: Vec<(&str, Option<&str>, usize)> =
        sd.all_pds().iter().map(|r| (r.pd.name.as_str(), r.parent.map(|p| p.name.as_str()), r.depth)).collect();
    assert_eq!(
        flat,
        vec![
            ("rs", None, 0),
            ("crashy", Some("rs"), 1),
            ("grandchild", Some("crashy"), 2),
            ("worker2", Some("rs"), 1),
            ("ping", None, 0),
            ("pong", None, 0),
        ]
    );
    assert_eq!(sd.parent_of("grandchild").map(|p| p.name.as_str()), Some("crashy"));
    assert_eq!(sd.parent_of("crashy").map(|p| p.name.as_str()), Some("rs"));
    assert!(sd.parent_of("rs").is_none());
    assert!(sd.parent_of("nobody").is_none());
    assert_eq!(sd.pd("grandchild").map(|p| p.program_image.as_str()), Some("worker.elf"));
}

#[test]
fn maps() {
    let sd = rich();
    let ping = sd.pd("ping").unwrap();
    assert_eq!(
        ping.maps[0],
        Map {
            mr: "shared_buf".into(),
            vaddr: 0x400_0000,
            perms: Perms::RW, // default
            cached: true,     // default
            setvar_vaddr: Some("buffer_vaddr".into()),
            setvar_size: Some("buffer_size".into()),
            line: 26,
            column: 9,
        }
    );
    assert_eq!((ping.maps[1].cached, ping.maps[1].perms.to_string().as_str()), (false, "rw"));
    assert_eq!(ping.maps[1].setvar_vaddr, None);
    let rs = sd.pd("rs").unwrap();
    assert_eq!(rs.maps[0].perms.to_string(), "r");
    let crashy = sd.pd("crashy").unwrap();
    assert_eq!(crashy.maps[0].setvar_size.as_deref(), Some("big_size"));
    let pong = sd.pd("pong").unwrap();
    assert_eq!(pong.maps[0].perms, Perms { read: true, write: false, execute: true });
    assert_eq!(pong.maps[0].perms.to_string(), "rx");
    assert_eq!(pong.maps[1].perms.to_string(), "rwx");
    assert!(pong.maps[1].cached);
}

#[test]
fn irqs_and_setvars() {
    let sd = rich();
    let ping = sd.pd("ping").unwrap();
    assert_eq!(ping.irqs, vec![Irq { irq: 79, id: 2, trigger: Trigger::Level, line: 28, column: 9 }]);
    assert_eq!(
        ping.setvars,
        vec![SetVar { symbol: "dma_paddr".into(), region_paddr: "dma".into(), line: 29, column: 9 }]
    );
    let pong = sd.pd("pong").unwrap();
    assert_eq!((pong.irqs[0].irq, pong.irqs[0].id, pong.irqs[0].trigger), (80, 5, Trigger::Edge));
    assert_eq!(pong.irqs[1].trigger, Trigger::Level);
}

#[test]
fn channels_and_ends() {
    let sd = rich();
    assert_eq!(sd.channels.len(), 3);
    let ch = &sd.channels[0];
    assert_eq!((ch.line, ch.column), (40, 5));
    assert_eq!(ch.ends[0], End { pd: "ping".into(), id: 1, pp: true, notify: true, line: 41, column: 9 });
    assert_eq!((ch.ends[1].pd.as_str(), ch.ends[1].id, ch.ends[1].pp, ch.ends[1].notify), ("pong", 0, false, true));
    assert!(!sd.channels[1].ends[0].notify);
}

#[test]
fn channels_of_gives_both_directions() {
    let sd = rich();
    let ping = sd.channels_of("ping");
    assert_eq!(
        ping[0],
        ChannelEnd {
            id: 1,
            peer: "pong".into(),
            peer_id: 0,
            can_notify: true,
            can_ppcall: true,
            peer_can_notify: true,
            peer_can_ppcall: false,
        }
    );
    assert_eq!((ping[1].id, ping[1].can_notify, ping[1].peer_can_notify), (3, false, true));
    let pong = sd.channels_of("pong");
    assert_eq!((pong[0].id, pong[0].peer.as_str(), pong[0].peer_id), (0, "ping", 1));
    assert!(pong[0].peer_can_ppcall && !pong[0].can_ppcall);
    let crashy = sd.channels_of("crashy");
    assert_eq!((crashy[0].peer.as_str(), crashy[0].can_ppcall, crashy[0].peer_can_notify), ("rs", true, false));
    assert!(sd.channels_of("worker2").is_empty());
}

#[test]
fn program_names_in_document_order() {
    let sd = rich();
    assert_eq!(codegen::program_names(&sd), vec!["rs", "crashy", "worker", "ping", "pong"]);
}

#[test]
fn load_reads_a_file_and_reports_io_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sd = SystemDescription::load(dir.join("tests/fixtures/rich.xml")).unwrap();
    assert_eq!(sd.all_pds().len(), 6);
    assert!(sd.file.ends_with("rich.xml"));
    let err = SystemDescription::load(dir.join("tests/fixtures/missing.xml")).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].line, 0);
    assert!(err.0[0].message.contains("cannot read file"), "{err}");
    assert!(err.to_string().contains("missing.xml: cannot read file"), "{err}");
}

#[test]
fn microkit_limits_at_the_edge_are_accepted() {
    let name64 = "n".repeat(64);
    let xml = format!(
        r#"<system>
  <memory_region name="m" size="0x1000"/>
  <protection_domain name="{name64}" priority="254" budget="10" period="10" stack_size="0x1000000">
    <program_image path="a.elf"/>
    <irq irq="5" id="61"/>
    <map mr="m" vaddr="0xff_feff_f000" perms="x"/>
    <protection_domain name="c" id="61" priority="3"><program_image path="c.elf"/></protection_domain>
    <protection_domain name="d" id="0" priority="3"><program_image path="c.elf"/></protection_domain>
  </protection_domain>
  <channel><end pd="c" id="0"/><end pd="d" id="0"/></channel>
</system>"#
    );
    // child id 0 and channel id 0 live in different id spaces; the map ends exactly
    // at the bottom of the 16 MiB stack.
    let sd = SystemDescription::parse(Path::new("edge.xml"), &xml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sd.protection_domains[0].priority, 254);
}
