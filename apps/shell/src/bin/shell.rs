//! The shell PD: `/dev/console` opened through VFS, a line editor on what the
//! terminal sends, and the commands of `shell::command`. Component commands
//! are calls on the admin channel to RS (answered at once), `net` calls on the
//! network server's report (`net_api::report`, answered at once); file
//! commands are requests to VFS, run one at a time as a [`Job`] that goes on
//! each time VFS notifies (lines typed meanwhile wait their turn). Console
//! reads and writes are answered in their call, so keys are echoed while a job
//! runs. When the console driver restarts, VFS answers EIO (the stream broke,
//! as a terminal hangs up): the shell closes the console, opens it again, says
//! so on the fresh driver and goes on.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use microkit::{Channel, Handler, debug_println};
use net_api::SocketId;
use net_api::report::NetReport;
use rs_api::RsAdmin;
use shell::command::{self, Command, Service};
use shell::editor::{Edit, Editor};
use shell::{GREETING, PROMPT, format as show};
use vfs_api::protocol::DEVICE_BYTES;
use vfs_api::{Handle, Kind, OpenFlags, VfsClient, VfsError};

microkit::include_system!("shell");
include!(concat!(env!("OUT_DIR"), "/shell.net_report.rs"));

/// The console, through VFS.
const CONSOLE: &str = "/dev/console";

/// Lines typed while a job runs, kept at most.
const QUEUED_MAX: usize = 16;
/// Bytes of output kept waiting for the driver at most (a dead or slow
/// console must not take all memory): older output is dropped past it.
const OUT_MAX: usize = 64 * 1024;

/// A file command in flight on VFS: what it waits for.
#[derive(Clone, Debug)]
enum Job {
    List {
        dir: String,
        cursor: u64,
    },
    CatOpen {
        path: String,
    },
    CatRead {
        path: String,
        handle: Handle,
    },
    WriteOpen {
        path: String,
        text: String,
    },
    WriteData {
        path: String,
        handle: Handle,
    },
    /// The bytes are written; `write` says so once they are on the disk.
    WriteSync {
        path: String,
        handle: Handle,
        written: u64,
    },
    /// Closing a handle; `report`: the command's own error, printed after.
    Close {
        what: &'static str,
        path: String,
        report: Option<VfsError>,
    },
    Done {
        what: &'static str,
        path: String,
    },
}

struct Shell {
    /// The console's handle, while it is open.
    console: Option<Handle>,
    /// Bytes waiting to be written to the console.
    out: VecDeque<u8>,
    editor: Editor,
    rs: RsAdmin,
    vfs: VfsClient,
    net: NetReport,
    job: Option<Job>,
    queued: VecDeque<String>,
    /// Output dropped because the console took none.
    dropped: u64,
}

impl Shell {
    fn print(&mut self, text: &str) {
        self.out.extend(text.as_bytes());
        let over = self.out.len().saturating_sub(OUT_MAX);
        if over > 0 {
            self.out.drain(..over);
            self.dropped += over as u64;
        }
    }

    /// `text` with bare LFs made CR LF (for file contents).
    fn print_raw(&mut self, bytes: &[u8]) {
        let mut s = String::with_capacity(bytes.len() + 16);
        for &b in bytes {
            match b {
                b'\n' => s.push_str("\r\n"),
                b'\t' | b'\r' | 0x20..=0x7e => s.push(b as char),
                _ => s.push('.'),
            }
        }
        self.print(&s);
    }

    fn prompt(&mut self) {
        let line = String::from(self.editor.line());
        self.print(PROMPT);
        self.print(&line);
    }

    /// Writes what the console takes of the output (the rest waits for
    /// VFS's next notification).
    fn send_more(&mut self) {
        while !self.out.is_empty() {
            let Some(handle) = self.console else { return };
            let n = self.out.len().min(DEVICE_BYTES);
            match self.vfs.write_device(handle, &self.out.make_contiguous()[..n]) {
                Ok(0) | Err(VfsError::WouldBlock) => return,
                Ok(taken) => {
                    self.out.drain(..taken);
                }
                Err(e) => {
                    // Output already taken may not have reached the screen:
                    // the stream broke. The rest goes to the fresh one.
                    self.console_failed(e);
                }
            }
        }
    }

