//! The event loop: libmicrokit's semantics over either kernel.
//!
//! The backend blocks in a combined reply-and-receive and returns one [`Event`];
//! the loop calls the handler and carries the reply (to a protected procedure call
//! or a fault the handler chose to resume) into the next receive.

use crate::channel::{Channel, ChannelSet, Child};
use crate::fault::{Fault, FaultAction};
use crate::handler::Handler;
use crate::inject::InjectKind;
use crate::message::MessageInfo;

/// One thing the kernel delivers to a PD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Notifications (and IRQs) on these channels.
    Notified(ChannelSet),
    /// A protected procedure call; arguments are in the message registers.
    Protected(Channel, MessageInfo),
    /// A child faulted.
    Fault(Child, Fault),
    /// A failure injected by the user or a test.
    Inject(InjectKind),
}

/// What the next receive replies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to reply to.
    None,
    /// The reply to the protected procedure call just served.
    Call(MessageInfo),
    /// Resume the child whose fault was just handled.
    ResumeFault,
}

/// Handles one event and says what to reply with. A heartbeat ping on the
/// `supervisor` channel is answered here, and the handler never sees it.
pub fn handle<H: Handler>(handler: &mut H, event: Event, supervisor: Option<Channel>) -> Reply {
    match event {
        Event::Notified(set) => {
            for channel in set {
                if Some(channel) == supervisor {
                    channel.notify();
                } else {
                    handler.notified(channel);
                }
            }
            Reply::None
        }
        Event::Protected(channel, msg) => Reply::Call(handler.protected(channel, msg)),
        Event::Fault(child, fault) => match handler.fault(child, fault) {
            FaultAction::Resume => Reply::ResumeFault,
            FaultAction::Leave => Reply::None,
        },
        Event::Inject(kind) => {
            perform_injection(kind);
            Reply::None
        }
    }
}

/// Carries out an injected failure in the calling PD. Returns only for kinds
/// that do not end the PD (none today).
pub(crate) fn perform_injection(kind: InjectKind) {
    crate::debug_println!("{}: injected {}", crate::pd_name(), kind);
    match kind {
        InjectKind::Crash => crate::backend::wild_write(InjectKind::CRASH_ADDRESS),
        InjectKind::Panic => panic!("injected panic"),
        InjectKind::Hang => loop {
            core::hint::spin_loop();
        },
        InjectKind::Exit => crate::backend::exit(1),
    }
}

/// Runs the handler forever.
pub(crate) fn event_loop<H: Handler>(handler: &mut H, supervisor: Option<Channel>) -> ! {
    let mut reply = Reply::None;
    loop {
        let event = crate::backend::reply_recv(reply);
        reply = handle(handler, event, supervisor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultKind;
    use std::vec::Vec;

    #[derive(Default)]
    struct Recorder {
        notified: Vec<u8>,
        faults: Vec<(u8, FaultKind)>,
    }

    impl Handler for Recorder {
        fn notified(&mut self, ch: Channel) {
            self.notified.push(ch.index());
        }
        fn protected(&mut self, ch: Channel, msg: MessageInfo) -> MessageInfo {
            MessageInfo::new(msg.label() + ch.index() as u64, 1)
        }
        fn fault(&mut self, child: Child, fault: Fault) -> FaultAction {
            self.faults.push((child.index(), fault.kind));
            if child.index() == 1 { FaultAction::Resume } else { FaultAction::Leave }
        }
    }

    #[test]
    fn a_coalesced_badge_calls_notified_once_per_channel() {
        let mut h = Recorder::default();
        assert_eq!(handle(&mut h, Event::Notified(ChannelSet::from_badge(0b1001)), None), Reply::None);
        assert_eq!(h.notified, [0, 3]);
    }

    #[test]
    fn protected_calls_reply_with_the_handler_result() {
        let mut h = Recorder::default();
        let reply = handle(&mut h, Event::Protected(Channel::new(2), MessageInfo::new(40, 0)), None);
        assert_eq!(reply, Reply::Call(MessageInfo::new(42, 1)));
    }

    #[test]
    fn faults_reply_only_when_the_parent_resumes() {
        let mut h = Recorder::default();
        let vm = Fault::new(FaultKind::VmFault);
        assert_eq!(handle(&mut h, Event::Fault(Child::new(0), vm), None), Reply::None);
        assert_eq!(handle(&mut h, Event::Fault(Child::new(1), vm), None), Reply::ResumeFault);
        assert_eq!(h.faults, [(0, FaultKind::VmFault), (1, FaultKind::VmFault)]);
    }
}
