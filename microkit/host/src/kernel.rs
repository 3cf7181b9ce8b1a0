//! The kernel proper: seL4's IPC semantics between PD processes.
//!
//! Notifications and protected procedure calls between PDs do not pass through
//! this thread: they go through shared pages, one per channel end, with futex
//! doorbells (see `ipc` and `microkit::host::pages`). This thread owns those
//! pages, hands each PD the ones it may use (its own end writable, the peer's
//! read-only), and steps in where seL4's kernel would:
//!
//! - Notifications OR a bit into the receiver's badge; signals that arrive
//!   before the receiver waits again coalesce into one delivery. IRQs and timer
//!   ticks are signalled by this thread through the PD's kernel page. A PD's
//!   pending notifications persist across its restart (the counters are in pages
//!   that outlive the process).
//! - A protected procedure call blocks the caller until the callee replies; calls
//!   queue at the callee in arrival order and survive a restart of the callee (the
//!   new instance serves them), as callers blocked on a seL4 endpoint do. When the
//!   callee dies mid-call, this thread answers the call it was serving with
//!   `PEER_FAULTED`; when it is gone for good, every call to it. A caller that
//!   dies has its call withdrawn.
//! - A PD that dies (signal, panic, exit, confinement violation, IPC on a channel
//!   it does not have) is a fault, delivered to its parent's `fault` handler; a
//!   top-level PD's fault is logged, as the Microkit monitor does.
//! - An operation on a child or an IRQ that the PD does not have (restart, stop,
//!   inject, IRQ ack) is refused with a [`KernelError`], and the PD goes on, as
//!   its seL4 runtime refuses it.
//! - Restart replaces the process (fresh `.data`, `.bss`, stack, heap); memory
//!   regions and the notification word persist, as kernel objects do on seL4.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::time::Instant;

use microkit::host::pages;
use microkit::host::protocol::{self, FRAME_BYTES, Mrs, ToKernel, ToPd};
use microkit::{CrashContext, Fault, FaultKind, InjectKind, KernelError, MSG_MAX_LENGTH, MessageInfo};

use crate::arch_timer::ArchTimer;
use crate::devices::{DeviceTable, IrqLines};
use crate::events::{Bus, Event};
use crate::ipc::IpcPages;
use crate::layout::Layout;
use crate::process::{self, Ending, Extra, Process, Regions};
use crate::scheduling::{Scheduler, Scheduling};
use crate::status::{PdStatus, ProcessState};
use crate::swifi::{self, Corruption, FaultRecord};

/// Frames handled per PD per wake-up, so one flooding PD cannot starve the rest.
const FRAMES_PER_WAKEUP: usize = 64;

/// A kernel event queued for a PD until it fetches it.
enum Pending {
    Fault { child: u8, fault: Fault },
    Inject(InjectKind),
}

struct Pd {
    process: Option<Process>,
    state: ProcessState,
    queue: VecDeque<Pending>,
    generation: u64,
    restarts: u64,
    last_fault: Option<Fault>,
    /// The runtime's own fault report, sent just before the process dies.
    report: Option<Fault>,
    /// The registers and stack the runtime sent with its fault report, until
    /// the next start (its parent reads them with `Child::crash_context`).
    context: Option<CrashContext>,
}

/// What the machine loop polls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Control(usize),
    Exit(usize),
}

pub struct Kernel {
    layout: Layout,
    regions: Regions,
    ipc: IpcPages,
    pds: Vec<Pd>,
    bus: Bus,
    devices: DeviceTable,
    irq_lines: IrqLines,
    arch_timer: ArchTimer,
    /// Stalled PDs to continue: (PD, generation, when, in `microkit::clock` ns).
    stalled: Vec<(usize, u64, u64)>,
    sched: Scheduler,
}

