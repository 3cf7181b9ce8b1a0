//! What a parent can learn about a child's crash beyond its [`Fault`](crate::Fault):
//! the child's registers at the fault and, where the kernel can provide them, a
//! few hundred bytes of its stack around SP ([`Child::crash_context`](crate::Child::crash_context)).
//!
//! - **host kernel**: the dying PD's runtime sends them from its fault-signal
//!   handler (the signal context's registers; the stack bytes it reads within
//!   the bounds of its own main-thread stack, found at start-up, so the copy
//!   itself cannot fault), with its load base (PD binaries are position
//!   independent: `pc - load_base` is the address in the ELF). The kernel keeps
//!   the last context of each PD until its next start. Faults without a signal
//!   (a panic, an exit, a kernel-detected cap fault) have no context.
//! - **seL4**: `TCB_ReadRegisters` of the faulted thread (which stays blocked on
//!   its fault until its parent restarts it), so every kernel fault has one.
//!   There is no stack: a Microkit parent does not map its child's memory.
//!   The load base is 0 (PD ELFs are linked at fixed addresses).
//!
//! A context is moved as message-register words ([`CrashContext::encode`]);
//! [`CrashContext::decode`] checks every field, as the words may come from an
//! untrusted PD.

/// Most stack bytes a context holds.
pub const STACK_BYTES: usize = 256;
/// Most registers a context holds (`seL4_UserContext` on aarch64 has 36).
pub const MAX_REGISTERS: usize = 36;
/// Header words of an encoded context.
const HEADER_WORDS: usize = 8;
/// Most words an encoded context takes.
pub const CONTEXT_WORDS: usize = HEADER_WORDS + MAX_REGISTERS + STACK_BYTES / 8;

/// The order and names of the registers in a context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterLayout {
    /// Linux x86_64 `mcontext_t.gregs` order.
    X86_64Linux,
    /// Linux aarch64 `mcontext_t`: x0–x30, sp, pc, pstate.
    Aarch64Linux,
    /// seL4 aarch64 `seL4_UserContext` order.
    Aarch64Sel4,
}

const X86_64_LINUX: [&str; 23] = [
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp",
    "rip", "eflags", "csgsfs", "err", "trapno", "oldmask", "cr2",
];
const AARCH64_LINUX: [&str; 34] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17",
    "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29", "x30", "sp", "pc", "pstate",
];
const AARCH64_SEL4: [&str; 36] = [
    "pc",
    "sp",
    "spsr",
    "x0",
    "x1",
    "x2",
    "x3",
    "x4",
    "x5",
    "x6",
    "x7",
    "x8",
    "x16",
    "x17",
    "x18",
    "x29",
    "x30",
    "x9",
    "x10",
    "x11",
    "x12",
    "x13",
    "x14",
    "x15",
    "x19",
    "x20",
    "x21",
    "x22",
    "x23",
    "x24",
    "x25",
    "x26",
    "x27",
    "x28",
    "tpidr_el0",
    "tpidrro_el0",
];

impl RegisterLayout {
    /// The register names, in context order.
    pub const fn names(self) -> &'static [&'static str] {
        match self {
            RegisterLayout::X86_64Linux => &X86_64_LINUX,
            RegisterLayout::Aarch64Linux => &AARCH64_LINUX,
            RegisterLayout::Aarch64Sel4 => &AARCH64_SEL4,
        }
    }

    /// Wire code.
    pub const fn code(self) -> u64 {
        match self {
            RegisterLayout::X86_64Linux => 1,
            RegisterLayout::Aarch64Linux => 2,
            RegisterLayout::Aarch64Sel4 => 3,
        }
    }

    /// Inverse of [`RegisterLayout::code`].
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(RegisterLayout::X86_64Linux),
            2 => Some(RegisterLayout::Aarch64Linux),
            3 => Some(RegisterLayout::Aarch64Sel4),
            _ => None,
        }
    }

    /// Short name (`x86_64-linux`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            RegisterLayout::X86_64Linux => "x86_64-linux",
            RegisterLayout::Aarch64Linux => "aarch64-linux",
            RegisterLayout::Aarch64Sel4 => "aarch64-sel4",
        }
    }
}

/// A child's registers and stack at its fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashContext {
    pub layout: RegisterLayout,
    /// Where the PD's ELF is loaded (0 for a fixed-address ELF).
    pub load_base: u64,
    pub pc: u64,
    pub sp: u64,
    /// The first `register_count` are valid, named by `layout`.
    pub registers: [u64; MAX_REGISTERS],
    pub register_count: usize,
    /// Address of `stack[0]`.
    pub stack_base: u64,
    /// The first `stack_len` are valid.
    pub stack: [u8; STACK_BYTES],
    pub stack_len: usize,
}

impl CrashContext {
    /// A context with registers only.
    pub fn new(layout: RegisterLayout, load_base: u64, pc: u64, sp: u64, registers: &[u64]) -> Self {
        let mut regs = [0; MAX_REGISTERS];
        let count = registers.len().min(MAX_REGISTERS).min(layout.names().len());
        regs[..count].copy_from_slice(&registers[..count]);
        CrashContext {
            layout,
            load_base,
            pc,
            sp,
            registers: regs,
            register_count: count,
            stack_base: 0,
            stack: [0; STACK_BYTES],
            stack_len: 0,
        }
    }

