//! The campaign's workloads, each checking every byte end to end, and what
//! they saw go wrong ([`Problems`]):
//!
//! - **files**: `files`' soak rounds (apps/files with `files::SOAK` on the
//!   volume: 11 files of 1 B to 3 MiB written through VFS and virtio_blk,
//!   fsynced, read back and compared in the application, round after round):
//!   bytes that differ reached the application as good data; a failed request
//!   (EIO, say) was an error it was told of;
//! - **console**: numbered lines typed into the console socket every 20 ms
//!   as the shell's `echo` command, and the shell's answer checked line by
//!   line (its prompt, the keys it echoes and its notices are not answers);
//! - **download**: `GET /bytes/N` through virtio_net, the network server and
//!   `http`, from inside the network namespace, every byte compared with
//!   `http`'s pattern (`bench net`'s client).
//!
//! A new workload is one more function that reports into [`Problems`] with
//! the driver it runs on.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use host_kernel::Event;

use crate::bench_net::client;
use crate::workspace::Error;

/// How a workload saw something go wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An error it was told of (a failed request, a broken connection).
    Error,
    /// Wrong bytes delivered as good: must never happen.
    Silent,
    /// Console bytes lost or garbled: the console's contract allows it when the
    /// driver restarts (the stream breaks), nowhere else.
    ConsoleLoss,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Problem {
    pub workload: &'static str,
    pub driver: &'static str,
    pub kind: Kind,
    pub what: String,
    /// Seconds since boot (set when the report is made).
    pub at_s: f64,
    #[serde(skip)]
    pub at: Instant,
    /// The fault it was marked on (its driver's latest then).
    pub fault: Option<usize>,
}

/// What the workloads did, in all.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counters {
    pub file_rounds: u64,
    pub file_failed_rounds: u64,
    /// The longest time without a round that matched, up to the end (s).
    pub file_longest_gap_s: f64,
    pub console_lines: u64,
    pub downloads: u64,
    pub download_bytes: u64,
}

#[derive(Default)]
pub struct Problems {
    inner: Mutex<(Vec<Problem>, Counters)>,
    /// When `files` last finished a round that matched (or the campaign started).
    last_file_round: Mutex<Option<Instant>>,
}

impl Problems {
    pub fn push(&self, workload: &'static str, driver: &'static str, kind: Kind, what: String) {
        self.push_at(workload, driver, kind, what, Instant::now());
    }

    /// A problem that happened at `at` (a lost line: when it was sent).
    pub fn push_at(&self, workload: &'static str, driver: &'static str, kind: Kind, what: String, at: Instant) {
        if let Ok(mut g) = self.inner.lock() {
            g.0.push(Problem { workload, driver, kind, what, at_s: 0.0, at, fault: None });
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut g) = self.inner.lock() {
            f(&mut g.1);
        }
    }

    /// A round of `files` matched at `at` (`None`: the clock starts or stops).
    pub fn file_round(&self, at: Instant) {
        if let Ok(mut last) = self.last_file_round.lock() {
            if let Some(before) = *last {
                let gap = at.saturating_duration_since(before).as_secs_f64();
                self.count(|c| c.file_longest_gap_s = c.file_longest_gap_s.max(gap));
            }
            *last = Some(at);
        }
    }

    pub fn summary(&self) -> String {
        self.inner
            .lock()
            .map(|g| {
                let c = &g.1;
                format!(
                    "files {} rounds, console {} lines, {} downloads; {} problems",
                    c.file_rounds,
                    c.console_lines,
                    c.downloads,
                    g.0.len()
                )
            })
            .unwrap_or_default()
    }

    pub fn take(&self) -> (Vec<Problem>, Counters) {
        self.inner.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// The main thread's view of the events: boot lines, the files workload's
/// checks, and any failure outside the injected drivers.
pub struct Watch {
    rx: Receiver<Event>,
    booted: Instant,
    seen: Vec<(String, String)>,
    /// Failures of PDs outside the injected drivers: (seconds since boot, what).
    pub outside: Vec<(f64, String)>,
}

impl Watch {
    pub fn new(rx: Receiver<Event>, booted: Instant) -> Watch {
        Watch { rx, booted, seen: Vec::new(), outside: Vec::new() }
    }

    /// Waits for a line of `pd` containing `needle` (before any fault).
    pub fn line(&mut self, pd: &str, needle: &str, limit: Duration) -> Result<(), Error> {
        if self.seen.iter().any(|(p, l)| p == pd && l.contains(needle)) {
            return Ok(());
        }
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(Event::Output { pd: p, line, .. }) => {
                    let hit = p == pd && line.contains(needle);
                    self.seen.push((p, line));
                    if hit {
                        return Ok(());
                    }
                }
                Ok(ev) => self.outside_failure(&ev, &[]),
                Err(_) => break,
            }
        }
        Err(format!("timed out waiting for [{pd}] ...{needle}...").into())
    }

