//! Channels (notifications, protected procedure calls, IRQs) and children.

use crate::backend;
use crate::inject::InjectKind;
use crate::kernel_error::KernelError;
use crate::message::MessageInfo;

/// Channel, IRQ and child ids are below this bound (Microkit: badge bits 62 and 63
/// are reserved for PPC and fault badges).
pub const CHANNEL_LIMIT: u8 = 62;

/// One end of a channel of this PD (or an IRQ delivered on a channel id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(u8);

impl Channel {
    /// The channel with local id `id`. Ids come from generated constants.
    ///
    /// # Panics
    /// At compile time (in const context) or run time if `id >= 62`.
    pub const fn new(id: u8) -> Self {
        assert!(id < CHANNEL_LIMIT, "channel id must be below 62");
        Channel(id)
    }

    /// The local channel id.
    pub const fn index(self) -> u8 {
        self.0
    }

    /// Signals the PD at the other end (seL4_Signal).
    pub fn notify(self) {
        backend::notify(self.0)
    }

    /// Acknowledges the IRQ delivered on this channel so the next one can arrive.
    /// [`KernelError::NotAnIrq`] if this PD has no IRQ on the channel.
    pub fn irq_ack(self) -> Result<(), KernelError> {
        backend::irq_ack(self.0)
    }

    /// Protected procedure call: a synchronous call into the PD at the other end,
    /// which must have a strictly higher priority. Message registers carry the
    /// arguments (see [`set_mr`](crate::set_mr)) and the reply.
    pub fn pp_call(self, msg: MessageInfo) -> MessageInfo {
        backend::pp_call(self.0, msg)
    }
}

/// A child PD of this PD (the `id` attribute of a nested `protection_domain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Child(u8);

impl Child {
    /// The child with id `id`. Ids come from generated constants.
    pub const fn new(id: u8) -> Self {
        assert!(id < CHANNEL_LIMIT, "child id must be below 62");
        Child(id)
    }

    /// The child id.
    pub const fn index(self) -> u8 {
        self.0
    }

    /// Replaces the child with a fresh copy of itself: fresh `.data`, `.bss`,
    /// stack and heap; shared regions keep their contents. Its `init` runs again.
    ///
    /// [`KernelError::NotAChild`] if the id is not a child of this PD; on the host
    /// kernel [`KernelError::StartFailed`] if the fresh copy does not start (the
    /// child is then down, as if it had faulted without a parent to restart it).
    pub fn restart(self) -> Result<(), KernelError> {
        backend::restart(self.0)
    }

    /// Stops the child. It stays stopped until [`Child::restart`].
    /// [`KernelError::NotAChild`] if the id is not a child of this PD.
    pub fn stop(self) -> Result<(), KernelError> {
        backend::stop(self.0)
    }

    /// Makes the child fail on purpose, as `kind` says (fault injection: how a
    /// parent, a test or the reincarnation server exercises recovery). A crash,
    /// panic or exit then reaches this PD's [`Handler::fault`](crate::Handler::fault)
    /// like any other fault of the child; a hang is noticed only by its silence.
    ///
    /// On seL4 the child's thread is redirected at once, whatever it was doing
    /// (even blocked in a receive or a call), to the runtime's injection entry
    /// (`TCB_WriteRegisters`); what it was doing is lost. On the host kernel the
    /// child fails when it next waits for an event (at once if it is waiting).
    /// Only a PD's own children can be injected into: any other id is
    /// [`KernelError::NotAChild`] on both kernels.
    pub fn inject(self, kind: InjectKind) -> Result<(), KernelError> {
        backend::inject(self.0, kind)
    }

    /// The child's registers (and, on the host kernel, stack) at its last
    /// fault, if the kernel has them: call it in [`Handler::fault`](crate::Handler::fault),
    /// before restarting the child. See [`CrashContext`](crate::CrashContext).
    /// [`KernelError::NotAChild`] if the id is not a child of this PD.
    pub fn crash_context(self) -> Result<Option<crate::CrashContext>, KernelError> {
        backend::crash_context(self.0)
    }
}

/// The set of a PD's children (child ids), e.g. of its `child::ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChildSet(u64);

impl ChildSet {
    /// The ids of `children`.
    pub const fn of(children: &[ChildSpec]) -> Self {
        let mut bits = 0u64;
        let mut i = 0;
        while i < children.len() {
            bits |= 1 << children[i].child.0;
            i += 1;
        }
        ChildSet(bits)
    }

    /// The set with these id bits (bit n = child n; bits 62 and 63 are dropped).
    pub const fn from_bits(bits: u64) -> Self {
        ChildSet(bits & ((1 << CHANNEL_LIMIT) - 1))
    }

    /// The id bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `child` is in the set.
    pub const fn contains(self, child: Child) -> bool {
        self.0 & (1 << child.0) != 0
    }
}

/// A child as `system.xml` declares it (generated as `child::ALL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildSpec {
    /// The child PD's name.
    pub name: &'static str,
    /// The child.
    pub child: Child,
    /// This PD's end of the child's supervision channel, if it has one: notifying
    /// it is a heartbeat ping, which the child's runtime answers on the same
    /// channel from its event loop (see [`crate::run`]).
    pub heartbeat: Option<Channel>,
}

/// The set of channels signalled in one notification badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChannelSet(u64);

impl ChannelSet {
    /// Keeps only the channel bits (0..62) of a notification badge.
    pub const fn from_badge(badge: u64) -> Self {
        ChannelSet(badge & ((1 << CHANNEL_LIMIT) - 1))
    }

    /// The badge word.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// True if no channel is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl Iterator for ChannelSet {
    type Item = Channel;

    fn next(&mut self) -> Option<Channel> {
        if self.0 == 0 {
            return None;
        }
        let id = self.0.trailing_zeros() as u8;
        self.0 &= self.0 - 1;
        Some(Channel(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_bits_decode_in_ascending_order() {
        let got: std::vec::Vec<u8> = ChannelSet::from_badge(0b1010_0001).map(|c| c.index()).collect();
        assert_eq!(got, [0, 5, 7]);
    }

    #[test]
    fn reserved_badge_bits_are_not_channels() {
        let set = ChannelSet::from_badge(1 << 63 | 1 << 62 | 1 << 61);
        assert_eq!(set.map(|c| c.index()).collect::<std::vec::Vec<_>>(), [61]);
    }

    #[test]
    fn child_sets_hold_exactly_their_ids() {
        let spec = |id| ChildSpec { name: "c", child: Child::new(id), heartbeat: None };
        let set = ChildSet::of(&[spec(0), spec(61)]);
        assert!(set.contains(Child::new(0)) && set.contains(Child::new(61)));
        assert!(!set.contains(Child::new(1)));
        assert!(!ChildSet::default().contains(Child::new(0)));
    }

    #[test]
    #[should_panic]
    fn channel_ids_are_bounded() {
        let _ = Channel::new(62);
    }
}
