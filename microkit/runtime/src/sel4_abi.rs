//! The seL4/Microkit ABI as plain data: numbers, layouts and decoders.
//!
//! Everything here is pure logic so it compiles and is unit-tested on the host;
//! the seL4 backend (`src/sel4/`) only adds the system calls and statics.
//! Values were checked against seL4 16.0.0 (MCS, aarch64, hypervisor support) and
//! Microkit 2.3. The SDK's `debug` config has `CONFIG_HARDWARE_DEBUG_API` on; its
//! `release` config does not (`KernelVerificationBuild` stays on there), which
//! renumbers the invocation labels after the TCB's four debug methods: see
//! [`label`]. A PD built for a release kernel (`REINCARNATE_SEL4_CONFIG=release`,
//! set by `cargo xtask build --target sel4 --config release`) is compiled with the
//! `reincarnate_sel4_release` cfg.

use crate::fault::{Fault, FaultKind};

/// seL4 system call numbers (MCS kernel), passed in x7.
pub mod sys {
    pub const CALL: i64 = -1;
    pub const REPLY_RECV: i64 = -2;
    pub const NB_SEND_RECV: i64 = -3;
    pub const SEND: i64 = -5;
    pub const NB_SEND: i64 = -6;
    pub const RECV: i64 = -7;
    pub const DEBUG_PUT_CHAR: i64 = -12;
}

/// Capability slots in every PD's CSpace, as the Microkit tool lays them out.
pub mod cap {
    /// The PD's own endpoint: everything it receives arrives here.
    pub const INPUT: u64 = 1;
    /// The PD's MCS reply object.
    pub const REPLY: u64 = 4;
    /// Endpoint to the Microkit monitor (passive PDs announce themselves on it).
    pub const MONITOR_EP: u64 = 5;
    const NOTIFICATION_BASE: u64 = 10;
    const ENDPOINT_BASE: u64 = 74;
    const IRQ_BASE: u64 = 138;
    const TCB_BASE: u64 = 202;

    /// Notification to signal the other end of channel `ch`.
    pub const fn notification(ch: u8) -> u64 {
        NOTIFICATION_BASE + ch as u64
    }

    /// Endpoint for a protected procedure call on channel `ch`.
    pub const fn endpoint(ch: u8) -> u64 {
        ENDPOINT_BASE + ch as u64
    }

    /// IRQ handler of the IRQ delivered on channel `ch`.
    pub const fn irq_handler(ch: u8) -> u64 {
        IRQ_BASE + ch as u64
    }

    /// TCB of child `id`.
    pub const fn child_tcb(id: u8) -> u64 {
        TCB_BASE + id as u64
    }
}

/// Invocation labels (seL4 16.0.0, MCS). The numbering depends on the kernel
/// configuration: with the hardware debug API (debug config) the TCB has four more
/// methods (Set/Get/UnsetBreakpoint, ConfigureSingleStepping) before `SetTLSBase`,
/// so every label from there on is 4 higher than on a release kernel.
pub mod label {
    /// Generic labels (below the debug methods): the same on every config.
    pub const TCB_READ_REGISTERS: u64 = 2;
    pub const TCB_WRITE_REGISTERS: u64 = 3;
    pub const TCB_SUSPEND: u64 = 12;
    #[allow(dead_code)] // not used yet: a stopped child is restarted, not resumed
    pub const TCB_RESUME: u64 = 13;
    /// `IRQAckIRQ` with the hardware debug API (the SDK's debug config).
    pub const IRQ_ACK_IRQ_DEBUG_API: u64 = 31;
    /// `IRQAckIRQ` without it (the SDK's release config).
    pub const IRQ_ACK_IRQ_NO_DEBUG_API: u64 = IRQ_ACK_IRQ_DEBUG_API - 4;
    /// `IRQAckIRQ` on the kernel this PD is built for.
    pub const IRQ_ACK_IRQ: u64 =
        if cfg!(reincarnate_sel4_release) { IRQ_ACK_IRQ_NO_DEBUG_API } else { IRQ_ACK_IRQ_DEBUG_API };
}

