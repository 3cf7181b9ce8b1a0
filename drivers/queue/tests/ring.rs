//! Unit tests of one ring: FIFO order, full and empty, every check of a peer's
//! index and descriptor, and the signalling protocol's two properties.

use std::sync::atomic::Ordering;

use driver_queue::{Bounds, Consumer, Desc, DescError, HeapMem, Producer, QueueError, RingLayout, SharedMem, split};

const TAIL: usize = 0;
const HEAD: usize = 64;
const NEED_SIGNAL: usize = 72;

fn ring(capacity: u64) -> (HeapMem, RingLayout) {
    let layout = RingLayout::new(0, capacity).unwrap();
    (HeapMem::new(layout.end()), layout)
}

fn poke(mem: &HeapMem, at: usize, value: u64) {
    mem.word(at).unwrap().store(value, Ordering::Relaxed);
}

fn peek(mem: &HeapMem, at: usize) -> u64 {
    mem.word(at).unwrap().load(Ordering::Relaxed)
}

fn d(i: u64) -> Desc {
    Desc { offset: i * 64, len: 64, id: i as u32, op: 1, status: 0, arg: i ^ 0xabcd }
}

#[test]
fn fifo_full_and_empty() {
    let (mem, layout) = ring(4);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    assert_eq!(c.dequeue(), Ok(None));
    assert_eq!(c.is_empty(), Ok(true));
    for i in 0..4 {
        p.enqueue(d(i)).unwrap();
    }
    assert_eq!(p.is_full(), Ok(true));
    assert_eq!(p.enqueue(d(4)), Err(QueueError::Full));
    assert_eq!(p.len(), Ok(4));
    assert_eq!(c.len(), Ok(4));
    assert_eq!(c.dequeue(), Ok(Some(d(0))));
    assert_eq!(p.is_full(), Ok(false));
    p.enqueue(d(4)).unwrap();
    for i in 1..5 {
        assert_eq!(c.dequeue(), Ok(Some(d(i))));
    }
    assert_eq!(c.dequeue(), Ok(None));
    assert_eq!(p.is_empty(), Ok(true));
    assert_eq!(peek(&mem, TAIL), 5);
    assert_eq!(peek(&mem, HEAD), 5);
}

#[test]
fn wraps_around_many_times_in_order() {
    let (mem, layout) = ring(8);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    let mut next_out = 0;
    for i in 0..10_000u64 {
        p.enqueue(d(i)).unwrap();
        if i % 3 != 0 {
            while let Some(got) = c.dequeue().unwrap() {
                assert_eq!(got, d(next_out));
                next_out += 1;
            }
        }
    }
    while let Some(got) = c.dequeue().unwrap() {
        assert_eq!(got, d(next_out));
        next_out += 1;
    }
    assert_eq!(next_out, 10_000);
}

#[test]
fn free_running_indices_wrap_past_u64_max() {
    let (mem, layout) = ring(4);
    poke(&mem, TAIL, u64::MAX - 2);
    poke(&mem, HEAD, u64::MAX - 2);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    for i in 0..20 {
        p.enqueue(d(i)).unwrap();
        p.enqueue(d(i + 100)).unwrap();
        assert_eq!(c.dequeue(), Ok(Some(d(i))));
        assert_eq!(c.dequeue(), Ok(Some(d(i + 100))));
    }
    assert_eq!(peek(&mem, TAIL), (u64::MAX - 2).wrapping_add(40));
}

#[test]
fn attach_continues_from_memory_and_checks_it() {
    let (mem, layout) = ring(4);
    let (mut p, _) = split(&mem, layout, Bounds::ANY).unwrap();
    p.enqueue(d(7)).unwrap();
    // A fresh consumer (say a restarted peer) picks up where the ring is.
    let mut c = Consumer::attach(&mem, layout, Bounds::ANY).unwrap();
    assert_eq!(c.dequeue(), Ok(Some(d(7))));
    // Indices more than a capacity apart are refused at attach, either side.
    poke(&mem, TAIL, 100);
    poke(&mem, HEAD, 10);
    assert_eq!(Consumer::attach(&mem, layout, Bounds::ANY).err(), Some(QueueError::Corrupt { theirs: 100, ours: 10 }));
    assert_eq!(Producer::attach(&mem, layout, Bounds::ANY).err(), Some(QueueError::Corrupt { theirs: 10, ours: 100 }));
}

