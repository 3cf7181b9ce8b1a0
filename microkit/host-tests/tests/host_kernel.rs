//! End-to-end tests of the host kernel: real processes, real faults, real restarts.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use host_kernel::{Config, Event, Machine};
use microkit::FaultKind;

const TIMEOUT: Duration = Duration::from_secs(20);

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_prober")).parent().unwrap().to_path_buf()
}

fn boot() -> (Machine, Receiver<Event>) {
    boot_system("system.xml")
}

/// Boots `forging.xml`: the IPC forging and mid-call death scenarios.
fn boot_forging() -> (Machine, Receiver<Event>) {
    boot_system("forging.xml")
}

fn boot_system(file: &str) -> (Machine, Receiver<Event>) {
    let system = sdf::SystemDescription::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let (tx, rx) = mpsc::channel();
    let machine = Machine::boot(Config::new(system, bin_dir(), vec![tx], host_kernel::Scheduling::Free)).unwrap();
    (machine, rx)
}

/// Waits for the first event that `pick` maps to something.
fn wait_for<T>(rx: &Receiver<Event>, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(ev) => {
                if let Some(t) = pick(&ev) {
                    return t;
                }
                seen.push(ev);
            }
            Err(_) => break,
        }
    }
    panic!("timed out waiting for {what}; saw:\n{seen:#?}");
}

fn output_of<'a>(ev: &'a Event, pd: &str) -> Option<&'a str> {
    match ev {
        Event::Output { pd: p, line, .. } if p == pd => Some(line.as_str()),
        _ => None,
    }
}

fn supervisor_line(rx: &Receiver<Event>, child: &str) -> String {
    let prefix = format!("supervisor: {child} faulted: ");
    wait_for(rx, &prefix, |ev| output_of(ev, "supervisor").and_then(|l| l.strip_prefix(&prefix)).map(String::from))
}

#[test]
fn notifications_coalesce_into_one_delivery() {
    let (_m, rx) = boot();
    let line = wait_for(&rx, "client's count", |ev| {
        output_of(ev, "ipc_client").filter(|l| l.contains("signals ->")).map(String::from)
    });
    assert_eq!(line, "client: 1000 signals -> 1 notified calls (label 0)");
}

#[test]
fn protected_calls_carry_message_registers_both_ways() {
    let (_m, rx) = boot();
    let line = wait_for(&rx, "client's reply", |ev| {
        output_of(ev, "ipc_client").filter(|l| l.contains("reply label")).map(String::from)
    });
    assert_eq!(line, "client: reply label 3 count 10 mrs [109, 108, 107, 106, 105, 104, 103, 102, 101, 100]");
}

#[test]
fn a_write_outside_the_maps_is_a_vm_fault_with_its_address() {
    let (_m, rx) = boot();
    let line = supervisor_line(&rx, "write_outside_maps");
    assert!(line.starts_with("vm-fault addr 0x4001000 pc 0x"), "{line}");
}

#[test]
fn a_write_to_a_read_only_map_is_a_vm_fault() {
    let (_m, rx) = boot();
    let line = supervisor_line(&rx, "write_read_only_map");
    assert!(line.starts_with("vm-fault addr 0x4100000 pc 0x"), "{line}");
}

#[test]
fn a_confined_pd_that_opens_a_file_is_stopped_as_a_fault() {
    let (_m, rx) = boot();
    let prefix = "supervisor: open_file faulted: ";
    let line = wait_for(&rx, prefix, |ev| {
        if let Some(l) = output_of(ev, "open_file") {
            assert!(!l.contains("open returned"), "the open went through: {l}");
        }
        output_of(ev, "supervisor").and_then(|l| l.strip_prefix(prefix)).map(String::from)
    });
    assert!(line.starts_with(&format!("cap-fault syscall {}", libc::SYS_openat)), "{line}");
}

#[test]
fn a_confined_pd_that_opens_a_socket_is_stopped_as_a_fault() {
    let (_m, rx) = boot();
    let line = supervisor_line(&rx, "open_socket");
    assert!(line.starts_with(&format!("cap-fault syscall {}", libc::SYS_socket)), "{line}");
}