    /// Handles the events of up to `limit`.
    pub fn pump(&mut self, limit: Duration, drivers: &[&'static str], problems: &Problems) {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(ev) = self.rx.recv_timeout(left) else { return };
            self.outside_failure(&ev, drivers);
            if let Event::Output { pd, line, .. } = &ev
                && pd == "files"
            {
                files_line(line, problems);
            }
        }
    }

    fn outside_failure(&mut self, ev: &Event, drivers: &[&'static str]) {
        let t = |at: &Instant| at.saturating_duration_since(self.booted).as_secs_f64();
        match ev {
            Event::Fault { pd, fault, at, .. } if !drivers.contains(&pd.as_str()) => {
                self.outside.push((t(at), format!("{pd} faulted: {fault}")));
            }
            Event::Started { pd, generation, at } if *generation > 0 && !drivers.contains(&pd.as_str()) => {
                self.outside.push((t(at), format!("{pd} restarted (generation {generation})")));
            }
            Event::Stopped { pd, at } if !drivers.contains(&pd.as_str()) => {
                self.outside.push((t(at), format!("{pd} stopped")));
            }
            _ => {}
        }
    }
}

/// One line of `files`: a round that matched, bytes that differ from what
/// was written (silent corruption), or another error (the round failed
/// loudly).
fn files_line(line: &str, problems: &Problems) {
    if line.contains("all match") {
        problems.count(|c| c.file_rounds += 1);
        problems.file_round(Instant::now());
    } else if line.contains("differ from what was written") || line.contains("bytes read,") {
        problems.push("files", "virtio_blk", Kind::Silent, line.to_string());
    } else if let Some(n) = line
        .strip_suffix(" rounds failed before this one")
        .and_then(|l| l.strip_prefix("files: "))
        .and_then(|n| n.parse::<u64>().ok())
    {
        // The first of them was printed (and counted) as an error.
        problems.count(|c| c.file_failed_rounds += n.saturating_sub(1));
    } else if line.starts_with("files: ERROR") {
        problems.count(|c| c.file_failed_rounds += 1);
        problems.push("files", "virtio_blk", Kind::Error, line.to_string());
    }
}

/// Why the download cannot run here, if it cannot.
pub fn net_available() -> Result<(), String> {
    host_kernel::netns::available()?;
    if !Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing (no TAP devices)".into());
    }
    Ok(())
}

/// Bytes per download.
const DOWNLOAD: usize = 1 << 20;

