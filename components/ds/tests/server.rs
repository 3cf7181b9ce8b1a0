//! The request handler behind the real client library (a loopback transport in
//! place of the kernel), and against requests no client library would send.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use ds::LIMITS;
use ds::server::{Reply, serve};
use ds::store::{Client, Notify, Slot, Store, Subscription};
use ds_api::{
    BufferError, Change, DsClient, DsError, KEY_MAX, KEY_OFFSET, MemBuffer, OK, REPLY_MRS, SharedBuffer, Transport,
    VALUE_MAX, VALUE_OFFSET, label,
};
use proptest::prelude::*;

type Shared = Rc<RefCell<Store<'static>>>;

fn new_store() -> Shared {
    let slots = Box::leak(vec![Slot::EMPTY; ds::ENTRIES].into_boxed_slice());
    let subs = Box::leak(vec![Subscription::EMPTY; ds::SUBSCRIPTIONS].into_boxed_slice());
    Rc::new(RefCell::new(Store::new(slots, subs, LIMITS)))
}

/// A client's end: its own buffer, calls go straight to `serve` as `client`.
struct Loopback {
    store: Shared,
    client: Client,
    buf: MemBuffer,
    notified: Rc<RefCell<Notify>>,
}

impl Transport for Loopback {
    type Buffer = MemBuffer;
    fn buffer(&self) -> &MemBuffer {
        &self.buf
    }
    fn call(&self, label: u64, args: &[u64], reply: &mut [u64; REPLY_MRS]) -> (u64, usize) {
        let r = serve(&mut self.store.borrow_mut(), self.client, label, args, &self.buf);
        self.notified.borrow_mut().0 |= r.notify.0;
        *reply = [0; REPLY_MRS];
        reply[..r.count].copy_from_slice(&r.mrs[..r.count]);
        (r.label, r.count)
    }
}

struct System {
    store: Shared,
    notified: Rc<RefCell<Notify>>,
}

impl System {
    fn new() -> System {
        System { store: new_store(), notified: Rc::default() }
    }
    fn client(&self, id: u8, name: &'static str) -> DsClient<Loopback> {
        DsClient::with_transport(Loopback {
            store: self.store.clone(),
            client: Client::new(id, name),
            buf: MemBuffer::new(),
            notified: self.notified.clone(),
        })
    }
    /// Takes the notifications sent so far (as the kernel would deliver them).
    fn take_notified(&self) -> Notify {
        std::mem::take(&mut *self.notified.borrow_mut())
    }
}

#[test]
fn clients_share_keys_through_the_wire_protocol() {
    let sys = System::new();
    let (alice, bob) = (sys.client(1, "alice"), sys.client(2, "bob"));
    alice.put("net.mac", b"52:54:00:12:34:56").unwrap();
    let mut out = [0u8; VALUE_MAX];
    let n = bob.get("net.mac", &mut out).unwrap();
    assert_eq!(&out[..n], b"52:54:00:12:34:56");
    assert_eq!(bob.put("net.mac", b"evil"), Err(DsError::NotOwner));
    assert_eq!(bob.delete("net.mac"), Err(DsError::NotOwner));
    assert_eq!(bob.put("component.bob.state", b"up"), Err(DsError::Denied));
    assert_eq!(bob.get("nothing", &mut out), Err(DsError::NotFound));
    assert_eq!(alice.put("k", &[0; VALUE_MAX + 1]), Err(DsError::TooLarge));
    let (n, seq) = bob.get_seq("net.mac", &mut out).unwrap();
    assert_eq!((&out[..n], seq), (&b"52:54:00:12:34:56"[..], 1));
    alice.delete("net.mac").unwrap();
    assert_eq!(bob.get("net.mac", &mut out), Err(DsError::NotFound));
}