impl Kernel {
    pub fn new(layout: Layout, bus: Bus, scheduling: Scheduling) -> io::Result<Kernel> {
        let regions = Regions::new(&layout)?;
        let ipc = IpcPages::new(&layout)?;
        let pds = layout
            .pds
            .iter()
            .map(|_| Pd {
                process: None,
                state: ProcessState::Stopped,
                queue: VecDeque::new(),
                generation: 0,
                restarts: 0,
                last_fault: None,
                report: None,
                context: None,
            })
            .collect();
        let irq_lines = IrqLines::new(&layout);
        let sched = Scheduler::new(scheduling, &layout.pds);
        Ok(Kernel {
            layout,
            regions,
            ipc,
            pds,
            bus,
            devices: DeviceTable::default(),
            irq_lines,
            arch_timer: ArchTimer::default(),
            stalled: Vec::new(),
            sched,
        })
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn regions(&self) -> &Regions {
        &self.regions
    }

    /// Attaches the machine's devices (see `devices`).
    pub(crate) fn set_devices(&mut self, devices: DeviceTable) {
        self.devices = devices;
    }

    /// A device raised IRQ `irq`.
    pub fn raise_irq(&mut self, irq: u64) {
        if let Some((pd, ch)) = self.irq_lines.raise(irq) {
            self.signal(pd, 1 << ch);
        }
    }

    /// Starts every PD.
    pub fn boot(&mut self) {
        if let Some(line) = self.sched.enter_kernel_thread() {
            self.bus.log(line);
        }
        for i in 0..self.pds.len() {
            // A PD that does not start is down (and logged); the others boot.
            let _ = self.spawn(i);
        }
    }

    fn name(&self, i: usize) -> &str {
        &self.layout.pds[i].name
    }

    /// Starts PD `i`; [`KernelError::StartFailed`] if its process does not start
    /// (it is then down).
    fn spawn(&mut self, i: usize) -> Result<(), KernelError> {
        let bus = self.bus.clone();
        let name = self.layout.pds[i].name.clone();
        let on_line = move |line| bus.emit(Event::Output { pd: name.clone(), line, at: Instant::now() });
        let spec = &self.layout.pds[i];
        let spawned = self.ipc.handover(i, Extra::first_fd(spec)).and_then(|(fds, env)| {
            let uid = process::UID_BASE + i as u32;
            let sched = self.sched.child(i);
            process::spawn(spec, &self.regions, Extra { fds, env: (pages::ENV_IPC, env), uid, sched }, on_line)
        });
        match spawned {
            Ok(p) => {
                self.sched.started(i, p.pid);
                self.irq_lines.reset_pd(i);
                self.ipc.callee_back(i);
                let pd = &mut self.pds[i];
                pd.process = Some(p);
                pd.state = ProcessState::Starting;
                pd.report = None;
                let generation = pd.generation;
                self.bus.emit(Event::Started { pd: self.name(i).to_string(), generation, at: Instant::now() });
                Ok(())
            }
            Err(e) => {
                self.pds[i].state = ProcessState::Down;
                self.bus.log(format!("cannot start {}: {e}", self.name(i)));
                Err(KernelError::StartFailed)
            }
        }
    }

    /// Descriptors to poll: each live PD's control socket and pidfd.
    pub fn sources(&self) -> Vec<(std::os::fd::BorrowedFd<'_>, Source)> {
        let mut out = Vec::new();
        for (i, pd) in self.pds.iter().enumerate() {
            if let Some(p) = &pd.process {
                out.push((p.control.as_fd(), Source::Control(i)));
                out.push((p.pidfd.as_fd(), Source::Exit(i)));
            }
        }
        out
    }

    /// Handles frames waiting on PD `i`'s control socket.
    pub fn on_control(&mut self, i: usize) {
        for _ in 0..FRAMES_PER_WAKEUP {
            if !self.handle_one_frame(i) {
                break;
            }
        }
    }

    /// Reads and handles one frame; false if there was none.
    fn handle_one_frame(&mut self, i: usize) -> bool {
        let Some(p) = &self.pds[i].process else { return false };
        let mut buf = [0u8; FRAME_BYTES];
        let n = match rustix::io::read(&p.control, &mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let mut mrs = [0u64; MSG_MAX_LENGTH];
        match protocol::decode_to_kernel(&buf[..n], &mut mrs) {
            Ok(msg) => self.handle(i, msg, &mrs),
            Err(e) => self.cap_fault(i, &format!("sent a malformed system call: {e}")),
        }
        true
    }

    /// PD `i`'s process ended.
    pub fn on_exit(&mut self, i: usize) {
        // What it sent before it died still counts (its fault report above all).
        while self.pds[i].process.is_some() && self.handle_one_frame(i) {}
        let Some(p) = &self.pds[i].process else { return };
        match process::reap(p, false) {
            Ok(Some(ending)) => {
                let fault = classify(self.pds[i].report.take(), ending);
                self.pds[i].process = None;
                self.fault(i, fault);
            }
            Ok(None) => {}
            Err(e) => self.bus.log(format!("cannot reap {}: {e}", self.name(i))),
        }
    }

    fn handle(&mut self, i: usize, msg: ToKernel, mrs: &Mrs) {
        let route = |ch: u8| self.layout.pds[i].routes.get(ch as usize).copied().flatten();
        match msg {
            ToKernel::Hello => {
                let generation = self.pds[i].generation;
                self.bus.emit(Event::Init { pd: self.name(i).to_string(), generation, at: Instant::now() });
            }
            ToKernel::Recv => self.recv(i),
            ToKernel::ReplyRecv(_) => self.cap_fault(i, "replied over the control socket, not its reply slot"),
            ToKernel::ResumeRecv => {
                self.bus.log(format!("{}: resuming a faulted child is not possible on the host kernel", self.name(i)));
                self.recv(i);
            }
            ToKernel::Notify(ch) => match route(ch) {
                Some(r) if r.can_notify => {
                    self.ipc.notify_from(i, ch);
                    self.done(i);
                }
                _ => self.cap_fault(i, &format!("notified channel {ch}, which it may not notify")),
            },
            ToKernel::IrqAck(ch) => {
                if self.layout.pds[i].irqs & (1 << ch) == 0 {
                    self.refuse(i, KernelError::NotAnIrq);
                } else {
                    if let Some((pd, ch)) = self.irq_lines.ack(i, ch) {
                        self.signal(pd, 1 << ch);
                    }
                    self.done(i);
                }
            }
            ToKernel::MmioRead { paddr, width } => match self.devices.route(i, paddr, false) {
                Some((device, offset)) => {
                    let value = device.read(offset, width);
                    let mut mrs = [0u64; MSG_MAX_LENGTH];
                    mrs[0] = value;
                    self.send(i, ToPd::MmioValue(value), &mrs);
                }
                None => self.cap_fault(i, &format!("read device register {paddr:#x}, which it does not map")),
            },
            ToKernel::MmioWrite { paddr, width, value } => match self.devices.route(i, paddr, true) {
                Some((device, offset)) => {
                    device.write(offset, width, value);
                    self.done(i);
                }
                None => self.cap_fault(i, &format!("wrote device register {paddr:#x}, which it does not map writable")),
            },
            ToKernel::Call(ch, _) => match route(ch) {
                Some(r) if r.can_ppcall => self.cap_fault(i, &format!("called channel {ch} past its call slot")),
                _ => self.cap_fault(i, &format!("called channel {ch}, which it may not call")),
            },
            ToKernel::Restart(c) => match self.child(i, c) {
                Some(child) => match self.restart(child) {
                    Ok(()) => self.done(i),
                    Err(e) => self.refuse(i, e),
                },
                None => self.refuse(i, KernelError::NotAChild),
            },
            ToKernel::Stop(c) => match self.child(i, c) {
                Some(child) => {
                    self.stop(child);
                    self.done(i);
                }
                None => self.refuse(i, KernelError::NotAChild),
            },
            ToKernel::Inject(c, kind) => match self.child(i, c) {
                Some(child) => {
                    self.inject(child, kind);
                    self.done(i);
                }
                None => self.refuse(i, KernelError::NotAChild),
            },
            ToKernel::FaultReport(f) => self.pds[i].report = Some(f),
            ToKernel::CrashContext(info) => self.pds[i].context = CrashContext::decode(&mrs[..info.count()]),
            ToKernel::ReadContext(c) => match self.child(i, c) {
                Some(child) => {
                    let mut words = [0u64; MSG_MAX_LENGTH];
                    let n = self.pds[child].context.map_or(0, |ctx| ctx.encode(&mut words));
                    self.send(i, ToPd::Context(MessageInfo::new(0, n)), &words);
                }
                None => self.refuse(i, KernelError::NotAChild),
            },
            ToKernel::TimerSet(deadline) => {
                if self.layout.pds[i].arch_timer.is_some() {
                    self.arch_timer.set(i, deadline);
                    self.done(i);
                } else {
                    self.cap_fault(i, "programmed the ARM generic timer without holding its IRQ")
                }
            }
        }
    }

    fn child(&self, i: usize, id: u8) -> Option<usize> {
        self.layout.pds[i].children.get(id as usize).copied().flatten()
    }

    fn send(&mut self, i: usize, msg: ToPd, mrs: &Mrs) {
        let Some(p) = &self.pds[i].process else { return };
        let mut buf = [0u8; FRAME_BYTES];
        let n = protocol::encode_to_pd(&msg, mrs, &mut buf);
        // A dead peer is noticed through its pidfd; nothing to do here.
        let _ = rustix::io::write(&p.control, &buf[..n]);
    }

    /// Completes PD `i`'s system call.
    fn done(&mut self, i: usize) {
        self.send(i, ToPd::Done, &[0; MSG_MAX_LENGTH]);
    }

    /// Completes PD `i`'s system call with an error; the PD goes on.
    fn refuse(&mut self, i: usize, error: KernelError) {
        self.send(i, ToPd::Failed(error), &[0; MSG_MAX_LENGTH]);
    }

    /// PD `i` asks for its next kernel event (the first time: `init` is done).
    fn recv(&mut self, i: usize) {
        if self.pds[i].state == ProcessState::Starting {
            self.pds[i].state = ProcessState::Up;
            let generation = self.pds[i].generation;
            self.bus.emit(Event::Ready { pd: self.name(i).to_string(), generation, at: Instant::now() });
        }
        let none = [0u64; MSG_MAX_LENGTH];
        // Injected failures are queued in front: on seL4 one redirects the
        // thread at once, whatever is pending for it.
        match self.pds[i].queue.pop_front() {
            Some(Pending::Inject(kind)) => self.send(i, ToPd::Inject(kind), &none),
            Some(Pending::Fault { child, fault }) => self.send(i, ToPd::Fault(child, fault), &none),
            None => self.done(i),
        }
    }

    /// Queues a kernel event for PD `i` and rings its kernel page.
    fn queue(&mut self, i: usize, pending: Pending) {
        let inject = matches!(pending, Pending::Inject(_));
        if inject {
            self.pds[i].queue.push_front(pending);
        } else {
            self.pds[i].queue.push_back(pending);
        }
        self.ipc.kernel_event(i, inject);
    }

    /// The kernel signals PD `i` on the channels of `bits` (IRQs, the timer).
    fn signal(&mut self, i: usize, bits: u64) {
        for ch in 0..microkit::CHANNEL_LIMIT {
            if bits & (1 << ch) != 0 {
                self.ipc.kernel_signal(i, ch);
            }
        }
    }

    /// Kills PD `i` for using a privilege it was not granted.
    fn cap_fault(&mut self, i: usize, why: &str) {
        self.bus.log(format!("{} {why}", self.name(i)));
        self.kill(i);
        self.fault(i, Fault::new(FaultKind::CapFault));
    }

    fn kill(&mut self, i: usize) {
        self.arch_timer.reset_if_owner(i);
        if let Some(p) = self.pds[i].process.take() {
            self.sched.dying(p.pid);
            if let Err(e) = process::kill(&p) {
                self.bus.log(format!("cannot kill {}: {e}", self.name(i)));
            }
        }
        // No process touches its pages now: answer for it, withdraw its call.
        self.ipc.callee_died(i);
        self.ipc.caller_died(i);
    }

    /// PD `i` (already without a process) faulted.
    fn fault(&mut self, i: usize, fault: Fault) {
        self.kill(i);
        let pd = &mut self.pds[i];
        pd.state = ProcessState::Down;
        pd.last_fault = Some(fault);
        let generation = pd.generation;
        self.bus.emit(Event::Fault { pd: self.name(i).to_string(), generation, fault, at: Instant::now() });
        let spec = &self.layout.pds[i];
        match (spec.parent, spec.child_id) {
            (Some(parent), Some(child)) => {
                self.queue(parent, Pending::Fault { child, fault });
            }
            _ => {
                self.bus.log(format!("{} has no parent to handle its fault: it stays down", self.name(i)));
                self.fail_queued_calls(i);
            }
        }
    }

    fn fail_queued_calls(&mut self, i: usize) {
        self.ipc.callee_gone(i);
    }

    /// Replaces PD `i` with a fresh process ([`KernelError::StartFailed`] if it
    /// does not start: it is then down).
    pub fn restart(&mut self, i: usize) -> Result<(), KernelError> {
        self.kill(i);
        self.pds[i].queue.retain(|p| !matches!(p, Pending::Inject(_)));
        self.pds[i].context = None;
        self.pds[i].generation += 1;
        self.pds[i].restarts += 1;
        self.spawn(i)
    }

    /// Stops PD `i` until it is restarted.
    pub fn stop(&mut self, i: usize) {
        self.kill(i);
        self.pds[i].state = ProcessState::Stopped;
        self.fail_queued_calls(i);
        self.bus.emit(Event::Stopped { pd: self.name(i).to_string(), at: Instant::now() });
    }

    /// Makes PD `i` fail on purpose when it next waits for an event.
    pub fn inject(&mut self, i: usize, kind: InjectKind) {
        self.queue(i, Pending::Inject(kind));
    }

    /// Corrupts PD `i`'s running process from outside (see `swifi`); `choice`
    /// picks what is hit.
    pub fn corrupt(&mut self, i: usize, corruption: Corruption, choice: u64) -> Result<FaultRecord, String> {
        let Some(p) = &self.pds[i].process else { return Err(format!("{} is not running", self.name(i))) };
        let pid = p.pid;
        let program = self.layout.pds[i].program.canonicalize().unwrap_or_else(|_| self.layout.pds[i].program.clone());
        let record = match corruption {
            Corruption::Register => swifi::flip_register(pid, choice),
            Corruption::Memory | Corruption::Code => swifi::flip_byte(pid, corruption, &program, choice),
            Corruption::Stall(d) => swifi::signal_stop(pid, true).map(|()| {
                let until = microkit::clock::now().saturating_add(d.as_nanos() as u64);
                self.stalled.push((i, self.pds[i].generation, until));
                FaultRecord { corruption, pid, target: String::new(), addr: 0, offset: 0, bit: 0, before: 0, after: 0 }
            }),
        };
        record.map_err(|e| format!("{} fault into {} (pid {pid}): {e}", corruption.name(), self.name(i)))
    }

    /// Continues the stalled PDs whose stall is over (a copy that was replaced
    /// meanwhile is not touched: its process is gone).
    fn end_stalls(&mut self, now: u64) {
        let mut k = 0;
        while k < self.stalled.len() {
            let (i, generation, until) = self.stalled[k];
            if until > now {
                k += 1;
                continue;
            }
            self.stalled.swap_remove(k);
            if self.pds[i].generation == generation
                && let Some(p) = &self.pds[i].process
                && let Err(e) = swifi::signal_stop(p.pid, false)
            {
                self.bus.log(format!("cannot continue {} after its stall: {e}", self.name(i)));
            }
        }
    }

    /// Nanoseconds until the ARM generic timer model fires, a stall ends or
    /// budgets are due to be checked.
    pub fn timer_due_in(&self) -> Option<u64> {
        let now = microkit::clock::now();
        let stall = self.stalled.iter().map(|s| s.2.saturating_sub(now)).min();
        let budgets = self.sched.due_in(Instant::now()).map(|d| d.as_nanos() as u64);
        [self.arch_timer.due_in(now), stall, budgets].into_iter().flatten().min()
    }

    /// Delivers the timer interrupt if its deadline has passed.
    pub fn on_time(&mut self) {
        let pds = &self.pds;
        self.sched.tick(Instant::now(), |i| pds[i].process.as_ref().map(|p| p.pid));
        if !self.stalled.is_empty() {
            self.end_stalls(microkit::clock::now());
        }
        if let Some(i) = self.arch_timer.fire(microkit::clock::now())
            && let Some(ch) = self.layout.pds[i].arch_timer
        {
            self.signal(i, 1 << ch);
        }
    }

    /// Stops every PD.
    pub fn shutdown(&mut self) {
        for i in 0..self.pds.len() {
            if self.pds[i].process.is_some() {
                self.kill(i);
                self.pds[i].state = ProcessState::Stopped;
            }
        }
    }

    pub fn status(&self) -> Vec<PdStatus> {
        self.pds
            .iter()
            .enumerate()
            .map(|(i, pd)| PdStatus {
                name: self.name(i).to_string(),
                state: pd.state,
                generation: pd.generation,
                restarts: pd.restarts,
                last_fault: pd.last_fault,
                pid: pd.process.as_ref().map(|p| p.pid),
            })
            .collect()
    }
}

/// The fault of a process that ended: the runtime's report where it sent one,
/// else what the wait status says.
fn classify(report: Option<Fault>, ending: Ending) -> Fault {
    if let Some(report) = report {
        return report;
    }
    match ending {
        Ending::Exited(code) => Fault { kind: FaultKind::Exit, code: code as u64, addr: None, pc: None },
        Ending::Signalled(sig) => {
            let kind = match sig {
                libc::SIGSEGV | libc::SIGBUS => FaultKind::VmFault,
                libc::SIGILL | libc::SIGFPE | libc::SIGTRAP => FaultKind::UserException,
                libc::SIGSYS => FaultKind::CapFault,
                _ => FaultKind::Killed,
            };
            Fault { kind, code: sig as u64, addr: None, pc: None }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_wins_over_the_wait_status() {
        let report = Fault { kind: FaultKind::VmFault, code: 11, addr: Some(0x10), pc: Some(0x5555) };
        assert_eq!(classify(Some(report), Ending::Signalled(libc::SIGSEGV)), report);
    }

    #[test]
    fn wait_status_alone_still_classifies() {
        assert_eq!(classify(None, Ending::Exited(3)).kind, FaultKind::Exit);
        assert_eq!(classify(None, Ending::Exited(3)).code, 3);
        assert_eq!(classify(None, Ending::Signalled(libc::SIGSEGV)).kind, FaultKind::VmFault);
        assert_eq!(classify(None, Ending::Signalled(libc::SIGSYS)).kind, FaultKind::CapFault);
        assert_eq!(classify(None, Ending::Signalled(libc::SIGKILL)).kind, FaultKind::Killed);
    }
}
