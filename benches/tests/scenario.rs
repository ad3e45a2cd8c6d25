//! The bench scenarios hold their steady state on every implementation: each
//! lifecycle step finishes exactly one event, each tick fires the same number
//! of timeouts, through the refills and the attempt limit.

use acktrack::Tracker;
use acktrack_benches::scenario::{AckOrder, Lifecycle, TimeoutKind, Timeouts, parse_size};
use acktrack_benches::{DelayQueueTracker, HashMapHeap, Tracking};

fn lifecycle<T: Tracking<()>>(order: AckOrder) {
    // 3 streams of 1000, and more than one block of random acks per stream.
    let (mut t, mut driver) = Lifecycle::setup::<T>(3000, order);
    // The setup turned the 3000 events of the fill over once.
    assert_eq!(driver.finished, 3000);
    t.in_context(|t| {
        for step in 1..=7000 {
            driver.step(t);
            assert_eq!(driver.finished, 3000 + step, "step {step} must finish exactly one event");
        }
    });
}

fn timeouts<T: Tracking<()>>(n: u64, kind: TimeoutKind, ticks: u64) {
    let (mut t, mut driver) = Timeouts::setup::<T>(n, kind);
    t.in_context(|t| {
        for tick in 0..ticks {
            assert_eq!(driver.tick(t), driver.expected_per_tick(), "tick {tick}");
            driver.refill(t);
        }
    });
}

#[test]
fn lifecycles_finish_one_event_per_step() {
    for order in [AckOrder::InOrder, AckOrder::Random] {
        lifecycle::<Tracker<()>>(order);
        lifecycle::<HashMapHeap<()>>(order);
        lifecycle::<DelayQueueTracker<()>>(order);
    }
}

#[test]
fn retry_storms_fire_steadily_past_the_attempt_limit() {
    // 1000 in flight retry every tick; after 999 retries they expire and
    // are replaced, and the storm goes on.
    timeouts::<Tracker<()>>(1000, TimeoutKind::RetryStorm, 1003);
    timeouts::<HashMapHeap<()>>(1000, TimeoutKind::RetryStorm, 1003);
    timeouts::<DelayQueueTracker<()>>(1000, TimeoutKind::RetryStorm, 1003);
}

#[test]
fn expiries_fire_steadily() {
    for n in [1000, 5000] {
        timeouts::<Tracker<()>>(n, TimeoutKind::Expiry, 20);
        timeouts::<HashMapHeap<()>>(n, TimeoutKind::Expiry, 20);
        timeouts::<DelayQueueTracker<()>>(n, TimeoutKind::Expiry, 20);
    }
}

#[test]
fn sizes_parse() {
    assert_eq!(parse_size("1k"), Some(1000));
    assert_eq!(parse_size("10M"), Some(10_000_000));
    assert_eq!(parse_size("250"), Some(250));
    assert_eq!(parse_size("x"), None);
}