#[test]
fn a_subscriber_is_notified_and_reads_every_change_once() {
    let sys = System::new();
    let (rs, bob) = (sys.client(0, "rs"), sys.client(2, "bob"));
    bob.subscribe("component.").unwrap();
    assert_eq!(sys.take_notified(), Notify(0));
    for generation in 0..5u64 {
        rs.put("component.net.generation", &generation.to_le_bytes()).unwrap();
        rs.put("component.net.state", b"up").unwrap();
    }
    rs.put("elsewhere", b"x").unwrap();
    assert_eq!(sys.take_notified(), Notify(1 << 2), "bob, once per coalesced batch");
    let (mut key, mut value) = ([0u8; KEY_MAX], [0u8; VALUE_MAX]);
    let mut after = 0;
    let mut seen = Vec::new();
    while let Some(Change { seq, key_len, value_len, deleted }) = bob.next_change(after, &mut key, &mut value).unwrap()
    {
        after = seq;
        seen.push((String::from_utf8(key[..key_len].to_vec()).unwrap(), value[..value_len].to_vec(), deleted));
    }
    assert_eq!(
        seen,
        [
            ("component.net.generation".to_string(), 4u64.to_le_bytes().to_vec(), false),
            ("component.net.state".to_string(), b"up".to_vec(), false),
        ]
    );
    rs.delete("component.net.state").unwrap();
    let change = bob.next_change(after, &mut key, &mut value).unwrap().unwrap();
    assert_eq!((&key[..change.key_len], change.deleted, change.value_len), (&b"component.net.state"[..], true, 0));
    // A key buffer too small for the change: nothing is consumed.
    let mut tiny = [0u8; 4];
    assert_eq!(bob.next_change(after, &mut tiny, &mut value), Err(DsError::TooLarge));
    assert!(bob.next_change(after, &mut key, &mut value).unwrap().is_some());
    bob.unsubscribe("component.").unwrap();
    assert_eq!(bob.next_change(0, &mut key, &mut value), Ok(None));
    assert_eq!(bob.unsubscribe("component."), Err(DsError::NotFound));
}

#[test]
fn backup_and_restore_go_by_the_callers_identity() {
    let sys = System::new();
    let (alice, bob) = (sys.client(1, "alice"), sys.client(2, "bob"));
    let mut out = [0u8; VALUE_MAX];
    assert_eq!(alice.restore(&mut out), Ok(None));
    let blob: Vec<u8> = (0..VALUE_MAX).map(|i| (i * 7) as u8).collect();
    alice.backup(&blob).unwrap();
    // A restarted alice is the same client (same channel): a fresh library, no
    // state but the channel and buffer.
    let alice_again = sys.client(1, "alice");
    assert_eq!(alice_again.restore(&mut out), Ok(Some(VALUE_MAX)));
    assert_eq!(&out[..], &blob[..]);
    assert_eq!(bob.restore(&mut out), Ok(None));
    assert_eq!(bob.get("private.alice.state", &mut out), Err(DsError::Denied));
    let mut small = [0u8; 8];
    assert_eq!(alice.restore(&mut small), Err(DsError::TooLarge));
}

fn raw(store: &Shared, caller: Client, label: u64, args: &[u64], buf: &impl SharedBuffer) -> Reply {
    serve(&mut store.borrow_mut(), caller, label, args, buf)
}

#[test]
fn garbage_requests_are_bad_requests_and_change_nothing() {
    let store = new_store();
    let mallory = Client::new(3, "mallory");
    let buf = MemBuffer::new();
    buf.write(KEY_OFFSET, b"k").unwrap();
    assert_eq!(raw(&store, mallory, label::PUT, &[1, 0], &buf).label, OK);
    let seq = store.borrow().seq();
    let huge = [KEY_MAX as u64 + 1, VALUE_MAX as u64 + 1, u64::MAX, 1 << 32, 1 << 63];
    let mut garbage: Vec<(u64, Vec<u64>)> = vec![
        (0, vec![]),
        (9, vec![1]),
        (u64::MAX, vec![1, 1]),
        (label::PUT, vec![]),
        (label::PUT, vec![1]),
        (label::PUT, vec![1, 1, 1]),
        (label::GET, vec![]),
        (label::GET, vec![1, 1]),
        (label::NEXT_CHANGE, vec![]),
        (label::NEXT_CHANGE, vec![0, 0]),
        (label::RESTORE, vec![0]),
        (label::PUT, vec![0, 1]),
        (label::DELETE, vec![0]),
    ];
    for h in huge {
        garbage.push((label::PUT, vec![h, 1]));
        garbage.push((label::GET, vec![h]));
        garbage.push((label::DELETE, vec![h]));
        garbage.push((label::SUBSCRIBE, vec![h]));
        garbage.push((label::UNSUBSCRIBE, vec![h]));
    }
    for h in &huge[1..] {
        garbage.push((label::PUT, vec![1, *h]));
        garbage.push((label::BACKUP, vec![*h]));
    }
    for (l, args) in &garbage {
        let reply = raw(&store, mallory, *l, args, &buf);
        assert_eq!(
            (reply.label, reply.count, reply.notify),
            (DsError::BadRequest.code(), 0, Notify(0)),
            "label {l} args {args:?}"
        );
    }
    // A key with bytes outside !..=~ in the buffer.
    buf.write(KEY_OFFSET, b"a\0b").unwrap();
    assert_eq!(raw(&store, mallory, label::PUT, &[3, 0], &buf).label, DsError::BadRequest.code());
    assert_eq!(raw(&store, mallory, label::SUBSCRIBE, &[3], &buf).label, DsError::BadRequest.code());
    let s = store.borrow();
    assert_eq!(s.seq(), seq);
    assert_eq!(s.len(), 1);
    s.check_consistency().unwrap();
}

