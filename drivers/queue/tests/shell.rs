//! The PD shells: a request through both, a driver restart, and the error
//! policy — a peer fault is reported and skipped (or the rings abandoned for a
//! clean state), a broken device fails its request and panics.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;

use driver_queue::{
    Bounds, Desc, Direction, Driver, DriverShell, Event, HeapMem, Layout, LayoutError, Link, Notify, PairSpec,
    QueueClient, QueueError, QueueSpec, Reply, RingKind, Server, SharedMem, status,
};

const BUF: u64 = 1024;
const DATA: u64 = 16 * BUF;
const TX: usize = 0;
const RX: usize = 1;
const EPOCH: usize = 0;
const ATTACH: usize = 64;

const LAYOUT: Layout = match Layout::new(0, 8, 2) {
    Ok(l) => l,
    Err(_) => panic!(),
};
const PAIRS: [PairSpec; 2] = [
    PairSpec::new(Direction::ToDevice, Bounds::span(0, DATA / 2).with_buf_size(BUF)),
    PairSpec::new(Direction::FromDevice, Bounds::span(DATA / 2, DATA / 2).with_buf_size(BUF)),
];
const SPEC: QueueSpec = QueueSpec { layout: LAYOUT, pairs: &PAIRS, data_bytes: DATA };

/// A channel end that counts its notifications.
#[derive(Default)]
struct Bell(Cell<u32>);

impl Notify for Bell {
    fn notify(&self) {
        self.0.set(self.0.get() + 1)
    }
}

impl Bell {
    fn rung(&self) -> u32 {
        self.0.replace(0)
    }
}

struct Mems {
    queues: HeapMem,
    data: HeapMem,
}

fn mems() -> Mems {
    Mems { queues: HeapMem::new(LAYOUT.bytes()), data: HeapMem::new(DATA as usize) }
}

fn poke(mem: &HeapMem, at: usize, value: u64) {
    mem.word(at).unwrap().store(value, Ordering::Relaxed);
}

fn peek(mem: &HeapMem, at: usize) -> u64 {
    mem.word(at).unwrap().load(Ordering::Relaxed)
}

fn send(i: u64) -> Desc {
    Desc { op: 7, arg: 100 + i, ..Desc::new(i * BUF, 10 + i as u32) }
}

fn events<M: SharedMem + Clone, N: Notify>(client: &mut QueueClient<M, N>) -> Vec<Event> {
    std::iter::from_fn(|| client.next_event()).collect()
}

/// Serves every request of `pair` with "done, all bytes moved".
fn serve_ok<M: SharedMem + Clone, N: Notify>(shell: &mut DriverShell<M, N>, pair: usize) -> Vec<Desc> {
    let mut served = Vec::new();
    shell.serve_all(pair, |_, req| {
        served.push(*req);
        Ok::<_, ()>(Reply::ok(req.len))
    });
    served
}

