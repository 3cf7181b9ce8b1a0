//! Files over HTTP with the real curl: `GET /files/...` serves what mtools put
//! on the image, `PUT /files/...` writes through vfs while virtio_blk fails,
//! and after the system stops mtools reads back what curl sent, byte for
//! byte, and `fsck.fat -n` finds the volume clean.

use std::time::Duration;

use microkit::InjectKind;
use net_tests::{NetSystem, sha256, unavailable, with_failures};

#[test]
fn curl_puts_and_gets_files_through_vfs_while_virtio_blk_fails() {
    if let Some(why) = unavailable().or_else(vfs_tests::unavailable) {
        println!("SKIPPED: needs root, ip netns, /dev/net/tun, curl, dosfstools and mtools: {why}");
        return;
    }
    let image = vfs_tests::fat_image("http-files");
    let mut sys = NetSystem::boot_with_disk(Some(image.clone()));
    driver_tests::line(&mut sys.watch, "vfs", "FAT volume mounted");

    // What mtools put on the image before boot.
    let (path, content) = vfs_tests::outside_files().into_iter().next().expect("a file put from outside");
    let url = sys.url(&format!("/files/{}", path.trim_start_matches('/').replace(' ', "%20")));
    let out = sys.curl(&["--fail", &url], 30);
    assert!(out.status.success(), "GET {url}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, content, "GET {url}");

    // A 3 MiB upload while virtio_blk crashes, panics and hangs in turn.
    let body: Vec<u8> = (0..3u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let file = std::env::temp_dir().join(format!("reincarnate-put-{}.bin", std::process::id()));
    std::fs::write(&file, &body).unwrap();
    let up = sys.url("/files/uploaded%20by%20curl.bin");
    let kinds = [InjectKind::Crash, InjectKind::Panic, InjectKind::Hang];
    let (out, injected) = with_failures(&sys.machine, "virtio_blk", &kinds, Duration::from_millis(300), || {
        sys.curl(&["--fail", "--limit-rate", "1M", "-T", file.to_str().unwrap(), &up], 60)
    });
    std::fs::remove_file(&file).ok();
    let answer = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "PUT: {} {answer}", String::from_utf8_lossy(&out.stderr));
    assert!(answer.contains(&format!("\"length\":{}", body.len())) && answer.contains(&sha256(&body)), "{answer}");
    assert!(injected >= 3, "only {injected} failures during the upload");
    println!("PUT of 3 MiB with {injected} virtio_blk failures: {answer}");

    // Read back over HTTP, and a file that is not there.
    let out = sys.curl(&["--fail", &up], 30);
    assert!(out.status.success(), "GET {up}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sha256(&out.stdout), sha256(&body), "GET after PUT");
    let out = sys.curl(&["-o", "/dev/null", "-w", "%{http_code}", &sys.url("/files/no/such/file")], 30);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404");
    assert!(sys.only_restarted("virtio_blk") >= injected);

    // The image, read by mtools after the system stopped.
    let NetSystem { machine, .. } = sys;
    machine.shutdown().expect("the system stops");
    assert_eq!(sha256(&vfs_tests::mtools_get(&image, "/uploaded by curl.bin")), sha256(&body), "mtools reads it back");
    vfs_tests::fsck_clean(&image);
    std::fs::remove_file(&image).ok();
}
