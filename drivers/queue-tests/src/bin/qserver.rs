//! The server side of the two-process queue test: submits numbered requests,
//! checks each completes exactly once, and restarts its driver when it crashes
//! or misbehaves, resubmitting what the reset says was in flight.
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use driver_queue::{Completion, Desc, QueueError, Server, status};
use driver_queue_tests::{BUF, CAPACITY, LAYOUT, SPECS, len_for, requests};
use microkit::{Channel, Child, Fault, FaultAction, Handler, Region, debug_println};

microkit::include_system!("qserver");

struct QServer {
    queues: Server<Region>,
    data: Region,
    /// Free data buffers (offsets).
    pool: Vec<u64>,
    /// Requests reclaimed at a reset, to submit first.
    resubmit: VecDeque<Desc>,
    next: u64,
    done: Vec<u64>,
    completed: u64,
    duplicates: u64,
    bad: u64,
    restarts: u64,
    peer_faults: u64,
    reclaimed: u64,
    started: u64,
    finished: bool,
}

impl QServer {
    fn record(&mut self, c: Completion) {
        let seq = c.request.arg;
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        match self.done.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                self.completed += 1;
            }
            _ => self.duplicates += 1,
        }
        if c.status != status::OK || c.len != len_for(seq) {
            self.bad += 1;
        }
        self.pool.push(c.request.offset);
    }

    fn complain(&mut self, e: QueueError) {
        if e.is_peer_fault() {
            self.peer_faults += 1;
            self.restarts += 1;
            debug_println!("qserver: driver misbehaved ({e}); restarting it");
            if let Err(e) = child::QDRIVER.restart() {
                debug_println!("qserver: restart of qdriver refused: {e}");
            }
        } else {
            debug_println!("qserver: queue error: {e}");
        }
    }

    fn next_request(&mut self) -> Option<Desc> {
        if let Some(r) = self.resubmit.pop_front() {
            return Some(r);
        }
        if self.next >= requests() {
            return None;
        }
        let buf = self.pool.pop()?;
        let seq = self.next;
        self.next += 1;
        if self.data.write_bytes(buf as usize, &seq.to_ne_bytes()).is_err() {
            debug_println!("qserver: cannot write buffer {buf:#x}");
        }
        Some(Desc { offset: buf, len: 8, id: 0, op: 1, status: 0, arg: seq })
    }

    fn pump(&mut self) {
        loop {
            loop {
                let got = match self.queues.pair(0) {
                    Ok(pair) => pair.complete(),
                    Err(e) => Err(e),
                };
                match got {
                    Ok(Some(c)) => self.record(c),
                    Ok(None) => break,
                    Err(e) => return self.complain(e),
                }
            }
            while self.queues.pair(0).is_ok_and(|p| (p.in_flight() as u64) < CAPACITY) {
                let Some(r) = self.next_request() else { break };
                if let Err(e) = self.queues.pair(0).and_then(|p| p.submit(r)) {
                    debug_println!("qserver: submit failed: {e}");
                    self.resubmit.push_front(r);
                    break;
                }
            }
            let Ok(pair) = self.queues.pair(0) else { return };
            if pair.should_notify() {
                channel::QDRIVER.notify();
            }
            if self.completed == requests() {
                return self.finish();
            }
            match pair.request_signal() {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => return self.complain(e),
            }
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let ms = microkit::clock::now().saturating_sub(self.started) / 1_000_000;
        let all = self.done.iter().enumerate().all(|(i, w)| {
            let bits = requests().saturating_sub(64 * i as u64).min(64);
            *w == if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 }
        });
        debug_println!(
            "qserver: done: {} of {} requests completed, every one {}, in {ms} ms; duplicates {}, bad {}, \
             driver restarts {}, peer faults {}, reclaimed {}",
            self.completed,
            requests(),
            if all { "exactly once" } else { "NOT exactly once" },
            self.duplicates,
            self.bad,
            self.restarts,
            self.peer_faults,
            self.reclaimed
        );
        if let Err(e) = child::QDRIVER.stop() {
            debug_println!("qserver: stop of qdriver refused: {e}");
        }
    }
}

impl Handler for QServer {
    fn notified(&mut self, ch: Channel) {
        if ch != channel::QDRIVER || self.finished {
            return;
        }
        match self.queues.poll_attach() {
            Ok(Some(rec)) => {
                debug_println!(
                    "qserver: reset to epoch {}: {} completed, {} in flight, {} peer faults",
                    rec.epoch,
                    rec.completed.len(),
                    rec.in_flight.len(),
                    rec.peer_faults.len()
                );
                for (_, c) in rec.completed {
                    self.record(c);
                }
                self.reclaimed += rec.in_flight.len() as u64;
                self.resubmit.extend(rec.in_flight.into_iter().map(|r| r.request));
                self.peer_faults += rec.peer_faults.len() as u64;
            }
            Ok(None) => {}
            Err(e) => return self.complain(e),
        }
        self.pump();
    }

    fn fault(&mut self, c: Child, fault: Fault) -> FaultAction {
        debug_println!("qserver: qdriver faulted ({fault}); restarting it");
        self.restarts += 1;
        if let Err(e) = c.restart() {
            debug_println!("qserver: restart of qdriver refused: {e}");
        }
        FaultAction::Leave
    }
}

fn init() -> QServer {
    let queues = match Server::new(region::queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("qserver: queue set: {e}"),
    };
    let mut s = QServer {
        queues,
        data: region::data(),
        pool: (0..CAPACITY).rev().map(|i| i * BUF).collect(),
        resubmit: VecDeque::new(),
        next: 0,
        done: alloc::vec![0; requests().div_ceil(64) as usize],
        completed: 0,
        duplicates: 0,
        bad: 0,
        restarts: 0,
        peer_faults: 0,
        reclaimed: 0,
        started: microkit::clock::now(),
        finished: false,
    };
    // Submit the first batch now: a driver that is already waiting attaches to
    // the epoch Server::new published; a later one asks for a reset, which
    // reclaims these for resubmission.
    s.pump();
    s
}

microkit::protection_domain!(init);
