//! Network namespaces for reaching a system's network from the machine, as
//! QEMU's user networking does: a [`Namespace`] holds the far end of the system's
//! link (a TAP the kernel opened), so the system's addresses live apart from the
//! machine's own, and a [`Relay`] forwards a TCP port of the machine into it
//! (like QEMU's `hostfwd`).
//!
//! Namespaces are made and configured with iproute2's `ip` (`ip netns add`,
//! `ip -n NS ...`), the tool an operator uses to look inside them; a thread joins
//! one with `setns(2)` (through rustix, no `unsafe`). Everything here needs
//! `CAP_SYS_ADMIN` and `CAP_NET_ADMIN`: [`available`] says why not.

mod relay;

use std::fmt::Display;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub use relay::{DEFAULT_LISTEN, Log, Relay, RelayOptions};

/// Where `ip netns add` leaves a namespace's handle (iproute2's NETNS_RUN_DIR).
const RUN_DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

/// Distinguishes the namespaces one process makes.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// `Ok` if this process can make network namespaces; else why not, in a phrase
/// ("not root", "`ip netns` is unavailable: ...").
pub fn available() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Err(e) => Err(format!("cannot run `ip` (iproute2): {e}")),
        Ok(out) if !out.status.success() => {
            Err(format!("`ip netns` is unavailable: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
        Ok(_) => Ok(()),
    }
}

/// A network namespace this process made with `ip netns add`; deleted (`ip
/// netns del`) when dropped. Links in it go with it; a socket made in it stays
/// in it for its whole life, whichever thread later uses it.
pub struct Namespace {
    name: String,
    /// `/run/netns/NAME`, what `setns` takes.
    handle: Arc<OwnedFd>,
}

impl Namespace {
    /// A new, empty namespace named `PREFIX-PID-N` (unique among live processes
    /// on the machine); its loopback is up.
    pub fn create(prefix: &str) -> io::Result<Namespace> {
        let name = format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name])?;
        let Some(file) = RUN_DIRS.iter().find_map(|dir| File::open(format!("{dir}/{name}")).ok()) else {
            let _ = ip(&["netns", "del", &name]);
            return Err(io::Error::other(format!(
                "network namespace {name}: made, but it has no handle in {}",
                RUN_DIRS.join(" or ")
            )));
        };
        // From here on, Drop deletes it whatever fails next.
        let ns = Namespace { name, handle: Arc::new(file.into()) };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the link `link` of this process's namespace into this one.
    pub fn move_link(&self, link: &str) -> io::Result<()> {
        ip(&["link", "set", "dev", link, "netns", &self.name])
    }

    /// Gives `link` (in this namespace) the address `addr/prefix_len` and brings it up.
    pub fn configure(&self, link: &str, addr: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
        self.ip(&["addr", "add", &format!("{addr}/{prefix_len}"), "dev", link])?;
        self.ip(&["link", "set", "dev", link, "up"])
    }

    /// `program` to be run inside this namespace (`ip netns exec NAME program`);
    /// add its arguments.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread of its own that has joined this namespace, and
    /// returns what it returns: sockets `f` makes belong to this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(&self.handle, &self.name)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other(format!("a thread in network namespace {} panicked", self.name))))
        })
    }

    /// `ip -n NAME args...`.
    fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

/// Moves the calling thread into the namespace `handle` (for good).
fn enter(handle: &OwnedFd, name: &impl Display) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(handle.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
        .map_err(|e| io::Error::other(format!("cannot join network namespace {name}: setns: {e}")))
}

/// Runs `ip args...`; its error output is the error.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `ip {}`: {e}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
