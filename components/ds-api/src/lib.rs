//! The protocol of the data store (DS) and its client library.
//!
//! DS keeps small keyed values for the other protection domains (PDs): who is up
//! (the reincarnation server RS publishes `component.<name>.*`), configuration, and
//! the private state a restartable component backs up to get it back after a
//! restart. Subscribers are notified when a key under one of their prefixes
//! changes and then read the changes with [`DsClient::next_change`].
//!
//! # Transport
//!
//! A client makes a protected procedure call (PPC) to DS on its channel (DS has a
//! higher priority than every client). The call's label says what to do, message
//! registers (MRs) carry lengths and sequence numbers, and a memory region that
//! only the client and DS map (its *buffer*) carries keys and values:
//!
//! | buffer bytes | holds |
//! | --- | --- |
//! | [`KEY_OFFSET`]`..+`[`KEY_MAX`] (0..128) | the key or prefix of a request; the key of a [`label::NEXT_CHANGE`] reply |
//! | [`VALUE_OFFSET`]`..+`[`VALUE_MAX`] (128..640) | the value of a put/backup request; the value of a get/restore/next-change reply |
//!
//! A buffer region must be at least [`BUFFER_SIZE`] bytes and mapped read-write by
//! both (checked at build time by `ds-build`). Lengths are in MRs; the bytes past a
//! length are ignored. DS copies a request's bytes out of the buffer before it
//! checks them, so a client changing its buffer during a call only hurts itself.
//!
//! | label | request MRs | reply MRs on success (label [`OK`]) |
//! | --- | --- | --- |
//! | [`label::PUT`] | key_len, value_len | seq of the change |
//! | [`label::GET`] | key_len | value_len, seq of the value |
//! | [`label::DELETE`] | key_len | seq of the deletion |
//! | [`label::SUBSCRIBE`] | prefix_len | current seq |
//! | [`label::UNSUBSCRIBE`] | prefix_len | (none) |
//! | [`label::NEXT_CHANGE`] | after (a seq) | found (0/1); if found: seq, key_len, value_len, deleted (0/1) |
//! | [`label::BACKUP`] | value_len | seq of the change |
//! | [`label::RESTORE`] | (none) | value_len, seq of the value |
//!
//! The MR count of a request must be exactly as above. Replies follow the
//! runtime's convention ([`microkit::reply`]): on failure the reply label is the
//! [`DsError::code`] and no MR is used; a DS that died during the call is
//! [`DsError::PeerFaulted`]. A request that does not fit this
//! table (unknown label, wrong MR count, a length beyond its buffer area, a key
//! with bytes outside `!`..=`~`) is answered [`DsError::BadRequest`]; DS never
//! trusts the client and never stops serving the others.
//!
//! # Keys, owners and namespaces
//!
//! A key is 1..=[`KEY_MAX`] bytes of printable ASCII without spaces (`!`..=`~`);
//! a value is 0..=[`VALUE_MAX`] bytes. A client's identity is the PD name that
//! `system.xml` gives the other end of the channel a call arrives on; no client can
//! claim another's name. See [`namespace`] for who may read and write what:
//! `component.*` is written by RS only, `private.<owner>.*` is readable and writable
//! by `<owner>` only, any other key belongs to the PD that created it.
//!
//! # Changes
//!
//! DS counts every change (put, delete) with a global sequence number (seq) and
//! keeps, per key, the seq of its last change. A deleted key leaves a tombstone
//! that subscribers see as a change with `deleted` set (until DS needs the slot for
//! another key, see the `ds` crate). A subscriber is notified on its channel; as
//! notifications coalesce, it then asks for the next change after the last seq it
//! has seen until there is none: every key that changed is returned once, with its
//! latest value, so nothing is lost however many notifications were merged.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod buffer;
mod client;
mod error;
mod key;
pub mod namespace;

pub use buffer::{BufferError, MemBuffer, SharedBuffer};
pub use client::{Change, DsClient, Ipc, Transport};
pub use error::DsError;
pub use key::{Key, check_key, check_prefix};

/// Longest key (and subscription prefix), in bytes. Room for
/// `component.<name>.last_fault` and `private.<name>.state` with any PD name that
/// Microkit allows (64 bytes).
pub const KEY_MAX: usize = 128;
/// Longest value, in bytes.
pub const VALUE_MAX: usize = 512;
/// Where the key of a request or reply starts in the buffer.
pub const KEY_OFFSET: usize = 0;
/// Where the value of a request or reply starts in the buffer.
pub const VALUE_OFFSET: usize = KEY_OFFSET + KEY_MAX;
/// The smallest buffer region DS accepts for a client.
pub const BUFFER_SIZE: usize = VALUE_OFFSET + VALUE_MAX;

/// Name of the reincarnation server's PD: the only writer of `component.*`.
pub const RS_NAME: &str = "rs";

/// Reply label of a request that succeeded.
pub const OK: u64 = microkit::reply::OK;

/// The most MRs a DS request uses.
pub const ARGS_MAX: usize = 2;

/// The most MRs a DS reply uses.
pub const REPLY_MRS: usize = 5;

/// Request labels (the label of the PPC message).
pub mod label {
    /// Create or overwrite a key.
    pub const PUT: u64 = 1;
    /// Read a key.
    pub const GET: u64 = 2;
    /// Delete a key (it leaves a tombstone for subscribers).
    pub const DELETE: u64 = 3;
    /// Subscribe to a key prefix (idempotent).
    pub const SUBSCRIBE: u64 = 4;
    /// Drop a subscription.
    pub const UNSUBSCRIBE: u64 = 5;
    /// The change with the smallest seq above a given one, under the caller's
    /// subscriptions, among the keys it may read.
    pub const NEXT_CHANGE: u64 = 6;
    /// Store the caller's private state blob (`private.<caller>.state`).
    pub const BACKUP: u64 = 7;
    /// Read back the caller's private state blob.
    pub const RESTORE: u64 = 8;
}

/// Fields that RS publishes under `component.<name>.`.
pub mod component {
    /// `up`, `restarting`, `stopped`, ... (as RS defines them).
    pub const STATE: &str = "state";
    /// Generation of the running copy: 0 at boot, +1 per restart.
    pub const GENERATION: &str = "generation";
    /// How often the component was restarted.
    pub const RESTARTS: &str = "restarts";
    /// The last fault, as text.
    pub const LAST_FAULT: &str = "last_fault";
    /// The last operation of RS on the component that the kernel refused, as
    /// text: `restart|stop|inject <error name> at <ns>`.
    pub const LAST_ERROR: &str = "last_error";
}

/// Field of the private key that [`DsClient::backup`] and [`DsClient::restore`] use:
/// the blob lives in `private.<caller>.state`.
pub const BACKUP_FIELD: &str = "state";
