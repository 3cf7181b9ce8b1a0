//! A running host system's console, as the launcher receives it. Lines of
//! different PDs travel different pipes, so they may arrive out of order: a
//! wait looks at the lines not yet claimed before it waits for more.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use host_kernel::Event;

use crate::workspace::Error;

pub struct Console {
    rx: Receiver<Event>,
    pending: Vec<(String, String, Instant)>,
}

impl Console {
    pub fn new(rx: Receiver<Event>) -> Self {
        Console { rx, pending: Vec::new() }
    }

    /// Claims the first line of `pd` that contains `text` (waiting up to 30 s
    /// for it); returns the line and when it arrived.
    /// Claims the first line of `pd` that contains `text`, waiting at most
    /// `wait`; `None` if none came.
    pub fn wait_for(&mut self, pd: &str, text: &str, wait: Duration) -> Result<Option<(String, Instant)>, Error> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(i) = self.pending.iter().position(|(p, l, _)| p == pd && l.contains(text)) {
                let (_, line, at) = self.pending.remove(i);
                return Ok(Some((line, at)));
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return Ok(None) };
            match self.rx.recv_timeout(left) {
                Ok(Event::Output { pd, line, at }) => self.pending.push((pd, line, at)),
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Ok(None),
                Err(e) => return Err(format!("the system stopped: {e}").into()),
            }
        }
    }

    pub fn wait(&mut self, pd: &str, text: &str) -> Result<(String, Instant), Error> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(i) = self.pending.iter().position(|(p, l, _)| p == pd && l.contains(text)) {
                let (_, line, at) = self.pending.remove(i);
                return Ok((line, at));
            }
            let timed_out = || format!("timed out waiting for [{pd}] {text}");
            let left = deadline.checked_duration_since(Instant::now()).ok_or_else(timed_out)?;
            match self.rx.recv_timeout(left) {
                Ok(Event::Output { pd, line, at }) => self.pending.push((pd, line, at)),
                Ok(_) => {}
                Err(_) => return Err(timed_out().into()),
            }
        }
    }
}
