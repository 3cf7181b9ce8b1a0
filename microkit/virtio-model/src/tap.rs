//! A TAP device as the far end of a virtio-net model: frames the driver sends
//! come out of the TAP interface, frames sent to it reach the driver.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;

use crate::device::Device;

/// An open TAP interface.
pub struct Tap {
    file: File,
    name: String,
}

const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl Tap {
    /// Creates (or attaches to) the TAP interface `name` (needs CAP_NET_ADMIN).
    pub fn open(name: &str) -> io::Result<Tap> {
        if name.is_empty() || name.len() >= 16 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "interface names have 1 to 15 bytes"));
        }
        let file = std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun")?;
        let mut req = IfReq { name: [0; 16], flags: IFF_TAP | IFF_NO_PI, _pad: [0; 22] };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is
        // (same size and layout), alive for the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tap { file, name: name.to_string() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sink for [`crate::net::Net`]: frames are written to the TAP.
    pub fn sink(&self) -> io::Result<crate::net::Sink> {
        let mut out = self.file.try_clone()?;
        Ok(Box::new(move |frame: &[u8]| {
            let _ = out.write(frame);
        }))
    }

    /// Feeds every frame that arrives on the TAP to `device`, from a thread of its
    /// own, until the TAP is closed.
    pub fn pump_into(&self, device: Device) -> io::Result<()> {
        let mut input = self.file.try_clone()?;
        std::thread::Builder::new().name(format!("tap-{}", self.name)).spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => device.input(&buf[..n]),
                }
            }
        })?;
        Ok(())
    }
}
