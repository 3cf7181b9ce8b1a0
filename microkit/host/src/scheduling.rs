//! Scheduling as seL4 runs a Microkit system: one CPU, fixed priorities, and
//! MCS budgets and periods where the system description gives them.
//!
//! On QEMU the system runs on one core: the highest-priority runnable PD runs
//! until it blocks, and a PD with a budget below its period runs at most
//! `budget` µs in every `period` µs. By default ([`Scheduling::Sel4`]) the host
//! kernel does the same with Linux's means, so a spinning driver starves the
//! PDs below it here exactly as it does there:
//!
//! - **One CPU.** Every PD process of a system is pinned to one CPU. A process
//!   that boots several systems hands them the CPUs it may use in turn.
//! - **Fixed priorities.** Each PD runs `SCHED_RR`: the highest runnable
//!   priority runs, and PDs of equal priority take turns, as seL4 round-robins
//!   threads of one priority (Linux's slice is `kernel.sched_rr_timeslice_ms`,
//!   100 ms by default, where seL4's is the budget; `ci/setup.sh` makes it the
//!   drivers' 8 ms, since with 100 ms a hung driver kept another driver of its
//!   priority off the CPU until that one's server complained: an innocent
//!   restart, seen in `drivers/tests/tests/hang.rs`). Linux has 99 real-time
//!   levels and Microkit 255, so the distinct priorities of the system are
//!   ranked: the lowest gets level 1, the next level 2, and so on. The order,
//!   which is all fixed-priority scheduling depends on, is kept exactly. The
//!   kernel's own thread runs one level above every PD (seL4's kernel preempts
//!   every thread), with `SCHED_RESET_ON_FORK` so the threads and processes it
//!   starts do not inherit it. Device models are not pinned: on QEMU, too,
//!   devices are emulated outside the guest's CPU.
//! - **Budgets.** The kernel thread reads the CPU time of each PD whose budget
//!   is below its period when that PD could have used up its budget at the
//!   earliest (a PD uses at most one CPU second per second), and at the end of
//!   each period in which it ran out. A PD that has used its budget in the
//!   current period drops to `SCHED_IDLE` (it runs only when its CPU has
//!   nothing else to do) until the period ends; then it gets its priority back.
//!   This is a fixed window, not seL4's sporadic server; a window starts when
//!   the kernel next looks after the last one ended, so an idle PD costs the
//!   kernel one look per budget, not one per millisecond. Linux brings a
//!   running process's CPU time up to date only at its scheduler tick (4 ms at
//!   HZ=250, seen here: a 3 ms budget overran to 6 ms), so the window is the
//!   period times the least n that makes it [`MIN_WINDOW`] long, with n times
//!   the budget: the share seL4 gives, within a tick per window, at a coarser
//!   grain (a driver with 8 ms in 10 ms runs up to 80 ms, then waits 20 ms).
//!
//! **Fallback.** Real-time scheduling needs `CAP_SYS_NICE` (root, as in CI). Without
//! it the PDs still share one CPU, with nice levels by priority rank (the
//! highest at 0, each lower rank 2 levels nicer): lower priorities get a
//! smaller share, not none, and budgets are not enforced. The kernel says so
//! when it boots.
//!
//! [`Scheduling::Free`] is the free-running mode: Linux schedules the PDs as
//! ordinary processes on every CPU (`REINCARNATE_SCHEDULING=free`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::layout::PdSpec;

/// How PD processes are scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduling {
    /// As on seL4: one CPU (this one, or the next the process may use), fixed
    /// priorities, budgets enforced.
    Sel4 { cpu: Option<usize> },
    /// Ordinary Linux processes on every CPU. For test binaries that boot
    /// several systems at once (they share CPUs, so a PD spinning in one would
    /// starve the PDs of another, which no seL4 machine sees), and for test
    /// systems whose PDs spin waiting for a PD of lower priority (which waits
    /// for ever on one CPU with fixed priorities, on seL4 too).
    Free,
}

/// The environment variable that picks the mode: `sel4` (the default) or
/// `free`; `sel4:N` pins the system to CPU N.
pub const ENV_SCHEDULING: &str = "REINCARNATE_SCHEDULING";

