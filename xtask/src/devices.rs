//! The devices `cargo xtask run` attaches to the host kernel's models, and the
//! QEMU arguments that put QEMU's devices at the same slots.

use std::path::{Path, PathBuf};

use host_kernel::virtio_model::slots::{self, Kind};
use host_kernel::{ConsoleIo, DeviceConfig, NetIo};
use sdf::SystemDescription;

use crate::workspace::Error;

/// Device options of `run`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DeviceArgs {
    /// Raw disk image of the block device (default: target/reincarnate-disk.img,
    /// a 64 MiB FAT32 volume with a few files, created if missing).
    #[arg(long)]
    pub disk: Option<PathBuf>,
    /// The console device's far end: `stdio`, `socket:PATH` (host), or `none`.
    #[arg(long, default_value = "stdio")]
    pub console: String,
    /// Attach the network device to this existing TAP interface and leave it
    /// alone: no namespace, no relay (host; needs root).
    #[arg(long)]
    pub tap: Option<String>,
    /// Host UDP port forwarded to the system's port 7, UDP echo (QEMU user networking).
    #[arg(long, default_value_t = 5555)]
    pub host_port: u16,
    /// Port of 127.0.0.1 forwarded to the system's TCP port 80: QEMU's hostfwd,
    /// and on the host kernel a relay into the network namespace that holds the
    /// system's link (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub http_port: u16,
    /// No network: on the host kernel no namespace, TAP or relay (the net device
    /// drops what the system sends); on QEMU nothing forwarded.
    #[arg(long, conflicts_with = "tap")]
    pub no_net: bool,
}

/// The system's HTTP port, where `--http-port` leads.
pub const HTTP_PORT: u16 = 80;

/// File beside `loader.img` with QEMU's device arguments, one a line.
pub const QEMU_ARGS: &str = "qemu-args";
/// QEMU's chardev of the virtio console (a socket; the terminal for the shell).
pub const CONSOLE_CHARDEV: &str = "vcon0";

/// The default disk image: a 64 MiB FAT32 volume (`mkfs.fat` from dosfstools)
/// with a few files on it (`mcopy` from mtools), created if missing, or if
/// the file there holds no FAT volume (an older xtask made a zeroed 16 MiB
/// image). Without dosfstools or mtools it is a zeroed image and a line says
/// why the file system server will find no volume on it.
pub fn default_disk(root: &Path) -> Result<PathBuf, Error> {
    let path = root.join("target").join("reincarnate-disk.img");
    if path.exists() && has_fat(&path) {
        return Ok(path);
    }
    std::fs::create_dir_all(root.join("target"))?;
    let _ = std::fs::remove_file(&path);
    if let Err(why) = make_fat_image(&path) {
        println!(
            "[xtask] {why}: {} is a zeroed disk, on which vfs finds no volume (ci/setup.sh installs dosfstools and mtools)",
            path.display()
        );
        let _ = std::fs::remove_file(&path);
        std::fs::File::create(&path)?.set_len(DISK_BYTES)?;
    }
    Ok(path)
}

/// The default image's size.
pub const DISK_BYTES: u64 = 64 << 20;

/// The files `cargo xtask run` puts on a new image: (name on the volume, content).
pub const DISK_FILES: &[(&str, &str)] = &[
    ("hello.txt", "Hello from the host: this file was put on the disk with mtools.\n"),
    (
        "README.TXT",
        "The reincarnate system's disk: a FAT32 volume the file system server (vfs) serves.\n\
         Read it from the host with `mdir -i target/reincarnate-disk.img ::/` and\n\
         `mcopy -i target/reincarnate-disk.img ::/PATH -`; put files with `mcopy -i IMG FILE ::/PATH`.\n",
    ),
];

/// Whether `path` starts with a FAT boot sector (the 0x55AA signature and a
/// FAT type string).
fn has_fat(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path).map(|b| b.into_iter().take(512).collect::<Vec<u8>>()) else { return false };
    bytes.len() == 512 && bytes[510..] == [0x55, 0xaa] && (bytes[54..59] == *b"FAT16" || bytes[82..87] == *b"FAT32")
}

/// `mkfs.fat -F 32` a new image at `path` and `mcopy` [`DISK_FILES`] onto it.
pub fn make_fat_image(path: &Path) -> Result<(), String> {
    make_fat_image_with(path, &[])
}

/// [`make_fat_image`], with `extra` files too (name on the volume, content).
pub fn make_fat_image_with(path: &Path, extra: &[(&str, &str)]) -> Result<(), String> {
    make_fat_image_sized(path, DISK_BYTES, extra)
}

