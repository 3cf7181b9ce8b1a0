//! A restartable component with private state. On a boot without a backup it
//! makes its state (stamped with the clock), backs it up and waits (the test
//! then crashes it); on a boot with one, it restores the state and checks it.
//! It wipes its buffer first, so what it restores can only come from DS.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use ds_api::{BUFFER_SIZE, DsClient, VALUE_MAX};
use ds_tests::{PHOENIX_BLOB, fingerprint, phoenix_blob};
use microkit::{Handler, debug_println};

microkit::include_system!("dstest_phoenix");

struct Phoenix;
impl Handler for Phoenix {}

fn init() -> Phoenix {
    let buffer = region::ds_phoenix();
    if buffer.write_bytes(0, &[0; BUFFER_SIZE]).is_err() {
        debug_println!("phoenix: cannot wipe the buffer");
    }
    let ds = DsClient::new(channel::DS, buffer);
    let mut out = [0u8; VALUE_MAX];
    match ds.restore(&mut out) {
        Ok(None) => {
            let mut blob = [0u8; PHOENIX_BLOB];
            let stamp = microkit::clock::now();
            phoenix_blob(stamp, &mut blob);
            let r = ds.backup(&blob);
            debug_println!(
                "phoenix: no backup; backed up {} bytes stamp {stamp} fingerprint {:#x} -> {}",
                blob.len(),
                fingerprint(&blob),
                ds_tests::outcome(&r)
            );
        }
        Ok(Some(n)) => {
            let restored = &out[..n];
            let stamp = restored.get(..8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0);
            let mut expected = [0u8; PHOENIX_BLOB];
            phoenix_blob(stamp, &mut expected);
            debug_println!(
                "phoenix: restored {n} bytes stamp {stamp} fingerprint {:#x} ({})",
                fingerprint(restored),
                if restored == expected { "intact" } else { "CORRUPT" }
            );
        }
        Err(e) => debug_println!("phoenix: restore failed: {e}"),
    }
    Phoenix
}

microkit::protection_domain!(init);
