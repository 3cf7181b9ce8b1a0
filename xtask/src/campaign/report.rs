//! The campaign's report: every fault with what followed it, counts per fault
//! type and outcome, recovery times, the classes that must stay at zero; as a
//! terminal table, JSON, Markdown, a plot and a replayable fault log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;

use super::workload::{Counters, Kind, Problem};
use super::{FaultType, Options};

/// `files` finishing no round for this long (seconds) is a workload that
/// stopped: a round takes about half a second, a few with the driver failing.
const FILES_GAP_LIMIT_S: f64 = 20.0;

/// What followed a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Still being watched (only while the campaign runs).
    Pending,
    /// Nothing seen: no restart, no wrong output.
    NoEffect,
    /// The driver faulted (the kernel saw it die) and was restarted.
    Crash,
    /// RS found it silent (missed heartbeats) and restarted it.
    Hang,
    /// A server complained of it, and RS restarted it.
    Complaint,
    /// No restart, but a workload's end-to-end check saw wrong or missing output.
    WrongOutput,
    /// It did not come back.
    LeftDown,
}

impl Outcome {
    const SHOWN: [Outcome; 6] =
        [Outcome::NoEffect, Outcome::Crash, Outcome::Hang, Outcome::Complaint, Outcome::WrongOutput, Outcome::LeftDown];
    fn name(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::NoEffect => "no effect",
            Outcome::Crash => "crash",
            Outcome::Hang => "hang",
            Outcome::Complaint => "complaint",
            Outcome::WrongOutput => "wrong output",
            Outcome::LeftDown => "left down",
        }
    }
}

/// One injected fault.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FaultRow {
    pub driver: &'static str,
    pub kind: FaultType,
    /// What was hit (register, mapping + offset, bit, values).
    pub detail: String,
    /// Time since boot.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    /// The driver's generation it hit.
    pub generation: u64,
    pub outcome: Outcome,
    /// RS's reason for the restart (`fault=` of its `@status` line).
    pub reason: String,
    /// Fault to RS's restart, and fault to the fresh copy up (ms).
    pub detected_ms: Option<f64>,
    pub recovered_ms: Option<f64>,
    /// Fault to the client's first completion from the fresh copy (ms): the
    /// service is back, not only the process.
    pub serving_ms: Option<f64>,
    /// The restart came after the interval, before the next fault.
    pub late: bool,
    /// Workload problems while it was its driver's latest fault.
    pub wrong_output: Vec<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl FaultRow {
    pub fn new(driver: &'static str, kind: FaultType, detail: String, at: Duration, generation: u64) -> FaultRow {
        FaultRow {
            driver,
            kind,
            detail,
            at,
            generation,
            outcome: Outcome::Pending,
            reason: String::new(),
            detected_ms: None,
            recovered_ms: None,
            serving_ms: None,
            late: false,
            wrong_output: Vec::new(),
        }
    }

    /// RS restarted the driver for `reason`, `detected` after the fault; the
    /// fresh copy was up `up` after it (None: never).
    pub fn manifested(&mut self, reason: &str, detected: Duration, up: Option<Duration>) {
        self.reason = reason.to_string();
        self.detected_ms = Some(detected.as_secs_f64() * 1e3);
        self.recovered_ms = up.map(|u| u.as_secs_f64() * 1e3);
        self.outcome = match reason {
            _ if up.is_none() => Outcome::LeftDown,
            "down" => Outcome::LeftDown,
            "hang" => Outcome::Hang,
            "complaint" => Outcome::Complaint,
            _ => Outcome::Crash,
        };
    }
}

/// Median, p90, p99 and max of `times` (None if empty).
pub fn quantiles(mut times: Vec<f64>) -> Option<[f64; 4]> {
    times.sort_by(f64::total_cmp);
    let last = *times.last()?;
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    Some([q(0.5), q(0.9), q(0.99), last])
}

/// The whole campaign.
#[derive(serde::Serialize)]
pub struct Report {
    pub seed: u64,
    pub drivers: Vec<&'static str>,
    pub faults_requested: u64,
    #[serde(serialize_with = "secs")]
    pub interval: Duration,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    pub download_enabled: bool,
    pub faults: Vec<FaultRow>,
    pub problems: Vec<Problem>,
    pub counters: Counters,
    /// Failures of PDs outside the injected drivers: (s since boot, what).
    pub outside: Vec<(f64, String)>,
    /// The kernel's table at the end: (PD, state, restarts).
    pub final_status: Vec<(String, String, u64)>,
    /// Counts: fault type -> outcome -> n.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Recovery time (fault to the fresh copy up) per driver, ms: median, p90, p99, max.
    pub recovery_ms: BTreeMap<String, [f64; 4]>,
    /// Fault to serving again per driver, ms: median, p90, p99, max.
    pub serving_ms: BTreeMap<String, [f64; 4]>,
    /// Restarts after which the client got no completion from the fresh copy
    /// within the campaign's limit (5 s after the fault), per driver.
    pub not_serving: BTreeMap<String, u64>,
    /// The classes that must stay at zero.
    pub must_be_zero: BTreeMap<String, u64>,
    pub replay: String,
}

