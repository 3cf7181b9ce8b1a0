//! The host-kernel backend: a PD is a Linux process. Notifications and
//! protected procedure calls go straight to the peer through shared pages and
//! futexes ([`pages`] is their layout, `ipc` the PD side); everything else
//! (faults, restarts, injections, device registers, the timer) is a frame on a
//! control socket to the host kernel's thread (see [`protocol`]), which also
//! answers `PEER_FAULTED` for a callee that died and hands a PD the kernel
//! events (children's faults, injected failures) the kernel page announces.

pub mod pages;
pub mod protocol;

mod confine;
mod ipc;
pub mod privilege;
mod signals;
mod startup;

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::channel::{Channel, ChannelSet, Child, ChildSet};
use crate::dispatch::{Event, Reply};
use crate::kernel_error::KernelError;
use crate::message::{MSG_MAX_LENGTH, MessageInfo};
use protocol::{CONTROL_FD, FRAME_BYTES, Mrs, ToKernel, ToPd};

static NAME: OnceLock<&'static str> = OnceLock::new();
static IPC: OnceLock<ipc::Ipc> = OnceLock::new();

// Only an array initialiser: each element of MRS is its own atomic, as meant.
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);
static MRS: [AtomicU64; MSG_MAX_LENGTH] = [ZERO; MSG_MAX_LENGTH];

pub(crate) fn pd_name() -> &'static str {
    NAME.get().copied().unwrap_or("?")
}

/// `children` are not needed here: the host kernel itself answers an operation on
/// an id that is not a child with [`KernelError::NotAChild`].
pub(crate) fn start(_children: ChildSet) {
    let setup = startup::Setup::from_env();
    let _ = NAME.set(std::boxed::Box::leak(setup.name.clone().into_boxed_str()));
    startup::map_regions(&setup);
    match ipc::from_env() {
        Ok(pages) => {
            let _ = IPC.set(pages);
        }
        Err(e) => {
            crate::debug_println!("reincarnate runtime: {e}");
            std::process::exit(70);
        }
    }
    signals::install();
    send(&ToKernel::Hello);
    if let Err(e) = privilege::drop_privileges() {
        crate::debug_println!(
            "reincarnate runtime: {} keeps privileges it should not have ({e}); seccomp still confines it",
            pd_name()
        );
    }
    confine::apply();
}

pub(crate) fn set_mr(index: usize, value: u64) {
    if let Some(mr) = MRS.get(index) {
        mr.store(value, Ordering::Relaxed);
    }
}

pub(crate) fn get_mr(index: usize) -> u64 {
    MRS.get(index).map_or(0, |mr| mr.load(Ordering::Relaxed))
}

/// The first `info.count()` message registers (the rest stay zero: the frame
/// carries only those).
fn mrs_out(info: MessageInfo) -> Mrs {
    let mut mrs = [0; MSG_MAX_LENGTH];
    for (out, mr) in mrs.iter_mut().zip(&MRS).take(info.count()) {
        *out = mr.load(Ordering::Relaxed);
    }
    mrs
}

fn mrs_in(mrs: &Mrs, info: MessageInfo) {
    for (slot, value) in MRS.iter().zip(&mrs[..info.count()]) {
        slot.store(*value, Ordering::Relaxed);
    }
}

fn ipc() -> &'static ipc::Ipc {
    match IPC.get() {
        Some(ipc) => ipc,
        // `start` maps the pages before anything can use them.
        None => unreachable!("IPC used before start-up"),
    }
}

/// Sends one frame to the kernel. Async-signal-safe (used by the fault handler).
fn send(msg: &ToKernel) {
    let mrs = match msg {
        ToKernel::ReplyRecv(info) | ToKernel::Call(_, info) => mrs_out(*info),
        _ => [0; MSG_MAX_LENGTH],
    };
    send_with(msg, &mrs)
}

