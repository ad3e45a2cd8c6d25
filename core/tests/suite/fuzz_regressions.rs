//! Regressions found by the fuzz targets in `fuzz/` (see `fuzz/README.md`).
//! Each test names its target and the minimised input it came from. While a
//! bug is open its test is marked `#[ignore = "BUG: …"]`; the fix removes it.

use core::time::Duration;

use acktrack::{
    Command, Config, ExpiryReason, Instant, Outcome, Seq, SubmitOptions, Tracker, UserId,
};

fn drain(tracker: &mut Tracker<u32>) -> Vec<Command<u32>> {
    std::iter::from_fn(|| tracker.poll_command()).collect()
}

/// tracker_ops, `crash-aa97f1ad…`: a transmit failure reported after the
/// event's deadline (no `handle_timeout` in between) retransmits it instead of
/// expiring it: `Retry` at 27655 s for an event whose deadline was 302 s.
#[test]
fn transmit_failure_after_the_deadline_expires_instead_of_retrying() {
    let config = Config { global_retry_budget: None, user_retry_budget: None, ..Config::default() };
    let deadline = config.retry.deadline;
    let mut tracker = Tracker::new(config).unwrap();
    let user = UserId(1);
    let stream = tracker.open_stream(Instant::ZERO, user).unwrap();
    tracker.submit(Instant::ZERO, stream, 7, SubmitOptions::default()).unwrap();
    assert!(matches!(drain(&mut tracker)[..], [Command::Send { .. }]));

    let late = Instant::ZERO.saturating_add(deadline + Duration::from_secs(1));
    tracker.handle_transmit_failed(late, stream, Seq(0)).unwrap();
    let commands = drain(&mut tracker);
    assert!(
        !commands.iter().any(|c| matches!(c, Command::Retry { .. })),
        "retried past the deadline: {commands:?}"
    );
    tracker.handle_timeout(late);
    let commands: Vec<_> = commands.into_iter().chain(drain(&mut tracker)).collect();
    assert!(
        commands.iter().any(|c| matches!(
            c,
            Command::Finish { outcome: Outcome::Expired { reason: ExpiryReason::Deadline }, .. }
        )),
        "{commands:?}"
    );
}

/// Same bug through `handle_nak` with a zero delay (found while checking the
/// transmit-failure case by hand; the same code path, `attempt_timed_out`).
#[test]
fn zero_delay_nak_after_the_deadline_does_not_retry() {
    let config = Config { global_retry_budget: None, user_retry_budget: None, ..Config::default() };
    let deadline = config.retry.deadline;
    let mut tracker = Tracker::new(config).unwrap();
    let user = UserId(1);
    let stream = tracker.open_stream(Instant::ZERO, user).unwrap();
    tracker.submit(Instant::ZERO, stream, 7, SubmitOptions::default()).unwrap();
    let _ = drain(&mut tracker);

    let late = Instant::ZERO.saturating_add(deadline + Duration::from_secs(1));
    tracker.handle_nak(late, user, stream, Seq(0), Duration::ZERO).unwrap();
    let commands = drain(&mut tracker);
    assert!(
        !commands.iter().any(|c| matches!(c, Command::Retry { .. })),
        "retried past the deadline: {commands:?}"
    );
}

/// tracker_ops, `crash-ebe9f598…` (2026-11-28): a user forgotten while it
/// still sat in the ring of users with deferred retries (its stream closed
/// while the global retry budget was empty, so no input had served the ring
/// since) panicked the tracker ("live user slot") at the next input that
/// found a global token. Another user waiting in the same ring must still be
/// served.
#[test]
fn forgetting_a_user_with_deferred_retries_left_in_the_ring_does_not_panic() {
    let config = Config {
        retry: acktrack::RetryPolicy { jitter: acktrack::Jitter::None, ..Default::default() },
        user_retry_budget: None,
        global_retry_budget: Some(acktrack::RetryBudget {
            ratio_percent: 0,
            burst: 1,
            refill_per_sec: 1,
        }),
        ..Config::default()
    };
    let initial = config.retry.initial_delay;
    let mut tracker = Tracker::new(config).unwrap();
    let (a, b) = (UserId(1), UserId(2));
    let stream = tracker.open_stream(Instant::ZERO, a).unwrap();
    // Another user, known before `a` goes (so that `a`'s slot stays empty),
    // whose one event times out 1 ms after `a`'s two.
    let other = tracker.open_stream(Instant::ZERO, b).unwrap();
    for payload in 0..2 {
        tracker.submit(Instant::ZERO, stream, payload, SubmitOptions::default()).unwrap();
    }
    let ms = Instant::from_micros(1000);
    let waiting = tracker.submit(ms, other, 9, SubmitOptions::default()).unwrap();
    let _ = drain(&mut tracker);
    // `a`'s two time out: one retry takes the only global token, the other
    // waits; then `b`'s times out and waits too.
    let timeout = Instant::ZERO.saturating_add(initial);
    tracker.handle_timeout(timeout);
    let retries = drain(&mut tracker);
    assert_eq!(retries.iter().filter(|c| matches!(c, Command::Retry { .. })).count(), 1);
    tracker.handle_timeout(ms.saturating_add(initial));
    assert!(drain(&mut tracker).is_empty());
    assert_eq!(tracker.metrics().deferred_retries, 2);
    // `a`'s stream closes while the budget is still empty, and `a` goes.
    tracker.close_stream(timeout, stream).unwrap();
    let _ = drain(&mut tracker);
    let metrics = tracker.forget_user(a).expect("no stream left");
    assert_eq!(metrics.stream_closed, 2);
    assert_eq!(tracker.user_metrics(a), None);

    // A token later, any input serves the ring: `b`'s retry goes out.
    let later = timeout.saturating_add(Duration::from_secs(2));
    tracker.handle_timeout(later);
    let commands = drain(&mut tracker);
    assert!(
        commands.iter().any(|c| matches!(c, Command::Retry { event, .. } if *event == waiting)),
        "{commands:?}"
    );
    assert_eq!(tracker.pending(), 1);
}
