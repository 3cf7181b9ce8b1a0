//! Round-trip statistics for the IPC benchmark PDs.
#![no_std]
#![forbid(unsafe_code)]

/// Median and 99th percentile of `samples` (sorted in place); `None` if empty.
pub fn median_p99(samples: &mut [u64]) -> Option<(u64, u64)> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() - 1) * q / 100];
    Some((at(50), at(99)))
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
