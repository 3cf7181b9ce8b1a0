//! Subscribes to what RS publishes about `driver` and `ghost` and prints every change.
#![forbid(unsafe_code)]

use ds_api::DsClient;
use microkit::{Channel, Handler, debug_println};

microkit::include_system!("watcher");

struct Watcher {
    ds: DsClient,
    after: u64,
}

impl Watcher {
    fn drain(&mut self) {
        let (mut key, mut value) = ([0u8; ds_api::KEY_MAX], [0u8; ds_api::VALUE_MAX]);
        loop {
            match self.ds.next_change(self.after, &mut key, &mut value) {
                Ok(Some(c)) => {
                    self.after = c.seq;
                    let k = core::str::from_utf8(&key[..c.key_len]).unwrap_or("?");
                    let v = core::str::from_utf8(&value[..c.value_len]).unwrap_or("?");
                    debug_println!("watcher: {k} = {v}");
                }
                Ok(None) => return,
                Err(e) => {
                    debug_println!("watcher: next_change failed: {e}");
                    return;
                }
            }
        }
    }
}

impl Handler for Watcher {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::DS {
            self.drain();
        }
    }
}

fn init() -> Watcher {
    let ds = DsClient::new(channel::DS, region::ds_watcher());
    for prefix in ["component.driver.", "component.ghost."] {
        if let Err(e) = ds.subscribe(prefix) {
            debug_println!("watcher: cannot subscribe to {prefix}: {e}");
        }
    }
    let mut w = Watcher { ds, after: 0 };
    w.drain();
    w
}

microkit::protection_domain!(init);
