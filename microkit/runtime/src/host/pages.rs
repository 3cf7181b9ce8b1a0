//! The shared pages of the host kernel's fast IPC path: their layout and how the
//! host kernel hands them to a PD process. Both sides (the kernel in
//! `host-kernel`, the PD in [`super::ipc`]) use these constants; nothing else
//! knows the offsets.
//!
//! Every page is one memfd of [`PAGE_BYTES`] that lives as long as the system,
//! so a restarted PD finds it as its previous instance left it. A PD maps:
//!
//! - its **kernel page** (read-only; written by the kernel only): a doorbell,
//!   counters of kernel events (faults, injections), one counter per channel for
//!   the IRQs and timer ticks the kernel signals, and the set of channels whose
//!   peer is gone for good;
//! - its **own page** (writable by it alone): how many kernel signals of each
//!   channel it has consumed;
//! - for each channel, **its end page** (writable by it alone, read-only in the
//!   peer): everything this end says on that channel — its doorbell, how many
//!   notifications it sent, its call slot (sequence, nonce, arrival stamp,
//!   message info, message registers), and as the receiver of the peer: how many
//!   of the peer's notifications it consumed, which call it took, and its reply
//!   slot;
//! - for each channel, **the peer's end page**, read-only.
//!
//! So memory a PD can write only ever speaks for its own end of its own
//! channels: no write can make another channel's badge appear or complete a call
//! on another channel. The kernel writes a PD's end page only while that PD has
//! no process (to answer `PEER_FAULTED` for it, or to withdraw its call).
//!
//! A doorbell is a 32-bit futex word in the low half of word 0 (`BELL`) of a page.
//! Whoever publishes something on a page increments that page's bell and wakes
//! it; a PD waits on every bell that can announce something for it at once
//! (`futex_waitv`). A bell only wakes: the waiter then reads the counters, so a
//! forged ring proves nothing, and no PD can ring (or swallow a ring on) another
//! PD's page.

use std::string::String;
use std::vec::Vec;

use crate::message::MSG_MAX_LENGTH;

/// Size of every shared page.
pub const PAGE_BYTES: usize = 4096;
/// Size of every shared page in 64-bit words.
pub const PAGE_WORDS: usize = PAGE_BYTES / 8;
/// Environment variable listing the PD's shared pages (see [`parse`]).
pub const ENV_IPC: &str = "REINCARNATE_IPC";

/// Word indices in a channel end's page.
pub mod end {
    use super::MSG_MAX_LENGTH;
    /// Doorbell (32-bit futex word in the low half).
    pub const BELL: usize = 0;
    /// Notifications this end has sent (the peer's badge bit is set while its
    /// [`SEEN`] differs).
    pub const SIGNALS: usize = 1;
    /// Sequence number of this end's latest call (0: none yet).
    pub const CALL_SEQ: usize = 2;
    /// The latest call's nonce, which the reply must echo.
    pub const CALL_NONCE: usize = 3;
    /// When the latest call was made (ns, monotonic clock): calls are served in
    /// arrival order.
    pub const CALL_STAMP: usize = 4;
    /// The latest call's message info word.
    pub const CALL_INFO: usize = 5;
    /// A call the caller (or the kernel, once the caller died) gave up on: the
    /// callee must not serve it.
    pub const WITHDRAWN: usize = 6;
    /// The peer's [`SIGNALS`] as this end last consumed them.
    pub const SEEN: usize = 7;
    /// Sequence number of the peer's call this end took to serve.
    pub const TAKEN: usize = 8;
    /// Sequence number of the peer's call this end (or the kernel) answered.
    pub const REPLY_SEQ: usize = 9;
    /// The answered call's nonce.
    pub const REPLY_NONCE: usize = 10;
    /// The reply's message info word.
    pub const REPLY_INFO: usize = 11;
    /// The call's message registers.
    pub const CALL_MRS: usize = 16;
    /// The reply's message registers.
    pub const REPLY_MRS: usize = CALL_MRS + MSG_MAX_LENGTH;
}

/// Word indices in a PD's kernel page.
pub mod kernel {
    /// Doorbell (32-bit futex word in the low half).
    pub const BELL: usize = 0;
    /// Kernel events queued for the PD so far (faults of children, injected
    /// failures): when it changes, the PD fetches them over its control socket.
    pub const EVENTS: usize = 1;
    /// Injected failures queued so far (fetched before notifications).
    pub const INJECTS: usize = 2;
    /// Bit n: the peer of channel n is gone for good (stopped, or down with no
    /// parent): a call on it fails at once.
    pub const PEER_DOWN: usize = 3;
    /// Kernel signals (IRQs, timer) so far, all channels together.
    pub const SIGNALS: usize = 4;
    /// Kernel signals so far, one counter per channel id.
    pub const CHANNEL_SIGNALS: usize = 8;
}

/// Word indices in a PD's own page.
pub mod own {
    /// The kernel page's `SIGNALS` as last consumed.
    pub const SIGNALS_SEEN: usize = 0;
    /// The kernel page's per-channel counters as last consumed.
    pub const CHANNEL_SIGNALS_SEEN: usize = 8;
}

