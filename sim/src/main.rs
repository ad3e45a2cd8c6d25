//! `acktrack-sim`: run, swarm, shrink and replay simulations.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use acktrack::Tracker;
use acktrack_sim::report::write_report;
use acktrack_sim::shrink::{read_case, replay, shrink, write_case};
use acktrack_sim::swarm::{SwarmOptions, swarm};
use acktrack_sim::{Choices, Payload, RunResult, TRACE_TAIL, Trace, World};

type Real = Tracker<Payload>;

const USAGE: &str = "\
usage:
  acktrack-sim run --seed N [--trace FILE]
  acktrack-sim swarm --seeds A..B [--jobs J] [--check-determinism] [--report DIR]
                     [--require-coverage] [--verbose] [--no-progress]
  acktrack-sim shrink --seed N [--out FILE] [--budget-secs S]
  acktrack-sim replay FILE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => cmd_run(&args[1..]),
        Some("swarm") => cmd_swarm(&args[1..]),
        Some("shrink") => cmd_shrink(&args[1..]),
        Some("replay") => cmd_replay(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// The value after `--name`, if present.
fn opt<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

fn parse<T: std::str::FromStr>(value: Option<&str>, name: &str) -> Result<T, String> {
    let v = value.ok_or_else(|| format!("missing {name}\n{USAGE}"))?;
    v.parse().map_err(|_| format!("bad value for {name}: {v}"))
}

fn print_violation(seed: Option<u64>, r: &RunResult) {
    let Some(v) = &r.violation else { return };
    println!(
        "VIOLATION [{}] at step {} (t = {} µs): {}",
        v.invariant.name(),
        v.step,
        v.time_us,
        v.detail
    );
    println!("last trace events:");
    for line in &v.trace_tail {
        println!("  {line}");
    }
    if let Some(seed) = seed {
        println!("repro: cargo run --release -p acktrack-sim -- run --seed {seed}");
    }
}

fn cmd_run(args: &[String]) -> Result<ExitCode, String> {
    let seed: u64 = parse(opt(args, "--seed"), "--seed")?;
    let mut trace = Trace::new(TRACE_TAIL);
    if let Some(path) = opt(args, "--trace") {
        let file = std::fs::File::create(path).map_err(|e| format!("{path}: {e}"))?;
        trace = trace.with_sink(Box::new(std::io::BufWriter::new(file)));
    }
    let r = World::<Real>::new(Choices::from_seed(seed), trace)
        .with_prefetch(acktrack_sim::prefetch_for(seed))
        .run();
    println!("seed {seed}, world: {}", serde_json::to_string(&r.config).unwrap_or_default());
    println!("tracker config: {:?}", r.config.tracker);
    let s = &r.stats;
    println!(
        "{} steps, {} messages, {:.3}s simulated; {} submitted, {} confirmed, {} finished, {} retries",
        s.steps,
        s.messages,
        s.sim_time_us as f64 / 1e6,
        s.submitted,
        s.confirmed,
        s.finished,
        s.retried
    );
    println!(
        "liveness: bound {} µs, observed {} µs; probes: bound {} µs, observed {} µs",
        s.liveness_bound_us, s.liveness_observed_us, s.probe_bound_us, s.probe_observed_us
    );
    println!("trace hash {:016x}", s.trace_hash);
    print_violation(Some(seed), &r);
    Ok(if r.violation.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn cmd_swarm(args: &[String]) -> Result<ExitCode, String> {
    let range = opt(args, "--seeds").ok_or_else(|| format!("missing --seeds\n{USAGE}"))?;
    let (a, b) = range.split_once("..").ok_or("--seeds takes A..B")?;
    let seeds = parse::<u64>(Some(a), "--seeds start")?..parse::<u64>(Some(b), "--seeds end")?;
    let jobs = match opt(args, "--jobs") {
        Some(j) => parse(Some(j), "--jobs")?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let opts = SwarmOptions {
        seeds,
        jobs,
        check_determinism: flag(args, "--check-determinism"),
        progress: !flag(args, "--no-progress"),
        stop_on_violation: false,
    };
    let report = swarm::<Real>(&opts);
    if flag(args, "--verbose") {
        for o in &report.outcomes {
            let faults: Vec<&str> = o.config.faults.iter().map(|f| f.name()).collect();
            println!(
                "seed {}: {} users × {} streams, {} events, faults [{}]: {}",
                o.seed,
                o.config.workload.users,
                o.config.workload.streams_per_user,
                o.config.workload.events,
                faults.join(" "),
                o.violation.as_ref().map_or("ok", |v| v.invariant.name())
            );
        }
    }
    print!("{}", report.summary());
    if let Some(dir) = opt(args, "--report") {
        write_report(&PathBuf::from(dir), &report)?;
        println!("report written to {dir}/ (summary.json, seeds.csv, latency_cdf.svg)");
    }
    let violations = report.outcomes.iter().filter(|o| o.violation.is_some()).count();
    let uncovered = report.uncovered();
    if flag(args, "--require-coverage") && !uncovered.is_empty() {
        println!("coverage marks that never fired: {}", uncovered.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    Ok(if violations > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn cmd_shrink(args: &[String]) -> Result<ExitCode, String> {
    let seed: u64 = parse(opt(args, "--seed"), "--seed")?;
    let budget = match opt(args, "--budget-secs") {
        Some(s) => Duration::from_secs(parse(Some(s), "--budget-secs")?),
        None => Duration::from_secs(60),
    };
    let out = PathBuf::from(opt(args, "--out").map_or(format!("case-{seed}.json"), String::from));
    let Some(s) = shrink::<Real>(seed, budget) else {
        println!("seed {seed} does not fail: nothing to shrink");
        return Ok(ExitCode::SUCCESS);
    };
    write_case(&out, &s.case)?;
    let (b, a) = (s.before, s.after);
    println!("shrunk seed {seed} [{}] in {} runs:", s.case.invariant, s.runs);
    println!("  draws            {:>8} -> {}", b.draws, a.draws);
    println!("  users            {:>8} -> {}", b.users, a.users);
    println!("  streams per user {:>8} -> {}", b.streams_per_user, a.streams_per_user);
    println!("  events           {:>8} -> {}", b.events, a.events);
    println!("  fault kinds      {:>8} -> {}", b.fault_kinds, a.fault_kinds);
    println!("  steps            {:>8} -> {}", b.steps, a.steps);
    println!("  now: {}", s.violation.detail);
    println!("case written to {}; replay: acktrack-sim replay {}", out.display(), out.display());
    Ok(ExitCode::FAILURE)
}

fn cmd_replay(args: &[String]) -> Result<ExitCode, String> {
    let path = args.first().ok_or_else(|| format!("missing FILE\n{USAGE}"))?;
    let case = read_case(&PathBuf::from(path))?;
    let r = replay::<Real>(&case);
    println!("case from seed {} expecting [{}]", case.seed, case.invariant);
    match &r.violation {
        Some(_) => {
            print_violation(None, &r);
            Ok(ExitCode::FAILURE)
        }
        None => {
            println!("no violation: the case passes now ({} steps)", r.stats.steps);
            Ok(ExitCode::SUCCESS)
        }
    }
}
