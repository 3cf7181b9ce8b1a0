//! The data store PD: everything is in the library (`ds::pd!`); the client table
//! comes from `system.xml` through `build.rs`.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

ds::pd!("ds");