/// Fault message labels (`seL4_FaultType`, aarch64).
pub mod fault_label {
    pub const CAP_FAULT: u64 = 1;
    pub const UNKNOWN_SYSCALL: u64 = 2;
    pub const USER_EXCEPTION: u64 = 3;
    pub const DEBUG_EXCEPTION: u64 = 4;
    #[allow(dead_code)] // Microkit sets no timeout endpoints: decoded as Unknown
    pub const TIMEOUT: u64 = 5;
    pub const VM_FAULT: u64 = 6;
    /// A trap to the hypervisor-mode kernel (`CONFIG_ARM_HYPERVISOR_SUPPORT`, as in
    /// the SDK's `qemu_virt_aarch64` configs) of a thread without a virtual CPU, e.g.
    /// a read of a system register the kernel does not export (`CNTVCT_EL0`).
    pub const VCPU_FAULT: u64 = 8;
}

/// Virtual address of the IPC buffer (Microkit: one page below the top of the
/// 40-bit user address space).
pub const IPC_BUFFER: u64 = 0xFF_FFFF_F000;
/// Offset of the message registers in the IPC buffer (after the tag word).
pub const IPC_BUFFER_MSG_OFFSET: u64 = 8;
/// Initial stack pointer (Microkit: the stack ends one guard page below the IPC buffer).
pub const STACK_TOP: u64 = 0xFF_FFFF_E000;

/// Where our linker script (`sel4.ld`) puts the fixed entry block: the same in
/// every PD ELF, so a parent can point a child's PC at it without knowing the
/// child's binary. Each entry is 64 bytes; the script asserts the addresses.
pub mod entry {
    /// `_start`: sets SP, resets `.data`/`.bss`, runs the PD. Fresh boot and restart.
    pub const START: u64 = 0x20_0000;
    /// `__reincarnate_inject`: x0 = `InjectKind::code()`; performs the injection.
    pub const INJECT: u64 = START + 0x40;
    /// `__reincarnate_panic_trap`: the final VM fault of a panicking PD.
    pub const PANIC_TRAP: u64 = START + 0x80;
    /// `__reincarnate_exit_trap`: x0 = status; the final VM fault of an exiting PD.
    pub const EXIT_TRAP: u64 = START + 0xC0;
    /// Size of each entry.
    pub const SIZE: u64 = 0x40;

    /// Whether `pc` lies in the entry starting at `entry` (a trap's faulting
    /// instruction is a few instructions into it).
    pub const fn contains(entry: u64, pc: u64) -> bool {
        pc >= entry && pc < entry + SIZE
    }
}

/// The unmapped address the panic trap writes to (page 0 is never mapped).
pub const PANIC_ADDRESS: u64 = 0x50;
/// The exit trap writes to `EXIT_ADDRESS_BASE + (status & 0xff)` (page 0).
pub const EXIT_ADDRESS_BASE: u64 = 0x100;

/// Badge bit of a protected procedure call (`1 << 63 | channel`).
pub const BADGE_PPC: u64 = 1 << 63;
/// Badge bit of a child's fault (`1 << 62 | child`).
pub const BADGE_FAULT: u64 = 1 << 62;

/// What a badge received on the input endpoint says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Badge {
    /// Notification bits (channels 0..62).
    Notified(u64),
    /// A protected procedure call on this channel.
    Protected(u8),
    /// A fault of this child.
    Fault(u8),
    /// Not something the Microkit tool hands out (channel or child id >= 62).
    Invalid(u64),
}

impl Badge {
    /// Decodes like libmicrokit: fault bit first, then PPC bit, else notifications.
    pub const fn decode(badge: u64) -> Badge {
        if badge & BADGE_FAULT != 0 {
            let child = badge & 0xff;
            if child < crate::CHANNEL_LIMIT as u64 { Badge::Fault(child as u8) } else { Badge::Invalid(badge) }
        } else if badge & BADGE_PPC != 0 {
            let ch = badge & 0x3f;
            if ch < crate::CHANNEL_LIMIT as u64 { Badge::Protected(ch as u8) } else { Badge::Invalid(badge) }
        } else {
            Badge::Notified(badge)
        }
    }
}

