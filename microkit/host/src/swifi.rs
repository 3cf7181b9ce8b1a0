//! Software-implemented fault injection into a running PD process, after
//! MINIX 3's swifi and Rio (Ng & Chen): the kernel corrupts a PD from outside,
//! as a bug inside it would, and the system must cope.
//!
//! - [`Corruption::Register`]: one bit of one general register of the PD's
//!   thread flipped (ptrace: seize, interrupt, read, write, detach);
//! - [`Corruption::Memory`]: one bit of a byte in one of its writable mappings
//!   (`.data`, `.bss`, heap, stack, and the shared regions and IPC pages it may
//!   write) flipped through `/proc/PID/mem`;
//! - [`Corruption::Code`]: one bit of its program's text flipped through
//!   `/proc/PID/mem`, which writes past the read-only mapping (a private copy
//!   of the page, as ptrace's `POKETEXT` does);
//! - [`Corruption::Stall`]: the PD is stopped (`SIGSTOP`) for a while and then
//!   continued, as a driver stuck in a slow path.
//!
//! Every choice (which register, mapping, byte, bit) comes from the caller's
//! 64-bit `choice`, so a campaign replays from its seed; the [`FaultRecord`]
//! says what was hit. Offsets are kept relative to the mapping, which is what
//! replays (addresses move with ASLR).

use std::fmt;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

/// A fault the kernel injects into a running PD from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// Flip one bit of one general register.
    Register,
    /// Flip one bit in a writable mapping.
    Memory,
    /// Flip one bit of the program's text.
    Code,
    /// Stop the PD for this long, then let it go on.
    Stall(Duration),
}

impl Corruption {
    pub fn name(self) -> &'static str {
        match self {
            Corruption::Register => "register",
            Corruption::Memory => "memory",
            Corruption::Code => "code",
            Corruption::Stall(_) => "stall",
        }
    }
}

/// What one injection hit: enough to read it back in a report and to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    pub corruption: Corruption,
    pub pid: u32,
    /// Register name, or the mapping's name (`[heap]`, `[stack]`, a path, `memfd:...`).
    pub target: String,
    /// The address of the byte flipped (memory, code), or 0.
    pub addr: u64,
    /// Offset of that byte in its mapping (memory, code), or 0.
    pub offset: u64,
    /// Bit flipped (0..64 for a register, 0..8 for a byte).
    pub bit: u32,
    /// The value before and after (register or byte).
    pub before: u64,
    pub after: u64,
}

impl fmt::Display for FaultRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.corruption {
            Corruption::Register => {
                write!(f, "register {} bit {}: {:#x} -> {:#x}", self.target, self.bit, self.before, self.after)
            }
            Corruption::Memory | Corruption::Code => write!(
                f,
                "{} {}+{:#x} ({:#x}) bit {}: {:#04x} -> {:#04x}",
                self.corruption.name(),
                self.target,
                self.offset,
                self.addr,
                self.bit,
                self.before,
                self.after
            ),
            Corruption::Stall(d) => write!(f, "stall {} ms", d.as_millis()),
        }
    }
}

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    pub name: String,
}

/// Parses `/proc/PID/maps` text; lines that do not parse are skipped.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (start, end) = fields.next()?.split_once('-')?;
            let perms = fields.next()?.as_bytes();
            if perms.len() < 4 {
                return None;
            }
            let name = fields.nth(3).unwrap_or("").to_string();
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                read: perms[0] == b'r',
                write: perms[1] == b'w',
                exec: perms[2] == b'x',
                shared: perms[3] == b's',
                name,
            })
        })
        .filter(|m| m.end > m.start)
        .collect()
}

/// The mappings a fault of `corruption` may hit: writable ones (not the
/// kernel's `[vvar]`/`[vsyscall]`), or the program's own text.
pub fn targets(maps: &[Mapping], corruption: Corruption, program: &Path) -> Vec<Mapping> {
    let program = program.to_string_lossy();
    maps.iter()
        .filter(|m| match corruption {
            Corruption::Memory => m.write && m.read && !m.name.starts_with("[v"),
            Corruption::Code => m.exec && m.name == program,
            Corruption::Register | Corruption::Stall(_) => false,
        })
        .cloned()
        .collect()
}

