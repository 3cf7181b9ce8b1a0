//! The host kernel's system-call interface: frames a PD process and the host
//! kernel exchange over the PD's control socket (a `SOCK_SEQPACKET` socket pair,
//! one frame per packet). Every frame from a PD is answered by exactly one frame
//! from the kernel; the kernel sends nothing unasked. Notifications and calls on
//! a PD's own channels do not come here: they go through shared pages (see
//! [`super::pages`]); a `Notify` or `Call` frame is how a PD asks for a channel it
//! has no right to, and ends it with a capability fault.
//!
//! A frame is a sequence of little-endian u64 words: a tag, the tag's arguments,
//! then as many message registers as the message info says. Frames from a PD are
//! untrusted: [`decode_to_kernel`] checks lengths, tags and ids and never panics.

use crate::channel::CHANNEL_LIMIT;
use crate::fault::{Fault, FaultKind};
use crate::inject::InjectKind;
use crate::kernel_error::KernelError;
use crate::message::{MSG_MAX_LENGTH, MessageInfo};

/// File descriptor of the control socket in a PD process.
pub const CONTROL_FD: i32 = 3;
/// File descriptor of the first mapped region's memfd; the others follow in order.
pub const FIRST_MAP_FD: i32 = 4;
/// Environment variable holding the PD's name.
pub const ENV_NAME: &str = "REINCARNATE_PD";
/// Environment variable holding the PD's maps: `vaddr:size:perms` (hex numbers),
/// separated by `;`, in the order of their file descriptors.
pub const ENV_MAPS: &str = "REINCARNATE_MAPS";

/// Largest frame in words: tag, six arguments, message registers.
pub const FRAME_WORDS: usize = 7 + MSG_MAX_LENGTH;
/// Largest frame in bytes.
pub const FRAME_BYTES: usize = FRAME_WORDS * 8;

/// Message registers carried with a frame.
pub type Mrs = [u64; MSG_MAX_LENGTH];

/// A system call from a PD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToKernel {
    /// The process has started (before `init`).
    Hello,
    /// Fetch the next kernel event (its kernel page says one is queued; the
    /// first `Recv` also says `init` is done): answered with `Fault`, `Inject`,
    /// or `Done` if there is none.
    Recv,
    /// Obsolete (replies go through the reply slot): a capability fault.
    ReplyRecv(MessageInfo),
    /// Resume the child whose fault was just handled; answered as `Recv`.
    ResumeRecv,
    /// Signal the other end of a channel (the shared page's slow twin).
    Notify(u8),
    /// Acknowledge an IRQ.
    IrqAck(u8),
    /// Protected procedure call: only ever on a channel the PD may not call
    /// (calls go through the call slot), so a capability fault.
    Call(u8, MessageInfo),
    /// Restart a child with a fresh copy.
    Restart(u8),
    /// Stop a child.
    Stop(u8),
    /// The runtime's own account of the fault that is about to end the process.
    FaultReport(Fault),
    /// Read a device register: physical address, width in bytes (1, 2, 4, 8).
    /// Answered with [`ToPd::MmioValue`]. The PD must map the device's region.
    MmioRead { paddr: u64, width: u8 },
    /// Write a device register; answered with [`ToPd::Done`].
    MmioWrite { paddr: u64, width: u8, value: u64 },
    /// Arm the ARM generic timer model for this deadline (ns on the monotonic
    /// clock), or disarm it (0). Only for the PD holding the timer's IRQ.
    TimerSet(u64),
    /// Make a child fail on purpose.
    Inject(u8, InjectKind),
    /// The runtime's registers and stack at the fault that is about to end the
    /// process (a [`crate::CrashContext`], encoded in the message registers);
    /// sent just before its `FaultReport`.
    CrashContext(MessageInfo),
    /// Read a child's last crash context: answered with [`ToPd::Context`], or
    /// [`ToPd::Failed`] for an id that is not a child.
    ReadContext(u8),
}

/// Something the kernel delivers to a PD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToPd {
    /// Notification badge (bit n = channel n).
    Notified(u64),
    /// A protected procedure call on a channel.
    Protected(u8, MessageInfo),
    /// A child's fault.
    Fault(u8, Fault),
    /// The reply to this PD's protected procedure call.
    Reply(MessageInfo),
    /// Fail on purpose.
    Inject(InjectKind),
    /// The last `Notify`, `IrqAck`, `Restart`, `Stop` or `Inject` is done: like the seL4
    /// system calls they stand for, they complete before the PD goes on. As the
    /// answer to `Recv`: no kernel event is queued.
    Done,
    /// The last `IrqAck`, `Restart`, `Stop` or `Inject` was refused (an id that is
    /// not the PD's child, a channel without an IRQ of it, a child that could not
    /// be started): the PD goes on, as after a seL4 invocation that returns an error.
    Failed(KernelError),
    /// The value of the device register an `MmioRead` asked for.
    MmioValue(u64),
    /// A child's last crash context, encoded in the message registers (none:
    /// no registers).
    Context(MessageInfo),
}

