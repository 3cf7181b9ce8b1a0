//! Fixed test systems, each with its own RS build and policies.
fn main() {
    let systems = [
        (
            "systems/recovery/system.xml",
            "recovery_rs",
            &["flaky", "stuck", "driver", "server", "flooder", "watcher"][..],
        ),
        ("systems/thousand/system.xml", "thousand_rs", &["crashy"][..]),
        ("systems/bench/system.xml", "bench_recovery_rs", &["victim"][..]),
        ("systems/admin/system.xml", "admin_rs", &["patient", "sleeper", "admin", "intruder"][..]),
    ];
    ds_build::generate("recovery_ds", "systems/recovery/system.xml");
    ds_build::generate("thousand_ds", "systems/thousand/system.xml");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    for (system, rs, programs) in systems {
        let mut all = programs.to_vec();
        all.push(rs);
        all.push("test_timer");
        microkit_build::generate_fixed(&all, system);
        let (path, sd) = microkit_build::fixed_system(system);
        recovery_policy::tables::write_for_system(&path, &sd, &out.join(format!("{rs}_tables.rs")));
    }
}
