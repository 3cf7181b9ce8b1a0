//! The shell driven as a person would: the main system on the host kernel,
//! its console on a Unix socket (the terminal), commands typed one byte
//! stream at a time, answers read back.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use driver_tests::{DeviceConfig, Watch, boot, line};
use host_kernel::{ConsoleIo, Machine};
use shell::{GREETING, PROMPT};

/// The terminal end of the console.
struct Terminal {
    stream: UnixStream,
    /// Everything read and not yet taken by [`Terminal::until`].
    pending: String,
}

impl Terminal {
    fn connect(sock: &std::path::Path) -> Terminal {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match UnixStream::connect(sock) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                    return Terminal { stream, pending: String::new() };
                }
                Err(e) if Instant::now() > deadline => panic!("{}: {e}", sock.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Types `command` and Enter; returns what the shell printed up to its
    /// next prompt.
    fn run(&mut self, command: &str) -> String {
        self.send(format!("{command}\r").as_bytes());
        let echoed = format!("{command}\r\n");
        let out = self.until(&format!("\n{PROMPT}"));
        let out = out.strip_prefix(&echoed).map(str::to_string).unwrap_or(out);
        out.strip_suffix(PROMPT).map(str::to_string).unwrap_or(out)
    }

    /// Reads until `needle` has come; returns everything up to and
    /// including it (the rest stays pending).
    fn until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(at) = self.pending.find(needle) {
                let rest = self.pending.split_off(at + needle.len());
                return std::mem::replace(&mut self.pending, rest);
            }
            assert!(Instant::now() < deadline, "no {needle:?} from the shell; it printed {:?}", self.pending);
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("the console closed; it printed {:?}", self.pending),
                Ok(n) => self.pending.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
    }
}

/// The row of `name` in `status` output: (state, generation, restarts).
fn row(status: &str, name: &str) -> Option<(String, u64, u64)> {
    let line = status.lines().find(|l| l.split_whitespace().next() == Some(name))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    Some((f[1].to_string(), f[2].parse().ok()?, f[3].parse().ok()?))
}

/// Polls `status` until `ok` holds for it (at most 10 s).
fn status_until(t: &mut Terminal, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = t.run("status");
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "status never showed {what}:\n{s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(name: &str) -> (Machine, Watch, Terminal, std::path::PathBuf, std::path::PathBuf) {
    let image = vfs_tests::fat_image(name);
    let sock = std::env::temp_dir().join(format!("reincarnate-shell-{}-{name}.sock", std::process::id()));
    let (machine, watch) = boot_on(&image, &sock);
    let mut t = Terminal::connect(&sock);
    t.until(&format!("{GREETING}\r\n{PROMPT}"));
    (machine, watch, t, image, sock)
}

/// The main system with `image` as its disk and its console on `sock`, once
/// the volume is mounted.
fn boot_on(image: &std::path::Path, sock: &std::path::Path) -> (Machine, Watch) {
    let (machine, mut watch) = boot(DeviceConfig {
        disk: Some(image.to_path_buf()),
        console: ConsoleIo::Socket(sock.to_path_buf()),
        ..Default::default()
    });
    line(&mut watch, "vfs", "FAT volume mounted");
    (machine, watch)
}

