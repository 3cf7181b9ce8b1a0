//! The interface every protection domain implements.

use crate::channel::{Channel, Child};
use crate::fault::{Fault, FaultAction};
use crate::message::MessageInfo;

/// Entry points the event loop calls, as in libmicrokit.
pub trait Handler {
    /// A notification (or IRQ) arrived on `channel`. Several signals on one channel
    /// before the PD runs again coalesce into one call.
    fn notified(&mut self, channel: Channel) {
        crate::debug_println!("{}: unexpected notification on channel {}", crate::pd_name(), channel.index());
    }

    /// A protected procedure call arrived on `channel`; the arguments are in the
    /// message registers. The returned message (and message registers) is the reply.
    fn protected(&mut self, channel: Channel, msg: MessageInfo) -> MessageInfo {
        let _ = (channel, msg);
        MessageInfo::new(MessageInfo::UNHANDLED, 0)
    }

    /// A child faulted.
    fn fault(&mut self, child: Child, fault: Fault) -> FaultAction {
        crate::debug_println!("{}: child {} faulted: {}", crate::pd_name(), child.index(), fault);
        FaultAction::Leave
    }
}
