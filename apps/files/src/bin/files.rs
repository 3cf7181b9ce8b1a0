//! A client of the file system server: in each of `ROUNDS` rounds, writes
//! every file of `files::FILES` (create, truncate, write in region-sized
//! pieces, fsync, close), then reads each back and compares; then reads the
//! files put on the disk from outside and lists the root directory. With
//! `files::SEQUENTIAL` on the volume, one file of the size it gives is
//! written and read back front to back after the rounds (`cargo xtask bench
//! fs`). With `files::SOAK` it then goes on with rounds for ever. One
//! request per notification: it starts a request, returns to its event loop,
//! and takes the result when the server notifies. Every error is printed
//! (`files: ERROR ...`) and ends the run (in soak rounds, the round: the
//! next starts after the handle is closed).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use files::{DIRS, FILES, FNV_START, OUTSIDE, ROUNDS, SEQUENTIAL, SEQUENTIAL_FILE, SOAK, fill, fill_sequential, fnv};
use microkit::{Channel, Handler, debug_println};
use vfs_api::{Handle, OpenFlags, VfsClient, VfsError};

microkit::include_system!("files");

const VFS: Channel = channel::VFS;

#[derive(Clone, Copy, Debug)]
enum Step {
    /// Whether `SOAK` is there.
    Probe,
    ProbeClose,
    /// Whether `SEQUENTIAL` is there, and the size it gives.
    SeqProbe,
    SeqProbeRead,
    SeqProbeClose,
    Mkdir(usize),
    OpenWrite(usize),
    Write(usize, usize),
    Fsync(usize),
    CloseWrite(usize),
    OpenRead(usize),
    Read(usize, usize),
    CloseRead(usize),
    /// The sequential pass (after the rounds, if `SEQUENTIAL` gave a size).
    SeqOpenWrite,
    SeqWrite(usize),
    SeqFsync,
    SeqCloseWrite,
    SeqOpenRead,
    SeqRead(usize),
    SeqCloseRead,
    Outside(usize),
    OutsideRead(usize),
    OutsideClose(usize),
    List(u64),
    /// A soak round failed: the handle it had open is closed, then the next
    /// round starts.
    Recover,
    Done,
}

struct Files {
    vfs: VfsClient,
    round: u64,
    step: Step,
    handle: Handle,
    buf: Vec<u8>,
    want: Vec<u8>,
    bytes: u64,
    hash: u64,
    outside_len: u64,
    names: String,
    finished: bool,
    /// `SOAK` is on the volume: rounds go on after `ROUNDS`.
    soak: bool,
    /// The size `SEQUENTIAL` gives: the sequential pass's file.
    sequential: Option<usize>,
    /// Sequential passes to make (the second number `SEQUENTIAL` gives, 1
    /// if none), and made.
    passes: usize,
    pass: usize,
    /// A handle is open (closed before a failed soak round starts over).
    open: bool,
    /// Soak rounds failed since the last that matched.
    failed_rounds: u64,
    /// Timings of the round (ns of the machine's counter): when writing and
    /// reading started, when the fsync in flight started, fsync total and max.
    write_start: u64,
    read_start: u64,
    fsync_start: u64,
    fsync_total: u64,
    fsync_max: u64,
}

impl Files {
    fn chunk(&self) -> usize {
        self.vfs.max_transfer().min(32 * 1024)
    }

