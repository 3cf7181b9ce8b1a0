//! The console driver end to end: a Unix socket ↔ console model ↔ virtio_console
//! PD ↔ console_client PD (which echoes lines in capitals).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use driver_tests::{DeviceConfig, boot, disk, line};
use host_kernel::ConsoleIo;

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
    let stream = UnixStream::connect(&sock).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut greeting = String::new();
    reader.read_line(&mut greeting).unwrap();
    assert_eq!(greeting, "reincarnate console: type a line\r\n");
    let mut writer = stream;
    for (i, word) in ["hello", "reincarnation server", &"x".repeat(3000)].iter().enumerate() {
        writer.write_all(format!("{word}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        assert_eq!(answer, format!("{}\r\n", word.to_uppercase()));
        assert_eq!(
            line(&mut rx, "console_client", &format!("line {}:", i + 1)),
            format!("console_client: line {}: {} bytes", i + 1, word.len())
        );
    }
    machine.shutdown().unwrap();
    std::fs::remove_file(sock).ok();
    std::fs::remove_file(image).ok();
}
