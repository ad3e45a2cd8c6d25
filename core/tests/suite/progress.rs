//! Progress reports extend the current attempt's timeout, never past the
//! deadline, under the same ownership and input rules as acks.

use crate::common;

use core::time::Duration;

use acktrack::{AckError, Command, ExpiryReason, Outcome, Seq, SubmitOptions, UserId};
use common::*;

const U: UserId = UserId(1);

#[test]
fn progress_postpones_the_retry() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    assert_eq!(t.poll_timeout(), Some(ms(100)));
    t.handle_progress(ms(80), U, s, Seq(0)).unwrap();
    assert_eq!(t.poll_command(), None);
    // Extended by one nominal timeout (100 ms) from the report.
    assert_eq!(t.poll_timeout(), Some(ms(180)));
    assert!(run_until(&mut t, ms(179)).is_empty());
    assert_eq!(
        run_until(&mut t, ms(180)),
        [(ms(180), Command::Retry { stream: s, event: e, seq: Seq(0), attempt: 2 })]
    );
    assert_eq!(t.metrics().progress_reports, 1);
    assert_eq!(t.metrics().retried, 1, "progress is not an attempt");
}

#[test]
fn progress_never_extends_past_the_deadline() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e =
        t.submit(ms(0), s, 1, SubmitOptions::with_deadline(Duration::from_millis(150))).unwrap();
    let _ = drain(&mut t);
    t.handle_progress(ms(80), U, s, Seq(0)).unwrap();
    t.handle_progress(ms(140), U, s, Seq(0)).unwrap();
    assert_eq!(t.poll_timeout(), Some(ms(150)));
    let out = run_until(&mut t, ms(1000));
    assert!(!out.iter().any(|(_, c)| matches!(c, Command::Retry { .. })));
    let fin = out.iter().find(|(_, c)| matches!(c, Command::Finish { .. })).unwrap();
    assert_eq!(fin.0, ms(150));
    assert!(
        matches!(fin.1, Command::Finish { event, outcome: Outcome::Expired { reason: ExpiryReason::Deadline }, .. } if event == e)
    );
}

#[test]
fn progress_follows_the_ack_rules() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let _ = t.open_stream(ms(0), UserId(2)).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    assert_unchanged(&mut t, &[e], &[s], one_rejected(UserId(2)), |t| {
        let r = t.handle_progress(ms(2), UserId(2), s, Seq(0));
        assert_eq!(r, Err(AckError::NotOwner { stream: s, user: UserId(2) }));
    });
    assert_unchanged(&mut t, &[e], &[s], one_rejected(U), |t| {
        let r = t.handle_progress(ms(2), U, s, Seq(1));
        assert_eq!(r, Err(AckError::SeqNotSent { seq: Seq(1), next: Seq(1) }));
    });
}
