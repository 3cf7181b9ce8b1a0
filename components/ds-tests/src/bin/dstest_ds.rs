//! The data store of the test system: the same code as the `ds` program, with the
//! client table of `system.xml` beside this crate.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

ds::pd!("dstest_ds");
