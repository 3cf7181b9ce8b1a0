//! The store: a fixed table of entries and subscriptions, with no heap.
//!
//! Every operation checks everything first and changes the store only when it
//! succeeds, so an error leaves the store exactly as it was
//! ([`Store::check_consistency`] states what "consistent" means).

use ds_api::{BACKUP_FIELD, DsError, KEY_MAX, Key, VALUE_MAX, check_key, check_prefix, namespace};

/// A client of DS: the DS-side channel id its calls arrive on (where DS notifies
/// it) and its PD name from `system.xml` (its identity for owners and namespaces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// DS's channel id to the client, below 62.
    pub id: u8,
    /// The client's PD name.
    pub name: &'static str,
}

impl Client {
    /// The client on DS's channel `id` called `name`.
    pub const fn new(id: u8, name: &'static str) -> Client {
        Client { id, name }
    }
}

/// Subscribers to notify of a change: one bit per client id (a notification badge).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notify(pub u64);

impl Notify {
    fn add(&mut self, client: Client) {
        self.0 |= 1u64.checked_shl(u32::from(client.id)).unwrap_or(0);
    }

    /// Whether `client` is to be notified.
    pub fn contains(self, client: Client) -> bool {
        1u64.checked_shl(u32::from(client.id)).is_some_and(|bit| self.0 & bit != 0)
    }
}

/// Up to `N` bytes, inline.
#[derive(Clone, Copy)]
struct Bytes<const N: usize> {
    len: usize,
    data: [u8; N],
}

impl<const N: usize> Bytes<N> {
    const EMPTY: Self = Bytes { len: 0, data: [0; N] };

    fn as_slice(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }

    /// Replaces the contents; `false` (and unchanged) if `src` is longer than `N`.
    fn set(&mut self, src: &[u8]) -> bool {
        match self.data.get_mut(..src.len()) {
            Some(dst) => {
                dst.copy_from_slice(src);
                self.len = src.len();
                true
            }
            None => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Empty,
    Live,
    /// Deleted: kept (without a value) so subscribers see the deletion, until the
    /// slot is needed for another key.
    Tombstone,
}

/// One entry of the store (public only so a PD can size and allocate the table).
#[derive(Clone, Copy)]
pub struct Slot {
    state: State,
    /// Seq of the last change (put or delete).
    seq: u64,
    /// Who wrote it last; for keys outside `component.*` and `private.*`, the owner.
    owner: &'static str,
    key: Bytes<KEY_MAX>,
    value: Bytes<VALUE_MAX>,
}

impl Slot {
    /// An unused slot.
    pub const EMPTY: Slot = Slot { state: State::Empty, seq: 0, owner: "", key: Bytes::EMPTY, value: Bytes::EMPTY };
}

/// One subscription (public only so a PD can size and allocate the table).
#[derive(Clone, Copy)]
pub struct Subscription {
    client: Option<Client>,
    prefix: Bytes<KEY_MAX>,
}

impl Subscription {
    /// An unused subscription.
    pub const EMPTY: Subscription = Subscription { client: None, prefix: Bytes::EMPTY };
}

/// Per-client limits, so that one client cannot take the whole store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Live keys a client may own, not counting `component.*` (RS's).
    pub owned_per_client: usize,
    /// Subscriptions a client may hold.
    pub subscriptions_per_client: usize,
}

/// An entry as a read returns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'s> {
    /// The key.
    pub key: &'s [u8],
    /// The value (empty if deleted).
    pub value: &'s [u8],
    /// Seq of the entry's last change.
    pub seq: u64,
    /// This is a deletion (only [`Store::next_change`] returns those).
    pub deleted: bool,
}

/// The data store.
pub struct Store<'t> {
    slots: &'t mut [Slot],
    subs: &'t mut [Subscription],
    limits: Limits,
    seq: u64,
}

