//! The PD side of the fast IPC path: notifications and protected procedure calls
//! straight through shared pages (see [`super::pages`]), with no kernel thread in
//! between. A notification is one counter increment and a futex wake; a call is a
//! slot write, a wake, and a wait for the callee's reply slot.
//!
//! The checks seL4 makes stay where the data is:
//! - this PD writes only its own end pages, so it speaks only for its channels;
//!   a channel it may not notify or call has no fast path here: such a request
//!   goes to the kernel, which ends the PD with a capability fault, as before;
//! - a notification counts only if the peer may notify ([`Rights`] come from the
//!   kernel, not the peer), and a call is served only if the peer may call;
//! - a reply is accepted only from the callee's end page of the called channel,
//!   for the sequence number of this call, echoing its nonce (a keyed hash the
//!   callee cannot predict before it has read the call);
//! - the callee copies the request out of the caller's page before it uses it;
//! - the kernel completes a call whose callee died with `PEER_FAULTED`, and
//!   withdraws a dead caller's call; a reply to a dead caller lands in a slot
//!   nobody waits on.
//!
//! Waiting: a PD sleeps in `futex_waitv` on all its doorbells at once. It does
//! not spin first: with every PD of a busy system spinning on two CPUs,
//! heartbeats went unanswered and RS restarted healthy PDs as hung.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::hash::{BuildHasher, RandomState};
use std::vec::Vec;

use super::pages::{self, Handover, PAGE_BYTES, PAGE_WORDS, Rights, end, kernel, own};
use crate::channel::CHANNEL_LIMIT;
use crate::message::{MSG_MAX_LENGTH, MessageInfo};

/// A mapped shared page.
#[derive(Clone, Copy)]
struct Page(&'static [AtomicU64; PAGE_WORDS]);

impl Page {
    fn get(self, word: usize) -> u64 {
        self.0[word].load(Ordering::Acquire)
    }

    fn set(self, word: usize, value: u64) {
        self.0[word].store(value, Ordering::Release)
    }

    fn bell(self) -> &'static AtomicU32 {
        // SAFETY: word 0 is 8-aligned and lives as long as the mapping (forever);
        // its low 4 bytes are only ever accessed as this u32 (the futex word).
        unsafe { &*(&self.0[0] as *const AtomicU64).cast::<AtomicU32>() }
    }

    /// Announces what was just written on this page.
    fn ring(self) {
        self.bell().fetch_add(1, Ordering::SeqCst);
        futex_wake(self.bell());
    }
}

struct Link {
    ch: u8,
    mine: Page,
    theirs: Page,
    rights: Rights,
    their_rights: Rights,
}

/// The call being served: the caller's link and its sequence number and nonce.
#[derive(Clone, Copy)]
struct Serving {
    link: usize,
    seq: u64,
    nonce: u64,
}

pub(crate) struct Ipc {
    kernel: Page,
    own: Page,
    links: Vec<Link>,
    /// Channel id → index in `links`.
    by_ch: [Option<u8>; CHANNEL_LIMIT as usize],
    nonce_key: RandomState,
    /// Kernel page counters as last fetched (`u64::MAX`: never, so the first
    /// wait asks the kernel, which marks the PD ready).
    events_seen: AtomicU64,
    injects_seen: AtomicU64,
    serving: core::cell::Cell<Option<Serving>>,
}

// SAFETY: a PD runs its handler on one thread; `Ipc` is only used from it (the
// signal handler uses the control socket, never `Ipc`).
unsafe impl Sync for Ipc {}

/// What the wait found.
pub(crate) enum Found {
    /// The kernel has an event queued: fetch it.
    Kernel,
    /// Notifications (badge bits).
    Notified(u64),
    /// A call on this channel; its registers are in `mrs`.
    Call(u8, MessageInfo),
}

