//! Reading `net.toml` and checking it against the system description.

use std::collections::BTreeMap;

use sdf::SystemDescription;
use serde::Deserialize;

use crate::clients::{self, Client};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    interface: RawInterface,
    #[serde(default)]
    socket: Vec<RawSocket>,
    report: Option<RawReport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    readers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    mac: String,
    address: String,
    gateway: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSocket {
    name: String,
    owner: String,
    kind: String,
    port: Option<u16>,
    backlog: Option<u16>,
    rx_bytes: usize,
    tx_bytes: usize,
    datagrams: Option<usize>,
}

/// `net.toml` when only its interface is wanted: the sockets are left unread
/// (they need the system description).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InterfaceOnly {
    interface: RawInterface,
    #[serde(default, rename = "socket")]
    _socket: serde::de::IgnoredAny,
    #[serde(default, rename = "report")]
    _report: serde::de::IgnoredAny,
}

/// The interface, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub mac: [u8; 6],
    pub addr: [u8; 4],
    pub prefix_len: u8,
    pub gateway: Option<[u8; 4]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    TcpListen { port: u16, backlog: u16 },
    TcpConnect,
    Udp { port: u16, datagrams: usize },
}

/// A socket, checked; `owner_channel` is the server's channel id to the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socket {
    pub name: String,
    pub owner: String,
    pub owner_channel: u8,
    pub kind: Kind,
    pub rx_bytes: usize,
    pub tx_bytes: usize,
}

/// `net.toml`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetFile {
    pub interface: Interface,
    pub sockets: Vec<Socket>,
    /// Every owner of a socket, once, in channel order, with its data region.
    pub clients: Vec<Client>,
    /// The PDs that may read the server's report (`net_api::report`), with the
    /// server's channel id to each.
    pub readers: Vec<Reader>,
}

/// A PD that may read the server's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reader {
    pub name: String,
    /// The server's channel id to it.
    pub channel: u8,
}

const BUFFER_MIN: usize = 256;
const BUFFER_MAX: usize = 1 << 20;
const BACKLOG_MAX: u16 = 256;
const DATAGRAMS_MAX: usize = 64;