impl Report {
    pub fn new(
        opts: &Options,
        faults: Vec<FaultRow>,
        (problems, counters): (Vec<Problem>, Counters),
        outside: Vec<(f64, String)>,
        elapsed: Duration,
        download_enabled: bool,
    ) -> Report {
        let replay = format!(
            "cargo xtask campaign --driver {} --faults {} --interval {} --seed {}{}",
            if opts.drivers.len() == super::DRIVERS.len() { "all".to_string() } else { opts.drivers.join(",") },
            opts.faults,
            humantime::format_duration(opts.interval),
            opts.seed,
            if opts.types.is_empty() {
                String::new()
            } else {
                format!(" --types {}", opts.types.iter().map(|t| t.name()).collect::<Vec<_>>().join(","))
            }
        );
        Report {
            seed: opts.seed,
            drivers: opts.drivers.clone(),
            faults_requested: opts.faults,
            interval: opts.interval,
            elapsed,
            download_enabled,
            faults,
            problems,
            counters,
            outside,
            final_status: Vec::new(),
            counts: BTreeMap::new(),
            recovery_ms: BTreeMap::new(),
            serving_ms: BTreeMap::new(),
            not_serving: BTreeMap::new(),
            must_be_zero: BTreeMap::new(),
            replay,
        }
    }

    /// Marks each workload problem on its driver's latest fault before it,
    /// unless it is console loss at a restart of the console driver (within 3 s
    /// after it, or 1 s before it is seen): the console's contract, the
    /// restart's doing, already counted.
    fn attribute(&mut self, restarts: &[f64]) -> u64 {
        let mut silent = 0;
        for p in &mut self.problems {
            let at_restart = restarts.iter().any(|&r| p.at_s > r - 1.0 && p.at_s < r + 3.0);
            match p.kind {
                Kind::Silent => silent += 1,
                Kind::ConsoleLoss if at_restart => continue,
                Kind::ConsoleLoss => silent += 1,
                Kind::Error => {}
            }
            let latest = self
                .faults
                .iter()
                .enumerate()
                .filter(|(_, f)| f.driver == p.driver && f.at.as_secs_f64() <= p.at_s)
                .map(|(i, _)| i)
                .next_back();
            if let Some(i) = latest {
                self.faults[i].wrong_output.push(p.what.clone());
                p.fault = Some(i);
            }
        }
        silent
    }

    /// Settles outcomes and computes the counts.
    pub fn finish(&mut self) {
        // When RS restarted the console driver (s since boot).
        let restarts: Vec<f64> = self
            .faults
            .iter()
            .filter(|f| f.driver == "virtio_console" && f.detected_ms.is_some())
            .map(|f| f.at.as_secs_f64() + f.detected_ms.unwrap_or(0.0) / 1e3)
            .collect();
        let silent = self.attribute(&restarts);
        for f in &mut self.faults {
            if f.outcome == Outcome::Pending {
                f.outcome = Outcome::NoEffect;
            }
            if f.outcome == Outcome::NoEffect && !f.wrong_output.is_empty() {
                f.outcome = Outcome::WrongOutput;
            }
            let row = self.counts.entry(f.kind.name().to_string()).or_default();
            *row.entry(f.outcome.name().to_string()).or_default() += 1;
        }
        for driver in &self.drivers {
            let mine = || self.faults.iter().filter(|f| f.driver == *driver);
            if let Some(q) = quantiles(mine().filter_map(|f| f.recovered_ms).collect()) {
                self.recovery_ms.insert(driver.to_string(), q);
            }
            if let Some(q) = quantiles(mine().filter_map(|f| f.serving_ms).collect()) {
                self.serving_ms.insert(driver.to_string(), q);
            }
            let not_serving = mine().filter(|f| f.recovered_ms.is_some() && f.serving_ms.is_none()).count() as u64;
            self.not_serving.insert(driver.to_string(), not_serving);
        }
        let targeted = |pd: &str| self.drivers.contains(&pd);
        let outside_at_end =
            self.final_status.iter().filter(|(pd, _, restarts)| !targeted(pd) && *restarts > 0).count();
        let not_up = self.final_status.iter().filter(|(_, state, _)| state != "up").count() as u64;
        let left_down = self.faults.iter().filter(|f| f.outcome == Outcome::LeftDown).count() as u64;
        let c = &self.counters;
        let stopped = [
            (c.file_rounds == 0 || c.file_longest_gap_s > FILES_GAP_LIMIT_S),
            (c.console_lines == 0),
            (self.download_enabled && c.downloads == 0),
        ]
        .iter()
        .filter(|&&s| s)
        .count() as u64;
        self.must_be_zero
            .insert("failures outside the injected driver".into(), self.outside.len().max(outside_at_end) as u64);
        self.must_be_zero.insert("wrong bytes delivered as good".into(), silent);
        self.must_be_zero.insert("components left down".into(), left_down.max(not_up));
        self.must_be_zero.insert("workloads that made no progress".into(), stopped);
    }

