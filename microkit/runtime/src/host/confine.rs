//! Confinement: after start-up a PD process may do nothing but its IPC with the
//! host kernel, its debug output and managing its own memory. Any other system
//! call traps (SIGSYS) and is reported as a `CapFault` — the host's equivalent of
//! invoking a capability the PD was not granted (seed paper Sec. 3, POLA).

use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

/// System calls a running PD may make, with no condition on their arguments.
const ALLOWED: &[libc::c_long] = &[
    // IPC on the control socket, debug output on stdout/stderr.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_close,
    // Its own memory (the heap). Mapping files needs a file descriptor, and a PD
    // has none but its pipes and the control socket.
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_futex,
    // Waiting on the doorbells of the shared IPC pages (see `ipc`).
    libc::SYS_futex_waitv,
    // Leaving, and the signal machinery that reports faults.
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigprocmask,
    libc::SYS_sigaltstack,
    libc::SYS_getpid,
    libc::SYS_gettid,
    // Harmless: time and randomness (std uses them for hash seeds and clocks).
    libc::SYS_clock_gettime,
    libc::SYS_getrandom,
    libc::SYS_sched_yield,
];

pub(crate) fn apply() {
    if let Err(e) = try_apply() {
        crate::debug_println!("reincarnate runtime: cannot confine {}: {e}", super::pd_name());
        std::process::exit(71);
    }
}

fn try_apply() -> Result<(), String> {
    let pid = std::process::id() as u64;
    let mut rules: BTreeMap<libc::c_long, vec::Vec<SeccompRule>> = ALLOWED.iter().map(|&nr| (nr, vec![])).collect();
    // Signals only to itself (to end itself after a fault report).
    let to_self = |arg| -> Result<SeccompRule, String> {
        let cond =
            SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, pid).map_err(|e| e.to_string())?;
        SeccompRule::new(vec![cond]).map_err(|e| e.to_string())
    };
    rules.insert(libc::SYS_tgkill, vec![to_self(0)?]);
    rules.insert(libc::SYS_kill, vec![to_self(0)?]);
    let arch = std::env::consts::ARCH.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    let filter =
        SeccompFilter::new(rules, SeccompAction::Trap, SeccompAction::Allow, arch).map_err(|e| e.to_string())?;
    let program: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())?;
    seccompiler::apply_filter(&program).map_err(|e| e.to_string())
}
