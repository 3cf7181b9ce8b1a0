//! RS is built for one system: its children come from `system.xml`, their
//! policies from the `policies/` directory beside it.
fn main() {
    microkit_build::generate(&["rs"], "../../system.xml");
    let (system, sd) = microkit_build::system("../../system.xml");
    let policies = system
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("policies");
    println!("cargo:rerun-if-changed={}", policies.display());
    let tables = recovery_policy::tables::for_system(&system, &sd).unwrap_or_else(|errors| {
        for e in &errors {
            eprintln!("error: {e}");
        }
        panic!("{} recovery policy error(s) above", errors.len())
    });
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    if let Err(e) = std::fs::write(out.join("rs_tables.rs"), tables) {
        panic!("cannot write rs_tables.rs: {e}");
    }
}
