//! The generated Rust.

use std::fmt::Write as _;

use crate::check::{Kind, NetFile};

pub(crate) fn server(f: &NetFile) -> String {
    let i = &f.interface;
    let mut s = String::from(
        "/// The network configuration, from net.toml beside the system description.\n#[allow(dead_code)]\npub mod net_config {\n",
    );
    let _ = writeln!(
        s,
        "    pub const CONFIG: net::NetConfig = net::NetConfig {{ mac: {:?}, ipv4: net::Ipv4Config {{ addr: {:?}, prefix_len: {}, gateway: {:?} }}, random_seed: {} }};",
        i.mac,
        i.addr,
        i.prefix_len,
        i.gateway,
        seed(i.mac)
    );
    s.push_str("    pub const SOCKETS: &[net_api::SocketDecl] = &[\n");
    for k in &f.sockets {
        let (kind, datagrams) = match k.kind {
            Kind::TcpListen { port, backlog } => (format!("TcpListener {{ port: {port}, backlog: {backlog} }}"), 0),
            Kind::TcpConnect => ("TcpClient".to_string(), 0),
            Kind::Udp { port, datagrams } => (format!("Udp {{ port: {port} }}"), datagrams),
        };
        let _ = writeln!(
            s,
            "        net_api::SocketDecl {{ name: {:?}, owner: {}, kind: net_api::SocketKind::{kind}, rx_bytes: {}, tx_bytes: {}, datagrams: {datagrams} }},",
            k.name, k.owner_channel, k.rx_bytes, k.tx_bytes
        );
    }
    s.push_str("    ];\n");
    s.push_str("    /// (the server's channel id, application PD name) of every socket owner.\n");
    let list: Vec<String> = f.clients.iter().map(|c| format!("({}, {:?})", c.channel, c.name)).collect();
    let _ = writeln!(s, "    pub const CLIENTS: &[(u8, &str)] = &[{}];", list.join(", "));
    let list: Vec<String> = f.readers.iter().map(|r| format!("({}, {:?})", r.channel, r.name)).collect();
    s.push_str("    /// (the server's channel id, PD name) of every reader of the report.\n");
    let _ = writeln!(s, "    pub const READERS: &[(u8, &str)] = &[{}];", list.join(", "));
    s.push_str("    /// The data region of the application on the server's channel `channel`.\n");
    s.push_str("    #[allow(clippy::match_single_binding)] // a server without applications\n");
    s.push_str("    pub fn client_region(channel: u8) -> Option<::microkit::Region> {\n        match channel {\n");
    for c in &f.clients {
        let _ = writeln!(
            s,
            "            // `{}` shares `{}`.\n            {} => Some(super::region::{}()),",
            c.name.escape_default(),
            c.region.escape_default(),
            c.channel,
            c.region_fn
        );
    }
    s.push_str("            _ => None,\n        }\n    }\n}\n");
    s
}

pub(crate) fn client(f: &NetFile, owners: &[String]) -> String {
    let mut s = String::from(
        "/// The sockets this program owns, from net.toml beside the system description.\n#[allow(dead_code)]\npub mod net_sockets {\n",
    );
    for (id, k) in f.sockets.iter().enumerate() {
        if owners.contains(&k.owner) {
            let _ =
                writeln!(s, "    pub const {}: net_api::SocketId = net_api::SocketId({id});", k.name.to_uppercase());
        }
    }
    s.push_str("}\n");
    s
}

pub(crate) fn reader(f: &NetFile) -> String {
    let mut s = String::from(
        "/// What net.toml declares, for reading the server's report (net_api::report).\n#[allow(dead_code)]\npub mod net_report {\n",
    );
    let i = &f.interface;
    let [a, b, c, d] = i.addr;
    let mac: Vec<String> = i.mac.iter().map(|b| format!("{b:02x}")).collect();
    let mut iface = format!("MAC {}, {a}.{b}.{c}.{d}/{}", mac.join(":"), i.prefix_len);
    if let Some([a, b, c, d]) = i.gateway {
        let _ = write!(iface, ", gateway {a}.{b}.{c}.{d}");
    }
    let _ = writeln!(s, "    pub const INTERFACE: &str = {iface:?};");
    s.push_str("    /// (name, owner, kind, port) of each socket, by `net_api::SocketId`.\n");
    s.push_str("    pub const SOCKETS: &[(&str, &str, &str, u16)] = &[\n");
    for k in &f.sockets {
        let (kind, port) = match k.kind {
            Kind::TcpListen { port, .. } => ("tcp-listen", port),
            Kind::TcpConnect => ("tcp-connect", 0),
            Kind::Udp { port, .. } => ("udp", port),
        };
        let _ = writeln!(s, "        ({:?}, {:?}, {kind:?}, {port}),", k.name, k.owner);
    }
    s.push_str("    ];\n}\n");
    s
}

/// smoltcp's seed for sequence numbers and ports: fixed per interface, so runs
/// repeat.
fn seed(mac: [u8; 6]) -> u64 {
    mac.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x1000_0000_01b3))
}
