//! Turns the signals that end a PD process into fault reports for the kernel,
//! and a Rust panic into a `Panic` fault.
//!
//! The kernel also sees how the process died (the wait status is the truth); the
//! report adds what only the process knows: the faulting address and PC. Each
//! handler runs once (SA_RESETHAND), reports, and lets the signal kill the process.

use core::sync::atomic::{AtomicU64, Ordering};

use super::protocol::{Mrs, ToKernel};
use crate::crash::{CrashContext, RegisterLayout, STACK_BYTES};
use crate::fault::{Fault, FaultKind};
use crate::message::{MSG_MAX_LENGTH, MessageInfo};

/// Where the PD's ELF is loaded (PIE), and the bounds of the main thread's
/// stack: found at start-up, read by the fault handler.
static LOAD_BASE: AtomicU64 = AtomicU64::new(0);
static STACK_LO: AtomicU64 = AtomicU64::new(0);
static STACK_HI: AtomicU64 = AtomicU64::new(0);
/// Stack bytes below SP that a context keeps (the rest are above it).
const BELOW_SP: u64 = 64;

const ALT_STACK_SIZE: usize = 64 * 1024;

pub(crate) fn install() {
    find_load_base_and_stack();
    // The alternate stack lets a stack overflow be reported too.
    let stack = std::boxed::Box::leak(std::vec![0u8; ALT_STACK_SIZE].into_boxed_slice());
    let ss = libc::stack_t { ss_sp: stack.as_mut_ptr().cast(), ss_flags: 0, ss_size: ALT_STACK_SIZE };
    // SAFETY: `ss` describes a leaked buffer that lives for the whole process.
    unsafe { libc::sigaltstack(&ss, core::ptr::null_mut()) };

    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP, libc::SIGSYS] {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler is an
        // `extern "C"` function with the SA_SIGINFO signature.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_fatal_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, core::ptr::null_mut());
        }
    }

    std::panic::set_hook(std::boxed::Box::new(|info| {
        crate::debug_println!("{}: {}", super::pd_name(), info);
        super::send(&ToKernel::FaultReport(Fault::new(FaultKind::Panic)));
        std::process::abort();
    }));
}

extern "C" fn on_fatal_signal(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let (addr, syscall, pc) = unsafe {
        let addr = (*info).si_addr() as u64;
        // siginfo for SIGSYS: si_call_addr (pointer) at offset 16, si_syscall (int) at 24.
        let syscall = *(info as *const u8).add(24).cast::<libc::c_int>() as u64;
        (addr, syscall, program_counter(context))
    };
    let fault = match sig {
        libc::SIGSEGV | libc::SIGBUS => Fault { kind: FaultKind::VmFault, code: sig as u64, addr: Some(addr), pc },
        libc::SIGSYS => Fault { kind: FaultKind::CapFault, code: syscall, addr: None, pc },
        _ => Fault { kind: FaultKind::UserException, code: sig as u64, addr: Some(addr), pc },
    };
    // SAFETY: as above.
    if let Some(ctx) = unsafe { crash_context(context) } {
        let mut mrs: Mrs = [0; MSG_MAX_LENGTH];
        let n = ctx.encode(&mut mrs);
        super::send_with(&ToKernel::CrashContext(MessageInfo::new(0, n)), &mrs);
    }
    super::send(&ToKernel::FaultReport(fault));
    if sig == libc::SIGSYS {
        // A trapped system call would otherwise return ENOSYS and go on: raise the
        // signal again, now with its default action (terminate).
        // SAFETY: signalling our own thread.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), libc::SIGSYS) };
    }
    // Returning re-runs the faulting instruction, which now kills the process.
}

/// The PC at the fault, from the signal context.
///
/// # Safety
/// `context` must be the ucontext passed to an SA_SIGINFO handler.
unsafe fn program_counter(context: *mut libc::c_void) -> Option<u64> {
    let uc = context.cast::<libc::ucontext_t>();
    if uc.is_null() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a valid ucontext per the function's contract.
    return Some(unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] } as u64);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a valid ucontext per the function's contract.
    return Some(unsafe { (*uc).uc_mcontext.pc });
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    None
}

/// The load base of the program (the main object's load bias) and the bounds of
/// this (the main) thread's stack. Before confinement: glibc reads
/// `/proc/self/maps` for the stack.
fn find_load_base_and_stack() {
    extern "C" fn first_object(info: *mut libc::dl_phdr_info, _size: libc::size_t, _data: *mut libc::c_void) -> i32 {
        // SAFETY: dl_iterate_phdr passes a valid info; the first object is the program.
        LOAD_BASE.store(unsafe { (*info).dlpi_addr }, Ordering::Relaxed);
        1
    }
    // SAFETY: the callback only reads the info it is given.
    unsafe { libc::dl_iterate_phdr(Some(first_object), core::ptr::null_mut()) };
    // SAFETY: a zeroed attr is filled by pthread_getattr_np and destroyed after use.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            let mut addr: *mut libc::c_void = core::ptr::null_mut();
            let mut size: libc::size_t = 0;
            if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0 {
                STACK_LO.store(addr as u64, Ordering::Relaxed);
                STACK_HI.store(addr as u64 + size as u64, Ordering::Relaxed);
            }
            libc::pthread_attr_destroy(&mut attr);
        }
    }
}

/// The registers of the signal context and the stack bytes around its SP that
/// lie within the main thread's stack (none if SP is outside it, e.g. a stack
/// overflow). Async-signal-safe: no allocation, no system call.
///
/// # Safety
/// `context` must be the ucontext passed to an SA_SIGINFO handler.
unsafe fn crash_context(context: *mut libc::c_void) -> Option<CrashContext> {
    let uc = context.cast::<libc::ucontext_t>();
    if uc.is_null() {
        return None;
    }
    let load_base = LOAD_BASE.load(Ordering::Relaxed);
    #[cfg(target_arch = "x86_64")]
    let mut ctx = {
        // SAFETY: a valid ucontext per the function's contract.
        let gregs = unsafe { (*uc).uc_mcontext.gregs };
        let regs: [u64; 23] = gregs.map(|r| r as u64);
        let (pc, sp) = (regs[libc::REG_RIP as usize], regs[libc::REG_RSP as usize]);
        CrashContext::new(RegisterLayout::X86_64Linux, load_base, pc, sp, &regs)
    };
    #[cfg(target_arch = "aarch64")]
    let mut ctx = {
        // SAFETY: a valid ucontext per the function's contract.
        let mc = unsafe { &(*uc).uc_mcontext };
        let mut regs = [0u64; 34];
        regs[..31].copy_from_slice(&mc.regs);
        regs[31] = mc.sp;
        regs[32] = mc.pc;
        regs[33] = mc.pstate;
        CrashContext::new(RegisterLayout::Aarch64Linux, load_base, mc.pc, mc.sp, &regs)
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    return None;
    let (lo, hi) = (STACK_LO.load(Ordering::Relaxed), STACK_HI.load(Ordering::Relaxed));
    if ctx.sp >= lo && ctx.sp < hi {
        let from = ctx.sp.saturating_sub(BELOW_SP).max(lo) & !7;
        let to = from.saturating_add(STACK_BYTES as u64).min(hi);
        let len = (to - from) as usize;
        // SAFETY: [from, to) lies within this thread's mapped stack.
        unsafe { core::ptr::copy_nonoverlapping(from as *const u8, ctx.stack.as_mut_ptr(), len) };
        ctx.stack_base = from;
        ctx.stack_len = len;
    }
    Some(ctx)
}