    /// Starts the request of the current step.
    fn start(&mut self) -> Result<(), VfsError> {
        let chunk = self.chunk();
        match self.step {
            Step::Probe => self.vfs.start_open(SOAK, OpenFlags::READ),
            Step::SeqProbe => self.vfs.start_open(SEQUENTIAL, OpenFlags::READ),
            Step::SeqProbeRead => self.vfs.start_read(self.handle, 32),
            Step::ProbeClose | Step::SeqProbeClose | Step::Recover => self.vfs.start_close(self.handle),
            Step::Mkdir(i) => self.vfs.start_mkdir(DIRS[i]),
            Step::OpenWrite(i) => {
                self.vfs.start_open(FILES[i].0, OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE)
            }
            Step::Write(i, at) => {
                let n = chunk.min(FILES[i].1 - at);
                self.buf.resize(n, 0);
                fill(self.round, i, at, &mut self.buf);
                self.vfs.start_write(self.handle, &self.buf)
            }
            Step::Fsync(_) => {
                self.fsync_start = now();
                self.vfs.start_fsync(self.handle)
            }
            Step::CloseWrite(_) | Step::CloseRead(_) | Step::OutsideClose(_) => self.vfs.start_close(self.handle),
            Step::SeqOpenWrite => {
                self.vfs.start_open(SEQUENTIAL_FILE, OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE)
            }
            Step::SeqWrite(at) => {
                let n = self.vfs.max_transfer().min(self.sequential.unwrap_or(0) - at);
                self.buf.resize(n, 0);
                fill_sequential(at, &mut self.buf);
                self.vfs.start_write(self.handle, &self.buf)
            }
            Step::SeqFsync => {
                self.fsync_start = now();
                self.vfs.start_fsync(self.handle)
            }
            Step::SeqCloseWrite | Step::SeqCloseRead => self.vfs.start_close(self.handle),
            Step::SeqOpenRead => self.vfs.start_open(SEQUENTIAL_FILE, OpenFlags::READ),
            Step::SeqRead(_) => self.vfs.start_read(self.handle, self.vfs.max_transfer()),
            Step::OpenRead(i) => self.vfs.start_open(FILES[i].0, OpenFlags::READ),
            Step::Read(_, _) | Step::OutsideRead(_) => self.vfs.start_read(self.handle, chunk),
            Step::Outside(i) => self.vfs.start_open(OUTSIDE[i], OpenFlags::READ),
            Step::List(cursor) => self.vfs.start_readdir("/", cursor),
            Step::Done => Ok(()),
        }
    }