    /// Takes every key typed so far.
    fn read_keys(&mut self) {
        let mut buf = [0u8; DEVICE_BYTES];
        for _ in 0..64 {
            let Some(handle) = self.console else { return };
            match self.vfs.read_device(handle, &mut buf) {
                Ok(n) => {
                    for &b in &buf[..n] {
                        self.key(b);
                    }
                }
                Err(VfsError::WouldBlock) => return,
                Err(e) => self.console_failed(e),
            }
        }
    }

    /// A console call failed: the stream broke (EIO: the driver restarted),
    /// or VFS lost the handle (it restarted). Closes the console and opens it
    /// again; says so on the fresh stream.
    fn console_failed(&mut self, e: VfsError) {
        if let Some(handle) = self.console.take() {
            let _ = self.vfs.close_device(handle);
        }
        if !self.open_console() {
            debug_println!("shell: {CONSOLE}: {e}; opening it again failed too; trying at VFS's next notification");
            return;
        }
        let why = match e {
            VfsError::Io => "the console driver was restarted",
            _ => "the file system server lost the handle",
        };
        debug_println!("shell: {CONSOLE}: {e} ({why}); opened it again, going on");
        self.editor = Editor::new();
        let line = format!("\r\nshell: {CONSOLE}: {e}: {why}; opened it again (keys typed meanwhile may be lost)\r\n");
        self.print(&line);
        self.prompt();
    }

    /// Opens the console; whether it is open.
    fn open_console(&mut self) -> bool {
        match self.vfs.open_device(CONSOLE, OpenFlags::READ | OpenFlags::WRITE) {
            Ok(h) => {
                self.console = Some(h);
                true
            }
            Err(e) => {
                debug_println!("shell: cannot open {CONSOLE}: {e}");
                false
            }
        }
    }

    /// VFS notified: the console (keys, room for output, a broken stream),
    /// and the file job.
    fn vfs_notified(&mut self) {
        if self.console.is_none() && self.open_console() {
            self.print("\r\nshell: the console is back\r\n");
            self.prompt();
        }
        self.read_keys();
        self.step();
        if self.dropped > 0 {
            debug_println!("shell: {} bytes of output dropped: the console took none", self.dropped);
            self.dropped = 0;
        }
    }

    fn key(&mut self, b: u8) {
        match self.editor.feed(b) {
            Edit::None => {}
            Edit::Echo(bytes) => self.out.extend(bytes),
            Edit::Cancelled => {
                self.print("^C\r\n");
                self.prompt();
            }
            Edit::Line(line) => {
                self.print("\r\n");
                if self.job.is_some() {
                    if self.queued.len() < QUEUED_MAX {
                        self.queued.push_back(line);
                    } else {
                        self.print("shell: busy; line dropped\r\n");
                    }
                } else {
                    self.run(&line);
                }
            }
        }
    }

    /// Runs a line; prints the prompt unless a job now runs.
    fn run(&mut self, line: &str) {
        match command::parse(line) {
            Ok(c) => self.command(c),
            Err(e) => {
                self.print(&e);
                self.print("\r\n");
            }
        }
        if self.job.is_none() {
            self.prompt();
        }
    }