impl<'t> Store<'t> {
    /// A store over the given tables (cleared): as many entries as `slots`, as
    /// many subscriptions as `subs`.
    pub fn new(slots: &'t mut [Slot], subs: &'t mut [Subscription], limits: Limits) -> Store<'t> {
        slots.fill(Slot::EMPTY);
        subs.fill(Subscription::EMPTY);
        Store { slots, subs, limits, seq: 0 }
    }

    /// The seq of the last change (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.state == State::Live).count()
    }

    /// No live key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every used slot: live keys and tombstones, with the PD that wrote it last
    /// (for diagnostics and tests; no access check).
    pub fn iter(&self) -> impl Iterator<Item = (Entry<'_>, &'static str)> + '_ {
        self.slots.iter().filter(|s| s.state != State::Empty).map(|s| (entry(s), s.owner))
    }

    /// Every subscription (for diagnostics and tests).
    pub fn subscriptions(&self) -> impl Iterator<Item = (Client, &[u8])> + '_ {
        self.subs.iter().filter_map(|s| s.client.map(|c| (c, s.prefix.as_slice())))
    }

    /// Creates or overwrites `key`. Returns the seq of the change and whom to notify.
    ///
    /// Errors: [`DsError::BadRequest`]/[`DsError::TooLarge`] for a malformed key or
    /// oversized value, [`DsError::Denied`] if the namespace forbids it,
    /// [`DsError::NotOwner`] if the key is another PD's, [`DsError::Full`] if
    /// no slot is free or the caller owns its quota of keys.
    pub fn put(&mut self, caller: Client, key: &[u8], value: &[u8]) -> Result<(u64, Notify), DsError> {
        check_key(key)?;
        if value.len() > VALUE_MAX {
            return Err(DsError::TooLarge);
        }
        namespace::check_write(caller.name, key)?;
        let found = self.find(key);
        let index = match found {
            Some(i) if self.slots[i].state == State::Live => {
                if namespace::of(key) == namespace::Namespace::Shared && self.slots[i].owner != caller.name {
                    return Err(DsError::NotOwner);
                }
                i
            }
            // A new key: in its own tombstone, else a free slot, else the oldest tombstone.
            _ => {
                if namespace::of(key) != namespace::Namespace::Component
                    && self.owned_by(caller.name) >= self.limits.owned_per_client
                {
                    return Err(DsError::Full);
                }
                found.or_else(|| self.free_slot()).ok_or(DsError::Full)?
            }
        };
        let seq = self.seq.checked_add(1).ok_or(DsError::Full)?;
        let slot = &mut self.slots[index];
        let mut new = Slot { state: State::Live, seq, owner: caller.name, key: Bytes::EMPTY, value: Bytes::EMPTY };
        if !new.key.set(key) || !new.value.set(value) {
            return Err(DsError::TooLarge); // cannot happen: checked above
        }
        *slot = new;
        self.seq = seq;
        Ok((seq, self.subscribers_of(key)))
    }

    /// Reads `key`.
    ///
    /// Errors: [`DsError::BadRequest`]/[`DsError::TooLarge`] for a malformed key,
    /// [`DsError::Denied`] for another PD's private key (whether or not it exists),
    /// [`DsError::NotFound`].
    pub fn get(&self, caller: Client, key: &[u8]) -> Result<Entry<'_>, DsError> {
        check_key(key)?;
        if !namespace::may_read(caller.name, key) {
            return Err(DsError::Denied);
        }
        let slot =
            self.find(key).map(|i| &self.slots[i]).filter(|s| s.state == State::Live).ok_or(DsError::NotFound)?;
        Ok(entry(slot))
    }

    /// Deletes `key`, leaving a tombstone for subscribers. Returns the seq of the
    /// change and whom to notify.
    ///
    /// Errors: as [`put`](Self::put), and [`DsError::NotFound`] if the key does
    /// not exist.
    pub fn delete(&mut self, caller: Client, key: &[u8]) -> Result<(u64, Notify), DsError> {
        check_key(key)?;
        namespace::check_write(caller.name, key)?;
        let index = self.find(key).filter(|&i| self.slots[i].state == State::Live).ok_or(DsError::NotFound)?;
        if namespace::of(key) == namespace::Namespace::Shared && self.slots[index].owner != caller.name {
            return Err(DsError::NotOwner);
        }
        let seq = self.seq.checked_add(1).ok_or(DsError::Full)?;
        let slot = &mut self.slots[index];
        slot.state = State::Tombstone;
        slot.seq = seq;
        slot.owner = caller.name;
        slot.value = Bytes::EMPTY;
        self.seq = seq;
        Ok((seq, self.subscribers_of(key)))
    }

    /// Subscribes `caller` to the keys starting with `prefix` (idempotent).
    ///
    /// Errors: [`DsError::BadRequest`]/[`DsError::TooLarge`] for a malformed
    /// prefix, [`DsError::Full`] if the caller holds its quota of subscriptions or
    /// no slot is free.
    pub fn subscribe(&mut self, caller: Client, prefix: &[u8]) -> Result<(), DsError> {
        check_prefix(prefix)?;
        if self.subscription(caller, prefix).is_some() {
            return Ok(());
        }
        if self.subs.iter().filter(|s| s.client == Some(caller)).count() >= self.limits.subscriptions_per_client {
            return Err(DsError::Full);
        }
        let free = self.subs.iter_mut().find(|s| s.client.is_none()).ok_or(DsError::Full)?;
        let mut new = Subscription { client: Some(caller), prefix: Bytes::EMPTY };
        if !new.prefix.set(prefix) {
            return Err(DsError::TooLarge); // cannot happen: checked above
        }
        *free = new;
        Ok(())
    }

    /// Drops `caller`'s subscription to `prefix` ([`DsError::NotFound`] if none).
    pub fn unsubscribe(&mut self, caller: Client, prefix: &[u8]) -> Result<(), DsError> {
        check_prefix(prefix)?;
        let i = self.subscription(caller, prefix).ok_or(DsError::NotFound)?;
        self.subs[i] = Subscription::EMPTY;
        Ok(())
    }

    /// The change with the smallest seq above `after` among the keys (live or
    /// deleted) that match one of `caller`'s subscriptions and that it may read.
    pub fn next_change(&self, caller: Client, after: u64) -> Option<Entry<'_>> {
        self.slots
            .iter()
            .filter(|s| s.state != State::Empty && s.seq > after)
            .filter(|s| namespace::may_read(caller.name, s.key.as_slice()))
            .filter(|s| self.subscribed(caller, s.key.as_slice()))
            .min_by_key(|s| s.seq)
            .map(entry)
    }

    /// Stores `blob` as `caller`'s private state (`private.<caller>.state`).
    pub fn backup(&mut self, caller: Client, blob: &[u8]) -> Result<(u64, Notify), DsError> {
        let key = Key::private(caller.name, BACKUP_FIELD)?;
        self.put(caller, key.as_bytes(), blob)
    }

    /// `caller`'s private state ([`DsError::NotFound`] if it never backed up).
    pub fn restore(&self, caller: Client) -> Result<Entry<'_>, DsError> {
        let key = Key::private(caller.name, BACKUP_FIELD)?;
        self.get(caller, key.as_bytes())
    }

    /// Checks the invariants of the store; `Err` names the first one broken.
    ///
    /// * every used slot has a well-formed key, a seq in `1..=seq()`, and no two
    ///   used slots share a key or a seq;
    /// * a tombstone has no value;
    /// * a live `component.*` key was written by RS, a live `private.<o>.*` key by
    ///   `o`; no client owns more live keys (outside `component.*`) than its quota;
    /// * every subscription has a well-formed prefix, no client holds two equal
    ///   ones nor more than its quota.
    pub fn check_consistency(&self) -> Result<(), &'static str> {
        let used = || self.slots.iter().filter(|s| s.state != State::Empty);
        for (i, s) in used().enumerate() {
            if check_key(s.key.as_slice()).is_err() {
                return Err("a used slot has a malformed key");
            }
            if s.seq == 0 || s.seq > self.seq {
                return Err("a used slot's seq is not in 1..=seq");
            }
            if s.state == State::Tombstone && !s.value.as_slice().is_empty() {
                return Err("a tombstone has a value");
            }
            if used().skip(i + 1).any(|t| t.key.as_slice() == s.key.as_slice()) {
                return Err("two slots hold the same key");
            }
            if used().skip(i + 1).any(|t| t.seq == s.seq) {
                return Err("two slots have the same seq");
            }
            if s.state == State::Live {
                if namespace::check_write(s.owner, s.key.as_slice()).is_err() {
                    return Err("a live key was written by a PD its namespace forbids");
                }
                if self.owned_by(s.owner) > self.limits.owned_per_client {
                    return Err("a client owns more keys than its quota");
                }
            }
        }
        for (i, s) in self.subs.iter().enumerate() {
            let Some(client) = s.client else { continue };
            if check_prefix(s.prefix.as_slice()).is_err() {
                return Err("a subscription has a malformed prefix");
            }
            if self.subs[i + 1..].iter().any(|t| t.client == Some(client) && t.prefix.as_slice() == s.prefix.as_slice())
            {
                return Err("a client holds the same subscription twice");
            }
            if self.subs.iter().filter(|t| t.client == Some(client)).count() > self.limits.subscriptions_per_client {
                return Err("a client holds more subscriptions than its quota");
            }
        }
        Ok(())
    }

    /// The used slot (live or tombstone) holding `key`.
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.slots.iter().position(|s| s.state != State::Empty && s.key.as_slice() == key)
    }

    /// A free slot, else the oldest tombstone.
    fn free_slot(&self) -> Option<usize> {
        self.slots.iter().position(|s| s.state == State::Empty).or_else(|| {
            let tombstones = self.slots.iter().enumerate().filter(|(_, s)| s.state == State::Tombstone);
            tombstones.min_by_key(|(_, s)| s.seq).map(|(i, _)| i)
        })
    }

    /// Live keys `owner` owns outside `component.*`.
    fn owned_by(&self, owner: &str) -> usize {
        let counted = |s: &&Slot| namespace::of(s.key.as_slice()) != namespace::Namespace::Component;
        self.slots.iter().filter(|s| s.state == State::Live && s.owner == owner).filter(counted).count()
    }

    fn subscription(&self, client: Client, prefix: &[u8]) -> Option<usize> {
        self.subs.iter().position(|s| s.client == Some(client) && s.prefix.as_slice() == prefix)
    }

    fn subscribed(&self, client: Client, key: &[u8]) -> bool {
        self.subs.iter().any(|s| s.client == Some(client) && key.starts_with(s.prefix.as_slice()))
    }

    /// The clients subscribed to a prefix of `key` that may read it.
    fn subscribers_of(&self, key: &[u8]) -> Notify {
        let mut notify = Notify::default();
        for s in self.subs.iter() {
            if let Some(client) = s.client
                && key.starts_with(s.prefix.as_slice())
                && namespace::may_read(client.name, key)
            {
                notify.add(client);
            }
        }
        notify
    }
}

fn entry(slot: &Slot) -> Entry<'_> {
    Entry {
        key: slot.key.as_slice(),
        value: slot.value.as_slice(),
        seq: slot.seq,
        deleted: slot.state == State::Tombstone,
    }
}
