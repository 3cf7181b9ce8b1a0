//! The client library: one method per request, over a [`Transport`].

use microkit::{Channel, MessageInfo, Region, get_mr, reply, set_mr};

use crate::{
    DsError, KEY_MAX, KEY_OFFSET, REPLY_MRS, SharedBuffer, VALUE_MAX, VALUE_OFFSET, check_key, check_prefix, label,
};

/// How a client reaches DS: a call with a label and MRs, and the shared buffer.
/// [`Ipc`] is the real one; tests put DS's request handler behind their own.
pub trait Transport {
    /// The buffer shared with DS.
    type Buffer: SharedBuffer;

    /// The buffer shared with DS.
    fn buffer(&self) -> &Self::Buffer;

    /// Calls DS with `label` and `args` in MRs 0..; fills `reply` with the reply's
    /// MRs (0 past its count) and returns the reply's label and MR count.
    fn call(&self, label: u64, args: &[u64], reply: &mut [u64; REPLY_MRS]) -> (u64, usize);
}

/// The transport of a PD: protected procedure calls on a channel to DS, and a
/// memory region mapped by this PD and DS.
#[derive(Clone, Copy, Debug)]
pub struct Ipc {
    ch: Channel,
    buf: Region,
}

impl Transport for Ipc {
    type Buffer = Region;

    fn buffer(&self) -> &Region {
        &self.buf
    }

    fn call(&self, label: u64, args: &[u64], reply: &mut [u64; REPLY_MRS]) -> (u64, usize) {
        for (i, &arg) in args.iter().enumerate() {
            set_mr(i, arg);
        }
        let info = self.ch.pp_call(MessageInfo::new(label, args.len()));
        for (i, slot) in reply.iter_mut().enumerate() {
            *slot = if i < info.count() { get_mr(i) } else { 0 };
        }
        (info.label(), info.count())
    }
}

/// A change that [`DsClient::next_change`] returned: its key is in the first
/// `key_len` bytes of the key buffer, its value in the first `value_len` bytes of
/// the value buffer (empty if `deleted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The seq of the change; pass it as `after` to get the next one.
    pub seq: u64,
    /// Length of the key.
    pub key_len: usize,
    /// Length of the value (0 if deleted).
    pub value_len: usize,
    /// The key was deleted.
    pub deleted: bool,
}

/// A client of DS. Each method is one call; none keeps state between calls, so a
/// client may be used from a `static` and survives DS's answers of any kind.
#[derive(Clone, Copy, Debug)]
pub struct DsClient<T: Transport = Ipc> {
    transport: T,
}

impl DsClient<Ipc> {
    /// The client of a PD: `ch` is its channel to DS, `buf` the region it shares
    /// with DS (both from the generated `channel::` and `region::` constants).
    pub const fn new(ch: Channel, buf: Region) -> Self {
        DsClient { transport: Ipc { ch, buf } }
    }
}

impl<T: Transport> DsClient<T> {
    /// A client over another transport (tests).
    pub const fn with_transport(transport: T) -> Self {
        DsClient { transport }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Creates `key` or overwrites it with `value`. Only its owner may overwrite
    /// a key (see [`namespace`](crate::namespace)).
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), DsError> {
        self.put_seq(key, value).map(|_| ())
    }

    /// [`put`](Self::put), returning the seq of the change.
    pub fn put_seq(&self, key: &str, value: &[u8]) -> Result<u64, DsError> {
        self.send_key(key.as_bytes())?;
        self.send_value(value)?;
        let reply = self.request(label::PUT, &[key.len() as u64, value.len() as u64], 1)?;
        Ok(reply[0])
    }

    /// Reads `key` into `out`; returns the value's length. `out` of
    /// [`VALUE_MAX`] bytes always suffices; a shorter one that is too short gives
    /// [`DsError::TooLarge`].
    pub fn get(&self, key: &str, out: &mut [u8]) -> Result<usize, DsError> {
        self.get_seq(key, out).map(|(len, _)| len)
    }

    /// [`get`](Self::get), also returning the seq of the value's last change.
    pub fn get_seq(&self, key: &str, out: &mut [u8]) -> Result<(usize, u64), DsError> {
        self.send_key(key.as_bytes())?;
        let reply = self.request(label::GET, &[key.len() as u64], 2)?;
        let len = self.receive_value(reply[0], out)?;
        Ok((len, reply[1]))
    }

    /// Deletes `key` (its owner only). Subscribers see the deletion.
    pub fn delete(&self, key: &str) -> Result<(), DsError> {
        self.send_key(key.as_bytes())?;
        self.request(label::DELETE, &[key.len() as u64], 1).map(|_| ())
    }

    /// Subscribes to every key that starts with `prefix` (the empty prefix is every
    /// key) and that this PD may read. DS notifies this PD on its channel to DS on
    /// each change (handle it in `notified`); read the changes with
    /// [`next_change`](Self::next_change). Subscribing
    /// twice to one prefix is one subscription. Subscriptions outlive a restart of
    /// the subscriber (its identity is its channel).
    pub fn subscribe(&self, prefix: &str) -> Result<(), DsError> {
        self.send_prefix(prefix.as_bytes())?;
        self.request(label::SUBSCRIBE, &[prefix.len() as u64], 1).map(|_| ())
    }

