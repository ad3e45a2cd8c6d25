//! One side of a paired comparison of two builds of acktrack (`benches/ab`
//! runs two of these, one per build, and lets them take turns).
//!
//! ```text
//! paired <in-order|random|in-order-batched|random-batched|retry-storm|expiry> <in flight> <events per turn> [acktrack|hashmap_heap|tokio_delayqueue]
//! ```
//!
//! Drives acktrack's `Tracker<()>`, or one of the baselines when named.
//! Sets the scenario up (as the criterion benches do, untimed), prints
//! `ready`, then for every line read on stdin runs one turn of at least
//! `<events per turn>` events and prints the thread CPU time per event, in
//! ns. Ends at `quit` or at the end of stdin. The batched scenarios take
//! `ACKTRACK_BENCH_BATCH` acks a batch (default 16, as the criterion
//! benches do).
//!
//! Why: on a shared host, criterion runs of two builds one after the other
//! differ by 20–45 % for reasons that have nothing to do with the builds.
//! Turns of a few tens of milliseconds, alternating between two processes
//! that keep their state, put both builds under the same interference, so
//! their ratio round by round is far steadier than either time. Two
//! processes of one binary still differ by a few per cent, steadily, so
//! `benches/ab` runs many pairs and balances who starts and who turns
//! first (see its header).

use std::io::{BufRead, Write};

use acktrack::{Ack, Tracker, UserId};
use acktrack_benches::clock::Clock;
use acktrack_benches::scenario::{AckOrder, Lifecycle, TimeoutKind, Timeouts, parse_size};
use acktrack_benches::{DelayQueueTracker, HashMapHeap, Tracking};

/// Acks per batch in the batched scenarios, as in the `*_batched` benches.
const BATCH: usize = 16;

/// Acks per batch: `ACKTRACK_BENCH_BATCH`, else [`BATCH`].
fn batch() -> usize {
    match std::env::var("ACKTRACK_BENCH_BATCH") {
        Err(_) => BATCH,
        Ok(v) => match v.parse() {
            Ok(b) if b > 0 => b,
            _ => panic!("ACKTRACK_BENCH_BATCH={v}: expected a number of acks above 0"),
        },
    }
}

enum Load<T> {
    Lifecycle(T, Lifecycle),
    Batched(T, Lifecycle, Vec<(UserId, Ack)>),
    Timeouts(T, Timeouts),
}

impl<T: Tracking<()>> Load<T> {
    fn setup(scenario: &str, n: u64) -> Option<Load<T>> {
        let order =
            if scenario.starts_with("random") { AckOrder::Random } else { AckOrder::InOrder };
        Some(match scenario {
            "in-order" | "random" => {
                let (t, d) = Lifecycle::setup::<T>(n, order);
                Load::Lifecycle(t, d)
            }
            "in-order-batched" | "random-batched" => {
                let (t, d) = Lifecycle::setup::<T>(n, order);
                Load::Batched(t, d, Lifecycle::batch_room(batch()))
            }
            "retry-storm" | "expiry" => {
                let kind = if scenario == "expiry" {
                    TimeoutKind::Expiry
                } else {
                    TimeoutKind::RetryStorm
                };
                let (t, d) = Timeouts::setup::<T>(n, kind);
                Load::Timeouts(t, d)
            }
            _ => return None,
        })
    }

    /// Runs at least `events` events; returns the thread CPU time per event
    /// in ns (for timeouts, of the ticks alone, as the benches time them).
    fn turn(&mut self, events: u64) -> f64 {
        let clock = Clock::ThreadCpu;
        let (nanos, done) = match self {
            Load::Lifecycle(t, d) => t.in_context(|t| {
                let stopwatch = clock.start();
                for _ in 0..events {
                    d.step(t);
                }
                (stopwatch.elapsed().as_nanos(), events)
            }),
            Load::Batched(t, d, acks) => t.in_context(|t| {
                let b = acks.len() as u64;
                let batches = events.div_ceil(b);
                let stopwatch = clock.start();
                for _ in 0..batches {
                    d.batch(t, acks);
                }
                (stopwatch.elapsed().as_nanos(), batches * b)
            }),
            Load::Timeouts(t, d) => t.in_context(|t| {
                let (mut nanos, mut fired) = (0, 0);
                while fired < events {
                    let stopwatch = clock.start();
                    fired += d.tick(t);
                    nanos += stopwatch.elapsed().as_nanos();
                    d.refill(t);
                }
                (nanos, fired)
            }),
        };
        nanos as f64 / done as f64
    }
}

/// Sets up, says `ready`, then runs a turn per line read.
fn serve<T: Tracking<()>>(scenario: &str, n: u64, events: u64, usage: &str) {
    let mut load = Load::<T>::setup(scenario, n).expect(usage);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    for line in std::io::stdin().lock().lines() {
        if line.expect("stdin").trim() == "quit" {
            break;
        }
        writeln!(out, "{:.3}", load.turn(events)).expect("stdout");
        out.flush().expect("stdout");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: paired <in-order|random|in-order-batched|random-batched|retry-storm|expiry> <in flight> <events per turn> [acktrack|hashmap_heap|tokio_delayqueue]";
    let (scenario, n, events, name) = match args.as_slice() {
        [s, n, e] => (s, n, e, "acktrack"),
        [s, n, e, name] => (s, n, e, name.as_str()),
        _ => panic!("{usage}"),
    };
    let n = parse_size(n).expect(usage);
    let events = parse_size(events).expect(usage);
    assert!(events > 0, "{usage}");
    match name {
        "acktrack" => serve::<Tracker<()>>(scenario, n, events, usage),
        "hashmap_heap" => serve::<HashMapHeap<()>>(scenario, n, events, usage),
        "tokio_delayqueue" => serve::<DelayQueueTracker<()>>(scenario, n, events, usage),
        _ => panic!("{usage}"),
    }
}
