//! Plays the reincarnation server of the test system: the parent of phoenix.
//! Publishes `component.phoenix.*` at start and on each restart, and checks that
//! even RS cannot read a component's private state.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;

use ds_api::{DsClient, Key, VALUE_MAX, component};
use ds_tests::outcome;
use microkit::{Child, Fault, FaultAction, Handler, debug_println};

microkit::include_system!("dstest_rs");

struct Rs {
    ds: DsClient,
    restarts: u64,
}

impl Rs {
    fn publish(&self, field: &str, value: &str) -> &'static str {
        match Key::component("phoenix", field) {
            Ok(key) => outcome(&self.ds.put(key.as_str(), value.as_bytes())),
            Err(e) => e.name(),
        }
    }
}

impl Handler for Rs {
    fn fault(&mut self, c: Child, fault: Fault) -> FaultAction {
        if c != child::PHOENIX {
            return FaultAction::Leave;
        }
        self.restarts += 1;
        let n = format!("{}", self.restarts);
        let results = [
            self.publish(component::STATE, "restarting"),
            self.publish(component::LAST_FAULT, &format!("{fault}")),
            self.publish(component::RESTARTS, &n),
            self.publish(component::GENERATION, &n),
        ];
        if let Err(e) = c.restart() {
            let error = self.publish(component::LAST_ERROR, &format!("restart {}", e.name()));
            let down = self.publish(component::STATE, "down");
            debug_println!(
                "rs: phoenix faulted ({fault}); its restart was refused: {e}; published {results:?} {error} {down}"
            );
            return FaultAction::Leave;
        }
        let up = self.publish(component::STATE, "up");
        debug_println!("rs: phoenix faulted ({fault}); restarted it; published {results:?} {up}");
        FaultAction::Leave
    }
}

fn init() -> Rs {
    let rs = Rs { ds: DsClient::new(channel::DS, region::ds_rs()), restarts: 0 };
    let results = [
        rs.publish(component::STATE, "up"),
        rs.publish(component::GENERATION, "0"),
        rs.publish(component::RESTARTS, "0"),
    ];
    debug_println!("rs: published component.phoenix.* -> {results:?}");
    let mut out = [0u8; VALUE_MAX];
    debug_println!("rs: get private.phoenix.state -> {}", outcome(&rs.ds.get("private.phoenix.state", &mut out)));
    rs
}

microkit::protection_domain!(init);
