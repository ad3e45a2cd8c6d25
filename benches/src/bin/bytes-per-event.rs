//! Bytes per in-flight event, and heap allocations per event in steady
//! state, for acktrack and both baselines, measured with the crate's counting
//! global allocator.
//!
//! `cargo run --release -p acktrack-benches --bin bytes-per-event [-- 1k,1M,10M]`
//! (sizes as for the benches; default `ACKTRACK_BENCH_SIZES` or `1k,1M`).
//!
//! For each implementation and size: build the tracker and open the streams
//! (the fixed cost), submit `n` events (the fill), turn every event over once
//! with full lifecycles (warm-up), then turn them over once more (steady
//! state) and count what that allocated. Bytes are the heap bytes allocated
//! and not freed, divided by `n`; peaks are the highest such figure during
//! the phase. The payload is `()`. Then, for the retry-storm and expiry
//! scenarios in steady state, the allocations per timeout fired. Last, the
//! bytes per pending event when acks arrive a fixed time after each submit,
//! from half the first attempt's timeout (nothing retried) to twice the
//! deadline (everything expires first and its ack comes late): after the
//! scenario's warm-up, over one turnover, the bytes at its end and at its
//! peak, divided by `n`. `latency` as the second argument prints only that
//! table (`latency acktrack`: without the baselines);
//! `ACKTRACK_LATENCY_WARM_MS` sets a longer warm-up for it (the scenario's
//! own is two latencies, or latency plus deadline).
//!
//! `users` as the second argument prints only acktrack's fixed cost per
//! user (`-- 1k,100k users`): that many users with one stream each, the
//! bytes per user once opened, then after each user's stream has confirmed
//! 100 events with latencies spread from 1 ms to 1 s (the per-user metrics
//! keep a latency histogram), then the bytes one more stream per user
//! adds. The baselines have no users.

use acktrack::{Ack, Echo, Instant, Seq, SubmitOptions, Tracker, UserId};
use acktrack_benches::alloc::{CountingAlloc, reset_peak, stats};
use acktrack_benches::scenario::{
    AckLatency, AckOrder, Lifecycle, TimeoutKind, Timeouts, WINDOW, parse_size, size_label, sizes,
};
use acktrack_benches::{DelayQueueTracker, HashMapHeap, Tracking};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct Row {
    name: &'static str,
    n: u64,
    order: AckOrder,
    /// Bytes held by the empty tracker with its streams open (and the driver).
    fixed: usize,
    fill: f64,
    fill_peak: f64,
    steady: f64,
    steady_peak: f64,
    /// Allocations during the `n` steady-state lifecycles.
    steady_allocations: u64,
}

fn measure<T: Tracking<()>>(n: u64, order: AckOrder) -> Row {
    let base = stats().current;
    let mut t = T::with_policy(&Lifecycle::policy(), WINDOW);
    let row = t.in_context(|t| {
        let mut driver = Lifecycle::open(t, n, order);
        let opened = stats();
        reset_peak();
        driver.fill(t, n);
        let filled = stats();
        for _ in 0..n {
            driver.step(t);
        }
        reset_peak();
        let warm = stats();
        for _ in 0..n {
            driver.step(t);
        }
        let steady = stats();
        let per_event = |bytes: usize| (bytes - opened.current) as f64 / n as f64;
        Row {
            name: T::NAME,
            n,
            order,
            fixed: opened.current - base,
            fill: per_event(filled.current),
            fill_peak: per_event(filled.peak),
            steady: per_event(steady.current),
            steady_peak: per_event(steady.peak),
            steady_allocations: steady.allocations - warm.allocations,
        }
    });
    drop(t);
    row
}

/// Allocations per fired timeout over one turnover of the events, after the
/// scenario's own warm-up (refills included: they are submits).
fn timeout_allocations<T: Tracking<()>>(n: u64, kind: TimeoutKind) -> f64 {
    let (mut t, mut driver) = Timeouts::setup::<T>(n, kind);
    t.in_context(|t| {
        let before = stats().allocations;
        let fired_before = driver.fired;
        for _ in 0..n / driver.expected_per_tick() {
            driver.tick(t);
            driver.refill(t);
        }
        (stats().allocations - before) as f64 / (driver.fired - fired_before) as f64
    })
}

