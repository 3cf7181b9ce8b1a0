//! The reincarnation server, built for the `recovery` test system.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

rs::pd!("recovery_rs");
