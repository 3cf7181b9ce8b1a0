//! virtio-console (virtio 1.2, 5.3), one port: bytes the driver transmits go to
//! a sink (the launcher's terminal, a socket, a test); bytes from the outside
//! arrive through [`crate::Device::input`].

use std::collections::VecDeque;

use crate::device::{Backend, Ctx};
use crate::queue::QueueError;

const RECEIVEQ: usize = 0;
const TRANSMITQ: usize = 1;
/// Bytes kept for the driver while it has no receive buffer posted.
const BACKLOG: usize = 1 << 16;

/// Where transmitted bytes go.
pub type Sink = Box<dyn FnMut(&[u8]) + Send>;

pub struct Console {
    sink: Sink,
    backlog: VecDeque<u8>,
}

impl Console {
    pub fn new(sink: Sink) -> Console {
        Console { sink, backlog: VecDeque::new() }
    }
}

impl Backend for Console {
    fn name(&self) -> &'static str {
        "console"
    }

    fn device_id(&self) -> u32 {
        crate::id::CONSOLE
    }

    fn features(&self) -> u64 {
        0
    }

    fn queue_sizes(&self) -> Vec<u16> {
        vec![64, 64]
    }

    fn config(&self) -> Vec<u8> {
        let mut c = vec![0u8; 12];
        c[0..2].copy_from_slice(&80u16.to_le_bytes());
        c[2..4].copy_from_slice(&25u16.to_le_bytes());
        c[4..8].copy_from_slice(&1u32.to_le_bytes());
        c
    }

    fn input(&mut self, data: &[u8]) {
        let room = BACKLOG.saturating_sub(self.backlog.len());
        self.backlog.extend(&data[..data.len().min(room)]);
    }

    fn input_queue(&self) -> Option<usize> {
        Some(RECEIVEQ)
    }

    fn process(&mut self, ctx: &mut Ctx<'_>, q: usize) -> Result<(), QueueError> {
        match q {
            TRANSMITQ => {
                while let Some(chain) = ctx.pop(q)? {
                    let bytes = chain.read_all(ctx.mem)?;
                    if !ctx.drop_this() {
                        (self.sink)(&bytes);
                    }
                    ctx.complete(q, &chain, 0)?;
                }
            }
            RECEIVEQ => {
                while !self.backlog.is_empty() && ctx.has_available(q)? {
                    if ctx.drop_this() {
                        // Lost on the way: the driver's buffer stays posted.
                        self.backlog.clear();
                        break;
                    }
                    let Some(chain) = ctx.pop(q)? else { break };
                    let n = chain.writable_len().min(self.backlog.len());
                    let mut data: Vec<u8> = self.backlog.drain(..n).collect();
                    ctx.maybe_corrupt(&mut data);
                    let n = chain.write_at(ctx.mem, 0, &data)?;
                    ctx.complete(q, &chain, n as u32)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn reset(&mut self) {}
}
