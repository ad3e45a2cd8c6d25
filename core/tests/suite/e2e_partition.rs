//! End to end through a partition longer than the deadline: the events caught
//! in it finish `Expired`, their seqs are skipped at the receiver (the skip
//! frames were lost too; the floor and the tracker's skip resends carry the
//! news), and everything else carries on.
#![cfg(all(feature = "json", feature = "binary"))]

use crate::pair;

use std::collections::BTreeSet;

use core::time::Duration;

use acktrack::{
    Config, DeliveryOrder, ExpiryReason, Instant, Outcome, ReceiverConfig, RetryPolicy, Seq,
    SubmitOptions, UserId,
};
use pair::{Encoding, Faults, Pair};

const PER_PHASE: u64 = 20;
const DEADLINE: Duration = Duration::from_secs(2);
const PARTITION: Duration = Duration::from_secs(5);

fn faults() -> Faults {
    Faults {
        loss_pct: 10,
        dup_pct: 5,
        delay_min: Duration::from_millis(5),
        delay_max: Duration::from_millis(60),
    }
}

fn config(seed: u64) -> Config {
    let retry = RetryPolicy {
        attempts_max: 30,
        delay_max: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    Config { seed, retry, ..Config::default() }
}

fn run(seed: u64, order: DeliveryOrder, encoding: Encoding) {
    let mut pair = Pair::new(config(seed), ReceiverConfig::default(), faults(), seed);
    let cut = pair.open(UserId(1), order, encoding);
    let others = [
        pair.open(UserId(1), DeliveryOrder::Ordered, Encoding::Json),
        pair.open(UserId(2), DeliveryOrder::Unordered, Encoding::Binary),
    ];
    let all = [cut, others[0], others[1]];
    // `short` gets the events of the cut-off stream a deadline shorter than
    // the partition; the others keep the default (60 s) so that random loss
    // cannot expire them.
    let submit_round = |pair: &mut Pair, short: bool| {
        let mut events = Vec::new();
        for _ in 0..PER_PHASE {
            for &stream in &all {
                let options = if short && stream == cut {
                    SubmitOptions::with_deadline(DEADLINE)
                } else {
                    SubmitOptions::default()
                };
                events.push((stream, pair.submit(stream, options)));
            }
            pair.run_for(Duration::from_millis(10));
        }
        events
    };

    // Phase 1: a healthy network.
    let before = submit_round(&mut pair, false);
    assert!(pair.run_until(Instant::from_secs(120), Pair::all_finished), "seed {seed}: phase 1");

    // Phase 2: `cut` is partitioned for longer than the deadline of the
    // events submitted meanwhile.
    pair.partition(cut, PARTITION);
    let heal_at = pair.now.saturating_add(PARTITION);
    let during = submit_round(&mut pair, true);
    pair.run_until(heal_at, |_| false);

    // Phase 3: healed; the stream carries on.
    pair.run_for(PARTITION);
    let after = submit_round(&mut pair, false);
    let limit = pair.now.saturating_add(Duration::from_secs(600));
    assert!(pair.run_until(limit, Pair::all_finished), "seed {seed}: phase 3");
    // Give the tracker's skip resends time to land, then let everything settle.
    let limit = pair.now.saturating_add(Duration::from_secs(60));
    pair.run_until(limit, |p| {
        p.clients
            .values()
            .all(|c| c.receiver.resume().0 == p.events_of(c.receiver.stream()).len() as u64)
    });

    assert_eq!(pair.errors, Vec::<String>::new(), "seed {seed}");
    let mut expired_seqs = BTreeSet::new();
    for (stream, event) in before.iter().chain(&during).chain(&after) {
        let finished = pair.finished[event];
        let caught = *stream == cut && during.contains(&(*stream, *event));
        if caught {
            assert_eq!(
                finished.outcome,
                Outcome::Expired { reason: ExpiryReason::Deadline },
                "seed {seed}: {event} was cut off"
            );
            expired_seqs.insert(pair.submitted[event].seq.expect("transmitted"));
        } else {
            assert!(
                matches!(finished.outcome, Outcome::Confirmed { .. }),
                "seed {seed}: {event} on {stream} finished {:?}",
                finished.outcome
            );
        }
        if *stream != cut && during.contains(&(*stream, *event)) {
            assert!(finished.at < heal_at, "seed {seed}: the other streams did not wait");
        }
    }
    assert_eq!(expired_seqs.len() as u64, PER_PHASE);

    // The cut-off client skipped exactly the expired seqs and got the rest.
    let (events, skipped) = pair.seen_by(cut);
    assert_eq!(skipped, expired_seqs, "seed {seed}: skipped at the receiver");
    assert_eq!(events.len() as u64, 2 * PER_PHASE);
    assert_eq!(pair.client(cut).receiver.resume(), Seq(3 * PER_PHASE));
    if order == DeliveryOrder::Ordered {
        pair.assert_in_order(cut);
    }
    for stream in others {
        let (events, skipped) = pair.seen_by(stream);
        assert!(skipped.is_empty());
        assert_eq!(events.len() as u64, 3 * PER_PHASE);
    }
    pair.assert_in_order(others[0]);
    let m = pair.tracker.metrics();
    assert_eq!(m.expired_deadline, PER_PHASE);
    assert_eq!(m.confirmed, 8 * PER_PHASE);
}

#[test]
fn a_partition_longer_than_the_deadline_expires_and_skips_only_what_it_caught() {
    run(1, DeliveryOrder::Ordered, Encoding::Json);
}

#[test]
fn an_unordered_binary_client_skips_the_same_way() {
    run(2, DeliveryOrder::Unordered, Encoding::Binary);
}

#[test]
fn the_outcome_holds_for_other_seeds() {
    for seed in 3..13 {
        run(seed, DeliveryOrder::Ordered, Encoding::Binary);
    }
}

#[test]
fn when_nothing_follows_the_tracker_resends_the_skip_until_the_receiver_has_it() {
    let mut pair = Pair::new(config(21), ReceiverConfig::default(), faults(), 21);
    let stream = pair.open(UserId(1), DeliveryOrder::Ordered, Encoding::Json);
    for _ in 0..5 {
        pair.submit(stream, SubmitOptions::default());
    }
    assert!(pair.run_until(Instant::from_secs(60), Pair::all_finished));
    // The last events of the stream are caught; no event follows to carry the floor.
    pair.partition(stream, PARTITION);
    for _ in 0..5 {
        pair.submit(stream, SubmitOptions::with_deadline(DEADLINE));
    }
    assert!(pair.run_until(Instant::from_secs(600), |p| {
        p.all_finished() && p.client(stream).receiver.resume() == Seq(10)
    }));
    let (events, skipped) = pair.seen_by(stream);
    assert_eq!(events.len(), 5);
    assert_eq!(skipped, (5..10).map(Seq).collect());
    assert!(pair.tracker.metrics().skips_resent > 0, "the lost skip was resent");
    // The receiver's ack of the skip stops the resends: the pair goes quiet.
    let limit = pair.now.saturating_add(Duration::from_secs(600));
    pair.run_until(limit, |_| false);
    assert!(pair.now < limit, "nothing left to do long before the limit");
    assert_eq!(pair.tracker.poll_timeout(), None);
    assert_eq!(pair.errors, Vec::<String>::new());
}