#[test]
fn a_restart_gives_fresh_statics_while_shared_regions_keep_their_data() {
    let (m, rx) = boot();
    // Output and kernel events come from different threads: collect them all.
    let mut lines = Vec::new();
    let mut fault = None;
    wait_for(&rx, "both boots and the fault", |ev| {
        match ev {
            Event::Output { pd, line, .. } if pd == "fresh" && line.starts_with("fresh: boot") => {
                lines.push(line.clone())
            }
            Event::Fault { pd, generation, fault: f, .. } if pd == "fresh" => fault = Some((*generation, f.kind)),
            _ => {}
        }
        (lines.len() == 2 && fault.is_some()).then_some(())
    });
    lines.sort();
    // .data (41) and .bss (0) start over; the shared region counts on.
    assert_eq!(lines, ["fresh: boot 1 data 42 bss 1", "fresh: boot 2 data 42 bss 1"]);
    assert_eq!(fault, Some((0, FaultKind::Panic)));
    let status = m.status().unwrap();
    let fresh = status.iter().find(|s| s.name == "fresh").unwrap();
    assert_eq!((fresh.generation, fresh.restarts), (1, 1));
}

#[test]
fn injected_faults_reach_the_parent_with_their_kind() {
    let (m, rx) = boot();
    for (generation, (kind, expected)) in [
        (microkit::InjectKind::Crash, "vm-fault addr 0x10"),
        (microkit::InjectKind::Exit, "exit status 1"),
        (microkit::InjectKind::Panic, "panic"),
    ]
    .into_iter()
    .enumerate()
    {
        // fresh panics on its first boot by itself; inject into each later one.
        let generation = generation as u64 + 1;
        wait_for(&rx, "fresh up again", |ev| match ev {
            Event::Ready { pd, generation: g, .. } if pd == "fresh" && *g == generation => Some(()),
            _ => None,
        });
        m.inject("fresh", kind).unwrap();
        let fault = wait_for(&rx, "the injected fault", |ev| match ev {
            Event::Fault { pd, generation: g, fault, .. } if pd == "fresh" && *g == generation => Some(*fault),
            _ => None,
        });
        assert!(fault.to_string().starts_with(expected), "{kind}: {fault}");
    }
}

#[test]
fn a_parent_injects_faults_into_its_child_and_sees_each_fault() {
    let (_m, rx) = boot();
    let mut lines = Vec::new();
    wait_for(&rx, "the supervisor's injections into injectee", |ev| {
        let line = output_of(ev, "supervisor").filter(|l| l.contains("injectee"))?;
        lines.push(line.to_string());
        line.contains("injectee up after").then_some(())
    });
    let pc = |l: &str| l.split(" pc 0x").next().map(String::from);
    let lines: Vec<String> = lines.iter().filter_map(|l| pc(l)).collect();
    assert_eq!(
        lines,
        [
            "supervisor: injecting crash into injectee",
            "supervisor: injectee faulted: vm-fault addr 0x10",
            "supervisor: injecting panic into injectee",
            "supervisor: injectee faulted: panic",
            "supervisor: injecting exit into injectee",
            "supervisor: injectee faulted: exit status 1",
            "supervisor: injectee up after 3 injections",
        ]
    );
}

#[test]
fn operations_on_a_child_or_irq_one_does_not_have_are_refused_and_the_pd_goes_on() {
    let (m, rx) = boot();
    let mut lines = Vec::new();
    wait_for(&rx, "the prober's refusals", |ev| {
        if let Event::Fault { pd, fault, .. } = ev {
            assert_ne!(pd, "inject_stranger", "refused operations must not fault the caller: {fault}");
        }
        let line = output_of(ev, "inject_stranger")?;
        assert!(!line.contains("went through"), "an operation went through: {line}");
        lines.push(line.to_string());
        (line == "probe: still running").then_some(())
    });
    assert_eq!(
        lines,
        [
            "probe: inject refused: not-a-child",
            "probe: restart refused: not-a-child",
            "probe: stop refused: not-a-child",
            "probe: irq_ack refused: not-an-irq",
            "probe: still running",
        ]
    );
    let status = m.status().unwrap();
    let prober = status.iter().find(|s| s.name == "inject_stranger").unwrap();
    assert_eq!((prober.restarts, prober.last_fault), (0, None), "{prober:?}");
    assert!(prober.pid.is_some(), "{prober:?}");
}

/// Waits until every PD of `system.xml` that ends or restarts by design has done
/// so (the probes faulted, `inject_stranger` had its refusals and goes on,
/// `fresh` and `injectee` are up for good) and `ipc_server` is up: the PD
/// processes running then stay.
fn wait_until_settled(rx: &Receiver<Event>) {
    let mut left = vec!["write_outside_maps", "write_read_only_map", "open_file", "open_socket"];
    let (mut fresh, mut injectee, mut server, mut stranger) = (false, false, false, false);
    wait_for(rx, "the system settled", |ev| {
        match ev {
            Event::Fault { pd, .. } => left.retain(|p| p != pd),
            Event::Ready { pd, generation: 1, .. } if pd == "fresh" => fresh = true,
            Event::Ready { pd, .. } if pd == "ipc_server" => server = true,
            _ => {}
        }
        if output_of(ev, "supervisor").is_some_and(|l| l.contains("injectee up after")) {
            injectee = true;
        }
        if output_of(ev, "inject_stranger").is_some_and(|l| l.contains("still running")) {
            stranger = true;
        }
        (left.is_empty() && fresh && injectee && server && stranger).then_some(())
    });
}

