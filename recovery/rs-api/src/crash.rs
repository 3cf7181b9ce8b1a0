//! Crash records ([`crate::CRASH`]) and their `@crash` console line.

use core::fmt;

use microkit::{CONTEXT_WORDS, CrashContext, Fault, FaultKind, RegisterLayout, STACK_BYTES};

use crate::status::{decode_fault, encode_fault};

/// Crash records RS keeps per component.
pub const CRASH_RECORDS: usize = 4;

/// What RS recorded at one fault of a component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashRecord {
    /// The generation that faulted.
    pub generation: u64,
    /// When (RS's clock, ns).
    pub at_ns: u64,
    pub fault: Fault,
    /// Registers (and on the host kernel stack), if the kernel had them.
    pub context: Option<CrashContext>,
}

const FIXED_WORDS: usize = 8;
/// Most registers a record takes.
pub(crate) const CRASH_WORDS_MAX: usize = FIXED_WORDS + CONTEXT_WORDS;
const _: () = assert!(CRASH_WORDS_MAX <= microkit::MSG_MAX_LENGTH);

impl CrashRecord {
    /// Writes the record; returns the registers used (0 if `out` is too short).
    pub fn encode(&self, out: &mut [u64]) -> usize {
        if out.len() < CRASH_WORDS_MAX {
            return 0;
        }
        out[0] = self.generation;
        out[1] = self.at_ns;
        encode_fault(Some(self.fault), &mut out[2..7]);
        match &self.context {
            None => {
                out[7] = 0;
                FIXED_WORDS
            }
            Some(ctx) => {
                out[7] = 1;
                FIXED_WORDS + ctx.encode(&mut out[FIXED_WORDS..])
            }
        }
    }

    /// Reads a record from RS's reply; `None` if it is not one.
    pub fn decode(words: &[u64]) -> Option<Self> {
        let fixed = words.get(..FIXED_WORDS)?;
        let fault = decode_fault(&fixed[2..7])??;
        let context = match fixed[7] {
            0 if words.len() == FIXED_WORDS => None,
            1 => {
                let ctx = CrashContext::decode(&words[FIXED_WORDS..])?;
                let mut check = [0u64; CONTEXT_WORDS];
                if FIXED_WORDS + ctx.encode(&mut check) != words.len() {
                    return None;
                }
                Some(ctx)
            }
            _ => return None,
        };
        Some(CrashRecord { generation: fixed[0], at_ns: fixed[1], fault, context })
    }

    /// The `@crash` line RS prints for component `pd` (one line):
    ///
    /// `@crash pd=NAME generation=N time=NS fault=KIND code=N[ addr=0x..][ pc=0x..]`
    /// and, with a context, ` layout=L base=0x.. sp=0x.. regs=0x..,0x..,...`
    /// and, with stack bytes, ` stack=0xADDR:HEXBYTES`.
    pub fn line<'a>(&'a self, pd: &'a str) -> impl fmt::Display + 'a {
        Line { pd, record: self }
    }

    /// Parses an `@crash` line (anything before `@crash` is ignored): the PD
    /// name and the record; `None` if the line is not one.
    pub fn parse(line: &str) -> Option<(&str, CrashRecord)> {
        let rest = &line[line.find("@crash ")? + "@crash ".len()..];
        let (mut pd, mut generation, mut at, mut kind, mut code) = (None, None, None, None, 0);
        let (mut addr, mut pc, mut layout, mut base, mut sp) = (None, None, None, 0, 0);
        let mut regs = ([0u64; microkit::MAX_REGISTERS], 0usize);
        let mut stack = None;
        for field in rest.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "pd" => pd = Some(value),
                "generation" => generation = Some(value.parse().ok()?),
                "time" => at = Some(value.parse().ok()?),
                "fault" => kind = Some(FaultKind::from_name(value)?),
                "code" => code = value.parse().ok()?,
                "addr" => addr = Some(hex(value)?),
                "pc" => pc = Some(hex(value)?),
                "layout" => {
                    layout = Some(
                        [RegisterLayout::X86_64Linux, RegisterLayout::Aarch64Linux, RegisterLayout::Aarch64Sel4]
                            .into_iter()
                            .find(|l| l.name() == value)?,
                    )
                }
                "base" => base = hex(value)?,
                "sp" => sp = hex(value)?,
                "regs" => {
                    for r in value.split(',') {
                        *regs.0.get_mut(regs.1)? = hex(r)?;
                        regs.1 += 1;
                    }
                }
                "stack" => stack = Some(value),
                _ => {}
            }
        }
        let fault = Fault { kind: kind?, code, addr, pc };
        let context = match layout {
            None => None,
            Some(layout) => {
                let mut ctx = CrashContext::new(layout, base, pc.unwrap_or(0), sp, &regs.0[..regs.1]);
                if let Some(stack) = stack {
                    let (at, bytes) = stack.split_once(':')?;
                    ctx.stack_base = hex(at)?;
                    if bytes.len() % 2 != 0 || bytes.len() / 2 > STACK_BYTES {
                        return None;
                    }
                    for (i, pair) in bytes.as_bytes().chunks(2).enumerate() {
                        ctx.stack[i] = u8::from_str_radix(core::str::from_utf8(pair).ok()?, 16).ok()?;
                    }
                    ctx.stack_len = bytes.len() / 2;
                }
                Some(ctx)
            }
        };
        Some((pd?, CrashRecord { generation: generation?, at_ns: at?, fault, context }))
    }
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

