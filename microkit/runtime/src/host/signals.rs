//! Turns the signals that end a PD process into fault reports for the kernel,
//! and a Rust panic into a `Panic` fault.
//!
//! The kernel also sees how the process died (the wait status is the truth); the
//! report adds what only the process knows: the faulting address and PC. Each
//! handler runs once (SA_RESETHAND), reports, and lets the signal kill the process.

use super::protocol::ToKernel;
use crate::fault::{Fault, FaultKind};

const ALT_STACK_SIZE: usize = 64 * 1024;

pub(crate) fn install() {
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
