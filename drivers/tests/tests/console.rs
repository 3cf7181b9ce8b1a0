//! The console driver end to end: a Unix socket ↔ console model ↔
//! virtio_console PD ↔ the shell PD (apps/shell), whose `echo` answers.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use driver_tests::{DeviceConfig, boot, disk, line};
use host_kernel::ConsoleIo;

/// Reads from `s` until `needle` came; returns all read.
fn read_until(s: &mut UnixStream, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?}; got {:?}", String::from_utf8_lossy(&got));
        match s.read(&mut buf) {
            Ok(0) => panic!("the console closed"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn bytes_go_both_ways_through_a_socket() {
    let sock = std::env::temp_dir().join(format!("reincarnate-console-{}.sock", std::process::id()));
    let image = disk("console", 64);
    let (machine, mut rx) = boot(DeviceConfig {
        disk: Some(image.clone()),
        console: ConsoleIo::Socket(sock.clone()),
        ..Default::default()
    });
    line(&mut rx, "virtio_console", "ready");
    let mut stream = UnixStream::connect(&sock).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let greeting = read_until(&mut stream, shell::PROMPT);
    assert_eq!(greeting, format!("{}\r\n{}", shell::GREETING, shell::PROMPT));
    // Short and long lines (the longest the shell keeps), each byte echoed as
    // typed, then the answer, then the prompt.
    let long = "x".repeat(shell::editor::MAX_LINE - 5);
    for word in ["hello", "reincarnation server", &long] {
        stream.write_all(format!("echo {word}\r").as_bytes()).unwrap();
        let answer = read_until(&mut stream, &format!("\r\n{word}\r\n{}", shell::PROMPT));
        assert_eq!(answer, format!("echo {word}\r\n{word}\r\n{}", shell::PROMPT));
    }
    machine.shutdown().unwrap();
    std::fs::remove_file(sock).ok();
    std::fs::remove_file(image).ok();
}