/// Picks a mapping (each equally likely, so small `.data` is hit as often as a
/// large DMA region), a byte in it and a bit, from `choice`.
pub fn pick_byte(targets: &[Mapping], choice: u64) -> Option<(&Mapping, u64, u32)> {
    if targets.is_empty() {
        return None;
    }
    let m = &targets[(choice % targets.len() as u64) as usize];
    let rest = choice / targets.len() as u64;
    let bit = (rest % 8) as u32;
    let offset = (rest / 8) % (m.end - m.start);
    Some((m, offset, bit))
}

/// Flips a bit of a byte in the memory of process `pid` (memory or code).
pub fn flip_byte(pid: u32, corruption: Corruption, program: &Path, choice: u64) -> io::Result<FaultRecord> {
    let maps = parse_maps(&std::fs::read_to_string(format!("/proc/{pid}/maps"))?);
    let targets = targets(&maps, corruption, program);
    let (m, offset, bit) = pick_byte(&targets, choice).ok_or_else(|| {
        io::Error::other(format!("process {pid} has no mapping a {} fault can hit", corruption.name()))
    })?;
    let addr = m.start + offset;
    // The kernel is this PD's parent: it may open its memory (ptrace access),
    // and writes through it reach read-only pages too (FOLL_FORCE).
    let mem = std::fs::OpenOptions::new().read(true).write(true).open(format!("/proc/{pid}/mem"))?;
    let mut byte = [0u8; 1];
    mem.read_exact_at(&mut byte, addr)?;
    let before = byte[0];
    byte[0] ^= 1 << bit;
    mem.write_all_at(&byte, addr)?;
    Ok(FaultRecord {
        corruption,
        pid,
        target: m.name.clone(),
        addr,
        offset,
        bit,
        before: before as u64,
        after: byte[0] as u64,
    })
}

/// Stops or continues process `pid` (a stall).
pub fn signal_stop(pid: u32, stop: bool) -> io::Result<()> {
    let sig = if stop { rustix::process::Signal::STOP } else { rustix::process::Signal::CONT };
    let pid = rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| io::Error::other("pid 0"))?;
    rustix::process::kill_process(pid, sig).map_err(io::Error::from)
}