/// Why a frame was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Not a whole number of words, or shorter than its tag needs.
    BadLength(usize),
    /// Unknown tag.
    BadTag(u64),
    /// A channel or child id out of range.
    BadId(u64),
    /// An unknown injection kind.
    BadInject(u64),
    /// A register access width other than 1, 2, 4 or 8.
    BadWidth(u64),
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolError::BadLength(n) => write!(f, "malformed frame of {n} bytes"),
            ProtocolError::BadTag(t) => write!(f, "unknown frame tag {t}"),
            ProtocolError::BadId(id) => write!(f, "channel or child id {id} out of range"),
            ProtocolError::BadInject(k) => write!(f, "unknown injection kind {k}"),
            ProtocolError::BadWidth(w) => write!(f, "register access width {w}"),
        }
    }
}

mod tag {
    pub const HELLO: u64 = 1;
    pub const RECV: u64 = 2;
    pub const REPLY_RECV: u64 = 3;
    pub const RESUME_RECV: u64 = 4;
    pub const NOTIFY: u64 = 5;
    pub const IRQ_ACK: u64 = 6;
    pub const CALL: u64 = 7;
    pub const RESTART: u64 = 8;
    pub const STOP: u64 = 9;
    pub const FAULT_REPORT: u64 = 10;
    // Device registers (virtio-mmio models): numbered apart from the rest.
    pub const MMIO_READ: u64 = 30;
    pub const MMIO_WRITE: u64 = 31;
    pub const TIMER_SET: u64 = 20;
    pub const INJECT_CHILD: u64 = 11;
    pub const CRASH_CONTEXT: u64 = 12;
    pub const READ_CONTEXT: u64 = 13;

    pub const NOTIFIED: u64 = 101;
    pub const PROTECTED: u64 = 102;
    pub const FAULT: u64 = 103;
    pub const REPLY: u64 = 104;
    pub const INJECT: u64 = 105;
    pub const DONE: u64 = 106;
    pub const FAILED: u64 = 107;
    pub const MMIO_VALUE: u64 = 120;
    pub const CONTEXT: u64 = 108;
}

struct Writer<'a> {
    out: &'a mut [u8; FRAME_BYTES],
    len: usize,
}

impl Writer<'_> {
    fn word(&mut self, w: u64) {
        self.out[self.len..self.len + 8].copy_from_slice(&w.to_le_bytes());
        self.len += 8;
    }
    fn mrs(&mut self, info: MessageInfo, mrs: &Mrs) {
        for &w in &mrs[..info.count()] {
            self.word(w);
        }
    }
    fn fault(&mut self, f: &Fault) {
        self.word(f.kind.code());
        self.word(f.code);
        self.word(f.addr.is_some() as u64 | (f.pc.is_some() as u64) << 1);
        self.word(f.addr.unwrap_or(0));
        self.word(f.pc.unwrap_or(0));
    }
}

struct Reader<'a> {
    words: &'a [u8],
}

impl Reader<'_> {
    fn word(&mut self) -> Result<u64, ProtocolError> {
        let (head, rest) = self.words.split_first_chunk::<8>().ok_or(ProtocolError::BadLength(self.words.len()))?;
        self.words = rest;
        Ok(u64::from_le_bytes(*head))
    }
    fn id(&mut self) -> Result<u8, ProtocolError> {
        let id = self.word()?;
        if id < CHANNEL_LIMIT as u64 { Ok(id as u8) } else { Err(ProtocolError::BadId(id)) }
    }
    fn inject_kind(&mut self) -> Result<InjectKind, ProtocolError> {
        let code = self.word()?;
        InjectKind::from_code(code).ok_or(ProtocolError::BadInject(code))
    }
    fn info_and_mrs(&mut self, mrs: &mut Mrs) -> Result<MessageInfo, ProtocolError> {
        let info = MessageInfo::from_word(self.word()?);
        for slot in &mut mrs[..info.count()] {
            *slot = self.word()?;
        }
        Ok(info)
    }
    fn fault(&mut self) -> Result<Fault, ProtocolError> {
        let kind = FaultKind::from_code(self.word()?);
        let code = self.word()?;
        let flags = self.word()?;
        let addr = self.word()?;
        let pc = self.word()?;
        Ok(Fault { kind, code, addr: (flags & 1 != 0).then_some(addr), pc: (flags & 2 != 0).then_some(pc) })
    }
    fn width(&mut self) -> Result<u8, ProtocolError> {
        match self.word()? {
            w @ (1 | 2 | 4 | 8) => Ok(w as u8),
            other => Err(ProtocolError::BadWidth(other)),
        }
    }
    fn end(self, total: usize) -> Result<(), ProtocolError> {
        if self.words.is_empty() { Ok(()) } else { Err(ProtocolError::BadLength(total)) }
    }
}

