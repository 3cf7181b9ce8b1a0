//! Message info words and message registers (seL4 IPC).

use crate::backend;

/// Number of message registers (seL4_MsgMaxLength).
pub const MSG_MAX_LENGTH: usize = 120;

/// The seL4 message info of a protected procedure call or its reply: a label
/// (52 bits) and how many message registers are used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessageInfo {
    label: u64,
    count: u8,
}

impl MessageInfo {
    const LABEL_MASK: u64 = (1 << 52) - 1;

    /// Label of the reply the kernel gives when the callee faulted, was stopped or
    /// restarted while serving the call (the call did not complete).
    pub const PEER_FAULTED: u64 = Self::LABEL_MASK;

    /// Label of the reply to a call that the callee does not implement.
    pub const UNHANDLED: u64 = Self::LABEL_MASK - 1;

    /// A message with `label` (truncated to 52 bits) using `count` registers
    /// (clamped to [`MSG_MAX_LENGTH`]).
    pub const fn new(label: u64, count: usize) -> Self {
        let count = if count > MSG_MAX_LENGTH { MSG_MAX_LENGTH } else { count };
        MessageInfo { label: label & Self::LABEL_MASK, count: count as u8 }
    }

    /// The label.
    pub const fn label(self) -> u64 {
        self.label
    }

    /// How many message registers carry data.
    pub const fn count(self) -> usize {
        self.count as usize
    }

    /// The seL4 encoding: label << 12 | caps_unwrapped << 9 | extra_caps << 7 | length.
    pub const fn to_word(self) -> u64 {
        self.label << 12 | self.count as u64
    }

    /// Decodes a seL4 message info word; capability fields are ignored and a length
    /// above [`MSG_MAX_LENGTH`] is clamped (the word may come from an untrusted peer).
    pub const fn from_word(word: u64) -> Self {
        Self::new(word >> 12, (word & 0x7f) as usize)
    }
}

/// Sets message register `index` (ignored if `index >= MSG_MAX_LENGTH`).
pub fn set_mr(index: usize, value: u64) {
    backend::set_mr(index, value)
}

/// Reads message register `index` (0 if `index >= MSG_MAX_LENGTH`).
pub fn get_mr(index: usize) -> u64 {
    backend::get_mr(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_sel4() {
        let info = MessageInfo::new(0x123, 3);
        assert_eq!(info.to_word(), 0x123 << 12 | 3);
        assert_eq!(MessageInfo::from_word(info.to_word()), info);
    }

    #[test]
    fn untrusted_words_are_clamped() {
        let info = MessageInfo::from_word(u64::MAX);
        assert_eq!(info.count(), 0x7f.min(MSG_MAX_LENGTH));
        assert_eq!(info.label(), MessageInfo::PEER_FAULTED);
        assert_eq!(MessageInfo::new(1, 500).count(), MSG_MAX_LENGTH);
    }

    #[test]
    fn capability_bits_are_ignored() {
        assert_eq!(MessageInfo::from_word(7 << 12 | 0b111 << 7 | 2), MessageInfo::new(7, 2));
    }
}
