//! The reincarnation server PD: [`rs::Rs`] with the tables of this system.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

microkit::include_system!("rs");

mod tables {
    include!(concat!(env!("OUT_DIR"), "/rs_tables.rs"));
}

fn init() -> rs::Rs<{ tables::N }> {
    rs::Rs::new(&tables::TABLES)
}

microkit::protection_domain!(init);
