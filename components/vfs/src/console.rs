//! `/dev/console`: the console driver's queues (`virtio_console`) as a
//! character device, a stream of bytes in and out.
//!
//! The server keeps the bytes typed and not yet read, and up to
//! [`OUTPUT_MAX`] bytes written and not yet taken by the driver (past that,
//! writes are short). Input is held back, not dropped: an input buffer is
//! posted to the driver again only while fewer than [`INPUT_MAX`] bytes wait
//! for the reader, so a reader that is slow (or runs below the driver and the
//! server, as the shell does) leaves the rest in the driver's backlog. Output
//! goes in the queue buffers' chunks.
//!
//! **A driver restart breaks the stream** (the seed's Sec. 6.2: a character
//! device cannot be replayed, so the error goes up). When a fresh copy of the
//! driver attaches, [`Console::stream`] counts one more; a handle opened on an
//! older stream gets EIO from then on, and the next open works on the fresh
//! driver. Output the dead copy had not completed, and output still waiting
//! for it, is not sent to the fresh one: it is counted as lost, and the writer
//! learns of it by the EIO. Input buffers the dead copy held are posted to the
//! fresh one. The first driver to attach starts stream 0 and breaks nothing;
//! output written before it came is sent to it.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use driver_queue::{Desc, Event, Notify, QueueClient, QueueError, SharedMem, status};
use virtio_console::protocol::{BUF, BUFS, QUEUES, RX, RX_BASE, TX, TX_BASE};

/// Input waiting for the reader above which no input buffer is posted (at
/// most this plus the input buffers' bytes wait).
pub const INPUT_MAX: usize = 4096;
/// Output written and not taken by the driver yet, kept at most (bytes).
pub const OUTPUT_MAX: usize = 16 * 1024;

/// What a driver notification changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Input arrived.
    pub input: bool,
    /// Output buffer space was freed.
    pub space: bool,
    /// A fresh driver attached: the stream broke.
    pub broke: bool,
}

/// What the console has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsoleCounters {
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Output not sent because the driver that held it, or was to get it, died.
    pub output_lost: u64,
    /// Times the stream broke (fresh driver copies after the first).
    pub breaks: u64,
}

/// The client end of the console driver's queues.
pub struct Console<M: SharedMem + Clone, N: Notify> {
    queues: QueueClient<M, N>,
    input: VecDeque<u8>,
    output: VecDeque<u8>,
    /// Output buffers not in flight.
    free_tx: Vec<u64>,
    /// Input buffers held back while the reader is behind.
    held_rx: Vec<u64>,
    stream: u64,
    attached_before: bool,
    /// Between a fresh copy's attach and the end of that notification's
    /// events: reclaimed output belongs to the broken stream.
    breaking: bool,
    counters: ConsoleCounters,
}

impl<M: SharedMem + Clone, N: Notify> Console<M, N> {
    /// The server end of the console driver's queue set in `queues` (buffers
    /// in `data`), with every input buffer posted.
    pub fn new(name: &'static str, queues: M, data: M, driver: N) -> Result<Self, QueueError> {
        let mut queues = QueueClient::new(name, queues, data, &QUEUES, driver)?;
        for i in 0..BUFS {
            queues.submit(RX, Desc::new(RX_BASE + i * BUF, BUF as u32))?;
        }
        Ok(Console {
            queues,
            input: VecDeque::new(),
            output: VecDeque::new(),
            free_tx: (0..BUFS).map(|i| TX_BASE + i * BUF).collect(),
            held_rx: Vec::new(),
            stream: 0,
            attached_before: false,
            breaking: false,
            counters: ConsoleCounters::default(),
        })
    }

    /// The current stream: one more for each fresh driver copy.
    pub fn stream(&self) -> u64 {
        self.stream
    }

    pub fn counters(&self) -> ConsoleCounters {
        self.counters
    }

    /// Bytes typed and not read yet.
    pub fn readable(&self) -> usize {
        self.input.len()
    }