/// Ack latencies measured, in ms (the first attempt times out after 10 ms,
/// the deadline is 2 s).
const LATENCIES_MS: [u64; 7] = [5, 20, 40, 160, 640, 1500, 4000];

/// What one implementation holds and does when every ack arrives
/// `latency_ms` after its submit, over one turnover in steady state.
struct Latency {
    /// Bytes per pending event at the end, and at the peak.
    steady: f64,
    peak: f64,
    /// Retries and heap allocations per finished event.
    retries: f64,
    allocations: f64,
}

fn latency_memory<T: Tracking<()>>(n: u64, latency_ms: u64) -> Latency {
    let mut t = T::with_policy(&AckLatency::policy(), WINDOW);
    let result = t.in_context(|t| {
        let mut driver = AckLatency::open(t, n, latency_ms);
        let opened = stats().current;
        let warm = std::env::var("ACKTRACK_LATENCY_WARM_MS")
            .map(|ms| ms.parse().expect("ACKTRACK_LATENCY_WARM_MS: a number of ms"))
            .unwrap_or(driver.warm_up_ticks());
        for _ in 0..warm {
            driver.tick(t);
        }
        reset_peak();
        let allocations = stats().allocations;
        let (retries, finished) = (driver.retries, driver.confirmed + driver.expired);
        for _ in 0..driver.turnover_ticks() {
            driver.tick(t);
        }
        let steady = stats();
        assert!(driver.acks_fit(), "the driver's ack queue grew: its bytes would count");
        let per_event = |bytes: usize| (bytes - opened) as f64 / n as f64;
        let finished = (driver.confirmed + driver.expired - finished) as f64;
        Latency {
            steady: per_event(steady.current),
            peak: per_event(steady.peak),
            retries: (driver.retries - retries) as f64 / finished,
            allocations: (steady.allocations - allocations) as f64 / finished,
        }
    });
    drop(t);
    result
}

fn main() {
    let sizes: Vec<u64> = match std::env::args().nth(1) {
        Some(arg) => {
            arg.split(',').map(|s| parse_size(s.trim()).expect("sizes like 1k,1M,10M")).collect()
        }
        None => sizes(),
    };
    if std::env::args().nth(2).as_deref() == Some("users") {
        users_table(&sizes);
        return;
    }
    // `latency` as the second argument: only the ack-latency table;
    // `acktrack` as the third: without the baselines.
    if std::env::args().nth(2).as_deref() != Some("latency") {
        lifecycle_table(&sizes);
        println!();
        timeout_table(&sizes);
        println!();
    }
    latency_table(&sizes, std::env::args().nth(3).as_deref() != Some("acktrack"));
}

fn lifecycle_table(sizes: &[u64]) {
    println!(
        "| implementation | in flight | acks | fixed (KiB) | B/event after fill | peak B/event (fill) | B/event steady | peak B/event (steady) | allocations in n steady lifecycles |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        for order in [AckOrder::InOrder, AckOrder::Random] {
            for row in [
                measure::<Tracker<()>>(n, order),
                measure::<HashMapHeap<()>>(n, order),
                measure::<DelayQueueTracker<()>>(n, order),
            ] {
                let acks = match row.order {
                    AckOrder::InOrder => "in order",
                    AckOrder::Random => "random",
                };
                println!(
                    "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                    row.name,
                    size_label(row.n),
                    acks,
                    row.fixed as f64 / 1024.0,
                    row.fill,
                    row.fill_peak,
                    row.steady,
                    row.steady_peak,
                    row.steady_allocations,
                );
            }
        }
    }
}

fn timeout_table(sizes: &[u64]) {
    println!(
        "| implementation | in flight | allocations per retry (storm) | allocations per expiry |"
    );
    println!("|---|---:|---:|---:|");
    for &n in sizes {
        for (name, storm, expiry) in [
            (
                "acktrack",
                timeout_allocations::<Tracker<()>>(n, TimeoutKind::RetryStorm),
                timeout_allocations::<Tracker<()>>(n, TimeoutKind::Expiry),
            ),
            (
                "hashmap_heap",
                timeout_allocations::<HashMapHeap<()>>(n, TimeoutKind::RetryStorm),
                timeout_allocations::<HashMapHeap<()>>(n, TimeoutKind::Expiry),
            ),
            (
                "tokio_delayqueue",
                timeout_allocations::<DelayQueueTracker<()>>(n, TimeoutKind::RetryStorm),
                timeout_allocations::<DelayQueueTracker<()>>(n, TimeoutKind::Expiry),
            ),
        ] {
            println!("| {name} | {} | {storm:.3} | {expiry:.3} |", size_label(n));
        }
    }
}