    fn command(&mut self, c: Command<'_>) {
        match c {
            Command::Empty => {}
            Command::Help => self.print(&command::HELP.replace('\n', "\r\n")),
            Command::Echo(text) => {
                let text = format!("{text}\r\n");
                self.print(&text);
            }
            Command::Uptime => {
                // The trusted base starts at boot and never restarts: its
                // uptime is the system's.
                let base = (0..)
                    .map_while(|i| self.rs.status(i).ok())
                    .find(|r| r.supervision == rs_api::Supervision::TrustedBase)
                    .and_then(|r| r.uptime_ns());
                let line = match base {
                    Some(ns) => format!("up {}\r\n", show::duration(ns)),
                    None => String::from("uptime: the reincarnation server did not say\r\n"),
                };
                self.print(&line);
            }
            Command::Status => self.status(),
            Command::Service(action, name) => {
                let (verb, result) = match action {
                    Service::Restart => ("restarting", self.rs.restart(name)),
                    Service::Stop => ("stopping", self.rs.stop(name)),
                    Service::Start => ("starting", self.rs.start(name)),
                };
                let line = match result {
                    Ok(()) => format!("service: {verb} {name}\r\n"),
                    Err(e) => format!("service: {name}: {e}\r\n"),
                };
                self.print(&line);
            }
            Command::Inject(name, kind) => {
                let line = match self.rs.inject(name, kind) {
                    Ok(()) => format!("inject: {kind} sent to {name}\r\n"),
                    Err(e) => format!("inject: {name}: {e}\r\n"),
                };
                self.print(&line);
            }
            Command::Crashes(name) => self.crashes(name),
            Command::Net => self.net(),
            Command::Ls(dir) => self.start(Job::List { dir: command::absolute(dir), cursor: 0 }),
            Command::Cat(path) => self.start(Job::CatOpen { path: command::absolute(path) }),
            Command::Write(path, text) => {
                self.start(Job::WriteOpen { path: command::absolute(path), text: format!("{text}\n") })
            }
            Command::Rm(path) => self.start(Job::Done { what: "rm", path: command::absolute(path) }),
            Command::Mkdir(path) => self.start(Job::Done { what: "mkdir", path: command::absolute(path) }),
        }
    }

    fn status(&mut self) {
        let mut rows = Vec::new();
        let result = self.rs.status_all(|r| rows.push(r));
        self.print(&show::status_heading());
        for r in &rows {
            self.print(&show::status_row(r));
        }
        if let Err(e) = result {
            let line = format!("status: the reincarnation server: {e}\r\n");
            self.print(&line);
        }
    }

    fn net(&mut self) {
        let line = format!("net: {}\r\n", net_report::INTERFACE);
        self.print(&line);
        match self.net.link() {
            Ok(c) => self.print(&show::net_link(&c)),
            Err(e) => {
                let line = format!("net: the network server: {e}\r\n");
                self.print(&line);
                return;
            }
        }
        self.print(&show::net_socket_heading());
        for (id, decl) in net_report::SOCKETS.iter().enumerate() {
            let line = match self.net.socket(SocketId(id as u16)) {
                Ok(r) => show::net_socket_row(*decl, &r),
                Err(e) => format!("{:<12} the network server: {e}\r\n", decl.0),
            };
            self.print(&line);
        }
    }

    fn crashes(&mut self, name: &str) {
        let now = (0..).map_while(|i| self.rs.status(i).ok()).find(|r| r.name.as_str() == name).map(|r| r.now_ns);
        let mut shown = 0;
        for nth in 0..rs_api::CRASH_RECORDS {
            match self.rs.crash(name, nth) {
                Ok(r) => {
                    self.print(&show::crash(name, nth, &r, now));
                    shown += 1;
                }
                Err(rs_api::Error::NoRecord) => break,
                Err(e) => {
                    let line = format!("crashes: {name}: {e}\r\n");
                    self.print(&line);
                    return;
                }
            }
        }
        if shown == 0 {
            let line = format!("crashes: {name} has not crashed\r\n");
            self.print(&line);
        } else {
            self.print("(cargo xtask crashes NAME symbolizes the PC against the PD's ELF)\r\n");
        }
    }

    /// Starts the file command `job`.
    fn start(&mut self, job: Job) {
        self.job = self.begin(job);
    }