    /// Drops the input typed so far (a fresh open reads what is typed next).
    pub fn discard_input(&mut self) {
        self.input.clear();
        self.post_held();
    }

    /// Posts the input buffers held back, while the reader is not behind.
    fn post_held(&mut self) {
        while self.input.len() < INPUT_MAX {
            let Some(offset) = self.held_rx.pop() else { return };
            if self.queues.submit(RX, Desc::new(offset, BUF as u32)).is_err() {
                // The pair is stopped until the driver attaches again.
                self.held_rx.push(offset);
                return;
            }
        }
    }

    /// The driver notified: its restart protocol, its completions, and more
    /// output to it.
    pub fn on_notify(&mut self) -> Changes {
        let mut changes = Changes::default();
        while let Some(event) = self.queues.next_event() {
            match event {
                Event::Attached { .. } => {
                    self.breaking = self.attached_before;
                    self.attached_before = true;
                    self.post_held();
                    if self.breaking {
                        self.stream += 1;
                        self.counters.breaks += 1;
                        self.counters.output_lost += self.output.len() as u64;
                        self.output.clear();
                        self.input.clear();
                        self.post_held();
                        changes.broke = true;
                    }
                }
                Event::Reclaimed(r) if r.pair == TX && self.breaking => {
                    self.counters.output_lost += u64::from(r.request.len);
                    self.free_tx.push(r.request.offset);
                    changes.space = true;
                }
                Event::Reclaimed(r) => {
                    // Refused when the fresh copy corrupted its ring (reported):
                    // an output chunk is lost with the stream it was in, an
                    // input buffer is held until the pair works again.
                    if self.queues.resubmit(r).is_err() {
                        if r.pair == TX {
                            self.counters.output_lost += u64::from(r.request.len);
                            self.free_tx.push(r.request.offset);
                        } else {
                            self.held_rx.push(r.request.offset);
                        }
                    }
                }
                Event::Completed { pair, completion: c } if pair == TX => {
                    if c.status == status::OK {
                        self.counters.bytes_out += u64::from(c.len);
                    } else {
                        self.counters.output_lost += u64::from(c.request.len);
                    }
                    self.free_tx.push(c.request.offset);
                    changes.space = true;
                }
                Event::Completed { completion: c, .. } => {
                    let n = (c.len as usize).min(c.request.len as usize).min(BUF as usize);
                    let mut bytes = [0u8; BUF as usize];
                    // Input from a driver is untrusted: only a completed
                    // request's own buffer, at most its length, is read.
                    if c.status == status::OK
                        && n > 0
                        && self.queues.data().read_bytes(c.request.offset as usize, &mut bytes[..n]).is_ok()
                    {
                        self.counters.bytes_in += n as u64;
                        self.input.extend(&bytes[..n]);
                        changes.input = true;
                    }
                    self.held_rx.push(c.request.offset);
                    self.post_held();
                }
            }
        }
        self.breaking = false;
        self.send_more();
        changes
    }

    /// Takes up to `buf.len()` bytes typed: how many (0: none now).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.input.len());
        for (slot, b) in buf.iter_mut().zip(self.input.drain(..n)) {
            *slot = b;
        }
        self.post_held();
        n
    }

    /// Queues what fits of `bytes` for the driver: how many (0: no room now).
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(OUTPUT_MAX - self.output.len());
        self.output.extend(&bytes[..n]);
        self.send_more();
        n
    }

    /// Hands queued output to the driver, a buffer's worth at a time.
    fn send_more(&mut self) {
        while !self.output.is_empty() {
            let Some(offset) = self.free_tx.pop() else { return };
            let n = self.output.len().min(BUF as usize);
            let chunk = &self.output.make_contiguous()[..n];
            let sent = self.queues.data().write_bytes(offset as usize, chunk).is_ok()
                && self.queues.submit(TX, Desc::new(offset, n as u32)).is_ok();
            if !sent {
                // The pair is stopped until the driver attaches again: the
                // bytes wait (and are lost with the stream if it breaks).
                self.free_tx.push(offset);
                return;
            }
            self.output.drain(..n);
        }
    }
}