/// Encodes a system call; returns the frame length in bytes.
pub fn encode_to_kernel(msg: &ToKernel, mrs: &Mrs, out: &mut [u8; FRAME_BYTES]) -> usize {
    let mut w = Writer { out, len: 0 };
    match *msg {
        ToKernel::Hello => w.word(tag::HELLO),
        ToKernel::Recv => w.word(tag::RECV),
        ToKernel::ReplyRecv(info) => {
            w.word(tag::REPLY_RECV);
            w.word(info.to_word());
            w.mrs(info, mrs);
        }
        ToKernel::ResumeRecv => w.word(tag::RESUME_RECV),
        ToKernel::Notify(ch) => {
            w.word(tag::NOTIFY);
            w.word(ch as u64);
        }
        ToKernel::IrqAck(ch) => {
            w.word(tag::IRQ_ACK);
            w.word(ch as u64);
        }
        ToKernel::Call(ch, info) => {
            w.word(tag::CALL);
            w.word(ch as u64);
            w.word(info.to_word());
            w.mrs(info, mrs);
        }
        ToKernel::Restart(child) => {
            w.word(tag::RESTART);
            w.word(child as u64);
        }
        ToKernel::Stop(child) => {
            w.word(tag::STOP);
            w.word(child as u64);
        }
        ToKernel::FaultReport(ref f) => {
            w.word(tag::FAULT_REPORT);
            w.fault(f);
        }
        ToKernel::MmioRead { paddr, width } => {
            w.word(tag::MMIO_READ);
            w.word(paddr);
            w.word(width as u64);
        }
        ToKernel::MmioWrite { paddr, width, value } => {
            w.word(tag::MMIO_WRITE);
            w.word(paddr);
            w.word(width as u64);
            w.word(value);
        }
        ToKernel::TimerSet(deadline) => {
            w.word(tag::TIMER_SET);
            w.word(deadline);
        }
        ToKernel::Inject(child, kind) => {
            w.word(tag::INJECT_CHILD);
            w.word(child as u64);
            w.word(kind.code());
        }
        ToKernel::CrashContext(info) => {
            w.word(tag::CRASH_CONTEXT);
            w.word(info.to_word());
            w.mrs(info, mrs);
        }
        ToKernel::ReadContext(child) => {
            w.word(tag::READ_CONTEXT);
            w.word(child as u64);
        }
    }
    w.len
}

/// Decodes a system call from an untrusted PD; message registers go to `mrs`.
pub fn decode_to_kernel(frame: &[u8], mrs: &mut Mrs) -> Result<ToKernel, ProtocolError> {
    if !frame.len().is_multiple_of(8) {
        return Err(ProtocolError::BadLength(frame.len()));
    }
    let mut r = Reader { words: frame };
    let msg = match r.word()? {
        tag::HELLO => ToKernel::Hello,
        tag::RECV => ToKernel::Recv,
        tag::REPLY_RECV => ToKernel::ReplyRecv(r.info_and_mrs(mrs)?),
        tag::RESUME_RECV => ToKernel::ResumeRecv,
        tag::NOTIFY => ToKernel::Notify(r.id()?),
        tag::IRQ_ACK => ToKernel::IrqAck(r.id()?),
        tag::CALL => {
            let ch = r.id()?;
            ToKernel::Call(ch, r.info_and_mrs(mrs)?)
        }
        tag::RESTART => ToKernel::Restart(r.id()?),
        tag::STOP => ToKernel::Stop(r.id()?),
        tag::FAULT_REPORT => ToKernel::FaultReport(r.fault()?),
        tag::MMIO_READ => {
            let paddr = r.word()?;
            ToKernel::MmioRead { paddr, width: r.width()? }
        }
        tag::MMIO_WRITE => {
            let paddr = r.word()?;
            let width = r.width()?;
            ToKernel::MmioWrite { paddr, width, value: r.word()? }
        }
        tag::TIMER_SET => ToKernel::TimerSet(r.word()?),
        tag::INJECT_CHILD => {
            let child = r.id()?;
            ToKernel::Inject(child, r.inject_kind()?)
        }
        tag::CRASH_CONTEXT => ToKernel::CrashContext(r.info_and_mrs(mrs)?),
        tag::READ_CONTEXT => ToKernel::ReadContext(r.id()?),
        other => return Err(ProtocolError::BadTag(other)),
    };
    r.end(frame.len())?;
    Ok(msg)
}

