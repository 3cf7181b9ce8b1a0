//! Booting a Microkit image on `qemu-system-aarch64`, with the console captured
//! line by line and time-stamped (for checks, status tables and boot times).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::workspace::Error;

pub const QEMU: &str = "qemu-system-aarch64";

/// The QEMU command line for an image (DESIGN.md: what the SDK's board expects),
/// with the devices its system maps, each at its slot (`qemu-args` beside the
/// image, one argument a line, written by `sel4::image` from system.xml).
pub fn command(image: &Path) -> Command {
    command_with(image, None)
}

/// [`command`], or with `terminal_log`: the virtio console (the shell) on this
/// terminal, which QEMU puts in raw mode (Ctrl-C still ends QEMU), and the
/// debug serial (the PDs' lines) into that file.
fn command_with(image: &Path, terminal_log: Option<&Path>) -> Command {
    let mut cmd = Command::new(QEMU);
    cmd.args(["-machine", "virt,virtualization=on", "-cpu", "cortex-a53", "-m", "2G"]);
    match terminal_log {
        None => cmd.arg("-nographic"),
        Some(log) => {
            cmd.args(["-display", "none", "-monitor", "none", "-serial"]).arg(format!("file:{}", log.display()))
        }
    };
    cmd.args(["-global", "virtio-mmio.force-legacy=false"])
        .arg("-device")
        .arg(format!("loader,file={},addr=0x70000000,cpu-num=0", image.display()));
    if let Ok(args) = std::fs::read_to_string(image.with_file_name(crate::devices::QEMU_ARGS)) {
        for arg in args.lines().filter(|l| !l.is_empty()) {
            match terminal_log {
                Some(_) if arg.starts_with(&format!("socket,id={},", crate::devices::CONSOLE_CHARDEV)) => {
                    cmd.arg(format!("stdio,id={},signal=on", crate::devices::CONSOLE_CHARDEV))
                }
                _ => cmd.arg(arg),
            };
        }
    }
    cmd
}

/// Boots the image with the console on this terminal until QEMU ends (Ctrl-A X).
pub fn interactive(image: &Path) -> Result<(), Error> {
    command(image).status()?;
    Ok(())
}

/// Boots the image with the shell on this terminal and the PDs' lines in
/// `log`, until QEMU ends (Ctrl-C).
pub fn interactive_shell(image: &Path, log: &Path) -> Result<(), Error> {
    command_with(image, Some(log)).status()?;
    Ok(())
}

/// One console line and when it arrived, counted from spawning QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub at: Duration,
    pub text: String,
}

/// A running QEMU whose console is read line by line.
pub struct Qemu {
    child: Child,
    lines: Receiver<Line>,
    started: Instant,
    echo: bool,
    /// Every line so far.
    pub console: Vec<Line>,
}

/// Why [`Qemu::run_until`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The condition held.
    Done,
    /// The time was up.
    TimedOut,
    /// QEMU closed its console (it ended).
    Exited,
}

impl Qemu {
    /// Starts QEMU; `echo` prints every console line as it arrives.
    pub fn spawn(image: &Path, echo: bool) -> Result<Qemu, Error> {
        let started = Instant::now();
        let mut child = command(image)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {QEMU}: {e}"))?;
        let stdout = child.stdout.take().ok_or("QEMU has no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new().name("qemu-console".into()).spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_string();
                        if tx.send(Line { at: started.elapsed(), text }).is_err() {
                            break;
                        }
                    }
                }
            }
        })?;
        Ok(Qemu { child, lines, started, echo, console: Vec::new() })
    }

    /// Reads the console until `done` says so for a line (it sees every line), or
    /// `limit` after the spawn has passed, or QEMU ends.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Line) -> bool) -> Outcome {
        loop {
            let Some(left) = limit.checked_sub(self.started.elapsed()) else { return Outcome::TimedOut };
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if self.echo {
                        println!("{}", line.text);
                    }
                    let finished = done(&line);
                    self.console.push(line);
                    if finished {
                        return Outcome::Done;
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Outcome::TimedOut,
                Err(RecvTimeoutError::Disconnected) => return Outcome::Exited,
            }
        }
    }

    /// Time since QEMU started (the clock of `run_until`'s limit).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The console so far as one text.
    pub fn console_text(&self) -> String {
        self.console.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// Writes the console to `path`, each line with its arrival (s since QEMU
    /// started), making the directory if needed.
    pub fn save_console(&self, path: &std::path::Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text: String = self.console.iter().map(|l| format!("{:10.4} {}\n", l.at.as_secs_f64(), l.text)).collect();
        std::fs::write(path, text)
    }

    /// Stops QEMU.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a PD printed `needle` on a seL4 console, where a line of a PD is
/// cut by the lines of PDs that preempt it (each character is its own
/// `seL4_DebugPutChar`, and a PD of higher or equal priority may run between
/// two): from a start where the needle's first 12 bytes come in order within
/// 36 (seen: "peing: pong", ping's first letter then echo's line), its
/// characters in order within a window of the console text, with every number
/// in it (a word with a digit) whole in the window, so that a checksum cannot
/// be pieced together from other lines' digits.
pub fn printed_interleaved(console: &str, needle: &str) -> bool {
    let Some(first) = needle.chars().next() else { return true };
    let anchor = &needle[..needle.len().min(12)];
    let words: Vec<&str> = needle.split_whitespace().filter(|w| w.bytes().any(|b| b.is_ascii_digit())).collect();
    let upto = |at: usize, len: usize| {
        let mut end = (at + len).min(console.len());
        while !console.is_char_boundary(end) {
            end -= 1;
        }
        &console[at..end]
    };
    let in_order = |text: &str, wanted: &str| {
        let mut rest = text.chars();
        wanted.chars().all(|c| rest.any(|w| w == c))
    };
    console.match_indices(first).any(|(at, _)| {
        let window = upto(at, 4 * needle.len() + 400);
        in_order(upto(at, 3 * anchor.len()), anchor)
            && in_order(window, needle)
            && words.iter().all(|w| window.contains(w))
    })
}

/// `qemu-system-aarch64 --version`'s first line, if QEMU runs.
pub fn version() -> Option<String> {
    let out = Command::new(QEMU).arg("--version").output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::printed_interleaved;

    #[test]
    fn a_line_cut_by_other_pds_lines_is_still_found() {
        let needle = "ping: pong answered label 0 checksum 1462 (correct)";
        // As QEMU printed it, cut by two other PDs.
        let cut = "ping: pong answered label 0 checksum echo: serving TCP and UDP port 7\n\
                   @status pd=ping state=up\n1462 (cofiles: 11 files\nrrect)\n";
        assert!(printed_interleaved(cut, needle));
        assert!(printed_interleaved(&format!("x\n{needle}\ny"), needle));
        // Cut after its first letter (seen on seL4: ping and echo at 100).
        let early = "peing: pong answered label 0 checksum 1462 (correct)\nfiles: 11 files\ncho: serving\n";
        assert!(printed_interleaved(early, needle));
        // A wrong checksum, or a verdict nowhere whole, is not the line.
        let wrong = cut.replace("1462", "1463 2");
        assert!(!printed_interleaved(&wrong, needle));
        assert!(!printed_interleaved("ping: pong answered label 0 checksum 14 62 (correct)", needle));
        assert!(!printed_interleaved("pong answered label 0 checksum 1462 (correct)", needle));
    }
}
