//! The restart protocol: boot in either order, a driver dying mid-batch, bad
//! completions, double restarts, a restarted server, and a lying driver.

use std::sync::atomic::Ordering;

use driver_queue::{
    Bounds, Desc, Direction, Driver, HeapMem, Layout, LayoutError, Link, PairSpec, QueueError, Reclaimed, RingKind,
    Server, SharedMem, status,
};

const EPOCH: usize = 0;
const ATTACH: usize = 64;
const TX: usize = 0;
const RX: usize = 1;
const BUF: u64 = 2048;

fn specs() -> [PairSpec; 2] {
    let bounds = Bounds::region(64 * BUF).with_buf_size(BUF);
    [PairSpec::new(Direction::ToDevice, bounds), PairSpec::new(Direction::FromDevice, bounds)]
}

fn layout() -> Layout {
    Layout::new(0, 8, 2).unwrap()
}

fn mem() -> HeapMem {
    HeapMem::new(layout().bytes())
}

fn poke(mem: &HeapMem, at: usize, value: u64) {
    mem.word(at).unwrap().store(value, Ordering::Relaxed);
}

fn peek(mem: &HeapMem, at: usize) -> u64 {
    mem.word(at).unwrap().load(Ordering::Relaxed)
}

fn req(i: u64) -> Desc {
    Desc { offset: i * BUF, len: 1000 + i as u32, id: 0, op: 1, status: 0, arg: 100 + i }
}

/// A server and a driver attached to it.
fn attached(mem: &HeapMem) -> (Server<&HeapMem>, Driver<&HeapMem>) {
    let mut server = Server::new(mem, layout(), &specs()).unwrap();
    let mut driver = Driver::new(mem, layout(), &specs()).unwrap();
    assert!(server.poll_attach().unwrap().is_some());
    assert!(matches!(driver.poll().unwrap(), Link::Attached { .. }));
    (server, driver)
}

#[test]
fn boot_with_the_server_first() {
    let mem = mem();
    let mut server = Server::new(&mem, layout(), &specs()).unwrap();
    assert_eq!(server.epoch(), 1);
    assert!(!server.driver_attached());
    let mut driver = Driver::new(&mem, layout(), &specs()).unwrap();
    assert_eq!(peek(&mem, ATTACH), 2, "the driver asks for the next epoch");
    assert_eq!(driver.poll(), Ok(Link::Waiting));
    assert_eq!(driver.pair(0).err(), Some(QueueError::NotAttached));
    let recovery = server.poll_attach().unwrap().unwrap();
    assert_eq!(recovery.epoch, 2);
    assert!(recovery.in_flight.is_empty() && recovery.completed.is_empty() && recovery.peer_faults.is_empty());
    assert_eq!(driver.poll(), Ok(Link::Attached { epoch: 2 }));
    assert_eq!(driver.poll(), Ok(Link::Ready));
    assert!(server.driver_attached());
    assert_eq!(server.poll_attach(), Ok(None));
}

#[test]
fn boot_with_the_driver_first() {
    let mem = mem();
    let mut driver = Driver::new(&mem, layout(), &specs()).unwrap();
    assert_eq!(driver.poll(), Ok(Link::Waiting), "epoch 0: nobody set the queues up");
    let mut server = Server::new(&mem, layout(), &specs()).unwrap();
    // The server's start is a reset; it answers the pending request.
    assert_eq!(driver.poll(), Ok(Link::Attached { epoch: 1 }));
    assert_eq!(server.poll_attach(), Ok(None));
    assert!(server.driver_attached());
}

#[test]
fn requests_and_completions_flow_and_only_len_and_status_come_from_the_driver() {
    let mem = mem();
    let (mut server, mut driver) = attached(&mem);
    let id = server.pair(TX).unwrap().submit(req(3)).unwrap();
    assert!(server.pair(TX).unwrap().should_notify(), "a fresh driver waits for work");
    let got = driver.pair(TX).unwrap().next_request().unwrap().unwrap();
    assert_eq!(got, Desc { id, ..req(3) });
    driver.pair(TX).unwrap().complete(Desc { len: 10, status: status::IO_ERROR, ..got }).unwrap();
    assert!(driver.pair(TX).unwrap().should_notify(), "the server waits for completions");
    let done = server.pair(TX).unwrap().complete().unwrap().unwrap();
    assert_eq!(done.id, id);
    assert_eq!(done.request, Desc { id, ..req(3) });
    assert_eq!((done.len, done.status), (10, status::IO_ERROR));
    assert_eq!(server.pair(TX).unwrap().in_flight(), 0);
    assert_eq!(server.pair(TX).unwrap().complete(), Ok(None));
}

