//! The baselines do the job: they confirm, retry with backoff, expire at the
//! deadline or after the last attempt, and reject foreign acks. Every test
//! runs against all three implementations, so acktrack's own behaviour is the
//! reference the baselines are held to.

use std::time::Duration;

use acktrack::{
    Ack, AckError, Command, Echo, ExpiryReason, Instant, Outcome, Seq, SeqRange, Tracker, UserId,
};
use acktrack_benches::{DelayQueueTracker, HashMapHeap, Policy, Tracking};

/// Runs a test body against acktrack and both baselines.
macro_rules! for_each_tracker {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[test]
            fn acktrack() {
                super::$body::<acktrack::Tracker<u32>>();
            }
            #[test]
            fn hashmap_heap() {
                super::$body::<acktrack_benches::HashMapHeap<u32>>();
            }
            #[test]
            fn tokio_delayqueue() {
                super::$body::<acktrack_benches::DelayQueueTracker<u32>>();
            }
        }
    )*};
}

for_each_tracker!(
    confirms_cumulative_and_selective_acks,
    retries_with_backoff_then_gives_up_after_the_last_attempt,
    expires_at_the_deadline_not_after_it,
    an_ack_after_a_retry_confirms_with_its_attempts,
    a_foreign_ack_is_rejected_and_changes_nothing,
);

const ALICE: UserId = UserId(1);
const MALLORY: UserId = UserId(2);

fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn policy(initial_ms: u64, delay_max_ms: u64, attempts_max: u32, deadline_ms: u64) -> Policy {
    Policy {
        initial_delay: Duration::from_millis(initial_ms),
        backoff_factor: 2.0,
        delay_max: Duration::from_millis(delay_max_ms),
        attempts_max,
        deadline: Duration::from_millis(deadline_ms),
    }
}

fn drain<T: Tracking<u32>>(t: &mut T) -> Vec<Command<u32>> {
    std::iter::from_fn(|| t.poll_command()).collect()
}

/// The (payload, outcome) of every `Finish` among `commands`.
fn finished(commands: &[Command<u32>]) -> Vec<(u32, Outcome)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Finish { payload, outcome, .. } => Some((*payload, *outcome)),
            _ => None,
        })
        .collect()
}

fn confirmed(attempts: u32, latency_ms: u64) -> Outcome {
    Outcome::Confirmed { attempts, latency: Duration::from_millis(latency_ms) }
}

fn ack(t: &[Command<u32>], cumulative: u64, ranges: &[(u64, u64)], echo: u64) -> Ack {
    let stream = match t.first() {
        Some(Command::Send { stream, .. }) => *stream,
        other => panic!("expected a Send first, got {other:?}"),
    };
    Ack {
        stream,
        cumulative: Seq(cumulative),
        ranges: ranges.iter().map(|&(a, b)| SeqRange::new(a, b)).collect(),
        echo: Some(Echo { seq: Seq(echo), attempt: 1 }),
    }
}

fn confirms_cumulative_and_selective_acks<T: Tracking<u32>>() {
    let mut t = T::with_policy(&policy(1000, 8000, 8, 60_000), 64);
    let stream = t.open_stream(ms(0), ALICE).unwrap();
    for payload in 10..13 {
        t.submit(ms(0), stream, payload).unwrap();
    }
    let sent = drain(&mut t);
    let seqs: Vec<_> = sent
        .iter()
        .map(|c| match c {
            Command::Send { seq, attempt: 1, .. } => seq.0,
            other => panic!("expected first sends, got {other:?}"),
        })
        .collect();
    assert_eq!(seqs, [0, 1, 2]);

    t.handle_ack(ms(5), ALICE, &ack(&sent, 1, &[], 0)).unwrap();
    assert_eq!(finished(&drain(&mut t)), [(10, confirmed(1, 5))]);
    // Seq 2 selectively, seq 1 still missing; prefetched first, which
    // changes nothing (nor does prefetching an ack never handled).
    let selective = ack(&sent, 1, &[(2, 3)], 2);
    t.prefetch_ack(&selective);
    t.prefetch_ack(&ack(&sent, 3, &[], 1));
    assert!(drain(&mut t).is_empty());
    t.handle_ack(ms(7), ALICE, &selective).unwrap();
    assert_eq!(finished(&drain(&mut t)), [(12, confirmed(1, 7))]);
    t.handle_ack(ms(9), ALICE, &ack(&sent, 3, &[], 1)).unwrap();
    assert_eq!(finished(&drain(&mut t)), [(11, confirmed(1, 9))]);
    // A duplicate confirms nothing, and nothing is left to time out.
    t.handle_ack(ms(10), ALICE, &ack(&sent, 3, &[], 1)).unwrap();
    assert!(drain(&mut t).is_empty());
    t.handle_timeout(ms(120_000));
    assert!(drain(&mut t).is_empty());
    assert_eq!(t.poll_timeout(), None);
}

