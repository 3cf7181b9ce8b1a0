//! Called from the `build.rs` of a DS program (`ds::pd!`): writes the table of
//! DS's clients from the system description, so that a client's identity (its PD
//! name) and its buffer come from `system.xml`, never from the client.
//!
//! ```ignore
//! // build.rs
//! fn main() { ds_build::generate("ds", "../../system.xml") }
//! ```
//!
//! writes `$OUT_DIR/ds.rs` (the program's constants, by `microkit-build`) and
//! `$OUT_DIR/ds.ds_clients.rs` (module `ds_clients`: `CLIENTS` and `client(id)`).
//!
//! Every channel of DS is a client's, and the build stops, naming the element at
//! fault, unless:
//!
//! * exactly one PD runs the program, and it is top-level (RS calls DS, so RS
//!   cannot be DS's parent);
//! * DS never calls (no `pp="true"` on DS's ends) and can notify every client;
//! * every client can call DS (`pp="true"` on its end), has one channel to DS, and
//!   has a name without `.` (the separator of `private.<owner>.*`);
//! * DS and each client map exactly one region in common, the client's buffer:
//!   read-write on both sides, at least [`ds_api::BUFFER_SIZE`] bytes, mapped once
//!   by DS, and mapped by no other PD (values and private state pass through it).
//!
//! If no PD runs the program (a system without DS), it writes a DS without
//! clients and says so with a cargo warning, so the workspace still builds.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::PathBuf;

use sdf::{Perms, SystemDescription};

/// A client of DS as the system description defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// DS's channel id to the client.
    pub id: u8,
    /// The client's PD name.
    pub name: String,
    /// The memory region they share (the client's buffer).
    pub region: String,
    /// The name of DS's generated accessor for it (`region::<fn>()`).
    pub region_fn: String,
}

/// Generates the program's constants and its client table; stops the build with
/// every problem found.
pub fn generate(program: &str, default_system: &str) {
    let env = microkit_build::SYSTEM_ENV;
    println!("cargo:rerun-if-env-changed={env}");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let path = match std::env::var(env) {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => manifest_dir.join(default_system),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let sd = match SystemDescription::load(&path) {
        Ok(sd) => sd,
        Err(errors) => panic!("{} is not a valid system description:\n{errors}", path.display()),
    };
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo for build scripts"));
    let write = |file: String, text: String| {
        let file = out_dir.join(file);
        if let Err(e) = std::fs::write(&file, text) {
            panic!("cannot write {}: {e}", file.display());
        }
    };
    if users(&sd, program).is_empty() {
        println!(
            "cargo:warning={}: no protection domain runs {program}.elf; building a data store without clients",
            path.display()
        );
        write(format!("{program}.rs"), unwired_module(program));
        write(format!("{program}.ds_clients.rs"), render(&sd, program, &[]));
        return;
    }
    microkit_build::generate(&[program], default_system);
    match clients(&sd, program) {
        Ok(clients) => write(format!("{program}.ds_clients.rs"), render(&sd, program, &clients)),
        Err(errors) => {
            panic!("{}: the data store `{program}` cannot be built:\n  {}", path.display(), errors.join("\n  "))
        }
    }
}

fn users<'a>(sd: &'a SystemDescription, program: &str) -> Vec<&'a sdf::ProtectionDomain> {
    let elf = format!("{program}.elf");
    sd.all_pds().into_iter().map(|r| r.pd).filter(|pd| pd.program_image == elf || pd.program_image == program).collect()
}