/// Parses and checks `text` for the server program `server` of `sd`; every
/// problem is reported.
pub fn load_str(text: &str, sd: &SystemDescription, server: &str) -> Result<NetFile, Vec<String>> {
    let file: File = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    let interface = interface(&file.interface, &mut errors);
    let elf = format!("{server}.elf");
    let servers = runners(sd, server);
    let server_pd = match &servers[..] {
        [one] => Some(one.clone()),
        [] => {
            errors.push(format!("no protection domain of {} runs {elf}", sd.file.display()));
            None
        }
        many => {
            errors.push(format!(
                "{} protection domains run {elf} ({}); there must be one",
                many.len(),
                many.join(", ")
            ));
            None
        }
    };
    let mut names = BTreeMap::new();
    let mut ports: BTreeMap<(&str, u16), &str> = BTreeMap::new();
    let mut sockets = Vec::new();
    for s in &file.socket {
        let at = format!("socket {:?}", s.name);
        if !is_ident(&s.name) {
            errors.push(format!("{at}: a name is lower-case letters, digits and `_`, starting with a letter"));
        }
        if names.insert(s.name.clone(), ()).is_some() {
            errors.push(format!("{at}: declared twice"));
        }
        let kind = match (s.kind.as_str(), s.port, s.backlog, s.datagrams) {
            ("tcp-listen", Some(port), backlog, None) => {
                let backlog = backlog.unwrap_or(1);
                if backlog == 0 || backlog > BACKLOG_MAX {
                    errors.push(format!("{at}: backlog must be 1..={BACKLOG_MAX}, not {backlog}"));
                }
                Some(("tcp", port, Kind::TcpListen { port, backlog }))
            }
            ("tcp-connect", None, None, None) => Some(("", 0, Kind::TcpConnect)),
            ("udp", Some(port), None, datagrams) => {
                let datagrams = datagrams.unwrap_or(4);
                if datagrams == 0 || datagrams > DATAGRAMS_MAX {
                    errors.push(format!("{at}: datagrams must be 1..={DATAGRAMS_MAX}, not {datagrams}"));
                }
                Some(("udp", port, Kind::Udp { port, datagrams }))
            }
            ("tcp-listen" | "udp", None, _, _) => {
                errors.push(format!("{at}: a {} socket needs a port", s.kind));
                None
            }
            ("tcp-connect", ..) => {
                errors.push(format!("{at}: a tcp-connect socket takes no port, backlog or datagrams"));
                None
            }
            ("tcp-listen" | "udp", ..) => {
                errors.push(format!(
                    "{at}: backlog is for tcp-listen and datagrams for udp sockets only (this one is {})",
                    s.kind
                ));
                None
            }
            (other, ..) => {
                errors.push(format!("{at}: kind {other:?} is none of tcp-listen, tcp-connect, udp"));
                None
            }
        };
        if let Some((proto, port, _)) = kind
            && !proto.is_empty()
        {
            if port == 0 {
                errors.push(format!("{at}: port 0 cannot be listened on"));
            } else if let Some(other) = ports.insert((proto, port), &s.name) {
                errors.push(format!("{at}: {proto} port {port} is also socket {other:?}'s"));
            }
        }
        for (what, n) in [("rx_bytes", s.rx_bytes), ("tx_bytes", s.tx_bytes)] {
            if !(BUFFER_MIN..=BUFFER_MAX).contains(&n) {
                errors.push(format!("{at}: {what} must be {BUFFER_MIN}..={BUFFER_MAX}, not {n}"));
            }
        }
        let owner_channel =
            server_pd.as_deref().and_then(|server| owner_channel(sd, server, &s.owner, &at, &mut errors));
        if let (Some((_, _, kind)), Some(owner_channel)) = (kind, owner_channel) {
            sockets.push(Socket {
                name: s.name.clone(),
                owner: s.owner.clone(),
                owner_channel,
                kind,
                rx_bytes: s.rx_bytes,
                tx_bytes: s.tx_bytes,
            });
        }
    }
    let mut owners: Vec<(&str, u8)> = sockets.iter().map(|s| (s.owner.as_str(), s.owner_channel)).collect();
    owners.sort_by_key(|&(_, channel)| channel);
    owners.dedup();
    let clients: Vec<Client> = match &server_pd {
        Some(server) => owners
            .into_iter()
            .filter_map(|(owner, channel)| clients::client(sd, server, owner, channel, &mut errors))
            .collect(),
        None => Vec::new(),
    };
    let mut readers: Vec<Reader> = Vec::new();
    for name in file.report.iter().flat_map(|r| &r.readers) {
        let at = format!("report reader {name:?}");
        if readers.iter().any(|r| &r.name == name) {
            errors.push(format!("{at}: named twice"));
            continue;
        }
        if let Some(channel) =
            server_pd.as_deref().and_then(|server| reader_channel(sd, server, name, &at, &mut errors))
        {
            readers.push(Reader { name: name.clone(), channel });
        }
    }
    match (errors.is_empty(), interface) {
        (true, Some(interface)) => Ok(NetFile { interface, sockets, clients, readers }),
        _ => Err(errors),
    }
}

/// Parses `text` and checks its `[interface]` only, by the same rules as
/// [`load_str`]; the sockets are not read (they need the system description).
pub fn interface_str(text: &str) -> Result<Interface, Vec<String>> {
    let file: InterfaceOnly = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    match (interface(&file.interface, &mut errors), errors.is_empty()) {
        (Some(interface), true) => Ok(interface),
        _ => Err(errors),
    }
}

/// The names of the PDs that run `program` (`<program>.elf`).
pub fn runners(sd: &SystemDescription, program: &str) -> Vec<String> {
    let elf = format!("{program}.elf");
    sd.all_pds()
        .into_iter()
        .filter(|r| r.pd.program_image == elf || r.pd.program_image == program)
        .map(|r| r.pd.name.clone())
        .collect()
}

