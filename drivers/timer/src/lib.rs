//! The timer driver: per client a one-shot deadline and a period ([`Timers`]),
//! and the one hardware deadline that serves them all ([`TimerPd`], the PD's
//! handler; the binary is a thin shell).
//!
//! The timer is part of the trusted base with RS (a top-level PD, not a child
//! of RS): RS takes its heartbeat ticks from it, so RS cannot depend on
//! restarting it. It never calls anyone and only notifies its clients.
#![no_std]
#![forbid(unsafe_code)]

use microkit::reply::{self, ApiError};
use microkit::{CHANNEL_LIMIT, Channel, Handler, MessageInfo, arch_timer, debug_println, get_mr, set_mr};
use timer_api::{CANCEL, Error, MIN_PERIOD_NS, NOW, SET_PERIODIC, SET_TIMEOUT};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// When the one-shot timeout is due.
    timeout: Option<u64>,
    /// The period of the ticks, and when the next one is due.
    ticks: Option<(u64, u64)>,
}

/// Deadlines of every client, indexed by the timer's channel id to the client.
#[derive(Clone, Debug)]
pub struct Timers {
    slots: [Slot; CHANNEL_LIMIT as usize],
}

impl Default for Timers {
    fn default() -> Self {
        Timers { slots: [Slot::default(); CHANNEL_LIMIT as usize] }
    }
}

impl Timers {
    fn slot(&mut self, client: u8) -> Result<&mut Slot, Error> {
        self.slots.get_mut(client as usize).ok_or(Error::BadRequest)
    }

    /// One notification for `client` at `now + delay`.
    pub fn set_timeout(&mut self, client: u8, now: u64, delay: u64) -> Result<(), Error> {
        self.slot(client)?.timeout = Some(now.saturating_add(delay));
        Ok(())
    }

    /// A notification for `client` every `period` from now on; 0 stops them.
    pub fn set_periodic(&mut self, client: u8, now: u64, period: u64) -> Result<(), Error> {
        if period != 0 && period < MIN_PERIOD_NS {
            return Err(Error::PeriodTooShort);
        }
        self.slot(client)?.ticks = (period != 0).then(|| (period, now.saturating_add(period)));
        Ok(())
    }

    /// Cancels everything of `client`.
    pub fn cancel(&mut self, client: u8) -> Result<(), Error> {
        *self.slot(client)? = Slot::default();
        Ok(())
    }

    /// The earliest deadline of any client: what the hardware is armed for.
    pub fn next_deadline(&self) -> Option<u64> {
        self.slots.iter().flat_map(|s| [s.timeout, s.ticks.map(|(_, due)| due)]).flatten().min()
    }

    /// Clients whose deadline has come (bit n = channel n). A one-shot timeout
    /// is then gone; ticks move on by whole periods past `now`, so a late timer
    /// gives one notification, not a burst of catch-up ticks.
    pub fn expire(&mut self, now: u64) -> u64 {
        let mut due = 0u64;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.timeout.is_some_and(|t| t <= now) {
                s.timeout = None;
                due |= 1 << i;
            }
            if let Some((period, next)) = &mut s.ticks
                && *next <= now
            {
                let missed = (now - *next) / *period + 1;
                *next = next.saturating_add(missed.saturating_mul(*period));
                due |= 1 << i;
            }
        }
        due
    }
}

/// The timer PD's handler.
pub struct TimerPd {
    timers: Timers,
    /// The channel of the ARM generic timer's IRQ.
    irq: Channel,
}

impl TimerPd {
    fn rearm(&self) {
        arch_timer::set_deadline(self.timers.next_deadline());
    }
}

impl Handler for TimerPd {
    fn notified(&mut self, ch: Channel) {
        if ch != self.irq {
            return;
        }
        let due = self.timers.expire(arch_timer::now_ns());
        for client in 0..microkit::CHANNEL_LIMIT {
            if due & (1 << client) != 0 {
                Channel::new(client).notify();
            }
        }
        self.rearm();
        if let Err(e) = ch.irq_ack() {
            // The trusted base does not panic (nobody would restart it): say so.
            debug_println!("timer: cannot acknowledge its IRQ: {e}");
        }
    }

    fn protected(&mut self, ch: Channel, msg: MessageInfo) -> MessageInfo {
        let now = arch_timer::now_ns();
        let client = ch.index();
        let result = match (msg.label(), msg.count()) {
            (NOW, 0) => {
                set_mr(0, now);
                return reply::ok(1);
            }
            (SET_TIMEOUT, 1) => self.timers.set_timeout(client, now, get_mr(0)),
            (SET_PERIODIC, 1) => self.timers.set_periodic(client, now, get_mr(0)),
            (CANCEL, 0) => self.timers.cancel(client),
            _ => Err(Error::BadRequest),
        };
        self.rearm();
        match result {
            Ok(()) => reply::ok(0),
            Err(e) => e.reply(),
        }
    }
}

impl TimerPd {
    /// A fresh timer (the device disarmed: a known state after any restart),
    /// whose interrupt arrives on `irq`.
    pub fn new(irq: Channel) -> Self {
        arch_timer::set_deadline(None);
        TimerPd { timers: Timers::default(), irq }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn one_shot_fires_once() {
        let mut t = Timers::default();
        t.set_timeout(3, 1000, 5 * MS).unwrap();
        assert_eq!(t.next_deadline(), Some(1000 + 5 * MS));
        assert_eq!(t.expire(1000 + 5 * MS - 1), 0);
        assert_eq!(t.expire(1000 + 5 * MS), 1 << 3);
        assert_eq!(t.expire(u64::MAX), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn periodic_ticks_and_no_catch_up_burst() {
        let mut t = Timers::default();
        t.set_periodic(1, 0, 10 * MS).unwrap();
        assert_eq!(t.expire(10 * MS), 1 << 1);
        assert_eq!(t.next_deadline(), Some(20 * MS));
        // 35 ms late: one notification, next tick on the period grid.
        assert_eq!(t.expire(55 * MS), 1 << 1);
        assert_eq!(t.next_deadline(), Some(60 * MS));
        assert_eq!(t.expire(59 * MS), 0);
    }

    #[test]
    fn earliest_of_all_clients_and_cancel() {
        let mut t = Timers::default();
        t.set_periodic(0, 0, 50 * MS).unwrap();
        t.set_timeout(2, 0, 7 * MS).unwrap();
        assert_eq!(t.next_deadline(), Some(7 * MS));
        t.cancel(2).unwrap();
        assert_eq!(t.next_deadline(), Some(50 * MS));
        t.set_periodic(0, 0, 0).unwrap();
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn bad_requests_change_nothing() {
        let mut t = Timers::default();
        assert_eq!(t.set_periodic(0, 0, 1), Err(Error::PeriodTooShort));
        assert_eq!(t.set_timeout(62, 0, 1), Err(Error::BadRequest));
        assert_eq!(t.cancel(200), Err(Error::BadRequest));
        assert_eq!(t.next_deadline(), None);
        // Huge delays saturate instead of wrapping into the past.
        t.set_timeout(1, u64::MAX - 5, 100).unwrap();
        assert_eq!(t.expire(u64::MAX - 1), 0);
    }
}