#[test]
fn a_user_manages_components_and_files_from_the_shell() {
    if let Some(why) = vfs_tests::unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let _one = vfs_tests::one_at_a_time();
    let (machine, mut watch, mut t, image, sock) = start("session");

    // status lists every PD of system.xml, the trusted base included.
    let sd = sdf::SystemDescription::load(driver_tests::root().join("system.xml")).unwrap();
    let status = t.run("status");
    for pd in sd.all_pds().iter().map(|p| p.pd) {
        let (state, _, _) = row(&status, &pd.name).unwrap_or_else(|| panic!("no row for {}:\n{status}", pd.name));
        assert!(state == "up" || state == "starting", "{}: {state}\n{status}", pd.name);
    }
    assert!(status.starts_with("NAME "), "{status}");

    // service restart: the generation goes up by one.
    let before = row(&status, "virtio_blk").unwrap().1;
    assert_eq!(t.run("service restart virtio_blk"), "service: restarting virtio_blk\r\n");
    status_until(&mut t, "virtio_blk restarted", |s| {
        row(s, "virtio_blk").is_some_and(|(st, g, _)| st == "up" && g == before + 1)
    });

    // inject, then crashes: the record's PC lies in the driver's inject path.
    assert_eq!(t.run("inject virtio_net crash"), "inject: crash sent to virtio_net\r\n");
    line(&mut watch, "rs", "virtio_net failed");
    let crashes = t.run("crashes virtio_net");
    assert!(crashes.starts_with("#0 virtio_net generation 0"), "{crashes}");
    let word = |key: &str| {
        let at = crashes.find(key).unwrap_or_else(|| panic!("no {key} in {crashes}")) + key.len();
        let hex = crashes[at..].split_whitespace().next().unwrap();
        u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap()
    };
    let (pc, base) = (word("pc "), word("load base "));
    let elf = driver_tests::root().join("target/release/virtio_net");
    let frames = crash_report::symbolize(&elf, pc - base).unwrap();
    let names: Vec<String> = frames.iter().map(|f| f.to_string()).collect();
    assert!(names.iter().any(|f| f.contains("inject") || f.contains("wild_write")), "pc {pc:#x}: {names:?}");
    assert_eq!(t.run("crashes virtio_blk"), "crashes: virtio_blk has not crashed\r\n");

    // net: the network server's report. It saw the one virtio_net restart,
    // and every socket of net.toml has its row.
    let mut report = String::new();
    for _ in 0..50 {
        report = t.run("net");
        if report.contains("restarts seen 1,") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(report.starts_with("net: MAC 52:54:00:12:34:56, 10.0.2.15/24"), "{report}");
    assert!(report.contains("restarts seen 1,"), "{report}");
    for socket in ["http ", "echo_tcp ", "echo_udp "] {
        assert!(report.lines().any(|l| l.starts_with(socket)), "no row for {socket}in\n{report}");
    }
    let http = report.lines().find(|l| l.starts_with("http ")).unwrap();
    assert!(http.contains("tcp-listen") && http.contains("/128"), "{http}");

    // Files through vfs, checked with mtools after shutdown.
    assert_eq!(t.run("mkdir notes"), "");
    assert_eq!(t.run("write notes/today.txt hello from the shell"), "write: 21 bytes to /notes/today.txt\r\n");
    assert_eq!(t.run("cat notes/today.txt"), "hello from the shell\r\n");
    let ls = t.run("ls notes");
    assert!(ls.to_ascii_lowercase().contains("21  today.txt"), "{ls}");
    assert_eq!(t.run("write gone.txt x"), "write: 2 bytes to /gone.txt\r\n");
    assert_eq!(t.run("rm gone.txt"), "");
    assert!(t.run("cat gone.txt").starts_with("cat: /gone.txt: "), "cat of a removed file");

    // Bad commands get a message.
    assert_eq!(t.run("frobnicate"), "frobnicate: no such command (try help)\r\n");
    assert!(t.run("service restart nobody").starts_with("service: nobody: "));
    assert!(t.run("inject virtio_blk boom").starts_with("inject: no fault kind"));
    assert!(t.run("help").contains("service restart|stop|start NAME"));
    // Up since boot (under a minute ago), not the host's uptime.
    let up = t.run("uptime");
    let v = up.strip_prefix("up ").and_then(|u| u.strip_suffix("\r\n")).unwrap_or("");
    let secs = v.strip_suffix("ms").map(|_| 0.0).or_else(|| v.strip_suffix('s').and_then(|n| n.parse::<f64>().ok()));
    assert!(secs.is_some_and(|s| s < 60.0), "{up:?}");

    // The console driver restarts under the shell: VFS breaks the stream
    // (EIO), the shell opens /dev/console again, says so and goes on.
    t.send(b"inject virtio_console crash\r");
    t.until("shell: /dev/console: I/O error: the console driver was restarted; opened it again");
    t.until(PROMPT);
    assert_eq!(t.run("echo still here"), "still here\r\n");

    // Garbage: random bytes, a 10,000-character line, control characters.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut junk = Vec::new();
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        junk.push(x as u8);
    }
    t.send(&junk);
    t.send(&vec![b'y'; 10_000]);
    t.send(b"\x03\x1b[Z\x00\x04\x1a\x03");
    // Whatever the garbage ran, the shell still answers.
    t.send(b"\x03echo alive\r");
    t.until("\r\nalive\r\n");
    t.until(PROMPT);

    // files (apps/files) shares the volume: let it finish and the server's
    // background sync run, so the image is clean.
    line(&mut watch, "files", "files: done");
    // A write after the system sat idle (the server's clock stood still
    // meanwhile) is served, not taken for a dead driver's.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(t.run("write idle.txt after a pause"), "write: 14 bytes to /idle.txt\r\n");
    std::thread::sleep(Duration::from_millis(500));
    // Only what was restarted on purpose restarted: virtio_blk once (service
    // restart), virtio_net and virtio_console once each (inject).
    let table = machine.status().unwrap();
    for s in &table {
        let want = match s.name.as_str() {
            "virtio_blk" | "virtio_net" | "virtio_console" => 1,
            _ => 0,
        };
        assert_eq!(s.restarts, want, "{} restarted {} times", s.name, s.restarts);
    }
    machine.shutdown().unwrap();

    let today = vfs_tests::mtools_get(&image, "/notes/today.txt");
    assert_eq!(today, b"hello from the shell\n");
    assert_eq!(vfs_tests::mtools_get(&image, "/idle.txt"), b"after a pause\n");
    vfs_tests::fsck_clean(&image);
    std::fs::remove_file(image).ok();
    std::fs::remove_file(sock).ok();
}