/// The seL4 message info word of an invocation: `label << 12 | length`.
pub const fn invocation_info(label: u64, length: u64) -> u64 {
    label << 12 | (length & 0x7f)
}

/// Label of a kernel reply to an invocation: 0 is success, else a `seL4_Error`.
pub const fn invocation_error(reply_info: u64) -> u64 {
    reply_info >> 12
}

/// Most registers we ever write: the first four of `seL4_UserContext` (aarch64
/// order: pc, sp, spsr, x0, x1, ..., x8, x16, x17, x18, x29, x30, x9–x15, x19–x28,
/// tpidr_el0, tpidrro_el0).
pub const WRITE_REGISTERS_MAX: usize = 4;

/// A `TCB_WriteRegisters` invocation message: info word and message registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteRegisters {
    pub info: u64,
    /// MR0 = resume | flags << 8, MR1 = count, then the registers.
    pub mrs: [u64; 2 + WRITE_REGISTERS_MAX],
    /// How many of `mrs` are used (= the info length).
    pub len: usize,
}

impl WriteRegisters {
    /// Writes the first `regs.len()` registers of `seL4_UserContext` (in `seL4_UserContext`
    /// order) and resumes the thread if `resume`. Unlike libsel4 (which always sends
    /// the whole context, length 38) the message is just long enough for the
    /// registers written, which the kernel accepts (`length - 2 >= count`).
    pub fn new(resume: bool, regs: &[u64]) -> WriteRegisters {
        assert!(regs.len() <= WRITE_REGISTERS_MAX);
        let mut mrs = [0; 2 + WRITE_REGISTERS_MAX];
        mrs[0] = resume as u64; // flags (bits 8..16) = 0
        mrs[1] = regs.len() as u64;
        mrs[2..2 + regs.len()].copy_from_slice(regs);
        let len = 2 + regs.len();
        WriteRegisters { info: invocation_info(label::TCB_WRITE_REGISTERS, len as u64), mrs, len }
    }

    /// Restart a child as a fresh copy: PC at `_start`, SP at the top of its stack.
    pub fn restart() -> WriteRegisters {
        WriteRegisters::new(true, &[entry::START, STACK_TOP])
    }

    /// Redirect a child to its injection entry with `x0 = code`. SPSR 0 is
    /// sanitised by the kernel to plain user mode.
    pub fn inject(code: u64) -> WriteRegisters {
        WriteRegisters::new(true, &[entry::INJECT, STACK_TOP, 0, code])
    }
}

/// Decodes a child's fault message (label from the message info, message registers
/// as received) into the fault its parent's handler sees.
///
/// Our runtime ends a PD on purpose with VM faults from fixed trap addresses (see
/// [`entry`]): a fault in the entry [`entry::PANIC_TRAP`] on [`PANIC_ADDRESS`] is a panic,
/// one in the entry [`entry::EXIT_TRAP`] in the exit window is an exit with its status. Matching
/// both PC and address keeps a genuine null-pointer access from passing for either.
pub fn decode_fault(label: u64, mrs: &[u64]) -> Fault {
    let mr = |i: usize| mrs.get(i).copied().unwrap_or(0);
    match label {
        fault_label::VM_FAULT => {
            let (ip, addr, fsr) = (mr(0), mr(1), mr(3));
            if entry::contains(entry::PANIC_TRAP, ip) && addr == PANIC_ADDRESS {
                Fault::new(FaultKind::Panic)
            } else if entry::contains(entry::EXIT_TRAP, ip)
                && (EXIT_ADDRESS_BASE..EXIT_ADDRESS_BASE + 0x100).contains(&addr)
            {
                Fault { code: addr - EXIT_ADDRESS_BASE, ..Fault::new(FaultKind::Exit) }
            } else {
                Fault { kind: FaultKind::VmFault, code: fsr, addr: Some(addr), pc: Some(ip) }
            }
        }
        // FaultIP, SP, SPSR, Number (the ESR), Code.
        fault_label::USER_EXCEPTION => {
            Fault { kind: FaultKind::UserException, code: mr(3), addr: None, pc: Some(mr(0)) }
        }
        // A `brk` (e.g. `core::intrinsics::abort`) with the hardware debug API on.
        fault_label::DEBUG_EXCEPTION => {
            Fault { kind: FaultKind::UserException, code: mr(1), addr: None, pc: Some(mr(0)) }
        }
        // IP, capability address, ...: an invocation of a capability it does not hold.
        fault_label::CAP_FAULT => Fault { kind: FaultKind::CapFault, code: 0, addr: Some(mr(1)), pc: Some(mr(0)) },
        // x0..x7, FaultIP, SP, LR, SPSR, Syscall.
        fault_label::UNKNOWN_SYSCALL => Fault { kind: FaultKind::CapFault, code: mr(12), addr: None, pc: Some(mr(8)) },
        // HSR (the ESR of the trap); no PC in the message.
        fault_label::VCPU_FAULT => Fault { kind: FaultKind::UserException, code: mr(0), addr: None, pc: None },
        other => Fault { code: other, ..Fault::new(FaultKind::Unknown) },
    }
}

