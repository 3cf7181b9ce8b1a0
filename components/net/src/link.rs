//! The link under the stack: where frames come from and go to.

use alloc::boxed::Box;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The largest Ethernet frame the server sends or accepts (no FCS, no VLAN tag).
pub const FRAME_MAX: usize = 1514;

/// A source and sink of Ethernet frames: the driver's queues in the network
/// server's PD. Prompt: nothing here waits.
pub trait Link {
    /// Copies the next received frame into `buf` and returns its length, or `None`
    /// if none is waiting. A frame longer than `buf` is dropped by the link.
    fn recv(&mut self, buf: &mut [u8; FRAME_MAX]) -> Option<usize>;
    /// Whether a frame could be sent now.
    fn can_send(&self) -> bool;
    /// A transmit buffer of at least `len` (≤ [`FRAME_MAX`]) bytes to build a frame
    /// in, or `None` if the link has no room (then the frame is lost, and TCP sends
    /// it again).
    fn tx_buffer(&mut self, len: usize) -> Option<&mut [u8]>;
    /// Sends the first `len` bytes of the buffer [`Link::tx_buffer`] gave.
    fn send(&mut self, len: usize);
}

/// smoltcp's view of a [`Link`].
pub struct LinkDevice<'a, L: Link> {
    link: &'a mut L,
    frame: &'a mut [u8; FRAME_MAX],
}

impl<'a, L: Link> LinkDevice<'a, L> {
    pub fn new(link: &'a mut L, frame: &'a mut [u8; FRAME_MAX]) -> Self {
        LinkDevice { link, frame }
    }
}

/// A private buffer for one received frame.
pub(crate) fn frame_buffer() -> Box<[u8; FRAME_MAX]> {
    Box::new([0; FRAME_MAX])
}

pub struct RxToken<'a> {
    frame: &'a [u8],
}

pub struct TxToken<'a, L: Link> {
    link: &'a mut L,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl<L: Link> phy::TxToken for TxToken<'_, L> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(FRAME_MAX);
        let Some(buf) = self.link.tx_buffer(len).filter(|b| b.len() >= len) else {
            // No room after all: smoltcp still wants its result, so the frame is
            // built in scratch memory and lost, as on a full wire.
            return f(&mut alloc::vec![0; len]);
        };
        let result = f(&mut buf[..len]);
        self.link.send(len);
        result
    }
}

impl<L: Link> Device for LinkDevice<'_, L> {
    type RxToken<'b>
        = RxToken<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxToken<'b, L>
    where
        Self: 'b;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_, L>)> {
        let len = self.link.recv(self.frame)?;
        let frame = &self.frame[..len.min(FRAME_MAX)];
        Some((RxToken { frame }, TxToken { link: self.link }))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_, L>> {
        if self.link.can_send() { Some(TxToken { link: self.link }) } else { None }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MAX;
        caps.max_burst_size = None;
        caps
    }
}
