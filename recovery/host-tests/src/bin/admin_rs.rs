//! The reincarnation server, built for the `admin` test system.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

rs::pd!("admin_rs");
