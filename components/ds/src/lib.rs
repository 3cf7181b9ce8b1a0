//! The data store (DS): a trusted top-level PD that keeps small keyed values for
//! the others, notifies subscribers of changes, and keeps the private state of
//! restartable components across their restarts (MINIX 3's DS, on seL4).
//!
//! DS has a higher priority than all its clients, which call it (PPC); it never
//! calls anyone and never blocks: it only notifies subscribers. RS calls it, so RS
//! cannot restart it: DS is not restartable and must not fail on anything a
//! client sends. The protocol, the limits of keys and values and the namespace
//! rules are in [`ds_api`].
//!
//! * [`store`]: the store itself, `no_std` and without a heap, unit-tested;
//! * [`server`]: one request from the wire (label, MRs, shared buffer) to a reply;
//! * [`DsPd`] and [`pd!`]: the PD around them.
//!
//! # Sizes
//!
//! [`ENTRIES`] keys of up to [`KEY_MAX`](ds_api::KEY_MAX) bytes with values of up to
//! [`VALUE_MAX`](ds_api::VALUE_MAX) bytes, [`SUBSCRIPTIONS`] subscriptions; each
//! client may own [`OWNED_PER_CLIENT`] live keys (RS's `component.*` keys are not
//! counted) and hold [`SUBSCRIPTIONS_PER_CLIENT`] subscriptions. The tables take
//! about 100 KiB of the PD's heap, allocated once at start-up.
//!
//! A deleted key leaves a tombstone that subscribers read as a deletion. When a
//! new key finds no free slot, it takes the oldest tombstone: a subscriber that
//! has not caught up by then does not see that deletion (it still sees every
//! later change). With fewer than [`ENTRIES`] keys ever created, no deletion is
//! missed.
//!
//! # The PD
//!
//! A DS program is one line, `ds::pd!("ds");`, with `ds_build::generate("ds",
//! "../../system.xml")` in its `build.rs`: the build script reads `system.xml` and
//! writes the table of DS's clients (channel id, PD name, shared buffer region),
//! checking the rules DS relies on (see `ds-build`).
//!
//! # Wiring DS into a system
//!
//! DS is a top-level PD above all its clients; each client has a channel on which
//! it calls DS and a buffer region of its own, mapped read-write by both:
//!
//! ```xml
//! <memory_region name="ds_net" size="0x1000" />
//! <protection_domain name="ds" priority="254" stack_size="0x10000">
//!     <program_image path="ds.elf" />
//!     <map mr="ds_net" vaddr="0x5000000" perms="rw" />
//! </protection_domain>
//! <!-- in the client `net`: -->
//!     <map mr="ds_net" vaddr="0x5000000" perms="rw" />
//! <channel>
//!     <end pd="net" id="3" pp="true" />
//!     <end pd="ds" id="1" />
//! </channel>
//! ```
//!
//! The client then uses `DsClient::new(channel::DS, region::ds_net())` and, if it
//! subscribes, reads changes in `notified(channel::DS)`. RS is a client like any
//! other; its PD must be called [`RS_NAME`](ds_api::RS_NAME) (`rs`).
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod server;
pub mod store;

use alloc::boxed::Box;
use alloc::vec;

use microkit::reply::ApiError;
use microkit::{Channel, ChannelSet, Handler, MessageInfo, Region, debug_println, get_mr, set_mr};

pub use store::{Client, Limits, Store};

/// Number of keys DS holds (live keys and tombstones).
pub const ENTRIES: usize = 128;
/// Number of subscriptions DS holds.
pub const SUBSCRIPTIONS: usize = 64;
/// Live keys one client may own (not counting RS's `component.*` keys).
pub const OWNED_PER_CLIENT: usize = 32;
/// Subscriptions one client may hold.
pub const SUBSCRIPTIONS_PER_CLIENT: usize = 8;

/// The limits DS runs with.
pub const LIMITS: Limits =
    Limits { owned_per_client: OWNED_PER_CLIENT, subscriptions_per_client: SUBSCRIPTIONS_PER_CLIENT };

/// A client as the generated table gives it: who calls on a channel, and the
/// buffer region it shares with DS.
#[derive(Clone, Copy, Debug)]
pub struct ClientEntry {
    /// The client.
    pub client: Client,
    /// The buffer region, as DS maps it.
    pub buffer: Region,
}

/// The generated table: the client on DS's channel `id`, if any.
pub type ClientTable = fn(u8) -> Option<ClientEntry>;

/// The DS protection domain.
pub struct DsPd {
    store: Store<'static>,
    clients: ClientTable,
}

impl DsPd {
    /// DS with the generated client table; `names` (channel id, PD name) only
    /// for the start-up message. Allocates the store's tables.
    pub fn new(clients: ClientTable, names: &[(u8, &str)]) -> DsPd {
        let slots = Box::leak(vec![store::Slot::EMPTY; ENTRIES].into_boxed_slice());
        let subs = Box::leak(vec![store::Subscription::EMPTY; SUBSCRIPTIONS].into_boxed_slice());
        microkit::debug_print!("ds: {ENTRIES} entries, {SUBSCRIPTIONS} subscriptions; {} clients:", names.len());
        for (id, name) in names {
            microkit::debug_print!(" {name} ({id})");
        }
        debug_println!();
        DsPd { store: Store::new(slots, subs, LIMITS), clients }
    }
}

impl Handler for DsPd {
    /// DS takes no notifications; a client's are ignored.
    fn notified(&mut self, _channel: Channel) {}

    fn protected(&mut self, channel: Channel, msg: MessageInfo) -> MessageInfo {
        let bad = ds_api::DsError::BadRequest.reply();
        let Some(entry) = (self.clients)(channel.index()) else { return bad };
        let count = msg.count();
        if count > ds_api::ARGS_MAX {
            return bad;
        }
        let mut args = [0u64; ds_api::ARGS_MAX];
        for (i, arg) in args.iter_mut().enumerate().take(count) {
            *arg = get_mr(i);
        }
        let reply = server::serve(&mut self.store, entry.client, msg.label(), &args[..count], &entry.buffer);
        for subscriber in ChannelSet::from_badge(reply.notify.0) {
            subscriber.notify();
        }
        for (i, &mr) in reply.mrs.iter().enumerate().take(reply.count) {
            set_mr(i, mr);
        }
        MessageInfo::new(reply.label, reply.count)
    }
}

/// The whole DS program: `ds::pd!("ds")` for program image `ds.elf`. Its
/// `build.rs` must call `ds_build::generate` for the same program.
#[macro_export]
macro_rules! pd {
    ($program:literal) => {
        ::microkit::include_system!($program);
        include!(concat!(env!("OUT_DIR"), "/", $program, ".ds_clients.rs"));

        fn init() -> $crate::DsPd {
            $crate::DsPd::new(ds_clients::client, ds_clients::CLIENTS)
        }

        ::microkit::protection_domain!(init);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_fit_comfortably_in_a_pd_heap() {
        // A PD's heap on seL4 is 256 KiB (microkit runtime); DS takes at most half.
        let bytes =
            core::mem::size_of::<store::Slot>() * ENTRIES + core::mem::size_of::<store::Subscription>() * SUBSCRIPTIONS;
        assert!(bytes <= 128 * 1024, "{bytes} bytes");
    }
}
