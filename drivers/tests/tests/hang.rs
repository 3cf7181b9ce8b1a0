//! A hung driver is restarted, and nothing else is, with the PDs scheduled as
//! on seL4 (one CPU, fixed priorities, the drivers' MCS budgets): the spinning
//! driver at 150 starves everything below it but for the fifth of the CPU its
//! budget leaves, and RS must not take the starved PDs for hung. The QEMU
//! counterpart is `hung_driver_restarts_alone` in `cargo xtask test`.
//!
//! One test in its own binary: no other system shares its CPU meanwhile.

use std::process::Command;
use std::time::{Duration, Instant};

use driver_tests::{DeviceConfig, Event, Scheduling, boot_scheduled, disk, line, wait_for};
use microkit::InjectKind;

/// How long RS's verdicts are watched after the fresh driver is up.
const AFTER: Duration = Duration::from_secs(3);

#[test]
fn a_hung_driver_is_restarted_alone_when_pds_are_scheduled_as_on_sel4() {
    for driver in ["virtio_console", "virtio_blk", "virtio_net"] {
        let image = disk(&format!("hang-{driver}"), 0);
        std::fs::remove_file(&image).unwrap(); // mkfs.fat -C makes it
        let status = Command::new("mkfs.fat").args(["-F", "32", "-C"]).arg(&image).arg("65536").output();
        assert!(status.is_ok_and(|o| o.status.success()), "mkfs.fat (dosfstools) makes the disk");
        let (machine, mut watch) = boot_scheduled(
            DeviceConfig { disk: Some(image.clone()), ..Default::default() },
            Scheduling::Sel4 { cpu: None },
        );
        let how = wait_for(&mut watch, "the kernel's scheduling line", |ev| match ev {
            Event::Log { line, .. } if line.starts_with("scheduling") => Some(line.clone()),
            _ => None,
        });
        line(&mut watch, "vfs", "FAT volume mounted");
        line(&mut watch, "files", "round 0");
        line(&mut watch, "net", "virtio_net attached");
        line(&mut watch, "rs", "@status pd=echo state=up");
        machine.inject(driver, InjectKind::Hang).unwrap();
        line(&mut watch, driver, "injected hang");
        let hung_at = Instant::now();
        line(&mut watch, "rs", &format!("@status pd={driver} state=up generation=1"));
        let restarted_after = hung_at.elapsed();
        // Every verdict RS reaches from now on is kept by the watch.
        std::thread::sleep(AFTER);
        let verdicts: Vec<String> = std::iter::from_fn(|| {
            let pick = |ev: &Event| match ev {
                Event::Output { pd, line, .. } if pd == "rs" && line.contains(" failed (") => Some(line.clone()),
                _ => None,
            };
            watch.take_seen(pick)
        })
        .collect();
        let others: Vec<&String> =
            verdicts.iter().filter(|v| !v.starts_with(&format!("rs: {driver} failed ("))).collect();
        assert!(!verdicts.is_empty(), "RS found no failure of the hung {driver}");
        assert!(
            others.is_empty(),
            "{how}: {driver} hung; RS also found {others:?}; the system's last lines:\n{}",
            watch.recent(80)
        );
        let restarts = driver_tests::only_restarted(&machine, &mut watch, driver);
        println!(
            "{how}: a hung {driver} was up again {} ms later, restarted {restarts} time(s); RS found nothing else \
             failed ({} verdicts)",
            restarted_after.as_millis(),
            verdicts.len()
        );
        drop(machine);
        let _ = std::fs::remove_file(image);
    }
}