#[test]
fn requests_go_through_both_shells_and_a_fresh_driver_gets_what_the_dead_one_held() {
    let m = mems();
    let (to_driver, to_client) = (Bell::default(), Bell::default());
    let mut client = QueueClient::new("client", &m.queues, &m.data, &SPEC, &to_driver).unwrap();
    // Submitted before any driver: they wait in the ring.
    client.submit(TX, send(0)).unwrap();
    client.submit(TX, send(1)).unwrap();
    client.submit(RX, Desc::new(DATA / 2, BUF as u32)).unwrap();
    let mut driver = DriverShell::new("driver", &m.queues, &m.data, &SPEC, &to_client).unwrap();
    assert_eq!(to_client.rung(), 1, "the driver asks to be attached");
    assert!(!driver.on_notify(), "no answer yet");

    // The client resets the queues and gets back what it had submitted.
    let got = events(&mut client);
    assert_eq!(got[0], Event::Attached { epoch: 2 });
    let reclaimed: Vec<_> = got[1..]
        .iter()
        .map(|e| match e {
            Event::Reclaimed(r) => (r.pair, r.request.offset),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reclaimed, [(TX, 0), (TX, BUF), (RX, DATA / 2)]);
    assert!(to_driver.rung() >= 1, "the driver is told the queues are ready");
    for e in got {
        if let Event::Reclaimed(r) = e {
            client.resubmit(r).unwrap();
        }
    }

    assert!(driver.on_notify(), "attached");
    let served = serve_ok(&mut driver, TX);
    assert_eq!(served.iter().map(|d| d.arg).collect::<Vec<_>>(), [100, 101]);
    let filled = driver.serve_one(RX, |data, buf| {
        data.write_bytes(buf.offset as usize, b"hello").unwrap();
        Ok::<_, ()>(Reply::ok(5))
    });
    assert!(filled);
    assert!(!driver.serve_one(RX, |_, _| -> Result<Reply, ()> { panic!("no buffer is posted") }));
    assert!(to_client.rung() >= 1, "completions notify the client");
    let done = events(&mut client);
    assert_eq!(done.len(), 3, "{done:?}");
    let Event::Completed { pair: RX, completion } = done[2] else { panic!("{done:?}") };
    assert_eq!((completion.status, completion.len), (status::OK, 5));
    let mut hello = [0u8; 5];
    client.data().read_bytes(completion.request.offset as usize, &mut hello).unwrap();
    assert_eq!(&hello, b"hello");

    // The driver dies with a request in flight; a fresh copy asks to attach,
    // and the request comes back to be resubmitted to it.
    client.submit(TX, send(2)).unwrap();
    drop(driver);
    let mut fresh = DriverShell::new("driver", &m.queues, &m.data, &SPEC, &to_client).unwrap();
    let got = events(&mut client);
    assert_eq!(got[0], Event::Attached { epoch: 3 });
    let Event::Reclaimed(r) = got[1] else { panic!("{got:?}") };
    assert_eq!(r.request.arg, 102);
    client.resubmit(r).unwrap();
    assert!(fresh.on_notify());
    assert_eq!(serve_ok(&mut fresh, TX).len(), 1);
    assert!(matches!(events(&mut client)[..], [Event::Completed { pair: TX, .. }]));
    assert_eq!((client.peer_faults().count, fresh.peer_faults().count), (0, 0));
}

#[test]
fn a_data_region_of_the_wrong_size_is_refused() {
    let queues = HeapMem::new(LAYOUT.bytes());
    let small = HeapMem::new(DATA as usize / 2);
    let expected = Err(QueueError::Layout(LayoutError::DataSize { found: DATA / 2, expected: DATA }));
    assert_eq!(QueueClient::new("c", &queues, &small, &SPEC, Bell::default()).map(|_| ()), expected);
    assert_eq!(DriverShell::new("d", &queues, &small, &SPEC, Bell::default()).map(|_| ()), expected);
}

/// A driver shell attached to a raw server (a client that may misbehave,
/// with pair specs of its own).
fn attached_to_raw_server<'m>(
    m: &'m Mems,
    specs: &[PairSpec],
) -> (Server<&'m HeapMem>, DriverShell<&'m HeapMem, Bell>) {
    let mut server = Server::new(&m.queues, LAYOUT, specs).unwrap();
    let mut shell = DriverShell::new("driver", &m.queues, &m.data, &SPEC, Bell::default()).unwrap();
    assert!(server.poll_attach().unwrap().is_some());
    assert!(shell.on_notify());
    (server, shell)
}