fn map(fd: i32, writable: bool) -> Result<Page, std::io::Error> {
    let prot = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
    // SAFETY: maps a page-sized memfd the kernel handed over where the system
    // chooses (outside every fixed map, which are in place already); nothing
    // existing changes.
    let got = unsafe { libc::mmap(core::ptr::null_mut(), PAGE_BYTES, prot, libc::MAP_SHARED, fd, 0) };
    if got == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd was handed over for this mapping only.
    unsafe { libc::close(fd) };
    // SAFETY: the mapping is PAGE_BYTES long, page-aligned, never unmapped, and
    // only accessed through atomics (other processes write it concurrently).
    Ok(Page(unsafe { &*got.cast::<[AtomicU64; PAGE_WORDS]>() }))
}

impl Ipc {
    /// Maps the pages of `handover`.
    pub(crate) fn map(handover: &Handover) -> Result<Ipc, std::io::Error> {
        let mut by_ch = [None; CHANNEL_LIMIT as usize];
        let mut links = Vec::new();
        for l in &handover.links {
            by_ch[l.ch as usize] = Some(links.len() as u8);
            links.push(Link {
                ch: l.ch,
                mine: map(l.mine_fd, true)?,
                theirs: map(l.theirs_fd, false)?,
                rights: l.mine,
                their_rights: l.theirs,
            });
        }
        Ok(Ipc {
            kernel: map(handover.kernel_fd, false)?,
            own: map(handover.own_fd, true)?,
            links,
            by_ch,
            nonce_key: RandomState::new(),
            events_seen: AtomicU64::new(u64::MAX),
            injects_seen: AtomicU64::new(u64::MAX),
            serving: core::cell::Cell::new(None),
        })
    }

    fn link(&self, ch: u8) -> Option<&Link> {
        self.by_ch.get(ch as usize).copied().flatten().map(|i| &self.links[i as usize])
    }

    /// Signals channel `ch`; false if this PD may not (the kernel decides).
    pub(crate) fn notify(&self, ch: u8) -> bool {
        match self.link(ch) {
            Some(l) if l.rights.notify => {
                l.mine.0[end::SIGNALS].fetch_add(1, Ordering::SeqCst);
                l.mine.ring();
                true
            }
            _ => false,
        }
    }

    /// Calls channel `ch` with the first `info.count()` of `mrs`; the reply's
    /// registers come back in `mrs`. `None` if this PD may not call it.
    pub(crate) fn call(&self, ch: u8, info: MessageInfo, mrs: &mut [u64; MSG_MAX_LENGTH]) -> Option<MessageInfo> {
        let l = self.link(ch).filter(|l| l.rights.call)?;
        let mine = l.mine;
        let seq = mine.get(end::CALL_SEQ).wrapping_add(1).max(1);
        let nonce = self.nonce_key.hash_one(seq);
        for (i, mr) in mrs.iter().enumerate().take(info.count()) {
            mine.set(end::CALL_MRS + i, *mr);
        }
        mine.set(end::CALL_INFO, info.to_word());
        mine.set(end::CALL_NONCE, nonce);
        mine.set(end::CALL_STAMP, crate::clock::now());
        mine.0[end::CALL_SEQ].store(seq, Ordering::SeqCst);
        mine.ring();
        // The kernel marks a peer gone before it fails the calls queued for it:
        // either it saw this call, or this sees the mark.
        if self.kernel.0[kernel::PEER_DOWN].load(Ordering::SeqCst) & (1 << ch) != 0 {
            mine.set(end::WITHDRAWN, seq);
            return Some(MessageInfo::new(MessageInfo::PEER_FAULTED, 0));
        }
        let theirs = l.theirs;
        let bells = [theirs.bell()];
        loop {
            let before = theirs.bell().load(Ordering::SeqCst);
            if theirs.get(end::REPLY_SEQ) == seq && theirs.get(end::REPLY_NONCE) == nonce {
                let reply = MessageInfo::from_word(theirs.get(end::REPLY_INFO));
                for (i, mr) in mrs.iter_mut().enumerate().take(reply.count()) {
                    *mr = theirs.get(end::REPLY_MRS + i);
                }
                return Some(reply);
            }
            self.wait(&bells, &[before]);
        }
    }

