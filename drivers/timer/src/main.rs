//! The timer PD: serves `timer-api` calls and drives the ARM generic timer.
//!
//! It is part of the trusted base with RS and DS (a top-level PD, not a child of
//! RS): RS takes its heartbeat ticks from it, so RS cannot depend on restarting
//! it. It never calls anyone and only notifies its clients.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

use microkit::{arch_timer, get_mr, set_mr, Channel, Handler, MessageInfo};
use timer::Timers;
use timer_api::{CANCEL, NOW, OK, SET_PERIODIC, SET_TIMEOUT};

microkit::include_system!("timer");

struct TimerPd {
    timers: Timers,
}

impl TimerPd {
    fn rearm(&self) {
        arch_timer::set_deadline(self.timers.next_deadline());
    }
}

impl Handler for TimerPd {
    fn notified(&mut self, ch: Channel) {
        if ch != irq::IRQ_30 {
            return;
        }
        let due = self.timers.expire(arch_timer::now_ns());
        for client in 0..microkit::CHANNEL_LIMIT {
            if due & (1 << client) != 0 {
                Channel::new(client).notify();
            }
        }
        self.rearm();
        ch.irq_ack();
    }

    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> MessageInfo {
        let now = arch_timer::now_ns();
        let client = ch.index();
        let result = match (msg.label(), msg.count()) {
            (NOW, 0) => {
                set_mr(0, now);
                return MessageInfo::new(OK, 1);
            }
            (SET_TIMEOUT, 1) => self.timers.set_timeout(client, now, get_mr(0)),
            (SET_PERIODIC, 1) => self.timers.set_periodic(client, now, get_mr(0)),
            (CANCEL, 0) => self.timers.cancel(client),
            _ => Err(timer_api::Error::BadRequest),
        };
        self.rearm();
        match result {
            Ok(()) => MessageInfo::new(OK, 0),
            Err(e) => MessageInfo::new(e as u64, 0),
        }
    }
}

fn init() -> TimerPd {
    // A fresh timer starts from a known device state: disarmed.
    arch_timer::set_deadline(None);
    TimerPd { timers: Timers::default() }
}

microkit::protection_domain!(init);
