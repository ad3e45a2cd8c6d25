//! `--report DIR`: summary.json, a per-seed CSV, and an SVG plot of
//! confirm-latency CDFs by fault profile (drawn with `plotters`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use acktrack::LatencyHistogram;
use plotters::prelude::*;

use crate::swarm::SwarmReport;

/// Writes the three report files into `dir` (created if missing).
pub fn write_report(dir: &Path, report: &SwarmReport) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let totals = report.totals();
    let violations: Vec<_> = report
        .outcomes
        .iter()
        .filter_map(|o| {
            o.violation.as_ref().map(|v| {
                serde_json::json!({
                    "seed": o.seed,
                    "invariant": v.invariant.name(),
                    "step": v.step,
                    "detail": v.detail,
                    "repro": format!("cargo run --release -p acktrack-sim -- run --seed {}", o.seed),
                })
            })
        })
        .collect();
    let coverage: BTreeMap<String, u64> = totals.coverage.marks().into_iter().collect();
    let summary = serde_json::json!({
        "totals": totals,
        "coverage_marks": coverage,
        "violations": violations,
    });
    let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.json"), text).map_err(|e| e.to_string())?;

    let mut csv = String::from(
        "seed,profile,users,streams_per_user,events,faults,messages,steps,submitted,confirmed,finished,retried,p50_us,p99_us,liveness_bound_us,liveness_observed_us,trace_hash,violation\n",
    );
    for o in &report.outcomes {
        let w = &o.config.workload;
        let faults: Vec<&str> = o.config.faults.iter().map(|f| f.name()).collect();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:016x},{}",
            o.seed,
            o.stats.profile,
            w.users,
            w.streams_per_user,
            w.events,
            faults.join("|"),
            o.stats.messages,
            o.stats.steps,
            o.stats.submitted,
            o.stats.confirmed,
            o.stats.finished,
            o.stats.retried,
            o.latency.quantile(0.5).as_micros(),
            o.latency.quantile(0.99).as_micros(),
            o.stats.liveness_bound_us,
            o.stats.liveness_observed_us,
            o.stats.trace_hash,
            o.violation.as_ref().map_or("", |v| v.invariant.name()),
        );
    }
    std::fs::write(dir.join("seeds.csv"), csv).map_err(|e| e.to_string())?;

    let mut by_profile: BTreeMap<String, LatencyHistogram> = BTreeMap::new();
    for o in &report.outcomes {
        by_profile.entry(o.stats.profile.clone()).or_default().merge(&o.latency);
    }
    plot_cdf(&dir.join("latency_cdf.svg"), &by_profile)
}

/// One CDF line per profile, latency on a log axis.
fn plot_cdf(path: &Path, profiles: &BTreeMap<String, LatencyHistogram>) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let x_max = profiles
        .values()
        .filter(|h| h.count() > 0)
        .map(|h| h.quantile(0.999).as_micros() as f64 / 1000.0)
        .fold(1.0f64, f64::max);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Confirm latency CDF by fault profile", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(54)
        .build_cartesian_2d((0.1f64..x_max * 1.1).log_scale(), 0f64..1f64)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("confirm latency (ms, log scale)")
        .y_desc("fraction of confirmed events")
        .draw()
        .map_err(|e| err(&e))?;
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (name, h)) in profiles.iter().enumerate() {
        if h.count() == 0 {
            continue;
        }
        let color = colors[i % colors.len()];
        let points: Vec<(f64, f64)> = (1..=200)
            .map(|k| {
                let q = f64::from(k) / 200.0;
                ((h.quantile(q).as_micros() as f64 / 1000.0).max(0.1), q)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(format!("{name} ({} events)", h.count()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
