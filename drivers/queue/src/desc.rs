//! Buffer descriptors: what one ring slot holds, and how a descriptor read
//! from a peer is checked against the data region it points into.

use core::fmt;

/// Bytes one descriptor takes in a ring slot (four little words).
pub const DESC_BYTES: usize = 32;

/// One buffer descriptor.
///
/// The same shape serves every driver class: net (a frame buffer and its
/// length), block (`op` read/write/flush, `arg` the sector, `len` the bytes)
/// and console (a chunk of characters). A completion echoes its request with
/// `len` and `status` filled in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Desc {
    /// Offset of the buffer in the data region (or its I/O address, if the
    /// [`Bounds`] describe I/O addresses).
    pub offset: u64,
    /// Bytes of the buffer in use: the frame or transfer length on a request,
    /// the bytes actually moved on a completion.
    pub len: u32,
    /// Request id, chosen by the server when it submits; a completion carries
    /// the id of its request.
    pub id: u32,
    /// Operation code, defined by the driver class (e.g. block read/write).
    pub op: u32,
    /// Completion status: [`status::OK`] or an error code.
    pub status: u32,
    /// Operation argument, defined by the driver class (e.g. the block number).
    pub arg: u64,
}

/// Completion status codes shared by all driver classes.
pub mod status {
    /// The request was carried out.
    pub const OK: u32 = 0;
    /// The device reported an error.
    pub const IO_ERROR: u32 = 1;
    /// The request was malformed (bad op, bad length).
    pub const INVALID: u32 = 2;
    /// The driver does not support the operation.
    pub const UNSUPPORTED: u32 = 3;
    /// The request was lost with a driver that died; set by a server that
    /// gives up on a reclaimed request instead of resubmitting it.
    pub const DRIVER_RESTARTED: u32 = 4;
}

impl Desc {
    /// A descriptor for `len` bytes at `offset`; everything else zero.
    pub const fn new(offset: u64, len: u32) -> Desc {
        Desc { offset, len, id: 0, op: 0, status: 0, arg: 0 }
    }

    /// The slot's four words.
    pub const fn to_words(&self) -> [u64; 4] {
        [self.offset, self.len as u64 | (self.id as u64) << 32, self.op as u64 | (self.status as u64) << 32, self.arg]
    }

    /// The descriptor in a slot's four words (every bit pattern is a descriptor;
    /// whether it is a sensible one is for [`Bounds::check`]).
    pub const fn from_words(w: [u64; 4]) -> Desc {
        Desc {
            offset: w[0],
            len: w[1] as u32,
            id: (w[1] >> 32) as u32,
            op: w[2] as u32,
            status: (w[2] >> 32) as u32,
            arg: w[3],
        }
    }
}

/// What is wrong with a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescError {
    /// `offset..offset+len` is not inside the data region.
    OutOfRegion,
    /// The offset is not at a buffer boundary (fixed-size buffers).
    Misaligned,
    /// `len` is larger than one buffer (fixed-size buffers).
    TooLong,
}

impl fmt::Display for DescError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DescError::OutOfRegion => "buffer is not inside the data region",
            DescError::Misaligned => "buffer offset is not at a buffer boundary",
            DescError::TooLong => "length exceeds the buffer size",
        })
    }
}

/// Where the buffers of a ring may be: `base..base+size` (offsets in the data
/// region, `base` 0, or I/O addresses), optionally cut into fixed-size buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    base: u64,
    size: u64,
    buf_size: u64,
}

impl Bounds {
    /// No constraint: for rings whose descriptors point at nothing.
    pub const ANY: Bounds = Bounds { base: 0, size: u64::MAX, buf_size: 0 };

    /// Buffers anywhere in a data region of `size` bytes (offsets from 0).
    pub const fn region(size: u64) -> Bounds {
        Bounds { base: 0, size, buf_size: 0 }
    }

    /// Buffers in `base..base+size` (e.g. the I/O addresses of a DMA region).
    pub const fn span(base: u64, size: u64) -> Bounds {
        Bounds { base, size, buf_size: 0 }
    }

    /// The same span cut into buffers of `buf_size` bytes from `base`: a
    /// descriptor must start at a buffer boundary and not be longer than one
    /// buffer. 0 means no fixed size.
    pub const fn with_buf_size(self, buf_size: u64) -> Bounds {
        Bounds { buf_size, ..self }
    }

    /// Checks that `d` names a buffer inside these bounds (no overflow possible).
    pub fn check(&self, d: &Desc) -> Result<(), DescError> {
        let rel = d.offset.checked_sub(self.base).ok_or(DescError::OutOfRegion)?;
        match rel.checked_add(d.len as u64) {
            Some(end) if end <= self.size => {}
            _ => return Err(DescError::OutOfRegion),
        }
        if self.buf_size != 0 {
            if rel % self.buf_size != 0 {
                return Err(DescError::Misaligned);
            }
            if d.len as u64 > self.buf_size {
                return Err(DescError::TooLong);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        let d = Desc { offset: 0x1234_5678_9abc, len: 1514, id: 0xdead_beef, op: 7, status: 3, arg: u64::MAX };
        assert_eq!(Desc::from_words(d.to_words()), d);
        assert_eq!(d.to_words()[1], 1514 | 0xdead_beef << 32);
    }

    #[test]
    fn region_bounds() {
        let b = Bounds::region(4096);
        assert_eq!(b.check(&Desc::new(0, 4096)), Ok(()));
        assert_eq!(b.check(&Desc::new(4095, 1)), Ok(()));
        assert_eq!(b.check(&Desc::new(4095, 2)), Err(DescError::OutOfRegion));
        assert_eq!(b.check(&Desc::new(4096, 0)), Ok(()), "an empty buffer at the end is inside");
        assert_eq!(b.check(&Desc::new(4097, 0)), Err(DescError::OutOfRegion));
        assert_eq!(b.check(&Desc::new(u64::MAX, u32::MAX)), Err(DescError::OutOfRegion), "no overflow");
    }

    #[test]
    fn span_and_fixed_buffers() {
        let b = Bounds::span(0x8000_0000, 8 * 2048).with_buf_size(2048);
        assert_eq!(b.check(&Desc::new(0x8000_0000 + 3 * 2048, 1514)), Ok(()));
        assert_eq!(b.check(&Desc::new(0x7fff_f800, 16)), Err(DescError::OutOfRegion), "below the base");
        assert_eq!(b.check(&Desc::new(0x8000_0000 + 100, 16)), Err(DescError::Misaligned));
        assert_eq!(b.check(&Desc::new(0x8000_0000, 2049)), Err(DescError::TooLong));
        assert_eq!(b.check(&Desc::new(0x8000_0000 + 8 * 2048, 1)), Err(DescError::OutOfRegion));
        assert_eq!(Bounds::ANY.check(&Desc::new(u64::MAX - 10, 10)), Ok(()));
    }
}
