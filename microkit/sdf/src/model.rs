//! The typed model of a system description, and queries over it.
//!
//! Field names follow the XML attributes. Every element keeps the `line` and
//! `column` where it starts in the file, so later checks (and the tools built on
//! this crate) can point at it.

use std::fmt;
use std::path::PathBuf;

/// A whole `system.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemDescription {
    /// The file it was read from (used in error messages and generated code).
    pub file: PathBuf,
    /// Top-level protection domains, in document order; children are nested in
    /// [`ProtectionDomain::children`]. Use [`SystemDescription::all_pds`] for a flat list.
    pub protection_domains: Vec<ProtectionDomain>,
    /// `<memory_region>` elements, in document order.
    pub memory_regions: Vec<MemoryRegion>,
    /// `<channel>` elements, in document order.
    pub channels: Vec<Channel>,
}

/// A `<protection_domain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionDomain {
    /// Unique name (at most 64 bytes).
    pub name: String,
    /// Scheduling priority, 0..=254; default 0.
    pub priority: u8,
    /// Scheduling budget in microseconds; default 1000.
    pub budget: u64,
    /// Scheduling period in microseconds; default equal to the budget.
    pub period: u64,
    /// A passive PD gives up its scheduling context after `init`; default false.
    pub passive: bool,
    /// Stack size in bytes, a multiple of 0x1000 in 0x1000..=0x100_0000; default 0x1000.
    pub stack_size: u64,
    /// The id of this PD as a child of its parent (`None` for a top-level PD).
    pub id: Option<u8>,
    /// `<program_image path=..>`, as written (e.g. `"ping.elf"`).
    pub program_image: String,
    /// `<map>` elements, in document order.
    pub maps: Vec<Map>,
    /// `<irq>` elements, in document order.
    pub irqs: Vec<Irq>,
    /// `<setvar>` elements (not the `setvar_*` attributes of maps), in document order.
    pub setvars: Vec<SetVar>,
    /// Nested child `<protection_domain>`s, in document order.
    pub children: Vec<ProtectionDomain>,
    /// Line of the `<protection_domain>` tag.
    pub line: u32,
    /// Column of the `<protection_domain>` tag.
    pub column: u32,
}

/// A `<map>`: a whole memory region mapped into a PD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// Name of the memory region.
    pub mr: String,
    /// Virtual address of the start of the mapping.
    pub vaddr: u64,
    /// Access rights; default `rw`.
    pub perms: Perms,
    /// Cached mapping; default true.
    pub cached: bool,
    /// Symbol patched with `vaddr` (`setvar_vaddr` attribute).
    pub setvar_vaddr: Option<String>,
    /// Symbol patched with the region's size (`setvar_size` attribute).
    pub setvar_size: Option<String>,
    /// Line of the `<map>` tag.
    pub line: u32,
    /// Column of the `<map>` tag.
    pub column: u32,
}

/// Access rights of a [`Map`]. Displays as `r`, `rw`, `rx`, `rwx` (letters in that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms {
    /// `r`
    pub read: bool,
    /// `w`
    pub write: bool,
    /// `x`
    pub execute: bool,
}

impl Perms {
    /// Read-write, the Microkit default.
    pub const RW: Perms = Perms { read: true, write: true, execute: false };

    /// Parse a `perms` attribute: any combination of `r`, `w` and `x`.
    /// Returns `None` for any other letter. (Empty and write-only are representable
    /// here; validation rejects them.)
    pub fn parse(s: &str) -> Option<Perms> {
        let mut p = Perms::default();
        for c in s.chars() {
            match c {
                'r' => p.read = true,
                'w' => p.write = true,
                'x' => p.execute = true,
                _ => return None,
            }
        }
        Some(p)
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.read {
            f.write_str("r")?;
        }
        if self.write {
            f.write_str("w")?;
        }
        if self.execute {
            f.write_str("x")?;
        }
        Ok(())
    }
}

/// A `<memory_region>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Unique name.
    pub name: String,
    /// Size in bytes, a non-zero multiple of `page_size`.
    pub size: u64,
    /// 0x1000 (default) or 0x200000.
    pub page_size: u64,
    /// Fixed physical address (device memory, DMA), aligned to `page_size`.
    pub phys_addr: Option<u64>,
    /// Line of the `<memory_region>` tag.
    pub line: u32,
    /// Column of the `<memory_region>` tag.
    pub column: u32,
}

/// A `<channel>` between two PDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The two `<end>`s, in document order.
    pub ends: [End; 2],
    /// Line of the `<channel>` tag.
    pub line: u32,
    /// Column of the `<channel>` tag.
    pub column: u32,
}

