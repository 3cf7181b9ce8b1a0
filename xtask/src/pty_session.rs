//! The shell driven as a person drives it: `cargo xtask run` on a
//! pseudo-terminal that is its controlling terminal (`setsid --ctty`), keys
//! written to the terminal's far end, the screen read back. Run by `cargo
//! xtask test` on the host kernel; it checks the raw-mode terminal
//! (`terminal.rs`) too: typed keys reach the shell at once, Ctrl-C stops the
//! system with exit status 0, and the terminal's modes come back.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{self, LocalModes};

use shell::PROMPT;

use crate::workspace::{Error, Workspace};

/// How long the system may take to come up (it may build first).
const BOOT: Duration = Duration::from_secs(600);
/// How long a command may take to answer.
const ANSWER: Duration = Duration::from_secs(20);

struct Screen {
    master: File,
    bytes: Receiver<Vec<u8>>,
    /// Everything the terminal showed so far, and how much of it was looked at.
    text: String,
    seen: usize,
}

impl Screen {
    fn type_keys(&mut self, keys: &str) -> Result<(), Error> {
        self.master.write_all(keys.as_bytes())?;
        Ok(())
    }

    /// Waits until the screen, past what was already looked at, holds
    /// `needle`; returns what came up to and including it.
    fn until(&mut self, needle: &str, within: Duration) -> Result<String, Error> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.text[self.seen..].find(needle) {
                let end = self.seen + at + needle.len();
                let shown = self.text[self.seen..end].to_string();
                self.seen = end;
                return Ok(shown);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.bytes.recv_timeout(left) {
                Ok(b) => self.text.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => {
                    let tail: String = self.text[self.seen..].chars().rev().take(3000).collect();
                    let tail: String = tail.chars().rev().collect();
                    return Err(format!(
                        "the terminal never showed {needle:?}; after the last match it showed:\n{tail}"
                    )
                    .into());
                }
            }
        }
    }

    /// Types `command` (keys) and Enter; what the shell printed before the
    /// next prompt.
    fn run(&mut self, command: &str) -> Result<String, Error> {
        self.type_keys(&format!("{command}\r"))?;
        // The shell's echo of the line (edits included), then its answer.
        self.until("\r\n", ANSWER)?;
        let out = self.until(PROMPT, ANSWER)?;
        Ok(out[..out.len() - PROMPT.len()].replace('\r', ""))
    }
}

/// The status row of `pd` in `table`: (state, generation).
fn row(table: &str, pd: &str) -> Option<(String, u64)> {
    let f: Vec<&str> = table.lines().find(|l| l.split_whitespace().next() == Some(pd))?.split_whitespace().collect();
    Some((f.get(1)?.to_string(), f.get(2)?.parse().ok()?))
}

pub fn run(ws: &Workspace) -> Result<(), Error> {
    println!("[xtask test] the shell on a pseudo-terminal: cargo xtask run --no-net, driven by keys");
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let slave_path = ptsname(&master, Vec::new())?.into_string().map_err(|_| "the pty's name is not UTF-8")?;
    let master = File::from(master);
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
        .open(&slave_path)?;
    let sd = ws.load_system()?;
    let mut child = Command::new("setsid")
        .arg("--ctty")
        .arg(std::env::current_exe()?)
        .args(["run", "--no-net", "--system"])
        .arg(&ws.system)
        .current_dir(&ws.root)
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave.try_clone()?))
        .spawn()
        .map_err(|e| format!("cannot start setsid (util-linux): {e}"))?;
    let (tx, bytes) = mpsc::channel();
    let mut reader = master.try_clone()?;
    std::thread::Builder::new().name("pty".into()).spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once nobody holds the terminal any more.
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    })?;
    let mut screen = Screen { master, bytes, text: String::new(), seen: 0 };
    let result = session(&mut screen, &mut child, &slave, &sd);
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

fn session(screen: &mut Screen, child: &mut Child, slave: &File, sd: &sdf::SystemDescription) -> Result<(), Error> {
    screen.until("the shell is on this terminal", BOOT)?;
    screen.until(PROMPT, BOOT)?;
    let raw = termios::tcgetattr(slave)?;
    if raw.local_modes.intersects(LocalModes::ICANON | LocalModes::ECHO) {
        return Err("cargo xtask run left the terminal in canonical mode or echoing".into());
    }

    // Every PD has a row; the trusted base too.
    let table = screen.run("status")?;
    for pd in sd.all_pds() {
        let name = &pd.pd.name;
        match row(&table, name) {
            Some((state, _)) if state == "up" || state == "starting" => {}
            other => return Err(format!("status: {name} is {other:?}:\n{table}").into()),
        }
    }

    // A line edited with Backspace and Ctrl-U runs as it reads at the end.
    let edited = screen.run("ech\x7f\x7f\x15echo typed keyX\x7f")?;
    if edited != "typed key\n" {
        return Err(format!("an edited line printed {edited:?}, not \"typed key\\n\"").into());
    }

    // Crash a driver, watch it come back, read its crash record.
    let said = screen.run("inject virtio_blk crash")?;
    if said != "inject: crash sent to virtio_blk\n" {
        return Err(format!("inject printed {said:?}").into());
    }
    let deadline = Instant::now() + ANSWER;
    loop {
        let table = screen.run("status")?;
        if row(&table, "virtio_blk") == Some(("up".into(), 1)) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("virtio_blk never came back up at generation 1:\n{table}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let crashes = screen.run("crashes virtio_blk")?;
    if !crashes.starts_with("#0 virtio_blk generation 0") || !crashes.contains(" pc 0x") {
        return Err(format!("crashes virtio_blk printed:\n{crashes}").into());
    }
    let net = screen.run("net")?;
    if !net.starts_with("net: MAC ") || !net.contains("\nhttp ") {
        return Err(format!("net printed:\n{net}").into());
    }

    // Ctrl-C: SIGINT from the terminal; the system stops, the table follows.
    screen.type_keys("\x03")?;
    screen.until("interrupted: stopping the system", ANSWER)?;
    let deadline = Instant::now() + ANSWER;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            return Err("cargo xtask run did not end within 20 s of Ctrl-C".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(format!("cargo xtask run ended with {status} after Ctrl-C").into());
    }
    let table = screen.until("echo ", ANSWER)?;
    if !table.lines().any(|l| l.starts_with("virtio_blk") && l.split_whitespace().nth(2) == Some("1")) {
        return Err(format!("the final table has no virtio_blk at generation 1:\n{table}").into());
    }
    let restored = termios::tcgetattr(slave)?;
    if !restored.local_modes.contains(LocalModes::ICANON | LocalModes::ECHO) {
        return Err("after Ctrl-C the terminal is not back in canonical mode with echo".into());
    }
    println!(
        "[xtask test] the shell on a pseudo-terminal: status, line editing, inject, crashes, net, Ctrl-C (exit 0, terminal restored)"
    );
    Ok(())
}
