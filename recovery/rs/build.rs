//! RS is built for one system: its children come from `system.xml`, their
//! policies from the `policies/` directory beside it.
fn main() {
    microkit_build::generate(&["rs"], "../../system.xml");
    let (system, sd) = microkit_build::system("../../system.xml");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    recovery_policy::tables::write_for_system(&system, &sd, &out.join("rs_tables.rs"));
}
