//! Subscribes to `news.` and `component.`, says `ready.bob`, and reads what
//! changes each time DS notifies it. When it has read `news.done` (alice's last
//! change) it prints the news as it sees them, then probes the access rules.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeSet;
use alloc::string::String;

use ds_api::{DsClient, DsError, KEY_MAX, VALUE_MAX};
use ds_tests::{outcome, text};
use microkit::{Channel, Handler, debug_println};

microkit::include_system!("dstest_bob");

struct Bob {
    ds: DsClient,
    after: u64,
    notifications: u32,
    changes: u32,
    headline: String,
    items: BTreeSet<String>,
    news_done: bool,
}

impl Bob {
    /// Reads every change after the last one seen.
    fn drain(&mut self) {
        let (mut key, mut value) = ([0u8; KEY_MAX], [0u8; VALUE_MAX]);
        loop {
            let change = match self.ds.next_change(self.after, &mut key, &mut value) {
                Ok(Some(change)) => change,
                Ok(None) => break,
                Err(e) => {
                    debug_println!("bob: next_change failed: {e}");
                    break;
                }
            };
            self.after = change.seq;
            self.changes += 1;
            let (k, v) = (text(&key[..change.key_len]), text(&value[..change.value_len]));
            if k == "news.headline" {
                self.headline = String::from(v);
            } else if k.starts_with("news.item.") {
                self.items.insert(String::from(k));
            } else if k == "news.done" && !self.news_done {
                self.news_done = true;
                debug_println!(
                    "bob: news done: headline \"{}\", {} items; read {} changes in {} notifications",
                    self.headline,
                    self.items.len(),
                    self.changes,
                    self.notifications
                );
                self.probe();
            } else if k.starts_with("component.") {
                debug_println!("bob: saw {k} = {v}{}", if change.deleted { " (deleted)" } else { "" });
            }
        }
    }

    /// Reads and writes across owners and namespaces.
    fn probe(&self) {
        let ds = &self.ds;
        let mut out = [0u8; VALUE_MAX];
        let show = |r: Result<usize, DsError>, out: &[u8]| match r {
            Ok(n) => String::from(text(&out[..n])),
            Err(e) => String::from(e.name()),
        };
        let r = ds.get("shared.colour", &mut out);
        debug_println!("bob: get shared.colour -> {}", show(r, &out));
        debug_println!("bob: put shared.colour -> {}", outcome(&ds.put("shared.colour", b"red")));
        debug_println!("bob: delete shared.colour -> {}", outcome(&ds.delete("shared.colour")));
        let r = ds.get("private.alice.note", &mut out);
        debug_println!("bob: get private.alice.note -> {}", show(r, &out));
        debug_println!("bob: put private.alice.note -> {}", outcome(&ds.put("private.alice.note", b"x")));
        debug_println!("bob: put component.bob.state -> {}", outcome(&ds.put("component.bob.state", b"up")));
        let r = ds.get("no.such.key", &mut out);
        debug_println!("bob: get no.such.key -> {}", show(r, &out));
        debug_println!("bob: put oversized value -> {}", outcome(&ds.put("bob.big", &[0; VALUE_MAX + 1])));
        let r = ds.get("shared.colour", &mut out);
        debug_println!("bob: get shared.colour again -> {}", show(r, &out));
    }
}

impl Handler for Bob {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::DS {
            self.notifications += 1;
            self.drain();
        }
    }
}

fn init() -> Bob {
    let ds = DsClient::new(channel::DS, region::ds_bob());
    debug_println!("bob: subscribe news. -> {}", outcome(&ds.subscribe("news.")));
    debug_println!("bob: subscribe component. -> {}", outcome(&ds.subscribe("component.")));
    let mut bob = Bob {
        ds,
        after: 0,
        notifications: 0,
        changes: 0,
        headline: String::new(),
        items: BTreeSet::new(),
        news_done: false,
    };
    // What changed before we subscribed.
    bob.drain();
    debug_println!("bob: put ready.bob -> {}", outcome(&bob.ds.put("ready.bob", b"yes")));
    bob
}

microkit::protection_domain!(init);
