//! `cargo xtask bench drivers`: the virtio drivers on the host kernel, with the
//! kernel's device models. Net and console figures are echo round trips driven
//! from here through the models. The block driver's client is the file system
//! server now (blk_client, which timed raw sector reads, is gone): its figures
//! are `cargo xtask bench fs`'s.
//! Net frames/s are UDP echo (port 7) through virtio_net, the network server
//! `net` (smoltcp) and `echo`: the driver and the server together, not the
//! driver alone (`cargo xtask bench net` measures TCP through them).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use host_kernel::virtio_model::slots::Kind;
use host_kernel::{Config, ConsoleIo, DeviceConfig, Machine, NetIo};

use crate::console::Console;
use crate::workspace::{Error, Workspace};

/// The far end of the link (a locally administered MAC).
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const PAYLOAD: usize = 1400;
/// The UDP echo port of `echo` (RFC 862).
const ECHO_PORT: u16 = 7;
const PEER_PORT: u16 = 12345;

/// The system's link as net.toml gives it: its MAC and address, and the
/// gateway's address, which the benchmark's frames come from.
struct Link {
    mac: [u8; 6],
    addr: [u8; 4],
    peer: [u8; 4],
}

impl Link {
    fn load(ws: &Workspace) -> Result<Link, Error> {
        let i = net_build::load_interface(&net_build::config_path(&ws.system)).map_err(|e| e.join("\n"))?;
        let peer = i.gateway.ok_or("net.toml gives no gateway (the address the benchmark's frames come from)")?;
        Ok(Link { mac: i.mac, addr: i.addr, peer })
    }

    /// "Who has the system's address?" from the peer: the network server learns
    /// the peer's MAC from it.
    fn arp_request(&self) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&self.peer);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&self.addr);
        f
    }

    fn udp_frame(&self, seq: u32) -> Vec<u8> {
        let mut f = self.mac.to_vec();
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 20 + 8 + PAYLOAD;
        let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&self.peer);
        ip.extend_from_slice(&self.addr);
        let mut sum: u32 = ip.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]]) as u32).sum();
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        f.extend_from_slice(&ip);
        let udp_len = (8 + PAYLOAD) as u16;
        f.extend_from_slice(&PEER_PORT.to_be_bytes());
        f.extend_from_slice(&ECHO_PORT.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]); // no UDP checksum
        f.extend_from_slice(&seq.to_be_bytes());
        f.resize(14 + total, 0x5a);
        f
    }
}

/// A frame the system sent is a UDP echo answer: IPv4, UDP, from the echo port.
fn is_echo(f: &[u8]) -> bool {
    f.len() >= 42 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f[34..36] == ECHO_PORT.to_be_bytes()
}

pub fn run(ws: &Workspace, frames: usize, console_bytes: usize) -> Result<(), Error> {
    let system = ws.load_system()?;
    let bin_dir = ws.build_host(&system)?;
    let disk = ws.root.join("target").join("bench-disk.img");
    std::fs::File::create(&disk)?.set_len(64 << 20)?;
    let link = Link::load(ws)?;
    let (net_tx, net_rx) = mpsc::channel::<()>();
    let (con_tx, con_rx) = mpsc::channel::<usize>();
    let devices = DeviceConfig {
        disk: Some(disk.clone()),
        net: NetIo::Sink(Box::new(move |f: &[u8]| {
            if is_echo(f) {
                let _ = net_tx.send(());
            }
        })),
        console: ConsoleIo::Sink(Box::new(move |b: &[u8]| {
            let _ = con_tx.send(b.len());
        })),
        mac: Some(link.mac),
    };
    let (tx, rx) = mpsc::channel();
    let machine =
        Machine::boot_with(Config::new(system, bin_dir, vec![tx], host_kernel::Scheduling::from_env()?), devices)?;
    let mut console = Console::new(rx);
    println!("host kernel, virtio drivers through the kernel's device models:");

    println!("  blk: through the file system server: cargo xtask bench fs");

    console.wait("net", "virtio_net attached")?;
    console.wait("echo", "echo: serving")?;
    let nic = machine.device(Kind::Net).ok_or("no net device")?.clone();
    nic.input(&link.arp_request());
    // Keep a window of frames in flight: the device and driver queues are
    // bounded, and echo's UDP socket (net.toml's echo_udp, 16 KiB) holds 11 of
    // these datagrams: more in flight and the server drops some.
    let window = 8;
    let start = Instant::now();
    let (mut sent, mut got, mut lost) = (0usize, 0usize, 0usize);
    while got + lost < frames {
        while sent < frames && sent - got - lost < window {
            nic.input(&link.udp_frame(sent as u32));
            sent += 1;
        }
        match net_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(_) => got += 1,
            Err(_) => lost += sent - got - lost, // a lost frame would stall the window
        }
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "  net: UDP echo through virtio_net, net and echo {:.0} frames/s, {:.1} MB/s each way ({} B frames, {got} echoed, {lost} lost, window {window})",
        got as f64 / t,
        got as f64 * link.udp_frame(0).len() as f64 / t / 1e6,
        link.udp_frame(0).len()
    );

    // The shell's greeting and prompt, then `echo` lines: each comes back as
    // the keys echoed, the answer and a new prompt.
    let mut greeting = 0;
    while greeting < GREETING_BYTES {
        greeting += con_rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "no console greeting")?;
    }
    let con = machine.device(Kind::Console).ok_or("no console device")?.clone();
    let (line, back) = echo_line();
    let lines = console_bytes.div_ceil(line.len());
    let start = Instant::now();
    let (mut sent, mut echoed) = (0usize, 0usize);
    let want = lines * back;
    while echoed < want {
        while sent < lines && sent * back < echoed + 8 * back {
            con.input(&line);
            sent += 1;
        }
        echoed += con_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("console echo stalled at {echoed} of {want} bytes"))?;
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "  console: the shell's echo, {:.2} MB/s typed and {:.2} MB/s back ({} lines of {} B; back: keys, answer, prompt)",
        (lines * line.len()) as f64 / t / 1e6,
        want as f64 / t / 1e6,
        lines,
        line.len()
    );
    machine.shutdown()?;
    std::fs::remove_file(disk).ok();
    Ok(())
}