impl Scheduling {
    /// The mode [`ENV_SCHEDULING`] asks for; [`Scheduling::Sel4`] if unset.
    pub fn from_env() -> Result<Scheduling, String> {
        Scheduling::from_env_or(Scheduling::Sel4 { cpu: None })
    }

    /// The mode [`ENV_SCHEDULING`] asks for; `default` if unset.
    pub fn from_env_or(default: Scheduling) -> Result<Scheduling, String> {
        match std::env::var(ENV_SCHEDULING) {
            Err(_) => Ok(default),
            Ok(v) => Scheduling::parse(&v),
        }
    }

    pub fn parse(text: &str) -> Result<Scheduling, String> {
        match text {
            "" | "sel4" => Ok(Scheduling::Sel4 { cpu: None }),
            "free" => Ok(Scheduling::Free),
            _ => match text.strip_prefix("sel4:").map(str::parse) {
                Some(Ok(cpu)) => Ok(Scheduling::Sel4 { cpu: Some(cpu) }),
                _ => Err(format!("{ENV_SCHEDULING}={text:?}: expected sel4, sel4:CPU or free")),
            },
        }
    }
}

/// Nice levels between two adjacent priority ranks in the fallback.
const NICE_STEP: i32 = 2;
/// The shortest time between two looks at the budgets.
const BUDGET_TICK_MIN: Duration = Duration::from_micros(100);
/// The shortest window a budget is enforced over (25 ticks at HZ=250).
pub const MIN_WINDOW: Duration = Duration::from_millis(100);

/// How one PD process is to be scheduled, applied in the child before `exec`.
#[derive(Clone, Copy)]
pub struct ChildSched {
    cpu: Option<libc::cpu_set_t>,
    class: Class,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Real-time, started at the kernel thread's level (this one): the
    /// kernel gives the process its own level once `exec` is done.
    StartAtKernelLevel(i32),
    /// The fallback: a nice level.
    Nice(i32),
    /// Free-running: as the kernel's parent process.
    Inherit,
}

impl ChildSched {
    /// Applies it to the calling process. Called between fork and exec: only
    /// async-signal-safe system calls.
    /// The class first, the CPU then: moved first to a CPU that a PD keeps
    /// busy, it would not run to set its class.
    pub fn apply(&self) -> std::io::Result<()> {
        self.apply_class()?;
        if let Some(set) = &self.cpu {
            // SAFETY: `set` is a valid cpu_set_t of the size given.
            if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    fn apply_class(&self) -> std::io::Result<()> {
        match self.class {
            // Started at the kernel's level; the kernel gives it its own
            // once `exec` is done (`Scheduler::started`).
            Class::StartAtKernelLevel(kernel_level) => set_policy(0, libc::SCHED_FIFO, kernel_level),
            Class::Nice(nice) => {
                // SAFETY: plain system call on this process.
                if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            }
            Class::Inherit => Ok(()),
        }
    }
}

fn set_policy(pid: i32, policy: i32, level: i32) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: level };
    // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread, any
    // other pid one the kernel owns and has not reaped.
    if unsafe { libc::sched_setscheduler(pid, policy, &param) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Where the kernel reads the CPU time a PD's process has used:
/// `/proc/PID/schedstat`, kept open. Not the process's CPU clock: Linux sums a
/// process clock from its threads' times as of their last scheduler tick (it
/// lags by up to a tick, more than a budget), and a thread clock of another
/// process cannot be read. Reading schedstat brings a running thread's time up
/// to date.
struct CpuClock(std::fs::File);

impl CpuClock {
    fn open(pid: u32) -> Option<CpuClock> {
        std::fs::File::open(format!("/proc/{pid}/schedstat")).ok().map(CpuClock)
    }

    /// CPU time used so far (the first field, in nanoseconds).
    fn read(&self) -> Option<Duration> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 96];
        let n = self.0.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        text.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set, filled in by the call.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid for writes of the size given.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } < 0 {
        return vec![0];
    }
    // SAFETY: CPU_ISSET reads the set in bounds (i < CPU_SETSIZE).
    (0..libc::CPU_SETSIZE as usize).filter(|&i| unsafe { libc::CPU_ISSET(i, &set) }).collect()
}

/// Systems booted by this process so far (for handing out CPUs in turn).
static SYSTEMS: AtomicUsize = AtomicUsize::new(0);

