//! The real curl against the system's HTTP server, from inside the test's own
//! network namespace (and through the 127.0.0.1 relay `cargo xtask run` uses),
//! with and without virtio_net failing under the transfer. Every byte is
//! checked (SHA-256), one TCP connection carries each transfer, and only the
//! driver ever restarts.

use std::time::Duration;

use host_kernel::netns::{Relay, RelayOptions};
use microkit::InjectKind;
use net_tests::{NetSystem, pattern_sha256, sha256, unavailable, with_failures};

const MIX: &[InjectKind] = &[InjectKind::Crash, InjectKind::Panic, InjectKind::Hang];
const BIG: u64 = 64 << 20;

fn skip() -> bool {
    if let Some(why) = unavailable() {
        println!("SKIPPED: the network tests need root, ip netns, /dev/net/tun and curl: {why}");
        return true;
    }
    false
}

/// curl's stdout hashed, and what `-w` printed last (after a newline marker).
fn hashed_download(sys: &NetSystem, args: &[&str], max_s: u32) -> (String, String) {
    let out = sys.curl(args, max_s);
    assert!(out.status.success(), "curl failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    let marker = b"\n@curl ";
    let at = out.stdout.windows(marker.len()).rposition(|w| w == marker).expect("curl's -w line");
    (sha256(&out.stdout[..at]), String::from_utf8_lossy(&out.stdout[at + marker.len()..]).trim().to_string())
}

#[test]
fn curl_gets_64_mib_intact_inside_the_namespace_and_through_the_relay() {
    if skip() {
        return;
    }
    let mut sys = NetSystem::boot();
    let want = pattern_sha256(BIG);
    let url = sys.url(&format!("/bytes/{BIG}"));
    let (got, w) = hashed_download(&sys, &[&url, "-w", "\n@curl %{num_connects} %{speed_download}"], 120);
    assert_eq!(got, want, "the bytes inside the namespace");
    println!("inside the namespace: connections and bytes/s: {w}");

    let relay = Relay::start(
        "127.0.0.1:0".parse().unwrap(),
        std::net::SocketAddr::from((sys.addr, 80)),
        Some(&sys.ns),
        RelayOptions::default(),
    )
    .expect("the relay starts");
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "120", &format!("http://{}/bytes/{BIG}", relay.local_addr())])
        .output()
        .unwrap();
    assert!(out.status.success(), "curl through the relay: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sha256(&out.stdout), want, "the bytes through the relay");
    assert_eq!(sys.only_restarted("virtio_net"), 0);
}

#[test]
fn a_64_mib_download_survives_virtio_net_failing_every_500_ms() {
    if skip() {
        return;
    }
    let mut sys = NetSystem::boot();
    let url = sys.url(&format!("/bytes/{BIG}"));
    // Paced so the transfer outlasts at least 5 failures however fast the machine.
    let ((got, w), injected) = with_failures(&sys.machine, "virtio_net", MIX, Duration::from_millis(500), || {
        hashed_download(&sys, &["--limit-rate", "16M", &url, "-w", "\n@curl %{num_connects} %{speed_download}"], 120)
    });
    println!("{injected} failures (crash, panic, hang in turn); connections and bytes/s: {w}");
    assert_eq!(got, pattern_sha256(BIG), "every byte, in order");
    assert!(injected >= 5, "only {injected} failures during the transfer");
    assert_eq!(w.split(' ').next(), Some("1"), "one TCP connection carried it all");
    let restarts = sys.only_restarted("virtio_net");
    // Each failure restarts it; on a loaded machine the network server may
    // also find a fresh copy slow and complain (a restart more, never fewer).
    assert!(restarts >= injected, "{injected} failures, {restarts} restarts of virtio_net");
}

#[test]
fn a_16_mib_upload_to_sink_is_hashed_right_while_virtio_net_fails() {
    if skip() {
        return;
    }
    let mut sys = NetSystem::boot();
    let body: Vec<u8> = (0..16u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let file = std::env::temp_dir().join(format!("reincarnate-upload-{}.bin", std::process::id()));
    std::fs::write(&file, &body).unwrap();
    let data = format!("@{}", file.display());
    let url = sys.url("/sink");
    let (out, injected) = with_failures(&sys.machine, "virtio_net", MIX, Duration::from_millis(500), || {
        sys.curl(
            &["--limit-rate", "4M", "--data-binary", &data, "-H", "Content-Type: application/octet-stream", &url],
            120,
        )
    });
    std::fs::remove_file(&file).ok();
    let answer = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "curl: {} {answer}", String::from_utf8_lossy(&out.stderr));
    println!("{injected} failures; the server answered {answer}");
    assert!(answer.contains(&format!("\"length\":{}", body.len())), "{answer}");
    assert!(answer.contains(&sha256(&body)), "{answer}");
    assert!(injected >= 3, "only {injected} failures during the upload");
    assert!(sys.only_restarted("virtio_net") >= injected);
}

#[test]
fn a_hundred_concurrent_downloads_complete_intact_while_virtio_net_fails() {
    if skip() {
        return;
    }
    let mut sys = NetSystem::boot();
    const EACH: u64 = 512 << 10;
    const N: usize = 100;
    let dir = std::env::temp_dir().join(format!("reincarnate-par-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = sys.url(&format!("/bytes/{EACH}"));
    let mut args: Vec<String> = ["--parallel", "--parallel-immediate", "--parallel-max", "100", "--fail"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in 0..N {
        args.extend([url.clone(), "-o".into(), dir.join(format!("{i}")).display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, injected) = with_failures(&sys.machine, "virtio_net", MIX, Duration::from_millis(500), || {
        sys.curl(&[&["--limit-rate", "200K"], &args[..]].concat(), 40)
    });
    if !out.status.success() {
        println!("the system's last lines:\n{}", sys.recent(80));
    }
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
    let want = pattern_sha256(EACH);
    for i in 0..N {
        let got = std::fs::read(dir.join(format!("{i}"))).unwrap_or_default();
        assert_eq!(sha256(&got), want, "download {i} ({} bytes)", got.len());
    }
    std::fs::remove_dir_all(&dir).ok();
    println!("{N} concurrent downloads of {EACH} bytes, {injected} failures");
    assert!(injected >= 3, "only {injected} failures during the downloads");
    assert!(sys.only_restarted("virtio_net") >= injected);
}
