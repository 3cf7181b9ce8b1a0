//! The data store, built for the `thousand` test system.
#![forbid(unsafe_code)]

ds::pd!("thousand_ds");
