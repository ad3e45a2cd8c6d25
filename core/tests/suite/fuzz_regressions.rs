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
