//! Which device sits at which virtio-mmio slot, derived from the system
//! description alone, so the host kernel and QEMU get the same slots.
//!
//! A device is a `memory_region` whose `phys_addr` is a slot of QEMU virt's
//! virtio-mmio window (slot n at `0x0a000000 + 0x200 * n`, n < 32). Its kind comes
//! from the region's name, which contains `blk`, `net` or `console`. Its driver is
//! the one PD that maps the region; the device's IRQ is `48 + n` and must be an
//! `irq` of that PD; its DMA memory is every other region with a `phys_addr` that
//! the driver maps.

use std::fmt;

use sdf::SystemDescription;

/// Start of QEMU virt's virtio-mmio window.
pub const WINDOW_BASE: u64 = 0x0a00_0000;
/// Slots in the window.
pub const SLOTS: u64 = 32;
/// seL4 IRQ of slot 0 (SPI 16 + 32).
pub const IRQ_BASE: u64 = 48;

/// True if `paddr` lies in the virtio-mmio window.
pub fn in_window(paddr: u64) -> bool {
    (WINDOW_BASE..WINDOW_BASE + SLOTS * crate::reg::SLOT_SIZE).contains(&paddr)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Blk,
    Net,
    Console,
}

impl Kind {
    /// The QEMU device that plays this model on seL4.
    pub fn qemu_device(self) -> &'static str {
        match self {
            Kind::Blk => "virtio-blk-device",
            Kind::Net => "virtio-net-device",
            Kind::Console => "virtio-serial-device",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Blk => "blk",
            Kind::Net => "net",
            Kind::Console => "console",
        })
    }
}

/// One device of the system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub kind: Kind,
    /// Slot number (`bus=virtio-mmio-bus.N` on QEMU).
    pub slot: u64,
    /// Physical address of the registers.
    pub paddr: u64,
    /// The register region's name.
    pub region: String,
    /// The driver PD.
    pub driver: String,
    /// The device's IRQ.
    pub irq: u64,
    /// The driver's DMA regions (names).
    pub dma: Vec<String>,
}

/// Every device of the system, in document order of their regions.
pub fn from_system(sd: &SystemDescription) -> Result<Vec<Slot>, String> {
    let mut out = Vec::new();
    for mr in &sd.memory_regions {
        let Some(paddr) = mr.phys_addr.filter(|&p| in_window(p)) else { continue };
        let offset = paddr - WINDOW_BASE;
        if !offset.is_multiple_of(crate::reg::SLOT_SIZE) {
            return Err(format!("region {}: {paddr:#x} is not the start of a virtio-mmio slot", mr.name));
        }
        let slot = offset / crate::reg::SLOT_SIZE;
        let kinds: Vec<Kind> = [("blk", Kind::Blk), ("net", Kind::Net), ("console", Kind::Console)]
            .into_iter()
            .filter(|(word, _)| mr.name.contains(word))
            .map(|(_, k)| k)
            .collect();
        let [kind] = kinds[..] else {
            return Err(format!(
                "region {}: a virtio-mmio region's name must contain exactly one of blk, net, console",
                mr.name
            ));
        };
        let drivers: Vec<_> =
            sd.all_pds().into_iter().filter(|r| r.pd.maps.iter().any(|m| m.mr == mr.name)).map(|r| r.pd).collect();
        let [driver] = drivers[..] else {
            return Err(format!(
                "region {}: mapped by {} PDs; a device has exactly one driver",
                mr.name,
                drivers.len()
            ));
        };
        let irq = IRQ_BASE + slot;
        if !driver.irqs.iter().any(|i| i.irq == irq) {
            return Err(format!("{}: drives the device at slot {slot} but has no irq {irq}", driver.name));
        }
        let dma = driver
            .maps
            .iter()
            .filter_map(|m| sd.region(&m.mr))
            .filter(|r| r.phys_addr.is_some_and(|p| !in_window(p)))
            .map(|r| r.name.clone())
            .collect();
        out.push(Slot { kind, slot, paddr, region: mr.name.clone(), driver: driver.name.clone(), irq, dma });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> SystemDescription {
        SystemDescription::parse(std::path::Path::new("t.xml"), xml).unwrap()
    }

    const SYS: &str = r#"<system>
        <memory_region name="blk_regs" size="0x1000" phys_addr="0xa000000" />
        <memory_region name="blk_dma" size="0x10000" phys_addr="0xa0000000" />
        <protection_domain name="drv" priority="100">
            <program_image path="drv.elf" />
            <map mr="blk_regs" vaddr="0x2000000" perms="rw" cached="false" />
            <map mr="blk_dma" vaddr="0x3000000" perms="rw" />
            <irq irq="48" id="1" />
        </protection_domain>
    </system>"#;

    #[test]
    fn derives_kind_slot_driver_irq_and_dma() {
        let slots = from_system(&parse(SYS)).unwrap();
        assert_eq!(
            slots,
            [Slot {
                kind: Kind::Blk,
                slot: 0,
                paddr: 0xa00_0000,
                region: "blk_regs".into(),
                driver: "drv".into(),
                irq: 48,
                dma: vec!["blk_dma".into()],
            }]
        );
    }

    #[test]
    fn a_driver_without_the_slot_irq_is_an_error() {
        let err = from_system(&parse(&SYS.replace("irq=\"48\"", "irq=\"49\""))).unwrap_err();
        assert!(err.contains("no irq 48"), "{err}");
    }
}