/// Bytes of the shell's greeting and first prompt.
const GREETING_BYTES: usize = shell::GREETING.len() + 2 + shell::PROMPT.len();
/// The payload of an `echo` line (within the shell's line limit).
const ECHO_PAYLOAD: usize = 500;

/// An `echo` line for the shell, and the bytes that come back for it (the
/// keys echoed, CR LF, the answer, CR LF, the prompt).
fn echo_line() -> (Vec<u8>, usize) {
    let line: Vec<u8> = b"echo ".iter().copied().chain(std::iter::repeat_n(b'a', ECHO_PAYLOAD)).chain(*b"\r").collect();
    let back = (line.len() - 1) + 2 + ECHO_PAYLOAD + 2 + shell::PROMPT.len();
    (line, back)
}

/// `cargo xtask bench drivers --target qemu`: the same drivers on seL4 with
/// QEMU's virtio devices (block: `cargo xtask bench fs --target qemu`): net is UDP echo through QEMU's user networking from a host
/// socket to `echo` through virtio_net and the network server; console is echo
/// through QEMU's console socket.
pub fn run_qemu(ws: &Workspace, frames: usize, console_bytes: usize) -> Result<(), Error> {
    use std::io::{Read, Write};
    crate::sel4::require_sdk("cargo xtask bench drivers --target qemu")?;
    let sd = ws.load_system()?;
    let config = crate::sel4::KernelConfig::Debug;
    let image = crate::sel4::image(ws, &sd, &crate::sel4::Options { config, inject: Vec::new() })?;
    let disk = ws.root.join("target").join("bench-disk-qemu.img");
    std::fs::File::create(&disk)?.set_len(64 << 20)?;
    let port = 5556;
    let devices = crate::devices::DeviceArgs { disk: Some(disk.clone()), host_port: port, ..Default::default() };
    devices.write_qemu_args(&ws.root, &sd, &image)?;
    let mut qemu = crate::qemu::Qemu::spawn(&image, false)?;
    let outcome = qemu.run_until(Duration::from_secs(300), |l| {
        l.text.contains("echo: serving") || l.text.contains("net: virtio_net attached")
    });
    if outcome != crate::qemu::Outcome::Done {
        return Err(format!("the drivers did not report ({outcome:?}); the console:\n{}", qemu.console_text()).into());
    }
    println!(
        "seL4 on QEMU ({} config, {}), virtio drivers with QEMU's virtio-mmio devices; QEMU software emulation, not hardware:",
        config.name(),
        crate::qemu::version().unwrap_or_else(|| crate::qemu::QEMU.to_string())
    );

    // UDP echo from a host socket, a window of datagrams in flight.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(("127.0.0.1", port))?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))?;
    let payload = vec![0x5au8; PAYLOAD];
    // Until one datagram comes back: the network server first resolves QEMU's
    // gateway (ARP), and drops what it answers meanwhile.
    let mut buf = [0u8; 2048];
    let warm = Instant::now();
    loop {
        sock.send(&payload)?;
        if sock.recv(&mut buf).is_ok_and(|n| n == PAYLOAD) {
            break;
        }
        if warm.elapsed() > Duration::from_secs(30) {
            return Err("no UDP echo through QEMU's user networking within 30 s".into());
        }
    }
    let window = 8; // as on the host kernel
    let start = Instant::now();
    let (mut sent, mut got, mut lost) = (0usize, 0usize, 0usize);
    while got + lost < frames {
        while sent < frames && sent - got - lost < window {
            sock.send(&payload)?;
            sent += 1;
        }
        match sock.recv(&mut buf) {
            Ok(n) if n == PAYLOAD => got += 1,
            Ok(_) => {}
            Err(_) => lost += sent - got - lost,
        }
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "  net: UDP echo through virtio_net, net and echo {:.0} frames/s, {:.1} MB/s of payload each way ({PAYLOAD} B payloads, {got} echoed, {lost} lost, window {window})",
        got as f64 / t,
        got as f64 * PAYLOAD as f64 / t / 1e6
    );

    // The shell's echo through QEMU's socket: only the payload's bytes are
    // counted (twice per line: the keys echoed and the answer).
    let path = ws.root.join("target").join("qemu-console.sock");
    let mut con = std::os::unix::net::UnixStream::connect(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    con.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (line, _) = echo_line();
    let lines = console_bytes.div_ceil(line.len());
    let want = lines * 2 * ECHO_PAYLOAD;
    let start = Instant::now();
    let (mut sent, mut echoed) = (0usize, 0usize);
    let mut buf = [0u8; 8192];
    while echoed < want {
        while sent < lines && sent * 2 * ECHO_PAYLOAD < echoed + 4 * 2 * ECHO_PAYLOAD {
            con.write_all(&line)?;
            sent += 1;
        }
        let n = con.read(&mut buf).map_err(|e| format!("console echo stalled at {echoed} of {want} bytes: {e}"))?;
        echoed += buf[..n].iter().filter(|b| **b == b'a').count();
    }
    let t = start.elapsed().as_secs_f64();
    println!(
        "  console: the shell's echo, {:.3} MB/s typed ({} lines of {} B)",
        (lines * line.len()) as f64 / t / 1e6,
        lines,
        line.len()
    );
    qemu.stop();
    std::fs::remove_file(disk).ok();
    Ok(())
}
