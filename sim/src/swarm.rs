//! Swarm testing: many seeds, each its own world, in parallel.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant as WallInstant};

use acktrack::LatencyHistogram;
use serde::Serialize;

use crate::coverage::Coverage;
use crate::driver::SimTracker;
use crate::world::{Invariant, RunResult, RunStats, Violation};
use crate::world_config::WorldConfig;
use crate::{Choices, TRACE_TAIL, Trace, World};

/// What one seed did, kept for the summary and the report.
#[derive(Clone, Debug, Serialize)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// The world it drew.
    pub config: WorldConfig,
    /// Its figures.
    pub stats: RunStats,
    /// Its first violation.
    pub violation: Option<Violation>,
    /// Confirm latencies.
    #[serde(skip)]
    pub latency: LatencyHistogram,
}

/// Runs one seed, turning a panic into a [`Invariant::Panic`] violation.
pub fn run_guarded<T: SimTracker>(seed: u64, check_determinism: bool) -> SeedOutcome {
    let run = || {
        World::<T>::new(Choices::from_seed(seed), Trace::new(TRACE_TAIL))
            .with_prefetch(crate::prefetch_for(seed))
            .run()
    };
    let first = catch_unwind(AssertUnwindSafe(run));
    let mut result = match first {
        Ok(r) => r,
        Err(panic) => return panicked(seed, panic),
    };
    if check_determinism && result.violation.is_none() {
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(again) if again.stats.trace_hash != result.stats.trace_hash => {
                result.violation = Some(Violation {
                    step: again.stats.steps.min(result.stats.steps),
                    time_us: 0,
                    invariant: Invariant::Determinism,
                    detail: format!(
                        "trace hash {:016x} then {:016x} ({} then {} steps)",
                        result.stats.trace_hash,
                        again.stats.trace_hash,
                        result.stats.steps,
                        again.stats.steps
                    ),
                    trace_tail: Vec::new(),
                });
            }
            Ok(_) => {}
            Err(panic) => return panicked(seed, panic),
        }
    }
    outcome(seed, result)
}

fn outcome(seed: u64, r: RunResult) -> SeedOutcome {
    let latency = r.stats.latency.clone();
    SeedOutcome { seed, config: r.config, stats: r.stats, violation: r.violation, latency }
}

fn panicked(seed: u64, panic: Box<dyn std::any::Any + Send>) -> SeedOutcome {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into());
    let config = WorldConfig::draw(&mut Choices::from_seed(seed));
    SeedOutcome {
        seed,
        config,
        stats: RunStats::default(),
        violation: Some(Violation {
            step: 0,
            time_us: 0,
            invariant: Invariant::Panic,
            detail: message,
            trace_tail: Vec::new(),
        }),
        latency: LatencyHistogram::default(),
    }
}

/// How to run a swarm.
#[derive(Clone, Debug)]
pub struct SwarmOptions {
    /// Seeds to run.
    pub seeds: Range<u64>,
    /// Threads.
    pub jobs: usize,
    /// Run each seed twice and compare trace hashes.
    pub check_determinism: bool,
    /// Print a progress line to stderr.
    pub progress: bool,
    /// Stop starting new seeds after the first violation.
    pub stop_on_violation: bool,
}

/// What a swarm found.
#[derive(Debug)]
pub struct SwarmReport {
    /// Per seed, in seed order (seeds not run after a stop are missing).
    pub outcomes: Vec<SeedOutcome>,
    /// Wall time.
    pub wall: Duration,
}

/// Runs the swarm.
pub fn swarm<T: SimTracker>(opts: &SwarmOptions) -> SwarmReport {
    let start = WallInstant::now();
    let total = opts.seeds.end.saturating_sub(opts.seeds.start);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<SeedOutcome>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let o = run_guarded::<T>(opts.seeds.start + i, opts.check_determinism);
                    if o.violation.is_some() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        if opts.stop_on_violation {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    results.lock().expect("no poisoning: runs are guarded").push(o);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        if opts.progress {
            loop {
                let d = done.load(Ordering::Relaxed);
                let f = failed.load(Ordering::Relaxed);
                eprint!("\r{}", progress_line(d, total, f, start.elapsed()));
                if d >= total
                    || (stop.load(Ordering::Relaxed)
                        && d >= next.load(Ordering::Relaxed).min(total))
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            eprintln!();
        }
    });
    let mut outcomes = results.into_inner().expect("no poisoning");
    outcomes.sort_by_key(|o| o.seed);
    SwarmReport { outcomes, wall: start.elapsed() }
}

fn progress_line(done: u64, total: u64, failed: u64, elapsed: Duration) -> String {
    const WIDTH: u64 = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '.' }).collect();
    format!("[{bar}] {done}/{total} seeds, {failed} violations, {:.1}s", elapsed.as_secs_f64())
}

