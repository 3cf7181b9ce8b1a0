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

/// Makes `calls` protected procedure calls on `rs` with random labels (around
/// RS's), register counts and registers, from the seed `seed`; returns how
/// many replies were neither OK nor an error code of `rs_api` (0 if RS
/// validates everything; a fault of RS would fail the test by itself).
pub fn garbage_calls(rs: microkit::Channel, seed: u64, calls: usize) -> usize {
    use microkit::reply::ApiError;
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut odd = 0;
    for _ in 0..calls {
        let label = next() % 32;
        let count = (next() % (microkit::MSG_MAX_LENGTH as u64 + 1)) as usize;
        for i in 0..count {
            let w = match next() % 3 {
                0 => next(),
                1 => next() % 80,
                _ => 0,
            };
            microkit::set_mr(i, w);
        }
        let reply = rs.pp_call(microkit::MessageInfo::new(label, count));
        let known =
            reply.label() == rs_api::OK || <rs_api::Error as ApiError>::SENT.iter().any(|e| e.code() == reply.label());
        if !known {
            odd += 1;
        }
    }
    odd
}
