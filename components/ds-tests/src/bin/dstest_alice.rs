//! Creates keys (one shared, one private, one in RS's namespace: refused), then
//! waits for bob's `ready.bob` and publishes news: 10 items and 20 versions of a
//! headline, then `news.done`, as fast as DS takes them.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;

use ds_api::{DsClient, KEY_MAX, VALUE_MAX};
use ds_tests::outcome;
use microkit::{Channel, Handler, debug_println};

microkit::include_system!("dstest_alice");

struct Alice {
    ds: DsClient,
    after: u64,
    published: bool,
}

impl Alice {
    fn check_ready(&mut self) {
        let (mut key, mut value) = ([0u8; KEY_MAX], [0u8; VALUE_MAX]);
        while let Ok(Some(change)) = self.ds.next_change(self.after, &mut key, &mut value) {
            self.after = change.seq;
            if &key[..change.key_len] == b"ready.bob" && !change.deleted && !self.published {
                self.published = true;
                self.publish();
            }
        }
    }

    fn publish(&self) {
        let mut failures = 0;
        for i in 1..=10 {
            failures += self.ds.put(&format!("news.item.{i}"), format!("item {i}").as_bytes()).is_err() as u32;
        }
        for i in 1..=20 {
            failures += self.ds.put("news.headline", format!("headline {i}").as_bytes()).is_err() as u32;
        }
        failures += self.ds.put("news.done", b"31").is_err() as u32;
        debug_println!("alice: published 31 changes, {failures} failed");
    }
}

impl Handler for Alice {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::DS {
            self.check_ready();
        }
    }
}

fn init() -> Alice {
    let ds = DsClient::new(channel::DS, region::ds_alice());
    debug_println!("alice: put shared.colour -> {}", outcome(&ds.put("shared.colour", b"blue")));
    debug_println!("alice: put private.alice.note -> {}", outcome(&ds.put("private.alice.note", b"for alice only")));
    debug_println!("alice: put component.alice.state -> {}", outcome(&ds.put("component.alice.state", b"up")));
    debug_println!("alice: subscribe ready. -> {}", outcome(&ds.subscribe("ready.")));
    let mut alice = Alice { ds, after: 0, published: false };
    // bob may have been ready before we subscribed: look before waiting.
    alice.check_ready();
    alice
}

microkit::protection_domain!(init);
