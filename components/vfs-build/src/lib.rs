//! `vfs.toml`, beside `system.xml`: the file system server's clients and what
//! each may hold, read at build time and checked against the system
//! description. Nothing about who may use files is written in code.
//!
//! ```toml
//! [[client]]
//! pd = "files"          # an application PD
//! max_open = 8          # handles it may hold at once (1..=64)
//! devices = ["console"] # optional: the devices under /dev it may open
//! ```
//!
//! The one device is `console` (`/dev/console`, on the virtio_console
//! driver's queues, which the server maps); one handle on it may be open at a
//! time, and it does not count against `max_open`.
//!
//! The build stops, naming `vfs.toml` and what to change, unless: exactly one
//! PD runs the server's program; every client is a PD with one channel to it,
//! on which the client may call the server and the server may notify the
//! client, and one data region that only the two map, read-write, of at least
//! 8 KiB (a path and a directory entry's name fit in it beside each other);
//! each client is listed once; every number is in its range.
//!
//! A client is identified by the server's channel id to it, as DS and the
//! network server identify theirs.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sdf::SystemDescription;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    client: Vec<RawClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    pd: String,
    max_open: usize,
    #[serde(default)]
    devices: Vec<String>,
}

/// A client, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub pd: String,
    /// The server's channel id to it.
    pub channel: u8,
    pub max_open: usize,
    /// Whether it may open `/dev/console`.
    pub console: bool,
    /// The data region they share, and the server's accessor for it.
    pub region: String,
    pub region_fn: String,
}

/// The devices a client may be given.
pub const DEVICES: &[&str] = &["console"];

/// The most handles a client may hold.
pub const MAX_OPEN: usize = 64;
/// The smallest data region.
pub const REGION_MIN: u64 = 0x2000;

/// `vfs.toml` beside the system description at `system`.
pub fn config_path(system: &Path) -> PathBuf {
    system.with_file_name("vfs.toml")
}

/// Parses and checks `text` for the server program `server` of `sd`; every
/// problem is reported.
pub fn load_str(text: &str, sd: &SystemDescription, server: &str) -> Result<Vec<Client>, Vec<String>> {
    let file: File = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    let servers = net_build::runners(sd, server);
    let server_pd = match &servers[..] {
        [one] => Some(one.clone()),
        [] => {
            errors.push(format!("no protection domain of {} runs {server}.elf", sd.file.display()));
            None
        }
        many => {
            errors.push(format!(
                "{} protection domains run {server}.elf ({}); there must be one",
                many.len(),
                many.join(", ")
            ));
            None
        }
    };
    let mut clients: Vec<Client> = Vec::new();
    for c in &file.client {
        let at = format!("client {:?}", c.pd);
        if clients.iter().any(|k| k.pd == c.pd) {
            errors.push(format!("{at}: listed twice"));
            continue;
        }
        if !(1..=MAX_OPEN).contains(&c.max_open) {
            errors.push(format!("{at}: max_open must be 1..={MAX_OPEN}, not {}", c.max_open));
        }
        for d in &c.devices {
            if !DEVICES.contains(&d.as_str()) {
                errors.push(format!("{at}: no device {d:?} (there is: {})", DEVICES.join(", ")));
            }
        }
        let Some(server) = server_pd.as_deref() else { continue };
        let Some(channel) = net_build::owner_channel(sd, server, &c.pd, &at, &mut errors) else { continue };
        let Some(region) = net_build::data_region(sd, server, &c.pd, channel, "vfs-api", &mut errors) else { continue };
        match sd.memory_regions.iter().find(|m| m.name == region.region) {
            Some(m) if m.size < REGION_MIN => errors.push(format!(
                "{at}: the data region `{}` is {:#x} bytes; it must be at least {REGION_MIN:#x}",
                m.name, m.size
            )),
            _ => {}
        }
        clients.push(Client {
            pd: c.pd.clone(),
            channel,
            max_open: c.max_open,
            console: c.devices.iter().any(|d| d == "console"),
            region: region.region,
            region_fn: region.region_fn,
        });
    }
    clients.sort_by_key(|c| c.channel);
    if errors.is_empty() { Ok(clients) } else { Err(errors) }
}

/// The generated Rust of the server's configuration.
pub fn render(clients: &[Client]) -> String {
    let mut s = String::from(
        "/// The file system server's clients, from vfs.toml beside the system description.\n#[allow(dead_code)]\npub mod vfs_config {\n",
    );
    s.push_str("    /// (the server's channel id, client PD name, handles it may hold, may open /dev/console).\n");
    let list: Vec<String> =
        clients.iter().map(|c| format!("({}, {:?}, {}, {})", c.channel, c.pd, c.max_open, c.console)).collect();
    let _ = writeln!(s, "    pub const CLIENTS: &[(u8, &str, usize, bool)] = &[{}];", list.join(", "));
    s.push_str("    /// The data region of the client on the server's channel `channel`.\n");
    s.push_str("    #[allow(clippy::match_single_binding)] // a server without clients\n");
    s.push_str("    pub fn client_region(channel: u8) -> Option<::microkit::Region> {\n        match channel {\n");
    for c in clients {
        let _ = writeln!(
            s,
            "            // `{}` shares `{}`.\n            {} => Some(super::region::{}()),",
            c.pd.escape_default(),
            c.region.escape_default(),
            c.channel,
            c.region_fn
        );
    }
    s.push_str("            _ => None,\n        }\n    }\n}\n");
    s
}

/// For the server's `build.rs`: the program's constants (`microkit-build`) and
/// `$OUT_DIR/<program>.vfs_config.rs` (`vfs_config::CLIENTS`,
/// `vfs_config::client_region(channel)`).
pub fn generate_server(program: &str, default_system: &str) {
    microkit_build::generate(&[program], default_system);
    let (path, sd) = microkit_build::system(default_system);
    let path = config_path(&path);
    println!("cargo:rerun-if-changed={}", path.display());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => panic!("{}: cannot read the file system configuration: {e}", path.display()),
    };
    let clients = match load_str(&text, &sd, program) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", path.display());
            }
            panic!("{} is not a valid file system configuration ({} errors above)", path.display(), errors.len());
        }
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo for build scripts"))
        .join(format!("{program}.vfs_config.rs"));
    if let Err(e) = std::fs::write(&out, render(&clients)) {
        panic!("cannot write {}: {e}", out.display());
    }
}