/// The first seed in `seeds` that violates an invariant, run one by one.
pub fn first_violation<T: SimTracker>(seeds: Range<u64>) -> Option<(u64, Violation)> {
    seeds.into_iter().find_map(|seed| {
        let o = run_guarded::<T>(seed, false);
        o.violation.map(|v| (seed, v))
    })
}

/// Totals over a swarm.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Seeds run.
    pub runs: u64,
    /// Seeds with a violation.
    pub violations: u64,
    /// Events submitted.
    pub events: u64,
    /// Events confirmed.
    pub confirmed: u64,
    /// Events finished.
    pub finished: u64,
    /// Retransmissions.
    pub retried: u64,
    /// Network messages.
    pub messages: u64,
    /// Steps.
    pub steps: u64,
    /// Confirm latency p50, µs.
    pub p50_us: u64,
    /// Confirm latency p99, µs.
    pub p99_us: u64,
    /// Largest liveness bound, µs.
    pub liveness_bound_max_us: u64,
    /// Largest observed time to finish after healing, µs.
    pub liveness_observed_max_us: u64,
    /// Wall seconds.
    pub wall_secs: f64,
    /// Messages per wall second (all threads).
    pub messages_per_sec: f64,
    /// Coverage marks.
    pub coverage: Coverage,
}

impl SwarmReport {
    /// Adds everything up.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        let mut latency = LatencyHistogram::default();
        for o in &self.outcomes {
            t.runs += 1;
            t.violations += u64::from(o.violation.is_some());
            t.events += o.stats.submitted;
            t.confirmed += o.stats.confirmed;
            t.finished += o.stats.finished;
            t.retried += o.stats.retried;
            t.messages += o.stats.messages;
            t.steps += o.stats.steps;
            t.liveness_bound_max_us = t.liveness_bound_max_us.max(o.stats.liveness_bound_us);
            t.liveness_observed_max_us =
                t.liveness_observed_max_us.max(o.stats.liveness_observed_us);
            t.coverage.merge(&o.stats.coverage);
            latency.merge(&o.latency);
        }
        t.p50_us = latency.quantile(0.5).as_micros() as u64;
        t.p99_us = latency.quantile(0.99).as_micros() as u64;
        t.wall_secs = self.wall.as_secs_f64();
        t.messages_per_sec = t.messages as f64 / t.wall_secs.max(1e-9);
        t
    }

    /// The summary table, coverage marks and repro lines, as text.
    pub fn summary(&self) -> String {
        let t = self.totals();
        let rate = if t.finished > 0 { t.confirmed as f64 / t.finished as f64 } else { 0.0 };
        let retries = if t.events > 0 { t.retried as f64 / t.events as f64 } else { 0.0 };
        let mut s = String::new();
        s.push_str(
            "runs  events    confirm-rate  p50-confirm  p99-confirm  retries/event  violations\n",
        );
        s.push_str(&format!(
            "{:<5} {:<9} {:<13} {:<12} {:<12} {:<14} {}\n",
            t.runs,
            t.events,
            format!("{:.1}%", rate * 100.0),
            format!("{:.1}ms", t.p50_us as f64 / 1000.0),
            format!("{:.1}ms", t.p99_us as f64 / 1000.0),
            format!("{retries:.3}"),
            t.violations
        ));
        s.push_str(&format!(
            "{} messages, {} steps in {:.2}s wall: {:.2}M messages/s over all jobs\n",
            t.messages,
            t.steps,
            t.wall_secs,
            t.messages_per_sec / 1e6
        ));
        s.push_str(&format!(
            "liveness: largest bound {:.1}s, largest observed {:.1}s after healing\n",
            t.liveness_bound_max_us as f64 / 1e6,
            t.liveness_observed_max_us as f64 / 1e6
        ));
        s.push_str("coverage:\n");
        for (name, count) in t.coverage.marks() {
            s.push_str(&format!(
                "  {name:<34} {count}{}\n",
                if count == 0 { "  <- never" } else { "" }
            ));
        }
        for o in &self.outcomes {
            if let Some(v) = &o.violation {
                s.push_str(&format!(
                    "VIOLATION seed {} step {} [{}]: {}\n  repro: cargo run --release -p acktrack-sim -- run --seed {}\n",
                    o.seed,
                    v.step,
                    v.invariant.name(),
                    v.detail,
                    o.seed
                ));
            }
        }
        s
    }

    /// Coverage marks that never fired.
    pub fn uncovered(&self) -> Vec<String> {
        self.totals()
            .coverage
            .marks()
            .into_iter()
            .filter(|(_, c)| *c == 0)
            .map(|(n, _)| n)
            .collect()
    }
}
