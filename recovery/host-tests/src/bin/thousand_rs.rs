//! The reincarnation server, built for the `thousand` test system.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

rs::pd!("thousand_rs");
