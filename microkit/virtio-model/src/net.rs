//! virtio-net (virtio 1.2, 5.1), one queue pair: frames the driver transmits go to
//! a sink (a TAP device, an in-process peer); frames from the outside arrive
//! through [`crate::Device::input`].

use std::collections::VecDeque;

use crate::device::{Backend, Ctx};
use crate::queue::QueueError;

const RECEIVEQ: usize = 0;
const TRANSMITQ: usize = 1;
const F_MAC: u64 = 1 << 5;
const F_STATUS: u64 = 1 << 16;
/// The virtio_net_hdr of a modern device (VERSION_1): 12 bytes.
pub const HDR_LEN: usize = 12;
/// The longest Ethernet frame the device delivers (1500-byte MTU, no FCS).
pub const FRAME_MAX: usize = 1514;
/// Frames kept for the driver while it has no receive buffer posted; more are lost,
/// as on a real link.
const BACKLOG: usize = 256;

/// Where transmitted frames go.
pub type Sink = Box<dyn FnMut(&[u8]) + Send>;

pub struct Net {
    mac: [u8; 6],
    sink: Sink,
    backlog: VecDeque<Vec<u8>>,
    /// Frames lost because the driver had no buffer posted.
    pub overruns: u64,
    /// Frames dropped for being longer than [`FRAME_MAX`].
    pub oversized: u64,
}

impl Net {
    pub fn new(mac: [u8; 6], sink: Sink) -> Net {
        Net { mac, sink, backlog: VecDeque::new(), overruns: 0, oversized: 0 }
    }
}

impl Backend for Net {
    fn name(&self) -> &'static str {
        "net"
    }

    fn device_id(&self) -> u32 {
        crate::id::NET
    }

    fn features(&self) -> u64 {
        F_MAC | F_STATUS
    }

    fn queue_sizes(&self) -> Vec<u16> {
        vec![256, 256]
    }

    fn config(&self) -> Vec<u8> {
        let mut c = vec![0u8; 12];
        c[0..6].copy_from_slice(&self.mac);
        c[6..8].copy_from_slice(&1u16.to_le_bytes()); // VIRTIO_NET_S_LINK_UP
        c[8..10].copy_from_slice(&1u16.to_le_bytes());
        c[10..12].copy_from_slice(&1500u16.to_le_bytes());
        c
    }

    fn input(&mut self, frame: &[u8]) {
        if self.backlog.len() >= BACKLOG {
            self.overruns += 1;
            return;
        }
        self.backlog.push_back(frame.to_vec());
    }

    fn input_queue(&self) -> Option<usize> {
        Some(RECEIVEQ)
    }

    fn reset(&mut self) {
        self.backlog.clear();
    }

    fn process(&mut self, ctx: &mut Ctx<'_>, q: usize) -> Result<(), QueueError> {
        match q {
            TRANSMITQ => {
                while let Some(chain) = ctx.pop(q)? {
                    let bytes = chain.read_all(ctx.mem)?;
                    if bytes.len() > HDR_LEN && !ctx.drop_this() {
                        (self.sink)(&bytes[HDR_LEN..]);
                    }
                    ctx.complete(q, &chain, 0)?;
                }
            }
            RECEIVEQ => {
                while !self.backlog.is_empty() && ctx.has_available(q)? {
                    let frame = self.backlog.pop_front().unwrap_or_default();
                    if ctx.drop_this() {
                        continue; // lost on the wire; the driver's buffer stays posted
                    }
                    if frame.len() > FRAME_MAX {
                        // Longer than a 1500-byte MTU allows (a jumbo frame from a
                        // TAP whose MTU was raised, or garbage): a NIC without
                        // mergeable buffers drops it, as QEMU's does.
                        self.oversized += 1;
                        continue;
                    }
                    let Some(chain) = ctx.pop(q)? else { break };
                    let mut data = vec![0u8; HDR_LEN];
                    data[10] = 1; // num_buffers
                    data.extend_from_slice(&frame);
                    ctx.maybe_corrupt(&mut data);
                    let n = chain.write_at(ctx.mem, 0, &data)?;
                    ctx.complete(q, &chain, n as u32)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
