//! RS is built for one system: its children come from `system.xml`, their
//! policies from the `policies/` directory beside it.
fn main() {
    microkit_build::generate(&["rs"], "../../system.xml");
    let (system, sd) = microkit_build::system("../../system.xml");
    let dir = system
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("policies");
    println!("cargo:rerun-if-changed={}", dir.display());
    let policies = match recovery_policy::load::load_dir(&dir, &sd, "rs") {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            panic!("{} recovery policy error(s) above", errors.len());
        }
    };
    let tables = match recovery_policy::tables::rs_tables(&sd, "rs", &policies) {
        Ok(t) => t,
        Err(e) => panic!("{}: {e}", system.display()),
    };
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    if let Err(e) = std::fs::write(out.join("rs_tables.rs"), tables) {
        panic!("cannot write rs_tables.rs: {e}");
    }
}
