//! Crash records made readable, for `cargo xtask crashes` and tests: the
//! `@crash` lines RS prints ([`rs_api::CrashRecord::line`]) parsed back, the PC
//! symbolized against the PD's ELF (function, file:line, inlined frames first)
//! with `addr2line`, the registers by name and the stack as a hex dump.
//!
//! Host-kernel PDs are position independent: RS's record carries the load base
//! the runtime saw, and the address looked up is `pc - base`. seL4 PD ELFs are
//! linked at fixed addresses (base 0).

use std::fmt::Write as _;
use std::path::Path;

use rs_api::CrashRecord;

/// One frame of the PC's location: the innermost (inlined) first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Demangled, without the hash.
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.function.as_deref().unwrap_or("??"))?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, " at {file}:{line}"),
            (Some(file), None) => write!(f, " at {file}"),
            _ => Ok(()),
        }
    }
}

/// The frames at `addr` (an address in the ELF, load base subtracted).
pub fn symbolize(elf: &Path, addr: u64) -> Result<Vec<Frame>, String> {
    let loader = addr2line::Loader::new(elf).map_err(|e| format!("cannot read {}: {e}", elf.display()))?;
    let mut frames = Vec::new();
    let mut iter = loader.find_frames(addr).map_err(|e| format!("{}: {e}", elf.display()))?;
    while let Ok(Some(frame)) = iter.next() {
        let function = frame.function.as_ref().and_then(|f| f.demangle().ok()).map(|f| strip_hash(&f));
        let (file, line) = match frame.location {
            Some(loc) => (loc.file.map(str::to_string), loc.line),
            None => (None, None),
        };
        frames.push(Frame { function, file, line });
    }
    if frames.is_empty() {
        // No line table there: the symbol table still names the function.
        if let Some(name) = loader.find_symbol(addr) {
            frames.push(Frame {
                function: Some(strip_hash(&addr2line::demangle_auto(name.into(), None))),
                file: None,
                line: None,
            });
        }
    }
    Ok(frames)
}

/// Words of the stack bytes that look like return addresses into the ELF (a
/// *stack scan*, as debuggers do without unwind tables): each word that, less
/// the load base and 1 (the call before the return address), symbolizes to a
/// function with line information, with its frames; nearest SP first. Candidates, not a proven
/// backtrace: a stale word of an earlier call looks the same.
pub fn stack_scan(elf: &Path, ctx: &microkit::CrashContext) -> Result<Vec<(u64, Vec<Frame>)>, String> {
    let mut out = Vec::new();
    let from_sp = (ctx.sp.saturating_sub(ctx.stack_base) as usize).min(ctx.stack_len) & !7;
    for chunk in ctx.stack()[from_sp..].chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let Some(addr) = word.checked_sub(ctx.load_base).and_then(|a| a.checked_sub(1)) else { continue };
        if ctx.load_base != 0 && word < ctx.load_base {
            continue;
        }
        let frames = symbolize(elf, addr)?;
        // Only code with line information: the symbol table alone also names
        // data, which stack words point at as often.
        if frames.iter().any(|f| f.function.is_some() && f.line.is_some()) {
            out.push((word, frames));
        }
    }
    Ok(out)
}

/// `a::b::h0123456789abcdef` → `a::b`.
fn strip_hash(name: &str) -> String {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => head.to_string(),
        _ => name.to_string(),
    }
}

/// Every `@crash` line of a console log, in order: PD name and record.
pub fn parse_log(log: &str) -> Vec<(String, CrashRecord)> {
    log.lines().filter_map(CrashRecord::parse).map(|(pd, r)| (pd.to_string(), r)).collect()
}

/// A readable report of one record; `elf` is the PD's program, if found.
pub fn report(pd: &str, record: &CrashRecord, elf: Option<&Path>) -> String {
    let mut out = String::new();
    let secs = record.at_ns as f64 / 1e9;
    let _ = writeln!(out, "{pd} generation {} at {secs:.3} s: {}", record.generation, record.fault);
    let pc = record.fault.pc.or(record.context.map(|c| c.pc));
    let base = record.context.map_or(0, |c| c.load_base);
    if let Some(pc) = pc {
        let addr = pc.wrapping_sub(base);
        let _ = write!(out, "  pc {pc:#x}");
        if base != 0 {
            let _ = write!(out, " (ELF {addr:#x}, load base {base:#x})");
        }
        out.push('\n');
        match elf.map(|e| (e, symbolize(e, addr))) {
            Some((_, Ok(frames))) if !frames.is_empty() => {
                for (i, f) in frames.iter().enumerate() {
                    let _ = writeln!(out, "    {}{f}", if i == 0 { "in " } else { "inlined into " });
                }
            }
            Some((e, Ok(_))) => {
                let _ = writeln!(out, "    (no symbol for it in {})", e.display());
            }
            Some((_, Err(e))) => {
                let _ = writeln!(out, "    ({e})");
            }
            None => out.push_str("    (the PD's ELF was not found: not symbolized)\n"),
        }
    }
    match &record.context {
        None => out.push_str("  no registers (the kernel had none for this fault)\n"),
        Some(ctx) => {
            let _ = writeln!(out, "  registers ({}):", ctx.layout.name());
            let regs: Vec<String> = ctx.named_registers().map(|(n, v)| format!("{n:>8} {v:#018x}")).collect();
            for row in regs.chunks(3) {
                let _ = writeln!(out, "  {}", row.join("  "));
            }
            if let Some(elf) = elf
                && let Ok(callers) = stack_scan(elf, ctx)
                && !callers.is_empty()
            {
                out.push_str("  return addresses on the stack (a scan, nearest first):\n");
                for (word, frames) in callers.iter().take(12) {
                    let f = frames.last().map(|f| f.to_string()).unwrap_or_default();
                    let _ = writeln!(out, "    {word:#x} {f}");
                }
            }
            if ctx.stack_len == 0 {
                out.push_str("  no stack bytes (seL4: RS does not map its children's memory)\n");
            } else {
                let _ = writeln!(out, "  stack around sp {:#x}:", ctx.sp);
                for (i, chunk) in ctx.stack().chunks(16).enumerate() {
                    let at = ctx.stack_base + 16 * i as u64;
                    let mark = if (at..at + 16).contains(&ctx.sp) { '>' } else { ' ' };
                    let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                    let _ = writeln!(out, "  {mark}{at:#014x}  {}", hex.join(" "));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stripped() {
        assert_eq!(strip_hash("microkit::host::wild_write::h0123456789abcdef"), "microkit::host::wild_write");
        assert_eq!(strip_hash("a::hello"), "a::hello");
    }

    /// This test binary is an ELF with DWARF: a function of it symbolizes.
    #[test]
    fn own_functions_symbolize() {
        let exe = std::env::current_exe().unwrap();
        // The address in the ELF of this function: its runtime address minus
        // the load bias, which for a PIE test binary is where the ELF starts.
        let here = own_functions_symbolize as *const () as u64;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let exe_name = exe.to_string_lossy().to_string();
        let base = maps
            .lines()
            .find(|l| l.ends_with(&exe_name))
            .and_then(|l| u64::from_str_radix(l.split('-').next()?, 16).ok())
            .unwrap();
        let frames = symbolize(&exe, here - base).unwrap();
        assert!(
            frames.iter().any(|f| f.function.as_deref().is_some_and(|n| n.contains("own_functions_symbolize"))),
            "{frames:?}"
        );
        assert!(frames.iter().any(|f| f.file.as_deref().is_some_and(|n| n.ends_with("lib.rs"))), "{frames:?}");
    }
}
