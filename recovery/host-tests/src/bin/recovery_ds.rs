//! The data store, built for the `recovery` test system.
#![forbid(unsafe_code)]

ds::pd!("recovery_ds");
