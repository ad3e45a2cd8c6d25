//! Negative acks: a redelivery after the asked delay, counted as an attempt,
//! never past the deadline, under the same ownership and input rules as acks.

use crate::common;

use core::time::Duration;

use acktrack::{AckError, Command, ExpiryReason, Outcome, Seq, SubmitOptions, UserId};
use common::*;

const U: UserId = UserId(1);

#[test]
fn a_nak_redelivers_after_its_delay_as_a_new_attempt() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    t.handle_nak(ms(10), U, s, Seq(0), Duration::from_millis(30)).unwrap();
    assert_eq!(t.poll_command(), None);
    assert_eq!(t.poll_timeout(), Some(ms(40)));
    let out = run_until(&mut t, ms(40));
    assert_eq!(out, [(ms(40), Command::Retry { stream: s, event: e, seq: Seq(0), attempt: 2 })]);
    assert_eq!(t.metrics().naks, 1);
    assert_eq!(t.user_metrics(U).unwrap().naks, 1);
    // A zero delay redelivers at once.
    t.handle_nak(ms(50), U, s, Seq(0), Duration::ZERO).unwrap();
    assert_eq!(drain(&mut t), [Command::Retry { stream: s, event: e, seq: Seq(0), attempt: 3 }]);
}

#[test]
fn a_nak_counts_against_attempts_max() {
    let mut c = config();
    c.retry.attempts_max = 2;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    t.handle_nak(ms(10), U, s, Seq(0), Duration::ZERO).unwrap();
    assert_eq!(transmissions(&drain(&mut t)), [(e, Seq(0), 2)]);
    t.handle_nak(ms(20), U, s, Seq(0), Duration::from_millis(5)).unwrap();
    let out = run_until(&mut t, ms(25));
    let fin: Vec<_> = out.iter().filter(|(_, c)| matches!(c, Command::Finish { .. })).collect();
    assert_eq!(
        fin,
        [&(
            ms(25),
            Command::Finish {
                event: e,
                user: U,
                outcome: Outcome::Expired { reason: ExpiryReason::AttemptsExhausted },
                payload: 1
            }
        )]
    );
}

#[test]
fn a_nak_delay_past_the_deadline_expires_the_event_at_the_deadline() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e =
        t.submit(ms(0), s, 1, SubmitOptions::with_deadline(Duration::from_millis(200))).unwrap();
    let _ = drain(&mut t);
    t.handle_nak(ms(10), U, s, Seq(0), Duration::from_secs(5)).unwrap();
    let out = run_until(&mut t, ms(10_000));
    assert!(!out.iter().any(|(_, c)| matches!(c, Command::Retry { .. })), "{out:?}");
    let fin = out.iter().find(|(_, c)| matches!(c, Command::Finish { .. })).unwrap();
    assert_eq!(fin.0, ms(200));
    assert!(
        matches!(fin.1, Command::Finish { event, outcome: Outcome::Expired { reason: ExpiryReason::Deadline }, .. } if event == e)
    );
}

#[test]
fn naks_follow_the_ack_rules() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let _other = t.open_stream(ms(0), UserId(2)).unwrap();
    let done = submit(&mut t, ms(0), s, 1);
    let live = submit(&mut t, ms(0), s, 2);
    t.handle_ack(ms(1), U, &ack(s, 1, 0, 1)).unwrap();
    let _ = drain(&mut t);
    let evs = [done, live];
    assert_unchanged(&mut t, &evs, &[s], one_rejected(UserId(2)), |t| {
        let r = t.handle_nak(ms(2), UserId(2), s, Seq(1), Duration::ZERO);
        assert_eq!(r, Err(AckError::NotOwner { stream: s, user: UserId(2) }));
    });
    assert_unchanged(&mut t, &evs, &[s], one_rejected(U), |t| {
        let r = t.handle_nak(ms(2), U, s, Seq(2), Duration::ZERO);
        assert_eq!(r, Err(AckError::SeqNotSent { seq: Seq(2), next: Seq(2) }));
    });
    // A nak for a resolved seq is a counted duplicate.
    let dup = |snap: &mut Snapshot| {
        snap.metrics.acks_duplicate += 1;
        snap.users[0].1.acks_duplicate += 1;
    };
    assert_unchanged(&mut t, &evs, &[s], dup, |t| {
        assert_eq!(t.handle_nak(ms(2), U, s, Seq(0), Duration::ZERO), Ok(()));
    });
}
