//! Attempts: after the last allowed attempt times out the event finishes
//! `Expired { AttemptsExhausted }`, exactly at that timeout, with a Skip.

use crate::common;

use core::time::Duration;

use acktrack::{Command, ExpiryReason, Instant, Outcome, Seq, SeqRange, SubmitOptions, UserId};
use common::*;

const EXHAUSTED: Outcome = Outcome::Expired { reason: ExpiryReason::AttemptsExhausted };

#[test]
fn the_last_attempts_timeout_expires_the_event() {
    let mut c = config();
    c.retry.attempts_max = 3;
    let mut t = tracker(c);
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let e = submit(&mut t, ms(0), s, 9);
    let _ = drain(&mut t);
    // Attempts at 0, 100 ms and 300 ms; the third times out at 700 ms.
    let out = run_until(&mut t, us(699_999));
    assert_eq!(
        out,
        [
            (ms(100), Command::Retry { stream: s, event: e, seq: Seq(0), attempt: 2 }),
            (ms(300), Command::Retry { stream: s, event: e, seq: Seq(0), attempt: 3 }),
        ]
    );
    t.handle_timeout(ms(700));
    assert_eq!(
        drain(&mut t),
        [
            Command::Skip { stream: s, seqs: SeqRange::new(0, 1) },
            Command::Finish { event: e, user, outcome: EXHAUSTED, payload: 9 },
        ]
    );
    let m = t.metrics();
    assert_eq!((m.sent, m.retried, m.expired_attempts, m.expired_deadline), (1, 2, 1, 0));
    assert_eq!(t.user_metrics(user).unwrap().expired_attempts, 1);
    let later = run_until(&mut t, Instant::from_secs(100));
    assert!(later.iter().all(|(_, c)| matches!(c, Command::Skip { .. })), "{later:?}");
}

#[test]
fn one_attempt_means_no_retry() {
    let mut c = config();
    c.retry.attempts_max = 1;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let out = run_until(&mut t, ms(100));
    assert!(!out.iter().any(|(_, c)| matches!(c, Command::Retry { .. })));
    assert!(out.contains(&(
        ms(100),
        Command::Finish { event: e, user: UserId(1), outcome: EXHAUSTED, payload: 1 }
    )));
    assert_eq!(t.metrics().retried, 0);
}

#[test]
fn a_deadline_before_the_last_timeout_wins() {
    let mut c = config();
    c.retry.attempts_max = 3;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let e =
        t.submit(ms(0), s, 1, SubmitOptions::with_deadline(Duration::from_millis(500))).unwrap();
    let _ = drain(&mut t);
    let out = run_until(&mut t, ms(1000));
    let fin: Vec<_> = out.iter().filter(|(_, c)| matches!(c, Command::Finish { .. })).collect();
    assert_eq!(
        fin,
        [&(
            ms(500),
            Command::Finish {
                event: e,
                user: UserId(1),
                outcome: Outcome::Expired { reason: ExpiryReason::Deadline },
                payload: 1
            }
        )]
    );
}

#[test]
fn an_ack_for_the_last_attempt_in_time_still_confirms() {
    let mut c = config();
    c.retry.attempts_max = 2;
    let mut t = tracker(c);
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let _ = run_until(&mut t, ms(299));
    t.handle_ack(ms(299), user, &ack(s, 1, 0, 2)).unwrap();
    assert_eq!(
        finishes(&drain(&mut t)),
        [(e, Outcome::Confirmed { attempts: 2, latency: Duration::from_millis(299) })]
    );
    assert_eq!(t.metrics().expired_attempts, 0);
}
