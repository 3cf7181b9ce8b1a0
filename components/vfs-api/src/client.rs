//! The client side: an application's handle on the file system server, its
//! channel and its data region. Each request is started by one PPC and its
//! result taken by another ([`protocol`](crate::protocol)); paths go at the
//! start of the region, data after them, at most the region's size per call.
//! Requests on a device (`/dev/console`) are answered in their one call; their
//! bytes go through the last [`DEVICE_BYTES`] of the region, which a client
//! made [`VfsClient::with_devices`] keeps out of its file transfers, so a
//! file read completing meanwhile cannot meet them.

use microkit::reply;
use microkit::{Channel, MessageInfo, Region, get_mr, set_mr};

use crate::protocol::{DEVICE_BYTES, REQUEST_MRS, RESULT_MRS, Request, Span, kind_of};
use crate::{Handle, Kind, MAX_PATH, OpenFlags, Stat, VfsError, Whence};

/// An application's handle on the file system server.
#[derive(Clone, Copy, Debug)]
pub struct VfsClient {
    server: Channel,
    region: Region,
    /// Bytes at the region's end kept for device requests.
    device_bytes: usize,
}

/// One directory entry, from [`VfsClient::take_entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub size: u64,
    /// Bytes of the name, now at the start of the buffer given.
    pub name_len: usize,
    /// The cursor of the next entry.
    pub next: u64,
}

impl VfsClient {
    /// The server is on `server` (the application may call it there); `region`
    /// is the data region the two share (checked at build time by `vfs-build`).
    pub const fn new(server: Channel, region: Region) -> Self {
        VfsClient { server, region, device_bytes: 0 }
    }

    /// The same client, which also uses devices: file reads and writes move
    /// at most the region's size less [`DEVICE_BYTES`], which device requests
    /// use.
    pub const fn with_devices(self) -> Self {
        VfsClient { device_bytes: DEVICE_BYTES, ..self }
    }

    /// The channel on which the server notifies completions.
    pub const fn channel(&self) -> Channel {
        self.server
    }

    /// The most bytes one read or write moves.
    pub const fn max_transfer(&self) -> usize {
        self.region.size().saturating_sub(self.device_bytes)
    }

    fn call(&self, request: Request) -> Result<(usize, [u64; RESULT_MRS]), VfsError> {
        let mut mrs = [0u64; REQUEST_MRS];
        let (label, count) = request.encode(&mut mrs);
        for (i, v) in mrs[..count].iter().enumerate() {
            set_mr(i, *v);
        }
        let info = reply::check::<VfsError>(self.server.pp_call(MessageInfo::new(label, count)))?;
        let n = info.count().min(RESULT_MRS);
        let mut out = [0u64; RESULT_MRS];
        for (i, v) in out[..n].iter_mut().enumerate() {
            *v = get_mr(i);
        }
        Ok((n, out))
    }

    fn start(&self, request: Request) -> Result<(), VfsError> {
        self.call(request).map(drop)
    }

    fn put_path(&self, at: usize, path: &str) -> Result<Span, VfsError> {
        if path.len() > MAX_PATH || at + path.len() > self.region.size() {
            return Err(VfsError::BadPath);
        }
        self.region.write_bytes(at, path.as_bytes()).map_err(|_| VfsError::Protocol)?;
        Ok(Span { offset: at, len: path.len() })
    }

    /// Starts opening `path`.
    pub fn start_open(&self, path: &str, flags: OpenFlags) -> Result<(), VfsError> {
        let path = self.put_path(0, path)?;
        self.start(Request::Open { flags, path })
    }

    /// Starts closing `handle`.
    pub fn start_close(&self, handle: Handle) -> Result<(), VfsError> {
        self.start(Request::Close(handle))
    }

    /// Starts reading up to `len` bytes (at most the region's size).
    pub fn start_read(&self, handle: Handle, len: usize) -> Result<(), VfsError> {
        self.start(Request::Read { handle, to: Span { offset: 0, len: len.min(self.max_transfer()) } })
    }

    /// Starts writing `data` (at most the region's size: the bytes written
    /// are `data[..n]` of the result).
    pub fn start_write(&self, handle: Handle, data: &[u8]) -> Result<(), VfsError> {
        let len = data.len().min(self.max_transfer());
        self.region.write_bytes(0, &data[..len]).map_err(|_| VfsError::Protocol)?;
        self.start(Request::Write { handle, from: Span { offset: 0, len } })
    }

    /// Starts moving the handle's position.
    pub fn start_seek(&self, handle: Handle, whence: Whence, offset: i64) -> Result<(), VfsError> {
        self.start(Request::Seek { handle, whence, offset })
    }

    /// Starts writing everything of `handle` to the disk.
    pub fn start_fsync(&self, handle: Handle) -> Result<(), VfsError> {
        self.start(Request::Fsync(handle))
    }

    /// Starts looking `path` up.
    pub fn start_stat(&self, path: &str) -> Result<(), VfsError> {
        let path = self.put_path(0, path)?;
        self.start(Request::Stat(path))
    }

    /// Starts reading the entry of directory `path` at `cursor` (0: the first).
    pub fn start_readdir(&self, path: &str, cursor: u64) -> Result<(), VfsError> {
        let p = self.put_path(0, path)?;
        let name = Span { offset: MAX_PATH, len: self.region.size().saturating_sub(MAX_PATH).min(1024) };
        self.start(Request::ReadDir { path: p, cursor, name })
    }

