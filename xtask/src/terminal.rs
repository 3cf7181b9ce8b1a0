//! The terminal for the shell of `cargo xtask run`: keys go to the system as
//! they are typed (no line editing, no echo by the host: the shell does
//! both), while Ctrl-C still reaches xtask as SIGINT and output still turns
//! `\n` into `\r\n`. Dropping the guard puts the terminal back as it was.

use rustix::termios::{self, InputModes, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// The terminal's settings before; restored on drop.
pub struct RawInput {
    saved: Termios,
}

impl RawInput {
    /// Puts standard input in raw input mode; `None` if it is not a terminal.
    pub fn enter() -> std::io::Result<Option<RawInput>> {
        let stdin = std::io::stdin();
        if !termios::isatty(&stdin) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.local_modes -= LocalModes::ICANON | LocalModes::ECHO | LocalModes::IEXTEN;
        raw.input_modes -= InputModes::ICRNL | InputModes::IXON | InputModes::INLCR | InputModes::IGNCR;
        // Each key as it comes.
        raw.special_codes[SpecialCodeIndex::VMIN] = 1;
        raw.special_codes[SpecialCodeIndex::VTIME] = 0;
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Some(RawInput { saved }))
    }
}

impl Drop for RawInput {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}