#[test]
fn at_most_a_ring_of_requests_in_flight_so_completions_always_fit() {
    let mem = mem();
    let (mut server, mut driver) = attached(&mem);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(server.pair(RX).unwrap().submit(req(i)).unwrap());
    }
    assert_eq!(server.pair(RX).unwrap().submit(req(8)), Err(QueueError::Full));
    ids.sort();
    assert_eq!(ids, (0..8).collect::<Vec<u32>>(), "ids are distinct");
    // The driver can complete all of them: the completion ring has room.
    let dp = driver.pair(RX).unwrap();
    while let Some(r) = dp.next_request().unwrap() {
        dp.complete(Desc { len: 60, ..r }).unwrap();
    }
    for _ in 0..8 {
        assert_eq!(server.pair(RX).unwrap().complete().unwrap().unwrap().len, 60);
    }
    assert!(server.pair(RX).unwrap().submit(req(8)).is_ok(), "ids are reused");
}

#[test]
fn a_driver_that_dies_mid_batch_leaves_exactly_its_unfinished_requests_in_flight() {
    let mem = mem();
    let (mut server, mut driver) = attached(&mem);
    let tx: Vec<u32> = (0..6).map(|i| server.pair(TX).unwrap().submit(req(i)).unwrap()).collect();
    let rx: Vec<u32> = (10..13).map(|i| server.pair(RX).unwrap().submit(req(i)).unwrap()).collect();

    // The driver takes four TX requests and completes two.
    let taken: Vec<Desc> = (0..4).map(|_| driver.pair(TX).unwrap().next_request().unwrap().unwrap()).collect();
    driver.pair(TX).unwrap().complete(taken[0]).unwrap();
    driver.pair(TX).unwrap().complete(taken[2]).unwrap();
    // The third completion is written but its tail never published: the
    // driver died in the middle of its batch.
    let free = layout().ring(TX, RingKind::Free).unwrap().offset();
    driver.pair(TX).unwrap().complete(taken[1]).unwrap();
    poke(&mem, free, 2);
    // On RX it filled one buffer of the two it took.
    let b0 = driver.pair(RX).unwrap().next_request().unwrap().unwrap();
    let _b1 = driver.pair(RX).unwrap().next_request().unwrap().unwrap();
    driver.pair(RX).unwrap().complete(Desc { len: 60, ..b0 }).unwrap();
    drop(driver);

    // A fresh copy starts and asks; the server resets.
    let mut driver = Driver::new(&mem, layout(), &specs()).unwrap();
    let r = server.poll_attach().unwrap().unwrap();
    assert!(r.peer_faults.is_empty(), "{:?}", r.peer_faults);
    let completed: Vec<(usize, u32)> = r.completed.iter().map(|(p, c)| (*p, c.id)).collect();
    assert_eq!(completed, vec![(TX, tx[0]), (TX, tx[2]), (RX, rx[0])]);
    assert_eq!(r.completed[2].1.len, 60);
    let expect: Vec<Reclaimed> = [(TX, 1, tx[1]), (TX, 3, tx[3]), (TX, 4, tx[4]), (TX, 5, tx[5])]
        .into_iter()
        .chain([(RX, 11, rx[1]), (RX, 12, rx[2])])
        .map(|(pair, i, id)| Reclaimed { pair, request: Desc { id, ..req(i) } })
        .collect();
    assert_eq!(r.in_flight, expect, "exactly the uncompleted requests, in submission order");
    for pair in 0..2 {
        assert_eq!(server.pair(pair).unwrap().in_flight(), 0);
    }

    // The new driver finds clean, empty rings; the server resubmits.
    assert_eq!(driver.poll(), Ok(Link::Attached { epoch: r.epoch }));
    assert_eq!(driver.pair(TX).unwrap().next_request(), Ok(None));
    for Reclaimed { pair, request } in &r.in_flight {
        server.pair(*pair).unwrap().submit(*request).unwrap();
    }
    let resent: Vec<u64> =
        std::iter::from_fn(|| driver.pair(TX).unwrap().next_request().unwrap()).map(|d| d.arg).collect();
    assert_eq!(resent, vec![101, 103, 104, 105]);
}

