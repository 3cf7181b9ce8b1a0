//! One request: decode the label, MRs and buffer of an untrusted client, run it on
//! the store, encode the reply (see the protocol in `ds_api`).

use ds_api::{DsError, KEY_MAX, KEY_OFFSET, OK, REPLY_MRS, SharedBuffer, VALUE_MAX, VALUE_OFFSET, label};

use crate::store::{Client, Entry, Notify, Store};

/// The reply to a request, and the subscribers to notify of the change it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// [`OK`] or a [`DsError::code`].
    pub label: u64,
    /// The reply's MRs; the first `count` are sent.
    pub mrs: [u64; REPLY_MRS],
    /// How many MRs the reply uses.
    pub count: usize,
    /// Whom to notify.
    pub notify: Notify,
}

impl Reply {
    fn ok(mrs: &[u64], notify: Notify) -> Reply {
        let mut out = [0; REPLY_MRS];
        let count = mrs.len().min(REPLY_MRS);
        out[..count].copy_from_slice(&mrs[..count]);
        Reply { label: OK, mrs: out, count, notify }
    }

    fn error(e: DsError) -> Reply {
        Reply { label: e.code(), mrs: [0; REPLY_MRS], count: 0, notify: Notify::default() }
    }
}

/// Serves one request of `caller`: `label` and `args` (its MRs) as received, `buf`
/// the buffer `caller` shares with DS. Never panics, whatever the client sent.
pub fn serve<B: SharedBuffer + ?Sized>(
    store: &mut Store<'_>,
    caller: Client,
    label: u64,
    args: &[u64],
    buf: &B,
) -> Reply {
    match handle(store, caller, label, args, buf) {
        Ok(reply) => reply,
        Err(e) => Reply::error(e),
    }
}

fn handle<B: SharedBuffer + ?Sized>(
    store: &mut Store<'_>,
    caller: Client,
    label: u64,
    args: &[u64],
    buf: &B,
) -> Result<Reply, DsError> {
    match label {
        label::PUT => {
            let [key_len, value_len] = mrs(args)?;
            let (key, value) =
                (read::<KEY_MAX, _>(buf, KEY_OFFSET, key_len)?, read::<VALUE_MAX, _>(buf, VALUE_OFFSET, value_len)?);
            let (seq, notify) = store.put(caller, key.bytes(), value.bytes())?;
            Ok(Reply::ok(&[seq], notify))
        }
        label::GET => {
            let [key_len] = mrs(args)?;
            let key = read::<KEY_MAX, _>(buf, KEY_OFFSET, key_len)?;
            let entry = store.get(caller, key.bytes())?;
            send_value(buf, &entry)
        }
        label::DELETE => {
            let [key_len] = mrs(args)?;
            let key = read::<KEY_MAX, _>(buf, KEY_OFFSET, key_len)?;
            let (seq, notify) = store.delete(caller, key.bytes())?;
            Ok(Reply::ok(&[seq], notify))
        }
        label::SUBSCRIBE => {
            let [prefix_len] = mrs(args)?;
            let prefix = read::<KEY_MAX, _>(buf, KEY_OFFSET, prefix_len)?;
            store.subscribe(caller, prefix.bytes())?;
            Ok(Reply::ok(&[store.seq()], Notify::default()))
        }
        label::UNSUBSCRIBE => {
            let [prefix_len] = mrs(args)?;
            let prefix = read::<KEY_MAX, _>(buf, KEY_OFFSET, prefix_len)?;
            store.unsubscribe(caller, prefix.bytes())?;
            Ok(Reply::ok(&[], Notify::default()))
        }
        label::NEXT_CHANGE => {
            let [after] = mrs(args)?;
            let Some(change) = store.next_change(caller, after) else {
                return Ok(Reply::ok(&[0], Notify::default()));
            };
            buf.write(KEY_OFFSET, change.key).map_err(|_| DsError::BadRequest)?;
            buf.write(VALUE_OFFSET, change.value).map_err(|_| DsError::BadRequest)?;
            let fields = [1, change.seq, change.key.len() as u64, change.value.len() as u64, u64::from(change.deleted)];
            Ok(Reply::ok(&fields, Notify::default()))
        }
        label::BACKUP => {
            let [value_len] = mrs(args)?;
            let blob = read::<VALUE_MAX, _>(buf, VALUE_OFFSET, value_len)?;
            let (seq, notify) = store.backup(caller, blob.bytes())?;
            Ok(Reply::ok(&[seq], notify))
        }
        label::RESTORE => {
            let [] = mrs(args)?;
            let entry = store.restore(caller)?;
            send_value(buf, &entry)
        }
        _ => Err(DsError::BadRequest),
    }
}

/// The request's MRs, exactly `N` of them.
fn mrs<const N: usize>(args: &[u64]) -> Result<[u64; N], DsError> {
    args.try_into().map_err(|_| DsError::BadRequest)
}

/// Bytes copied out of the client's buffer (so it cannot change them under us).
struct Copied<const N: usize> {
    len: usize,
    data: [u8; N],
}

impl<const N: usize> Copied<N> {
    fn bytes(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or(&[])
    }
}

/// Copies `len` bytes at `offset` out of the buffer; a length beyond the area of
/// `N` bytes the layout gives the field is a malformed request.
fn read<const N: usize, B: SharedBuffer + ?Sized>(buf: &B, offset: usize, len: u64) -> Result<Copied<N>, DsError> {
    let len = usize::try_from(len).ok().filter(|&l| l <= N).ok_or(DsError::BadRequest)?;
    let mut copied = Copied { len, data: [0; N] };
    buf.read(offset, &mut copied.data[..len]).map_err(|_| DsError::BadRequest)?;
    Ok(copied)
}

/// The reply to a get/restore: the value into the buffer, its length and seq in MRs.
fn send_value<B: SharedBuffer + ?Sized>(buf: &B, entry: &Entry<'_>) -> Result<Reply, DsError> {
    buf.write(VALUE_OFFSET, entry.value).map_err(|_| DsError::BadRequest)?;
    Ok(Reply::ok(&[entry.value.len() as u64, entry.seq], Notify::default()))
}
