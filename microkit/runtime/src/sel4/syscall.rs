//! seL4 system calls (MCS, aarch64) by inline assembly.
//!
//! Register use: x0 = capability (returns the badge), x1 = message info, x2–x5 =
//! message registers 0–3 (in and out), x6 = reply object, x7 = system call number,
//! x8 = destination of `NBSendRecv`. Message registers 4 and up live in the IPC
//! buffer. Like libmicrokit, every receive stores x2–x5 into the IPC buffer and every
//! send loads them from it, so `get_mr`/`set_mr` only ever touch the IPC buffer.

use core::arch::asm;

use crate::message::MSG_MAX_LENGTH;
use crate::sel4_abi::{IPC_BUFFER, IPC_BUFFER_MSG_OFFSET, sys};

fn msg_ptr(index: usize) -> *mut u64 {
    (IPC_BUFFER + IPC_BUFFER_MSG_OFFSET + 8 * index as u64) as *mut u64
}

/// Reads message register `index` from the IPC buffer (0 past the last one).
pub(crate) fn mr(index: usize) -> u64 {
    if index >= MSG_MAX_LENGTH {
        return 0;
    }
    // SAFETY: the IPC buffer page is mapped read-write in every PD by the Microkit
    // tool; `index` is within its message array.
    unsafe { msg_ptr(index).read_volatile() }
}

/// Writes message register `index` in the IPC buffer (ignored past the last one).
pub(crate) fn set_mr(index: usize, value: u64) {
    if index < MSG_MAX_LENGTH {
        // SAFETY: as in `mr`.
        unsafe { msg_ptr(index).write_volatile(value) }
    }
}

fn load_mrs() -> [u64; 4] {
    [mr(0), mr(1), mr(2), mr(3)]
}

fn store_mrs(mrs: [u64; 4]) {
    for (i, value) in mrs.into_iter().enumerate() {
        set_mr(i, value);
    }
}

/// One system call. Returns x0, x1 and x2–x5.
///
/// # Safety
/// The call must not break the PD's own memory: all of ours only move message
/// words between registers and the IPC buffer, or invoke kernel objects.
#[inline(always)]
unsafe fn syscall(number: i64, x0: u64, x1: u64, mrs: [u64; 4], x6: u64, x8: u64) -> (u64, u64, [u64; 4]) {
    let (mut r0, mut r1) = (x0, x1);
    let [mut m0, mut m1, mut m2, mut m3] = mrs;
    // SAFETY: `svc #0` enters seL4, which only writes x0–x5 (declared) and the IPC
    // buffer (covered by the default memory clobber); the stack is untouched.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") r0,
            inout("x1") r1,
            inout("x2") m0,
            inout("x3") m1,
            inout("x4") m2,
            inout("x5") m3,
            inout("x6") x6 => _,
            inout("x7") number => _,
            inout("x8") x8 => _,
            options(nostack),
        );
    }
    (r0, r1, [m0, m1, m2, m3])
}

/// seL4_Recv on `src` with reply object `reply`: (badge, info).
pub(crate) fn recv(src: u64, reply: u64) -> (u64, u64) {
    // SAFETY: a receive only fills registers and the IPC buffer.
    let (badge, info, mrs) = unsafe { syscall(sys::RECV, src, 0, [0; 4], reply, 0) };
    store_mrs(mrs);
    (badge, info)
}

/// seL4_ReplyRecv: replies with `info` (and the message registers), then receives.
pub(crate) fn reply_recv(src: u64, info: u64, reply: u64) -> (u64, u64) {
    // SAFETY: as in `recv`.
    let (badge, info, mrs) = unsafe { syscall(sys::REPLY_RECV, src, info, load_mrs(), reply, 0) };
    store_mrs(mrs);
    (badge, info)
}

/// seL4_NBSendRecv: sends `info` to `dest` without blocking, then receives on `src`.
pub(crate) fn nb_send_recv(dest: u64, info: u64, src: u64, reply: u64) -> (u64, u64) {
    // SAFETY: as in `recv`.
    let (badge, info, mrs) = unsafe { syscall(sys::NB_SEND_RECV, src, info, load_mrs(), reply, dest) };
    store_mrs(mrs);
    (badge, info)
}

/// seL4_Call with the message registers of the IPC buffer; the reply's message
/// registers are stored back. Returns the reply info.
pub(crate) fn call(dest: u64, info: u64) -> u64 {
    // SAFETY: as in `recv`.
    let (_, info, mrs) = unsafe { syscall(sys::CALL, dest, info, load_mrs(), 0, 0) };
    store_mrs(mrs);
    info
}

/// An object invocation (seL4_Call on a kernel object) with up to four message
/// registers passed in registers only: the IPC buffer's first words are left alone.
/// Returns the reply info (its label is the seL4 error, 0 for success).
pub(crate) fn invoke(cap: u64, info: u64, mrs: [u64; 4]) -> u64 {
    // SAFETY: invocations we make (IRQ ack, TCB suspend/write registers) do not
    // touch this PD's memory beyond the IPC buffer.
    unsafe { syscall(sys::CALL, cap, info, mrs, 0, 0).1 }
}

/// seL4_Signal (a Send with an empty message) on a notification.
pub(crate) fn signal(dest: u64) {
    // SAFETY: a send writes nothing in this PD.
    unsafe { syscall(sys::SEND, dest, 0, [0; 4], 0, 0) };
}

/// seL4_NBSend with `info` and no message registers.
pub(crate) fn nb_send(dest: u64, info: u64) {
    // SAFETY: as in `signal`.
    unsafe { syscall(sys::NB_SEND, dest, info, [0; 4], 0, 0) };
}

/// seL4_DebugPutChar (debug kernels only; a release kernel faults on it, so
/// `debug_write` never calls it in a PD built for one).
pub(crate) fn debug_put_char(c: u8) {
    // SAFETY: prints one character on the kernel console.
    unsafe { syscall(sys::DEBUG_PUT_CHAR, c as u64, 0, [0; 4], 0, 0) };
}
