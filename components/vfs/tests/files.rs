//! The core on the host: files written and read back through the wire
//! protocol, checked by hadris-fat's fsck, with a driver that is slow, fails
//! and restarts.

mod common;

use common::*;
use driver_queue::SharedMem;
use hadris_fat::FatKind;
use vfs_api::protocol::Request;
use vfs_api::{OpenFlags, VfsError, Whence};

const MIB: usize = 1 << 20;

#[test]
fn files_of_many_sizes_in_directories_with_long_names_round_trip() {
    let mut m = Machine::new(image(40 * MIB, FatKind::Fat32));
    assert_eq!(m.vfs.mounted(), Ok(true));
    m.path_op(CLIENT, "/sub", Request::Mkdir).unwrap();
    m.path_op(CLIENT, "/sub/A much longer directory name", Request::Mkdir).unwrap();
    let sizes = [1usize, 511, 512, 513, 4096, 65_537, 300_000, 2 * MIB + 3];
    let mut files = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let path = match i % 3 {
            0 => format!("/f{i}.bin"),
            1 => format!("/sub/file number {i} with a long name.data"),
            _ => format!("/sub/A much longer directory name/x{i}"),
        };
        let data = pattern(i as u64, size);
        m.put_file(CLIENT, &path, &data).unwrap();
        files.push((path, data));
    }
    for (path, data) in &files {
        assert_eq!(&m.get_file(CLIENT, path).unwrap(), data, "{path}");
        assert_eq!(m.path_op(CLIENT, path, Request::Stat).unwrap(), vec![0, data.len() as u64]);
    }
    let names: Vec<String> = m.list(CLIENT, "/sub").unwrap().into_iter().map(|e| e.0).collect();
    assert!(names.contains(&"A much longer directory name".to_string()), "{names:?}");
    assert!(names.contains(&"file number 1 with a long name.data".to_string()), "{names:?}");
    m.sync_all(CLIENT).unwrap();
    let findings = check(m.driver.disk.clone());
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn seek_append_truncate_rename_unlink() {
    let mut m = Machine::new(image(16 * MIB, FatKind::Fat16));
    m.put_file(CLIENT, "/a.txt", b"hello world").unwrap();
    let h = m.open(CLIENT, "/a.txt", OpenFlags::READ | OpenFlags::WRITE).unwrap();
    assert_eq!(m.seek(CLIENT, h, Whence::Start, 6).unwrap(), 6);
    assert_eq!(m.read(CLIENT, h, 100).unwrap(), b"world");
    assert_eq!(m.seek(CLIENT, h, Whence::End, -5).unwrap(), 6);
    m.write(CLIENT, h, b"WORLD").unwrap();
    assert_eq!(m.seek(CLIENT, h, Whence::Current, -11), Ok(0));
    assert_eq!(m.seek(CLIENT, h, Whence::Current, -1), Err(VfsError::TooLarge));
    m.close(CLIENT, h).unwrap();
    assert_eq!(m.get_file(CLIENT, "/a.txt").unwrap(), b"hello WORLD");
    let h = m.open(CLIENT, "/a.txt", OpenFlags::WRITE | OpenFlags::APPEND).unwrap();
    m.write(CLIENT, h, b"!").unwrap();
    m.close(CLIENT, h).unwrap();
    assert_eq!(m.get_file(CLIENT, "/a.txt").unwrap(), b"hello WORLD!");
    m.rename(CLIENT, "/a.txt", "/b with a long name.txt").unwrap();
    assert_eq!(m.get_file(CLIENT, "/a.txt"), Err(VfsError::NotFound));
    assert_eq!(m.get_file(CLIENT, "/b with a long name.txt").unwrap(), b"hello WORLD!");
    let h = m.open(CLIENT, "/b with a long name.txt", OpenFlags::WRITE | OpenFlags::TRUNCATE).unwrap();
    m.close(CLIENT, h).unwrap();
    assert_eq!(m.get_file(CLIENT, "/b with a long name.txt").unwrap(), b"");
    m.path_op(CLIENT, "/b with a long name.txt", Request::Unlink).unwrap();
    assert_eq!(m.path_op(CLIENT, "/b with a long name.txt", Request::Stat), Err(VfsError::NotFound));
    m.path_op(CLIENT, "/d", Request::Mkdir).unwrap();
    assert_eq!(m.path_op(CLIENT, "/d", Request::Mkdir), Err(VfsError::Exists));
    m.put_file(CLIENT, "/d/x", b"x").unwrap();
    assert_eq!(m.path_op(CLIENT, "/d", Request::Unlink), Err(VfsError::NotEmpty));
    m.path_op(CLIENT, "/d/x", Request::Unlink).unwrap();
    m.path_op(CLIENT, "/d", Request::Unlink).unwrap();
    m.sync_all(CLIENT).unwrap();
    assert!(check(m.driver.disk.clone()).is_empty());
}

