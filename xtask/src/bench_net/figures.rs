//! From the clients' traces to figures: throughput, the stall around each
//! injected failure, throughput over time.

use std::time::Duration;

use microkit::InjectKind;

use super::client::Trace;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    Download,
    Upload,
}

/// One client run, and the failures injected into virtio_net while it ran.
pub struct Run {
    pub direction: Direction,
    /// Failures `every` this long, of this kind; `None`: none.
    pub failures: Option<(Duration, InjectKind)>,
    pub trace: Trace,
    /// When each failure was injected, since the trace's start.
    pub injected: Vec<Duration>,
}

impl Run {
    /// "no failures", "crash every 1 s", ...
    pub fn label(&self) -> String {
        match self.failures {
            None => "no failures".into(),
            Some((every, kind)) => format!("virtio_net {kind} every {}", secs(every)),
        }
    }

    /// The stall around each failure: no failure's window reaches past the next.
    pub fn stalls(&self) -> Vec<Duration> {
        let window = self.failures.map_or(Duration::ZERO, |(every, _)| every.min(Duration::from_secs(1)));
        self.injected.iter().map(|at| stall(&self.trace.points, *at, window)).collect()
    }
}

/// "1 s", "250 ms".
pub fn secs(d: Duration) -> String {
    if d.subsec_nanos() == 0 { format!("{} s", d.as_secs()) } else { format!("{} ms", d.as_millis()) }
}

/// The longest time no byte moved around `at`: the longest gap between two
/// consecutive points that ends after `at` and begins before `at + window`.
pub fn stall(points: &[(Duration, u64)], at: Duration, window: Duration) -> Duration {
    points
        .windows(2)
        .filter(|w| w[1].0 > at && w[0].0 <= at + window)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default()
}

/// The longest gap of a whole trace.
pub fn longest_gap(points: &[(Duration, u64)]) -> Duration {
    points.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap_or_default()
}

/// Throughput over time: (middle of each `width` bin in s, MB/s in it).
pub fn over_time(points: &[(Duration, u64)], width: Duration) -> Vec<(f64, f64)> {
    let Some(end) = points.last().map(|p| p.0) else { return Vec::new() };
    let bins = (end.as_nanos() / width.as_nanos().max(1)) as usize + 1;
    let mut bytes = vec![0u64; bins];
    let mut before = 0;
    for (at, total) in points {
        bytes[(at.as_nanos() / width.as_nanos().max(1)) as usize] += total - before;
        before = *total;
    }
    let w = width.as_secs_f64();
    bytes.iter().enumerate().map(|(i, b)| ((i as f64 + 0.5) * w, *b as f64 / w / 1e6)).collect()
}

/// Median and maximum.
pub fn median_max(samples: &[Duration]) -> Option<(Duration, Duration)> {
    let mut s = samples.to_vec();
    s.sort();
    Some((*s.get(s.len().checked_sub(1)? / 2)?, *s.last()?))
}

/// MINIX 3's figures for a driver crash every `every`, as issue 9 quotes them
/// (Herder et al.: TCP throughput with the Ethernet driver killed every 1, 4
/// and 25 s), in % of the throughput without failures.
pub fn minix(every: Duration) -> Option<u32> {
    match every.as_secs() {
        1 => Some(75),
        4 => Some(92),
        25 => Some(99),
        _ => None,
    }
}

/// "12.3 ms".
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_stall_is_the_longest_gap_around_the_failure() {
        let points = [(ms(0), 1), (ms(10), 2), (ms(15), 3), (ms(60), 4), (ms(61), 5), (ms(300), 6), (ms(301), 7)];
        // Around a failure at 20 ms: the 45 ms gap, not the 239 ms one, which
        // begins after the 40 ms window (but counts in a 50 ms one).
        assert_eq!(stall(&points, ms(20), ms(40)), ms(45));
        assert_eq!(stall(&points, ms(20), ms(50)), ms(239));
        // A gap under way at the failure counts whole.
        assert_eq!(stall(&points, ms(40), ms(10)), ms(45));
        assert_eq!(stall(&points, ms(100), ms(500)), ms(239));
        assert_eq!(longest_gap(&points), ms(239));
        assert_eq!(stall(&points, ms(400), ms(10)), Duration::ZERO);
    }

    #[test]
    fn throughput_over_time_in_bins() {
        let points = [(ms(50), 1_000_000), (ms(150), 2_000_000), (ms(160), 3_000_000), (ms(350), 3_500_000)];
        let bins = over_time(&points, ms(100));
        assert_eq!(bins.len(), 4);
        assert!((bins[0].0 - 0.05).abs() < 1e-9);
        assert!((bins[0].1 - 10.0).abs() < 1e-9, "{bins:?}");
        assert!((bins[1].1 - 20.0).abs() < 1e-9);
        assert_eq!(bins[2].1, 0.0);
        assert!((bins[3].1 - 5.0).abs() < 1e-9);
    }

    #[test]
    fn median_and_max() {
        assert_eq!(median_max(&[ms(5), ms(1), ms(9)]), Some((ms(5), ms(9))));
        assert_eq!(median_max(&[ms(5), ms(1)]), Some((ms(1), ms(5))));
        assert_eq!(median_max(&[]), None);
    }
}