/// A PD whose budget is below its period, as the kernel enforces it.
struct Budget {
    pd: usize,
    budget: Duration,
    period: Duration,
    level: i32,
    /// The process the window below belongs to, and its CPU time.
    pid: Option<u32>,
    clock: Option<CpuClock>,
    window_start: Instant,
    cpu_at_start: Duration,
    depleted: bool,
}

/// The scheduling of one system.
pub struct Scheduler {
    mode: Scheduling,
    cpu: Option<usize>,
    /// Real-time level per PD (rank of its priority, from 1).
    levels: Vec<i32>,
    kernel_level: i32,
    nices: Vec<i32>,
    fifo: bool,
    budgets: Vec<Budget>,
    next_tick: Instant,
}

impl Scheduler {
    pub fn new(mode: Scheduling, pds: &[PdSpec]) -> Scheduler {
        let mut ranks: Vec<u8> = pds.iter().map(|p| p.priority).collect();
        ranks.sort_unstable();
        ranks.dedup();
        let rank = |p: u8| ranks.iter().position(|&r| r == p).unwrap_or(0) as i32;
        // Levels 1..=98 for PDs, the kernel above them (99 is Linux's top).
        let levels: Vec<i32> = pds.iter().map(|p| (1 + rank(p.priority)).min(98)).collect();
        let kernel_level = levels.iter().copied().max().unwrap_or(0) + 1;
        let top = ranks.len() as i32 - 1;
        let nices = pds.iter().map(|p| ((top - rank(p.priority)) * NICE_STEP).min(19)).collect();
        let cpu = match mode {
            Scheduling::Free => None,
            Scheduling::Sel4 { cpu: Some(cpu) } => Some(cpu),
            Scheduling::Sel4 { cpu: None } => {
                let cpus = allowed_cpus();
                Some(cpus[SYSTEMS.fetch_add(1, Ordering::Relaxed) % cpus.len().max(1)])
            }
        };
        let now = Instant::now();
        let budgets = pds
            .iter()
            .enumerate()
            .filter(|(_, p)| p.budget_us < p.period_us)
            .map(|(i, p)| {
                let n = MIN_WINDOW.as_micros().div_ceil(u128::from(p.period_us.max(1))).max(1) as u64;
                (i, p.budget_us * n, p.period_us * n)
            })
            .map(|(i, budget, period)| Budget {
                pd: i,
                budget: Duration::from_micros(budget),
                period: Duration::from_micros(period),
                level: levels[i],
                pid: None,
                clock: None,
                window_start: now,
                cpu_at_start: Duration::ZERO,
                depleted: false,
            })
            .collect();
        Scheduler { mode, cpu, levels, kernel_level, nices, fifo: false, budgets, next_tick: now }
    }

    /// Called on the kernel's thread before it starts any PD: raises it above
    /// every PD if the machine permits real-time scheduling. Returns what to
    /// log.
    pub fn enter_kernel_thread(&mut self) -> Option<String> {
        let Scheduling::Sel4 { .. } = self.mode else { return None };
        let cpu = self.cpu.unwrap_or(0);
        match set_policy(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, self.kernel_level) {
            Ok(()) => {
                self.fifo = true;
                let slice = std::fs::read_to_string("/proc/sys/kernel/sched_rr_timeslice_ms")
                    .map_or_else(|_| "?".to_string(), |s| s.trim().to_string());
                Some(format!(
                    "scheduling as on seL4: every PD on CPU {cpu}, real-time by priority (SCHED_RR, equal \
                     priorities in turns of {slice} ms: kernel.sched_rr_timeslice_ms), budgets enforced"
                ))
            }
            Err(e) => Some(format!(
                "scheduling: real-time scheduling not permitted ({e}); every PD on CPU {cpu}, nice levels by priority, \
                 budgets not enforced"
            )),
        }
    }

    /// How PD `pd`'s process is to be scheduled.
    pub fn child(&self, pd: usize) -> ChildSched {
        let cpu = self.cpu.map(|cpu| {
            // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET writes
            // in bounds for cpu < CPU_SETSIZE (checked).
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            if cpu < libc::CPU_SETSIZE as usize {
                // SAFETY: see above.
                unsafe { libc::CPU_SET(cpu, &mut set) };
            }
            set
        });
        let class = match self.mode {
            Scheduling::Free => Class::Inherit,
            Scheduling::Sel4 { .. } if self.fifo => Class::StartAtKernelLevel(self.kernel_level),
            Scheduling::Sel4 { .. } => Class::Nice(self.nices[pd]),
        };
        ChildSched { cpu, class }
    }

