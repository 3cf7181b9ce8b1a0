//! The seL4/Microkit backend: plain seL4 system calls (MCS, aarch64) by inline
//! assembly, libmicrokit's event loop semantics, and our own start-up.
//!
//! Nothing of libmicrokit is linked: the numbers and layouts are in
//! [`crate::sel4_abi`] (host-tested), the entry block and image reset in `start`,
//! the heap in `heap`, the panic handler in `panic`. PD ELFs are linked with our
//! linker script `sel4.ld` (see the runtime's `build.rs`).
//!
//! How a PD ends on purpose (decoded by the parent, see `sel4_abi::decode_fault`):
//! - panic: message on the debug console, then a VM fault with a PC in the entry
//!   0x200080..0x2000c0 on address 0x50 → [`FaultKind::Panic`](crate::FaultKind::Panic);
//! - `exit(status)`: VM fault with a PC in 0x2000c0..0x200100 on address
//!   0x100 + (status & 0xff)
//!   → [`FaultKind::Exit`](crate::FaultKind::Exit) with `code = status & 0xff`;
//! - injected crash: a VM fault on 0x10 ([`InjectKind::CRASH_ADDRESS`]).

mod heap;
mod panic;
mod start;
mod syscall;
pub(crate) mod timer;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::channel::{Channel, ChannelSet, Child, ChildSet};
use crate::dispatch::{Event, Reply};
use crate::inject::InjectKind;
use crate::kernel_error::KernelError;
use crate::message::{MSG_MAX_LENGTH, MessageInfo};
use crate::sel4_abi::{self, Badge, WriteRegisters, cap, label};

pub use heap::HEAP_SIZE;
pub(crate) use heap::add_arena;

/// A passive PD still has to tell the monitor it finished `init` (libmicrokit
/// does this with its first receive, an NBSendRecv to the monitor endpoint).
static PASSIVE_PENDING: AtomicBool = AtomicBool::new(false);

/// This PD's children (from `child::ALL`): the TCB slots that hold a capability.
static CHILDREN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn pd_name() -> &'static str {
    core::str::from_utf8(start::patched::name()).unwrap_or("?")
}

pub(crate) fn start(children: ChildSet) {
    CHILDREN.store(children.bits(), Ordering::Relaxed);
    // A restarted server may have died while serving a protected procedure call:
    // its reply object is still bound to the caller, who would wait forever. Reply
    // "peer faulted" (a send on an unbound reply object does nothing).
    if start::restarted() {
        syscall::nb_send(cap::REPLY, MessageInfo::new(MessageInfo::PEER_FAULTED, 0).to_word());
    }
    let irqs = start::patched::IRQS.get();
    for ch in ChannelSet::from_badge(irqs) {
        if let Err(e) = irq_ack(ch.index()) {
            crate::debug_println!("{}: acknowledging IRQ channel {} at start failed: {e}", pd_name(), ch.index());
        }
    }
    PASSIVE_PENDING.store(start::patched::PASSIVE.get() != 0, Ordering::Relaxed);
}

pub(crate) fn set_mr(index: usize, value: u64) {
    syscall::set_mr(index, value)
}

pub(crate) fn get_mr(index: usize) -> u64 {
    syscall::mr(index)
}

pub(crate) fn reply_recv(reply: Reply) -> Event {
    let mut reply = reply;
    loop {
        let (badge, info) = match reply {
            Reply::None if PASSIVE_PENDING.swap(false, Ordering::Relaxed) => {
                syscall::nb_send_recv(cap::MONITOR_EP, 0, cap::INPUT, cap::REPLY)
            }
            Reply::None => syscall::recv(cap::INPUT, cap::REPLY),
            Reply::Call(msg) => syscall::reply_recv(cap::INPUT, msg.to_word(), cap::REPLY),
            // An empty reply with label 0 resumes the faulting instruction.
            Reply::ResumeFault => syscall::reply_recv(cap::INPUT, 0, cap::REPLY),
        };
        match Badge::decode(badge) {
            Badge::Notified(bits) => return Event::Notified(ChannelSet::from_badge(bits)),
            Badge::Protected(ch) => return Event::Protected(Channel::new(ch), MessageInfo::from_word(info)),
            Badge::Fault(child) => {
                let len = ((info & 0x7f) as usize).min(16);
                let mut mrs = [0u64; 16];
                for (i, slot) in mrs.iter_mut().enumerate().take(len) {
                    *slot = syscall::mr(i);
                }
                let fault = sel4_abi::decode_fault(info >> 12, &mrs[..len]);
                return Event::Fault(Child::new(child), fault);
            }
            Badge::Invalid(badge) => {
                crate::debug_println!("{}: ignoring message with unknown badge {badge:#x}", pd_name());
                reply = Reply::None;
            }
        }
    }
}

pub(crate) fn notify(ch: u8) {
    syscall::signal(cap::notification(ch))
}