fn send_with(msg: &ToKernel, mrs: &Mrs) {
    let mut buf = [0u8; FRAME_BYTES];
    let len = protocol::encode_to_kernel(msg, mrs, &mut buf);
    // SAFETY: `buf[..len]` is initialised and outlives the call.
    let n = unsafe { libc::write(CONTROL_FD, buf.as_ptr().cast(), len) };
    if n != len as isize {
        // The kernel is gone: nothing left to run for.
        // SAFETY: _exit is always safe to call.
        unsafe { libc::_exit(0) };
    }
}

/// Blocks for the next frame from the kernel.
fn receive(mrs: &mut Mrs) -> ToPd {
    let mut buf = [0u8; FRAME_BYTES];
    // SAFETY: reading into a local buffer of the given length.
    let n = unsafe { libc::read(CONTROL_FD, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        // SAFETY: _exit is always safe to call.
        unsafe { libc::_exit(0) };
    }
    match protocol::decode_to_pd(&buf[..n as usize], mrs) {
        Ok(msg) => msg,
        Err(e) => panic!("host kernel sent a malformed frame: {e}"),
    }
}

pub(crate) fn reply_recv(reply: Reply) -> Event {
    let ipc = ipc();
    match reply {
        Reply::None => {}
        Reply::Call(info) => ipc.reply(info, &mrs_out(info)),
        Reply::ResumeFault => {
            if let Some(event) = fetch(&ToKernel::ResumeRecv) {
                return event;
            }
        }
    }
    let mut mrs = [0; MSG_MAX_LENGTH];
    loop {
        match ipc.next(&mut mrs) {
            ipc::Found::Notified(badge) => return Event::Notified(ChannelSet::from_badge(badge)),
            ipc::Found::Call(ch, info) => {
                mrs_in(&mrs, info);
                return Event::Protected(Channel::new(ch), info);
            }
            ipc::Found::Kernel => {
                let events = ipc.kernel_events();
                match fetch(&ToKernel::Recv) {
                    Some(event) => return event,
                    None => ipc.kernel_drained(events),
                }
            }
        }
    }
}

/// Asks the kernel for its next queued event (a child's fault, an injected
/// failure); `None` if it has none.
fn fetch(msg: &ToKernel) -> Option<Event> {
    send(msg);
    let mut mrs = [0; MSG_MAX_LENGTH];
    match receive(&mut mrs) {
        ToPd::Done => None,
        ToPd::Notified(badge) => Some(Event::Notified(ChannelSet::from_badge(badge))),
        ToPd::Fault(child, fault) => Some(Event::Fault(Child::new(child), fault)),
        ToPd::Inject(kind) => Some(Event::Inject(kind)),
        other @ (ToPd::Protected(..) | ToPd::Reply(_) | ToPd::Failed(_) | ToPd::MmioValue(_) | ToPd::Context(_)) => {
            panic!("host kernel answered {msg:?} with {other:?}")
        }
    }
}

/// Makes a system call that completes before it returns: done, or refused.
fn try_invoke(msg: ToKernel) -> Result<(), KernelError> {
    send(&msg);
    let mut mrs = [0; MSG_MAX_LENGTH];
    match receive(&mut mrs) {
        ToPd::Done => Ok(()),
        ToPd::Failed(e) => Err(e),
        other => panic!("host kernel answered {msg:?} with {other:?}"),
    }
}

/// Makes a system call that the kernel never refuses (it ends a PD that may not
/// make it with a cap fault).
fn invoke(msg: ToKernel) {
    if let Err(e) = try_invoke(msg) {
        panic!("host kernel refused {msg:?}, which it never refuses: {e}")
    }
}

pub(crate) fn notify(ch: u8) {
    // A channel without a fast path is one this PD may not notify: the kernel
    // says so (a capability fault).
    if !ipc().notify(ch) {
        invoke(ToKernel::Notify(ch))
    }
}

pub(crate) fn irq_ack(ch: u8) -> Result<(), KernelError> {
    try_invoke(ToKernel::IrqAck(ch))
}

pub(crate) fn pp_call(ch: u8, info: MessageInfo) -> MessageInfo {
    let mut mrs = mrs_out(info);
    if let Some(reply) = ipc().call(ch, info, &mut mrs) {
        mrs_in(&mrs, reply);
        return reply;
    }
    // Not a channel this PD may call: the kernel says so (a capability fault).
    send(&ToKernel::Call(ch, info));
    let mut mrs = [0; MSG_MAX_LENGTH];
    match receive(&mut mrs) {
        ToPd::Reply(reply) => {
            mrs_in(&mrs, reply);
            reply
        }
        other => panic!("host kernel answered a call with {other:?}"),
    }
}

pub(crate) fn restart(child: u8) -> Result<(), KernelError> {
    try_invoke(ToKernel::Restart(child))
}

pub(crate) fn stop(child: u8) -> Result<(), KernelError> {
    try_invoke(ToKernel::Stop(child))
}

/// Reads the device register at physical address `paddr` (`width` 1, 2, 4 or 8
/// bytes). On the host kernel a device's registers are not memory: the kernel
/// routes the access to the device model at that address, if this PD maps the
/// device's region (else it is a capability fault, as touching an unmapped device
/// page is a VM fault on seL4).
pub fn mmio_read(paddr: u64, width: u8) -> u64 {
    let msg = ToKernel::MmioRead { paddr, width };
    send(&msg);
    let mut mrs = [0; MSG_MAX_LENGTH];
    match receive(&mut mrs) {
        ToPd::MmioValue(v) => v,
        other => panic!("host kernel answered {msg:?} with {other:?}"),
    }
}

/// Writes the device register at physical address `paddr` (see [`mmio_read`]).
/// Completes (the device has seen the write) before it returns.
pub fn mmio_write(paddr: u64, width: u8, value: u64) {
    invoke(ToKernel::MmioWrite { paddr, width, value })
}

/// Arms (or, with `None`, disarms) the host kernel's ARM generic timer model.
pub(crate) fn timer_set(deadline_ns: Option<u64>) {
    // 0 means "disarmed"; a deadline of 0 is long past, so 1 fires at once too.
    invoke(ToKernel::TimerSet(deadline_ns.map_or(0, |d| d.max(1))))
}

pub(crate) fn inject(child: u8, kind: crate::inject::InjectKind) -> Result<(), KernelError> {
    try_invoke(ToKernel::Inject(child, kind))
}

pub(crate) fn crash_context(child: u8) -> Result<Option<crate::CrashContext>, KernelError> {
    let msg = ToKernel::ReadContext(child);
    send(&msg);
    let mut mrs = [0; MSG_MAX_LENGTH];
    match receive(&mut mrs) {
        ToPd::Context(info) => Ok(crate::CrashContext::decode(&mrs[..info.count()])),
        ToPd::Failed(e) => Err(e),
        other => panic!("host kernel answered {msg:?} with {other:?}"),
    }
}

pub(crate) fn debug_write(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(1, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

pub(crate) fn wild_write(addr: u64) {
    // SAFETY: not safe at all, on purpose: this is the injected "wild pointer"
    // crash. The address is unmapped, so the write faults and ends the PD.
    unsafe { core::ptr::write_volatile(addr as *mut u64, 0xdead) };
}

pub(crate) fn exit(code: i32) -> ! {
    std::process::exit(code)
}

/// Helpers for the host kernel's own tests, behind the cargo feature
/// `test-support`, which only test PDs enable: a PD without it cannot reach
/// them, so its `#![forbid(unsafe_code)]` keeps its promise.
#[cfg(feature = "test-support")]
pub mod test_support {
    /// Writes one word at `addr`, wherever that is: how a test PD shows that
    /// memory outside its maps (or a read-only map) is out of its reach.
    pub fn raw_write(addr: u64) {
        super::wild_write(addr)
    }

    /// Overwrites every shared IPC page this PD may write (its own end of each
    /// of its channels, its own page) with `round`, with label-666 message infos,
    /// and rings every doorbell it can: how a test PD tries to forge other
    /// channels' badges, calls and replies.
    pub fn scribble_ipc_pages(round: u64) {
        super::ipc().scribble(round)
    }

    /// Writes the peer's end page of channel `ch`, which is mapped read-only.
    pub fn write_peer_page(ch: u8) {
        super::ipc().write_peer_page(ch)
    }
}
