//! PD processes: shared-memory regions (memfds), and starting a PD binary with
//! its control socket and maps at the file descriptors the runtime expects.

use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use microkit::host::privilege::ENV_UID;
use microkit::host::protocol::{CONTROL_FD, ENV_MAPS, ENV_NAME, FIRST_MAP_FD};
use rustix::fs::{Mode, OFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::layout::{Layout, PdSpec};
use crate::scheduling::ChildSched;

/// The memory regions of a running system. They live as long as the system, so
/// a restarted PD finds them as its previous incarnation left them (as on seL4).
pub struct Regions {
    memfds: Vec<OwnedFd>,
}

impl Regions {
    pub fn new(layout: &Layout) -> io::Result<Regions> {
        let memfds = layout
            .regions
            .iter()
            .map(|r| {
                let fd = rustix::fs::memfd_create(&r.name, rustix::fs::MemfdFlags::CLOEXEC)?;
                rustix::fs::ftruncate(&fd, r.size)?;
                Ok(fd)
            })
            .collect::<io::Result<_>>()?;
        Ok(Regions { memfds })
    }

    /// The memfd of region `region`.
    pub fn memfd(&self, region: usize) -> std::os::fd::BorrowedFd<'_> {
        self.memfds[region].as_fd()
    }

    /// A descriptor for one map: the memfd itself for a writable map, or a
    /// read-only reopening of it, so a read-only map cannot be made writable.
    fn fd_for(&self, region: usize, writable: bool) -> io::Result<OwnedFd> {
        let memfd = &self.memfds[region];
        let access = if writable { OFlags::RDWR } else { OFlags::RDONLY };
        let path = format!("/proc/self/fd/{}", memfd.as_raw_fd());
        Ok(rustix::fs::open(path.as_str(), access | OFlags::CLOEXEC, Mode::empty())?)
    }
}

/// A running PD process.
pub struct Process {
    pub pid: u32,
    pub pidfd: OwnedFd,
    /// The kernel's end of the control socket (non-blocking).
    pub control: OwnedFd,
}

/// Descriptors this high are never a target of the dup2s below.
const HIGH_FD: i32 = 256;

/// Descriptors (and one environment variable naming them) a PD gets beyond its
/// maps: they land at [`Extra::first_fd`], `first_fd + 1`, ... in order.
pub struct Extra {
    pub fds: Vec<OwnedFd>,
    pub env: (&'static str, String),
    /// The uid and gid the PD runs as when the kernel runs as root (see
    /// `microkit::host::privilege`).
    pub uid: u32,
    /// Its CPU and scheduling class (see `scheduling`).
    pub sched: ChildSched,
}

/// PD `i` runs as uid and gid `UID_BASE + i` when the kernel is root: one of
/// its own per PD (so none can signal another), in a range no distribution
/// hands out.
pub const UID_BASE: u32 = 0x3e00_0000;

impl Extra {
    /// Where the first extra descriptor of `spec` lands: after its maps.
    pub fn first_fd(spec: &PdSpec) -> i32 {
        FIRST_MAP_FD + spec.maps.iter().filter(|m| !m.mmio).count() as i32
    }
}

/// Starts the PD `spec`; each line it prints goes to `on_line`.
pub fn spawn(
    spec: &PdSpec,
    regions: &Regions,
    extra: Extra,
    on_line: impl Fn(String) + Send + 'static,
) -> io::Result<Process> {
    if !spec.program.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("program {} of PD {} not found (build it first)", spec.program.display(), spec.name),
        ));
    }
    let (kernel_end, pd_end) =
        rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?;
    // Move every descriptor the child gets above HIGH_FD so that placing them at
    // 3, 4, ... cannot overwrite one another.
    let high = |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, HIGH_FD);
    let pd_end = high(&pd_end)?;
    let mut map_fds = Vec::new();
    let mut map_env = String::new();
    // Device registers are not memory on the host kernel (see `devices`).
    for map in spec.maps.iter().filter(|m| !m.mmio) {
        map_fds.push(high(&regions.fd_for(map.region, map.perms.write)?)?);
        map_env.push_str(&format!("{:x}:{:x}:{};", map.vaddr, map.size, map.perms));
    }
    for fd in &extra.fds {
        map_fds.push(high(fd)?);
    }
    let (out_read, out_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let out_write2 = out_write.try_clone()?;

    let sources: Vec<i32> = std::iter::once(pd_end.as_raw_fd()).chain(map_fds.iter().map(|f| f.as_raw_fd())).collect();
    let parent_pid = std::process::id() as i32;
    let sched = extra.sched;
    let mut command = Command::new(&spec.program);
    command
        .env_clear()
        .env(ENV_NAME, &spec.name)
        .env(ENV_MAPS, &map_env)
        .env(extra.env.0, &extra.env.1)
        .env(ENV_UID, extra.uid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_write))
        .stderr(Stdio::from(out_write2))
        // Its own process group: a Ctrl-C at the terminal reaches the launcher,
        // which stops the system, not every PD at once.
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (dup2, prctl, getppid, _exit, and the
    // scheduling calls of `ChildSched::apply`).
    unsafe {
        command.pre_exec(move || {
            for (i, &src) in sources.iter().enumerate() {
                let target = if i == 0 { CONTROL_FD } else { FIRST_MAP_FD + i as i32 - 1 };
                if libc::dup2(src, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            // No PD outlives the kernel, even if the launcher is killed outright.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent_pid {
                libc::_exit(1);
            }
            sched.apply()
        });
    }
    let child = command.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot start PD {}: {e}", spec.name)))?;
    drop(command);
    let pid = child.id();
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| io::Error::other("pid 0"))?,
        rustix::process::PidfdFlags::empty(),
    )?;
    rustix::io::ioctl_fionbio(&kernel_end, true)?;

    std::thread::Builder::new().name(format!("out-{}", spec.name)).spawn(move || {
        for line in BufReader::new(std::fs::File::from(out_read)).lines() {
            match line {
                Ok(line) => on_line(line),
                Err(_) => break,
            }
        }
    })?;
    Ok(Process { pid, pidfd, control: kernel_end })
}

/// How a PD process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signalled(i32),
}

/// Reaps the process if it has ended (`block`: wait for it).
pub fn reap(process: &Process, block: bool) -> io::Result<Option<Ending>> {
    use rustix::process::{WaitId, WaitIdOptions};
    let mut options = WaitIdOptions::EXITED;
    if !block {
        options |= WaitIdOptions::NOHANG;
    }
    let status = rustix::process::waitid(WaitId::PidFd(process.pidfd.as_fd()), options)?;
    Ok(status.and_then(|s| {
        if let Some(code) = s.exit_status() {
            Some(Ending::Exited(code))
        } else {
            s.terminating_signal().map(Ending::Signalled)
        }
    }))
}

/// Kills the process and waits for it.
pub fn kill(process: &Process) -> io::Result<Option<Ending>> {
    // SAFETY: signalling through a pidfd we own cannot hit a recycled pid.
    let rc = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, process.pidfd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<u8>(), 0)
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err);
        }
    }
    reap(process, true)
}
