//! XML → model.
//!
//! This layer checks what can be checked on one element in isolation: XML syntax,
//! the element tree, known attribute names, required attributes, the syntax of
//! numbers and booleans, `perms` letters and `trigger` values, and that a channel
//! has two ends. Everything that relates values to each other or to Microkit's
//! limits lives in [`crate::validate`].
//!
//! The parser keeps going after an error so that one run reports every problem. An
//! element with a bad attribute is dropped from the model (a protection domain is
//! kept with defaults, so its children and maps are still checked), and its name is
//! remembered so that validation does not report follow-on "unknown name" errors.

use std::collections::HashSet;
use std::path::Path;

use roxmltree::{Document, Node};

use crate::error::Error;
use crate::model::*;
use crate::validate;

/// Default budget (and period) in microseconds, as in the Microkit tool.
pub const DEFAULT_BUDGET: u64 = 1000;
/// Default stack size: one page, as in the Microkit tool.
pub const DEFAULT_STACK_SIZE: u64 = 0x1000;
/// Default (and smallest) page size on aarch64.
pub const DEFAULT_PAGE_SIZE: u64 = 0x1000;

/// Deeper nesting than this cannot be valid (at most 63 PDs) and is not descended into.
const MAX_NESTING: usize = 64;

/// Names of elements that failed to parse; validation does not report references
/// to them as unknown, and skips checks that would use their (defaulted) values.
#[derive(Debug, Default)]
pub(crate) struct Taint {
    pub pds: HashSet<String>,
    pub mrs: HashSet<String>,
}

struct Cx<'a, 'input> {
    file: &'a Path,
    doc: &'a Document<'input>,
    errors: Vec<Error>,
    taint: Taint,
}

/// Result of parsing an optional attribute.
type Attr<T> = Result<Option<T>, ()>;

impl<'a, 'input> Cx<'a, 'input> {
    fn pos_of(&self, byte: usize) -> (u32, u32) {
        let p = self.doc.text_pos_at(byte);
        (p.row, p.col)
    }

    fn node_pos(&self, node: Node) -> (u32, u32) {
        self.pos_of(node.range().start)
    }

    fn err(&mut self, node: Node, msg: impl Into<String>) {
        let (line, column) = self.node_pos(node);
        let el = node.tag_name().name().to_string();
        self.errors.push(Error::new(self.file, line, column, &el, msg));
    }

    /// An error about attribute `attr` of `node`, positioned at the attribute.
    fn err_attr(&mut self, node: Node, attr: &str, msg: impl Into<String>) {
        let byte =
            node.attributes().find(|a| a.name() == attr).map(|a| a.range().start).unwrap_or_else(|| node.range().start);
        let (line, column) = self.pos_of(byte);
        let el = node.tag_name().name().to_string();
        self.errors.push(Error::new(self.file, line, column, &el, msg));
    }

    /// Report attributes not in `allowed`. Returns true if all were allowed.
    fn check_attrs(&mut self, node: Node, allowed: &[&str]) -> bool {
        let mut ok = true;
        for a in node.attributes() {
            if !allowed.contains(&a.name()) {
                ok = false;
                let (line, column) = self.pos_of(a.range().start);
                let el = node.tag_name().name().to_string();
                let msg = format!("unknown attribute '{}' on <{}>", a.name(), el);
                self.errors.push(Error::new(self.file, line, column, &el, msg));
            }
        }
        ok
    }