/// Flips one bit of one general register of process `pid`'s (only) thread.
#[cfg(target_arch = "x86_64")]
pub fn flip_register(pid: u32, choice: u64) -> io::Result<FaultRecord> {
    use registers::{NAMES, get, set};
    let reg = (choice % NAMES.len() as u64) as usize;
    let bit = ((choice / NAMES.len() as u64) % 64) as u32;
    let tracee = ptrace::Seized::interrupt(pid)?;
    let mut regs = tracee.registers()?;
    let before = get(&regs, reg);
    let after = before ^ (1 << bit);
    set(&mut regs, reg, after);
    tracee.set_registers(&regs)?;
    drop(tracee);
    Ok(FaultRecord {
        corruption: Corruption::Register,
        pid,
        target: NAMES[reg].to_string(),
        addr: 0,
        offset: 0,
        bit,
        before,
        after,
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub fn flip_register(_pid: u32, _choice: u64) -> io::Result<FaultRecord> {
    Err(io::Error::other("register faults are implemented for x86_64 hosts only"))
}

#[cfg(target_arch = "x86_64")]
mod registers {
    /// The general registers a register fault picks from (and the PC).
    pub const NAMES: [&str; 17] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
        "rip",
    ];

    fn slot(r: &mut libc::user_regs_struct, i: usize) -> &mut u64 {
        match i {
            0 => &mut r.rax,
            1 => &mut r.rbx,
            2 => &mut r.rcx,
            3 => &mut r.rdx,
            4 => &mut r.rsi,
            5 => &mut r.rdi,
            6 => &mut r.rbp,
            7 => &mut r.rsp,
            8 => &mut r.r8,
            9 => &mut r.r9,
            10 => &mut r.r10,
            11 => &mut r.r11,
            12 => &mut r.r12,
            13 => &mut r.r13,
            14 => &mut r.r14,
            15 => &mut r.r15,
            _ => &mut r.rip,
        }
    }

    pub fn get(r: &libc::user_regs_struct, i: usize) -> u64 {
        let mut copy = *r;
        *slot(&mut copy, i)
    }

    pub fn set(r: &mut libc::user_regs_struct, i: usize, v: u64) {
        *slot(r, i) = v;
    }
}

#[cfg(target_arch = "x86_64")]
mod ptrace {
    use std::io;
    use std::mem::MaybeUninit;

    /// A PD process seized and stopped by this thread; dropping it detaches
    /// (the PD goes on with whatever registers it was given).
    pub struct Seized {
        pid: libc::pid_t,
    }

    fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
        if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
    }

    impl Seized {
        /// Seizes `pid` and stops it where it is (in a system call or not).
        pub fn interrupt(pid: u32) -> io::Result<Seized> {
            let pid = pid as libc::pid_t;
            // SAFETY: PTRACE_SEIZE takes no pointer arguments (addr and data 0);
            // the PD is this process's child, which may be traced (no Yama
            // restriction on a parent, and seccomp filters do not bar tracing).
            check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize) })?;
            let seized = Seized { pid };
            // SAFETY: PTRACE_INTERRUPT takes no pointer arguments.
            check(unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0usize, 0usize) })?;
            seized.wait_stop()?;
            Ok(seized)
        }

        /// Waits for the stop; WNOWAIT, so that an exit meanwhile is left for
        /// the kernel's own reaping through the pidfd.
        fn wait_stop(&self) -> io::Result<()> {
            let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
            // SAFETY: `info` is a valid siginfo_t buffer for waitid to fill.
            let rc = unsafe {
                libc::waitid(
                    libc::P_PID,
                    self.pid as libc::id_t,
                    info.as_mut_ptr(),
                    libc::WSTOPPED | libc::WEXITED | libc::WNOWAIT | libc::__WALL,
                )
            };
            check(rc as libc::c_long)?;
            // SAFETY: waitid succeeded and filled `info`.
            let info = unsafe { info.assume_init() };
            if info.si_code == libc::CLD_TRAPPED || info.si_code == libc::CLD_STOPPED {
                Ok(())
            } else {
                Err(io::Error::other("the process ended before it stopped"))
            }
        }

        pub fn registers(&self) -> io::Result<libc::user_regs_struct> {
            let mut regs = MaybeUninit::<libc::user_regs_struct>::zeroed();
            // SAFETY: PTRACE_GETREGS writes one user_regs_struct to `data`,
            // which points to one; the tracee is stopped.
            check(unsafe { libc::ptrace(libc::PTRACE_GETREGS, self.pid, 0usize, regs.as_mut_ptr()) })?;
            // SAFETY: filled by the successful call above.
            Ok(unsafe { regs.assume_init() })
        }

        pub fn set_registers(&self, regs: &libc::user_regs_struct) -> io::Result<()> {
            // SAFETY: PTRACE_SETREGS reads one user_regs_struct from `data`;
            // the tracee is stopped.
            check(unsafe { libc::ptrace(libc::PTRACE_SETREGS, self.pid, 0usize, regs as *const _) })?;
            Ok(())
        }
    }

    impl Drop for Seized {
        fn drop(&mut self) {
            // SAFETY: PTRACE_DETACH with signal 0 takes no pointer arguments.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, self.pid, 0usize, 0usize) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0000000-55d0c0001000 r--p 00000000 08:01 123 /bin/drv
55d0c0001000-55d0c0005000 r-xp 00001000 08:01 123 /bin/drv
55d0c0005000-55d0c0006000 rw-p 00005000 08:01 123 /bin/drv
55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000001000 rw-s 00000000 00:01 9 /memfd:blk_queues (deleted)
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
7ffd00100000-7ffd00104000 r--p 00000000 00:00 0 [vvar]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]
";

    #[test]
    fn maps_parse_and_targets_are_writable_or_the_program_text() {
        let maps = parse_maps(MAPS);
        assert_eq!(maps.len(), 8);
        assert_eq!(maps[4].name, "/memfd:blk_queues");
        assert!(maps[4].shared && maps[4].write);
        let mem = targets(&maps, Corruption::Memory, Path::new("/bin/drv"));
        let names: Vec<_> = mem.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["/bin/drv", "[heap]", "/memfd:blk_queues", "[stack]"]);
        let code = targets(&maps, Corruption::Code, Path::new("/bin/drv"));
        assert_eq!(code.len(), 1);
        assert_eq!(code[0].start, 0x55d0c0001000);
    }

    #[test]
    fn picks_stay_inside_their_mapping_and_repeat_for_a_choice() {
        let maps = targets(&parse_maps(MAPS), Corruption::Memory, Path::new("/bin/drv"));
        for choice in [0u64, 1, 7, 12345, u64::MAX, 0xdead_beef_cafe] {
            let (m, offset, bit) = pick_byte(&maps, choice).unwrap();
            assert!(m.start + offset < m.end && bit < 8);
            assert_eq!(pick_byte(&maps, choice), Some((m, offset, bit)));
        }
        assert!(pick_byte(&[], 3).is_none());
    }
}