/// Encodes an event for a PD; returns the frame length in bytes.
pub fn encode_to_pd(msg: &ToPd, mrs: &Mrs, out: &mut [u8; FRAME_BYTES]) -> usize {
    let mut w = Writer { out, len: 0 };
    match *msg {
        ToPd::Notified(badge) => {
            w.word(tag::NOTIFIED);
            w.word(badge);
        }
        ToPd::Protected(ch, info) => {
            w.word(tag::PROTECTED);
            w.word(ch as u64);
            w.word(info.to_word());
            w.mrs(info, mrs);
        }
        ToPd::Fault(child, ref f) => {
            w.word(tag::FAULT);
            w.word(child as u64);
            w.fault(f);
        }
        ToPd::Reply(info) => {
            w.word(tag::REPLY);
            w.word(info.to_word());
            w.mrs(info, mrs);
        }
        ToPd::Inject(kind) => {
            w.word(tag::INJECT);
            w.word(kind.code());
        }
        ToPd::Done => w.word(tag::DONE),
        ToPd::Failed(e) => {
            w.word(tag::FAILED);
            w.word(e.code());
        }
        ToPd::MmioValue(v) => {
            w.word(tag::MMIO_VALUE);
            w.word(v);
        }
        ToPd::Context(info) => {
            w.word(tag::CONTEXT);
            w.word(info.to_word());
            w.mrs(info, mrs);
        }
    }
    w.len
}

