//! Spurious retries: an ack for attempt k that arrives after attempt k+1 was
//! sent is counted (globally and for the user); an ack for the latest is not.

use crate::common;

use acktrack::{Outcome, UserId};
use common::*;

#[test]
fn an_ack_for_an_earlier_attempt_counts_one_spurious_retry() {
    let mut t = tracker(config());
    let user = UserId(4);
    let s = t.open_stream(ms(0), user).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let _ = run_until(&mut t, ms(300)); // attempts 2 (100 ms) and 3 (300 ms)
    t.handle_ack(ms(310), user, &ack(s, 1, 0, 1)).unwrap();
    let fin = finishes(&drain(&mut t));
    assert!(matches!(fin.as_slice(), [(ev, Outcome::Confirmed { attempts: 3, .. })] if *ev == e));
    assert_eq!(t.metrics().spurious_retries, 1);
    assert_eq!(t.user_metrics(user).unwrap().spurious_retries, 1);
    assert_eq!(t.metrics().acks_duplicate, 0);
}

#[test]
fn an_ack_for_the_latest_attempt_is_not_spurious() {
    let mut t = tracker(config());
    let user = UserId(4);
    let s = t.open_stream(ms(0), user).unwrap();
    let _ = submit(&mut t, ms(0), s, 1);
    let _ = submit(&mut t, ms(0), s, 2);
    let _ = drain(&mut t);
    t.handle_ack(ms(50), user, &ack(s, 1, 0, 1)).unwrap();
    let _ = run_until(&mut t, ms(100)); // seq 1 attempt 2
    t.handle_ack(ms(150), user, &ack(s, 2, 1, 2)).unwrap();
    assert_eq!(t.metrics().confirmed, 2);
    assert_eq!(t.metrics().spurious_retries, 0);
}

#[test]
fn an_echo_of_an_old_attempt_that_confirms_nothing_new_is_not_spurious_again() {
    let mut t = tracker(config());
    let user = UserId(4);
    let s = t.open_stream(ms(0), user).unwrap();
    let _ = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let _ = run_until(&mut t, ms(100));
    t.handle_ack(ms(120), user, &ack(s, 1, 0, 1)).unwrap();
    // The ack for attempt 2 arrives too: the event is already confirmed.
    t.handle_ack(ms(130), user, &ack(s, 1, 0, 2)).unwrap();
    assert_eq!(t.metrics().spurious_retries, 1);
    assert_eq!(t.metrics().acks_duplicate, 1);
}