    /// Sets the problems' times relative to boot (from the first fault's clock).
    pub fn set_problem_times(&mut self, booted: std::time::Instant) {
        for p in &mut self.problems {
            p.at_s = p.at.saturating_duration_since(booted).as_secs_f64();
        }
    }

    pub fn must_be_zero_failures(&self) -> Option<String> {
        let bad: Vec<String> =
            self.must_be_zero.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k}: {n}")).collect();
        (!bad.is_empty()).then(|| bad.join(", "))
    }

    fn counts_rows(&self) -> Vec<(String, Vec<u64>, u64)> {
        let mut rows: Vec<(String, Vec<u64>, u64)> = FaultType::ALL
            .iter()
            .filter_map(|t| {
                let m = self.counts.get(t.name())?;
                let v: Vec<u64> = Outcome::SHOWN.iter().map(|o| m.get(o.name()).copied().unwrap_or(0)).collect();
                let total = v.iter().sum();
                Some((t.name().to_string(), v, total))
            })
            .collect();
        let mut all = vec![0u64; Outcome::SHOWN.len()];
        for (_, v, _) in &rows {
            for (a, b) in all.iter_mut().zip(v) {
                *a += b;
            }
        }
        let total = all.iter().sum();
        rows.push(("all".into(), all, total));
        rows
    }

    fn per_driver(&self) -> Vec<(String, u64, u64)> {
        self.drivers
            .iter()
            .map(|d| {
                let n = self.faults.iter().filter(|f| f.driver == *d).count() as u64;
                let manifested = self
                    .faults
                    .iter()
                    .filter(|f| f.driver == *d && f.outcome != Outcome::NoEffect && f.outcome != Outcome::Pending)
                    .count() as u64;
                (d.to_string(), n, manifested)
            })
            .collect()
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "campaign: {} faults into {} in {:.1} s (seed {}, interval {})",
            self.faults.len(),
            self.drivers.join(", "),
            self.elapsed.as_secs_f64(),
            self.seed,
            humantime::format_duration(self.interval)
        );
        let _ = write!(s, "{:<10}", "fault");
        for o in Outcome::SHOWN {
            let _ = write!(s, " {:>12}", o.name());
        }
        let _ = writeln!(s, " {:>8}", "total");
        for (name, v, total) in self.counts_rows() {
            let _ = write!(s, "{name:<10}");
            for n in v {
                let _ = write!(s, " {n:>12}");
            }
            let _ = writeln!(s, " {total:>8}");
        }
        let q = |r: Option<&[f64; 4]>| {
            r.map_or("-".to_string(), |r| {
                format!("median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms", r[0], r[1], r[2], r[3])
            })
        };
        for (d, n, m) in self.per_driver() {
            let _ = writeln!(
                s,
                "{d:<15} {n:>6} faults, {m:>5} manifested; fault -> fresh copy up {}",
                q(self.recovery_ms.get(&d))
            );
            let _ = writeln!(
                s,
                "{:<15} {:>33} fault -> serving again {} ({} restarts not serving within 5 s)",
                "",
                "",
                q(self.serving_ms.get(&d)),
                self.not_serving.get(&d).copied().unwrap_or(0)
            );
        }
        let c = &self.counters;
        let _ = writeln!(
            s,
            "workloads: files {} rounds checked ({} failed; longest gap {:.1} s), console {} lines echoed, download {} x 1 MiB ({} MB checked){}",
            c.file_rounds,
            c.file_failed_rounds,
            c.file_longest_gap_s,
            c.console_lines,
            c.downloads,
            c.download_bytes / 1_000_000,
            if self.download_enabled { "" } else { " (off: no network namespace)" }
        );
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for p in &self.problems {
            *by_kind.entry(format!("{} {:?}", p.workload, p.kind)).or_default() += 1;
        }
        if !by_kind.is_empty() {
            let list: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            let _ = writeln!(s, "workload problems: {}", list.join(", "));
        }
        let _ = writeln!(s, "must be zero:");
        for (k, n) in &self.must_be_zero {
            let _ = writeln!(s, "  {k:<40} {n}{}", if *n > 0 { "   <-- FAILED" } else { "" });
        }
        for (t, what) in self.outside.iter().take(10) {
            let _ = writeln!(s, "  outside at {t:.3} s: {what}");
        }
        for p in self.problems.iter().filter(|p| p.kind == Kind::Silent).take(10) {
            let _ = writeln!(s, "  wrong bytes at {:.3} s ({}): {}", p.at_s, p.workload, p.what);
        }
        let _ = writeln!(s, "replay: {}", self.replay);
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Fault-injection campaign\n");
        let _ = writeln!(
            s,
            "{} faults into {} in {:.1} s, interval {}, seed {}. Replay: `{}`\n",
            self.faults.len(),
            self.drivers.join(", "),
            self.elapsed.as_secs_f64(),
            humantime::format_duration(self.interval),
            self.seed,
            self.replay
        );
        let _ = write!(s, "| fault |");
        for o in Outcome::SHOWN {
            let _ = write!(s, " {} |", o.name());
        }
        let _ = writeln!(s, " total |");
        let _ = writeln!(s, "|---{}|---|", "|---".repeat(Outcome::SHOWN.len()));
        for (name, v, total) in self.counts_rows() {
            let cells: Vec<String> = v.iter().map(u64::to_string).collect();
            let _ = writeln!(s, "| {name} | {} | {total} |", cells.join(" | "));
        }
        let _ = writeln!(
            s,
            "\n| driver | faults | manifested | up: median | p99 | serving again: median | p99 | max | not serving in 5 s |\n|---|---|---|---|---|---|---|---|---|"
        );
        for (d, n, m) in self.per_driver() {
            let r = self.recovery_ms.get(&d).copied().unwrap_or([f64::NAN; 4]);
            let v = self.serving_ms.get(&d).copied().unwrap_or([f64::NAN; 4]);
            let not = self.not_serving.get(&d).copied().unwrap_or(0);
            let _ = writeln!(
                s,
                "| {d} | {n} | {m} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {not} |",
                r[0], r[2], v[0], v[2], v[3]
            );
        }
        let _ = writeln!(s, "\n| must be zero | count |\n|---|---|");
        for (k, n) in &self.must_be_zero {
            let _ = writeln!(s, "| {k} | {n} |");
        }
        let c = &self.counters;
        let _ = writeln!(
            s,
            "\nWorkloads: files {} rounds, console {} lines, download {} x 1 MiB.",
            c.file_rounds, c.console_lines, c.downloads
        );
        s
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// One line per fault: when, where, what was hit, what followed.
    pub fn fault_log(&self) -> String {
        let mut s = format!("# {}\n", self.replay);
        for (i, f) in self.faults.iter().enumerate() {
            let _ = writeln!(
                s,
                "{i:6} {:10.4}s {:<15} gen {:<4} {:<9} {:<12} {} {}",
                f.at.as_secs_f64(),
                f.driver,
                f.generation,
                f.kind.name(),
                f.outcome.name(),
                f.detail,
                if f.reason.is_empty() { String::new() } else { format!("[rs: {}]", f.reason) }
            );
        }
        s
    }

    /// The recovery times' distribution per driver (CDF), as SVG.
    pub fn plot(&self, path: &Path) -> Result<(), String> {
        let err = |e: &dyn std::fmt::Display| format!("plotting {}: {e}", path.display());
        let series: Vec<(String, Vec<f64>)> = self
            .drivers
            .iter()
            .flat_map(|d| {
                let times = |pick: fn(&FaultRow) -> Option<f64>| {
                    let mut t: Vec<f64> = self.faults.iter().filter(|f| f.driver == *d).filter_map(pick).collect();
                    t.sort_by(f64::total_cmp);
                    t
                };
                [
                    (format!("{d} up"), times(|f| f.recovered_ms)),
                    (format!("{d} serving again"), times(|f| f.serving_ms)),
                ]
            })
            .collect();
        let x_max = series.iter().flat_map(|(_, t)| t.last()).fold(1.0f64, |a, &b| a.max(b)) * 1.05;
        let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("recovery: fault to fresh copy up, and to serving again, seed {}", self.seed),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d((0.1f64..x_max).log_scale(), 0f64..1.0)
            .map_err(|e| err(&e))?;
        chart.configure_mesh().x_desc("ms (log)").y_desc("fraction recovered").draw().map_err(|e| err(&e))?;
        for (i, (name, t)) in series.iter().enumerate() {
            // A driver's two curves share its colour; serving again is thin.
            let color = Palette99::pick(i / 2).to_rgba();
            let width = if i % 2 == 0 { 2 } else { 1 };
            let n = t.len().max(1) as f64;
            let points: Vec<(f64, f64)> =
                t.iter().enumerate().map(|(k, &x)| (x.max(0.1), (k + 1) as f64 / n)).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(width)))
                .map_err(|e| err(&e))?
                .label(format!("{name} ({})", t.len()))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart.configure_series_labels().border_style(BLACK).draw().map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
        Ok(())
    }
}