#[test]
fn bad_completions_are_reported_and_their_requests_stay_in_flight() {
    let mem = mem();
    let (mut server, mut driver) = attached(&mem);
    let ids: Vec<u32> = (0..4).map(|i| server.pair(TX).unwrap().submit(req(i)).unwrap()).collect();
    let dp = driver.pair(TX).unwrap();
    let r: Vec<Desc> = (0..4).map(|_| dp.next_request().unwrap().unwrap()).collect();
    dp.complete(Desc { id: 7, ..r[0] }).unwrap(); // never submitted
    dp.complete(r[0]).unwrap(); // good
    dp.complete(r[0]).unwrap(); // twice
    dp.complete(Desc { offset: r[1].offset + BUF, ..r[1] }).unwrap(); // another buffer
    dp.complete(Desc { len: r[2].len + 1, ..r[2] }).unwrap(); // longer than the request
    dp.complete(Desc { arg: 9, ..r[3] }).unwrap(); // another block
    let sp = server.pair(TX).unwrap();
    assert_eq!(sp.complete(), Err(QueueError::UnknownId { id: 7 }));
    assert_eq!(sp.complete().unwrap().unwrap().id, ids[0]);
    assert_eq!(sp.complete(), Err(QueueError::UnknownId { id: ids[0] }));
    assert_eq!(sp.complete(), Err(QueueError::Mismatch { id: ids[1] }));
    assert_eq!(sp.complete(), Err(QueueError::Mismatch { id: ids[2] }));
    let e = sp.complete().unwrap_err();
    assert_eq!(e, QueueError::Mismatch { id: ids[3] });
    assert!(e.is_peer_fault());
    assert_eq!(sp.in_flight(), 3);
    drop(driver);
    let _driver = Driver::new(&mem, layout(), &specs()).unwrap();
    let rec = server.poll_attach().unwrap().unwrap();
    let back: Vec<u32> = rec.in_flight.iter().map(|r| r.request.id).collect();
    assert_eq!(back, ids[1..].to_vec());
}

#[test]
fn a_descriptor_outside_the_data_region_is_a_peer_fault_on_both_sides() {
    let mem = mem();
    let (mut server, mut driver) = attached(&mem);
    // The server refuses to submit one (a bug on its side, not a peer fault).
    let e = server.pair(TX).unwrap().submit(Desc::new(64 * BUF, 1)).unwrap_err();
    assert!(matches!(e, QueueError::Rejected { .. }) && !e.is_peer_fault());
    // A request forged into the ring is caught by the driver.
    let active = layout().ring(TX, RingKind::Active).unwrap().offset();
    poke(&mem, active + 128, 1 << 40);
    poke(&mem, active, 1);
    assert!(matches!(driver.pair(TX).unwrap().next_request(), Err(QueueError::BadDescriptor { .. })));
    // A completion forged into the ring is caught by the server.
    let free = layout().ring(TX, RingKind::Free).unwrap().offset();
    poke(&mem, free + 128, 1 << 40);
    poke(&mem, free, 1);
    let e = server.pair(TX).unwrap().complete().unwrap_err();
    assert!(matches!(e, QueueError::BadDescriptor { .. }) && e.is_peer_fault());
}

#[test]
fn a_corrupt_ring_at_reset_is_reported_and_everything_is_in_flight() {
    let mem = mem();
    let (mut server, mut driver) = attached(&mem);
    for i in 0..3 {
        server.pair(TX).unwrap().submit(req(i)).unwrap();
    }
    let r = driver.pair(TX).unwrap().next_request().unwrap().unwrap();
    driver.pair(TX).unwrap().complete(r).unwrap();
    let free = layout().ring(TX, RingKind::Free).unwrap().offset();
    poke(&mem, free, 1000); // the dying driver scribbled on its tail
    drop(driver);
    let mut driver = Driver::new(&mem, layout(), &specs()).unwrap();
    let rec = server.poll_attach().unwrap().unwrap();
    assert_eq!(rec.peer_faults, vec![(TX, QueueError::Corrupt { theirs: 1000, ours: 0 })]);
    assert!(rec.completed.is_empty());
    assert_eq!(rec.in_flight.len(), 3);
    assert_eq!(peek(&mem, free), 0, "the ring is clean again");
    assert!(matches!(driver.poll(), Ok(Link::Attached { .. })));
    assert_eq!(driver.pair(TX).unwrap().next_request(), Ok(None));
}

