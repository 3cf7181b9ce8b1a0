//! The system's network under `cargo xtask run` on the host kernel, reachable
//! from the machine as under QEMU's user networking: the net device's far end is
//! a TAP that, once the system has booted, is moved into a network namespace of
//! its own and given the gateway's address from `net.toml`; a relay forwards
//! `127.0.0.1:<--http-port>` of the machine to the system's port 80, connecting
//! from inside the namespace (QEMU: `hostfwd=tcp:127.0.0.1:<port>-:80`).
//!
//! It needs root, `/dev/net/tun` and iproute2's `ip netns`; without them, or
//! without `net.toml`, one line says why and the system runs without a network.
//! `--tap NAME` attaches an existing TAP instead and leaves it alone; `--no-net`
//! turns all of this off.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use host_kernel::netns::{self, Log, Namespace, Relay, RelayOptions};
use net_build::Interface;

use crate::devices::{DeviceArgs, HTTP_PORT};
use crate::workspace::{Error, Workspace};

/// The namespace is made, the TAP named; the system is not booted yet.
pub struct Pending {
    namespace: Namespace,
    tap: String,
    interface: Interface,
    gateway: Ipv4Addr,
}

/// The network while the system runs; dropping it stops the relay and deletes
/// the namespace (with the TAP, if the kernel still holds it).
pub struct HostNet {
    // Declared first: dropped first, before its namespace goes.
    _relay: Option<Relay>,
    namespace: Namespace,
    /// How to reach the system, for the live view's header.
    pub reach: String,
}

fn off(why: impl std::fmt::Display) -> Result<Option<Pending>, Error> {
    println!("[xtask] networking off: {why}");
    Ok(None)
}

/// Before boot: a namespace and the TAP's name, if networking is on and can be.
/// An invalid `net.toml` is an error; anything else missing turns networking off.
pub fn prepare(ws: &Workspace, args: &DeviceArgs) -> Result<Option<Pending>, Error> {
    if args.tap.is_some() {
        return Ok(None);
    }
    if args.no_net {
        return off("--no-net");
    }
    let path = net_build::config_path(&ws.system);
    if !path.exists() {
        return off(format_args!("there is no {} (the system's address comes from it)", path.display()));
    }
    let interface = net_build::load_interface(&path).map_err(|errors| errors.join("\n"))?;
    let Some(gateway) = interface.gateway.map(Ipv4Addr::from) else {
        return off(format_args!("{} gives no gateway, the address for the link's far end", path.display()));
    };
    if let Err(why) = netns::available() {
        return off(format_args!("{why} (the system's link is put in a network namespace: root and `ip netns`)"));
    }
    if !Path::new("/dev/net/tun").exists() {
        return off("/dev/net/tun is missing (no TAP devices)");
    }
    let namespace = match Namespace::create("reincarnate") {
        Ok(ns) => ns,
        Err(e) => return off(e),
    };
    // At most 15 bytes (IFNAMSIZ); the pid makes it unique among running systems.
    let tap = format!("rtap{}", std::process::id());
    Ok(Some(Pending { namespace, tap, interface, gateway }))
}

impl Pending {
    /// The TAP the kernel is to open.
    pub fn tap(&self) -> &str {
        &self.tap
    }

    /// After boot (the kernel has opened the TAP): moves it into the namespace,
    /// gives it the gateway's address and brings it up, and starts the relay.
    pub fn connect(self, args: &DeviceArgs, log: Log) -> Result<HostNet, Error> {
        let Pending { namespace, tap, interface, gateway } = self;
        let ns = namespace.name().to_string();
        namespace.move_link(&tap)?;
        namespace.configure(&tap, gateway, interface.prefix_len)?;
        let system = Ipv4Addr::from(interface.addr);
        println!(
            "[xtask] network: the system is {system}/{}; its link's far end is TAP {tap}, {gateway}, in network namespace {ns}",
            interface.prefix_len
        );
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, args.http_port));
        let target = SocketAddr::from((system, HTTP_PORT));
        let relay =
            match Relay::start(listen, target, Some(&namespace), RelayOptions { log: Some(log), ..Default::default() })
            {
                Ok(r) => {
                    println!("[xtask]   curl http://{}/   (relayed to {target} from inside {ns})", r.local_addr());
                    Some(r)
                }
                Err(e) => {
                    println!("[xtask]   no relay into the namespace (--http-port PORT picks another port): {e}");
                    None
                }
            };
        println!("[xtask]   ip netns exec {ns} ping -c 3 {system}   (any command, run inside {ns})");
        let reach = match &relay {
            Some(r) => format!("curl http://{}/, ip netns exec {ns} ...", r.local_addr()),
            None => format!("ip netns exec {ns} ..."),
        };
        Ok(HostNet { _relay: relay, namespace, reach })
    }
}

impl HostNet {
    /// Stops the relay and deletes the namespace, saying so.
    pub fn stop(self) {
        let ns = self.namespace.name().to_string();
        drop(self);
        println!("[xtask] network namespace {ns} deleted");
    }
}

/// Where the relay's messages go: printed, or (live view) into the console tail.
pub fn log(to: Option<std::sync::mpsc::Sender<String>>) -> Log {
    match to {
        Some(tx) => Arc::new(move |line| {
            let _ = tx.send(format!("[xtask] {line}"));
        }),
        None => Arc::new(|line| println!("[xtask] {line}")),
    }
}
