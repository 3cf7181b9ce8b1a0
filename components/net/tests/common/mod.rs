//! A wire of memory between two links, for the tests.
//!
//! Each test crate includes this module and uses part of it.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use net::{FRAME_MAX, Link};

/// Frames in one direction.
pub type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

/// One end of the wire.
pub struct WireEnd {
    pub out: Queue,
    pub inp: Queue,
    tx: Vec<u8>,
    sent: usize,
    drop_every: usize,
    capacity: usize,
}

impl WireEnd {
    /// An end that sends on `out` and receives from `inp`, losing nothing.
    pub fn new(out: Queue, inp: Queue) -> WireEnd {
        WireEnd { out, inp, tx: Vec::new(), sent: 0, drop_every: 0, capacity: usize::MAX }
    }
}

impl Link for WireEnd {
    fn recv(&mut self, buf: &mut [u8; FRAME_MAX]) -> Option<usize> {
        let f = self.inp.borrow_mut().pop_front()?;
        buf[..f.len()].copy_from_slice(&f);
        Some(f.len())
    }
    fn can_send(&self) -> bool {
        self.out.borrow().len() < self.capacity
    }
    fn tx_buffer(&mut self, len: usize) -> Option<&mut [u8]> {
        self.tx.resize(len, 0);
        Some(&mut self.tx)
    }
    fn send(&mut self, len: usize) {
        self.sent += 1;
        if self.drop_every != 0 && self.sent.is_multiple_of(self.drop_every) {
            return;
        }
        self.out.borrow_mut().push_back(self.tx[..len].to_vec());
    }
}

/// Two ends of a wire that holds 64 frames each way; `drop_every` loses every
/// n-th frame each end sends (0: none).
pub fn wire(drop_every: usize) -> (WireEnd, WireEnd) {
    let a: Queue = Rc::default();
    let b: Queue = Rc::default();
    let end = |out: &Queue, inp: &Queue| WireEnd {
        out: out.clone(),
        inp: inp.clone(),
        tx: Vec::new(),
        sent: 0,
        drop_every,
        capacity: 64,
    };
    (end(&a, &b), end(&b, &a))
}