    /// Starts making directory `path`.
    pub fn start_mkdir(&self, path: &str) -> Result<(), VfsError> {
        let path = self.put_path(0, path)?;
        self.start(Request::Mkdir(path))
    }

    /// Starts renaming `from` to `to` (replacing a file there).
    pub fn start_rename(&self, from: &str, to: &str) -> Result<(), VfsError> {
        let from = self.put_path(0, from)?;
        let to = self.put_path(from.len, to)?;
        self.start(Request::Rename { from, to })
    }

    /// Starts removing the file or empty directory `path`.
    pub fn start_unlink(&self, path: &str) -> Result<(), VfsError> {
        let path = self.put_path(0, path)?;
        self.start(Request::Unlink(path))
    }

    /// Where device bytes go: the region's last [`DEVICE_BYTES`].
    fn device_span(&self, len: usize) -> Span {
        let offset = self.region.size().saturating_sub(DEVICE_BYTES);
        Span { offset, len: len.min(self.region.size() - offset) }
    }

    /// Opens the device at `path` (`/dev/console`); answered in the call.
    pub fn open_device(&self, path: &str, flags: OpenFlags) -> Result<Handle, VfsError> {
        let path = self.put_path(0, path)?;
        match self.call(Request::Open { flags, path })? {
            (1, mrs) => Ok(Handle(mrs[0])),
            _ => Err(VfsError::Protocol),
        }
    }

    /// Takes what the device has for `buf` now (at most [`DEVICE_BYTES`]);
    /// answered in the call. [`VfsError::WouldBlock`]: nothing now, the server
    /// notifies when there is; [`VfsError::Io`]: the stream broke (close,
    /// open again).
    pub fn read_device(&self, handle: Handle, buf: &mut [u8]) -> Result<usize, VfsError> {
        let to = self.device_span(buf.len());
        let n = match self.call(Request::Read { handle, to })? {
            (1, mrs) => usize::try_from(mrs[0]).map_err(|_| VfsError::Protocol)?,
            _ => return Err(VfsError::Protocol),
        };
        if n > to.len {
            return Err(VfsError::Protocol);
        }
        self.region.read_bytes(to.offset, &mut buf[..n]).map_err(|_| VfsError::Protocol)?;
        Ok(n)
    }

    /// Gives the device what it takes of `data` now (at most
    /// [`DEVICE_BYTES`]): how many bytes; answered in the call.
    /// [`VfsError::WouldBlock`]: no room now, the server notifies when there
    /// is; [`VfsError::Io`]: the stream broke, and output written before may
    /// not have been sent.
    pub fn write_device(&self, handle: Handle, data: &[u8]) -> Result<usize, VfsError> {
        let from = self.device_span(data.len());
        self.region.write_bytes(from.offset, &data[..from.len]).map_err(|_| VfsError::Protocol)?;
        match self.call(Request::Write { handle, from })? {
            (1, mrs) if mrs[0] <= from.len as u64 => Ok(mrs[0] as usize),
            _ => Err(VfsError::Protocol),
        }
    }

    /// Closes a device handle; answered in the call.
    pub fn close_device(&self, handle: Handle) -> Result<(), VfsError> {
        match self.call(Request::Close(handle))? {
            (0, _) => Ok(()),
            _ => Err(VfsError::Protocol),
        }
    }

    /// The raw result of the request in flight: its MRs.
    /// [`VfsError::WouldBlock`] while it is still in flight.
    pub fn result(&self) -> Result<(usize, [u64; RESULT_MRS]), VfsError> {
        self.call(Request::Result)
    }

    fn want(&self, n: usize) -> Result<[u64; RESULT_MRS], VfsError> {
        match self.result()? {
            (count, mrs) if count == n => Ok(mrs),
            _ => Err(VfsError::Protocol),
        }
    }

    /// The result of an open.
    pub fn take_handle(&self) -> Result<Handle, VfsError> {
        Ok(Handle(self.want(1)?[0]))
    }

    /// The result of a request without result MRs (close, fsync, mkdir, ...).
    pub fn take_done(&self) -> Result<(), VfsError> {
        self.want(0).map(drop)
    }

    /// The result of a write (bytes written) or a seek (the new position).
    pub fn take_value(&self) -> Result<u64, VfsError> {
        Ok(self.want(1)?[0])
    }

    /// The result of a read, copied into `buf`: the bytes read (0 at the end).
    pub fn take_read(&self, buf: &mut [u8]) -> Result<usize, VfsError> {
        let n = usize::try_from(self.want(1)?[0]).map_err(|_| VfsError::Protocol)?;
        let n = n.min(buf.len()).min(self.region.size());
        self.region.read_bytes(0, &mut buf[..n]).map_err(|_| VfsError::Protocol)?;
        Ok(n)
    }

    /// The result of a stat.
    pub fn take_stat(&self) -> Result<Stat, VfsError> {
        let [kind, size, ..] = self.want(2)?;
        Ok(Stat { kind: kind_of(kind).ok_or(VfsError::Protocol)?, size })
    }

    /// The result of a readdir, the name copied into `name`; `None`: no more
    /// entries.
    pub fn take_entry(&self, name: &mut [u8]) -> Result<Option<Entry>, VfsError> {
        let [kind, size, len, next] = self.want(4)?;
        if len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| VfsError::Protocol)?.min(name.len());
        self.region.read_bytes(MAX_PATH, &mut name[..len]).map_err(|_| VfsError::Protocol)?;
        Ok(Some(Entry { kind: kind_of(kind).ok_or(VfsError::Protocol)?, size, name_len: len, next }))
    }
}