    fn required<'n, 'i>(&mut self, node: Node<'n, 'i>, attr: &str) -> Result<&'n str, ()> {
        match node.attribute(attr) {
            Some(v) => Ok(v),
            None => {
                self.err(node, format!("missing required attribute '{attr}'"));
                Err(())
            }
        }
    }

    /// A number in decimal or `0x` hex, `_` separators allowed (as Microkit does).
    fn number(&mut self, node: Node, attr: &str) -> Attr<u64> {
        let Some(s) = node.attribute(attr) else {
            return Ok(None);
        };
        let cleaned: String = s.chars().filter(|&c| c != '_').collect();
        let (digits, radix) = match cleaned.strip_prefix("0x") {
            Some(h) => (h, 16),
            None => (cleaned.as_str(), 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            self.err_attr(node, attr, format!("{attr} '{s}' is not a number (expected decimal or 0x-prefixed hex)"));
            return Err(());
        }
        match u64::from_str_radix(digits, radix) {
            Ok(v) => Ok(Some(v)),
            Err(_) => {
                self.err_attr(node, attr, format!("{attr} '{s}' does not fit in 64 bits"));
                Err(())
            }
        }
    }

    /// A decimal-only number (Microkit parses `id` and `irq` as plain decimal).
    fn decimal(&mut self, node: Node, attr: &str) -> Attr<u64> {
        let Some(s) = node.attribute(attr) else {
            return Ok(None);
        };
        if s.starts_with("0x") || s.starts_with("0X") {
            self.err_attr(node, attr, format!("{attr} must be decimal, got '{s}'"));
            return Err(());
        }
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            self.err_attr(node, attr, format!("{attr} '{s}' is not a decimal number"));
            return Err(());
        }
        match s.parse::<u64>() {
            Ok(v) => Ok(Some(v)),
            Err(_) => {
                self.err_attr(node, attr, format!("{attr} '{s}' does not fit in 64 bits"));
                Err(())
            }
        }
    }

    /// A channel/IRQ/child id: decimal, stored as u8 (the < 62 rule is validation's).
    fn id(&mut self, node: Node, attr: &str) -> Attr<u8> {
        match self.decimal(node, attr)? {
            None => Ok(None),
            Some(v) => match u8::try_from(v) {
                Ok(b) => Ok(Some(b)),
                Err(_) => {
                    self.err_attr(node, attr, validate::msg_id_range(v));
                    Err(())
                }
            },
        }
    }

    fn boolean(&mut self, node: Node, attr: &str) -> Attr<bool> {
        match node.attribute(attr) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => {
                self.err_attr(node, attr, format!("{attr} must be 'true' or 'false', got '{other}'"));
                Err(())
            }
        }
    }

    /// Report non-whitespace text directly inside `node`.
    fn check_text(&mut self, child: Node) {
        if let Some(t) = child.text()
            && !t.trim().is_empty()
        {
            // Point at the first non-blank character, not at the preceding newline.
            let range = child.range();
            let raw = self.doc.input_text().get(range.clone()).unwrap_or("");
            let lead = raw.len() - raw.trim_start().len();
            let (line, column) = self.pos_of(range.start + lead);
            let parent = child.parent_element().map(|p| p.tag_name().name().to_string());
            let el = parent.unwrap_or_default();
            let shown: String = t.trim().chars().take(20).collect();
            self.errors.push(Error::new(
                self.file,
                line,
                column,
                &el,
                format!("unexpected text '{shown}' inside <{el}>"),
            ));
        }
    }

    fn unknown_element(&mut self, child: Node, parent: Node) {
        let name = child.tag_name().name();
        let msg = if name == "virtual_machine" {
            "<virtual_machine> is not supported by this system (no virtual machines on reincarnate)".to_string()
        } else {
            format!("unknown element <{}> inside <{}>", name, parent.tag_name().name())
        };
        self.err(child, msg);
    }

    /// For elements that take no content: report any element or text inside.
    fn leaf(&mut self, node: Node) {
        for c in node.children() {
            if c.is_element() {
                self.unknown_element(c, node);
            } else if c.is_text() {
                self.check_text(c);
            }
        }
    }
}

/// Parse `text` (the contents of `file`) into a model. Returns the model (if the
/// XML was well-formed and rooted at `<system>`), all errors found, and the names
/// of elements that failed.
pub(crate) fn parse(file: &Path, text: &str) -> (Option<SystemDescription>, Vec<Error>, Taint) {
    let doc = match Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let p = e.pos();
            let err = Error::new(file, p.row, p.col, "", format!("XML syntax error: {e}"));
            return (None, vec![err], Taint::default());
        }
    };
    let mut cx = Cx { file, doc: &doc, errors: Vec::new(), taint: Taint::default() };
    let root = doc.root_element();
    if root.tag_name().name() != "system" {
        cx.err(root, format!("the root element must be <system>, not <{}>", root.tag_name().name()));
        return (None, cx.errors, cx.taint);
    }
    cx.check_attrs(root, &[]);

    let mut sd = SystemDescription {
        file: file.to_path_buf(),
        protection_domains: Vec::new(),
        memory_regions: Vec::new(),
        channels: Vec::new(),
    };
    for child in root.children() {
        if child.is_text() {
            cx.check_text(child);
            continue;
        }
        if !child.is_element() {
            continue;
        }
        match child.tag_name().name() {
            "protection_domain" => {
                if let Some(pd) = parse_pd(&mut cx, child, false, 0) {
                    sd.protection_domains.push(pd);
                }
            }
            "memory_region" => {
                if let Some(mr) = parse_mr(&mut cx, child) {
                    sd.memory_regions.push(mr);
                }
            }
            "channel" => {
                if let Some(ch) = parse_channel(&mut cx, child) {
                    sd.channels.push(ch);
                }
            }
            _ => cx.unknown_element(child, root),
        }
    }
    (Some(sd), cx.errors, cx.taint)
}

