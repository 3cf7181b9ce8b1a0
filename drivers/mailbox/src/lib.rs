//! The interim protocol between a virtio driver and its one client: a control
//! page and a data region, both shared, plus a channel for notifications. It
//! stands in for the `driver-queue` rings until those are merged; the drivers'
//! cores do not depend on it.
//!
//! Control page (u64 words; each side writes its own words, the sequence word last):
//!
//! | word | writer | meaning |
//! |------|--------|---------|
//! | 0    | client | request sequence number (bumped per request) |
//! | 1..3 | client | op, arg0, arg1 |
//! | 8    | driver | response sequence number (= request's when done) |
//! | 9,10 | driver | status, value |
//! | 16   | driver | receive sequence number (bumped per delivery) |
//! | 17   | driver | received length (bytes at the data region's second half) |
//! | 24   | client | receive acknowledgement (= receive sequence when consumed) |
//!
//! The data region's first half carries request data (both ways), the second half
//! received data. Either side treats the other as untrusted: lengths are checked
//! against the region, and a sequence number it did not expect is ignored.
#![no_std]
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering;

use microkit::{Region, RegionError};

mod word {
    pub const REQ_SEQ: usize = 0;
    pub const OP: usize = 1;
    pub const ARG0: usize = 2;
    pub const ARG1: usize = 3;
    pub const RESP_SEQ: usize = 8;
    pub const STATUS: usize = 9;
    pub const VALUE: usize = 10;
    pub const RX_SEQ: usize = 16;
    pub const RX_LEN: usize = 17;
    pub const RX_ACK: usize = 24;
}

/// Operations.
pub mod op {
    /// Block: read `arg1` sectors at sector `arg0` into the request data.
    pub const READ: u64 = 1;
    /// Block: write `arg1` sectors at sector `arg0` from the request data.
    /// Console/net: transmit `arg0` bytes of request data.
    pub const WRITE: u64 = 2;
    /// Block: flush.
    pub const FLUSH: u64 = 3;
    /// Capacity (block, sectors) or MAC address (net, in `value`).
    pub const INFO: u64 = 4;
}

/// Response status.
pub mod status {
    pub const OK: u64 = 0;
    /// The device reported an I/O error.
    pub const IO_ERROR: u64 = 1;
    /// The request was malformed (unknown op, out of range, too large).
    pub const BAD_REQUEST: u64 = 2;
    /// The device misbehaved (a bad used ring, a lie about lengths): the driver
    /// gives up on it and faults, so the reincarnation server restarts it.
    pub const DEVICE_ERROR: u64 = 3;
}

/// A request as the driver reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub seq: u64,
    pub op: u64,
    pub arg0: u64,
    pub arg1: u64,
}

fn word(r: &Region, i: usize) -> Result<&'static core::sync::atomic::AtomicU64, RegionError> {
    r.atomic_u64(i * 8)
}

/// The driver's side.
pub struct DriverEnd {
    control: Region,
    data: Region,
    /// The last request sequence served.
    served: u64,
}

impl DriverEnd {
    /// Takes over the mailbox: requests already answered are not served again
    /// (a restarted driver continues where the last one stopped).
    pub fn new(control: Region, data: Region) -> Result<DriverEnd, RegionError> {
        let served = word(&control, word::RESP_SEQ)?.load(Ordering::Acquire);
        Ok(DriverEnd { control, data, served })
    }

    /// Bytes of request data the region holds.
    pub fn request_capacity(&self) -> usize {
        self.data.size() / 2
    }

    /// Bytes of received data the region holds.
    pub fn rx_capacity(&self) -> usize {
        self.data.size() - self.data.size() / 2
    }

    /// The pending request, if the client posted a new one.
    pub fn pending(&self) -> Result<Option<Request>, RegionError> {
        let seq = word(&self.control, word::REQ_SEQ)?.load(Ordering::Acquire);
        if seq == self.served {
            return Ok(None);
        }
        Ok(Some(Request {
            seq,
            op: word(&self.control, word::OP)?.load(Ordering::Relaxed),
            arg0: word(&self.control, word::ARG0)?.load(Ordering::Relaxed),
            arg1: word(&self.control, word::ARG1)?.load(Ordering::Relaxed),
        }))
    }

    /// Copies `out.len()` bytes of request data out (fails past the request half).
    pub fn read_request_data(&self, out: &mut [u8]) -> Result<(), RegionError> {
        self.check_request(out.len())?;
        self.data.read_bytes(0, out)
    }

    /// Copies `data` into the request half (a read's result).
    pub fn write_request_data(&self, data: &[u8]) -> Result<(), RegionError> {
        self.check_request(data.len())?;
        self.data.write_bytes(0, data)
    }

    fn check_request(&self, len: usize) -> Result<(), RegionError> {
        if len > self.request_capacity() {
            return Err(RegionError::OutOfBounds { offset: 0, len, size: self.request_capacity() });
        }
        Ok(())
    }