    /// Starts `job`'s request; the job that now waits for it, or `None` (the
    /// request was refused: said so).
    fn begin(&mut self, job: Job) -> Option<Job> {
        let started = match &job {
            Job::List { dir, cursor } => self.vfs.start_readdir(dir, *cursor),
            Job::CatOpen { path } => self.vfs.start_open(path, OpenFlags::READ),
            Job::WriteOpen { path, .. } => {
                self.vfs.start_open(path, OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE)
            }
            Job::Done { what: "rm", path } => self.vfs.start_unlink(path),
            Job::Done { path, .. } => self.vfs.start_mkdir(path),
            Job::CatRead { handle, .. } => self.vfs.start_read(*handle, self.vfs.max_transfer().min(4096)),
            Job::WriteData { .. } | Job::WriteSync { .. } => Ok(()),
            Job::Close { .. } => Ok(()),
        };
        match started {
            Ok(()) => Some(job),
            Err(e) => {
                let (what, path) = job_name(&job);
                let line = format!("{what}: {path}: {e}\r\n");
                self.print(&line);
                None
            }
        }
    }

    /// VFS notified: takes the result of the request in flight and goes on.
    fn step(&mut self) {
        let Some(job) = self.job.take() else { return };
        let next = match self.advance(job) {
            Ok(next) => next,
            Err(job) => {
                self.job = Some(job);
                return;
            }
        };
        self.job = next;
        if self.job.is_none() {
            // The job ended: the lines typed meanwhile, then the prompt.
            while self.job.is_none() {
                match self.queued.pop_front() {
                    Some(line) => {
                        self.prompt_line(&line);
                        self.run(&line);
                    }
                    None => {
                        self.prompt();
                        break;
                    }
                }
            }
        }
    }

    fn prompt_line(&mut self, line: &str) {
        let text = format!("{PROMPT}{line}\r\n");
        self.print(&text);
    }