/// The server's channel id to `owner`, if the channel is as the protocol needs
/// (the owner calls, the server notifies).
pub fn owner_channel(
    sd: &SystemDescription,
    server: &str,
    owner: &str,
    at: &str,
    errors: &mut Vec<String>,
) -> Option<u8> {
    channel_to(sd, server, owner, Peer::Owner, at, errors)
}

/// The server's channel id to the report reader `reader`: its one channel to
/// the server, on which it may call.
fn reader_channel(
    sd: &SystemDescription,
    server: &str,
    reader: &str,
    at: &str,
    errors: &mut Vec<String>,
) -> Option<u8> {
    channel_to(sd, server, reader, Peer::Reader, at, errors)
}

/// What a PD with a channel to the server is to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Owns sockets: calls the server, which notifies it.
    Owner,
    /// Reads the report: calls the server.
    Reader,
}

fn channel_to(
    sd: &SystemDescription,
    server: &str,
    peer: &str,
    role: Peer,
    at: &str,
    errors: &mut Vec<String>,
) -> Option<u8> {
    let named = if role == Peer::Owner { "owner " } else { "" };
    if sd.pd(peer).is_none() {
        errors.push(format!("{at}: {named}{peer:?} is no protection domain of {}", sd.file.display()));
        return None;
    }
    let ends: Vec<_> = sd.channels_of(server).into_iter().filter(|c| c.peer == peer).collect();
    match &ends[..] {
        [end] if end.peer_can_ppcall && (end.can_notify || role == Peer::Reader) => Some(end.id),
        [_] => {
            let notify = if role == Peer::Owner { format!(" and {server} to notify") } else { String::new() };
            errors.push(format!(
                "{at}: on the channel between {server} and {peer}, {peer} must be able to call (pp=\"true\" on its end){notify}"
            ));
            None
        }
        [] => {
            errors.push(format!("{at}: {named}{peer} has no channel to {server}"));
            None
        }
        _ => {
            errors.push(format!("{at}: {named}{peer} has {} channels to {server}; it must have one", ends.len()));
            None
        }
    }
}

fn interface(raw: &RawInterface, errors: &mut Vec<String>) -> Option<Interface> {
    let mac = parse_mac(&raw.mac);
    if mac.is_none() {
        errors.push(format!("interface.mac {:?}: six hex bytes separated by `:`", raw.mac));
    }
    if let Some(m) = mac
        && m[0] & 1 != 0
    {
        errors.push(format!("interface.mac {:?}: a multicast address cannot be a device's", raw.mac));
    }
    let address = raw.address.split_once('/').and_then(|(a, p)| Some((parse_ipv4(a)?, p.parse::<u8>().ok()?)));
    let address = match address {
        Some((a, p)) if (1..=30).contains(&p) => Some((a, p)),
        _ => {
            errors.push(format!(
                "interface.address {:?}: an IPv4 address with a prefix length 1..=30, as 10.0.2.15/24",
                raw.address
            ));
            None
        }
    };
    let gateway = match raw.gateway.as_deref().map(|g| (g, parse_ipv4(g))) {
        None => None,
        Some((_, Some(g))) => Some(g),
        Some((g, None)) => {
            errors.push(format!("interface.gateway {g:?}: not an IPv4 address"));
            None
        }
    };
    let ((addr, prefix_len), mac) = (address?, mac?);
    if let Some(g) = gateway {
        let mask = u32::MAX << (32 - prefix_len);
        if u32::from_be_bytes(g) & mask != u32::from_be_bytes(addr) & mask {
            errors.push(format!(
                "interface.gateway {:?} is outside {}",
                raw.gateway.as_deref().unwrap_or(""),
                raw.address
            ));
        }
    }
    Some(Interface { mac, addr, prefix_len, gateway })
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    s.parse::<std::net::Ipv4Addr>().ok().map(|a| a.octets())
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
