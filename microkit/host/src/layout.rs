//! The kernel's view of a system description: PDs by index, with their channel
//! routes, children, IRQs and maps resolved once at boot.

use std::path::{Path, PathBuf};

use microkit::CHANNEL_LIMIT;
use sdf::SystemDescription;

/// Where a channel of a PD leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The PD at the other end.
    pub peer: usize,
    /// The channel id at the other end (the bit set in the peer's badge).
    pub peer_ch: u8,
    /// This end may notify.
    pub can_notify: bool,
    /// This end may call the peer (protected procedure call).
    pub can_ppcall: bool,
}

/// One map of a PD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// Index of the memory region in [`Layout::regions`].
    pub region: usize,
    pub vaddr: u64,
    pub size: u64,
    pub perms: sdf::Perms,
    /// The region is a device's registers (a virtio-mmio slot): on the host kernel
    /// it is not memory; the PD reaches it through `MmioRead`/`MmioWrite`.
    pub mmio: bool,
}

/// A memory region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    pub name: String,
    pub size: u64,
    /// Fixed physical address (device registers, DMA memory).
    pub phys_addr: Option<u64>,
}

/// A PD as the kernel needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdSpec {
    pub name: String,
    /// Path of the host binary.
    pub program: PathBuf,
    pub priority: u8,
    /// MCS budget and period in µs (no limit when the budget is not below the
    /// period).
    pub budget_us: u64,
    pub period_us: u64,
    pub parent: Option<usize>,
    /// Id of this PD in its parent.
    pub child_id: Option<u8>,
    /// Child id → PD index.
    pub children: [Option<usize>; CHANNEL_LIMIT as usize],
    /// Channel id → route.
    pub routes: [Option<Route>; CHANNEL_LIMIT as usize],
    /// Channel ids that are IRQs (bit n = id n).
    pub irqs: u64,
    /// (IRQ number, channel id) of each IRQ.
    pub irq_lines: Vec<(u64, u8)>,
    /// Channel id of the ARM generic timer's IRQ, if this PD holds it.
    pub arch_timer: Option<u8>,
    pub maps: Vec<MapSpec>,
}

/// The whole system, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub pds: Vec<PdSpec>,
    pub regions: Vec<RegionSpec>,
}

impl Layout {
    /// Resolves a validated system description; PD programs are looked up in
    /// `bin_dir` by their image name without `.elf`.
    pub fn new(sd: &SystemDescription, bin_dir: &Path) -> Layout {
        let all = sd.all_pds();
        let index_of = |name: &str| all.iter().position(|r| r.pd.name == name);
        let regions: Vec<RegionSpec> = sd
            .memory_regions
            .iter()
            .map(|m| RegionSpec { name: m.name.clone(), size: m.size, phys_addr: m.phys_addr })
            .collect();
        let pds = all
            .iter()
            .map(|r| {
                let pd = r.pd;
                let mut routes = [None; CHANNEL_LIMIT as usize];
                for end in sd.channels_of(&pd.name) {
                    if let (Some(peer), Some(slot)) = (index_of(&end.peer), routes.get_mut(end.id as usize)) {
                        *slot = Some(Route {
                            peer,
                            peer_ch: end.peer_id,
                            can_notify: end.can_notify,
                            can_ppcall: end.can_ppcall,
                        });
                    }
                }
                let mut children = [None; CHANNEL_LIMIT as usize];
                for child in &pd.children {
                    if let (Some(id), Some(idx)) = (child.id, index_of(&child.name))
                        && let Some(slot) = children.get_mut(id as usize)
                    {
                        *slot = Some(idx);
                    }
                }
                let irqs = pd.irqs.iter().filter(|i| i.id < CHANNEL_LIMIT).fold(0u64, |acc, i| acc | 1 << i.id);
                let arch_timer =
                    pd.irqs.iter().find(|i| i.irq == microkit::arch_timer::IRQ && i.id < CHANNEL_LIMIT).map(|i| i.id);
                let maps = pd
                    .maps
                    .iter()
                    .filter_map(|m| {
                        let region = sd.memory_regions.iter().position(|r| r.name == m.mr)?;
                        let mmio = regions[region].phys_addr.is_some_and(virtio_model::slots::in_window);
                        Some(MapSpec { region, vaddr: m.vaddr, size: regions[region].size, perms: m.perms, mmio })
                    })
                    .collect();
                let image = pd.program_image.strip_suffix(".elf").unwrap_or(&pd.program_image);
                PdSpec {
                    name: pd.name.clone(),
                    program: bin_dir.join(image),
                    priority: pd.priority,
                    budget_us: pd.budget,
                    period_us: pd.period,
                    parent: r.parent.and_then(|p| index_of(&p.name)),
                    child_id: pd.id,
                    children,
                    routes,
                    irqs,
                    irq_lines: pd.irqs.iter().filter(|i| i.id < CHANNEL_LIMIT).map(|i| (i.irq, i.id)).collect(),
                    arch_timer,
                    maps,
                }
            })
            .collect();
        Layout { pds, regions }
    }

    /// Index of the PD called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.pds.iter().position(|p| p.name == name)
    }
}