fn alive(pid: u32) -> bool {
    // Not a zombie of ours: reaped processes disappear from /proc.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn no_pd_process_is_left_after_shutdown() {
    let (m, rx) = boot();
    wait_until_settled(&rx);
    let pids: Vec<u32> = m.status().unwrap().iter().filter_map(|s| s.pid).collect();
    assert!(pids.len() >= 3, "{pids:?}");
    assert!(pids.iter().all(|&p| alive(p)));
    let status = m.shutdown().unwrap();
    assert!(status.iter().all(|s| s.pid.is_none()));
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "left behind: {:?}",
        pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
    );
}

/// Run as a child process by the next test: boots the system, prints PD pids,
/// then waits to be killed.
#[test]
#[ignore = "helper process of no_pd_survives_a_killed_launcher"]
fn launcher_to_be_killed() {
    let (m, rx) = boot();
    wait_until_settled(&rx);
    let pids: Vec<String> = m.status().unwrap().iter().filter_map(|s| s.pid).map(|p| p.to_string()).collect();
    println!("PIDS {}", pids.join(" "));
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn no_pd_survives_a_killed_launcher() {
    use std::io::{BufRead, BufReader};
    let mut launcher = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "launcher_to_be_killed", "--ignored", "--nocapture"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(launcher.stdout.take().unwrap());
    let line = stdout.lines().map_while(Result::ok).find(|l| l.starts_with("PIDS ")).expect("launcher printed its PDs");
    let pids: Vec<u32> = line[5..].split(' ').map(|p| p.parse().unwrap()).collect();
    assert!(pids.iter().all(|&p| alive(p)));
    launcher.kill().unwrap();
    launcher.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pids.iter().all(|&p| !alive(p)), "left behind: {pids:?}");
}

fn line_of(rx: &Receiver<Event>, pd: &str, starts: &str) -> String {
    wait_for(rx, starts, |ev| output_of(ev, pd).filter(|l| l.starts_with(starts)).map(String::from))
}

#[test]
fn a_pd_cannot_forge_badges_calls_or_replies_through_the_pages_it_writes() {
    let (_m, rx) = boot_forging();
    // The forger overwrites every page it may write while forge_caller notifies
    // and calls forge_server: every reply is the server's, the server sees only
    // forge_caller's notifications, and never a call from the forger.
    // Output of different PDs comes from different threads: collect it all.
    let (mut calls, mut forger_call, mut scribbled) = (None, None, None);
    wait_for(&rx, "forge_caller's and the forger's lines", |ev| {
        match (output_of(ev, "forge_caller"), output_of(ev, "forger")) {
            (Some(l), _) if l.starts_with("forge_caller: 200 calls") => calls = Some(l.to_string()),
            (Some(l), _) if l.starts_with("forge_caller: forger answered") => forger_call = Some(l.to_string()),
            (_, Some(l)) if l.starts_with("forger: scribbled") => scribbled = Some(l.to_string()),
            _ => {}
        }
        (calls.is_some() && forger_call.is_some() && scribbled.is_some()).then_some(())
    });
    assert_eq!(
        calls.unwrap(),
        "forge_caller: 200 calls: 0 forged replies, 0 wrong; server saw 200 notifications from me, \
         0 from the forger, 0 calls from the forger"
    );
    // The forger pre-wrote label-666 replies for every sequence number on the
    // channel it serves; forge_caller takes only the reply to its own call.
    assert_eq!(forger_call.unwrap(), "forge_caller: forger answered label 7");
    let scribbled = scribbled.unwrap();
    let rounds: u64 = scribbled.split(' ').nth(2).unwrap().parse().unwrap();
    assert!(rounds > 1000, "{scribbled}");
}

#[test]
fn a_callee_that_dies_mid_call_answers_peer_faulted_and_then_stays_gone() {
    let (_m, rx) = boot_forging();
    let line = line_of(&rx, "forge_caller", "forge_caller: crash_callee answered");
    let pf = microkit::MessageInfo::PEER_FAULTED;
    assert_eq!(line, format!("forge_caller: crash_callee answered label {pf} then {pf}"));
}