    /// Answers request `seq`.
    pub fn respond(&mut self, seq: u64, status: u64, value: u64) -> Result<(), RegionError> {
        word(&self.control, word::STATUS)?.store(status, Ordering::Relaxed);
        word(&self.control, word::VALUE)?.store(value, Ordering::Relaxed);
        word(&self.control, word::RESP_SEQ)?.store(seq, Ordering::Release);
        self.served = seq;
        Ok(())
    }

    /// True if the client consumed the last delivery (the receive slot is free).
    pub fn rx_free(&self) -> Result<bool, RegionError> {
        let seq = word(&self.control, word::RX_SEQ)?.load(Ordering::Acquire);
        Ok(word(&self.control, word::RX_ACK)?.load(Ordering::Acquire) == seq)
    }

    /// Delivers received bytes (at most [`DriverEnd::rx_capacity`]); false if
    /// the slot is still full.
    pub fn deliver(&mut self, data: &[u8]) -> Result<bool, RegionError> {
        if !self.rx_free()? {
            return Ok(false);
        }
        if data.len() > self.rx_capacity() {
            return Err(RegionError::OutOfBounds { offset: self.data.size() / 2, len: data.len(), size: self.data.size() });
        }
        self.data.write_bytes(self.data.size() / 2, data)?;
        word(&self.control, word::RX_LEN)?.store(data.len() as u64, Ordering::Relaxed);
        let rx = word(&self.control, word::RX_SEQ)?;
        rx.store(rx.load(Ordering::Relaxed).wrapping_add(1), Ordering::Release);
        Ok(true)
    }
}

/// The client's side.
pub struct ClientEnd {
    control: Region,
    data: Region,
    next: u64,
}

/// A response as the client reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub seq: u64,
    pub status: u64,
    pub value: u64,
}

impl ClientEnd {
    pub fn new(control: Region, data: Region) -> Result<ClientEnd, RegionError> {
        let next = word(&control, word::REQ_SEQ)?.load(Ordering::Acquire).wrapping_add(1);
        Ok(ClientEnd { control, data, next })
    }

    pub fn request_capacity(&self) -> usize {
        self.data.size() / 2
    }

    /// Posts a request (request data written beforehand); returns its sequence.
    /// The caller then notifies the driver.
    pub fn post(&mut self, op: u64, arg0: u64, arg1: u64) -> Result<u64, RegionError> {
        word(&self.control, word::OP)?.store(op, Ordering::Relaxed);
        word(&self.control, word::ARG0)?.store(arg0, Ordering::Relaxed);
        word(&self.control, word::ARG1)?.store(arg1, Ordering::Relaxed);
        let seq = self.next;
        word(&self.control, word::REQ_SEQ)?.store(seq, Ordering::Release);
        self.next = seq.wrapping_add(1);
        Ok(seq)
    }

    /// The response to the last request, once the driver gave it.
    pub fn response(&self) -> Result<Option<Response>, RegionError> {
        let seq = word(&self.control, word::RESP_SEQ)?.load(Ordering::Acquire);
        if seq != self.next.wrapping_sub(1) {
            return Ok(None);
        }
        Ok(Some(Response {
            seq,
            status: word(&self.control, word::STATUS)?.load(Ordering::Relaxed),
            value: word(&self.control, word::VALUE)?.load(Ordering::Relaxed),
        }))
    }

    pub fn write_data(&self, data: &[u8]) -> Result<(), RegionError> {
        if data.len() > self.request_capacity() {
            return Err(RegionError::OutOfBounds { offset: 0, len: data.len(), size: self.request_capacity() });
        }
        self.data.write_bytes(0, data)
    }

    pub fn read_data(&self, out: &mut [u8]) -> Result<(), RegionError> {
        if out.len() > self.request_capacity() {
            return Err(RegionError::OutOfBounds { offset: 0, len: out.len(), size: self.request_capacity() });
        }
        self.data.read_bytes(0, out)
    }

    /// Takes a delivery, if one is waiting: copies it into `out` (truncated to
    /// its length) and frees the slot; returns the delivered length.
    pub fn receive(&self, out: &mut [u8]) -> Result<Option<usize>, RegionError> {
        let seq = word(&self.control, word::RX_SEQ)?.load(Ordering::Acquire);
        let ack = word(&self.control, word::RX_ACK)?;
        if ack.load(Ordering::Relaxed) == seq {
            return Ok(None);
        }
        let half = self.data.size() / 2;
        let len = (word(&self.control, word::RX_LEN)?.load(Ordering::Relaxed) as usize).min(self.data.size() - half);
        let n = len.min(out.len());
        self.data.read_bytes(half, &mut out[..n])?;
        ack.store(seq, Ordering::Release);
        Ok(Some(len))
    }
}