fn parse_pd(cx: &mut Cx, node: Node, is_child: bool, depth: usize) -> Option<ProtectionDomain> {
    let n_before = cx.errors.len();
    let (line, column) = cx.node_pos(node);
    if !is_child && node.attribute("id").is_some() {
        cx.err_attr(
            node,
            "id",
            "attribute 'id' is only allowed on a child <protection_domain> (one nested in another)",
        );
    }
    // `id` is accepted here for all PDs; on a top-level PD it was reported just above.
    cx.check_attrs(node, &["name", "priority", "budget", "period", "passive", "stack_size", "id"]);

    let name = cx.required(node, "name").ok().map(str::to_string);
    let priority = match cx.number(node, "priority") {
        Ok(Some(p)) => match u8::try_from(p) {
            Ok(p) => p,
            Err(_) => {
                cx.err_attr(node, "priority", validate::msg_priority_range(p));
                0
            }
        },
        _ => 0,
    };
    let budget = cx.number(node, "budget").ok().flatten().unwrap_or(DEFAULT_BUDGET);
    let period = cx.number(node, "period").ok().flatten().unwrap_or(budget);
    let passive = cx.boolean(node, "passive").ok().flatten().unwrap_or(false);
    let stack_size = cx.number(node, "stack_size").ok().flatten().unwrap_or(DEFAULT_STACK_SIZE);
    let id = if is_child { cx.id(node, "id").ok().flatten() } else { None };

    let mut pd = ProtectionDomain {
        name: name.clone().unwrap_or_default(),
        priority,
        budget,
        period,
        passive,
        stack_size,
        id,
        program_image: String::new(),
        maps: Vec::new(),
        irqs: Vec::new(),
        setvars: Vec::new(),
        children: Vec::new(),
        line,
        column,
    };
    let attrs_ok = cx.errors.len() == n_before;

    let mut have_image = false;
    for child in node.children() {
        if child.is_text() {
            cx.check_text(child);
            continue;
        }
        if !child.is_element() {
            continue;
        }
        match child.tag_name().name() {
            "program_image" => {
                cx.check_attrs(child, &["path"]);
                cx.leaf(child);
                if have_image {
                    cx.err(child, "<program_image> given more than once");
                    continue;
                }
                have_image = true;
                if let Ok(p) = cx.required(child, "path") {
                    pd.program_image = p.to_string();
                }
            }
            "map" => {
                if let Some(m) = parse_map(cx, child) {
                    pd.maps.push(m);
                }
            }
            "irq" => {
                if let Some(i) = parse_irq(cx, child) {
                    pd.irqs.push(i);
                }
            }
            "setvar" => {
                if let Some(s) = parse_setvar(cx, child) {
                    pd.setvars.push(s);
                }
            }
            "protection_domain" => {
                if depth + 1 >= MAX_NESTING {
                    cx.err(child, "protection domains are nested too deeply");
                    continue;
                }
                if let Some(c) = parse_pd(cx, child, true, depth + 1) {
                    pd.children.push(c);
                }
            }
            _ => cx.unknown_element(child, node),
        }
    }
    if !have_image {
        let shown = name.as_deref().unwrap_or("");
        cx.err(node, format!("protection domain '{shown}' has no <program_image>"));
    }
    match name {
        Some(n) => {
            if !attrs_ok {
                cx.taint.pds.insert(n);
            }
            Some(pd)
        }
        None => None,
    }
}

fn parse_map(cx: &mut Cx, node: Node) -> Option<Map> {
    let n_before = cx.errors.len();
    let (line, column) = cx.node_pos(node);
    cx.check_attrs(node, &["mr", "vaddr", "perms", "cached", "setvar_vaddr", "setvar_size"]);
    cx.leaf(node);
    let mr = cx.required(node, "mr").ok();
    let vaddr = match cx.required(node, "vaddr") {
        Ok(_) => cx.number(node, "vaddr").ok().flatten(),
        Err(()) => None,
    };
    let perms = match node.attribute("perms") {
        None => Some(Perms::RW),
        Some(s) => {
            let p = Perms::parse(s);
            if p.is_none() {
                cx.err_attr(node, "perms", format!("perms '{s}' may only contain the letters 'r', 'w' and 'x'"));
            }
            p
        }
    };
    let cached = cx.boolean(node, "cached").ok().flatten().unwrap_or(true);
    if cx.errors.len() != n_before {
        return None;
    }
    Some(Map {
        mr: mr?.to_string(),
        vaddr: vaddr?,
        perms: perms?,
        cached,
        setvar_vaddr: node.attribute("setvar_vaddr").map(str::to_string),
        setvar_size: node.attribute("setvar_size").map(str::to_string),
        line,
        column,
    })
}