    /// The job after `job`'s result; `Err(job)`: not there yet.
    fn advance(&mut self, job: Job) -> Result<Option<Job>, Job> {
        let fail = |s: &mut Shell, what: &str, path: &str, e: VfsError| {
            let line = format!("{what}: {path}: {e}\r\n");
            s.print(&line);
        };
        match job {
            Job::List { dir, cursor } => {
                let mut name = [0u8; vfs_api::MAX_PATH];
                match self.vfs.take_entry(&mut name) {
                    Err(VfsError::WouldBlock) => Err(Job::List { dir, cursor }),
                    Err(e) => {
                        fail(self, "ls", &dir, e);
                        Ok(None)
                    }
                    Ok(None) => Ok(None),
                    Ok(Some(entry)) => {
                        let shown = String::from_utf8_lossy(&name[..entry.name_len]).into_owned();
                        let line = match entry.kind {
                            Kind::Dir => format!("{:>10}  {shown}/\r\n", "-"),
                            Kind::File => format!("{:>10}  {shown}\r\n", entry.size),
                        };
                        self.print(&line);
                        Ok(self.begin(Job::List { dir, cursor: entry.next }))
                    }
                }
            }
            Job::CatOpen { path } => match self.vfs.take_handle() {
                Err(VfsError::WouldBlock) => Err(Job::CatOpen { path }),
                Err(e) => {
                    fail(self, "cat", &path, e);
                    Ok(None)
                }
                Ok(handle) => Ok(self.begin(Job::CatRead { path, handle })),
            },
            Job::CatRead { path, handle } => {
                let mut buf = vec![0u8; self.vfs.max_transfer().min(4096)];
                match self.vfs.take_read(&mut buf) {
                    Err(VfsError::WouldBlock) => Err(Job::CatRead { path, handle }),
                    Err(e) => Ok(self.close(handle, "cat", path, Some(e))),
                    Ok(0) => Ok(self.close(handle, "cat", path, None)),
                    Ok(n) => {
                        self.print_raw(&buf[..n]);
                        Ok(self.begin(Job::CatRead { path, handle }))
                    }
                }
            }
            Job::WriteOpen { path, text } => match self.vfs.take_handle() {
                Err(VfsError::WouldBlock) => Err(Job::WriteOpen { path, text }),
                Err(e) => {
                    fail(self, "write", &path, e);
                    Ok(None)
                }
                Ok(handle) => {
                    let bytes = &text.as_bytes()[..text.len().min(self.vfs.max_transfer())];
                    match self.vfs.start_write(handle, bytes) {
                        Ok(()) => Ok(Some(Job::WriteData { path, handle })),
                        Err(e) => Ok(self.close(handle, "write", path, Some(e))),
                    }
                }
            },
            Job::WriteData { path, handle } => match self.vfs.take_value() {
                Err(VfsError::WouldBlock) => Err(Job::WriteData { path, handle }),
                Err(e) => Ok(self.close(handle, "write", path, Some(e))),
                Ok(written) => match self.vfs.start_fsync(handle) {
                    Ok(()) => Ok(Some(Job::WriteSync { path, handle, written })),
                    Err(e) => Ok(self.close(handle, "write", path, Some(e))),
                },
            },
            Job::WriteSync { path, handle, written } => match self.vfs.take_done() {
                Err(VfsError::WouldBlock) => Err(Job::WriteSync { path, handle, written }),
                Err(e) => Ok(self.close(handle, "write", path, Some(e))),
                Ok(()) => {
                    // fsync returned: the bytes are on the disk.
                    let line = format!("write: {written} bytes to {path}\r\n");
                    self.print(&line);
                    Ok(self.close(handle, "write", path, None))
                }
            },
            Job::Close { what, path, report } => match self.vfs.take_done() {
                Err(VfsError::WouldBlock) => Err(Job::Close { what, path, report }),
                result => {
                    if let Some(e) = report.or(result.err()) {
                        fail(self, what, &path, e);
                    }
                    Ok(None)
                }
            },
            Job::Done { what, path } => match self.vfs.take_done() {
                Err(VfsError::WouldBlock) => Err(Job::Done { what, path }),
                Err(e) => {
                    fail(self, what, &path, e);
                    Ok(None)
                }
                Ok(()) => Ok(None),
            },
        }
    }

    /// Closes `handle`; the job that waits for it.
    fn close(&mut self, handle: Handle, what: &'static str, path: String, report: Option<VfsError>) -> Option<Job> {
        match self.vfs.start_close(handle) {
            Ok(()) => Some(Job::Close { what, path, report }),
            Err(e) => {
                let line = format!("{what}: {path}: {}\r\n", report.unwrap_or(e));
                self.print(&line);
                None
            }
        }
    }
}

fn job_name(job: &Job) -> (&'static str, &str) {
    match job {
        Job::List { dir, .. } => ("ls", dir),
        Job::CatOpen { path } | Job::CatRead { path, .. } => ("cat", path),
        Job::WriteOpen { path, .. } | Job::WriteData { path, .. } | Job::WriteSync { path, .. } => ("write", path),
        Job::Close { what, path, .. } | Job::Done { what, path } => (what, path),
    }
}

impl Handler for Shell {
    fn notified(&mut self, ch: Channel) {
        if ch == self.vfs.channel() {
            self.vfs_notified();
        }
        self.send_more();
    }
}

fn init() -> Shell {
    let mut shell = Shell {
        console: None,
        out: VecDeque::new(),
        editor: Editor::new(),
        rs: RsAdmin::new(channel::RS_60),
        vfs: VfsClient::new(channel::VFS, region::vfs_shell_data()).with_devices(),
        net: NetReport::new(channel::NET),
        job: None,
        queued: VecDeque::new(),
        dropped: 0,
    };
    // VFS runs above the shell: its init is done before the shell's call.
    shell.open_console();
    shell.print(GREETING);
    shell.print("\r\n");
    shell.prompt();
    shell.send_more();
    debug_println!("shell: on {CONSOLE}");
    shell
}

microkit::protection_domain!(init);
