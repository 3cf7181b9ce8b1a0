//! The driver side of the two-process queue test: completes numbered requests
//! after checking their buffers; crashes or lies on the boots `misdeed` names.
#![forbid(unsafe_code)]

use driver_queue::{Desc, Driver, Link, status};
use driver_queue_tests::{LAYOUT, Misdeed, SPECS, len_for, misdeed};
use microkit::{Channel, Handler, Region, debug_println};

microkit::include_system!("qdriver");

/// Requests taken from the ring at once (and held: a crash loses them).
const BATCH: usize = 32;

struct QDriver {
    queues: Driver<Region>,
    data: Region,
    boot: u64,
    misdeed: Misdeed,
    done: u64,
}

impl QDriver {
    fn work(&mut self) {
        match self.queues.poll() {
            Ok(Link::Ready) => {}
            Ok(Link::Attached { epoch }) => debug_println!("qdriver: boot {} attached to epoch {epoch}", self.boot),
            Ok(Link::Waiting) => return,
            Ok(Link::Requested | Link::Reset) => return channel::QSERVER.notify(),
            Err(e) => return debug_println!("qdriver: queue set unusable: {e}"),
        }
        let QDriver { queues, data, misdeed, done, .. } = self;
        let Ok(pair) = queues.pair(0) else { return };
        loop {
            let mut batch = [Desc::default(); BATCH];
            let mut n = 0;
            while n < BATCH {
                match pair.next_request() {
                    Ok(Some(r)) => batch[n] = r,
                    Ok(None) => break,
                    Err(e) => return debug_println!("qdriver: server misbehaved: {e}"),
                }
                n += 1;
            }
            for (i, r) in batch[..n].iter().enumerate() {
                if *misdeed == Misdeed::CrashAfter(*done) {
                    panic!("qdriver: injected crash after {done} completions, holding {} requests", n - i);
                }
                let mut seq = [0u8; 8];
                let ok = data.read_bytes(r.offset as usize, &mut seq).is_ok() && u64::from_ne_bytes(seq) == r.arg;
                let mut c = Desc { len: len_for(r.arg), status: if ok { status::OK } else { status::IO_ERROR }, ..*r };
                if *misdeed == Misdeed::ForgeAfter(*done) {
                    debug_println!("qdriver: forging the completion of request {}", r.arg);
                    c.arg ^= 1 << 40;
                }
                if let Err(e) = pair.complete(c) {
                    return debug_println!("qdriver: cannot complete: {e}");
                }
                *done += 1;
            }
            if pair.should_notify() {
                channel::QSERVER.notify();
            }
            if n == 0 {
                match pair.request_signal() {
                    Ok(true) => return,
                    Ok(false) => {}
                    Err(e) => return debug_println!("qdriver: server misbehaved: {e}"),
                }
            }
        }
    }
}

impl Handler for QDriver {
    fn notified(&mut self, ch: Channel) {
        if ch == channel::QSERVER {
            self.work();
        }
    }
}

fn init() -> QDriver {
    let boots = region::driver_boots();
    let boot = boots.read_u64(0).unwrap_or(0) + 1;
    let _ = boots.write_u64(0, boot);
    let queues = match Driver::new(region::queues(), LAYOUT, &SPECS) {
        Ok(q) => q,
        Err(e) => panic!("qdriver: queue set: {e}"),
    };
    channel::QSERVER.notify();
    QDriver { queues, data: region::data(), boot, misdeed: misdeed(boot), done: 0 }
}

microkit::protection_domain!(init);
