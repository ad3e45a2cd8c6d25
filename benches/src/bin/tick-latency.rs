//! How long single `handle_timeout` calls take in a timeout scenario: the
//! tail, which the benches' means hide.
//!
//! ```text
//! cargo run --release -p acktrack-benches --bin tick-latency -- retry-storm 10M 20000
//! ```
//! Sets up `retry-storm` or `expiry` with `<in flight>` events (as the
//! criterion benches do), then runs `<ticks>` ticks of 1 ms of virtual time,
//! each firing about 1,000 timeouts, and prints the distribution of one
//! tick's thread CPU time (`handle_timeout` and draining its commands; the
//! refill after it is not timed), the mean of each thousand ticks in
//! turn (the first thousand of each retry period run cheaper at 10M: see
//! `timer-layout`), and the
//! ticks that took more than ten times the median. The timer wheel moves a far level's timers down all
//! at once when time reaches them, so a few ticks cost far more than the
//! rest: 20,000 ticks cover one turn of its 16.8-second slots.

use acktrack::Tracker;
use acktrack_benches::Tracking;
use acktrack_benches::clock::Clock;
use acktrack_benches::scenario::{TimeoutKind, Timeouts, parse_size};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: tick-latency <retry-storm|expiry> <in flight> <ticks>";
    let [scenario, n, ticks] = args.as_slice() else { panic!("{usage}") };
    let kind = match scenario.as_str() {
        "retry-storm" => TimeoutKind::RetryStorm,
        "expiry" => TimeoutKind::Expiry,
        _ => panic!("{usage}"),
    };
    let n = parse_size(n).expect(usage);
    let ticks = parse_size(ticks).expect(usage);
    let (mut t, mut d) = Timeouts::setup::<Tracker<()>>(n, kind);
    let clock = Clock::ThreadCpu;
    // Milliseconds per tick, in tick order.
    let mut times = Vec::with_capacity(ticks as usize);
    let mut fired = 0;
    t.in_context(|t| {
        for _ in 0..ticks {
            let stopwatch = clock.start();
            fired += d.tick(t);
            times.push(stopwatch.elapsed().as_secs_f64() * 1e3);
            d.refill(t);
        }
    });
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    let total: f64 = times.iter().sum();
    println!(
        "{scenario}, {} in flight: {} ticks, {fired} timeouts fired; ms per tick: mean {:.3}, \
         median {:.3}, p99 {:.3}, p99.9 {:.3}, max {:.1}",
        args[1],
        times.len(),
        total / times.len() as f64,
        at(0.5),
        at(0.99),
        at(0.999),
        sorted[sorted.len() - 1],
    );
    let windows: Vec<String> = times
        .chunks(1000)
        .map(|w| format!("{:.3}", w.iter().sum::<f64>() / w.len() as f64))
        .collect();
    println!("ms per tick, mean of each 1,000 ticks in turn: {}", windows.join(" "));
    let median = at(0.5);
    let slow: Vec<String> = times
        .iter()
        .enumerate()
        .filter(|&(_, &ms)| ms > 10.0 * median)
        .map(|(i, ms)| format!("{i}: {ms:.1}"))
        .collect();
    println!("ticks over ten times the median ({}), tick: ms:", slow.len());
    for line in slow.chunks(8) {
        println!("  {}", line.join(", "));
    }
}