    /// Looks for the next thing to deliver, in seL4's order: an injected
    /// failure, notifications, kernel events, then the oldest call.
    pub(crate) fn poll(&self, mrs: &mut [u64; MSG_MAX_LENGTH]) -> Option<Found> {
        let events = self.kernel.get(kernel::EVENTS);
        let kernel_pending = events != self.events_seen.load(Ordering::Relaxed);
        if kernel_pending {
            let injects = self.kernel.get(kernel::INJECTS);
            if injects != self.injects_seen.load(Ordering::Relaxed) {
                self.injects_seen.store(injects, Ordering::Relaxed);
                return Some(Found::Kernel);
            }
        }
        let badge = self.badge();
        if badge != 0 {
            return Some(Found::Notified(badge));
        }
        if kernel_pending {
            return Some(Found::Kernel);
        }
        self.take_call(mrs)
    }

    /// The kernel had nothing more: its counter as read before the fetch is seen.
    pub(crate) fn kernel_drained(&self, events: u64) {
        self.events_seen.store(events, Ordering::Relaxed);
    }

    /// The kernel page's event counter (read before a fetch).
    pub(crate) fn kernel_events(&self) -> u64 {
        self.kernel.get(kernel::EVENTS)
    }

    /// Consumes every pending notification: kernel signals, then each peer's.
    fn badge(&self) -> u64 {
        let mut badge = 0;
        let total = self.kernel.get(kernel::SIGNALS);
        if total != self.own.get(own::SIGNALS_SEEN) {
            self.own.set(own::SIGNALS_SEEN, total);
            for ch in 0..CHANNEL_LIMIT as usize {
                let n = self.kernel.get(kernel::CHANNEL_SIGNALS + ch);
                if n != self.own.get(own::CHANNEL_SIGNALS_SEEN + ch) {
                    self.own.set(own::CHANNEL_SIGNALS_SEEN + ch, n);
                    badge |= 1 << ch;
                }
            }
        }
        for l in self.links.iter().filter(|l| l.their_rights.notify) {
            let sent = l.theirs.get(end::SIGNALS);
            if sent != l.mine.get(end::SEEN) {
                l.mine.set(end::SEEN, sent);
                badge |= 1 << l.ch;
            }
        }
        badge
    }

    /// Takes the oldest pending call, copying its registers into `mrs`.
    fn take_call(&self, mrs: &mut [u64; MSG_MAX_LENGTH]) -> Option<Found> {
        let mut oldest: Option<(usize, u64, u64)> = None;
        for (i, l) in self.links.iter().enumerate().filter(|(_, l)| l.their_rights.call) {
            let seq = l.theirs.get(end::CALL_SEQ);
            if seq == 0 || seq == l.mine.get(end::REPLY_SEQ) || seq == l.theirs.get(end::WITHDRAWN) {
                continue;
            }
            let stamp = l.theirs.get(end::CALL_STAMP);
            if oldest.is_none_or(|(_, _, s)| stamp < s) {
                oldest = Some((i, seq, stamp));
            }
        }
        let (i, seq, _) = oldest?;
        let l = &self.links[i];
        l.mine.0[end::TAKEN].store(seq, Ordering::SeqCst);
        // Copied out before use: the caller may go on writing its page.
        let info = MessageInfo::from_word(l.theirs.get(end::CALL_INFO));
        let nonce = l.theirs.get(end::CALL_NONCE);
        for (k, mr) in mrs.iter_mut().enumerate().take(info.count()) {
            *mr = l.theirs.get(end::CALL_MRS + k);
        }
        self.serving.set(Some(Serving { link: i, seq, nonce }));
        Some(Found::Call(l.ch, info))
    }

    /// Replies to the call being served, if there is one.
    pub(crate) fn reply(&self, info: MessageInfo, mrs: &[u64; MSG_MAX_LENGTH]) {
        let Some(s) = self.serving.take() else { return };
        let mine = self.links[s.link].mine;
        for (i, mr) in mrs.iter().enumerate().take(info.count()) {
            mine.set(end::REPLY_MRS + i, *mr);
        }
        mine.set(end::REPLY_INFO, info.to_word());
        mine.set(end::REPLY_NONCE, s.nonce);
        mine.0[end::REPLY_SEQ].store(s.seq, Ordering::SeqCst);
        mine.ring();
    }