/// Downloads until `stop`, from inside the namespace.
pub fn download(addr: SocketAddr, stop: &AtomicBool, problems: &Problems) -> Result<(), String> {
    let body = client::pattern(DOWNLOAD);
    // The first answer: ARP and the connection, before the faults count.
    let deadline = Instant::now() + Duration::from_secs(20);
    while client::download(addr, Duration::ZERO, &body).is_err() {
        if Instant::now() > deadline {
            return Err(format!("no answer from {addr} in 20 s"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    while !stop.load(Ordering::Relaxed) {
        let (trace, error) = match client::download(addr, Duration::from_secs(1), &body) {
            Ok(t) => (t, None),
            Err(f) => (f.trace, Some(f.error)),
        };
        problems.count(|c| {
            c.downloads += trace.requests;
            c.download_bytes += trace.verified;
        });
        if let Some(e) = error {
            let kind = if e.starts_with("byte ") { Kind::Silent } else { Kind::Error };
            problems.push("download", "virtio_net", kind, e);
        }
    }
    Ok(())
}

/// Console lines: sent every so often, echoes checked.
const LINE_EVERY: Duration = Duration::from_millis(20);
/// A line with no echo this long is lost.
const ECHO_LIMIT: Duration = Duration::from_secs(3);

/// Sends numbered lines into the console and checks the echoes, until `stop`.
pub fn console(sock: &Path, stop: &AtomicBool, problems: &Problems) {
    let mut stream = None;
    for _ in 0..200 {
        if let Ok(s) = UnixStream::connect(sock) {
            stream = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(mut s) = stream else {
        problems.push("console", "virtio_console", Kind::Error, format!("cannot connect to {}", sock.display()));
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(5)));
    let mut checker = EchoCheck::default();
    let mut rng = super::Rng::new(0xc0c5);
    let mut next_send = Instant::now();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_send {
            let line = checker.next_line(&mut rng);
            if s.write_all(line.as_bytes()).is_err() {
                problems.push("console", "virtio_console", Kind::Error, "the console socket closed".into());
                return;
            }
            next_send += LINE_EVERY;
        }
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => checker.received(&buf[..n], problems),
            Err(_) => {}
        }
        checker.expire(Instant::now(), problems);
    }
}

/// Lines sent and not yet echoed, and the echo being read.
#[derive(Default)]
struct EchoCheck {
    seq: u64,
    pending: std::collections::VecDeque<(u64, String, Instant)>,
    partial: Vec<u8>,
}

impl EchoCheck {
    fn next_line(&mut self, rng: &mut super::Rng) -> String {
        self.seq += 1;
        let len = 8 + rng.next() % 40;
        let letters: String = (0..len).map(|_| (b'a' + (rng.next() % 26) as u8) as char).collect();
        let line = format!("c{:07} {letters}", self.seq);
        self.pending.push_back((self.seq, line.clone(), Instant::now()));
        format!("echo {line}\r")
    }

    fn received(&mut self, bytes: &[u8], problems: &Problems) {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
            self.echo(&line, problems);
        }
    }

    fn echo(&mut self, line: &str, problems: &Problems) {
        // The shell's own lines: its greeting, the prompt with the keys it
        // echoed, its notices (a driver restart).
        if line.is_empty()
            || line.starts_with(shell::GREETING)
            || line.starts_with(shell::PROMPT.trim_end())
            || line.starts_with("shell: ")
        {
            return;
        }
        let seq = line.strip_prefix('c').and_then(|r| r.get(..7)).and_then(|d| d.parse::<u64>().ok());
        let pos = seq.and_then(|s| self.pending.iter().position(|p| p.0 == s));
        match pos {
            Some(i) if self.pending[i].1 == line => {
                for (s, _, sent) in self.pending.drain(..i) {
                    problems.push_at("console", "virtio_console", Kind::ConsoleLoss, format!("line {s} lost"), sent);
                }
                self.pending.pop_front();
                problems.count(|c| c.console_lines += 1);
            }
            _ => problems.push(
                "console",
                "virtio_console",
                Kind::ConsoleLoss,
                format!("echo {:?} matches no line sent", truncate(line)),
            ),
        }
    }

    fn expire(&mut self, now: Instant, problems: &Problems) {
        while self.pending.front().is_some_and(|p| now.duration_since(p.2) > ECHO_LIMIT) {
            if let Some((s, _, sent)) = self.pending.pop_front() {
                let what = format!("line {s} not echoed in 3 s");
                problems.push_at("console", "virtio_console", Kind::ConsoleLoss, what, sent);
            }
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_checked_line_by_line() {
        let p = Problems::default();
        let mut c = EchoCheck::default();
        let mut rng = crate::campaign::Rng::new(1);
        let a = c.next_line(&mut rng);
        let b = c.next_line(&mut rng);
        let d = c.next_line(&mut rng);
        // The greeting, the prompt with the keys echoed, the answer.
        c.received(format!("{}\r\n{}{}\n", shell::GREETING, shell::PROMPT, a.trim()).as_bytes(), &p);
        let answer = |l: &str| format!("{}\r\n", l.trim().trim_start_matches("echo "));
        c.received(answer(&a).as_bytes(), &p);
        assert!(p.take().0.is_empty());
        // b's answer lost, d's comes in two pieces, a notice between.
        c.received(
            b"shell: /dev/console: I/O error: the console driver was restarted; opened it again (keys typed meanwhile may be lost)\r\n",
            &p,
        );
        let echo = answer(&d);
        let (x, y) = echo.split_at(5);
        c.received(x.as_bytes(), &p);
        c.received(y.as_bytes(), &p);
        let (problems, counters) = p.take();
        assert_eq!(counters.console_lines, 2);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].what.contains("line 2 lost"), "{b}");
        c.received(b"c0000009 garble\r\ncho: no such command (try help)\r\n", &p);
        // (take keeps what it returned: line 2's loss, then the two garbled.)
        let garbled = p.take().0;
        assert_eq!(garbled.len(), 3, "{garbled:?}");
    }

    #[test]
    fn files_lines_count_and_complain() {
        let p = Problems::default();
        files_line(
            "files: round 7: wrote and read back 11 files (4632466 bytes), all match; write 1 ns, read 1 ns, fsync mean 1 ns max 1 ns",
            &p,
        );
        files_line("files: ERROR fsync in Fsync(3) of round 8: I/O error", &p);
        files_line("files: ERROR /data/s511: bytes 0..511 differ from what was written", &p);
        files_line("files: ERROR read (content) in Read(2, 0) of round 9: protocol", &p);
        files_line("files: 40 rounds failed before this one", &p);
        let (problems, c) = p.take();
        assert_eq!((c.file_rounds, c.file_failed_rounds), (1, 41));
        let kinds: Vec<Kind> = problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [Kind::Error, Kind::Silent, Kind::Error]);
    }
}