fn latency_table(sizes: &[u64], baselines: bool) {
    println!(
        "| in flight | ack latency (× first timeout) | retries per event | acktrack B/event (peak), allocations/event | hashmap_heap | tokio_delayqueue |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    for &n in sizes {
        for latency in LATENCIES_MS {
            let ours = latency_memory::<Tracker<()>>(n, latency);
            let cell =
                |l: Latency| format!("{:.1} ({:.1}), {:.3}", l.steady, l.peak, l.allocations);
            let retries = ours.retries;
            let ours = cell(ours);
            let (map, dq) = if baselines {
                (
                    cell(latency_memory::<HashMapHeap<()>>(n, latency)),
                    cell(latency_memory::<DelayQueueTracker<()>>(n, latency)),
                )
            } else {
                ("–".to_string(), "–".to_string())
            };
            let ratio = latency as f64 / AckLatency::FIRST_TIMEOUT_MS as f64;
            let late = if latency >= AckLatency::DEADLINE_MS { ", after the deadline" } else { "" };
            println!(
                "| {} | {latency} ms ({ratio}×{late}) | {retries:.2} | {ours} | {map} | {dq} |",
                size_label(n)
            );
        }
    }
}

/// Confirmations per user in the per-user table.
const CONFIRMS_PER_USER: u64 = 100;

/// acktrack's heap bytes per user: `n` users with one stream each, once
/// opened and once each stream confirmed [`CONFIRMS_PER_USER`] events with
/// latencies from 1 ms to 1 s (log-uniform, from a fixed seed).
fn users_table(sizes: &[u64]) {
    println!(
        "| users (one stream each) | B/user opened | B/user after {CONFIRMS_PER_USER} confirmations each | B per second stream of a user |"
    );
    println!("|---:|---:|---:|---:|");
    for &n in sizes {
        let base = stats().current;
        let mut t: Tracker<()> = Tracker::with_policy(&Lifecycle::policy(), WINDOW);
        let streams: Vec<_> = (0..n)
            .map(|u| t.open_stream(Instant::ZERO, UserId(u)).expect("room for the streams"))
            .collect();
        let opened = stats().current - base;
        let mut rng = 0x5eed_u64;
        let mut now = Instant::ZERO;
        let mut ack =
            Ack { stream: streams[0], cumulative: Seq(0), ranges: Vec::new(), echo: None };
        for round in 0..CONFIRMS_PER_USER {
            for (u, &stream) in streams.iter().enumerate() {
                t.submit(now, stream, (), SubmitOptions::default()).expect("room");
                while t.poll_command().is_some() {}
                // 2^(10..20) µs: 1 ms to about 1 s, log-uniform.
                rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let exp = 10.0 + (rng >> 11) as f64 / (1u64 << 53) as f64 * 10.0;
                let latency = 2f64.powf(exp) as u64;
                ack.stream = stream;
                ack.cumulative = Seq(round + 1);
                ack.echo = Some(Echo { seq: Seq(round), attempt: 1 });
                let at = Instant::from_micros(now.as_micros() + latency);
                t.handle_ack(at, UserId(u as u64), &ack).expect("a valid ack");
                while t.poll_command().is_some() {}
                now = at;
            }
        }
        let confirmed = stats().current - base;
        assert_eq!(t.metrics().confirmed, n * CONFIRMS_PER_USER);
        for u in 0..n {
            t.open_stream(now, UserId(u)).expect("room for a second stream");
        }
        let second = stats().current - base - confirmed;
        println!(
            "| {} | {:.0} | {:.0} | {:.0} |",
            size_label(n),
            opened as f64 / n as f64,
            confirmed as f64 / n as f64,
            second as f64 / n as f64
        );
        drop(t);
    }
}
