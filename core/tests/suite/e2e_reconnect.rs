//! End to end through dropped connections: the client's hello carries its
//! resume point, the tracker confirms what the client already has and
//! retransmits the rest, and the application still sees each event once.
#![cfg(all(feature = "json", feature = "binary"))]

use crate::pair;

use core::time::Duration;

use acktrack::{
    Config, DeliveryOrder, Instant, Outcome, ReceiverConfig, RetryPolicy, Seq, SubmitOptions,
    UserId,
};
use pair::{Encoding, Faults, Pair};

#[test]
fn a_resume_point_confirms_what_arrived_while_acks_were_lost() {
    let mut pair = Pair::new(Config::default(), ReceiverConfig::default(), Faults::NONE, 1);
    let stream = pair.open(UserId(1), DeliveryOrder::Ordered, Encoding::Json);
    for _ in 0..10 {
        pair.submit(stream, SubmitOptions::default());
    }
    // Frames arrive after 10 ms; the acks they trigger are on the wire when
    // the connection drops at 15 ms, and die with it.
    pair.run_for(Duration::from_millis(15));
    assert_eq!(pair.client(stream).receiver.resume(), Seq(10));
    pair.disconnect(stream);
    assert!(pair.finished.is_empty(), "no ack got through");
    // Submitted while disconnected: queued, nothing transmitted.
    for _ in 0..5 {
        pair.submit(stream, SubmitOptions::default());
    }
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.client(stream).receiver.resume(), Seq(10));

    pair.reconnect(stream);
    assert!(pair.run_until(Instant::from_secs(60), Pair::all_finished));
    let m = pair.tracker.metrics();
    assert_eq!(m.resumes, 1);
    assert_eq!(m.confirmed_by_resume, 10, "the hello's resume point confirmed them");
    assert_eq!(m.confirmed, 15);
    let (events, skipped) = pair.seen_by(stream);
    assert_eq!(events.len(), 15);
    assert!(skipped.is_empty());
    pair.assert_in_order(stream);
    assert_eq!(pair.errors, Vec::<String>::new());
}

#[test]
fn repeated_drops_under_loss_still_deliver_everything_exactly_once() {
    for seed in 0..4 {
        let faults = Faults {
            loss_pct: 20,
            dup_pct: 10,
            delay_min: Duration::from_millis(5),
            delay_max: Duration::from_millis(80),
        };
        let retry = RetryPolicy {
            attempts_max: 40,
            delay_max: Duration::from_secs(2),
            deadline: Duration::from_secs(3600),
            ..RetryPolicy::default()
        };
        let config = Config { seed, retry, ..Config::default() };
        let mut pair = Pair::new(config, ReceiverConfig::default(), faults, seed);
        let streams = [
            pair.open(UserId(1), DeliveryOrder::Ordered, Encoding::Binary),
            pair.open(UserId(2), DeliveryOrder::Unordered, Encoding::Json),
            pair.open(UserId(2), DeliveryOrder::Ordered, Encoding::Json),
        ];
        for round in 0..40u64 {
            for &stream in &streams {
                pair.submit(stream, SubmitOptions::default());
            }
            pair.run_for(Duration::from_millis(50));
            // Every half second one stream's connection drops for 300 ms.
            if round % 10 == 5 {
                let stream = streams[(round / 10) as usize % streams.len()];
                pair.disconnect(stream);
                pair.run_for(Duration::from_millis(300));
                pair.reconnect(stream);
            }
        }
        assert!(pair.run_until(Instant::from_secs(3600), Pair::all_finished), "seed {seed}");
        assert_eq!(pair.errors, Vec::<String>::new(), "seed {seed}");
        for finished in pair.finished.values() {
            assert!(matches!(finished.outcome, Outcome::Confirmed { .. }), "seed {seed}");
        }
        for &stream in &streams {
            let (events, skipped) = pair.seen_by(stream);
            assert_eq!(events.len(), 40, "seed {seed}: {stream}");
            assert!(skipped.is_empty());
            if pair.client(stream).receiver.config().order == DeliveryOrder::Ordered {
                pair.assert_in_order(stream);
            }
        }
        assert!(pair.tracker.metrics().resumes >= 4, "seed {seed}");
    }
}
