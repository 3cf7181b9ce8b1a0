//! `parse` must return Ok or Err — never panic — on any input; and whatever parses
//! must render and generate code without panicking either.

use std::path::Path;

use proptest::prelude::*;
use sdf::{SystemDescription, caps, codegen};

const RICH: &str = include_str!("fixtures/rich.xml");

fn exercise(text: &str) {
    if let Ok(sd) = SystemDescription::parse(Path::new("fuzz.xml"), text) {
        let _ = caps::report(&sd);
        for p in codegen::program_names(&sd) {
            let _ = codegen::program_module(&sd, &p);
        }
        let _ = sdf::validate(&sd);
    }
}

/// Attribute values worth trying: numbers of every shape, names, booleans, junk.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("0x{n:x}")),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u64..70).prop_map(|n| n.to_string()),
        (0u32..300).prop_map(|n| n.to_string()),
        Just("0x".to_string()),
        Just("0x_".to_string()),
        Just("99999999999999999999999999".to_string()),
        Just("0xffffffffffffffffffff".to_string()),
        Just("-0x10".to_string()),
        Just(String::new()),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("w".to_string()),
        Just("rwxq".to_string()),
        Just("edge".to_string()),
        prop::sample::select(vec![
            "rs",
            "ping",
            "pong",
            "crashy",
            "worker2",
            "grandchild",
            "dma",
            "uart",
            "big",
            "shared_buf"
        ])
        .prop_map(str::to_string),
        "[a-z_0-9\\-]{0,12}",
        "\\PC{0,8}",
    ]
}

fn element_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "system",
            "protection_domain",
            "memory_region",
            "channel",
            "end",
            "map",
            "irq",
            "setvar",
            "program_image",
            "virtual_machine",
            "vcpu",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    SetValue(usize, String),
    DropAttr(usize),
    DupAttr(usize),
    AddAttr(usize, String, String),
    RenameElement(usize, String),
    DupLine(usize),
    DropLine(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), value()).prop_map(|(i, v)| Mutation::SetValue(i, v)),
        1 => any::<usize>().prop_map(Mutation::DropAttr),
        1 => any::<usize>().prop_map(Mutation::DupAttr),
        1 => (any::<usize>(), "[a-z_]{1,12}", value()).prop_map(|(i, n, v)| Mutation::AddAttr(i, n, v)),
        1 => (any::<usize>(), element_name()).prop_map(|(i, n)| Mutation::RenameElement(i, n)),
        1 => any::<usize>().prop_map(Mutation::DupLine),
        1 => any::<usize>().prop_map(Mutation::DropLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

/// Byte ranges of every `name="value"` in `text`: (whole attribute, value).
fn attrs(text: &str) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text.get(i..).and_then(|t| t.find("=\"")) {
        let eq = i + off;
        let mut start = eq;
        while start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_') {
            start -= 1;
        }
        let vstart = eq + 2;
        let Some(vlen) = text.get(vstart..).and_then(|t| t.find('"')) else {
            break;
        };
        let vend = vstart + vlen;
        out.push((start..vend + 1, vstart..vend));
        i = vend + 1;
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

fn apply(text: &str, m: &Mutation) -> String {
    let a = attrs(text);
    let mut lines: Vec<&str> = text.lines().collect();
    match m {
        Mutation::SetValue(i, v) if !a.is_empty() => {
            let (_, val) = &a[i % a.len()];
            format!("{}{}{}", &text[..val.start], escape(v), &text[val.end..])
        }
        Mutation::DropAttr(i) if !a.is_empty() => {
            let (all, _) = &a[i % a.len()];
            format!("{}{}", &text[..all.start], &text[all.end..])
        }
        Mutation::DupAttr(i) if !a.is_empty() => {
            let (all, _) = &a[i % a.len()];
            format!("{} {}{}", &text[..all.end], &text[all.clone()], &text[all.end..])
        }
        Mutation::AddAttr(i, n, v) if !a.is_empty() => {
            let (all, _) = &a[i % a.len()];
            format!("{} {n}=\"{}\"{}", &text[..all.end], escape(v), &text[all.end..])
        }
        Mutation::RenameElement(i, name) => {
            let tags: Vec<usize> = text.match_indices('<').map(|(p, _)| p + 1).collect();
            let Some(&start) = tags.get(i % tags.len().max(1)) else {
                return text.to_string();
            };
            let rest = &text[start..];
            let skip = usize::from(rest.starts_with('/'));
            let len = rest[skip..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(0);
            format!("{}{}{}", &text[..start + skip], name, &text[start + skip + len..])
        }
        Mutation::DupLine(i) if !lines.is_empty() => {
            let l = lines[i % lines.len()];
            lines.insert(i % lines.len(), l);
            lines.join("\n")
        }
        Mutation::DropLine(i) if !lines.is_empty() => {
            lines.remove(i % lines.len());
            lines.join("\n")
        }
        Mutation::SwapLines(x, y) if !lines.is_empty() => {
            let n = lines.len();
            lines.swap(x % n, y % n);
            lines.join("\n")
        }
        _ => text.to_string(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn xmlish_strings(tokens in prop::collection::vec(prop::sample::select(vec![
        "<", ">", "/", "=", "\"", " ", "\n", "<system>", "</system>", "system", "protection_domain",
        "map", "end", "channel", "program_image", "id", "name", "pd", "0x1000", "1", "62", "a", "&amp;",
        "<!--", "-->", "<?xml version=\"1.0\"?>",
    ]), 0..60)) {
        exercise(&tokens.concat());
    }

    #[test]
    fn mutated_fixture(ms in prop::collection::vec(mutation(), 1..6)) {
        let mut text = RICH.to_string();
        for m in &ms {
            text = apply(&text, m);
        }
        exercise(&text);
    }
}

#[test]
fn mutation_helpers_work() {
    // The mutator must actually change the fixture, or the property above is vacuous.
    let changed = apply(RICH, &Mutation::SetValue(0, "zzz".into()));
    assert_ne!(changed, RICH);
    assert!(attrs(RICH).len() > 40);
    let renamed = apply(RICH, &Mutation::RenameElement(3, "bogus".into()));
    assert!(renamed.contains("<bogus"), "{renamed}");
    assert!(SystemDescription::parse(Path::new("r.xml"), &renamed).is_err());
}