/// The clients of the PD running `program`, in DS's channel order, or every
/// problem found (see the crate documentation for the rules).
pub fn clients(sd: &SystemDescription, program: &str) -> Result<Vec<ClientInfo>, Vec<String>> {
    let file = sd.file.display().to_string();
    let ds = match users(sd, program)[..] {
        [ds] => ds,
        [] => return Err(vec![format!("{file}: no protection domain runs program `{program}`")]),
        [a, b, ..] => {
            return Err(vec![format!(
                "{file}: `{}` and `{}` both run `{program}`: a system has one data store",
                a.name, b.name
            )]);
        }
    };
    let at = |line: u32| format!("{file}:{line}: ");
    let mut errors = Vec::new();
    if let Some(parent) = sd.parent_of(&ds.name) {
        errors.push(format!(
            "{}`{}` is a child of `{}`: the data store must be a top-level PD (RS calls it, so it cannot be restarted)",
            at(ds.line),
            ds.name,
            parent.name
        ));
    }
    let mut out: Vec<ClientInfo> = Vec::new();
    for ch in sd.channels_of(&ds.name) {
        let line = sd
            .channels
            .iter()
            .find(|c| c.ends.iter().any(|e| e.pd == ds.name && e.id == ch.id))
            .map(|c| c.line)
            .unwrap_or(0);
        let here = format!("{}channel {} of `{}` to `{}`", at(line), ch.id, ds.name, ch.peer);
        let before = errors.len();
        if ch.peer == ds.name {
            errors.push(format!("{here}: the data store has no channel to itself"));
            continue;
        }
        if ch.can_ppcall {
            errors.push(format!("{here}: the data store never calls anyone (remove pp=\"true\" from its end)"));
        }
        if !ch.can_notify {
            errors.push(format!(
                "{here}: the data store must be able to notify its clients (notify=\"false\" on its end)"
            ));
        }
        if !ch.peer_can_ppcall {
            errors.push(format!(
                "{here}: every channel of the data store is a client's, which calls it: set pp=\"true\" on `{}`'s end",
                ch.peer
            ));
        }
        if ch.peer.contains('.') {
            errors.push(format!(
                "{here}: a client's name must not contain `.` (it names the owner in `private.<owner>.*`)"
            ));
        }
        if out.iter().any(|c| c.name == ch.peer) {
            errors.push(format!("{here}: `{}` has a second channel to the data store; a client has one", ch.peer));
        }
        let Some(peer) = sd.pd(&ch.peer) else { continue };
        let shared: Vec<&sdf::Map> = ds.maps.iter().filter(|m| peer.maps.iter().any(|p| p.mr == m.mr)).collect();
        let map = match shared[..] {
            [map] => map,
            [] => {
                errors.push(format!(
                    "{here}: they map no region in common: the client needs a buffer region mapped by both"
                ));
                continue;
            }
            _ => {
                let names: Vec<&str> = shared.iter().map(|m| m.mr.as_str()).collect();
                errors.push(format!(
                    "{here}: they map several regions in common ({}); the buffer must be the only one",
                    names.join(", ")
                ));
                continue;
            }
        };
        let rw = |p: Perms| p.read && p.write;
        if !rw(map.perms) {
            errors.push(format!(
                "{}map of `{}` in `{}` must be rw (the data store writes replies there)",
                at(map.line),
                map.mr,
                ds.name
            ));
        }
        if peer.maps.iter().filter(|m| m.mr == map.mr).any(|m| !rw(m.perms)) {
            errors.push(format!("{here}: `{}` must map its buffer `{}` rw", ch.peer, map.mr));
        }
        if ds.maps.iter().filter(|m| m.mr == map.mr).count() > 1 {
            errors.push(format!("{}`{}` maps the buffer `{}` more than once", at(map.line), ds.name, map.mr));
        }
        let size = sd.region(&map.mr).map(|r| r.size).unwrap_or(0);
        if size < ds_api::BUFFER_SIZE as u64 {
            errors.push(format!(
                "{here}: the buffer `{}` has {size:#x} bytes, less than the {:#x} the protocol needs",
                map.mr,
                ds_api::BUFFER_SIZE
            ));
        }
        let others: Vec<String> = sd
            .all_pds()
            .into_iter()
            .filter(|r| r.pd.name != ds.name && r.pd.name != ch.peer && r.pd.maps.iter().any(|m| m.mr == map.mr))
            .map(|r| format!("`{}`", r.pd.name))
            .collect();
        if !others.is_empty() {
            errors.push(format!(
                "{here}: the buffer `{}` is also mapped by {}: a client's buffer is private to it and the data store",
                map.mr,
                others.join(", ")
            ));
        }
        let region_fn = sdf::codegen::fn_name(&map.mr);
        if ds.maps.iter().filter(|m| m.mr != map.mr).any(|m| sdf::codegen::fn_name(&m.mr) == region_fn) {
            errors.push(format!(
                "{here}: the name of region `{}` clashes with another region of `{}` in generated code; rename one",
                map.mr, ds.name
            ));
        }
        if errors.len() == before {
            out.push(ClientInfo { id: ch.id, name: ch.peer.clone(), region: map.mr.clone(), region_fn });
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// The text of `$OUT_DIR/<program>.ds_clients.rs`.
pub fn render(sd: &SystemDescription, program: &str, clients: &[ClientInfo]) -> String {
    let file = sd.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// @generated by ds-build from {} for program `{program}` — do not edit.",
        file.escape_default()
    );
    out.push_str("/// The clients of the data store, by its channel id, from the system description.\n");
    out.push_str("pub mod ds_clients {\n");
    out.push_str("    /// (channel id, client PD name), in channel order.\n");
    let list: Vec<String> = clients.iter().map(|c| format!("({}, {:?})", c.id, c.name)).collect();
    let _ = writeln!(out, "    pub const CLIENTS: &[(u8, &str)] = &[{}];", list.join(", "));
    out.push_str("    /// The client calling on channel `id`, with the buffer region it shares with the data store.\n");
    out.push_str("    #[allow(clippy::match_single_binding)] // a system whose DS has no clients\n");
    out.push_str("    pub fn client(id: u8) -> Option<::ds::ClientEntry> {\n        match id {\n");
    for c in clients {
        let _ = writeln!(
            out,
            "            // `{}` shares region `{}`.\n            {} => Some(::ds::ClientEntry {{ client: ::ds::Client::new({}, {:?}), buffer: super::region::{}() }}),",
            c.name.escape_default(),
            c.region.escape_default(),
            c.id,
            c.id,
            c.name,
            c.region_fn
        );
    }
    out.push_str("            _ => None,\n        }\n    }\n}\n");
    out
}

/// What `include_system!` needs of a program that no PD runs: its name and no
/// resources.
fn unwired_module(program: &str) -> String {
    format!(
        "// @generated by ds-build: no protection domain runs `{program}` — do not edit.\n\
         /// Name of this protection domain (none runs it in this system).\n\
         pub const PD_NAME: &str = {program:?};\n\
         /// Names of the protection domains running this program.\n\
         pub const PD_NAMES: &[&str] = &[];\n\
         /// Memory regions mapped into `{program}`: none.\n\
         pub mod region {{}}\n"
    )
}
