//! A running system: the kernel on its own thread, driven by `poll` over every
//! PD's control socket and pidfd, and a handle to command it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use microkit::InjectKind;
use rustix::event::{EventfdFlags, PollFd, PollFlags};
use sdf::SystemDescription;

use crate::devices::{self, Attached, DeviceConfig};
use crate::events::{Bus, Event};
use crate::kernel::{Kernel, Source};
use crate::layout::Layout;
use crate::scheduling::Scheduling;
use crate::status::PdStatus;
use crate::swifi::{Corruption, FaultRecord};

/// How to run a system.
pub struct Config {
    /// The system description.
    pub system: SystemDescription,
    /// Directory holding the host build of every PD program.
    pub bin_dir: PathBuf,
    /// Print PD output and kernel messages on the terminal (`[pd] line`).
    pub echo: bool,
    /// Receivers of every event from the very first.
    pub subscribers: Vec<Sender<Event>>,
    /// How PDs are scheduled (by default as on seL4; see `scheduling`).
    pub scheduling: Scheduling,
}

impl Config {
    /// A system that does not echo on the terminal.
    pub fn new(
        system: SystemDescription,
        bin_dir: PathBuf,
        subscribers: Vec<Sender<Event>>,
        scheduling: Scheduling,
    ) -> Config {
        Config { system, bin_dir, echo: false, subscribers, scheduling }
    }
}

/// Why a system could not run, or a command failed.
#[derive(Debug)]
pub enum MachineError {
    /// A PD's program binary does not exist.
    MissingProgram {
        pd: String,
        path: PathBuf,
    },
    /// No PD of that name.
    UnknownPd(String),
    /// The kernel thread is gone.
    Stopped,
    /// The kernel could not carry out the command (why).
    Refused(String),
    Io(io::Error),
}

impl std::fmt::Display for MachineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MachineError::MissingProgram { pd, path } => {
                write!(f, "program of PD {pd} not found at {} (build it first)", path.display())
            }
            MachineError::UnknownPd(pd) => write!(f, "no protection domain named {pd:?}"),
            MachineError::Stopped => f.write_str("the system is not running"),
            MachineError::Refused(why) => f.write_str(why),
            MachineError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MachineError {}

impl From<io::Error> for MachineError {
    fn from(e: io::Error) -> Self {
        MachineError::Io(e)
    }
}

enum Command {
    Inject(usize, InjectKind),
    Corrupt(usize, Corruption, u64, Sender<Result<FaultRecord, String>>),
    Irq(u64),
    Status(Sender<Vec<PdStatus>>),
    Shutdown(Sender<Vec<PdStatus>>),
}

/// A running system.
pub struct Machine {
    commands: Sender<Command>,
    wake: Arc<OwnedFd>,
    thread: Option<JoinHandle<()>>,
    names: Vec<String>,
    devices: Vec<Attached>,
}

impl Machine {
    /// Boots the system: every PD starts, each in its own confined process.
    pub fn boot(config: Config) -> Result<Machine, MachineError> {
        Machine::boot_with(config, DeviceConfig::default())
    }

    /// Boots the system with its devices attached as `devices` says.
    pub fn boot_with(config: Config, devices: DeviceConfig) -> Result<Machine, MachineError> {
        let layout = Layout::new(&config.system, &config.bin_dir);
        for pd in &layout.pds {
            if !pd.program.is_file() {
                return Err(MachineError::MissingProgram { pd: pd.name.clone(), path: pd.program.clone() });
            }
        }
        let names = layout.pds.iter().map(|p| p.name.clone()).collect();
        let bus = Bus::new(config.echo);
        for tx in config.subscribers {
            bus.subscribe(tx);
        }
        let wake = Arc::new(
            rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(io::Error::from)?,
        );
        let mut kernel = Kernel::new(layout, bus, config.scheduling)?;
        let (tx, rx) = mpsc::channel();
        let irq_tx = Arc::new(Mutex::new(tx.clone()));
        let irq_wake = wake.clone();
        let raise = move |irq: u64| {
            if let Ok(tx) = irq_tx.lock()
                && tx.send(Command::Irq(irq)).is_ok()
            {
                let _ = rustix::io::write(&*irq_wake, &1u64.to_ne_bytes());
            }
        };
        let (table, attached) = devices::build(&config.system, kernel.layout(), kernel.regions(), devices, raise)?;
        kernel.set_devices(table);
        let thread_wake = wake.clone();
        // The kernel thread spawns every PD: a PD dies with it (PR_SET_PDEATHSIG).
        let thread =
            std::thread::Builder::new().name("host-kernel".into()).spawn(move || run(kernel, rx, &thread_wake))?;
        Ok(Machine { commands: tx, wake, thread: Some(thread), names, devices: attached })
    }