fn parse_irq(cx: &mut Cx, node: Node) -> Option<Irq> {
    let n_before = cx.errors.len();
    let (line, column) = cx.node_pos(node);
    cx.check_attrs(node, &["irq", "id", "trigger"]);
    cx.leaf(node);
    let irq = cx.required(node, "irq").ok().and_then(|_| cx.decimal(node, "irq").ok().flatten());
    let id = cx.required(node, "id").ok().and_then(|_| cx.id(node, "id").ok().flatten());
    let trigger = match node.attribute("trigger") {
        None | Some("level") => Trigger::Level,
        Some("edge") => Trigger::Edge,
        Some(other) => {
            cx.err_attr(node, "trigger", format!("trigger must be 'level' or 'edge', got '{other}'"));
            Trigger::Level
        }
    };
    if cx.errors.len() != n_before {
        return None;
    }
    Some(Irq { irq: irq?, id: id?, trigger, line, column })
}

fn parse_setvar(cx: &mut Cx, node: Node) -> Option<SetVar> {
    let n_before = cx.errors.len();
    let (line, column) = cx.node_pos(node);
    cx.check_attrs(node, &["symbol", "region_paddr"]);
    cx.leaf(node);
    let symbol = cx.required(node, "symbol").ok();
    let region = cx.required(node, "region_paddr").ok();
    if cx.errors.len() != n_before {
        return None;
    }
    Some(SetVar { symbol: symbol?.to_string(), region_paddr: region?.to_string(), line, column })
}

fn parse_mr(cx: &mut Cx, node: Node) -> Option<MemoryRegion> {
    let n_before = cx.errors.len();
    let (line, column) = cx.node_pos(node);
    cx.check_attrs(node, &["name", "size", "page_size", "phys_addr"]);
    cx.leaf(node);
    let name = cx.required(node, "name").ok();
    let size = cx.required(node, "size").ok().and_then(|_| cx.number(node, "size").ok().flatten());
    let page_size = cx.number(node, "page_size").ok().flatten().unwrap_or(DEFAULT_PAGE_SIZE);
    let phys_addr = cx.number(node, "phys_addr").ok().flatten();
    if cx.errors.len() != n_before {
        if let Some(n) = name {
            cx.taint.mrs.insert(n.to_string());
        }
        return None;
    }
    Some(MemoryRegion { name: name?.to_string(), size: size?, page_size, phys_addr, line, column })
}

fn parse_channel(cx: &mut Cx, node: Node) -> Option<Channel> {
    let n_before = cx.errors.len();
    let (line, column) = cx.node_pos(node);
    cx.check_attrs(node, &[]);
    let mut ends = Vec::new();
    let mut n_ends = 0usize;
    for child in node.children() {
        if child.is_text() {
            cx.check_text(child);
            continue;
        }
        if !child.is_element() {
            continue;
        }
        if child.tag_name().name() == "end" {
            n_ends += 1;
            if let Some(e) = parse_end(cx, child) {
                ends.push(e);
            }
        } else {
            cx.unknown_element(child, node);
        }
    }
    if n_ends != 2 {
        cx.err(node, format!("a channel must have exactly 2 <end> elements, found {n_ends}"));
    }
    if cx.errors.len() != n_before {
        return None;
    }
    let mut it = ends.into_iter();
    let (a, b) = (it.next()?, it.next()?);
    Some(Channel { ends: [a, b], line, column })
}

fn parse_end(cx: &mut Cx, node: Node) -> Option<End> {
    let n_before = cx.errors.len();
    let (line, column) = cx.node_pos(node);
    cx.check_attrs(node, &["pd", "id", "pp", "notify"]);
    cx.leaf(node);
    let pd = cx.required(node, "pd").ok();
    let id = cx.required(node, "id").ok().and_then(|_| cx.id(node, "id").ok().flatten());
    let pp = cx.boolean(node, "pp").ok().flatten().unwrap_or(false);
    let notify = cx.boolean(node, "notify").ok().flatten().unwrap_or(true);
    if cx.errors.len() != n_before {
        return None;
    }
    Some(End { pd: pd?.to_string(), id: id?, pp, notify, line, column })
}
