//! The reincarnation server, built for the `bench` system.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

microkit::include_system!("bench_recovery_rs");

mod tables {
    include!(concat!(env!("OUT_DIR"), "/bench_recovery_rs_tables.rs"));
}

fn init() -> rs::Rs<{ tables::N }> {
    rs::Rs::new(&tables::TABLES)
}

microkit::protection_domain!(init);
