//! The store core: every operation, every error path, and that an error leaves
//! the store exactly as it was.
#![forbid(unsafe_code)]

use ds::store::{Client, Entry, Limits, Notify, Slot, Store, Subscription};
use ds_api::{DsError, KEY_MAX, VALUE_MAX};

const RS: Client = Client::new(0, "rs");
const ALICE: Client = Client::new(1, "alice");
const BOB: Client = Client::new(2, "bob");
const CAROL: Client = Client::new(7, "carol");

const ROOMY: Limits = Limits { owned_per_client: 100, subscriptions_per_client: 100 };

/// A store of `entries` keys and `subs` subscriptions (leaked: tests only).
fn store(entries: usize, subs: usize, limits: Limits) -> Store<'static> {
    let slots = Box::leak(vec![Slot::EMPTY; entries].into_boxed_slice());
    let subscriptions = Box::leak(vec![Subscription::EMPTY; subs].into_boxed_slice());
    Store::new(slots, subscriptions, limits)
}

type Snapshot = (u64, Vec<(Vec<u8>, Vec<u8>, u64, bool, &'static str)>, Vec<(Client, Vec<u8>)>);

fn snapshot(s: &Store<'_>) -> Snapshot {
    let entries = s.iter().map(|(e, owner)| (e.key.to_vec(), e.value.to_vec(), e.seq, e.deleted, owner)).collect();
    let subs = s.subscriptions().map(|(c, p)| (c, p.to_vec())).collect();
    (s.seq(), entries, subs)
}

/// Runs `op`, which must fail with `want`, and checks it changed nothing.
#[track_caller]
fn refused<T: std::fmt::Debug>(
    s: &mut Store<'static>,
    want: DsError,
    op: impl FnOnce(&mut Store<'static>) -> Result<T, DsError>,
) {
    let before = snapshot(s);
    let got = op(s);
    assert_eq!(got.map(|_| ()).unwrap_err(), want);
    assert_eq!(snapshot(s), before, "a refused operation changed the store");
    s.check_consistency().unwrap();
}

fn value(s: &Store<'_>, c: Client, key: &str) -> Result<Vec<u8>, DsError> {
    s.get(c, key.as_bytes()).map(|e| e.value.to_vec())
}

/// Reads every change after `after`, as a subscriber does after a notification.
fn drain(s: &Store<'_>, c: Client, after: &mut u64) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    while let Some(Entry { key, value, seq, deleted }) = s.next_change(c, *after) {
        assert!(seq > *after);
        *after = seq;
        out.push((String::from_utf8(key.to_vec()).unwrap(), String::from_utf8(value.to_vec()).unwrap(), deleted));
    }
    out
}

#[test]
fn put_then_get_across_clients() {
    let mut s = store(8, 4, ROOMY);
    let (seq, _) = s.put(ALICE, b"net.mac", b"52:54:00").unwrap();
    assert_eq!(seq, 1);
    let e = s.get(BOB, b"net.mac").unwrap();
    assert_eq!((e.value, e.seq, e.deleted), (&b"52:54:00"[..], 1, false));
    let (seq, _) = s.put(ALICE, b"net.mac", b"").unwrap();
    assert_eq!(seq, 2);
    assert_eq!(value(&s, BOB, "net.mac"), Ok(vec![]));
    assert_eq!(s.len(), 1);
    s.check_consistency().unwrap();
}

#[test]
fn only_the_owner_overwrites_or_deletes_a_shared_key() {
    let mut s = store(8, 4, ROOMY);
    s.put(ALICE, b"colour", b"blue").unwrap();
    refused(&mut s, DsError::NotOwner, |s| s.put(BOB, b"colour", b"red"));
    refused(&mut s, DsError::NotOwner, |s| s.delete(BOB, b"colour"));
    refused(&mut s, DsError::NotOwner, |s| s.put(RS, b"colour", b"red"));
    assert_eq!(value(&s, BOB, "colour"), Ok(b"blue".to_vec()));
    // Once deleted, the key is nobody's: anyone may create it again.
    s.delete(ALICE, b"colour").unwrap();
    s.put(BOB, b"colour", b"red").unwrap();
    refused(&mut s, DsError::NotOwner, |s| s.put(ALICE, b"colour", b"blue"));
}

#[test]
fn component_keys_are_written_by_rs_only_and_read_by_all() {
    let mut s = store(8, 4, ROOMY);
    refused(&mut s, DsError::Denied, |s| s.put(ALICE, b"component.alice.state", b"up"));
    s.put(RS, b"component.alice.state", b"up").unwrap();
    assert_eq!(value(&s, ALICE, "component.alice.state"), Ok(b"up".to_vec()));
    assert_eq!(value(&s, BOB, "component.alice.state"), Ok(b"up".to_vec()));
    refused(&mut s, DsError::Denied, |s| s.put(ALICE, b"component.alice.state", b"down"));
    refused(&mut s, DsError::Denied, |s| s.delete(ALICE, b"component.alice.state"));
    s.delete(RS, b"component.alice.state").unwrap();
}

#[test]
fn private_keys_are_their_owners_alone() {
    let mut s = store(8, 4, ROOMY);
    refused(&mut s, DsError::Denied, |s| s.put(BOB, b"private.alice.state", b"x"));
    s.put(ALICE, b"private.alice.state", b"secret").unwrap();
    assert_eq!(value(&s, ALICE, "private.alice.state"), Ok(b"secret".to_vec()));
    assert_eq!(value(&s, BOB, "private.alice.state"), Err(DsError::Denied));
    assert_eq!(value(&s, RS, "private.alice.state"), Err(DsError::Denied));
    refused(&mut s, DsError::Denied, |s| s.put(BOB, b"private.alice.state", b"x"));
    refused(&mut s, DsError::Denied, |s| s.delete(BOB, b"private.alice.state"));
    refused(&mut s, DsError::Denied, |s| s.put(RS, b"private.alice.state", b"x"));
    // Whether another's private key exists does not leak: Denied either way.
    assert_eq!(value(&s, BOB, "private.alice.nothing"), Err(DsError::Denied));
    refused(&mut s, DsError::Denied, |s| s.put(ALICE, b"private.alicex.state", b"x"));
}

#[test]
fn unknown_keys_are_not_found() {
    let mut s = store(8, 4, ROOMY);
    assert_eq!(value(&s, ALICE, "nothing"), Err(DsError::NotFound));
    refused(&mut s, DsError::NotFound, |s| s.delete(ALICE, b"nothing"));
    s.put(ALICE, b"k", b"v").unwrap();
    s.delete(ALICE, b"k").unwrap();
    assert_eq!(value(&s, ALICE, "k"), Err(DsError::NotFound), "a tombstone is not a value");
    refused(&mut s, DsError::NotFound, |s| s.delete(ALICE, b"k"));
    refused(&mut s, DsError::NotFound, |s| s.unsubscribe(ALICE, b"k"));
    assert_eq!(s.restore(ALICE).unwrap_err(), DsError::NotFound);
}

#[test]
fn oversized_and_malformed_requests_change_nothing() {
    let mut s = store(8, 4, ROOMY);
    s.put(ALICE, b"k", b"v").unwrap();
    let long_key = vec![b'k'; KEY_MAX + 1];
    refused(&mut s, DsError::TooLarge, |s| s.put(ALICE, b"k", &[0; VALUE_MAX + 1]));
    refused(&mut s, DsError::TooLarge, |s| s.put(ALICE, &long_key, b"v"));
    refused(&mut s, DsError::TooLarge, |s| s.delete(ALICE, &long_key));
    refused(&mut s, DsError::TooLarge, |s| s.subscribe(ALICE, &long_key));
    refused(&mut s, DsError::TooLarge, |s| s.backup(ALICE, &[0; VALUE_MAX + 1]));
    refused(&mut s, DsError::BadRequest, |s| s.put(ALICE, b"", b"v"));
    refused(&mut s, DsError::BadRequest, |s| s.put(ALICE, b"a key", b"v"));
    refused(&mut s, DsError::BadRequest, |s| s.put(ALICE, b"k\n", b"v"));
    refused(&mut s, DsError::BadRequest, |s| s.subscribe(ALICE, b"a prefix"));
    assert_eq!(s.get(ALICE, b"").unwrap_err(), DsError::BadRequest);
    assert_eq!(s.get(ALICE, &long_key).unwrap_err(), DsError::TooLarge);
    // The limits themselves are fine.
    s.put(ALICE, &[b'k'; KEY_MAX], &[7; VALUE_MAX]).unwrap();
    assert_eq!(s.get(BOB, &[b'k'; KEY_MAX]).unwrap().value, &[7; VALUE_MAX][..]);
}

#[test]
fn a_full_store_refuses_new_keys_but_serves_existing_ones() {
    let mut s = store(3, 4, ROOMY);
    for k in ["a", "b", "c"] {
        s.put(ALICE, k.as_bytes(), b"1").unwrap();
    }
    refused(&mut s, DsError::Full, |s| s.put(BOB, b"d", b"1"));
    refused(&mut s, DsError::Full, |s| s.put(RS, b"component.x.state", b"up"));
    refused(&mut s, DsError::Full, |s| s.backup(BOB, b"state"));
    s.put(ALICE, b"a", b"2").unwrap();
    assert_eq!(value(&s, BOB, "a"), Ok(b"2".to_vec()));
    // A deletion frees a slot (its tombstone is reused).
    s.delete(ALICE, b"b").unwrap();
    s.put(BOB, b"d", b"1").unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(value(&s, ALICE, "b"), Err(DsError::NotFound));
    s.check_consistency().unwrap();
}

#[test]
fn the_oldest_tombstone_is_reused_first_and_a_key_revives_its_own() {
    let mut s = store(3, 4, ROOMY);
    s.subscribe(BOB, b"").unwrap();
    for k in ["a", "b", "c"] {
        s.put(ALICE, k.as_bytes(), b"1").unwrap();
    }
    s.delete(ALICE, b"b").unwrap(); // seq 4
    s.delete(ALICE, b"a").unwrap(); // seq 5
    // `a` comes back in its own tombstone: `b`'s stays.
    s.put(ALICE, b"a", b"2").unwrap(); // seq 6
    let mut after = 0;
    let seen = drain(&s, BOB, &mut after);
    assert_eq!(seen, [("c".into(), "1".into(), false), ("b".into(), "".into(), true), ("a".into(), "2".into(), false)]);
    // A new key takes b's tombstone, the only one.
    s.put(ALICE, b"d", b"1").unwrap();
    assert!(s.iter().all(|(e, _)| e.key != b"b"));
    s.check_consistency().unwrap();
}

#[test]
fn a_client_cannot_own_more_than_its_quota() {
    let limits = Limits { owned_per_client: 2, subscriptions_per_client: 2 };
    let mut s = store(8, 4, limits);
    s.put(ALICE, b"a", b"1").unwrap();
    s.put(ALICE, b"private.alice.state", b"1").unwrap();
    refused(&mut s, DsError::Full, |s| s.put(ALICE, b"c", b"1"));
    s.backup(ALICE, b"x").unwrap(); // private.alice.state exists: no new key
    // Overwriting what it owns is fine; so is creating after a deletion.
    s.put(ALICE, b"a", b"2").unwrap();
    s.delete(ALICE, b"a").unwrap();
    s.put(ALICE, b"c", b"1").unwrap();
    // Others are not affected, and RS's component keys are not counted.
    s.put(BOB, b"b", b"1").unwrap();
    for name in ["x", "y", "z"] {
        s.put(RS, format!("component.{name}.state").as_bytes(), b"up").unwrap();
    }
    s.put(RS, b"rs.a", b"1").unwrap();
    s.put(RS, b"rs.b", b"1").unwrap();
    refused(&mut s, DsError::Full, |s| s.put(RS, b"rs.c", b"1"));
    s.check_consistency().unwrap();
}

#[test]
fn subscriptions_are_idempotent_bounded_and_removable() {
    let limits = Limits { owned_per_client: 8, subscriptions_per_client: 2 };
    let mut s = store(8, 3, limits);
    s.subscribe(ALICE, b"a.").unwrap();
    s.subscribe(ALICE, b"a.").unwrap();
    assert_eq!(s.subscriptions().count(), 1);
    s.subscribe(ALICE, b"b.").unwrap();
    refused(&mut s, DsError::Full, |s| s.subscribe(ALICE, b"c."));
    s.subscribe(BOB, b"").unwrap();
    refused(&mut s, DsError::Full, |s| s.subscribe(CAROL, b"c."));
    refused(&mut s, DsError::NotFound, |s| s.unsubscribe(BOB, b"a."));
    s.unsubscribe(ALICE, b"a.").unwrap();
    s.subscribe(CAROL, b"c.").unwrap();
    s.check_consistency().unwrap();
}

#[test]
fn subscribers_are_notified_of_the_keys_they_may_read_under_their_prefixes() {
    let mut s = store(8, 8, ROOMY);
    s.subscribe(ALICE, b"net.").unwrap();
    s.subscribe(BOB, b"").unwrap();
    s.subscribe(CAROL, b"private.").unwrap();
    let (_, n) = s.put(RS, b"net.up", b"1").unwrap();
    assert!(n.contains(ALICE) && n.contains(BOB) && !n.contains(CAROL) && !n.contains(RS));
    assert_eq!(n, Notify(1 << ALICE.id | 1 << BOB.id));
    let (_, n) = s.put(ALICE, b"vfs.up", b"1").unwrap();
    assert_eq!(n, Notify(1 << BOB.id));
    // Private keys notify their owner alone, whatever others subscribed to.
    let (_, n) = s.put(CAROL, b"private.carol.state", b"1").unwrap();
    assert_eq!(n, Notify(1 << CAROL.id));
    let (_, n) = s.delete(RS, b"net.up").unwrap();
    assert_eq!(n, Notify(1 << ALICE.id | 1 << BOB.id));
    // And next_change shows each subscriber only what it may read.
    let mut after = 0;
    let bob: Vec<String> = drain(&s, BOB, &mut after).into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(bob, ["vfs.up", "net.up"]);
    let mut after = 0;
    assert_eq!(drain(&s, CAROL, &mut after), [("private.carol.state".into(), "1".into(), false)]);
    let mut after = 0;
    assert_eq!(drain(&s, RS, &mut after), [], "no subscription, no changes");
}

#[test]
fn coalesced_changes_are_all_read_back_once_with_their_latest_values() {
    let mut s = store(32, 4, ROOMY);
    s.subscribe(BOB, b"news.").unwrap();
    let mut notified = Notify::default();
    // 200 changes to 10 keys (and some deletions) while BOB does not run: its
    // notifications coalesce into one.
    for i in 0..200u32 {
        let key = format!("news.{}", i % 10);
        let (_, n) = s.put(ALICE, key.as_bytes(), format!("v{i}").as_bytes()).unwrap();
        notified.0 |= n.0;
        s.put(ALICE, b"other.noise", b"x").unwrap();
    }
    s.delete(ALICE, b"news.3").unwrap();
    assert!(notified.contains(BOB));
    let mut after = 0;
    let seen = drain(&s, BOB, &mut after);
    let mut want: Vec<(String, String, bool)> = (0..10)
        .map(|k| (format!("news.{k}"), format!("v{}", 190 + k), false))
        .filter(|(k, _, _)| k != "news.3")
        .collect();
    want.push(("news.3".into(), "".into(), true));
    assert_eq!(seen, want, "each key once, in the order of its last change, with its last value");
    assert_eq!(after, s.seq());
    // Later changes come after the last seq seen, and nothing else.
    s.put(ALICE, b"news.0", b"late").unwrap();
    assert_eq!(drain(&s, BOB, &mut after), [("news.0".into(), "late".into(), false)]);
    assert_eq!(drain(&s, BOB, &mut after), []);
}

#[test]
fn backups_are_private_and_survive_as_long_as_the_store() {
    let mut s = store(8, 4, ROOMY);
    assert_eq!(s.restore(ALICE).unwrap_err(), DsError::NotFound);
    s.backup(ALICE, b"alice v1").unwrap();
    s.backup(BOB, b"bob v1").unwrap();
    s.backup(ALICE, b"alice v2").unwrap();
    assert_eq!(s.restore(ALICE).unwrap().value, b"alice v2");
    assert_eq!(s.restore(BOB).unwrap().value, b"bob v1");
    assert_eq!(value(&s, ALICE, "private.alice.state"), Ok(b"alice v2".to_vec()));
    assert_eq!(value(&s, BOB, "private.alice.state"), Err(DsError::Denied));
    assert_eq!(s.restore(CAROL).unwrap_err(), DsError::NotFound);
    s.backup(ALICE, b"").unwrap();
    assert_eq!(s.restore(ALICE).unwrap().value, b"");
    s.check_consistency().unwrap();
}

#[test]
fn a_new_store_clears_its_tables() {
    let slots = Box::leak(vec![Slot::EMPTY; 4].into_boxed_slice());
    let subs = Box::leak(vec![Subscription::EMPTY; 2].into_boxed_slice());
    let mut s = Store::new(slots, subs, ROOMY);
    s.put(ALICE, b"k", b"v").unwrap();
    s.subscribe(ALICE, b"").unwrap();
    assert!(!s.is_empty());
    assert_eq!(s.seq(), 1);
}
