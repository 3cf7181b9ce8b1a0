//! What happens in a running system, for the console, tests and benchmarks.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use microkit::Fault;

/// Something that happened in the system.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A PD process started (generation 0 at boot, +1 per restart).
    Started { pd: String, generation: u64, at: Instant },
    /// A PD's runtime is set up and is about to run `init`.
    Init { pd: String, generation: u64, at: Instant },
    /// A PD finished `init` and waits for events.
    Ready { pd: String, generation: u64, at: Instant },
    /// A line a PD printed.
    Output { pd: String, line: String, at: Instant },
    /// A PD faulted.
    Fault { pd: String, generation: u64, fault: Fault, at: Instant },
    /// A PD was stopped.
    Stopped { pd: String, at: Instant },
    /// A message of the kernel itself (as the Microkit monitor prints them).
    Log { line: String, at: Instant },
}

/// Fans events out to subscribers and, if asked, to the terminal.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Mutex<Vec<Sender<Event>>>>,
    echo: bool,
}

impl Bus {
    pub fn new(echo: bool) -> Bus {
        Bus { inner: Arc::new(Mutex::new(Vec::new())), echo }
    }

    pub fn subscribe(&self, tx: Sender<Event>) {
        if let Ok(mut subs) = self.inner.lock() {
            subs.push(tx);
        }
    }

    pub fn emit(&self, event: Event) {
        if self.echo {
            match &event {
                Event::Output { pd, line, .. } => println!("[{pd}] {line}"),
                Event::Log { line, .. } => println!("[kernel] {line}"),
                Event::Fault { pd, generation, fault, .. } => {
                    println!("[kernel] {pd} (generation {generation}) faulted: {fault}")
                }
                _ => {}
            }
        }
        if let Ok(mut subs) = self.inner.lock() {
            subs.retain(|tx| tx.send(event.clone()).is_ok());
        }
    }

    pub fn log(&self, line: String) {
        self.emit(Event::Log { line, at: Instant::now() });
    }
}