/// A buffer region smaller than the layout (impossible with ds-build's checks,
/// but DS does not rely on it).
struct Tiny(RefCell<[u8; 8]>);

impl SharedBuffer for Tiny {
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), BufferError> {
        let b = self.0.borrow();
        out.copy_from_slice(b.get(offset..offset + out.len()).ok_or(BufferError)?);
        Ok(())
    }
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), BufferError> {
        let mut b = self.0.borrow_mut();
        b.get_mut(offset..offset + data.len()).ok_or(BufferError)?.copy_from_slice(data);
        Ok(())
    }
}

#[test]
fn a_buffer_too_small_for_the_layout_is_a_bad_request() {
    let store = new_store();
    let alice = Client::new(1, "alice");
    let tiny = Tiny(RefCell::new(*b"k.......")); // key "k", no room for a value
    assert_eq!(raw(&store, alice, label::PUT, &[1, 1], &tiny).label, DsError::BadRequest.code());
    assert_eq!(raw(&store, alice, label::PUT, &[1, 0], &tiny).label, DsError::BadRequest.code());
    assert_eq!(raw(&store, alice, label::DELETE, &[9], &tiny).label, DsError::BadRequest.code());
    // What needs only the key area works.
    assert_eq!(raw(&store, alice, label::SUBSCRIBE, &[1], &tiny).label, OK);
    assert_eq!(raw(&store, alice, label::DELETE, &[1], &tiny).label, DsError::NotFound.code());
    store.borrow().check_consistency().unwrap();
}

proptest! {
    /// Whatever a client sends, DS answers (never panics), with a well-formed
    /// reply, and the store stays consistent; a well-behaved client is then
    /// still served.
    #[test]
    fn ds_survives_any_request(
        requests in proptest::collection::vec(
            (
                prop_oneof![0..12u64, any::<u64>()],
                proptest::collection::vec(prop_oneof![0..8u64, 0..700u64, any::<u64>()], 0..4),
                proptest::collection::vec(any::<u8>(), 0..64),
            ),
            1..40,
        )
    ) {
        let store = new_store();
        let buf = MemBuffer::new();
        let callers = [Client::new(0, "rs"), Client::new(3, "mallory")];
        for (i, (l, args, bytes)) in requests.iter().enumerate() {
            buf.write(if i % 2 == 0 { KEY_OFFSET } else { VALUE_OFFSET }, bytes).unwrap();
            let reply = raw(&store, callers[i % 2], *l, args, &buf);
            prop_assert!(reply.count <= REPLY_MRS);
            if reply.label != OK {
                prop_assert!(DsError::from_code(reply.label).is_some_and(|e| e.is_sent_by_ds()));
                prop_assert_eq!((reply.count, reply.notify), (0, Notify(0)));
            }
            prop_assert_eq!(store.borrow().check_consistency(), Ok(()));
        }
        let sys = System { store, notified: Rc::default() };
        let good = sys.client(5, "good");
        prop_assert_eq!(good.put("good.key", b"still served"), Ok(()));
        let mut out = [0u8; VALUE_MAX];
        prop_assert_eq!(good.get("good.key", &mut out), Ok(12));
    }
}
