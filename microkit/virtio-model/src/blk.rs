//! virtio-blk (virtio 1.2, 5.2) over a raw disk image file.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::device::{Backend, Ctx};
use crate::queue::{Chain, QueueError};

pub const SECTOR: u64 = 512;
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;
const F_RO: u64 = 1 << 5;
const F_FLUSH: u64 = 1 << 9;
/// Largest single request the model serves (larger ones fail with IOERR).
const MAX_REQUEST: usize = 1 << 20;

/// A block device backed by a disk image.
pub struct Blk {
    file: File,
    sectors: u64,
    read_only: bool,
}

impl Blk {
    /// A device over `file`; its capacity is the file's length in whole sectors.
    pub fn new(file: File, read_only: bool) -> std::io::Result<Blk> {
        let sectors = file.metadata()?.len() / SECTOR;
        Ok(Blk { file, sectors, read_only })
    }

    /// Opens (read-write) the image at `path`.
    pub fn open(path: &std::path::Path) -> std::io::Result<Blk> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
        Blk::new(file, false)
    }

    /// Capacity in sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Serves one request; returns (status, bytes written into the chain before
    /// the status byte).
    fn request(&mut self, ctx: &mut Ctx<'_>, chain: &Chain) -> Result<(u8, usize), QueueError> {
        let readable = chain.read_all(ctx.mem)?;
        let Some(header) = readable.get(..16) else { return Ok((S_IOERR, 0)) };
        let kind = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
        let sector = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        // The last writable byte is the status; the rest of the writable buffers
        // are data (reads, ids).
        let data_in = chain.writable_len().saturating_sub(1);
        let lost = ctx.drop_this();
        match kind {
            T_IN => {
                let Some(offset) = self.range(sector, data_in) else { return Ok((S_IOERR, 0)) };
                if lost {
                    return Ok((S_IOERR, 0));
                }
                let mut data = vec![0; data_in];
                if self.file.read_exact_at(&mut data, offset).is_err() {
                    return Ok((S_IOERR, 0));
                }
                ctx.maybe_corrupt(&mut data);
                let n = chain.write_at(ctx.mem, 0, &data)?;
                Ok((S_OK, n))
            }
            T_OUT => {
                let data = &readable[16..];
                if self.read_only {
                    return Ok((S_IOERR, 0));
                }
                let Some(offset) = self.range(sector, data.len()) else { return Ok((S_IOERR, 0)) };
                if lost {
                    return Ok((S_IOERR, 0));
                }
                match self.file.write_all_at(data, offset) {
                    Ok(()) => Ok((S_OK, 0)),
                    Err(_) => Ok((S_IOERR, 0)),
                }
            }
            T_FLUSH => Ok((if self.file.sync_data().is_ok() { S_OK } else { S_IOERR }, 0)),
            T_GET_ID => {
                let id = b"reincarnate-disk\0\0\0\0";
                let n = chain.write_at(ctx.mem, 0, &id[..id.len().min(data_in)])?;
                Ok((S_OK, n))
            }
            _ => Ok((S_UNSUPP, 0)),
        }
    }

    /// Byte offset of `len` bytes at `sector`, if whole sectors inside the disk.
    fn range(&self, sector: u64, len: usize) -> Option<u64> {
        if !len.is_multiple_of(SECTOR as usize) || len > MAX_REQUEST {
            return None;
        }
        let end = sector.checked_add(len as u64 / SECTOR)?;
        (end <= self.sectors).then(|| sector * SECTOR)
    }
}

impl Backend for Blk {
    fn name(&self) -> &'static str {
        "blk"
    }

    fn device_id(&self) -> u32 {
        crate::id::BLOCK
    }

    fn features(&self) -> u64 {
        F_FLUSH | if self.read_only { F_RO } else { 0 }
    }

    fn queue_sizes(&self) -> Vec<u16> {
        vec![128]
    }

    fn config(&self) -> Vec<u8> {
        let mut c = vec![0u8; 0x3c];
        c[0..8].copy_from_slice(&self.sectors.to_le_bytes());
        c[0x14..0x18].copy_from_slice(&(SECTOR as u32).to_le_bytes()); // blk_size
        c
    }

    fn process(&mut self, ctx: &mut Ctx<'_>, q: usize) -> Result<(), QueueError> {
        while let Some(chain) = ctx.pop(q)? {
            if chain.writable_len() == 0 {
                return Err(QueueError::BadIndex(chain.head)); // nowhere to put the status
            }
            let (status, n) = self.request(ctx, &chain)?;
            let status_at = chain.writable_len() - 1;
            chain.write_at(ctx.mem, status_at, &[status])?;
            ctx.complete(q, &chain, n as u32 + 1)?;
        }
        Ok(())
    }
}