/// The outcome of an invocation, from the label of the kernel's reply.
fn check(reply_info: u64) -> Result<(), KernelError> {
    match KernelError::from_sel4(sel4_abi::invocation_error(reply_info)) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// seL4 answers an invocation of an empty slot with a cap fault of the caller:
/// only invoke a child's TCB slot if `system.xml` gave this PD that child.
fn child_cap(child: u8) -> Result<u64, KernelError> {
    let children = ChildSet::from_bits(CHILDREN.load(Ordering::Relaxed));
    if children.contains(Child::new(child)) { Ok(cap::child_tcb(child)) } else { Err(KernelError::NotAChild) }
}

pub(crate) fn irq_ack(ch: u8) -> Result<(), KernelError> {
    // The IRQ handler slots the Microkit tool filled are the patched IRQ bitmap.
    if start::patched::IRQS.get() & (1 << ch) == 0 {
        return Err(KernelError::NotAnIrq);
    }
    check(syscall::invoke(cap::irq_handler(ch), sel4_abi::invocation_info(label::IRQ_ACK_IRQ, 0), [0; 4]))
}

pub(crate) fn pp_call(ch: u8, msg: MessageInfo) -> MessageInfo {
    MessageInfo::from_word(syscall::call(cap::endpoint(ch), msg.to_word()))
}

/// Sends a `TCB_WriteRegisters` to child `id`. Message registers 4 and up go
/// through the IPC buffer: the caller's values there are saved and put back.
fn write_registers(id: u8, msg: &WriteRegisters) -> Result<(), KernelError> {
    let tcb = child_cap(id)?;
    let mut saved = [0u64; 2 + sel4_abi::WRITE_REGISTERS_MAX];
    for (i, (slot, value)) in saved.iter_mut().zip(msg.mrs).enumerate().take(msg.len).skip(4) {
        *slot = syscall::mr(i);
        syscall::set_mr(i, value);
    }
    let info = syscall::invoke(tcb, msg.info, [msg.mrs[0], msg.mrs[1], msg.mrs[2], msg.mrs[3]]);
    for (i, value) in saved.iter().enumerate().take(msg.len).skip(4) {
        syscall::set_mr(i, *value);
    }
    check(info)
}

pub(crate) fn restart(child: u8) -> Result<(), KernelError> {
    write_registers(child, &WriteRegisters::restart())
}

pub(crate) fn stop(child: u8) -> Result<(), KernelError> {
    let tcb = child_cap(child)?;
    check(syscall::invoke(tcb, sel4_abi::invocation_info(label::TCB_SUSPEND, 0), [0; 4]))
}

/// Injects a failure into a child ([`Child::inject`](crate::Child::inject)): its
/// thread is redirected (whatever it was doing, even blocked in a receive) to the
/// runtime's injection entry, which carries out `kind` like the host kernel's
/// `Event::Inject`. What the child was doing is lost; the failure then reaches
/// this PD's `fault` handler as usual (`Hang` does not).
pub(crate) fn inject(child: u8, kind: InjectKind) -> Result<(), KernelError> {
    write_registers(child, &WriteRegisters::inject(kind.code()))
}

/// `TCB_ReadRegisters` of child `id` (the whole `seL4_UserContext`; the faulted
/// thread stays where it is). Registers 4 and up arrive in the IPC buffer, whose
/// first words the caller's message then loses: call it before building a message.
pub(crate) fn crash_context(child: u8) -> Result<Option<crate::CrashContext>, KernelError> {
    let tcb = child_cap(child)?;
    let count = crate::MAX_REGISTERS;
    syscall::set_mr(0, 0); // suspend_source = false, arch flags = 0
    syscall::set_mr(1, count as u64);
    check(syscall::call(tcb, sel4_abi::invocation_info(label::TCB_READ_REGISTERS, 2)))?;
    let mut regs = [0u64; crate::MAX_REGISTERS];
    for (i, r) in regs.iter_mut().enumerate() {
        *r = syscall::mr(i);
    }
    // seL4_UserContext order: pc, sp, ...
    Ok(Some(crate::CrashContext::new(crate::RegisterLayout::Aarch64Sel4, 0, regs[0], regs[1], &regs)))
}

pub(crate) fn debug_write(bytes: &[u8]) {
    if !crate::DEBUG_OUTPUT {
        return;
    }
    for &b in bytes {
        syscall::debug_put_char(b);
    }
}

pub(crate) fn wild_write(addr: u64) {
    // SAFETY: not safe at all, on purpose: this is the injected "wild pointer"
    // crash. The address is unmapped, so the write faults and ends the PD.
    unsafe { core::ptr::write_volatile(addr as *mut u64, 0xdead) };
}

pub(crate) fn exit(code: i32) -> ! {
    start::exit_trap(code as u64)
}

const _: () = assert!(MSG_MAX_LENGTH >= 16);
