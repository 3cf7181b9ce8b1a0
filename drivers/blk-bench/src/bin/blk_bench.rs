//! The raw block client PD, in vfs's place (see the crate documentation):
//! one sweep, its figures printed, then idle. vfs's clients (files, the
//! shell, http) get an I/O error from every call.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

use blk_bench::{BUFFERS, CHUNK, PASSES, Phase, Sweep};
use microkit::reply::ApiError;
use microkit::{Channel, Handler, MessageInfo, arch_timer, debug_println};
use vfs_api::VfsError;

microkit::include_system!("blk_bench");

const DRIVER: Channel = channel::VIRTIO_BLK;

struct Pd {
    sweep: Option<Sweep<microkit::Region, Channel>>,
    pass: u32,
}

impl Handler for Pd {
    fn notified(&mut self, channel: Channel) {
        if channel != DRIVER {
            return;
        }
        let Some(sweep) = self.sweep.as_mut() else { return };
        if matches!(sweep.phase(), Phase::Done | Phase::Failed) {
            return;
        }
        if let Err(e) = sweep.notified(arch_timer::now_ns()) {
            debug_println!("blk_bench: ERROR {e}");
            return;
        }
        if sweep.phase() == Phase::Done {
            let f = sweep.figures();
            debug_println!(
                "blk_bench: raw: pass {}: wrote and read back {} bytes in {CHUNK} B requests, {BUFFERS} in flight, all match; write {} ns (with the flush), read {} ns, {} given again",
                self.pass,
                f.bytes,
                f.write_ns,
                f.read_ns,
                f.resubmitted
            );
            self.pass += 1;
            if self.pass < PASSES
                && let Err(e) = sweep.again(arch_timer::now_ns())
            {
                debug_println!("blk_bench: ERROR {e}");
            }
        }
    }

    fn protected(&mut self, _channel: Channel, _msg: MessageInfo) -> MessageInfo {
        MessageInfo::new(VfsError::Io.code(), 0)
    }
}

fn init() -> Pd {
    debug_println!("blk_bench: in vfs's place: the raw driver, no file system");
    match Sweep::new("blk_bench on virtio_blk", region::blk_queues(), region::blk_data(), DRIVER) {
        Ok(s) => Pd { sweep: Some(s), pass: 0 },
        Err(e) => {
            debug_println!("blk_bench: ERROR {e}");
            Pd { sweep: None, pass: 0 }
        }
    }
}

microkit::protection_domain!(init);
