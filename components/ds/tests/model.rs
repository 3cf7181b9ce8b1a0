//! Property tests of the store against a plain model, and of the subscriber
//! protocol: no change is ever lost, however notifications coalesce.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};

use ds::store::{Client, Limits, Slot, Store, Subscription};
use ds_api::{DsError, RS_NAME, namespace};
use proptest::prelude::*;

const CLIENTS: [Client; 3] = [Client::new(0, "rs"), Client::new(1, "alice"), Client::new(2, "bob")];

const KEYS: [&str; 10] = [
    "a.x",
    "a.y",
    "b.x",
    "component.alice.state",
    "component.bob.state",
    "private.alice.state",
    "private.alice.x",
    "private.bob.state",
    "shared",
    "a b", // malformed
];

#[derive(Clone, Debug)]
enum Op {
    Put(usize, usize, u8),
    Delete(usize, usize),
    Get(usize, usize),
    Subscribe(usize, usize),
    Unsubscribe(usize, usize),
}

const PREFIXES: [&str; 5] = ["", "a.", "component.", "private.", "private.alice."];

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CLIENTS.len();
    let k = 0..KEYS.len();
    prop_oneof![
        4 => (c.clone(), k.clone(), any::<u8>()).prop_map(|(c, k, v)| Op::Put(c, k, v)),
        2 => (c.clone(), k.clone()).prop_map(|(c, k)| Op::Delete(c, k)),
        1 => (c.clone(), k).prop_map(|(c, k)| Op::Get(c, k)),
        1 => (c.clone(), 0..PREFIXES.len()).prop_map(|(c, p)| Op::Subscribe(c, p)),
        1 => (c, 0..PREFIXES.len()).prop_map(|(c, p)| Op::Unsubscribe(c, p)),
    ]
}

/// What the store should hold: live keys (value, owner) and tombstones (seq).
#[derive(Default)]
struct Model {
    live: BTreeMap<&'static str, (Vec<u8>, &'static str, u64)>,
    tombs: BTreeMap<&'static str, u64>,
    subs: BTreeSet<(u8, &'static str)>,
    seq: u64,
}

const CAPACITY: usize = 6;
const LIMITS: Limits = Limits { owned_per_client: 3, subscriptions_per_client: 2 };

impl Model {
    fn owned(&self, who: &str) -> usize {
        self.live
            .iter()
            .filter(|(k, (_, o, _))| *o == who && namespace::of(k.as_bytes()) != namespace::Namespace::Component)
            .count()
    }

    fn put(&mut self, c: Client, key: &'static str, value: Vec<u8>) -> Result<u64, DsError> {
        ds_api::check_key(key.as_bytes())?;
        namespace::check_write(c.name, key.as_bytes())?;
        let shared = namespace::of(key.as_bytes()) == namespace::Namespace::Shared;
        if let Some((_, owner, _)) = self.live.get(key) {
            if shared && *owner != c.name {
                return Err(DsError::NotOwner);
            }
        } else {
            if namespace::of(key.as_bytes()) != namespace::Namespace::Component
                && self.owned(c.name) >= LIMITS.owned_per_client
            {
                return Err(DsError::Full);
            }
            if !self.tombs.contains_key(key) && self.live.len() + self.tombs.len() >= CAPACITY {
                let oldest = self.tombs.iter().min_by_key(|(_, s)| **s).map(|(k, _)| *k).ok_or(DsError::Full)?;
                self.tombs.remove(oldest);
            }
            self.tombs.remove(key);
        }
        self.seq += 1;
        self.live.insert(key, (value, c.name, self.seq));
        Ok(self.seq)
    }

    fn delete(&mut self, c: Client, key: &'static str) -> Result<u64, DsError> {
        ds_api::check_key(key.as_bytes())?;
        namespace::check_write(c.name, key.as_bytes())?;
        let (_, owner, _) = self.live.get(key).ok_or(DsError::NotFound)?;
        if namespace::of(key.as_bytes()) == namespace::Namespace::Shared && *owner != c.name {
            return Err(DsError::NotOwner);
        }
        self.live.remove(key);
        self.seq += 1;
        self.tombs.insert(key, self.seq);
        Ok(self.seq)
    }

    fn get(&self, c: Client, key: &str) -> Result<Vec<u8>, DsError> {
        ds_api::check_key(key.as_bytes())?;
        if !namespace::may_read(c.name, key.as_bytes()) {
            return Err(DsError::Denied);
        }
        self.live.get(key).map(|(v, _, _)| v.clone()).ok_or(DsError::NotFound)
    }

    fn subscribe(&mut self, c: Client, prefix: &'static str) -> Result<(), DsError> {
        if self.subs.contains(&(c.id, prefix)) {
            return Ok(());
        }
        let mine = self.subs.iter().filter(|(id, _)| *id == c.id).count();
        if mine >= LIMITS.subscriptions_per_client {
            return Err(DsError::Full);
        }
        self.subs.insert((c.id, prefix));
        Ok(())
    }

    fn unsubscribe(&mut self, c: Client, prefix: &'static str) -> Result<(), DsError> {
        if self.subs.remove(&(c.id, prefix)) { Ok(()) } else { Err(DsError::NotFound) }
    }

