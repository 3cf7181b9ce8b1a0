//! Files through the file system server while its block driver fails, read
//! back on the image by mtools; files put with mtools read by the system; a
//! driver that keeps failing turns requests into EIO promptly.

use std::time::{Duration, Instant};

use driver_tests::{DeviceConfig, Event, Watch, boot, line, only_restarted, wait_for, with_failures};
use host_kernel::virtio_model::slots::Kind;
use host_kernel::virtio_model::{Faults, Malice};
use microkit::InjectKind;
use vfs_tests::{
    expected, fat_image, fsck_clean, mtools_get, mtools_put, one_at_a_time, outside_files, sha256, unavailable,
};

/// The sequential file `files` writes after its rounds in the failure test:
/// 16 MiB (the largest size), twice.
const SEQUENTIAL_BYTES: usize = 16 << 20;

const MIX: &[InjectKind] = &[InjectKind::Crash, InjectKind::Panic, InjectKind::Hang];

/// The next line of `files`: its end ("done") or an error.
fn files_end(w: &mut Watch) -> String {
    wait_for(w, "files to finish", |ev| match ev {
        Event::Output { pd, line, .. } if pd == "files" && (line.contains("done") || line.contains("ERROR")) => {
            Some(line.clone())
        }
        _ => None,
    })
}

#[test]
fn files_written_while_the_driver_fails_every_300_ms_are_byte_exact_on_the_image() {
    if let Some(why) = unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let _one = one_at_a_time();
    let image = fat_image("vfs-failures");
    mtools_put(&image, files::SEQUENTIAL, format!("{SEQUENTIAL_BYTES} 2\n").as_bytes());
    let (machine, mut w) = boot(DeviceConfig { disk: Some(image.clone()), ..Default::default() });
    line(&mut w, "vfs", "FAT volume mounted");
    let (end, injected) = with_failures(&machine, "virtio_blk", MIX, Duration::from_millis(300), || files_end(&mut w));
    assert_eq!(end, "files: done", "the application saw an error");
    assert!(injected >= 3, "only {injected} failures while files ran");
    // Files put with mtools were read by the system, byte for byte.
    for (path, content) in outside_files() {
        let want =
            format!("files: {path}: {} bytes, fnv {:016x}", content.len(), files::fnv(files::FNV_START, &content));
        assert_eq!(line(&mut w, "files", &format!("{path}:")), want);
    }
    let restarts = only_restarted(&machine, &mut w, "virtio_blk");
    assert!(restarts >= injected, "{restarts} restarts, {injected} failures");
    // Let the server's background sync run, then stop everything.
    std::thread::sleep(Duration::from_millis(500));
    machine.shutdown().unwrap();
    for (i, (path, size)) in files::FILES.iter().enumerate() {
        let got = mtools_get(&image, path);
        assert_eq!(got.len(), *size, "{path}");
        assert_eq!(sha256(&got), sha256(&expected(i)), "{path}: SHA-256");
    }
    let mut want = vec![0u8; SEQUENTIAL_BYTES];
    files::fill_sequential(0, &mut want);
    let got = mtools_get(&image, files::SEQUENTIAL_FILE);
    assert_eq!(got.len(), want.len(), "{}", files::SEQUENTIAL_FILE);
    assert_eq!(sha256(&got), sha256(&want), "{}: SHA-256", files::SEQUENTIAL_FILE);
    fsck_clean(&image);
    println!(
        "{injected} virtio_blk failures while files wrote and read back {} files {} times, then a {} MiB file twice",
        files::FILES.len(),
        files::ROUNDS,
        SEQUENTIAL_BYTES >> 20
    );
    std::fs::remove_file(image).ok();
}

#[test]
fn a_driver_that_keeps_failing_gets_requests_eio_within_a_second_and_vfs_answers() {
    if let Some(why) = unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let _one = one_at_a_time();
    let image = fat_image("vfs-down");
    let (machine, mut w) = boot(DeviceConfig { disk: Some(image.clone()), ..Default::default() });
    line(&mut w, "vfs", "FAT volume mounted");
    line(&mut w, "files", "round 0:");
    // From now on the device lies in its used ring: every fresh driver
    // faults on its first request, RS restarts it with growing backoff.
    let blk = machine.device(Kind::Blk).unwrap().clone();
    blk.set_faults(Faults { malice: Some(Malice::BadId), ..Faults::none() });
    let start = Instant::now();
    let end = files_end(&mut w);
    let took = start.elapsed();
    assert!(end.contains("ERROR") && end.contains("I/O error"), "{end}");
    assert!(took < Duration::from_secs(1), "EIO after {took:?}");
    // Only the driver restarted: vfs and files did not fault.
    only_restarted(&machine, &mut w, "virtio_blk");
    blk.set_faults(Faults::none());
    machine.shutdown().unwrap();
    std::fs::remove_file(image).ok();
}

/// virtio_blk held down, its restart budget spent: crashed every 250 ms
/// (each copy runs past its policy's `stable`, so each is restarted at once
/// and counts) until RS stops restarting it. The requests of `files` (in
/// soak rounds, so it keeps asking) then fail with EIO within a second, and
/// vfs still answers them.
#[test]
fn a_driver_whose_restart_budget_is_spent_gets_requests_eio_within_a_second() {
    if let Some(why) = unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let _one = one_at_a_time();
    let image = fat_image("vfs-budget");
    mtools_put(&image, files::SOAK, b"soak rounds\n");
    let (machine, mut w) = boot(DeviceConfig { disk: Some(image.clone()), ..Default::default() });
    line(&mut w, "vfs", "FAT volume mounted");
    line(&mut w, "files", "soak rounds after round");
    let spent = |ev: &Event| match ev {
        Event::Output { pd, line, .. }
            if pd == "rs" && line.contains("@status pd=virtio_blk ") && line.contains("state=down") =>
        {
            Some(())
        }
        _ => None,
    };
    let mut crashes = 0;
    let stopped = 'crashing: loop {
        assert!(crashes < 40, "virtio_blk's budget not spent after {crashes} crashes:\n{}", w.recent(40));
        machine.inject("virtio_blk", InjectKind::Crash).unwrap();
        crashes += 1;
        for _ in 0..25 {
            std::thread::sleep(Duration::from_millis(10));
            if w.take_seen(spent).is_some() {
                break 'crashing Instant::now();
            }
        }
    };
    let error = line(&mut w, "files", "ERROR");
    let took = stopped.elapsed();
    assert!(error.contains("I/O error"), "{error}");
    assert!(took < Duration::from_secs(1), "EIO {took:?} after virtio_blk was down");
    // vfs answers: the soak rounds go on failing promptly, vfs did not fault.
    line(&mut w, "vfs", "taken as down");
    only_restarted(&machine, &mut w, "virtio_blk");
    println!("virtio_blk down after {crashes} crashes; files got EIO {took:?} later");
    machine.shutdown().unwrap();
    std::fs::remove_file(image).ok();
}
