//! Duplicate and late acks are not errors: they change nothing and are counted.

use crate::common;

use acktrack::{ExpiryReason, Outcome, UserId};
use common::*;

const U: UserId = UserId(1);

fn dup(s: &mut Snapshot) {
    s.metrics.acks_duplicate += 1;
    s.users[0].1.acks_duplicate += 1;
}

fn late(s: &mut Snapshot) {
    s.metrics.acks_late += 1;
    s.users[0].1.acks_late += 1;
}

#[test]
fn a_repeated_ack_is_a_counted_duplicate_that_changes_nothing() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let events: Vec<_> = (0..4).map(|i| submit(&mut t, ms(0), s, i)).collect();
    let a = sack(s, 1, &[(2, 3)], 2, 1);
    t.handle_ack(ms(10), U, &a).unwrap();
    assert_eq!(finishes(&drain(&mut t)).len(), 2);
    assert_unchanged(&mut t, &events, &[s], dup, |t| {
        assert_eq!(t.handle_ack(ms(20), U, &a), Ok(()));
    });
    // An older ack (lower cumulative) arriving late is a duplicate too.
    assert_unchanged(&mut t, &events, &[s], dup, |t| {
        assert_eq!(t.handle_ack(ms(21), U, &ack(s, 0, 0, 1)), Ok(()));
    });
    assert_eq!(t.metrics().acks_duplicate, 2);
    assert_eq!(t.metrics().confirmed, 2);
}

#[test]
fn an_ack_for_an_expired_event_is_late_and_changes_nothing() {
    let mut c = config();
    c.retry.attempts_max = 1;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    let gone = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let out = run_until(&mut t, ms(100));
    assert!(out.iter().any(|(_, c)| matches!(
        c,
        acktrack::Command::Finish {
            outcome: Outcome::Expired { reason: ExpiryReason::AttemptsExhausted },
            ..
        }
    )));
    let live = submit(&mut t, ms(101), s, 2);
    let _ = drain(&mut t);
    // The client's ack for seq 0 arrives after the tracker gave up on it (the
    // client has not seen the skip: its cumulative stays at 0): late, and the
    // live event is untouched.
    assert_unchanged(&mut t, &[gone, live], &[s], late, |t| {
        assert_eq!(t.handle_ack(ms(150), U, &ack(s, 0, 0, 1)), Ok(()));
    });
    assert_eq!(t.metrics().acks_duplicate, 0);
}

#[test]
fn an_ack_for_a_cancelled_event_is_late() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let other = submit(&mut t, ms(0), s, 2);
    t.cancel(ms(1), e).unwrap();
    let _ = drain(&mut t);
    assert_unchanged(&mut t, &[e, other], &[s], late, |t| {
        assert_eq!(t.handle_ack(ms(5), U, &ack(s, 0, 0, 1)), Ok(()));
    });
}