/// Decodes an event from the kernel; message registers go to `mrs`.
pub fn decode_to_pd(frame: &[u8], mrs: &mut Mrs) -> Result<ToPd, ProtocolError> {
    if !frame.len().is_multiple_of(8) {
        return Err(ProtocolError::BadLength(frame.len()));
    }
    let mut r = Reader { words: frame };
    let msg = match r.word()? {
        tag::NOTIFIED => ToPd::Notified(r.word()?),
        tag::PROTECTED => {
            let ch = r.id()?;
            ToPd::Protected(ch, r.info_and_mrs(mrs)?)
        }
        tag::FAULT => {
            let child = r.id()?;
            ToPd::Fault(child, r.fault()?)
        }
        tag::REPLY => ToPd::Reply(r.info_and_mrs(mrs)?),
        tag::INJECT => ToPd::Inject(r.inject_kind()?),
        tag::DONE => ToPd::Done,
        tag::FAILED => ToPd::Failed(KernelError::from_code(r.word()?)),
        tag::MMIO_VALUE => ToPd::MmioValue(r.word()?),
        tag::CONTEXT => ToPd::Context(r.info_and_mrs(mrs)?),
        other => return Err(ProtocolError::BadTag(other)),
    };
    r.end(frame.len())?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_kernel(msg: ToKernel, mrs: &Mrs) -> (ToKernel, Mrs) {
        let mut buf = [0u8; FRAME_BYTES];
        let n = encode_to_kernel(&msg, mrs, &mut buf);
        let mut got = [0u64; MSG_MAX_LENGTH];
        (decode_to_kernel(&buf[..n], &mut got).unwrap(), got)
    }

    #[test]
    fn every_system_call_round_trips() {
        let mut mrs = [0u64; MSG_MAX_LENGTH];
        mrs[0] = 7;
        mrs[119] = 9;
        let fault = Fault { kind: FaultKind::VmFault, code: 11, addr: Some(0x10), pc: None };
        for msg in [
            ToKernel::Hello,
            ToKernel::Recv,
            ToKernel::ResumeRecv,
            ToKernel::Notify(61),
            ToKernel::IrqAck(3),
            ToKernel::Restart(0),
            ToKernel::Stop(5),
            ToKernel::FaultReport(fault),
            ToKernel::TimerSet(123_456_789),
            ToKernel::ReplyRecv(MessageInfo::new(5, 1)),
            ToKernel::MmioRead { paddr: 0xa00_0070, width: 4 },
            ToKernel::MmioWrite { paddr: 0xa00_0050, width: 2, value: 0xffff },
            ToKernel::Inject(0, InjectKind::Crash),
            ToKernel::Inject(61, InjectKind::Exit),
            ToKernel::ReadContext(4),
        ] {
            assert_eq!(round_trip_kernel(msg, &mrs).0, msg);
        }
        let (msg, got) = round_trip_kernel(ToKernel::Call(2, MessageInfo::new(1, 120)), &mrs);
        assert_eq!(msg, ToKernel::Call(2, MessageInfo::new(1, 120)));
        assert_eq!(got, mrs);
        let (msg, got) = round_trip_kernel(ToKernel::CrashContext(MessageInfo::new(0, 120)), &mrs);
        assert_eq!(msg, ToKernel::CrashContext(MessageInfo::new(0, 120)));
        assert_eq!(got, mrs);
    }

    #[test]
    fn every_event_round_trips() {
        let mut mrs = [0u64; MSG_MAX_LENGTH];
        mrs[1] = 0xabc;
        let fault = Fault { kind: FaultKind::Panic, code: 0, addr: None, pc: Some(0x4000) };
        for msg in [
            ToPd::Notified(1 << 61 | 1),
            ToPd::Protected(4, MessageInfo::new(9, 2)),
            ToPd::Fault(1, fault),
            ToPd::Reply(MessageInfo::new(0, 0)),
            ToPd::Inject(InjectKind::Hang),
            ToPd::Done,
            ToPd::Failed(KernelError::NotAChild),
            ToPd::Failed(KernelError::StartFailed),
            ToPd::Failed(KernelError::Unknown(999)),
            ToPd::MmioValue(0x7472_6976),
            ToPd::Context(MessageInfo::new(0, 3)),
        ] {
            let mut buf = [0u8; FRAME_BYTES];
            let n = encode_to_pd(&msg, &mrs, &mut buf);
            let mut got = [0u64; MSG_MAX_LENGTH];
            assert_eq!(decode_to_pd(&buf[..n], &mut got), Ok(msg));
        }
    }

    #[test]
    fn malformed_frames_are_rejected() {
        let mut mrs = [0u64; MSG_MAX_LENGTH];
        let words = |ws: &[u64]| ws.iter().flat_map(|w| w.to_le_bytes()).collect::<std::vec::Vec<u8>>();
        assert_eq!(decode_to_kernel(&[], &mut mrs), Err(ProtocolError::BadLength(0)));
        assert_eq!(decode_to_kernel(&[1, 2, 3], &mut mrs), Err(ProtocolError::BadLength(3)));
        assert_eq!(decode_to_kernel(&words(&[99]), &mut mrs), Err(ProtocolError::BadTag(99)));
        assert_eq!(decode_to_kernel(&words(&[tag::NOTIFY, 62]), &mut mrs), Err(ProtocolError::BadId(62)));
        assert_eq!(decode_to_kernel(&words(&[tag::NOTIFY]), &mut mrs), Err(ProtocolError::BadLength(0)));
        assert_eq!(decode_to_kernel(&words(&[tag::HELLO, 0]), &mut mrs), Err(ProtocolError::BadLength(16)));
        // A call that claims three message registers but carries one.
        assert!(decode_to_kernel(&words(&[tag::CALL, 1, 3, 5]), &mut mrs).is_err());
        assert_eq!(decode_to_pd(&words(&[tag::INJECT, 0]), &mut mrs), Err(ProtocolError::BadInject(0)));
        assert_eq!(
            decode_to_kernel(&words(&[tag::MMIO_READ, 0xa00_0000, 3]), &mut mrs),
            Err(ProtocolError::BadWidth(3))
        );
        assert!(decode_to_kernel(&words(&[tag::MMIO_WRITE, 0xa00_0000, 4]), &mut mrs).is_err());
        // A child injection: id in range, a known kind, nothing more.
        assert_eq!(
            decode_to_kernel(&words(&[tag::INJECT_CHILD, 2, 2]), &mut mrs),
            Ok(ToKernel::Inject(2, InjectKind::Panic))
        );
        assert_eq!(decode_to_kernel(&words(&[tag::INJECT_CHILD, 62, 1]), &mut mrs), Err(ProtocolError::BadId(62)));
        assert_eq!(decode_to_kernel(&words(&[tag::INJECT_CHILD, 1, 5]), &mut mrs), Err(ProtocolError::BadInject(5)));
        assert_eq!(decode_to_kernel(&words(&[tag::INJECT_CHILD, 1]), &mut mrs), Err(ProtocolError::BadLength(0)));
        assert_eq!(
            decode_to_kernel(&words(&[tag::INJECT_CHILD, 1, 1, 0]), &mut mrs),
            Err(ProtocolError::BadLength(32))
        );
    }
}