    /// Takes the result of the current step and moves to the next; `Ok(false)`:
    /// not done yet.
    fn take(&mut self) -> Result<bool, (&'static str, VfsError)> {
        let chunk = self.chunk();
        let next = match self.step {
            Step::Probe => match self.vfs.take_handle() {
                Ok(h) => {
                    self.handle = h;
                    self.soak = true;
                    Step::ProbeClose
                }
                Err(VfsError::WouldBlock) => return Ok(false),
                Err(_) => Step::SeqProbe,
            },
            Step::ProbeClose => {
                self.result(self.vfs.take_done(), "close")?;
                debug_println!("files: {SOAK} is there: soak rounds after round {}", ROUNDS - 1);
                Step::SeqProbe
            }
            Step::SeqProbe => match self.vfs.take_handle() {
                Ok(h) => {
                    self.handle = h;
                    Step::SeqProbeRead
                }
                Err(VfsError::WouldBlock) => return Ok(false),
                Err(_) => Step::Mkdir(0),
            },
            Step::SeqProbeRead => {
                let mut text = [0u8; 32];
                let n = self.result(self.vfs.take_read(&mut text), "read")?;
                let text = core::str::from_utf8(&text[..n]).unwrap_or("");
                let mut words = text.split_whitespace().map(|w| w.parse::<usize>().ok());
                let (size, passes) = (words.next().flatten(), words.next().unwrap_or(Some(1)));
                match (size, passes) {
                    (Some(bytes), Some(passes)) if bytes > 0 && passes > 0 => {
                        debug_println!(
                            "files: {SEQUENTIAL} is there: {passes} sequential passes of {bytes} bytes after the rounds"
                        );
                        self.sequential = Some(bytes);
                        self.passes = passes;
                    }
                    _ => debug_println!("files: {SEQUENTIAL} gives no size in bytes; no sequential pass"),
                }
                Step::SeqProbeClose
            }
            Step::SeqProbeClose => {
                self.result(self.vfs.take_done(), "close")?;
                Step::Mkdir(0)
            }
            Step::Recover => {
                // Whether the close worked does not matter: the round starts over.
                if let Err(VfsError::WouldBlock) = self.vfs.take_done() {
                    return Ok(false);
                }
                self.open = false;
                self.next_round()
            }
            Step::Mkdir(i) => {
                match self.vfs.take_done() {
                    Ok(()) | Err(VfsError::Exists) => {}
                    Err(VfsError::WouldBlock) => return Ok(false),
                    Err(e) => return Err(("mkdir", e)),
                }
                if i + 1 < DIRS.len() {
                    Step::Mkdir(i + 1)
                } else {
                    self.write_start = now();
                    Step::OpenWrite(0)
                }
            }
            Step::OpenWrite(i) => {
                self.handle = self.result(self.vfs.take_handle(), "open for writing")?;
                self.open = true;
                if FILES[i].1 == 0 { Step::Fsync(i) } else { Step::Write(i, 0) }
            }
            Step::Write(i, at) => {
                let n = self.result(self.vfs.take_value(), "write")? as usize;
                if n != self.buf.len() {
                    return Err(("write (short)", VfsError::Protocol));
                }
                self.bytes += n as u64;
                if at + n < FILES[i].1 { Step::Write(i, at + n) } else { Step::Fsync(i) }
            }
            Step::Fsync(i) => {
                self.result(self.vfs.take_done(), "fsync")?;
                let t = now().saturating_sub(self.fsync_start);
                self.fsync_total += t;
                self.fsync_max = self.fsync_max.max(t);
                Step::CloseWrite(i)
            }
            Step::CloseWrite(i) => {
                self.result(self.vfs.take_done(), "close")?;
                self.open = false;
                if i + 1 < FILES.len() {
                    Step::OpenWrite(i + 1)
                } else {
                    self.read_start = now();
                    Step::OpenRead(0)
                }
            }
            Step::OpenRead(i) => {
                self.handle = self.result(self.vfs.take_handle(), "open for reading")?;
                self.open = true;
                Step::Read(i, 0)
            }
            Step::Read(i, at) => {
                let (path, size, round) = (FILES[i].0, FILES[i].1, self.round);
                match self.take_checked(path, size, at, chunk, |off, out| fill(round, i, off, out))? {
                    None => Step::CloseRead(i),
                    Some(n) => Step::Read(i, at + n),
                }
            }
            Step::CloseRead(i) => {
                self.result(self.vfs.take_done(), "close")?;
                self.open = false;
                if i + 1 < FILES.len() {
                    Step::OpenRead(i + 1)
                } else {
                    if self.failed_rounds > 0 {
                        debug_println!("files: {} rounds failed before this one", self.failed_rounds);
                        self.failed_rounds = 0;
                    }
                    let end = now();
                    debug_println!(
                        "files: round {}: wrote and read back {} files ({} bytes), all match; write {} ns, read {} ns, fsync mean {} ns max {} ns",
                        self.round,
                        FILES.len(),
                        self.bytes,
                        self.read_start - self.write_start,
                        end - self.read_start,
                        self.fsync_total / FILES.len() as u64,
                        self.fsync_max
                    );
                    match (self.round + 1 == ROUNDS, self.sequential) {
                        (false, _) => self.next_round(),
                        (true, Some(_)) => {
                            self.write_start = now();
                            Step::SeqOpenWrite
                        }
                        (true, None) => Step::Outside(0),
                    }
                }
            }
            Step::SeqOpenWrite => {
                self.handle = self.result(self.vfs.take_handle(), "open for writing")?;
                Step::SeqWrite(0)
            }
            Step::SeqWrite(at) => {
                let n = self.result(self.vfs.take_value(), "write")? as usize;
                if n != self.buf.len() {
                    return Err(("write (short)", VfsError::Protocol));
                }
                if at + n < self.sequential.unwrap_or(0) { Step::SeqWrite(at + n) } else { Step::SeqFsync }
            }
            Step::SeqFsync => {
                self.result(self.vfs.take_done(), "fsync")?;
                self.fsync_total = now().saturating_sub(self.fsync_start);
                Step::SeqCloseWrite
            }
            Step::SeqCloseWrite => {
                self.result(self.vfs.take_done(), "close")?;
                self.read_start = now();
                Step::SeqOpenRead
            }
            Step::SeqOpenRead => {
                self.handle = self.result(self.vfs.take_handle(), "open for reading")?;
                Step::SeqRead(0)
            }
            Step::SeqRead(at) => {
                let (size, len) = (self.sequential.unwrap_or(0), self.vfs.max_transfer());
                match self.take_checked(SEQUENTIAL_FILE, size, at, len, fill_sequential)? {
                    None => Step::SeqCloseRead,
                    Some(n) => Step::SeqRead(at + n),
                }
            }
            Step::SeqCloseRead => {
                self.result(self.vfs.take_done(), "close")?;
                let end = now();
                debug_println!(
                    "files: sequential: pass {}: wrote and read back {SEQUENTIAL_FILE} ({} bytes, {} B a call), all match; write {} ns, read {} ns, fsync {} ns",
                    self.pass,
                    self.sequential.unwrap_or(0),
                    self.vfs.max_transfer(),
                    self.read_start - self.write_start,
                    end - self.read_start,
                    self.fsync_total
                );
                self.pass += 1;
                if self.pass < self.passes {
                    self.write_start = now();
                    Step::SeqOpenWrite
                } else {
                    Step::Outside(0)
                }
            }
            Step::Outside(i) => match self.vfs.take_handle() {
                Ok(h) => {
                    self.handle = h;
                    self.hash = FNV_START;
                    self.outside_len = 0;
                    Step::OutsideRead(i)
                }
                Err(VfsError::WouldBlock) => return Ok(false),
                Err(e) => {
                    debug_println!("files: {}: {e}", OUTSIDE[i]);
                    if i + 1 < OUTSIDE.len() { Step::Outside(i + 1) } else { Step::List(0) }
                }
            },
            Step::OutsideRead(i) => {
                self.buf.resize(chunk, 0);
                let mut buf = core::mem::take(&mut self.buf);
                let n = self.result(self.vfs.take_read(&mut buf), "read");
                self.buf = buf;
                let n = n?;
                if n == 0 {
                    debug_println!("files: {}: {} bytes, fnv {:016x}", OUTSIDE[i], self.outside_len, self.hash);
                    Step::OutsideClose(i)
                } else {
                    self.hash = fnv(self.hash, &self.buf[..n]);
                    self.outside_len += n as u64;
                    Step::OutsideRead(i)
                }
            }
            Step::OutsideClose(i) => {
                self.result(self.vfs.take_done(), "close")?;
                if i + 1 < OUTSIDE.len() { Step::Outside(i + 1) } else { Step::List(0) }
            }
            Step::List(_) => {
                let mut name = [0u8; 256];
                match self.result(self.vfs.take_entry(&mut name), "readdir")? {
                    Some(e) => {
                        if !self.names.is_empty() {
                            self.names.push_str(", ");
                        }
                        self.names.push_str(core::str::from_utf8(&name[..e.name_len]).unwrap_or("?"));
                        Step::List(e.next)
                    }
                    None => {
                        debug_println!("files: / holds {}", self.names);
                        if self.soak {
                            debug_println!("files: done; soak rounds from here on");
                            self.next_round()
                        } else {
                            Step::Done
                        }
                    }
                }
            }
            Step::Done => return Ok(true),
        };
        self.step = next;
        Ok(true)
    }