fn retries_with_backoff_then_gives_up_after_the_last_attempt<T: Tracking<u32>>() {
    let mut t = T::with_policy(&policy(100, 1000, 3, 60_000), 64);
    let stream = t.open_stream(ms(0), ALICE).unwrap();
    t.submit(ms(0), stream, 7).unwrap();
    assert!(matches!(drain(&mut t)[..], [Command::Send { attempt: 1, .. }]));
    assert_eq!(t.poll_timeout(), Some(ms(100)));

    t.handle_timeout(ms(99));
    assert!(drain(&mut t).is_empty(), "a timeout must not fire early");
    t.handle_timeout(ms(100));
    assert!(matches!(drain(&mut t)[..], [Command::Retry { attempt: 2, seq: Seq(0), .. }]));
    // Backoff: the second attempt waits 200 ms.
    assert_eq!(t.poll_timeout(), Some(ms(300)));
    t.handle_timeout(ms(299));
    assert!(drain(&mut t).is_empty());
    t.handle_timeout(ms(300));
    assert!(matches!(drain(&mut t)[..], [Command::Retry { attempt: 3, .. }]));
    assert_eq!(t.poll_timeout(), Some(ms(700)));
    t.handle_timeout(ms(700));
    let commands = drain(&mut t);
    assert!(matches!(commands[0], Command::Skip { seqs, .. } if seqs == SeqRange::new(0, 1)));
    let expired = Outcome::Expired { reason: ExpiryReason::AttemptsExhausted };
    assert_eq!(finished(&commands), [(7, expired)]);
    // Nothing more for the event (acktrack may still resend the skip).
    t.handle_timeout(ms(60_000));
    let later = drain(&mut t);
    assert!(later.iter().all(|c| matches!(c, Command::Skip { .. })), "{later:?}");
}

fn expires_at_the_deadline_not_after_it<T: Tracking<u32>>() {
    let mut t = T::with_policy(&policy(1000, 8000, 10, 2500), 64);
    let stream = t.open_stream(ms(0), ALICE).unwrap();
    t.submit(ms(0), stream, 3).unwrap();
    let _ = drain(&mut t);
    t.handle_timeout(ms(1000));
    assert!(matches!(drain(&mut t)[..], [Command::Retry { attempt: 2, .. }]));
    // The next attempt would time out at 3 s; the deadline comes first.
    assert_eq!(t.poll_timeout(), Some(ms(2500)));
    t.handle_timeout(ms(2499));
    assert!(drain(&mut t).is_empty());
    t.handle_timeout(ms(2500));
    let expired = Outcome::Expired { reason: ExpiryReason::Deadline };
    assert_eq!(finished(&drain(&mut t)), [(3, expired)]);
}

fn an_ack_after_a_retry_confirms_with_its_attempts<T: Tracking<u32>>() {
    let mut t = T::with_policy(&policy(100, 1000, 5, 60_000), 64);
    let stream = t.open_stream(ms(0), ALICE).unwrap();
    t.submit(ms(0), stream, 1).unwrap();
    t.submit(ms(0), stream, 2).unwrap();
    let sent = drain(&mut t);
    t.handle_ack(ms(50), ALICE, &ack(&sent, 0, &[(1, 2)], 1)).unwrap();
    assert_eq!(finished(&drain(&mut t)), [(2, confirmed(1, 50))]);
    t.handle_timeout(ms(100));
    assert!(matches!(drain(&mut t)[..], [Command::Retry { attempt: 2, seq: Seq(0), .. }]));
    let mut late = ack(&sent, 2, &[], 0);
    late.echo = Some(Echo { seq: Seq(0), attempt: 2 });
    t.handle_ack(ms(150), ALICE, &late).unwrap();
    assert_eq!(finished(&drain(&mut t)), [(1, confirmed(2, 150))]);
    t.handle_timeout(ms(10_000));
    assert!(drain(&mut t).is_empty(), "a confirmed event never retries");
}

fn a_foreign_ack_is_rejected_and_changes_nothing<T: Tracking<u32>>() {
    let mut t = T::with_policy(&policy(100, 1000, 2, 60_000), 64);
    let stream = t.open_stream(ms(0), ALICE).unwrap();
    t.submit(ms(0), stream, 5).unwrap();
    let sent = drain(&mut t);
    let error = t.handle_ack(ms(10), MALLORY, &ack(&sent, 1, &[], 0)).unwrap_err();
    assert!(matches!(error, AckError::NotOwner { user: MALLORY, .. }));
    let error = t.handle_ack(ms(10), ALICE, &ack(&sent, 2, &[], 0)).unwrap_err();
    assert!(matches!(error, AckError::SeqNotSent { .. }));
    assert!(drain(&mut t).is_empty());
    t.handle_timeout(ms(100));
    assert!(matches!(drain(&mut t)[..], [Command::Retry { attempt: 2, .. }]));
}

/// The names the bench ids and tables use.
#[test]
fn names() {
    assert_eq!(<Tracker<u32> as Tracking<u32>>::NAME, "acktrack");
    assert_eq!(<HashMapHeap<u32> as Tracking<u32>>::NAME, "hashmap_heap");
    assert_eq!(<DelayQueueTracker<u32> as Tracking<u32>>::NAME, "tokio_delayqueue");
}