// Every layout fits its page (checked at build time).
const _: () = assert!(end::REPLY_MRS + MSG_MAX_LENGTH <= PAGE_WORDS);
const _: () = assert!(kernel::CHANNEL_SIGNALS + crate::channel::CHANNEL_LIMIT as usize <= PAGE_WORDS);
const _: () = assert!(own::CHANNEL_SIGNALS_SEEN + crate::channel::CHANNEL_LIMIT as usize <= PAGE_WORDS);

/// What one end of a channel may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rights {
    pub notify: bool,
    pub call: bool,
}

impl Rights {
    fn text(self) -> &'static str {
        match (self.notify, self.call) {
            (false, false) => "-",
            (true, false) => "n",
            (false, true) => "p",
            (true, true) => "np",
        }
    }

    fn parse(text: &str) -> Option<Rights> {
        match text {
            "-" => Some(Rights::default()),
            "n" => Some(Rights { notify: true, call: false }),
            "p" => Some(Rights { notify: false, call: true }),
            "np" => Some(Rights { notify: true, call: true }),
            _ => None,
        }
    }
}

/// One channel of a PD, as handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The channel id at this end.
    pub ch: u8,
    /// Descriptor of this end's page (read-write).
    pub mine_fd: i32,
    /// Descriptor of the peer's end page (read-only).
    pub theirs_fd: i32,
    /// What this end may do.
    pub mine: Rights,
    /// What the peer may do.
    pub theirs: Rights,
}

/// Every shared page of a PD, as handed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// Descriptor of the kernel page (read-only).
    pub kernel_fd: i32,
    /// Descriptor of the own page (read-write).
    pub own_fd: i32,
    pub links: Vec<Link>,
}

/// Renders `handover` as the value of [`ENV_IPC`]:
/// `k:FD;o:FD;c:CH:MINE_FD:THEIRS_FD:MINE_RIGHTS:THEIR_RIGHTS;...` (decimal;
/// rights `-`, `n`, `p` or `np`).
pub fn render(handover: &Handover) -> String {
    let mut out = std::format!("k:{};o:{}", handover.kernel_fd, handover.own_fd);
    for l in &handover.links {
        out.push_str(&std::format!(";c:{}:{}:{}:{}:{}", l.ch, l.mine_fd, l.theirs_fd, l.mine.text(), l.theirs.text()));
    }
    out
}

/// Parses the value of [`ENV_IPC`]; the bad entry on error.
pub fn parse(text: &str) -> Result<Handover, String> {
    let mut kernel_fd = None;
    let mut own_fd = None;
    let mut links = Vec::new();
    for entry in text.split(';').filter(|s| !s.is_empty()) {
        let parts: Vec<&str> = entry.split(':').collect();
        let fd = |s: &str| s.parse::<i32>().ok().filter(|&fd| fd >= 0);
        let bad = || String::from(entry);
        match parts.as_slice() {
            ["k", f] => kernel_fd = Some(fd(f).ok_or_else(bad)?),
            ["o", f] => own_fd = Some(fd(f).ok_or_else(bad)?),
            ["c", ch, m, t, mr, tr] => {
                let ch = ch.parse::<u8>().ok().filter(|&c| c < crate::channel::CHANNEL_LIMIT).ok_or_else(bad)?;
                links.push(Link {
                    ch,
                    mine_fd: fd(m).ok_or_else(bad)?,
                    theirs_fd: fd(t).ok_or_else(bad)?,
                    mine: Rights::parse(mr).ok_or_else(bad)?,
                    theirs: Rights::parse(tr).ok_or_else(bad)?,
                });
            }
            _ => return Err(bad()),
        }
    }
    match (kernel_fd, own_fd) {
        (Some(kernel_fd), Some(own_fd)) => Ok(Handover { kernel_fd, own_fd, links }),
        _ => Err(String::from("no kernel or own page")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handovers_round_trip() {
        let h = Handover {
            kernel_fd: 7,
            own_fd: 8,
            links: std::vec![
                Link {
                    ch: 3,
                    mine_fd: 9,
                    theirs_fd: 10,
                    mine: Rights { notify: true, call: true },
                    theirs: Rights { notify: true, call: false }
                },
                Link { ch: 61, mine_fd: 11, theirs_fd: 12, mine: Rights::default(), theirs: Rights::default() },
            ],
        };
        assert_eq!(parse(&render(&h)), Ok(h));
    }

    #[test]
    fn bad_handovers_are_rejected() {
        assert!(parse("").is_err());
        assert!(parse("k:1").is_err());
        assert!(parse("k:1;o:2;c:62:3:4:n:n").is_err());
        assert!(parse("k:1;o:2;c:1:3:4:x:n").is_err());
        assert!(parse("k:1;o:2;c:1:3:-4:n:n").is_err());
        assert!(parse("k:1;o:2;q:1").is_err());
    }
}