#[test]
fn every_bad_request_is_an_error_code() {
    let mut m = Machine::new(image(16 * MIB, FatKind::Fat16));
    let mine = m.open(CLIENT, "/mine", OpenFlags::WRITE | OpenFlags::CREATE).unwrap();
    // Another PD's handle, a handle never given, a closed one.
    assert_eq!(m.write(OTHER, mine, b"x"), Err(VfsError::NotOwner));
    assert_eq!(m.close(OTHER, mine), Err(VfsError::NotOwner));
    assert_eq!(m.write(CLIENT, vfs_api::Handle(12345), b"x"), Err(VfsError::BadHandle));
    assert_eq!(m.read(CLIENT, mine, 1), Err(VfsError::Denied), "opened write-only");
    m.close(CLIENT, mine).unwrap();
    assert_eq!(m.close(CLIENT, mine), Err(VfsError::BadHandle));
    // Paths.
    for bad in ["relative", "/a//b", "/./x", "/x/..", "/"] {
        let r = m.open(CLIENT, bad, OpenFlags::READ);
        assert!(matches!(r, Err(VfsError::BadPath | VfsError::IsDir)), "{bad}: {r:?}");
    }
    assert_eq!(m.open(CLIENT, "/bad\u{1}name", OpenFlags::WRITE | OpenFlags::CREATE), Err(VfsError::BadPath));
    assert_eq!(m.open(CLIENT, "/nope/x", OpenFlags::READ), Err(VfsError::NotFound));
    let long = format!("/{}", "a".repeat(vfs_api::MAX_PATH));
    assert_eq!(
        m.raw_call(CLIENT, vfs_api::protocol::label::STAT, &[0, long.len() as u64]).0,
        VfsError::BadRequest as u64
    );
    // Malformed calls.
    assert_eq!(m.raw_call(CLIENT, 999, &[]).0, VfsError::BadRequest as u64);
    assert_eq!(m.raw_call(CLIENT, vfs_api::protocol::label::READ, &[0, u64::MAX, 2]).0, VfsError::BadRequest as u64);
    assert_eq!(m.raw_call(CLIENT, vfs_api::protocol::label::RESULT, &[]).0, VfsError::BadRequest as u64);
    assert_eq!(m.raw_call(77, vfs_api::protocol::label::RESULT, &[]).0, VfsError::BadRequest as u64, "not a client");
    // Limits: 4 handles each.
    let hs: Vec<_> =
        (0..4).map(|i| m.open(CLIENT, &format!("/h{i}"), OpenFlags::WRITE | OpenFlags::CREATE).unwrap()).collect();
    assert_eq!(m.open(CLIENT, "/h5", OpenFlags::WRITE | OpenFlags::CREATE), Err(VfsError::TooManyOpen));
    m.open(OTHER, "/h0", OpenFlags::READ).unwrap();
    for h in hs {
        m.close(CLIENT, h).unwrap();
    }
    // One request in flight per client.
    m.driver.per_step = 0;
    m.region(CLIENT).write_bytes(0, b"/h1").unwrap();
    let (l, _) = m.raw_call(CLIENT, vfs_api::protocol::label::STAT, &[0, 3]);
    assert_eq!(l, 0);
    assert_eq!(m.raw_call(CLIENT, vfs_api::protocol::label::STAT, &[0, 3]).0, VfsError::Busy as u64);
    m.driver.per_step = usize::MAX;
}