    /// PD `pd`'s process `pid` has been started (its `exec` is done): it gets
    /// its own level. Until then it runs at the kernel's: pinned to a CPU that
    /// a PD above it keeps busy, it would not get to `exec`, and the kernel
    /// thread, which waits for that, would stop (seen in CI: a spinner at 150
    /// kept the next PD's fork from exec for minutes). As on seL4, where every
    /// PD is set up before any runs.
    pub fn started(&self, pd: usize, pid: u32) {
        if self.fifo {
            let _ = set_policy(pid as i32, libc::SCHED_RR, self.levels[pd]);
        }
    }

    /// The kernel is about to kill the process `pid` and wait for it: it is
    /// raised to the kernel's level first, since a process dies only when it
    /// runs, and one out of budget (`SCHED_IDLE`) on a CPU that spinning PDs
    /// keep busy would not run until its window ends. Seen: the kernel thread
    /// waited 360 ms for a hung driver to die, the timer's ticks stopped
    /// meanwhile, and RS took pong, which it had not pinged since, for hung.
    pub fn dying(&self, pid: u32) {
        if self.fifo {
            let _ = set_policy(pid as i32, libc::SCHED_FIFO, self.kernel_level);
        }
    }

    /// When the kernel must call [`Scheduler::tick`] next, if budgets apply.
    pub fn due_in(&self, now: Instant) -> Option<Duration> {
        (self.fifo && !self.budgets.is_empty()).then(|| self.next_tick.saturating_duration_since(now))
    }

    /// Enforces budgets: `pid_of(pd)` is PD `pd`'s live, unreaped process.
    pub fn tick(&mut self, now: Instant, pid_of: impl Fn(usize) -> Option<u32>) {
        if !self.fifo || now < self.next_tick {
            return;
        }
        let mut next = now + Duration::from_secs(1);
        for b in &mut self.budgets {
            let pid = pid_of(b.pd);
            if pid != b.pid {
                // A new process (it starts at its priority): a fresh window.
                b.pid = pid;
                b.clock = pid.and_then(CpuClock::open);
                b.depleted = false;
                b.window_start = now;
                b.cpu_at_start = b.clock.as_ref().and_then(CpuClock::read).unwrap_or_default();
                next = next.min(now + b.budget);
                continue;
            }
            let Some(pid) = pid else { continue };
            let Some(used) = b.clock.as_ref().and_then(CpuClock::read) else { continue };
            let window_end = b.window_start + b.period;
            if now >= window_end {
                b.window_start = now;
                b.cpu_at_start = used;
                if b.depleted && set_policy(pid as i32, libc::SCHED_RR, b.level).is_ok() {
                    b.depleted = false;
                }
            } else if !b.depleted && used.saturating_sub(b.cpu_at_start) >= b.budget {
                let idle = libc::sched_param { sched_priority: 0 };
                // SAFETY: `idle` is a valid sched_param; `pid` is unreaped.
                if unsafe { libc::sched_setscheduler(pid as i32, libc::SCHED_IDLE, &idle) } == 0 {
                    b.depleted = true;
                }
            }
            let left = b.budget.saturating_sub(used.saturating_sub(b.cpu_at_start));
            // Depleted: back at the period's end. Otherwise the earliest it can
            // run out (the window, if it has ended by then, rolls at that look).
            next = next.min(if b.depleted { b.window_start + b.period } else { now + left });
        }
        self.next_tick = next.max(now + BUDGET_TICK_MIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_read_as_written() {
        assert_eq!(Scheduling::parse("sel4"), Ok(Scheduling::Sel4 { cpu: None }));
        assert_eq!(Scheduling::parse("sel4:1"), Ok(Scheduling::Sel4 { cpu: Some(1) }));
        assert_eq!(Scheduling::parse("free"), Ok(Scheduling::Free));
        assert!(Scheduling::parse("fifo").is_err());
        assert!(Scheduling::parse("sel4:x").is_err());
    }
}
