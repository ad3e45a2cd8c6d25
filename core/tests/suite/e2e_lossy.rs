//! End to end over a bad network: 1,000 events across 10 streams, 30% loss,
//! duplication and reordering, JSON and binary clients, ordered and unordered.
//! Every event reaches its application exactly once (in order where asked)
//! and finishes `Confirmed`.
#![cfg(all(feature = "json", feature = "binary"))]

use crate::pair;

use core::time::Duration;

use acktrack::{
    Config, DeliveryOrder, Instant, Outcome, ReceiverConfig, RetryPolicy, SubmitOptions, UserId,
};
use pair::{Encoding, Faults, Pair};

const STREAMS: u64 = 10;
const EVENTS_PER_STREAM: u64 = 100;

fn config(seed: u64) -> Config {
    // Enough attempts that 30% loss each way cannot exhaust them (0.51^40 is
    // about 2e-12 per event) and a deadline that never binds.
    let retry = RetryPolicy {
        attempts_max: 40,
        delay_max: Duration::from_secs(4),
        deadline: Duration::from_secs(3600),
        ..RetryPolicy::default()
    };
    Config { seed, retry, ..Config::default() }
}

fn lossy() -> Faults {
    Faults {
        loss_pct: 30,
        dup_pct: 10,
        delay_min: Duration::from_millis(5),
        delay_max: Duration::from_millis(120),
    }
}

fn run(seed: u64) -> Pair {
    let mut pair = Pair::new(config(seed), ReceiverConfig::default(), lossy(), seed);
    let mut streams = Vec::new();
    for i in 0..STREAMS {
        let order = if i % 2 == 0 { DeliveryOrder::Ordered } else { DeliveryOrder::Unordered };
        let encoding = if i % 3 == 0 { Encoding::Json } else { Encoding::Binary };
        // Five users with two streams each.
        streams.push(pair.open(UserId(i / 2), order, encoding));
    }
    // Events trickle in, round-robin over the streams, 2 ms apart.
    for n in 0..STREAMS * EVENTS_PER_STREAM {
        pair.submit(streams[(n % STREAMS) as usize], SubmitOptions::default());
        pair.run_for(Duration::from_millis(2));
    }
    let settled = pair.run_until(Instant::from_secs(3600), Pair::all_finished);
    assert!(settled, "seed {seed}: not every event finished");
    pair
}

fn check(pair: &Pair, seed: u64) {
    assert_eq!(pair.errors, Vec::<String>::new(), "seed {seed}: a correct pair refuses nothing");
    assert_eq!(pair.submitted.len() as u64, STREAMS * EVENTS_PER_STREAM);
    for (event, finished) in &pair.finished {
        assert!(
            matches!(finished.outcome, Outcome::Confirmed { .. }),
            "seed {seed}: {event} finished {:?}",
            finished.outcome
        );
        assert_eq!(finished.payload, pair.submitted[event].payload, "the payload comes back");
    }
    for (&stream, client) in &pair.clients {
        let (events, skipped) = pair.seen_by(stream);
        assert!(skipped.is_empty(), "seed {seed}: {stream} skipped {skipped:?}");
        let expected = pair.events_of(stream);
        assert_eq!(events.len(), expected.len(), "seed {seed}: {stream} got every event once");
        for (_, submitted) in &expected {
            let seq = submitted.seq.expect("transmitted");
            assert_eq!(events.get(&seq), Some(&submitted.payload), "seed {seed}: {stream} {seq}");
        }
        if client.receiver.config().order == DeliveryOrder::Ordered {
            pair.assert_in_order(stream);
            // Seqs follow submission order, so the application saw its events
            // in the order they were submitted.
            let payloads: Vec<u64> = events.values().copied().collect();
            let submitted: Vec<u64> = expected.iter().map(|(_, s)| s.payload).collect();
            assert_eq!(payloads, submitted);
        }
        assert_eq!(client.receiver.resume().0, expected.len() as u64);
        assert_eq!(client.receiver.metrics().delivered, expected.len() as u64);
    }
    let m = pair.tracker.metrics();
    assert_eq!(m.confirmed, STREAMS * EVENTS_PER_STREAM);
    assert_eq!(m.pending(), 0);
    assert_eq!(pair.tracker.pending(), 0);
}

#[test]
fn a_thousand_events_across_ten_streams_survive_thirty_percent_loss() {
    let seed = 0x5eed;
    let pair = run(seed);
    check(&pair, seed);
    // The faults really happened.
    let lost = pair.packets_lost as f64 / pair.packets_sent as f64;
    assert!((0.25..0.40).contains(&lost), "loss rate {lost}");
    assert!(pair.tracker.metrics().retried > 100);
    let duplicates: u64 = pair.clients.values().map(|c| c.receiver.metrics().duplicates).sum();
    assert!(duplicates > 50, "{duplicates} duplicates");
}

#[test]
fn the_outcome_holds_for_other_seeds() {
    for seed in 1..=4 {
        check(&run(seed), seed);
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = run(7);
    let b = run(7);
    assert_eq!(a.finished, b.finished);
    assert_eq!(a.now, b.now);
    assert_eq!(a.tracker.metrics(), b.tracker.metrics());
    for (stream, client) in &a.clients {
        assert_eq!(client.deliveries, b.clients[stream].deliveries);
    }
}