    /// Waits for the next thing to deliver (see [`Ipc::poll`]).
    pub(crate) fn next(&self, mrs: &mut [u64; MSG_MAX_LENGTH]) -> Found {
        let mut bells: Vec<&AtomicU32> = std::vec![self.kernel.bell()];
        bells.extend(self.links.iter().filter(|l| l.their_rights != Rights::default()).map(|l| l.theirs.bell()));
        let mut before = std::vec![0u32; bells.len()];
        loop {
            for (b, bell) in before.iter_mut().zip(&bells) {
                *b = bell.load(Ordering::SeqCst);
            }
            if let Some(found) = self.poll(mrs) {
                return found;
            }
            self.wait(&bells, &before);
        }
    }

    /// Returns once a bell differs from `before` (or spuriously).
    fn wait(&self, bells: &[&AtomicU32], before: &[u32]) {
        futex_waitv(bells, before);
    }
}

#[cfg(feature = "test-support")]
/// What a hostile PD can do to the pages it maps (for the host kernel's tests).
impl Ipc {
    /// Overwrites every word of every page this PD may write with `round` (the
    /// message info words with a label-666 reply), then rings every bell it may
    /// ring: a forged notification on each channel, a forged call, a forged
    /// reply for sequence number `round`.
    pub(crate) fn scribble(&self, round: u64) {
        let forged = MessageInfo::new(666, 4).to_word();
        let pages = self.links.iter().map(|l| l.mine).chain(core::iter::once(self.own));
        for page in pages {
            for (w, word) in page.0.iter().enumerate().skip(1) {
                let value = if w == end::REPLY_INFO || w == end::CALL_INFO { forged } else { round };
                word.store(value, Ordering::SeqCst);
            }
            page.ring();
        }
    }

    /// Writes the peer's (read-only) end page of channel `ch`: a VM fault.
    pub(crate) fn write_peer_page(&self, ch: u8) {
        if let Some(l) = self.link(ch) {
            let addr = l.theirs.0.as_ptr() as u64;
            super::wild_write(addr + 8 * end::SIGNALS as u64);
        }
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a word of a shared mapping; it reads no memory.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX, 0, 0, 0) };
}

#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: a 32-bit futex word, shared between processes.
const FUTEX2_SIZE_U32: u32 = 2;

fn futex_waitv(bells: &[&AtomicU32], before: &[u32]) {
    let mut waiters: [FutexWaitv; 1 + CHANNEL_LIMIT as usize] =
        core::array::from_fn(|_| FutexWaitv { val: 0, uaddr: 0, flags: 0, reserved: 0 });
    let n = bells.len().min(waiters.len());
    for ((w, bell), v) in waiters.iter_mut().zip(bells).zip(before) {
        *w = FutexWaitv { val: *v as u64, uaddr: bell.as_ptr() as u64, flags: FUTEX2_SIZE_U32, reserved: 0 };
    }
    // SAFETY: `waiters[..n]` are valid futex_waitv entries naming mapped words;
    // no timeout. A changed word, a wake or a signal all just return.
    unsafe { libc::syscall(libc::SYS_futex_waitv, waiters.as_ptr(), n as u32, 0u32, 0usize, 0i32) };
}

/// Parses and maps this PD's pages from the environment.
pub(crate) fn from_env() -> Result<Ipc, std::string::String> {
    let text = std::env::var(pages::ENV_IPC).map_err(|_| std::format!("{} is not set", pages::ENV_IPC))?;
    let handover = pages::parse(&text).map_err(|bad| std::format!("bad {} entry {bad:?}", pages::ENV_IPC))?;
    Ipc::map(&handover).map_err(|e| std::format!("cannot map the IPC pages: {e}"))
}
