//! The shared buffer between a client and DS, as a trait so the protocol code can
//! be tested on the host without the kernel.

use microkit::Region;

/// An access outside the buffer, or a write to a buffer mapped read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferError;

/// Memory shared by a client and DS: bounds-checked copies in and out.
pub trait SharedBuffer {
    /// Copies `out.len()` bytes at `offset` into `out`.
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), BufferError>;
    /// Copies `data` to `offset`.
    fn write(&self, offset: usize, data: &[u8]) -> Result<(), BufferError>;
}

impl SharedBuffer for Region {
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), BufferError> {
        self.read_bytes(offset, out).map_err(|_| BufferError)
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), BufferError> {
        self.write_bytes(offset, data).map_err(|_| BufferError)
    }
}

impl<B: SharedBuffer + ?Sized> SharedBuffer for &B {
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), BufferError> {
        (**self).read(offset, out)
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), BufferError> {
        (**self).write(offset, data)
    }
}

/// A buffer of [`BUFFER_SIZE`](crate::BUFFER_SIZE) bytes in ordinary memory: for
/// tests of the protocol on the host, where no region is shared.
pub struct MemBuffer(core::cell::RefCell<[u8; crate::BUFFER_SIZE]>);

impl MemBuffer {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        MemBuffer(core::cell::RefCell::new([0; crate::BUFFER_SIZE]))
    }
}

impl Default for MemBuffer {
    fn default() -> Self {
        MemBuffer::new()
    }
}

impl SharedBuffer for MemBuffer {
    fn read(&self, offset: usize, out: &mut [u8]) -> Result<(), BufferError> {
        let buf = self.0.borrow();
        let src = buf.get(offset..offset.checked_add(out.len()).ok_or(BufferError)?).ok_or(BufferError)?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result<(), BufferError> {
        let mut buf = self.0.borrow_mut();
        let dst = buf.get_mut(offset..offset.checked_add(data.len()).ok_or(BufferError)?).ok_or(BufferError)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}