#[test]
fn a_driver_dying_before_the_answer_hands_its_request_to_its_successor() {
    let mem = mem();
    let (mut server, driver) = attached(&mem);
    let epoch = server.epoch();
    drop(driver);
    let second = Driver::new(&mem, layout(), &specs()).unwrap();
    drop(second); // dies before the server answers
    let mut third = Driver::new(&mem, layout(), &specs()).unwrap();
    assert_eq!(peek(&mem, ATTACH), epoch + 1, "the same request");
    assert_eq!(server.poll_attach().unwrap().unwrap().epoch, epoch + 1);
    assert_eq!(server.poll_attach(), Ok(None), "one reset answers both");
    assert_eq!(third.poll(), Ok(Link::Attached { epoch: epoch + 1 }));
}

#[test]
fn a_driver_dying_after_attaching_makes_its_successor_ask_for_the_next_epoch() {
    let mem = mem();
    let (mut server, _first) = attached(&mem);
    let mut second = Driver::new(&mem, layout(), &specs()).unwrap();
    server.poll_attach().unwrap().unwrap();
    assert!(matches!(second.poll(), Ok(Link::Attached { .. })));
    server.pair(TX).unwrap().submit(req(0)).unwrap();
    second.pair(TX).unwrap().next_request().unwrap().unwrap();
    drop(second); // took a request and died
    let mut third = Driver::new(&mem, layout(), &specs()).unwrap();
    let rec = server.poll_attach().unwrap().unwrap();
    assert_eq!(rec.in_flight.len(), 1);
    assert_eq!(third.poll(), Ok(Link::Attached { epoch: rec.epoch }));
}

#[test]
fn a_restarted_server_makes_a_live_driver_attach_again() {
    let mem = mem();
    let (server, mut driver) = attached(&mem);
    let epoch = server.epoch();
    drop(server);
    let mut server = Server::new(&mem, layout(), &specs()).unwrap();
    assert_eq!(server.epoch(), epoch + 1);
    assert_eq!(driver.poll(), Ok(Link::Reset));
    assert!(!driver.is_attached());
    assert_eq!(driver.pair(0).err(), Some(QueueError::NotAttached));
    let rec = server.poll_attach().unwrap().unwrap();
    assert_eq!(rec.epoch, epoch + 2);
    assert_eq!(driver.poll(), Ok(Link::Attached { epoch: epoch + 2 }));
}

#[test]
fn a_request_overtaken_by_a_server_restart_is_renewed() {
    let mem = mem();
    let mut driver = Driver::new(&mem, layout(), &specs()).unwrap(); // asks 1
    poke(&mem, EPOCH, 5); // servers came and went
    assert_eq!(driver.poll(), Ok(Link::Requested));
    assert_eq!(peek(&mem, ATTACH), 6);
    assert_eq!(driver.poll(), Ok(Link::Waiting));
}

#[test]
fn garbage_in_the_attach_word_is_a_peer_fault() {
    let mem = mem();
    let mut server = Server::new(&mem, layout(), &specs()).unwrap();
    poke(&mem, ATTACH, server.epoch() + 5);
    let e = server.poll_attach().unwrap_err();
    assert_eq!(e, QueueError::BadAttach { value: server.epoch() + 5 });
    assert!(e.is_peer_fault());
    poke(&mem, ATTACH, u64::MAX);
    assert_eq!(server.poll_attach(), Ok(None), "behind the epoch: a stale request, renewed by the driver");
}

#[test]
fn a_driver_built_for_another_shape_refuses_to_attach() {
    let other = Layout::new(0, 4, 2).unwrap();
    let mem = mem();
    let _server = Server::new(&mem, layout(), &specs()).unwrap();
    let mut driver = Driver::new(&mem, other, &specs()).unwrap();
    let _server = Server::new(&mem, layout(), &specs()).unwrap(); // answers the request
    let e = driver.poll().unwrap_err();
    assert_eq!(e, QueueError::LayoutMismatch { found: layout().shape(), expected: other.shape() });
    assert!(e.is_peer_fault());
}

#[test]
fn specs_must_match_the_layout_and_memory_must_hold_it() {
    let mem = mem();
    let one = [specs()[0]];
    let e = Err(QueueError::Layout(LayoutError::PairCount { layout: 2, given: 1 }));
    assert_eq!(Server::new(&mem, layout(), &one).map(|_| ()), e);
    assert_eq!(Driver::new(&mem, layout(), &one).map(|_| ()), e);
    let small = HeapMem::new(layout().bytes() - 64);
    assert!(matches!(Server::new(&small, layout(), &specs()), Err(QueueError::Memory(_))));
    assert!(matches!(Driver::new(&small, layout(), &specs()), Err(QueueError::Memory(_))));
    assert!(matches!(Server::new(&mem, layout(), &specs()).unwrap().pair(2), Err(QueueError::NoSuchPair(2))));
}
