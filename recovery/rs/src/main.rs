//! The reincarnation server PD: [`rs::Rs`] with the tables of this system.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

rs::pd!("rs");
