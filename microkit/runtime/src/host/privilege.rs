//! Least privilege for the PD process itself (seed Sec. 3: "unprivileged user
//! and group ID"), beneath the seccomp filter of [`super::confine`]: were a PD
//! to get past the filter, it would still find nothing to use.
//!
//! Before `init`, once the PD holds every descriptor it will ever use (control
//! socket, maps, IPC pages), the runtime
//! - moves into a mount namespace of its own whose root is an empty, read-only
//!   tmpfs (no host file is reachable by any path), a network namespace of its
//!   own (no interface but a loopback that is down) and an IPC namespace of its
//!   own;
//! - as root: gives up root for the uid and gid the host kernel chose for it
//!   ([`ENV_UID`], one per PD, so PDs cannot signal one another either), with
//!   no supplementary groups, so it keeps no capability (and sets its
//!   parent-death signal again, which the change of credentials cleared);
//! - not root: does the same inside a user namespace where it maps only its own
//!   uid, and then drops every capability it has there;
//! - sets `no_new_privs`, so nothing it could execute gains any.
//!
//! What the kernel does not permit (no user namespaces for an unprivileged
//! user, say) is skipped and reported once on the PD's output; the seccomp
//! filter still applies. The host kernel checks the result from outside
//! (`microkit/host-tests`: uid, capabilities, root directory, namespaces of a
//! running PD from `/proc`).

use std::ffi::CStr;
use std::string::String;

/// Environment variable holding the uid (and gid) a PD started by root runs as.
pub const ENV_UID: &str = "REINCARNATE_UID";

/// What [`drop_privileges`] could not do, if anything.
pub(crate) fn drop_privileges() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let uid = if root {
        Some(
            std::env::var(ENV_UID)
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|&u| u != 0)
                .ok_or_else(|| std::format!("{ENV_UID} is not a uid other than 0"))?,
        )
    } else {
        None
    };
    // SAFETY: getuid/getgid have no preconditions.
    let (outer_uid, outer_gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC;
    if !root {
        flags |= libc::CLONE_NEWUSER;
    }
    // SAFETY: unshare only changes this (single-threaded) process's namespaces.
    check(unsafe { libc::unshare(flags) }, "unshare")?;
    if !root {
        // Inside the new user namespace this process is root over its own uid only.
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &std::format!("0 {outer_uid} 1"))?;
        write_proc("/proc/self/gid_map", &std::format!("0 {outer_gid} 1"))?;
    }
    empty_root()?;
    if let Some(uid) = uid {
        // SAFETY: plain credential system calls on this process.
        unsafe {
            check(libc::setgroups(0, core::ptr::null()), "setgroups")?;
            check(libc::setresgid(uid, uid, uid), "setresgid")?;
            // Leaving uid 0 for good clears the permitted and effective capabilities.
            check(libc::setresuid(uid, uid, uid), "setresuid")?;
            // A change of credentials clears the parent-death signal the host
            // kernel set: set it again, so the PD still dies with the kernel.
            let ppid = libc::getppid();
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0), "parent-death signal")?;
            if ppid == 1 || libc::getppid() != ppid {
                std::process::exit(1);
            }
        }
    } else {
        drop_capabilities()?;
    }
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) only restricts this process.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }, "no_new_privs")?;
    Ok(())
}

/// Makes an empty read-only tmpfs this process's root: mounted over a
/// directory of the private mount namespace, then chrooted into.
fn empty_root() -> Result<(), String> {
    let c = |s: &'static [u8]| CStr::from_bytes_with_nul(s).unwrap_or_default();
    let (root, tmpfs, dot, mount_point) = (c(b"/\0"), c(b"tmpfs\0"), c(b".\0"), c(b"/tmp\0"));
    // SAFETY: mount/chdir/chroot with NUL-terminated strings that live for the
    // call, in a mount namespace that only this process uses.
    unsafe {
        // Nothing mounted here propagates back to the host's namespace.
        check(
            libc::mount(
                core::ptr::null(),
                root.as_ptr(),
                core::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                core::ptr::null(),
            ),
            "making mounts private",
        )?;
        let opts = c(b"size=4k,mode=0555\0");
        check(
            libc::mount(
                tmpfs.as_ptr(),
                mount_point.as_ptr(),
                tmpfs.as_ptr(),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                opts.as_ptr().cast(),
            ),
            "mounting an empty root",
        )?;
        check(libc::chdir(mount_point.as_ptr()), "chdir")?;
        check(libc::chroot(dot.as_ptr()), "chroot")?;
        check(libc::chdir(root.as_ptr()), "chdir /")?;
    }
    Ok(())
}

/// Clears every capability set of this process (in its user namespace).
fn drop_capabilities() -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let data = [Data { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: capset reads a version-3 header and two data words, both valid here.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) } as i32, "capset")
}

fn write_proc(path: &str, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| std::format!("writing {path}: {e}"))
}

fn check(rc: i32, what: &str) -> Result<(), String> {
    if rc < 0 { Err(std::format!("{what}: {}", std::io::Error::last_os_error())) } else { Ok(()) }
}