#[test]
fn memory_too_small_or_read_only_is_refused() {
    let layout = RingLayout::new(0, 16).unwrap();
    let small = HeapMem::new(layout.end() - 8);
    assert!(matches!(Producer::attach(&small, layout, Bounds::ANY), Err(QueueError::Memory(_))));
    assert!(matches!(Consumer::attach(&small, layout, Bounds::ANY), Err(QueueError::Memory(_))));
    let at = RingLayout::new(64, 16).unwrap();
    assert!(matches!(Consumer::attach(&HeapMem::new(layout.end()), at, Bounds::ANY), Err(QueueError::Memory(_))));
}

#[test]
fn consumer_rejects_a_tail_more_than_capacity_ahead() {
    let (mem, layout) = ring(4);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    p.enqueue(d(0)).unwrap();
    poke(&mem, TAIL, 5); // head 0: five "available" in a ring of four
    let e = c.dequeue().unwrap_err();
    assert_eq!(e, QueueError::Corrupt { theirs: 5, ours: 0 });
    assert!(e.is_peer_fault());
    assert_eq!(c.len(), Err(QueueError::Corrupt { theirs: 5, ours: 0 }));
    assert_eq!(c.request_signal(), Err(QueueError::Corrupt { theirs: 5, ours: 0 }));
    // Nothing was consumed; a sane tail again is accepted.
    poke(&mem, TAIL, 1);
    assert_eq!(c.dequeue(), Ok(Some(d(0))));
}

#[test]
fn consumer_rejects_a_tail_that_moves_backwards() {
    let (mem, layout) = ring(8);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    for i in 0..3 {
        p.enqueue(d(i)).unwrap();
    }
    assert_eq!(c.len(), Ok(3)); // seen tail 3
    poke(&mem, TAIL, 2); // still >= head, but behind what we saw
    assert_eq!(c.len(), Err(QueueError::Corrupt { theirs: 2, ours: 0 }));
    poke(&mem, TAIL, u64::MAX); // "behind head": wraps to a huge fill level
    assert_eq!(c.is_empty(), Err(QueueError::Corrupt { theirs: u64::MAX, ours: 0 }));
    // What was published before (three descriptors) stays good to take.
    assert_eq!(c.dequeue(), Ok(Some(d(0))));
}

#[test]
fn producer_rejects_a_head_past_its_tail_or_moving_backwards() {
    let (mem, layout) = ring(8);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    for i in 0..4 {
        p.enqueue(d(i)).unwrap();
    }
    poke(&mem, HEAD, 5); // consumed more than was ever enqueued
    assert_eq!(p.len(), Err(QueueError::Corrupt { theirs: 5, ours: 4 }));
    poke(&mem, HEAD, 0);
    c.dequeue().unwrap();
    c.dequeue().unwrap();
    assert_eq!(p.len(), Ok(2)); // seen head 2
    poke(&mem, HEAD, 1);
    let e = p.is_full().unwrap_err();
    assert_eq!(e, QueueError::Corrupt { theirs: 1, ours: 4 });
    assert!(e.is_peer_fault());
}

#[test]
fn a_full_producer_checks_the_head_before_trusting_it() {
    let (mem, layout) = ring(2);
    let (mut p, _c) = split(&mem, layout, Bounds::ANY).unwrap();
    p.enqueue(d(0)).unwrap();
    p.enqueue(d(1)).unwrap();
    poke(&mem, HEAD, 7); // pretends to have freed space it cannot have
    assert_eq!(p.enqueue(d(2)), Err(QueueError::Corrupt { theirs: 7, ours: 2 }));
    assert_eq!(peek(&mem, TAIL), 2, "nothing was written");
}

#[test]
fn out_of_range_descriptors_from_the_peer_are_reported_and_consumed() {
    let (mem, layout) = ring(8);
    let bounds = Bounds::region(4096).with_buf_size(1024);
    let mut c = Consumer::attach(&mem, layout, bounds).unwrap();
    // A peer that checks nothing: writes slots and tail by hand.
    let mut tail = 0;
    let mut raw_enqueue = |desc: Desc| {
        for (i, w) in desc.to_words().into_iter().enumerate() {
            poke(&mem, 128 + 32 * tail + 8 * i, w);
        }
        tail += 1;
        poke(&mem, TAIL, tail as u64);
    };
    let bad = [
        (Desc::new(4096, 16), DescError::OutOfRegion),
        (Desc::new(1024, 1025), DescError::TooLong),
        (Desc::new(100, 16), DescError::Misaligned),
        (Desc::new(u64::MAX, u32::MAX), DescError::OutOfRegion),
    ];
    for (desc, _) in bad {
        raw_enqueue(desc);
    }
    raw_enqueue(Desc::new(2048, 1024));
    for (desc, reason) in bad {
        let e = c.dequeue().unwrap_err();
        assert_eq!(e, QueueError::BadDescriptor { desc, reason });
        assert!(e.is_peer_fault());
    }
    assert_eq!(c.dequeue(), Ok(Some(Desc::new(2048, 1024))), "bad entries do not wedge the ring");
}