#[test]
fn driver_restarts_and_slowness_are_invisible() {
    let mut m = Machine::new(image(40 * MIB, FatKind::Fat32));
    let mut files = Vec::new();
    let mut k = 0u64;
    for i in 0..24u64 {
        let size = [1, 700, 5000, 70_000, 400_000][i as usize % 5];
        let data = pattern(100 + i, size);
        let path = format!("/restart file {i}.bin");
        let h = m.open(CLIENT, &path, OpenFlags::WRITE | OpenFlags::CREATE).unwrap();
        for chunk in data.chunks(REGION) {
            let mut from = vfs_api::protocol::Span { offset: 0, len: chunk.len() };
            m.region(CLIENT).write_bytes(0, chunk).unwrap();
            from.len = chunk.len();
            let r = m.request_with(CLIENT, Request::Write { handle: h, from }, |m| {
                k += 1;
                // A restart every 7 rounds, a slow driver now and then.
                if k.is_multiple_of(7) {
                    m.driver.restart();
                }
                m.driver.per_step = if k % 13 < 4 { 1 } else { usize::MAX };
            });
            assert_eq!(r, Ok(vec![chunk.len() as u64]));
        }
        let r = m.request_with(CLIENT, Request::Fsync(h), |m| {
            k += 1;
            if k.is_multiple_of(5) {
                m.driver.restart();
            }
        });
        assert_eq!(r, Ok(vec![]));
        m.close(CLIENT, h).unwrap();
        files.push((path, data));
    }
    assert!(m.vfs.port().borrow().counters().resubmitted > 0, "restarts happened under requests");
    for (path, data) in &files {
        assert_eq!(&m.get_file(CLIENT, path).unwrap(), data, "{path}");
    }
    m.sync_all(CLIENT).unwrap();
    let findings = check(m.driver.disk.clone());
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn fsync_puts_acknowledged_writes_on_the_disk() {
    let mut m = Machine::new(image(16 * MIB, FatKind::Fat16));
    let data = pattern(7, 200_000);
    let h = m.open(CLIENT, "/durable", OpenFlags::WRITE | OpenFlags::CREATE).unwrap();
    for chunk in data.chunks(REGION) {
        m.write(CLIENT, h, chunk).unwrap();
    }
    let before = m.driver.disk.clone();
    assert!(m.vfs.port().borrow().dirty() > 0, "write-back: nothing on the disk yet");
    m.fsync(CLIENT, h).unwrap();
    assert_eq!(m.vfs.port().borrow().dirty(), 0);
    assert_ne!(before, m.driver.disk);
    // The disk alone (as after a power cut now) has the file: mount a copy.
    let mut again = Machine::new(m.driver.disk.clone());
    assert_eq!(again.get_file(CLIENT, "/durable").unwrap(), data);
}

#[test]
fn a_driver_down_for_good_turns_requests_into_eio_promptly() {
    let mut m = Machine::new(image(16 * MIB, FatKind::Fat16));
    m.put_file(CLIENT, "/f", &pattern(1, 100_000)).unwrap();
    m.sync_all(CLIENT).unwrap();
    m.vfs.port().borrow_mut().on_driver_notification();
    m.driver.alive = false;
    let start = m.now_ms;
    // The cache may serve a read; a fresh file needs the disk.
    let r = m.put_file(CLIENT, "/g", &pattern(2, 300_000)).and_then(|()| m.sync_all(CLIENT));
    assert_eq!(r, Err(VfsError::Io));
    assert!(m.now_ms - start <= 1000, "EIO after {} ms", m.now_ms - start);
    // New requests fail at once; the server still answers.
    let t = m.now_ms;
    let h = m.open(CLIENT, "/f", OpenFlags::READ);
    if let Ok(h) = h {
        let _ = m.read(CLIENT, h, REGION);
        let _ = m.close(CLIENT, h);
    }
    assert!(m.now_ms - t < 50);
    // A driver that comes back serves again: reads at once; writes after a
    // fresh mount (the file system went read-only when the disk refused).
    m.driver.restart();
    m.settle();
    assert_eq!(m.get_file(CLIENT, "/f").unwrap(), pattern(1, 100_000));
    assert!(m.vfs.remount());
    m.settle();
    m.put_file(CLIENT, "/h", &pattern(4, 50_000)).unwrap();
    m.sync_all(CLIENT).unwrap();
    assert_eq!(m.get_file(CLIENT, "/h").unwrap(), pattern(4, 50_000));
    assert_eq!(m.get_file(CLIENT, "/f").unwrap(), pattern(1, 100_000));
    // Writes the disk refused leave the volume marked dirty (fsck's business:
    // at worst lost clusters); nothing else is wrong.
    let findings = check(m.driver.disk.clone());
    let harmless = |f: &String| f.contains("not unmounted cleanly") || f.contains("lost") || f.contains("free count");
    assert!(findings.iter().all(harmless), "{findings:?}");
}

/// A disk that dies in the middle of a write-back, whichever of the
/// requests in flight it completed (newest first here), holds at worst lost
/// clusters: the FAT goes to the disk before the directory entries that
/// point into it, never a file whose size its cluster chain does not cover.
#[test]
fn a_write_back_cut_short_by_a_dead_disk_leaves_at_worst_lost_clusters() {
    // Lost clusters in every form fsck reports them: allocated and reached by
    // no chain, or a chain longer than its file's size (the directory entry
    // did not grow yet); the first FAT copy on the disk and the second not yet
    // (fsck takes the first). Never a chain shorter than its file, or one into
    // free clusters.
    let harmless = |f: &String| {
        f.contains("not unmounted cleanly")
            || f.contains("free count")
            || f.contains("allocated clusters no chain reaches")
            || f.contains("chain is longer than the file size needs")
            || f.contains("FAT copies differ")
    };
    for kind in [FatKind::Fat16, FatKind::Fat32] {
        let size = if kind == FatKind::Fat32 { 64 * MIB } else { 16 * MIB };
        for k in 0..40 {
            let mut m = Machine::new(image(size, kind));
            m.put_file(CLIENT, "/base.bin", &pattern(1, 10_000)).unwrap();
            m.sync_all(CLIENT).unwrap();
            m.driver.lifo = true;
            m.driver.die_at = Some(m.driver.served + k);
            // A new file in a new directory and a grown one: the FAT, data and
            // directory entries all change in one write-back.
            let _ = m.path_op(CLIENT, "/new dir", Request::Mkdir);
            let _ = m.put_file(CLIENT, "/new dir/a long name.bin", &pattern(2, 150_000));
            if let Ok(h) = m.open(CLIENT, "/base.bin", OpenFlags::WRITE | OpenFlags::APPEND) {
                let _ = m.write(CLIENT, h, &pattern(3, 60_000));
                let _ = m.fsync(CLIENT, h);
                let _ = m.close(CLIENT, h);
            }
            let findings = check(m.driver.disk.clone());
            assert!(findings.iter().all(harmless), "{kind:?}, the disk died after {k} requests: {findings:?}");
        }
    }
}

#[test]
fn the_first_request_after_a_long_idle_spell_is_served_not_taken_for_a_dead_driver() {
    // The server's clock moves only when it runs: after 10 s with nothing to
    // do, the request that wakes it must not count the idle time as the
    // driver's (seen as EIO for the shell's first write after a pause, and a
    // complaint that had RS restart a healthy virtio_blk).
    let mut m = written_and_evicted(&pattern(3, 200_000));
    m.now_ms += 10_000;
    let got = m.get_file(CLIENT, "/checked");
    assert_eq!(got.map(|d| d == pattern(3, 200_000)), Ok(true));
    m.now_ms += 10_000;
    m.put_file(CLIENT, "/after", &pattern(5, 70_000)).unwrap();
    m.sync_all(CLIENT).unwrap();
    let port = m.vfs.port().borrow();
    assert_eq!(port.counters().failed_down, 0, "requests failed as if the driver were down");
    assert!(!port.is_down());
}

/// A file written, synced and evicted from the cache (so that reading it
/// needs the disk), on a machine with a small cache.
fn written_and_evicted(data: &[u8]) -> Machine {
    let mut m = Machine::with_limits(image(16 * MIB, FatKind::Fat16), vfs::Limits { clean: 64, dirty: 4096 });
    m.put_file(CLIENT, "/checked", data).unwrap();
    m.sync_all(CLIENT).unwrap();
    // Other reads push the file's sectors out of the small cache.
    m.put_file(CLIENT, "/other", &pattern(9, 300_000)).unwrap();
    m.sync_all(CLIENT).unwrap();
    assert_eq!(m.get_file(CLIENT, "/other").unwrap(), pattern(9, 300_000));
    m.settle();
    m
}

/// A request the driver failed (seen in the campaign: a bit flip in
/// virtio_blk's registers failed a read, then the driver was restarted) is
/// given again, and the application's read or write completes; a disk that
/// keeps failing still gets EIO.
#[test]
fn a_request_the_driver_failed_once_is_given_again_not_failed() {
    let data = pattern(6, 200_000);
    let mut m = written_and_evicted(&data);
    m.driver.fail_next = 1;
    assert_eq!(m.get_file(CLIENT, "/checked").map(|d| d == data), Ok(true), "the read completes");
    m.driver.fail_next = 2;
    m.put_file(CLIENT, "/again", &pattern(7, 100_000)).unwrap();
    m.sync_all(CLIENT).unwrap();
    assert!(m.vfs.port().borrow().counters().retried >= 3);
    let image = m.driver.disk.clone();
    assert_eq!(m.get_file(CLIENT, "/again").unwrap(), pattern(7, 100_000));
    assert!(check(image).iter().all(|f| !f.contains("chain")), "the writes given again are on the disk");
    // Failing every time: EIO after the retries.
    let mut m = written_and_evicted(&data);
    m.driver.fail_next = u32::MAX;
    assert_eq!(m.get_file(CLIENT, "/checked"), Err(VfsError::Io));
}

#[test]
fn bytes_the_driver_flips_on_a_read_are_read_again_never_delivered() {
    let data = pattern(5, 200_000);
    let mut m = written_and_evicted(&data);
    let before = m.vfs.port().borrow().counters().corrupt;
    m.driver.flip_reads = 1;
    assert_eq!(m.get_file(CLIENT, "/checked").unwrap(), data);
    assert_eq!(m.driver.flip_reads, 0, "the flip happened");
    assert_eq!(m.vfs.port().borrow().counters().corrupt, before + 1);
    // A driver that flips every read: an I/O error, not wrong bytes.
    let mut m = written_and_evicted(&data);
    m.driver.flip_reads = u32::MAX;
    assert_eq!(m.get_file(CLIENT, "/checked"), Err(VfsError::Io));
}

#[test]
fn a_write_the_driver_corrupted_reads_back_as_eio_not_as_wrong_bytes() {
    let data = pattern(6, 100_000);
    let mut m = written_and_evicted(&data);
    // The driver had put a wrong bit on the disk in the file's data (found by
    // its bytes) while reporting the write done.
    let probe = &data[40_000..40_064];
    let at = m.driver.disk.windows(probe.len()).position(|w| w == probe).expect("the file's bytes on the disk");
    m.driver.disk[at + 10] ^= 0x04;
    assert_eq!(m.get_file(CLIENT, "/checked"), Err(VfsError::Io));
    assert_eq!(m.vfs.port().borrow().counters().corrupt, 1 + u64::from(vfs::port::REREADS));
    // The rest of the volume still reads.
    assert_eq!(m.get_file(CLIENT, "/other").unwrap(), pattern(9, 300_000));
}

#[test]
fn device_errors_are_eio_and_nothing_panics() {
    let mut m = Machine::new(image(16 * MIB, FatKind::Fat16));
    m.driver.failing = true;
    let r = m.put_file(CLIENT, "/x", &pattern(3, 10_000)).and_then(|()| m.sync_all(CLIENT));
    assert_eq!(r, Err(VfsError::Io));
}

#[test]
fn a_disk_that_is_not_fat_mounts_nothing_and_says_so() {
    let mut m = Machine::new(vec![0u8; 4 * MIB]);
    assert!(m.vfs.mounted().is_err());
    assert_eq!(m.open(CLIENT, "/x", OpenFlags::READ), Err(VfsError::NoVolume));
}

#[test]
fn a_request_made_before_the_volume_is_mounted_waits_for_it() {
    let mut m = Machine::new(image(40 * MIB, FatKind::Fat32));
    // A fresh server whose driver has not attached yet.
    let queues = leak(0x1000);
    let data = leak(virtio_blk::protocol::DATA_BYTES as usize);
    let port = vfs::Port::new(queues, data, NoBell, vfs::Limits::default()).unwrap();
    let region = m.region(CLIENT);
    m.vfs = vfs::Vfs::new(port, vec![vfs::ClientSpec { channel: CLIENT, max_open: 4, region, console: false }]);
    region.write_bytes(0, b"/early").unwrap();
    assert_eq!(m.raw_call(CLIENT, vfs_api::protocol::label::MKDIR, &[0, 6]).0, 0);
    let disk = std::mem::take(&mut m.driver.disk);
    m.driver = BlkDriver::new(queues, data, disk);
    for _ in 0..2000 {
        m.round();
    }
    assert_eq!(m.vfs.mounted(), Ok(true));
    assert!(m.notified.contains(&CLIENT));
    assert_eq!(m.raw_call(CLIENT, vfs_api::protocol::label::RESULT, &[]).0, 0);
}

/// A file read front to back, none of it cached: the reads after the first
/// wait for the read-ahead their predecessor started (the driver had work
/// meanwhile), and every byte is right.
#[test]
fn a_sequential_read_is_read_ahead_and_every_byte_is_right() {
    let data = pattern(21, MIB + 5);
    let mut m = written_and_evicted(&data);
    let before = m.vfs.port().borrow().counters();
    assert_eq!(m.get_file(CLIENT, "/checked").unwrap(), data);
    let after = m.vfs.port().borrow().counters();
    assert!(after.read_ahead > before.read_ahead, "{after:?}");
    assert!(
        after.read_ahead_used - before.read_ahead_used >= 8,
        "reads of the file waited for read-aheads: {before:?} -> {after:?}"
    );
}