#[test]
fn a_pd_cannot_write_its_peers_end_page() {
    let (_m, rx) = boot_forging();
    let fault = wait_for(&rx, "peer_writer's fault", |ev| match ev {
        Event::Output { pd, line, .. } if pd == "peer_writer" => {
            assert!(!line.contains("went through"), "the write went through: {line}");
            None
        }
        Event::Fault { pd, fault, .. } if pd == "peer_writer" => Some(*fault),
        _ => None,
    });
    assert_eq!(fault.kind, FaultKind::VmFault, "{fault}");
    assert!(fault.addr.is_some_and(|a| a != 0), "{fault}");
}

#[test]
fn a_caller_that_dies_mid_call_leaves_the_callee_unharmed() {
    let (m, rx) = boot_forging();
    // Output and kernel events come from different threads: follow them all.
    let (mut killed, mut doomed_died, mut answered, mut calls) = (false, false, false, None);
    wait_for(&rx, "the caller killed, the slow call answered, forge_caller's calls", |ev| {
        match ev {
            Event::Output { pd, line, .. } if pd == "doomed_caller" && line.contains("answered") => {
                panic!("the caller got an answer: {line:?}")
            }
            Event::Fault { pd, .. } if pd == "forge_server" => panic!("the callee faulted: {ev:?}"),
            Event::Fault { pd, fault, .. } if pd == "doomed_caller" => {
                assert!(killed, "doomed_caller died by itself: {fault}");
                assert_eq!(fault.kind, FaultKind::Killed);
                doomed_died = true;
            }
            Event::Output { pd, line, .. } if pd == "forge_server" && line == "forge_server: slow call taken" => {
                let pid = m.status().unwrap().iter().find(|s| s.name == "doomed_caller").and_then(|s| s.pid).unwrap();
                // SAFETY: signalling a PD process of this test's own machine.
                assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
                killed = true;
            }
            Event::Output { pd, line, .. } if pd == "forge_server" && line == "forge_server: slow call answered" => {
                assert!(doomed_died, "the reply came before the caller's death was seen");
                answered = true;
            }
            Event::Output { pd, line, .. } if pd == "forge_caller" && line.starts_with("forge_caller: 200 calls") => {
                calls = Some(line.clone())
            }
            _ => {}
        }
        (answered && calls.is_some()).then_some(())
    });
    // The server went on serving the other caller, correctly.
    let calls = calls.unwrap();
    assert!(calls.contains(": 0 forged replies, 0 wrong;"), "{calls}");
    let status = m.status().unwrap();
    let server = status.iter().find(|s| s.name == "forge_server").unwrap();
    assert_eq!((server.state_name(), server.restarts), ("up", 0));
}

/// Every PD process runs with nothing to use beyond its filter: its own
/// non-root uid and gid, no capability, `no_new_privs`, an empty root
/// directory and a network namespace of its own (seen from outside, in /proc,
/// while the system runs). Not as root, the kernel cannot give it a uid: the
/// rest is checked all the same where user namespaces are permitted.
#[test]
fn every_pd_process_is_unprivileged_and_sees_no_host_file() {
    let (machine, rx) = boot();
    wait_until_settled(&rx);
    let host_netns = std::fs::read_link("/proc/self/ns/net").unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut checked = 0;
    for pd in machine.status().unwrap() {
        // A PD gives up its privileges before `init`: once up, it has.
        let (Some(pid), host_kernel::ProcessState::Up) = (pd.pid, pd.state) else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        };
        if root {
            let uid: u32 = field("Uid:").unwrap().parse().unwrap();
            assert!(uid >= host_kernel::UID_BASE, "{} runs as uid {uid}", pd.name);
            assert_eq!(field("Gid:").unwrap(), uid.to_string(), "{}", pd.name);
            assert_eq!(field("CapEff:").unwrap(), "0000000000000000", "{} has capabilities", pd.name);
            assert_eq!(field("CapPrm:").unwrap(), "0000000000000000", "{} has capabilities", pd.name);
            let entries: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/root")).unwrap().collect();
            assert!(entries.is_empty(), "{} sees {} entries in its root directory", pd.name, entries.len());
            assert_ne!(std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap(), host_netns, "{}", pd.name);
        }
        assert_eq!(field("NoNewPrivs:").unwrap(), "1", "{}", pd.name);
        assert_eq!(field("Seccomp:").unwrap(), "2", "{} is filtered", pd.name);
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} PD processes found");
}
