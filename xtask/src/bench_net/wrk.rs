//! HTTP requests per second, measured with wrk (Debian's `wrk`; ci/setup.sh
//! installs it): small GETs on kept-alive connections.

use std::process::Command;
use std::time::Duration;

/// What one wrk run measured.
#[derive(Debug, PartialEq)]
pub struct Rate {
    pub requests: u64,
    pub per_s: f64,
    /// Average latency as wrk prints it (e.g. "1.23ms").
    pub latency: String,
    /// Connect, read, write and timeout errors, and non-2xx answers.
    pub errors: u64,
}

/// The command line: `connections` connections on up to two threads for `run_for`.
pub fn args(url: &str, connections: u32, run_for: Duration) -> Vec<String> {
    let threads = connections.min(2);
    let secs = run_for.as_secs().max(1);
    ["-t", &threads.to_string(), "-c", &connections.to_string(), "-d", &format!("{secs}s"), url]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Runs `cmd` (wrk with [`args`], perhaps inside a namespace) and reads its report.
pub fn run(mut cmd: Command) -> Result<Rate, String> {
    let out = cmd.output().map_err(|e| format!("cannot run wrk: {e} (ci/setup.sh installs it)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr)));
    }
    parse(&text).ok_or_else(|| format!("cannot read wrk's report:\n{text}"))
}

/// Requests/s with 1 and with 50 connections to `url`, each run for
/// `run_for`; `wrk()` makes the command (perhaps inside a namespace). `None`
/// (and a SKIPPED line) if wrk is not installed; an error if a run saw any
/// socket error or non-2xx answer.
pub fn one_and_fifty(wrk: impl Fn() -> Command, url: &str, run_for: Duration) -> Result<Option<(Rate, Rate)>, String> {
    if wrk().arg("--version").output().is_err() {
        println!("SKIPPED: bench net: requests/s: wrk is not installed (ci/setup.sh installs it)");
        return Ok(None);
    }
    let rate = |connections| -> Result<Rate, String> {
        let mut cmd = wrk();
        cmd.args(args(url, connections, run_for));
        let r = run(cmd)?;
        if r.errors > 0 {
            return Err(format!("wrk with {connections} connections: {} errors", r.errors));
        }
        Ok(r)
    };
    Ok(Some((rate(1)?, rate(50)?)))
}

/// wrk's report.
pub fn parse(text: &str) -> Option<Rate> {
    let words = |prefix: &str| -> Option<Vec<String>> {
        let line = text.lines().map(str::trim).find(|l| l.starts_with(prefix))?;
        Some(line[prefix.len()..].split([' ', ',']).filter(|w| !w.is_empty()).map(str::to_string).collect())
    };
    let per_s = words("Requests/sec:")?.first()?.parse().ok()?;
    let requests = text.lines().find(|l| l.contains("requests in"))?.split_whitespace().next()?.parse().ok()?;
    let latency = words("Latency")?.first()?.clone();
    let mut errors = 0;
    if let Some(w) = words("Socket errors:") {
        // connect N, read N, write N, timeout N
        errors += w.iter().filter_map(|n| n.parse::<u64>().ok()).sum::<u64>();
    }
    if let Some(w) = words("Non-2xx or 3xx responses:") {
        errors += w.first()?.parse::<u64>().ok()?;
    }
    Some(Rate { requests, per_s, latency, errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://10.0.2.15/bytes/64
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.10ms    1.02ms  20.11ms   90.00%
    Req/Sec     6.10k   300.00     7.00k    70.00%
  60712 requests in 5.00s, 9.90MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  12142.40
Transfer/sec:      1.98MB
";

    #[test]
    fn reads_wrks_report() {
        let r = parse(REPORT).unwrap();
        assert_eq!(r, Rate { requests: 60712, per_s: 12142.40, latency: "4.10ms".into(), errors: 7 });
        let clean: String =
            REPORT.lines().filter(|l| !l.contains("errors") && !l.contains("Non-2xx")).collect::<Vec<_>>().join("\n");
        assert_eq!(parse(&clean).unwrap().errors, 0);
        assert_eq!(parse("Running 5s test"), None);
    }

    #[test]
    fn one_thread_per_connection_up_to_two() {
        assert_eq!(args("http://x/", 1, Duration::from_secs(5)), ["-t", "1", "-c", "1", "-d", "5s", "http://x/"]);
        assert_eq!(args("http://x/", 50, Duration::from_millis(500))[..4], ["-t", "2", "-c", "50"]);
    }
}
