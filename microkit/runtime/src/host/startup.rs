//! Start-up of a PD process: read what the host kernel handed over, and map the
//! PD's memory regions at the virtual addresses `system.xml` gives.

use std::string::String;
use std::vec::Vec;

use super::protocol::{ENV_MAPS, ENV_NAME, FIRST_MAP_FD};

/// One region to map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapSpec {
    pub vaddr: usize,
    pub size: usize,
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// What the host kernel hands a PD process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setup {
    pub name: String,
    pub maps: Vec<MapSpec>,
}

fn fail(msg: core::fmt::Arguments<'_>) -> ! {
    crate::debug_println!("reincarnate runtime: {msg}");
    // EX_SOFTWARE: the kernel reports it as the PD exiting.
    std::process::exit(70)
}

impl Setup {
    pub(crate) fn from_env() -> Setup {
        let name = std::env::var(ENV_NAME).unwrap_or_else(|_| {
            fail(format_args!("{ENV_NAME} is not set: PD binaries are started by the host kernel (cargo xtask run)"))
        });
        let maps = std::env::var(ENV_MAPS).unwrap_or_default();
        match parse_maps(&maps) {
            Ok(maps) => Setup { name, maps },
            Err(bad) => fail(format_args!("bad {ENV_MAPS} entry {bad:?}")),
        }
    }
}

/// Parses `vaddr:size:perms;...` (hex numbers).
pub(crate) fn parse_maps(text: &str) -> Result<Vec<MapSpec>, String> {
    text.split(';')
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let mut parts = entry.split(':');
            let (Some(vaddr), Some(size), Some(perms), None) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(entry.into());
            };
            let vaddr = usize::from_str_radix(vaddr, 16).map_err(|_| String::from(entry))?;
            let size = usize::from_str_radix(size, 16).map_err(|_| String::from(entry))?;
            if perms.chars().any(|c| !"rwx".contains(c)) {
                return Err(entry.into());
            }
            Ok(MapSpec {
                vaddr,
                size,
                read: perms.contains('r'),
                write: perms.contains('w'),
                execute: perms.contains('x'),
            })
        })
        .collect()
}

pub(crate) fn map_regions(setup: &Setup) {
    for (i, map) in setup.maps.iter().enumerate() {
        let fd = FIRST_MAP_FD + i as i32;
        let mut prot = libc::PROT_NONE;
        if map.read {
            prot |= libc::PROT_READ;
        }
        if map.write {
            prot |= libc::PROT_WRITE;
        }
        if map.execute {
            prot |= libc::PROT_EXEC;
        }
        // SAFETY: maps a memfd the kernel handed over at a fixed address that must
        // not already be in use (MAP_FIXED_NOREPLACE): no existing memory changes.
        let got = unsafe {
            libc::mmap(
                map.vaddr as *mut libc::c_void,
                map.size,
                prot,
                libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE,
                fd,
                0,
            )
        };
        if got as usize != map.vaddr {
            let err = std::io::Error::last_os_error();
            fail(format_args!("cannot map {:#x} bytes at {:#x}: {err}", map.size, map.vaddr));
        }
        // SAFETY: the fd was handed to this process for this mapping only.
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps() {
        let maps = parse_maps("4000000:1000:rw;5000000:200000:r").unwrap();
        assert_eq!(maps.len(), 2);
        assert_eq!(maps[0], MapSpec { vaddr: 0x400_0000, size: 0x1000, read: true, write: true, execute: false });
        assert!(!maps[1].write);
        assert_eq!(parse_maps("").unwrap(), []);
    }

    #[test]
    fn rejects_bad_maps() {
        assert!(parse_maps("4000000:1000").is_err());
        assert!(parse_maps("zz:1000:rw").is_err());
        assert!(parse_maps("1:1:rq").is_err());
        assert!(parse_maps("1:1:r:extra").is_err());
    }
}