/// One `<end>` of a [`Channel`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// The PD at this end.
    pub pd: String,
    /// The channel id in that PD, 0..=61 (shared with its IRQ ids).
    pub id: u8,
    /// This end's PD may make protected procedure calls to the other end; default false.
    pub pp: bool,
    /// This end's PD may notify the other end; default true.
    pub notify: bool,
    /// Line of the `<end>` tag.
    pub line: u32,
    /// Column of the `<end>` tag.
    pub column: u32,
}

/// An `<irq>` delivered to a PD as a notification on channel `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Irq {
    /// The (seL4) interrupt number; unique in the system.
    pub irq: u64,
    /// The channel id it arrives on, 0..=61.
    pub id: u8,
    /// Default [`Trigger::Level`].
    pub trigger: Trigger,
    /// Line of the `<irq>` tag.
    pub line: u32,
    /// Column of the `<irq>` tag.
    pub column: u32,
}

/// IRQ trigger mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Trigger {
    /// `level` (the default)
    #[default]
    Level,
    /// `edge`
    Edge,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Level => "level",
            Trigger::Edge => "edge",
        })
    }
}

/// A `<setvar symbol=.. region_paddr=..>`: `symbol` is patched with the physical
/// address of memory region `region_paddr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetVar {
    /// Symbol in the program image (8 bytes).
    pub symbol: String,
    /// Name of the memory region whose physical address is written.
    pub region_paddr: String,
    /// Line of the `<setvar>` tag.
    pub line: u32,
    /// Column of the `<setvar>` tag.
    pub column: u32,
}

/// A PD in the flattened tree, with its parent (see [`SystemDescription::all_pds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdRef<'a> {
    /// The protection domain.
    pub pd: &'a ProtectionDomain,
    /// Its parent, `None` for a top-level PD.
    pub parent: Option<&'a ProtectionDomain>,
    /// 0 for a top-level PD, 1 for its children, and so on.
    pub depth: usize,
}

/// One channel as seen from one PD (see [`SystemDescription::channels_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEnd {
    /// The channel id in this PD.
    pub id: u8,
    /// The PD at the other end.
    pub peer: String,
    /// The channel id in the peer.
    pub peer_id: u8,
    /// This PD may notify the peer.
    pub can_notify: bool,
    /// This PD may make protected procedure calls to the peer.
    pub can_ppcall: bool,
    /// The peer may notify this PD.
    pub peer_can_notify: bool,
    /// The peer may make protected procedure calls to this PD.
    pub peer_can_ppcall: bool,
}

impl SystemDescription {
    /// All PDs, flattened in document order (a parent comes before its children).
    pub fn all_pds(&self) -> Vec<PdRef<'_>> {
        fn walk<'a>(
            pd: &'a ProtectionDomain,
            parent: Option<&'a ProtectionDomain>,
            depth: usize,
            out: &mut Vec<PdRef<'a>>,
        ) {
            out.push(PdRef { pd, parent, depth });
            for c in &pd.children {
                walk(c, Some(pd), depth + 1, out);
            }
        }
        let mut out = Vec::new();
        for pd in &self.protection_domains {
            walk(pd, None, 0, &mut out);
        }
        out
    }

    /// The PD called `name`, at any depth.
    pub fn pd(&self, name: &str) -> Option<&ProtectionDomain> {
        self.all_pds().into_iter().find(|r| r.pd.name == name).map(|r| r.pd)
    }

    /// The parent of the PD called `name` (`None` if it is top-level or unknown).
    pub fn parent_of(&self, name: &str) -> Option<&ProtectionDomain> {
        self.all_pds().into_iter().find(|r| r.pd.name == name).and_then(|r| r.parent)
    }

    /// The memory region called `name`.
    pub fn region(&self, name: &str) -> Option<&MemoryRegion> {
        self.memory_regions.iter().find(|m| m.name == name)
    }

    /// The channels of the PD called `pd_name`, in document order, from its side.
    ///
    /// A channel from a PD to itself yields two entries, one per end.
    pub fn channels_of(&self, pd_name: &str) -> Vec<ChannelEnd> {
        let mut out = Vec::new();
        for ch in &self.channels {
            let [a, b] = &ch.ends;
            for (me, peer) in [(a, b), (b, a)] {
                if me.pd == pd_name {
                    out.push(ChannelEnd {
                        id: me.id,
                        peer: peer.pd.clone(),
                        peer_id: peer.id,
                        can_notify: me.notify,
                        can_ppcall: me.pp,
                        peer_can_notify: peer.notify,
                        peer_can_ppcall: peer.pp,
                    });
                }
            }
        }
        out
    }
}