#[test]
fn a_request_outside_the_data_region_is_reported_and_skipped() {
    let m = mems();
    // The client's own specs let anything through; the driver's do not.
    let lax = [PairSpec::new(Direction::ToDevice, Bounds::ANY), PairSpec::new(Direction::FromDevice, Bounds::ANY)];
    let (mut server, mut shell) = attached_to_raw_server(&m, &lax);
    let tx = server.pair(TX).unwrap();
    tx.submit(Desc::new(DATA * 4, 10)).unwrap(); // outside the region
    tx.submit(send(1)).unwrap();
    let served = serve_ok(&mut shell, TX);
    assert_eq!(served.iter().map(|d| d.arg).collect::<Vec<_>>(), [101], "the good one is served");
    let faults = shell.peer_faults();
    assert_eq!(faults.count, 1);
    assert!(matches!(faults.last, Some(QueueError::BadDescriptor { .. })), "{faults:?}");
    assert!(shell.is_attached(), "a skipped descriptor leaves the rings usable");
    assert_eq!(server.pair(TX).unwrap().complete().unwrap().map(|c| c.request.arg), Some(101));
}

#[test]
fn an_impossible_index_from_the_client_makes_the_driver_ask_for_a_clean_state() {
    let m = mems();
    let (mut server, mut shell) = attached_to_raw_server(&m, &PAIRS);
    server.pair(TX).unwrap().submit(send(0)).unwrap();
    let ring = LAYOUT.ring(TX, RingKind::Active).unwrap();
    let queues = &m.queues;
    poke(queues, ring.offset(), 1 << 40); // the request ring's tail: far beyond a ring's worth
    assert!(serve_ok(&mut shell, TX).is_empty());
    let faults = shell.peer_faults();
    assert_eq!(faults.count, 1);
    assert!(matches!(faults.last, Some(QueueError::Corrupt { .. })), "{faults:?}");
    assert!(!shell.is_attached(), "the driver stopped using the rings");
    assert_eq!(peek(queues, ATTACH), peek(queues, EPOCH) + 1, "and asked for the next epoch");
    // The client resets: the request comes back; the driver attaches again.
    let recovery = server.poll_attach().unwrap().expect("a reset");
    assert_eq!(recovery.in_flight.len(), 1);
    assert!(shell.on_notify());
}