    /// Takes a read of `path` (`size` bytes written, `at` read so far, at
    /// most `len` asked for) and compares it with what `fill` makes there:
    /// `Ok(None)` at the end of the file, `Ok(Some(n))` for `n` more bytes
    /// that match; a short file or other bytes are printed and an error.
    fn take_checked(
        &mut self,
        path: &str,
        size: usize,
        at: usize,
        len: usize,
        fill: impl Fn(usize, &mut [u8]),
    ) -> Result<Option<usize>, (&'static str, VfsError)> {
        self.buf.resize(len, 0);
        let mut buf = core::mem::take(&mut self.buf);
        let n = self.result(self.vfs.take_read(&mut buf), "read");
        self.buf = buf;
        let n = n?;
        if n == 0 {
            if at != size {
                debug_println!("files: ERROR {path}: {at} bytes read, {size} written");
                return Err(("read (length)", VfsError::Protocol));
            }
            return Ok(None);
        }
        self.want.resize(n, 0);
        fill(at, &mut self.want);
        if self.buf[..n] != self.want[..] || at + n > size {
            debug_println!("files: ERROR {path}: bytes {at}..{} differ from what was written", at + n);
            return Err(("read (content)", VfsError::Protocol));
        }
        Ok(Some(n))
    }

    /// The next round's first step (the figures of the last cleared).
    fn next_round(&mut self) -> Step {
        self.bytes = 0;
        self.round += 1;
        self.write_start = now();
        self.fsync_total = 0;
        self.fsync_max = 0;
        Step::OpenWrite(0)
    }