/// First boot or restart, as [`reset_image`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boot {
    /// First start since the system was loaded: `.data` was saved as the pristine copy.
    First,
    /// A restart: `.data` was restored from the pristine copy.
    Restart,
}

/// Value of the "pristine copy valid" word once the copy was taken.
pub const PRISTINE_VALID: u64 = 0x7265_696e_6361_726e; // "reincarn"

/// Gives the PD a fresh image: `.data` from its pristine copy and `.bss` zeroed.
///
/// On the first start (`valid != PRISTINE_VALID`, as loaded) `.data` is still as the
/// ELF has it: it is saved into `pristine` and `valid` is set. On every later start
/// `.data` is restored from `pristine`. `valid` and `pristine` live outside `.data`
/// and `.bss` (linker script sections `.reincarnate.keep`, `.reincarnate.pristine`)
/// so the reset never touches them.
pub fn reset_image(data: &mut [u8], pristine: &mut [u8], bss: &mut [u8], valid: &mut u64) -> Boot {
    assert_eq!(data.len(), pristine.len(), "pristine copy must be as large as .data");
    let boot = if *valid == PRISTINE_VALID {
        data.copy_from_slice(pristine);
        Boot::Restart
    } else {
        pristine.copy_from_slice(data);
        *valid = PRISTINE_VALID;
        Boot::First
    };
    bss.fill(0);
    boot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_slots() {
        assert_eq!(cap::notification(0), 10);
        assert_eq!(cap::endpoint(3), 77);
        assert_eq!(cap::irq_handler(61), 199);
        assert_eq!(cap::child_tcb(2), 204);
    }

    #[test]
    fn badges_decode_like_libmicrokit() {
        assert_eq!(Badge::decode(1 << 63 | 5), Badge::Protected(5));
        assert_eq!(Badge::decode(1 << 62 | 3), Badge::Fault(3));
        assert_eq!(Badge::decode(0b101), Badge::Notified(0b101));
        assert_eq!(Badge::decode(1 << 63 | 62), Badge::Invalid(1 << 63 | 62));
        assert_eq!(Badge::decode(1 << 62 | 1 << 63 | 1), Badge::Fault(1));
    }

    #[test]
    fn write_registers_layout() {
        let m = WriteRegisters::restart();
        assert_eq!(m.len, 4);
        assert_eq!(m.info, 3 << 12 | 4);
        assert_eq!(&m.mrs[..4], &[1, 2, 0x20_0000, 0xFF_FFFF_E000]);
        let m = WriteRegisters::inject(2);
        assert_eq!(m.len, 6);
        assert_eq!(m.info, 3 << 12 | 6);
        assert_eq!(m.mrs, [1, 4, 0x20_0040, 0xFF_FFFF_E000, 0, 2]);
        let m = WriteRegisters::new(false, &[7]);
        assert_eq!(&m.mrs[..3], &[0, 1, 7]);
    }

    #[test]
    fn invocation_words() {
        assert_eq!(invocation_info(label::IRQ_ACK_IRQ, 0), 0x1f000);
        // The SDK's release kernel (no hardware debug API): 27, as its libsel4 says.
        assert_eq!(label::IRQ_ACK_IRQ_NO_DEBUG_API, 27);
        assert_eq!(invocation_error(0x1f000 | 3), 0x1f);
        assert_eq!(invocation_error(3), 0);
    }

    #[test]
    fn vm_faults_decode_with_address_and_pc() {
        let f = decode_fault(fault_label::VM_FAULT, &[0x20_1234, 0x10, 0, 0x9200_0046]);
        assert_eq!(f, Fault { kind: FaultKind::VmFault, code: 0x9200_0046, addr: Some(0x10), pc: Some(0x20_1234) });
    }

    #[test]
    fn panic_and_exit_traps_are_recognised_only_at_their_pc() {
        // The faulting store is the second instruction of each trap (seen on seL4).
        assert_eq!(decode_fault(fault_label::VM_FAULT, &[0x20_0084, PANIC_ADDRESS, 0, 0]).kind, FaultKind::Panic);
        let exit = decode_fault(fault_label::VM_FAULT, &[0x20_00c8, EXIT_ADDRESS_BASE + 3, 0, 0]);
        assert_eq!((exit.kind, exit.code), (FaultKind::Exit, 3));
        // A null-pointer access elsewhere that happens to hit the same address.
        assert_eq!(decode_fault(fault_label::VM_FAULT, &[0x20_5000, PANIC_ADDRESS, 0, 0]).kind, FaultKind::VmFault);
        assert_eq!(decode_fault(fault_label::VM_FAULT, &[entry::EXIT_TRAP, 0x10, 0, 0]).kind, FaultKind::VmFault);
        assert_eq!(
            decode_fault(fault_label::VM_FAULT, &[entry::EXIT_TRAP, PANIC_ADDRESS, 0, 0]).kind,
            FaultKind::VmFault
        );
        assert_eq!(
            decode_fault(fault_label::VM_FAULT, &[entry::PANIC_TRAP + 0x40, PANIC_ADDRESS, 0, 0]).kind,
            FaultKind::VmFault
        );
    }

    #[test]
    fn other_faults() {
        let f = decode_fault(fault_label::USER_EXCEPTION, &[0x20_0100, 0xff_ffff_d000, 0, 0x0200_0000, 0]);
        assert_eq!((f.kind, f.pc, f.code), (FaultKind::UserException, Some(0x20_0100), 0x0200_0000));
        let f = decode_fault(fault_label::CAP_FAULT, &[0x20_0200, 999]);
        assert_eq!((f.kind, f.addr), (FaultKind::CapFault, Some(999)));
        let mut mrs = [0; 13];
        mrs[8] = 0x20_0300;
        mrs[12] = 77;
        let f = decode_fault(fault_label::UNKNOWN_SYSCALL, &mrs);
        assert_eq!((f.kind, f.code, f.pc), (FaultKind::CapFault, 77, Some(0x20_0300)));
        assert_eq!(decode_fault(fault_label::DEBUG_EXCEPTION, &[0x20_0400, 3]).kind, FaultKind::UserException);
        let f = decode_fault(fault_label::VCPU_FAULT, &[0x6230_0000]);
        assert_eq!((f.kind, f.code, f.pc), (FaultKind::UserException, 0x6230_0000, None));
        assert_eq!(decode_fault(42, &[]), Fault { code: 42, ..Fault::new(FaultKind::Unknown) });
        // A short (untrusted-length) message reads missing registers as 0.
        assert_eq!(decode_fault(fault_label::VM_FAULT, &[1]).addr, Some(0));
    }

    #[test]
    fn reset_saves_then_restores() {
        let mut data = *b"initial!";
        let mut pristine = [0u8; 8];
        let mut bss = [0u8; 4];
        let mut valid = 0;
        assert_eq!(reset_image(&mut data, &mut pristine, &mut bss, &mut valid), Boot::First);
        assert_eq!(&pristine, b"initial!");
        data.copy_from_slice(b"changed!");
        bss.fill(7);
        assert_eq!(reset_image(&mut data, &mut pristine, &mut bss, &mut valid), Boot::Restart);
        assert_eq!(&data, b"initial!");
        assert_eq!(bss, [0; 4]);
    }
}