    fn command(&self, cmd: Command) -> Result<(), MachineError> {
        self.commands.send(cmd).map_err(|_| MachineError::Stopped)?;
        rustix::io::write(&*self.wake, &1u64.to_ne_bytes()).map_err(io::Error::from)?;
        Ok(())
    }

    /// Index of a PD by name.
    fn index(&self, pd: &str) -> Result<usize, MachineError> {
        self.names.iter().position(|n| n == pd).ok_or_else(|| MachineError::UnknownPd(pd.to_string()))
    }

    /// The devices, with their slots.
    pub fn devices(&self) -> &[Attached] {
        &self.devices
    }

    /// The device of `kind` (the first, if there are several).
    pub fn device(&self, kind: virtio_model::slots::Kind) -> Option<&virtio_model::Device> {
        self.devices.iter().find(|a| a.slot.kind == kind).map(|a| &a.device)
    }

    /// Makes `pd` fail on purpose the next time it waits for an event.
    pub fn inject(&self, pd: &str, kind: InjectKind) -> Result<(), MachineError> {
        let i = self.index(pd)?;
        self.command(Command::Inject(i, kind))
    }

    /// Corrupts `pd`'s running process now, from outside (see [`Corruption`]);
    /// `choice` picks the register, byte and bit, so a campaign replays from
    /// its seed. Returns what was hit.
    pub fn corrupt(&self, pd: &str, corruption: Corruption, choice: u64) -> Result<FaultRecord, MachineError> {
        let i = self.index(pd)?;
        let (tx, rx) = mpsc::channel();
        self.command(Command::Corrupt(i, corruption, choice, tx))?;
        rx.recv().map_err(|_| MachineError::Stopped)?.map_err(MachineError::Refused)
    }

    /// The current status of every PD.
    pub fn status(&self) -> Result<Vec<PdStatus>, MachineError> {
        let (tx, rx) = mpsc::channel();
        self.command(Command::Status(tx))?;
        rx.recv().map_err(|_| MachineError::Stopped)
    }

    /// Stops every PD and the kernel; returns the final status.
    pub fn shutdown(mut self) -> Result<Vec<PdStatus>, MachineError> {
        let (tx, rx) = mpsc::channel();
        self.command(Command::Shutdown(tx))?;
        let status = rx.recv().map_err(|_| MachineError::Stopped);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        status
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let (tx, _rx) = mpsc::channel();
            if self.command(Command::Shutdown(tx)).is_ok() {
                let _ = t.join();
            }
        }
    }
}

fn run(mut kernel: Kernel, commands: Receiver<Command>, wake: &OwnedFd) {
    kernel.boot();
    loop {
        let ready: Vec<Source> = {
            let sources = kernel.sources();
            let mut fds: Vec<PollFd<'_>> = std::iter::once(PollFd::new(wake, PollFlags::IN))
                .chain(sources.iter().map(|(fd, _)| PollFd::from_borrowed_fd(*fd, PollFlags::IN)))
                .collect();
            // Wake up for the timer model's deadline.
            let timeout = kernel.timer_due_in().map(|ns| rustix::event::Timespec {
                tv_sec: (ns / 1_000_000_000) as _,
                tv_nsec: (ns % 1_000_000_000) as _,
            });
            if let Err(e) = rustix::event::poll(&mut fds, timeout.as_ref()) {
                if e != rustix::io::Errno::INTR {
                    eprintln!("[kernel] poll failed: {e}");
                }
                continue;
            }
            fds[1..]
                .iter()
                .zip(&sources)
                .filter(|(fd, _)| !fd.revents().is_empty())
                .map(|(_, (_, source))| *source)
                .collect()
        };
        kernel.on_time();
        for source in ready {
            match source {
                Source::Control(i) => kernel.on_control(i),
                Source::Exit(i) => kernel.on_exit(i),
            }
        }
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(wake, &mut buf);
        while let Ok(cmd) = commands.try_recv() {
            match cmd {
                Command::Inject(i, kind) => kernel.inject(i, kind),
                Command::Corrupt(i, corruption, choice, tx) => {
                    let _ = tx.send(kernel.corrupt(i, corruption, choice));
                }
                Command::Irq(irq) => kernel.raise_irq(irq),
                Command::Status(tx) => {
                    let _ = tx.send(kernel.status());
                }
                Command::Shutdown(tx) => {
                    kernel.shutdown();
                    let _ = tx.send(kernel.status());
                    return;
                }
            }
        }
    }
}
