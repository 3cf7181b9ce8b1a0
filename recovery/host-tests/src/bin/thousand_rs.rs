//! The reincarnation server, built for the `thousand` test system.
#![forbid(unsafe_code)]

microkit::include_system!("thousand_rs");

mod tables {
    include!(concat!(env!("OUT_DIR"), "/thousand_rs_tables.rs"));
}

fn init() -> rs::Rs<{ tables::N }> {
    rs::Rs::new(&tables::TABLES)
}

microkit::protection_domain!(init);