/// In the child process of the test below: the system, until it is killed.
const SYSTEM_CHILD: &str = "REINCARNATE_SHELL_SYSTEM_CHILD";

/// `write` answers once the file is on the disk (fsync): the whole host
/// kernel (its process, and with it every PD process) killed with SIGKILL
/// right after the answer leaves the file complete on the image.
#[test]
fn a_write_the_shell_answered_survives_sigkill_of_the_whole_host_kernel() {
    if let Ok(paths) = std::env::var(SYSTEM_CHILD) {
        let (image, sock) = paths.split_once('\n').expect("image and socket");
        let _system = boot_on(std::path::Path::new(image), std::path::Path::new(sock));
        println!("child: up");
        loop {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    if let Some(why) = vfs_tests::unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let _one = vfs_tests::one_at_a_time();
    let image = vfs_tests::fat_image("sigkill");
    let sock = std::env::temp_dir().join(format!("reincarnate-shell-{}-sigkill.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    /// The system's process, killed with SIGKILL when dropped (a failed
    /// assertion too).
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_write_the_shell_answered_survives_sigkill_of_the_whole_host_kernel", "--nocapture"])
        .env(SYSTEM_CHILD, format!("{}\n{}", image.display(), sock.display()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let system = Killed(child);
    let mut t = Terminal::connect(&sock);
    t.until(&format!("{GREETING}\r\n{PROMPT}"));
    let text: String = (0..400).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    assert_eq!(t.run(&format!("write durable.txt {text}")), "write: 401 bytes to /durable.txt\r\n");
    drop(system); // SIGKILL, right after the answer
    assert_eq!(vfs_tests::mtools_get(&image, "/durable.txt"), format!("{text}\n").into_bytes());
    std::fs::remove_file(image).ok();
    std::fs::remove_file(sock).ok();
}
