//! The shared pages of the fast IPC path, as the kernel owns them: one memfd per
//! PD for its kernel page and its own page, and one per channel end (layout and
//! the handover format: `microkit::host::pages`). The kernel maps them all; it
//! writes a kernel page at any time, and a PD's end page only while that PD has
//! no process (to answer `PEER_FAULTED` in its name, or to withdraw its call).
//!
//! Which PD gets which page, and with what access, is the whole of the security
//! argument: a PD maps its own end of each of its channels writable and the
//! peer's end read-only, so what it can write speaks only for its own end of its
//! own channels.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use microkit::host::pages::{self, Handover, Link, PAGE_BYTES, PAGE_WORDS, Rights, end, kernel};
use microkit::{CHANNEL_LIMIT, MessageInfo};
use rustix::fs::{Mode, OFlags};

use crate::layout::{Layout, Route};

/// A page, mapped into the kernel.
struct Page {
    memfd: OwnedFd,
    words: &'static [AtomicU64; PAGE_WORDS],
}

impl Page {
    fn new(name: &str) -> io::Result<Page> {
        let memfd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&memfd, PAGE_BYTES as u64)?;
        // SAFETY: a fresh shared mapping of a page-sized memfd, never unmapped
        // (the pages live as long as the system; a leak of a few pages per PD and
        // channel for a kernel that runs once per process).
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                PAGE_BYTES,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &memfd,
                0,
            )?
        };
        // SAFETY: page-aligned, PAGE_BYTES long, zero-filled, lives forever, and
        // only accessed through atomics (PD processes write it concurrently).
        let words = unsafe { &*ptr.cast::<[AtomicU64; PAGE_WORDS]>() };
        Ok(Page { memfd, words })
    }

    fn get(&self, word: usize) -> u64 {
        self.words[word].load(Ordering::SeqCst)
    }

    fn set(&self, word: usize, value: u64) {
        self.words[word].store(value, Ordering::SeqCst)
    }

    fn add(&self, word: usize, n: u64) {
        self.words[word].fetch_add(n, Ordering::SeqCst);
    }

    /// Increments the page's doorbell and wakes whoever waits on it.
    fn ring(&self) {
        // SAFETY: word 0 is 8-aligned; its low half is only accessed as this
        // u32, the futex word.
        let bell = unsafe { &*(&self.words[end::BELL] as *const AtomicU64).cast::<AtomicU32>() };
        bell.fetch_add(1, Ordering::SeqCst);
        // SAFETY: FUTEX_WAKE on a word of a shared mapping; it reads no memory.
        unsafe { libc::syscall(libc::SYS_futex, bell.as_ptr(), libc::FUTEX_WAKE, i32::MAX, 0, 0, 0) };
    }

    /// A descriptor for a PD: the memfd itself, or a read-only reopening of it,
    /// which cannot be mapped writable.
    fn fd(&self, writable: bool) -> io::Result<OwnedFd> {
        if writable {
            return self.memfd.try_clone();
        }
        let path = format!("/proc/self/fd/{}", self.memfd.as_raw_fd());
        Ok(rustix::fs::open(path.as_str(), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?)
    }
}

struct PdPages {
    kernel: Page,
    own: Page,
    /// This PD's end page of each of its channels.
    ends: Vec<Option<Page>>,
}

/// Every shared page of a running system.
pub struct IpcPages {
    pds: Vec<PdPages>,
    /// Channel id → route, per PD (a copy of the layout's).
    routes: Vec<[Option<Route>; CHANNEL_LIMIT as usize]>,
}

fn rights(route: &Route) -> Rights {
    Rights { notify: route.can_notify, call: route.can_ppcall }
}

