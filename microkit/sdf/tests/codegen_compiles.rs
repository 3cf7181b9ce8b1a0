//! The generated modules must compile against the `microkit` API they assume.
//! Uses `rustc` (from `$RUSTC`, else PATH) on a stub `microkit` crate; skipped with a
//! message if no rustc can be run.

use std::path::{Path, PathBuf};
use std::process::Command;

use sdf::{SystemDescription, codegen};

const STUB: &str = r#"
#![no_std]
#[derive(Clone, Copy)] pub struct Channel(u8);
impl Channel { pub const fn new(id: u8) -> Channel { Channel(id) } pub const fn index(self) -> u8 { self.0 } }
#[derive(Clone, Copy)] pub struct Child(u8);
impl Child { pub const fn new(id: u8) -> Child { Child(id) } pub const fn index(self) -> u8 { self.0 } }
pub struct ChildSpec { pub name: &'static str, pub child: Child, pub heartbeat: Option<Channel> }
pub struct Region { pub vaddr: usize, pub size: usize, pub perms: &'static str }
#[macro_export] macro_rules! region {
    ($name:ident, $vaddr:expr, $size:expr, $perms:ident) => {
        pub fn $name() -> $crate::Region { $crate::Region { vaddr: $vaddr, size: $size, perms: stringify!($perms) } }
    };
}
#[macro_export] macro_rules! setvar_region {
    ($name:ident, $sym:ident, $vaddr:expr, $size:expr, $perms:ident) => {
        #[allow(non_upper_case_globals)] #[unsafe(no_mangle)] pub static $sym: usize = 0;
        pub fn $name() -> $crate::Region { $crate::Region { vaddr: $vaddr, size: $size, perms: stringify!($perms) } }
    };
}
#[macro_export] macro_rules! setvar {
    ($sym:ident, $value:expr) => { #[allow(non_upper_case_globals)] pub const $sym: u64 = $value; };
}
"#;

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run rustc: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

#[test]
fn generated_modules_compile() {
    let dir: PathBuf = std::env::temp_dir().join(format!("sdf-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stub = dir.join("microkit.rs");
    std::fs::write(&stub, STUB).unwrap();
    let stub_build = run(Command::new(rustc())
        .args(["--edition", "2024", "--crate-type", "rlib", "--crate-name", "microkit", "-o"])
        .arg(dir.join("libmicrokit.rlib"))
        .arg(&stub));
    if let Err(e) = &stub_build {
        if e.starts_with("cannot run rustc") {
            eprintln!("skipping: {e}");
            return;
        }
        panic!("stub failed to build:\n{e}");
    }

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rich.xml");
    let sd = SystemDescription::load(&path).unwrap();
    let mut programs = codegen::program_names(&sd);
    programs.push("not_in_system".to_string());
    for program in programs {
        let text = codegen::program_module(&sd, &program).unwrap();
        let src = dir.join(format!("{program}.rs"));
        let body = if program == "not_in_system" {
            // The compile_error! must be the *only* error and carry the message.
            text.clone()
        } else {
            format!("#![deny(warnings)]\n{text}")
        };
        std::fs::write(&src, &body).unwrap();
        let result = run(Command::new(rustc())
            .args(["--edition", "2024", "--crate-type", "rlib", "--crate-name", "generated", "-o"])
            .arg(dir.join(format!("lib{program}.rlib")))
            .arg("--extern")
            .arg(format!("microkit={}", dir.join("libmicrokit.rlib").display()))
            .arg(&src));
        if program == "not_in_system" {
            let err = result.expect_err("compile_error! must fail the build");
            assert!(err.contains("program `not_in_system.elf` is not used by any protection domain"), "{err}");
        } else if let Err(e) = result {
            panic!("generated module for `{program}` does not compile:\n{body}\n{e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
