//! `net.toml`, beside `system.xml`: the network server's addresses and the
//! sockets applications own, read at build time and checked against the system
//! description. Nothing about the network is written in code.
//!
//! ```toml
//! [interface]
//! mac = "52:54:00:12:34:56"     # kept across driver restarts (peers' ARP caches stay valid)
//! address = "10.0.2.15/24"      # QEMU user networking's guest address
//! gateway = "10.0.2.2"          # optional
//!
//! [[socket]]
//! name = "http"                 # unique; the owner's constant is net_sockets::HTTP
//! owner = "http"                # the PD that may use it
//! kind = "tcp-listen"           # or "tcp-connect", "udp"
//! port = 80                     # not for tcp-connect
//! backlog = 4                   # tcp-listen: connections open at once (1..=256)
//! rx_bytes = 16384              # per connection for TCP (256..=1 MiB)
//! tx_bytes = 16384
//! datagrams = 8                 # udp: datagrams buffered each way (1..=64)
//!
//! [report]
//! readers = ["shell"]           # may read the server's counters (net_api::report)
//! ```
//!
//! The build stops, naming `net.toml` and what to change, unless: exactly one PD
//! runs the server's program; every owner is a PD with one channel to it, on which
//! the owner may call the server and the server may notify the owner, and one data
//! region that only the two map, read-write; every report reader is a PD with
//! one channel to the server on which it may call; names
//! are unique; no two sockets of a protocol share a port; every number is in its
//! range.
//!
//! A socket's owner is identified by the server's channel id to it, as DS
//! identifies its clients: no application can claim another's sockets.
#![forbid(unsafe_code)]

mod check;
mod clients;
mod render;

pub use check::{Interface, Kind, NetFile, Reader, Socket, interface_str, load_str, owner_channel, runners};
pub use clients::{Client, data_region};

use std::path::{Path, PathBuf};

/// `net.toml` beside the system description at `system`.
pub fn config_path(system: &Path) -> PathBuf {
    system.with_file_name("net.toml")
}

/// The `[interface]` of the `net.toml` at `path`, checked as the build checks it,
/// without the system description: for tools outside the build (`cargo xtask
/// run` gives the far end of the link the gateway's address). Every problem is
/// reported, each naming `path`.
pub fn load_interface(path: &Path) -> Result<Interface, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read the network configuration: {e}", path.display())])?;
    interface_str(&text).map_err(|errors| errors.into_iter().map(|e| format!("{}: {e}", path.display())).collect())
}

fn load_or_stop(path: &Path, sd: &sdf::SystemDescription, server: &str) -> NetFile {
    println!("cargo:rerun-if-changed={}", path.display());
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => panic!("{}: cannot read the network configuration: {e}", path.display()),
    };
    match load_str(&text, sd, server) {
        Ok(f) => f,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", path.display());
            }
            panic!("{} is not a valid network configuration ({} errors above)", path.display(), errors.len());
        }
    }
}

fn write(file: &str, text: String) {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo for build scripts")).join(file);
    if let Err(e) = std::fs::write(&out, text) {
        panic!("cannot write {}: {e}", out.display());
    }
}

/// For the server's `build.rs`: the program's constants (`microkit-build`) and
/// `$OUT_DIR/<program>.net_config.rs` (`net_config::CONFIG`, `net_config::SOCKETS`,
/// `net_config::CLIENTS` and `net_config::client_region(channel)`).
pub fn generate_server(program: &str, default_system: &str) {
    microkit_build::generate(&[program], default_system);
    let (path, sd) = microkit_build::system(default_system);
    let file = load_or_stop(&config_path(&path), &sd, program);
    write(&format!("{program}.net_config.rs"), render::server(&file));
}

/// For a report reader's `build.rs`: `$OUT_DIR/<program>.net_report.rs`
/// (`net_report::SOCKETS`, every declared socket's name, owner, kind and port in
/// declaration order, and `net_report::INTERFACE`, the addresses, as text).
/// `server` is the network server's program.
pub fn generate_reader(program: &str, server: &str, default_system: &str) {
    let (path, sd) = microkit_build::system(default_system);
    let file = load_or_stop(&config_path(&path), &sd, server);
    write(&format!("{program}.net_report.rs"), render::reader(&file));
}

/// For an application's `build.rs`: `$OUT_DIR/<program>.net_sockets.rs`
/// (`net_sockets::<NAME>`, the `net_api::SocketId` of each socket the
/// PDs running `program` own). `server` is the network server's program.
pub fn generate_client(program: &str, server: &str, default_system: &str) {
    let (path, sd) = microkit_build::system(default_system);
    let file = load_or_stop(&config_path(&path), &sd, server);
    write(&format!("{program}.net_sockets.rs"), render::client(&file, &check::runners(&sd, program)));
}
