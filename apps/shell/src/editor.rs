//! The line editor: bytes from the terminal in, bytes to echo and whole lines
//! out. It edits at the end of the line only (no cursor movement):
//!
//! - printable ASCII is added and echoed, up to [`MAX_LINE`] bytes (past that
//!   the terminal's bell, `\x07`, and the byte is dropped);
//! - Backspace (`0x08`) and DEL (`0x7f`) take back one byte (`\x08 \x08`);
//! - Ctrl-U (`0x15`) takes back the whole line;
//! - Ctrl-C (`0x03`) drops the line (`^C`, a new prompt);
//! - Enter (CR, LF, or CR LF: one line) ends it;
//! - Up and Down (`ESC [ A`, `ESC [ B`, or `ESC O A/B`) step through the last
//!   [`HISTORY`] lines; other escape sequences and control bytes are ignored;
//! - bytes that are not ASCII are dropped.
//!
//! Nothing here can fail: any byte sequence is input.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// The longest line kept.
pub const MAX_LINE: usize = 512;
/// Lines kept for Up and Down.
pub const HISTORY: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After `ESC [` or `ESC O`: parameters until a final byte.
    Sequence,
}

/// The line being edited and the history.
#[derive(Debug)]
pub struct Editor {
    line: String,
    history: VecDeque<String>,
    /// Where Up/Down are in the history (`history.len()`: the new line).
    browsing: usize,
    /// The line being typed before Up was pressed.
    draft: String,
    escape: Escape,
    /// The last byte ended a line with CR (so an LF right after is not a second Enter).
    after_cr: bool,
}

/// What one byte did.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    /// Nothing to do.
    None,
    /// Send these bytes back to the terminal.
    Echo(Vec<u8>),
    /// A line was entered (already echoed as a new line).
    Line(String),
    /// The line was dropped (Ctrl-C): a new prompt.
    Cancelled,
}

impl Default for Editor {
    fn default() -> Self {
        Self::new()
    }
}

impl Editor {
    pub fn new() -> Self {
        Editor {
            line: String::new(),
            history: VecDeque::new(),
            browsing: 0,
            draft: String::new(),
            escape: Escape::None,
            after_cr: false,
        }
    }

    /// The line so far (to draw it again after other output).
    pub fn line(&self) -> &str {
        &self.line
    }

    /// Takes one byte from the terminal.
    pub fn feed(&mut self, b: u8) -> Edit {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if b == b'[' || b == b'O' { Escape::Sequence } else { Escape::None };
                return Edit::None;
            }
            Escape::Sequence => {
                // Parameters and intermediates are 0x20..=0x3f; a final byte ends it.
                if (0x20..=0x3f).contains(&b) {
                    return Edit::None;
                }
                self.escape = Escape::None;
                return match b {
                    b'A' => self.recall(true),
                    b'B' => self.recall(false),
                    _ => Edit::None,
                };
            }
            Escape::None => {}
        }
        match b {
            0x1b => {
                self.escape = Escape::Start;
                Edit::None
            }
            b'\n' if after_cr => Edit::None,
            b'\r' | b'\n' => {
                self.after_cr = b == b'\r';
                let line = core::mem::take(&mut self.line);
                self.remember(&line);
                Edit::Line(line)
            }
            0x08 | 0x7f => match self.line.pop() {
                Some(_) => Edit::Echo(b"\x08 \x08".to_vec()),
                None => Edit::None,
            },
            0x15 => Edit::Echo(self.erase()),
            0x03 => {
                self.line.clear();
                self.browsing = self.history.len();
                Edit::Cancelled
            }
            0x20..=0x7e if self.line.len() < MAX_LINE => {
                self.line.push(b as char);
                Edit::Echo(alloc::vec![b])
            }
            0x20..=0x7e => Edit::Echo(b"\x07".to_vec()),
            _ => Edit::None,
        }
    }

    /// Erases the line on the terminal and in the editor.
    fn erase(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.line.len() * 3);
        for _ in 0..self.line.len() {
            out.extend_from_slice(b"\x08 \x08");
        }
        self.line.clear();
        out
    }

    fn remember(&mut self, line: &str) {
        let keep = !line.trim().is_empty() && self.history.back().is_none_or(|last| last != line);
        if keep {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(String::from(line));
        }
        self.browsing = self.history.len();
        self.draft.clear();
    }

    /// Up (`older`) or Down: replaces the line with a history entry.
    fn recall(&mut self, older: bool) -> Edit {
        let len = self.history.len();
        let next = match (older, self.browsing) {
            (true, 0) => return Edit::Echo(b"\x07".to_vec()),
            (true, i) => i - 1,
            (false, i) if i >= len => return Edit::None,
            (false, i) => i + 1,
        };
        if self.browsing == len {
            self.draft = self.line.clone();
        }
        self.browsing = next;
        let mut out = self.erase();
        self.line = if next == len { core::mem::take(&mut self.draft) } else { self.history[next].clone() };
        out.extend_from_slice(self.line.as_bytes());
        Edit::Echo(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(e: &mut Editor, bytes: &[u8]) -> Vec<Edit> {
        bytes.iter().map(|&b| e.feed(b)).filter(|x| *x != Edit::None).collect()
    }

    fn lines(e: &mut Editor, bytes: &[u8]) -> Vec<String> {
        feed(e, bytes)
            .into_iter()
            .filter_map(|x| match x {
                Edit::Line(l) => Some(l),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn backspace_ctrl_u_and_crlf() {
        let mut e = Editor::new();
        assert_eq!(lines(&mut e, b"stx\x7fatus\r\n"), ["status"]);
        assert_eq!(lines(&mut e, b"garbage\x15ls\n"), ["ls"]);
        assert_eq!(lines(&mut e, b"\x08\x08a\x08b\r"), ["b"]);
        // CR LF is one Enter (the LF after the CR above is none); LF LF is two.
        assert_eq!(lines(&mut e, b"\n\n\n"), ["", ""]);
    }

    #[test]
    fn arrows_walk_the_history_and_back_to_the_draft() {
        let mut e = Editor::new();
        lines(&mut e, b"one\rtwo\r");
        lines(&mut e, b"dr");
        lines(&mut e, b"\x1b[A");
        assert_eq!(e.line(), "two");
        lines(&mut e, b"\x1b[A\x1b[A");
        assert_eq!(e.line(), "one");
        lines(&mut e, b"\x1bOB");
        assert_eq!(e.line(), "two");
        lines(&mut e, b"\x1b[B");
        assert_eq!(e.line(), "dr");
        assert_eq!(lines(&mut e, b"\x1b[A!\r"), ["two!"]);
    }

    #[test]
    fn long_lines_stop_at_the_limit_and_any_bytes_are_input() {
        let mut e = Editor::new();
        let long = alloc::vec![b'x'; MAX_LINE + 100];
        feed(&mut e, &long);
        assert_eq!(e.line().len(), MAX_LINE);
        e.feed(0x03);
        let mut x = 0x2545_f491_u32;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            e.feed(x as u8);
            assert!(e.line().len() <= MAX_LINE && e.line().is_ascii());
        }
        // Unknown escape sequences are swallowed whole (the first Ctrl-C may
        // end one the random bytes began).
        e.feed(0x03);
        e.feed(0x03);
        assert_eq!(lines(&mut e, b"\x1b[1;5Cok\r"), ["ok"]);
    }
}
