//! Statistics and the shared layout of the benchmark PDs.
#![no_std]
#![forbid(unsafe_code)]

/// Offsets in the `victim_stamp` region.
pub mod stamp {
    /// `microkit::clock::now()` first thing in bench_victim's `init`.
    pub const INIT_AT: usize = 0;
    /// bench_victim's boots so far.
    pub const BOOTS: usize = 8;
}

/// Median and 99th percentile of `samples` (sorted in place); `None` if empty.
pub fn median_p99(samples: &mut [u64]) -> Option<(u64, u64)> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() - 1) * q / 100];
    Some((at(50), at(99)))
}

/// Prints one result line: `bench <name>: median <m> <unit> p99 <p> <unit> over <n> <what>`
/// (the format `cargo xtask bench` reads).
pub fn report(name: &str, samples: &mut [u64], what: &str) {
    if let Some((median, p99)) = median_p99(samples) {
        let unit = microkit::clock::UNIT;
        microkit::debug_println!("bench {name}: median {median} {unit} p99 {p99} {unit} over {} {what}", samples.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_set() {
        let mut s: [u64; 101] = core::array::from_fn(|i| 100 - i as u64);
        assert_eq!(median_p99(&mut s), Some((50, 99)));
        assert_eq!(median_p99(&mut []), None);
        assert_eq!(median_p99(&mut [7]), Some((7, 7)));
    }
}