#[test]
fn a_broken_device_fails_the_request_notifies_and_panics() {
    let m = mems();
    let to_client = Bell::default();
    let mut client = QueueClient::new("client", &m.queues, &m.data, &SPEC, Bell::default()).unwrap();
    let mut shell = DriverShell::new("driver", &m.queues, &m.data, &SPEC, &to_client).unwrap();
    for e in events(&mut client) {
        assert!(matches!(e, Event::Attached { .. }));
    }
    assert!(shell.on_notify());
    client.submit(TX, send(0)).unwrap();
    to_client.rung();
    let panic = catch_unwind(AssertUnwindSafe(|| {
        shell.serve_one(TX, |_, _| Err::<Reply, _>("a used-ring id it never got"));
    }))
    .expect_err("a broken device is a panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(message, "driver: the device misbehaved (\"a used-ring id it never got\"); giving it up");
    assert!(to_client.rung() >= 1, "the client was told before the panic");
    let done = events(&mut client);
    let [Event::Completed { completion, .. }] = done[..] else { panic!("{done:?}") };
    assert_eq!((completion.status, completion.len), (status::IO_ERROR, 0), "the request failed, not lost");
}

#[test]
fn a_forged_completion_is_reported_and_skipped_by_the_client() {
    let m = mems();
    let mut client = QueueClient::new("client", &m.queues, &m.data, &SPEC, Bell::default()).unwrap();
    let mut driver = Driver::new(&m.queues, LAYOUT, &PAIRS).unwrap();
    assert!(matches!(events(&mut client)[..], [Event::Attached { .. }]));
    assert!(matches!(driver.poll(), Ok(Link::Attached { .. })));
    client.submit(TX, send(0)).unwrap();
    let pair = driver.pair(TX).unwrap();
    let req = pair.next_request().unwrap().unwrap();
    pair.complete(Desc { id: req.id + 5, ..req }).unwrap(); // no such request
    pair.complete(Desc { arg: 999, ..req }).unwrap(); // not what was asked
    pair.complete(Desc { status: status::OK, ..req }).unwrap();
    let done = events(&mut client);
    assert!(
        matches!(done[..], [Event::Completed { pair: TX, completion }] if completion.request.arg == 100),
        "{done:?}"
    );
    let faults = client.peer_faults();
    assert_eq!(faults.count, 2);
    assert_eq!(faults.last, Some(QueueError::Mismatch { id: req.id }));
}

#[test]
fn a_ring_the_driver_corrupted_is_stopped_until_the_driver_attaches_again() {
    let m = mems();
    let mut client = QueueClient::new("client", &m.queues, &m.data, &SPEC, Bell::default()).unwrap();
    let mut driver = Driver::new(&m.queues, LAYOUT, &PAIRS).unwrap();
    events(&mut client);
    driver.poll().unwrap();
    client.submit(TX, send(0)).unwrap();
    client.submit(RX, Desc::new(DATA / 2, BUF as u32)).unwrap();
    // The driver fills the RX buffer, and scribbles on the TX completion ring.
    let rx = driver.pair(RX).unwrap();
    let buf = rx.next_request().unwrap().unwrap();
    rx.complete(Desc { len: 1, ..buf }).unwrap();
    poke(&m.queues, LAYOUT.ring(TX, RingKind::Free).unwrap().offset(), 1 << 40);
    let done = events(&mut client);
    assert!(matches!(done[..], [Event::Completed { pair: RX, .. }]), "the other pair goes on: {done:?}");
    assert!(matches!(client.peer_faults().last, Some(QueueError::Corrupt { .. })));
    assert_eq!(client.submit(TX, send(1)), Err(QueueError::NotAttached), "the pair is stopped");
    assert!(events(&mut client).is_empty(), "and not read again");
    assert_eq!(client.peer_faults().count, 1);
    // A fresh driver: the reset gives the request back and the pair works again.
    let _fresh = Driver::new(&m.queues, LAYOUT, &PAIRS).unwrap();
    let got = events(&mut client);
    assert!(matches!(got[0], Event::Attached { .. }));
    assert!(got.iter().any(|e| matches!(e, Event::Reclaimed(r) if r.pair == TX && r.request.arg == 100)), "{got:?}");
    assert!(client.submit(TX, send(1)).is_ok());
}

/// On seL4 the driver (higher priority) may start before its client: it asks
/// for epoch 1 on zeroed queues, and the client's start publishes epoch 1, to
/// which it attaches without a reset. The client still sees it attached, so
/// the first restart after boot is a restart (reclaimed requests, "serving
/// again"), not a first attach.
#[test]
fn a_driver_that_started_before_its_client_counts_as_attached() {
    let m = mems();
    let (to_driver, to_client) = (Bell::default(), Bell::default());
    let mut driver = DriverShell::new("driver", &m.queues, &m.data, &SPEC, &to_client).unwrap();
    let mut client = QueueClient::new("client", &m.queues, &m.data, &SPEC, &to_driver).unwrap();
    assert!(driver.on_notify(), "attached to the client's first epoch at once");
    assert_eq!(events(&mut client), [Event::Attached { epoch: 1 }]);
    assert_eq!(events(&mut client), [], "said once");

    client.submit(TX, send(0)).unwrap();
    drop(driver);
    let mut fresh = DriverShell::new("driver", &m.queues, &m.data, &SPEC, &to_client).unwrap();
    let got = events(&mut client);
    assert_eq!(got[0], Event::Attached { epoch: 2 });
    let Event::Reclaimed(r) = got[1] else { panic!("{got:?}") };
    client.resubmit(r).unwrap();
    assert!(fresh.on_notify());
    assert_eq!(serve_ok(&mut fresh, TX).len(), 1);
    assert!(matches!(events(&mut client)[..], [Event::Completed { .. }]));
}
