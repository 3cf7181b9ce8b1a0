//! Test PDs for the reincarnation server: see `src/bin` and `systems/`.
#![cfg_attr(target_os = "none", no_std)]
#![forbid(unsafe_code)]

use microkit::Region;

/// Counts a boot in the first word of a region that survives restarts.
pub fn count_boot(state: Region) -> u64 {
    let boots = state.read_u64(0).unwrap_or(0) + 1;
    let _ = state.write_u64(0, boots);
    boots
}
