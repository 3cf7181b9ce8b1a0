//! Counts its own boots four ways: in `.data`, in `.bss`, in a shared region and
//! in its private state in the data store. A fresh copy after a restart starts
//! the statics over; the region keeps counting; the state it backed up in DS
//! comes back with `restore`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use ds_api::DsClient;
use microkit::{Handler, debug_println};

microkit::include_system!("counter");

/// In `.data`: 7 in every fresh copy.
static DATA_COUNTER: AtomicU64 = AtomicU64::new(7);
/// In `.bss`: 0 in every fresh copy.
static BSS_COUNTER: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Handler for Counter {}

/// The private state kept in DS: the number of boots it has backed up.
fn restore_and_backup(ds: &DsClient) -> Result<u64, ds_api::DsError> {
    let mut blob = [0u8; 8];
    let before = match ds.restore(&mut blob)? {
        Some(8) => u64::from_le_bytes(blob),
        Some(n) => {
            debug_println!("counter: ignoring a backed-up state of {n} bytes");
            0
        }
        None => 0,
    };
    ds.backup(&(before + 1).to_le_bytes())?;
    Ok(before + 1)
}

fn init() -> Counter {
    let data = DATA_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let bss = BSS_COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let state = region::counter_state();
    let boots = state.read_u64(0).unwrap_or(0) + 1;
    if let Err(e) = state.write_u64(0, boots) {
        debug_println!("counter: cannot record the boot: {e}");
    }
    debug_println!("counter: boot {boots}: data counter {data}, bss counter {bss}");
    match restore_and_backup(&DsClient::new(channel::DS, region::ds_counter())) {
        Ok(n) => debug_println!("counter: state in DS restored and backed up: boot {n}"),
        Err(e) => debug_println!("counter: no state in DS: {e}"),
    }
    Counter
}

microkit::protection_domain!(init);