#[test]
fn the_producer_refuses_its_own_out_of_range_descriptor() {
    let (mem, layout) = ring(4);
    let (mut p, _c) = split(&mem, layout, Bounds::region(100)).unwrap();
    let e = p.enqueue(Desc::new(90, 20)).unwrap_err();
    assert_eq!(e, QueueError::Rejected { desc: Desc::new(90, 20), reason: DescError::OutOfRegion });
    assert!(!e.is_peer_fault());
    assert_eq!(peek(&mem, TAIL), 0);
}

// Signalling.

#[test]
fn no_notification_to_a_consumer_that_did_not_ask() {
    let (mem, layout) = ring(16);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    for i in 0..10 {
        p.enqueue(d(i)).unwrap();
        assert!(!p.should_notify(), "consumer is busy: no notification");
        c.dequeue().unwrap();
    }
}

#[test]
fn one_notification_per_request_however_many_enqueues() {
    let (mem, layout) = ring(16);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    assert_eq!(c.request_signal(), Ok(true), "empty: safe to wait");
    let mut notified = 0;
    for i in 0..10 {
        p.enqueue(d(i)).unwrap();
        notified += p.should_notify() as u32;
    }
    assert_eq!(notified, 1);
    assert_eq!(peek(&mem, NEED_SIGNAL), 0, "the producer took the request");
    // The consumer wakes, drains, asks again: the next batch gets one more.
    while c.dequeue().unwrap().is_some() {}
    assert_eq!(c.request_signal(), Ok(true));
    p.enqueue(d(10)).unwrap();
    p.enqueue(d(11)).unwrap();
    assert!(p.should_notify());
    assert!(!p.should_notify());
}

#[test]
fn a_request_that_finds_work_is_withdrawn() {
    let (mem, layout) = ring(16);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    p.enqueue(d(0)).unwrap();
    // The producer looked before the consumer asked: it did not notify.
    assert!(!p.should_notify());
    // The consumer asks, then re-checks and finds the descriptor: no sleep.
    assert_eq!(c.request_signal(), Ok(false), "work arrived: keep dequeuing, do not wait");
    assert_eq!(peek(&mem, NEED_SIGNAL), 0, "request withdrawn");
    p.enqueue(d(1)).unwrap();
    assert!(!p.should_notify(), "a busy consumer is not notified");
    assert_eq!(c.dequeue(), Ok(Some(d(0))));
}

#[test]
fn no_lost_wake_up_in_either_order() {
    // Consumer asks first, then the producer enqueues: the producer notifies.
    let (mem, layout) = ring(4);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    assert_eq!(c.request_signal(), Ok(true));
    p.enqueue(d(0)).unwrap();
    assert!(p.should_notify());
    // Producer enqueues first, then the consumer asks: the consumer does not sleep.
    let (mem, layout) = ring(4);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    p.enqueue(d(0)).unwrap();
    let notified = p.should_notify();
    let sleeps = c.request_signal().unwrap();
    assert!(notified || !sleeps, "the consumer would sleep with a descriptor waiting and no notification");
    assert!(!sleeps);
}

#[test]
fn cancel_signal_withdraws_a_request() {
    let (mem, layout) = ring(4);
    let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
    assert_eq!(c.request_signal(), Ok(true));
    c.cancel_signal().unwrap();
    p.enqueue(d(0)).unwrap();
    assert!(!p.should_notify());
}

#[test]
fn any_non_zero_flag_from_the_peer_is_a_request() {
    let (mem, layout) = ring(4);
    let (mut p, _c) = split(&mem, layout, Bounds::ANY).unwrap();
    poke(&mem, NEED_SIGNAL, 0xdead_beef);
    p.enqueue(d(0)).unwrap();
    assert!(p.should_notify());
    assert!(!p.should_notify());
}
