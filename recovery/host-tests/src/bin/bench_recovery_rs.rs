//! The reincarnation server, built for the `bench` test system.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

rs::pd!("bench_recovery_rs");
