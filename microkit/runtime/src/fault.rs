//! Faults of child PDs, as their parent's `fault` handler receives them.

use core::fmt;

use crate::kernel_error::KernelError;

/// What went wrong in a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Access to memory the PD does not map, or a write to a read-only map.
    VmFault,
    /// An illegal instruction, arithmetic or alignment trap.
    UserException,
    /// A Rust panic in the PD.
    Panic,
    /// The PD ended by itself (host kernel: the process exited; `code` is the status).
    Exit,
    /// The PD used a privilege it was not granted: on seL4 an invocation of a
    /// capability it does not hold; on the host kernel a system call outside its
    /// confinement filter (`code` is the system call number) or an IPC on a channel
    /// it does not have.
    CapFault,
    /// The PD was killed from outside (host kernel only; `code` is the signal).
    Killed,
    /// Anything else (`code` is the raw kernel value).
    Unknown,
    /// Not from the kernel: the supervisor found the PD hung (missed heartbeats,
    /// or it never finished `init`).
    Hang,
    /// Not from the kernel: a server that depends on the PD reported it
    /// misbehaving.
    Complaint,
    /// Not a fault of the PD: its supervisor's restart of it was refused
    /// (`code` is the [`KernelError::code`]).
    RestartFailed,
}

impl FaultKind {
    /// All kinds.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::VmFault,
        FaultKind::UserException,
        FaultKind::Panic,
        FaultKind::Exit,
        FaultKind::CapFault,
        FaultKind::Killed,
        FaultKind::Unknown,
        FaultKind::Hang,
        FaultKind::Complaint,
        FaultKind::RestartFailed,
    ];

    /// Inverse of [`FaultKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Wire code of the kind (stable; used by the host protocol and the data store).
    pub const fn code(self) -> u64 {
        match self {
            FaultKind::VmFault => 1,
            FaultKind::UserException => 2,
            FaultKind::Panic => 3,
            FaultKind::Exit => 4,
            FaultKind::CapFault => 5,
            FaultKind::Killed => 6,
            FaultKind::Unknown => 7,
            FaultKind::Hang => 8,
            FaultKind::Complaint => 9,
            FaultKind::RestartFailed => 10,
        }
    }

    /// Inverse of [`FaultKind::code`]; unknown codes map to `Unknown`.
    pub const fn from_code(code: u64) -> Self {
        match code {
            1 => FaultKind::VmFault,
            2 => FaultKind::UserException,
            3 => FaultKind::Panic,
            4 => FaultKind::Exit,
            5 => FaultKind::CapFault,
            6 => FaultKind::Killed,
            8 => FaultKind::Hang,
            9 => FaultKind::Complaint,
            10 => FaultKind::RestartFailed,
            _ => FaultKind::Unknown,
        }
    }

    /// Short lower-case name, as status tables print it.
    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::VmFault => "vm-fault",
            FaultKind::UserException => "user-exception",
            FaultKind::Panic => "panic",
            FaultKind::Exit => "exit",
            FaultKind::CapFault => "cap-fault",
            FaultKind::Killed => "killed",
            FaultKind::Unknown => "unknown",
            FaultKind::Hang => "hang",
            FaultKind::Complaint => "complaint",
            FaultKind::RestartFailed => "restart-failed",
        }
    }
}

/// A fault of a child PD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What went wrong.
    pub kind: FaultKind,
    /// Kind-specific detail: signal, exit status or system call number.
    pub code: u64,
    /// The faulting data address, where known.
    pub addr: Option<u64>,
    /// The program counter at the fault, where known.
    pub pc: Option<u64>,
}

impl Fault {
    /// A fault of `kind` with no detail.
    pub const fn new(kind: FaultKind) -> Self {
        Fault { kind, code: 0, addr: None, pc: None }
    }

    /// The record of a restart that the kernel refused with `error`.
    pub const fn restart_failed(error: KernelError) -> Self {
        Fault { code: error.code(), ..Fault::new(FaultKind::RestartFailed) }
    }

    /// The kernel's error, for a [`FaultKind::RestartFailed`].
    pub const fn kernel_error(&self) -> Option<KernelError> {
        match self.kind {
            FaultKind::RestartFailed => Some(KernelError::from_code(self.code)),
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        match self.kind {
            FaultKind::Exit => write!(f, " status {}", self.code)?,
            FaultKind::Killed | FaultKind::UserException if self.code != 0 => write!(f, " signal {}", self.code)?,
            FaultKind::CapFault if self.code != 0 => write!(f, " syscall {}", self.code)?,
            FaultKind::Unknown => write!(f, " code {}", self.code)?,
            FaultKind::RestartFailed => write!(f, " {}", KernelError::from_code(self.code).name())?,
            _ => {}
        }
        if let Some(addr) = self.addr {
            write!(f, " addr {addr:#x}")?;
        }
        if let Some(pc) = self.pc {
            write!(f, " pc {pc:#x}")?;
        }
        Ok(())
    }
}

/// What the parent wants done with a faulted child after its `fault` handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Leave the child as it is: stopped, or restarted if the handler called
    /// [`Child::restart`](crate::Child::restart).
    Leave,
    /// Reply to the fault so the child resumes where it faulted (seL4 only; the host
    /// kernel cannot resume a dead process and treats this as `Leave`).
    Resume,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn codes_round_trip() {
        for kind in FaultKind::ALL {
            assert_eq!(FaultKind::from_code(kind.code()), kind);
            assert_eq!(FaultKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(FaultKind::from_name("oops"), None);
        assert_eq!(FaultKind::from_code(999), FaultKind::Unknown);
    }

    #[test]
    fn display_names_the_address() {
        let fault = Fault { kind: FaultKind::VmFault, code: 11, addr: Some(0x10), pc: None };
        assert_eq!(format!("{fault}"), "vm-fault addr 0x10");
        assert_eq!(format!("{}", Fault { code: 9, ..Fault::new(FaultKind::Unknown) }), "unknown code 9");
        let failed = Fault::restart_failed(KernelError::NotAChild);
        assert_eq!(format!("{failed}"), "restart-failed not-a-child");
        assert_eq!(failed.kernel_error(), Some(KernelError::NotAChild));
        assert_eq!(Fault::new(FaultKind::Panic).kernel_error(), None);
    }
}