    /// Drops the subscription to `prefix` ([`DsError::NotFound`] if there is none).
    pub fn unsubscribe(&self, prefix: &str) -> Result<(), DsError> {
        self.send_prefix(prefix.as_bytes())?;
        self.request(label::UNSUBSCRIBE, &[prefix.len() as u64], 0).map(|_| ())
    }

    /// The next change after `after` (a seq) under this client's subscriptions:
    /// the key it may read with the smallest seq above `after`, with its latest
    /// value. Start with 0 and pass each returned `seq` back until `None`. A key
    /// changed several times in between is returned once, with its last value.
    /// If `key` or `value` is too short for the change, [`DsError::TooLarge`]
    /// (nothing is consumed: ask again with larger buffers).
    pub fn next_change(&self, after: u64, key: &mut [u8], value: &mut [u8]) -> Result<Option<Change>, DsError> {
        let reply = self.request(label::NEXT_CHANGE, &[after], 1)?;
        match reply.mrs[0] {
            0 => return Ok(None),
            1 if reply.count == REPLY_MRS => {}
            _ => return Err(DsError::Protocol),
        }
        let (seq, key_len, value_len, deleted) = (reply[1], reply[2], reply[3], reply[4]);
        let key_len = usize::try_from(key_len).map_err(|_| DsError::Protocol)?;
        let value_len = usize::try_from(value_len).map_err(|_| DsError::Protocol)?;
        let deleted = match deleted {
            0 => false,
            1 => true,
            _ => return Err(DsError::Protocol),
        };
        if seq <= after || key_len == 0 || key_len > KEY_MAX || value_len > VALUE_MAX || (deleted && value_len != 0) {
            return Err(DsError::Protocol);
        }
        let key_out = key.get_mut(..key_len).ok_or(DsError::TooLarge)?;
        let value_out = value.get_mut(..value_len).ok_or(DsError::TooLarge)?;
        let buf = self.transport.buffer();
        buf.read(KEY_OFFSET, key_out).map_err(|_| DsError::Protocol)?;
        buf.read(VALUE_OFFSET, value_out).map_err(|_| DsError::Protocol)?;
        Ok(Some(Change { seq, key_len, value_len, deleted }))
    }

    /// Stores `blob` as this PD's private state (`private.<me>.state`), replacing
    /// the previous one. It outlives restarts of this PD.
    pub fn backup(&self, blob: &[u8]) -> Result<(), DsError> {
        self.send_value(blob)?;
        self.request(label::BACKUP, &[blob.len() as u64], 1).map(|_| ())
    }

    /// Reads this PD's private state into `out`: its length, or `None` if it never
    /// backed up (or deleted `private.<me>.state`).
    pub fn restore(&self, out: &mut [u8]) -> Result<Option<usize>, DsError> {
        match self.request(label::RESTORE, &[], 2) {
            Ok(reply) => self.receive_value(reply[0], out).map(Some),
            Err(DsError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn send_key(&self, key: &[u8]) -> Result<(), DsError> {
        check_key(key)?;
        self.transport.buffer().write(KEY_OFFSET, key).map_err(|_| DsError::Protocol)
    }

    fn send_prefix(&self, prefix: &[u8]) -> Result<(), DsError> {
        check_prefix(prefix)?;
        self.transport.buffer().write(KEY_OFFSET, prefix).map_err(|_| DsError::Protocol)
    }

    fn send_value(&self, value: &[u8]) -> Result<(), DsError> {
        if value.len() > VALUE_MAX {
            return Err(DsError::TooLarge);
        }
        self.transport.buffer().write(VALUE_OFFSET, value).map_err(|_| DsError::Protocol)
    }

    fn receive_value(&self, len: u64, out: &mut [u8]) -> Result<usize, DsError> {
        let len = usize::try_from(len).ok().filter(|&l| l <= VALUE_MAX).ok_or(DsError::Protocol)?;
        let out = out.get_mut(..len).ok_or(DsError::TooLarge)?;
        self.transport.buffer().read(VALUE_OFFSET, out).map_err(|_| DsError::Protocol)?;
        Ok(len)
    }

    /// Makes the call; `Ok` if DS answered [`OK`](crate::OK) with at least `want` MRs.
    fn request(&self, label: u64, args: &[u64], want: usize) -> Result<Reply, DsError> {
        let mut mrs = [0; REPLY_MRS];
        let (reply_label, count) = self.transport.call(label, args, &mut mrs);
        reply::check_count::<DsError>(MessageInfo::new(reply_label, count), want)?;
        Ok(Reply { mrs, count })
    }
}

/// A successful reply's MRs.
struct Reply {
    mrs: [u64; REPLY_MRS],
    count: usize,
}

impl core::ops::Index<usize> for Reply {
    type Output = u64;
    fn index(&self, i: usize) -> &u64 {
        &self.mrs[i]
    }
}
