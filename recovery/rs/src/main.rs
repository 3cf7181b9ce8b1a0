//! The reincarnation server (minimal form): the parent of every restartable PD.
//! A child that faults is replaced by a fresh copy of itself.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{debug_println, Child, Fault, FaultAction, Handler};

microkit::include_system!("rs");

struct Rs;

impl Handler for Rs {
    fn fault(&mut self, child: Child, fault: Fault) -> FaultAction {
        debug_println!("rs: child {} faulted ({fault}); restarting it", child.index());
        child.restart();
        FaultAction::Leave
    }
}

fn init() -> Rs {
    debug_println!("rs: watching {} children", [child::COUNTER, child::PING, child::PONG, child::VIRTIO_BLK, child::BLK_CLIENT, child::VIRTIO_CONSOLE, child::CONSOLE_CLIENT, child::VIRTIO_NET, child::NET_CLIENT].len());
    Rs
}

microkit::protection_domain!(init);