/// [`make_fat_image_with`] on an image of `bytes` (a multiple of 1 KiB).
pub fn make_fat_image_sized(path: &Path, bytes: u64, extra: &[(&str, &str)]) -> Result<(), String> {
    let run = |cmd: &mut std::process::Command| -> Result<(), String> {
        let name = cmd.get_program().to_string_lossy().into_owned();
        match cmd.output() {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!("{name} failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => Err(format!("cannot run {name}: {e}")),
        }
    };
    run(std::process::Command::new("mkfs.fat")
        .args(["-F", "32", "-n", "REINCARNATE", "-C"])
        .arg(path)
        .arg((bytes / 1024).to_string()))?;
    for (name, content) in DISK_FILES.iter().chain(extra) {
        let tmp = std::env::temp_dir().join(format!("xtask-disk-{}-{name}", std::process::id()));
        std::fs::write(&tmp, content).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let r = run(std::process::Command::new("mcopy").arg("-i").arg(path).arg(&tmp).arg(format!("::/{name}")));
        let _ = std::fs::remove_file(&tmp);
        r?;
    }
    println!(
        "[xtask] made {}: {} MiB FAT32 with {}",
        path.display(),
        bytes >> 20,
        DISK_FILES.iter().chain(extra).map(|f| f.0).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

impl DeviceArgs {
    /// The host kernel's device configuration.
    /// The host kernel's device configuration (`live`: the terminal shows the
    /// live status view, so the console cannot have it).
    pub fn host(&self, root: &Path, live: bool) -> Result<DeviceConfig, Error> {
        let console = match self.console.as_str() {
            "stdio" if live => ConsoleIo::Discard,
            "stdio" => ConsoleIo::Stdio,
            "none" => ConsoleIo::Discard,
            other => match other.strip_prefix("socket:") {
                Some(path) => ConsoleIo::Socket(PathBuf::from(path)),
                None => return Err(format!("--console {other}: expected stdio, socket:PATH or none").into()),
            },
        };
        let net = match &self.tap {
            Some(name) => NetIo::Tap(name.clone()),
            None => NetIo::Discard,
        };
        let disk = match &self.disk {
            Some(d) => d.clone(),
            None => default_disk(root)?,
        };
        Ok(DeviceConfig { disk: Some(disk), console, net, mac: None })
    }

    /// Writes [`QEMU_ARGS`] beside `image`.
    pub fn write_qemu_args(&self, root: &Path, sd: &SystemDescription, image: &Path) -> Result<(), Error> {
        let args = self.qemu(root, sd)?;
        std::fs::write(image.with_file_name(QEMU_ARGS), args.join("\n") + "\n")?;
        Ok(())
    }

    /// QEMU's devices, each pinned to the slot system.xml gives it.
    pub fn qemu(&self, root: &Path, sd: &SystemDescription) -> Result<Vec<String>, Error> {
        let mut args = Vec::new();
        for slot in slots::from_system(sd)? {
            let bus = format!("bus=virtio-mmio-bus.{}", slot.slot);
            match slot.kind {
                Kind::Blk => {
                    let disk = match &self.disk {
                        Some(d) => d.clone(),
                        None => default_disk(root)?,
                    };
                    args.push("-drive".into());
                    args.push(format!("file={},if=none,format=raw,id=disk0", disk.display()));
                    args.push("-device".into());
                    args.push(format!("virtio-blk-device,drive=disk0,{bus}"));
                }
                Kind::Net => {
                    args.push("-netdev".into());
                    let mut netdev = "user,id=net0".to_string();
                    if !self.no_net {
                        netdev += &format!(
                            ",hostfwd=udp:127.0.0.1:{}-:7,hostfwd=tcp:127.0.0.1:{}-:{HTTP_PORT}",
                            self.host_port, self.http_port
                        );
                    }
                    args.push(netdev);
                    args.push("-device".into());
                    args.push(format!("virtio-net-device,netdev=net0,{bus}"));
                }
                Kind::Console => {
                    args.push("-device".into());
                    args.push(format!("virtio-serial-device,{bus}"));
                    args.push("-chardev".into());
                    let sock = root.join("target").join("qemu-console.sock");
                    args.push(format!("socket,id={CONSOLE_CHARDEV},path={},server=on,wait=off", sock.display()));
                    args.push("-device".into());
                    args.push(format!("virtconsole,chardev={CONSOLE_CHARDEV}"));
                }
            }
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::workspace::Workspace;

    /// QEMU's user networking, given system.xml's net device arguments, listens
    /// on the machine's loopback at the HTTP and UDP echo ports (no image needed:
    /// QEMU is started halted, `-S`).
    #[test]
    fn qemu_forwards_the_http_and_echo_ports_of_loopback() {
        let ws = Workspace::locate(Path::new("system.xml")).unwrap();
        let ws = Workspace { system: ws.root.join("system.xml"), ..ws };
        let sd = ws.load_system().unwrap();
        let http = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let echo = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let disk = std::env::temp_dir().join(format!("xtask-devices-{}.img", std::process::id()));
        let devices = DeviceArgs { disk: Some(disk), http_port: http, host_port: echo, ..Default::default() };
        let netdev = |d: &DeviceArgs| {
            let args = d.qemu(&ws.root, &sd).unwrap();
            let at = args.iter().position(|a| a == "-netdev").expect("a net device in system.xml");
            args[at + 1].clone()
        };
        let forwarded = netdev(&devices);
        assert_eq!(
            forwarded,
            format!("user,id=net0,hostfwd=udp:127.0.0.1:{echo}-:7,hostfwd=tcp:127.0.0.1:{http}-:{HTTP_PORT}")
        );
        assert_eq!(netdev(&DeviceArgs { no_net: true, ..devices }), "user,id=net0");
        let qemu = Command::new(crate::qemu::QEMU)
            .args(["-machine", "virt", "-cpu", "cortex-a53", "-display", "none", "-S", "-netdev", &forwarded])
            .args(["-device", "virtio-net-device,netdev=net0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut qemu) = qemu else {
            println!("SKIPPED: {} is not installed", crate::qemu::QEMU);
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let listening = loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, http)).is_ok() {
                break true;
            }
            if Instant::now() > deadline || qemu.try_wait().ok().flatten().is_some() {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // QEMU holds the UDP port: binding it fails.
        let echo_taken = listening && UdpSocket::bind((Ipv4Addr::LOCALHOST, echo)).is_err();
        let _ = qemu.kill();
        let out = qemu.wait_with_output().unwrap();
        assert!(listening, "QEMU never listened on 127.0.0.1:{http}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(echo_taken, "QEMU does not hold UDP 127.0.0.1:{echo}");
    }
}
