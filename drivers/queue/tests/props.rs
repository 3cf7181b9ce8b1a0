//! Property tests: a ring against a model queue, garbage from a peer, and the
//! restart protocol's accounting (every request completed or reclaimed, once).

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering;

use driver_queue::{
    Bounds, Consumer, Desc, Direction, Driver, HeapMem, Layout, Link, PairSpec, Producer, QueueError, RingKind,
    RingLayout, Server, SharedMem, split,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Enqueue(u64),
    Dequeue,
    RequestSignal,
    ShouldNotify,
    Len,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u64>().prop_map(Op::Enqueue),
        4 => Just(Op::Dequeue),
        1 => Just(Op::RequestSignal),
        1 => Just(Op::ShouldNotify),
        1 => Just(Op::Len),
    ]
}

proptest! {
    #[test]
    fn a_ring_behaves_like_a_bounded_fifo_with_a_signal_flag(cap_log in 0u32..5, ops in prop::collection::vec(op(), 1..300)) {
        let cap = 1u64 << cap_log;
        let layout = RingLayout::new(0, cap).unwrap();
        let mem = HeapMem::new(layout.end());
        let (mut p, mut c) = split(&mem, layout, Bounds::ANY).unwrap();
        let mut model = VecDeque::new();
        let mut flag = false;
        for op in ops {
            match op {
                Op::Enqueue(x) => {
                    let d = Desc { offset: x >> 1, len: x as u32 >> 1, id: (x >> 32) as u32, op: 0, status: 0, arg: x };
                    if model.len() as u64 == cap {
                        prop_assert_eq!(p.enqueue(d), Err(QueueError::Full));
                    } else {
                        prop_assert_eq!(p.enqueue(d), Ok(()));
                        model.push_back(d);
                    }
                }
                Op::Dequeue => prop_assert_eq!(c.dequeue(), Ok(model.pop_front())),
                Op::RequestSignal => {
                    prop_assert_eq!(c.request_signal(), Ok(model.is_empty()));
                    flag = model.is_empty();
                }
                Op::ShouldNotify => {
                    prop_assert_eq!(p.should_notify(), flag);
                    flag = false;
                }
                Op::Len => {
                    prop_assert_eq!(p.len(), Ok(model.len() as u64));
                    prop_assert_eq!(c.len(), Ok(model.len() as u64));
                    prop_assert_eq!(p.is_full(), Ok(model.len() as u64 == cap));
                }
            }
        }
    }

    #[test]
    fn garbage_from_the_peer_is_caught_never_trusted(
        words in prop::collection::vec(any::<u64>(), (4 * 8 + 16) as usize),
        small in prop::collection::vec(0u64..20, 3),
        use_small in any::<bool>(),
    ) {
        let cap = 8u64;
        let layout = RingLayout::new(0, cap).unwrap();
        let mem = HeapMem::new(layout.end());
        for (i, w) in words.iter().enumerate() {
            mem.word(8 * i).unwrap().store(*w, Ordering::Relaxed);
        }
        if use_small {
            // Plausible-looking indices, to get past attach more often.
            mem.word(0).unwrap().store(small[0], Ordering::Relaxed);
            mem.word(64).unwrap().store(small[1], Ordering::Relaxed);
        }
        let bounds = Bounds::region(1 << 20).with_buf_size(4096);
        let (tail, head) = (mem.word(0).unwrap().load(Ordering::Relaxed), mem.word(64).unwrap().load(Ordering::Relaxed));
        let sane = tail.wrapping_sub(head) <= cap;
        match Consumer::attach(&mem, layout, bounds) {
            Err(e) => prop_assert!(!sane && e.is_peer_fault()),
            Ok(mut c) => {
                prop_assert!(sane);
                for _ in 0..2 * cap {
                    match c.dequeue() {
                        Ok(Some(d)) => prop_assert!(bounds.check(&d).is_ok()),
                        Ok(None) => break,
                        Err(e) => prop_assert!(e.is_peer_fault()),
                    }
                }
                prop_assert!(c.len().unwrap() <= cap);
                // The producer moves its tail somewhere: still checked.
                mem.word(0).unwrap().store(small[2].wrapping_add(head), Ordering::Relaxed);
                match c.len() {
                    Ok(n) => prop_assert!(n <= cap),
                    Err(e) => prop_assert!(e.is_peer_fault()),
                }
            }
        }
        if let Ok(mut p) = Producer::attach(&mem, layout, bounds) {
            for i in 0..2 * cap {
                match p.enqueue(Desc::new(i * 4096, 1)) {
                    Ok(()) | Err(QueueError::Full) => {}
                    Err(e) => prop_assert!(e.is_peer_fault()),
                }
            }
        }
    }

    /// Submit, let the driver take some, complete some (a few wrongly), maybe
    /// die mid-batch; after the reset every request is completed exactly once
    /// or reclaimed exactly once, and the reclaimed ones are in submission order.
    #[test]
    fn after_a_restart_every_request_is_completed_or_reclaimed_exactly_once(
        n in 0usize..=16,
        take in 0usize..=16,
        complete_mask in any::<u16>(),
        forge_mask in any::<u16>(),
        unpublished in 0u64..3,
    ) {
        let spec = PairSpec::new(Direction::ToDevice, Bounds::region(16 * 4096).with_buf_size(4096));
        let layout = Layout::new(0, 16, 1).unwrap();
        let mem = HeapMem::new(layout.bytes());
        let mut server = Server::new(&mem, layout, &[spec]).unwrap();
        let mut driver = Driver::new(&mem, layout, &[spec]).unwrap();
        server.poll_attach().unwrap().unwrap();
        let attached = matches!(driver.poll(), Ok(Link::Attached { .. }));
        prop_assert!(attached);

        let mut submitted = Vec::new();
        for i in 0..n as u64 {
            let id = server.pair(0).unwrap().submit(Desc { offset: i * 4096, len: 100, id: 0, op: 1, status: 0, arg: i }).unwrap();
            submitted.push((id, i));
        }
        let mut published = 0u64;
        for k in 0..take.min(n) {
            let r = driver.pair(0).unwrap().next_request().unwrap().unwrap();
            if complete_mask & (1 << k) != 0 {
                let done = if forge_mask & (1 << k) != 0 { Desc { arg: r.arg + 1000, ..r } } else { Desc { len: 50, ..r } };
                driver.pair(0).unwrap().complete(done).unwrap();
                published += 1;
            }
        }
        // Maybe the last few completions were never published.
        let free = layout.ring(0, RingKind::Free).unwrap().offset();
        let keep = published.saturating_sub(unpublished);
        mem.word(free).unwrap().store(keep, Ordering::Relaxed);
        drop(driver);

        let mut completed = BTreeSet::new();
        // The server may have taken some completions before the driver died.
        if complete_mask & 1 != 0 {
            loop {
                match server.pair(0).unwrap().complete() {
                    Ok(Some(c)) => { prop_assert!(completed.insert(c.request.arg)); }
                    Ok(None) => break,
                    Err(e) => { prop_assert!(e.is_peer_fault()); }
                }
            }
        }
        let _driver = Driver::new(&mem, layout, &[spec]).unwrap();
        let rec = server.poll_attach().unwrap().unwrap();
        for e in &rec.peer_faults {
            prop_assert!(e.1.is_peer_fault());
        }
        for (_, c) in &rec.completed {
            prop_assert!(completed.insert(c.request.arg), "completed twice");
            prop_assert_eq!(c.len, 50);
        }
        let reclaimed: Vec<u64> = rec.in_flight.iter().map(|r| r.request.arg).collect();
        prop_assert!(reclaimed.windows(2).all(|w| w[0] < w[1]), "submission order");
        for a in &reclaimed {
            prop_assert!(!completed.contains(a), "both completed and reclaimed");
        }
        let all: BTreeSet<u64> = completed.iter().copied().chain(reclaimed.iter().copied()).collect();
        prop_assert_eq!(all.len(), n, "lost requests");
        prop_assert_eq!(all, submitted.iter().map(|s| s.1).collect::<BTreeSet<u64>>());
        // Forged completions are never counted as completed.
        prop_assert!(rec.completed.iter().all(|(_, c)| c.request.arg < 1000));
    }
}