    /// The valid registers with their names.
    pub fn named_registers(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.layout.names().iter().copied().zip(self.registers[..self.register_count].iter().copied())
    }

    /// The valid stack bytes (from `stack_base`).
    pub fn stack(&self) -> &[u8] {
        &self.stack[..self.stack_len]
    }

    /// The PC as an address in the PD's ELF.
    pub fn elf_pc(&self) -> u64 {
        self.pc.wrapping_sub(self.load_base)
    }

    /// Writes the context into `out`; returns the number of words used
    /// (at most [`CONTEXT_WORDS`]).
    pub fn encode(&self, out: &mut [u64]) -> usize {
        let stack_words = self.stack_len.div_ceil(8);
        let total = HEADER_WORDS + self.register_count + stack_words;
        if out.len() < total {
            return 0;
        }
        out[0] = self.layout.code();
        out[1] = self.load_base;
        out[2] = self.pc;
        out[3] = self.sp;
        out[4] = self.register_count as u64;
        out[5] = self.stack_base;
        out[6] = self.stack_len as u64;
        out[7] = 0;
        let regs = &mut out[HEADER_WORDS..HEADER_WORDS + self.register_count];
        regs.copy_from_slice(&self.registers[..self.register_count]);
        let stack = &mut out[HEADER_WORDS + self.register_count..total];
        for (i, w) in stack.iter_mut().enumerate() {
            let mut bytes = [0u8; 8];
            let from = i * 8;
            let to = (from + 8).min(self.stack_len);
            bytes[..to - from].copy_from_slice(&self.stack[from..to]);
            *w = u64::from_le_bytes(bytes);
        }
        total
    }

    /// Reads a context written by [`CrashContext::encode`]; `None` if the words
    /// are not one (unknown layout, counts out of range, too few words).
    pub fn decode(words: &[u64]) -> Option<Self> {
        let header = words.get(..HEADER_WORDS)?;
        let layout = RegisterLayout::from_code(header[0])?;
        let register_count = usize::try_from(header[4]).ok()?;
        let stack_len = usize::try_from(header[6]).ok()?;
        if register_count > layout.names().len() || stack_len > STACK_BYTES {
            return None;
        }
        let regs = words.get(HEADER_WORDS..HEADER_WORDS + register_count)?;
        let stack_from = HEADER_WORDS + register_count;
        let stack_words = words.get(stack_from..stack_from + stack_len.div_ceil(8))?;
        let mut ctx = CrashContext::new(layout, header[1], header[2], header[3], regs);
        ctx.stack_base = header[5];
        ctx.stack_len = stack_len;
        for (i, w) in stack_words.iter().enumerate() {
            let bytes = w.to_le_bytes();
            let from = i * 8;
            let to = (from + 8).min(stack_len);
            ctx.stack[from..to].copy_from_slice(&bytes[..to - from]);
        }
        Some(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip() {
        let mut ctx = CrashContext::new(RegisterLayout::X86_64Linux, 0x5555_0000, 0x5555_1234, 0x7ff0, &[1, 2, 3]);
        ctx.stack_base = 0x7fe0;
        ctx.stack_len = 13;
        ctx.stack[..13].copy_from_slice(b"hello, stack!");
        let mut words = [0u64; CONTEXT_WORDS];
        let n = ctx.encode(&mut words);
        assert_eq!(n, 8 + 3 + 2);
        let back = CrashContext::decode(&words[..n]).unwrap();
        assert_eq!(back, ctx);
        assert_eq!(back.elf_pc(), 0x1234);
        assert_eq!(back.named_registers().collect::<std::vec::Vec<_>>(), [("r8", 1), ("r9", 2), ("r10", 3)]);
        assert_eq!(back.stack(), b"hello, stack!");
        // Truncated, or with counts out of range: not a context.
        assert_eq!(CrashContext::decode(&words[..n - 1]), None);
        let mut bad = words;
        bad[4] = 24;
        assert_eq!(CrashContext::decode(&bad), None);
        bad = words;
        bad[6] = STACK_BYTES as u64 + 1;
        assert_eq!(CrashContext::decode(&bad), None);
        bad = words;
        bad[0] = 9;
        assert_eq!(CrashContext::decode(&bad), None);
        assert_eq!(CrashContext::decode(&[]), None);
    }

    #[test]
    fn a_full_context_fits_the_message_registers() {
        const { assert!(CONTEXT_WORDS <= crate::MSG_MAX_LENGTH) };
        let mut ctx = CrashContext::new(RegisterLayout::Aarch64Sel4, 0, 1, 2, &[7; 40]);
        assert_eq!(ctx.register_count, 36);
        ctx.stack_len = STACK_BYTES;
        let mut words = [0u64; CONTEXT_WORDS];
        assert_eq!(ctx.encode(&mut words), CONTEXT_WORDS);
        assert_eq!(CrashContext::decode(&words), Some(ctx));
    }
}