struct Line<'a> {
    pd: &'a str,
    record: &'a CrashRecord,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.record;
        write!(
            f,
            "@crash pd={} generation={} time={} fault={} code={}",
            self.pd,
            r.generation,
            r.at_ns,
            r.fault.kind.name(),
            r.fault.code
        )?;
        if let Some(a) = r.fault.addr {
            write!(f, " addr={a:#x}")?;
        }
        if let Some(pc) = r.fault.pc {
            write!(f, " pc={pc:#x}")?;
        }
        if let Some(ctx) = &r.context {
            write!(f, " layout={} base={:#x} sp={:#x} regs=", ctx.layout.name(), ctx.load_base, ctx.sp)?;
            for (i, (_, v)) in ctx.named_registers().enumerate() {
                write!(f, "{}{v:#x}", if i == 0 { "" } else { "," })?;
            }
            if ctx.stack_len != 0 {
                write!(f, " stack={:#x}:", ctx.stack_base)?;
                for b in ctx.stack() {
                    write!(f, "{b:02x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    fn record() -> CrashRecord {
        let mut ctx = CrashContext::new(RegisterLayout::X86_64Linux, 0x5500_0000, 0x5500_1234, 0x7ff0, &[1, 2, 0xff]);
        ctx.stack_base = 0x7fb0;
        ctx.stack_len = 5;
        ctx.stack[..5].copy_from_slice(&[0, 1, 0xab, 3, 4]);
        CrashRecord {
            generation: 2,
            at_ns: 99,
            fault: Fault { kind: FaultKind::VmFault, code: 11, addr: Some(0x10), pc: Some(0x5500_1234) },
            context: Some(ctx),
        }
    }

    #[test]
    fn records_round_trip() {
        let mut out = [0; CRASH_WORDS_MAX];
        for r in [record(), CrashRecord { context: None, ..record() }] {
            let n = r.encode(&mut out);
            assert_eq!(CrashRecord::decode(&out[..n]), Some(r));
            assert_eq!(CrashRecord::decode(&out[..n - 1]), None);
        }
    }

    #[test]
    fn lines_round_trip() {
        let r = record();
        let line = format!("[rs] {}", r.line("virtio_net"));
        assert!(line.starts_with("[rs] @crash pd=virtio_net generation=2 time=99 fault=vm-fault code=11 addr=0x10 pc=0x55001234 layout=x86_64-linux base=0x55000000 sp=0x7ff0 regs=0x1,0x2,0xff stack=0x7fb0:0001ab0304"), "{line}");
        assert_eq!(CrashRecord::parse(&line), Some(("virtio_net", r)));
        let bare = CrashRecord { context: None, fault: Fault::new(FaultKind::Panic), ..r };
        let line = format!("{}", bare.line("pong"));
        assert_eq!(line, "@crash pd=pong generation=2 time=99 fault=panic code=0");
        assert_eq!(CrashRecord::parse(&line), Some(("pong", bare)));
        assert_eq!(CrashRecord::parse("@crash pd=x"), None);
        assert_eq!(CrashRecord::parse("@status pd=x"), None);
    }
}