impl IpcPages {
    pub fn new(layout: &Layout) -> io::Result<IpcPages> {
        let pds = layout
            .pds
            .iter()
            .map(|pd| {
                let ends = pd
                    .routes
                    .iter()
                    .enumerate()
                    .map(|(ch, r)| r.map(|_| Page::new(&format!("{}-ch{ch}", pd.name))).transpose())
                    .collect::<io::Result<_>>()?;
                Ok(PdPages {
                    kernel: Page::new(&format!("{}-kernel", pd.name))?,
                    own: Page::new(&format!("{}-own", pd.name))?,
                    ends,
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(IpcPages { pds, routes: layout.pds.iter().map(|p| p.routes).collect() })
    }

    fn end(&self, pd: usize, ch: u8) -> Option<&Page> {
        self.pds.get(pd)?.ends.get(ch as usize)?.as_ref()
    }

    /// Each channel of `pd`: its id, route, its end page and the peer's.
    fn links(&self, pd: usize) -> impl Iterator<Item = (u8, Route, &Page, &Page)> {
        self.routes[pd].iter().enumerate().filter_map(move |(ch, r)| {
            let r = (*r)?;
            Some((ch as u8, r, self.end(pd, ch as u8)?, self.end(r.peer, r.peer_ch)?))
        })
    }

    /// What the peer of `route` may do on it.
    fn their_rights(&self, route: &Route) -> Rights {
        self.routes[route.peer][route.peer_ch as usize].as_ref().map(rights).unwrap_or_default()
    }

    /// The descriptors PD `pd` gets, to be placed at `first_fd`, `first_fd + 1`,
    /// ..., and the value of `ENV_IPC` naming them.
    pub fn handover(&self, pd: usize, first_fd: i32) -> io::Result<(Vec<OwnedFd>, String)> {
        let mut fds = vec![self.pds[pd].kernel.fd(false)?, self.pds[pd].own.fd(true)?];
        let mut links = Vec::new();
        for (ch, route, mine, theirs) in self.links(pd) {
            let at = first_fd + fds.len() as i32;
            fds.push(mine.fd(true)?);
            fds.push(theirs.fd(false)?);
            links.push(Link {
                ch,
                mine_fd: at,
                theirs_fd: at + 1,
                mine: rights(&route),
                theirs: self.their_rights(&route),
            });
        }
        let env = pages::render(&Handover { kernel_fd: first_fd, own_fd: first_fd + 1, links });
        Ok((fds, env))
    }

    /// The kernel signals channel `ch` of PD `pd` (an IRQ, the timer).
    pub fn kernel_signal(&self, pd: usize, ch: u8) {
        let k = &self.pds[pd].kernel;
        k.add(kernel::CHANNEL_SIGNALS + ch as usize, 1);
        k.add(kernel::SIGNALS, 1);
        k.ring();
    }

    /// PD `pd` notified its channel `ch` over the control socket: the same as
    /// through its page.
    pub fn notify_from(&self, pd: usize, ch: u8) {
        if let Some(mine) = self.end(pd, ch) {
            mine.add(end::SIGNALS, 1);
            mine.ring();
        }
    }

    /// A kernel event (an injection, if `inject`) is queued for PD `pd`.
    pub fn kernel_event(&self, pd: usize, inject: bool) {
        let k = &self.pds[pd].kernel;
        if inject {
            k.add(kernel::INJECTS, 1);
        }
        k.add(kernel::EVENTS, 1);
        k.ring();
    }

    /// PD `pd` (without a process now) had calls in flight: withdraw them, so no
    /// callee serves a caller that is gone; a reply already under way lands in
    /// a slot nobody waits on.
    pub fn caller_died(&self, pd: usize) {
        for (_, route, mine, theirs) in self.links(pd) {
            let seq = mine.get(end::CALL_SEQ);
            if route.can_ppcall && seq != 0 && theirs.get(end::REPLY_SEQ) != seq {
                mine.set(end::WITHDRAWN, seq);
            }
        }
    }

    /// PD `pd` (without a process now) died: the call it was serving fails with
    /// `PEER_FAULTED`; calls queued for it wait for its next instance.
    pub fn callee_died(&self, pd: usize) {
        self.fail_calls(pd, true);
    }

    /// PD `pd` is gone for good (stopped, or down with no parent): every call to
    /// it fails, now and until it is started again.
    pub fn callee_gone(&self, pd: usize) {
        self.set_down(pd, true);
        self.fail_calls(pd, false);
    }

    /// PD `pd` runs again: calls to it wait for it.
    pub fn callee_back(&self, pd: usize) {
        self.set_down(pd, false);
    }

    fn set_down(&self, pd: usize, down: bool) {
        for (_, route, _, _) in self.links(pd) {
            let word = &self.pds[route.peer].kernel.words[kernel::PEER_DOWN];
            let bit = 1u64 << route.peer_ch;
            if down {
                word.fetch_or(bit, Ordering::SeqCst);
            } else {
                word.fetch_and(!bit, Ordering::SeqCst);
            }
        }
    }

    /// Answers `PEER_FAULTED` in `pd`'s name to the calls waiting on it: only
    /// the one it took if `taken_only`.
    fn fail_calls(&self, pd: usize, taken_only: bool) {
        for (_, route, mine, caller) in self.links(pd) {
            if !self.their_rights(&route).call {
                continue;
            }
            let seq = caller.get(end::CALL_SEQ);
            let waiting = seq != 0 && mine.get(end::REPLY_SEQ) != seq && caller.get(end::WITHDRAWN) != seq;
            if waiting && (!taken_only || mine.get(end::TAKEN) == seq) {
                mine.set(end::REPLY_INFO, MessageInfo::new(MessageInfo::PEER_FAULTED, 0).to_word());
                mine.set(end::REPLY_NONCE, caller.get(end::CALL_NONCE));
                mine.set(end::REPLY_SEQ, seq);
                mine.ring();
            }
        }
    }
}
