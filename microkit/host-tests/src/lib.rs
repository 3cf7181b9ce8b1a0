//! Test PDs for the host kernel (see `src/bin/`) and the system that runs them
//! (`system.xml` beside this crate). The tests are in `tests/`.
#![no_std]
#![forbid(unsafe_code)]