    fn result<T>(&self, r: Result<T, VfsError>, what: &'static str) -> Result<T, (&'static str, VfsError)> {
        r.map_err(|e| (what, e))
    }

    /// On a notification: take the result, start the next request.
    fn advance(&mut self) {
        if self.finished {
            return;
        }
        match self.take() {
            Ok(true) => {}
            Ok(false) => return,
            Err((_, VfsError::WouldBlock)) => return,
            Err((what, e)) => {
                let soaking = self.soak && self.round >= ROUNDS;
                // In soak rounds, the first error of a run of failed rounds
                // (a broken driver fails each at once until RS replaces it).
                if !soaking || self.failed_rounds == 0 {
                    debug_println!("files: ERROR {what} in {:?} of round {}: {e}", self.step, self.round);
                }
                if !soaking {
                    self.finished = true;
                    return;
                }
                self.failed_rounds += 1;
                self.step = if self.open { Step::Recover } else { self.next_round() };
            }
        }
        if let Step::Done = self.step {
            debug_println!("files: done");
            self.finished = true;
            return;
        }
        // In soak rounds a request that cannot start (its handle was closed
        // by a fresh mount, say) fails the round; the next starts afresh.
        for _ in 0..3 {
            let Err(e) = self.start() else { return };
            let soaking = self.soak && self.round >= ROUNDS;
            if !soaking || self.failed_rounds == 0 {
                debug_println!("files: ERROR starting {:?} of round {}: {e}", self.step, self.round);
            }
            if !soaking {
                break;
            }
            self.failed_rounds += 1;
            self.open = false;
            self.step = self.next_round();
        }
        self.finished = true;
    }
}

fn now() -> u64 {
    microkit::arch_timer::now_ns()
}

impl Handler for Files {
    fn notified(&mut self, ch: Channel) {
        if ch == VFS {
            self.advance();
        }
    }
}

fn init() -> Files {
    let mut f = Files {
        vfs: VfsClient::new(VFS, region::vfs_files_data()),
        round: 0,
        step: Step::Probe,
        handle: Handle(0),
        buf: vec![0; 32 * 1024],
        want: Vec::new(),
        bytes: 0,
        hash: FNV_START,
        outside_len: 0,
        names: String::new(),
        finished: false,
        soak: false,
        sequential: None,
        passes: 1,
        pass: 0,
        open: false,
        failed_rounds: 0,
        write_start: 0,
        read_start: 0,
        fsync_start: 0,
        fsync_total: 0,
        fsync_max: 0,
    };
    debug_println!("files: {} files in {} rounds", FILES.len(), ROUNDS);
    if let Err(e) = f.start() {
        debug_println!("files: ERROR starting: {e}");
        f.finished = true;
    }
    f
}

microkit::protection_domain!(init);