    /// Keys `c` would be notified of.
    fn watches(&self, c: Client, key: &str) -> bool {
        namespace::may_read(c.name, key.as_bytes()) && self.subs.iter().any(|(id, p)| *id == c.id && key.starts_with(p))
    }
}

fn new_store(entries: usize) -> Store<'static> {
    let slots = Box::leak(vec![Slot::EMPTY; entries].into_boxed_slice());
    let subs = Box::leak(vec![Subscription::EMPTY; 16].into_boxed_slice());
    Store::new(slots, subs, LIMITS)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every operation answers as the model does, notifies exactly the clients the
    /// model says, and the store stays consistent after each one, errors included.
    #[test]
    fn the_store_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut store = new_store(CAPACITY);
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Put(c, k, v) => {
                    let (c, key) = (CLIENTS[c], KEYS[k]);
                    let value = vec![v; usize::from(v % 5)];
                    let got = store.put(c, key.as_bytes(), &value);
                    let want = model.put(c, key, value);
                    prop_assert_eq!(got.map(|(seq, _)| seq), want, "put {} by {}", key, c.name);
                    if let Ok((_, notify)) = got {
                        for s in CLIENTS {
                            prop_assert_eq!(notify.contains(s), model.watches(s, key), "notify {} of {}", s.name, key);
                        }
                    }
                }
                Op::Delete(c, k) => {
                    let (c, key) = (CLIENTS[c], KEYS[k]);
                    let got = store.delete(c, key.as_bytes()).map(|(seq, _)| seq);
                    prop_assert_eq!(got, model.delete(c, key), "delete {} by {}", key, c.name);
                }
                Op::Get(c, k) => {
                    let (c, key) = (CLIENTS[c], KEYS[k]);
                    let got = store.get(c, key.as_bytes()).map(|e| e.value.to_vec());
                    prop_assert_eq!(got, model.get(c, key), "get {} by {}", key, c.name);
                }
                Op::Subscribe(c, p) => {
                    prop_assert_eq!(store.subscribe(CLIENTS[c], PREFIXES[p].as_bytes()), model.subscribe(CLIENTS[c], PREFIXES[p]));
                }
                Op::Unsubscribe(c, p) => {
                    prop_assert_eq!(store.unsubscribe(CLIENTS[c], PREFIXES[p].as_bytes()), model.unsubscribe(CLIENTS[c], PREFIXES[p]));
                }
            }
            prop_assert_eq!(store.check_consistency(), Ok(()));
            prop_assert_eq!(store.seq(), model.seq);
            prop_assert_eq!(store.len(), model.live.len());
        }
        // Who wrote each live key, as the model says.
        for (e, owner) in store.iter().filter(|(e, _)| !e.deleted) {
            let key = std::str::from_utf8(e.key).unwrap();
            prop_assert_eq!(Some(owner), model.live.get(key).map(|(_, o, _)| *o));
            if namespace::of(e.key) == namespace::Namespace::Component {
                prop_assert_eq!(owner, RS_NAME);
            }
        }
    }

    /// A subscriber that reads changes only now and then (its notifications
    /// coalesce) ends up with exactly the store's content under its prefixes:
    /// the latest value of every key, nothing deleted, nothing missed. It is
    /// notified whenever there is something to read, and only then.
    #[test]
    fn a_subscriber_never_misses_a_change(
        ops in proptest::collection::vec((0..2usize, 0..KEYS.len(), any::<u8>(), any::<bool>(), 0..4u8), 1..120),
    ) {
        // Room for every key, so no tombstone is ever reused.
        let mut store = new_store(KEYS.len());
        let bob = CLIENTS[2];
        store.subscribe(bob, b"a.").unwrap();
        store.subscribe(bob, b"component.").unwrap();
        let mut view: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut after = 0;
        let mut notified = false;
        let writers = [CLIENTS[0], CLIENTS[1]];
        for (w, k, v, delete, drain_now) in ops {
            let (who, key) = (writers[w], KEYS[k].as_bytes());
            let result = if delete { store.delete(who, key) } else { store.put(who, key, &[v]) };
            if let Ok((_, notify)) = result {
                notified |= notify.contains(bob);
            }
            if drain_now == 0 {
                let mut any = false;
                while let Some(change) = store.next_change(bob, after) {
                    prop_assert!(change.seq > after);
                    after = change.seq;
                    any = true;
                    if change.deleted { view.remove(change.key) } else { view.insert(change.key.to_vec(), change.value.to_vec()) };
                }
                prop_assert_eq!(any, notified, "a notification means a change to read, and no change comes unannounced");
                notified = false;
            }
        }
        while let Some(change) = store.next_change(bob, after) {
            after = change.seq;
            if change.deleted { view.remove(change.key) } else { view.insert(change.key.to_vec(), change.value.to_vec()) };
        }
        let truth: BTreeMap<Vec<u8>, Vec<u8>> = store
            .iter()
            .filter(|(e, _)| !e.deleted && (e.key.starts_with(b"a.") || e.key.starts_with(b"component.")))
            .map(|(e, _)| (e.key.to_vec(), e.value.to_vec()))
            .collect();
        prop_assert_eq!(view, truth);
    }
}
