//! The checklist this system replaces, one test per item.

use crate::common;

use core::time::Duration;

use acktrack::{CancelError, Command, EventId, EventState, ExpiryReason, Outcome, Seq, UserId};
use common::*;

#[test]
fn tracked_events_go_pending_then_confirmed() {
    let mut t = tracker(config());
    let u = UserId(1);
    let s = t.open_stream(ms(0), u).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    assert_eq!(t.event_state(e), Some(EventState::InFlight { seq: Seq(0), attempts: 1 }));
    assert_eq!(t.pending(), 1);
    t.handle_ack(ms(30), u, &ack(s, 1, 0, 1)).unwrap();
    assert_eq!(
        finishes(&drain(&mut t)),
        [(e, Outcome::Confirmed { attempts: 1, latency: Duration::from_millis(30) })]
    );
    assert_eq!(t.event_state(e), None);
    assert_eq!(t.pending(), 0);
}

#[test]
fn everything_is_confirmed_when_nothing_is_lost() {
    let mut t = tracker(config());
    let u = UserId(1);
    let s = t.open_stream(ms(0), u).unwrap();
    for i in 0..500u64 {
        let e = submit(&mut t, ms(10 * i), s, i as u32);
        let _ = drain(&mut t);
        t.handle_ack(ms(10 * i + 5), u, &ack(s, i + 1, i, 1)).unwrap();
        assert!(
            matches!(finishes(&drain(&mut t)).as_slice(), [(x, Outcome::Confirmed { attempts: 1, .. })] if *x == e)
        );
    }
    let m = t.metrics();
    assert_eq!((m.submitted, m.confirmed, m.retried), (500, 500, 0));
    assert_eq!(m.confirmation_rate(), Some(1.0));
}

#[test]
fn retries_back_off_exponentially() {
    let mut c = config();
    c.retry.attempts_max = 6;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let _ = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let times: Vec<_> = run_until(&mut t, ms(10_000))
        .into_iter()
        .filter(|(_, c)| matches!(c, Command::Retry { .. }))
        .map(|(at, _)| at.as_micros() / 1000)
        .collect();
    // Gaps 100, 200, 400, 800, 1600 ms.
    assert_eq!(times, [100, 300, 700, 1500, 3100]);
}

#[test]
fn events_expire_on_timeout() {
    let mut c = config();
    c.retry.deadline = Duration::from_secs(2);
    c.retry.attempts_max = 100;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let out = run_until(&mut t, ms(5_000));
    let fin: Vec<_> = out
        .iter()
        .filter_map(|(at, c)| match c {
            Command::Finish { event, outcome, .. } => Some((*at, *event, *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(fin, [(ms(2000), e, Outcome::Expired { reason: ExpiryReason::Deadline })]);
}

#[test]
fn metrics_report_totals_confirmation_rate_retries_and_per_user_figures() {
    let mut c = config();
    c.retry.attempts_max = 2;
    let mut t = tracker(c);
    let (a, b) = (UserId(1), UserId(2));
    let sa = t.open_stream(ms(0), a).unwrap();
    let sb = t.open_stream(ms(0), b).unwrap();
    for i in 0..4 {
        submit(&mut t, ms(0), sa, i);
    }
    submit(&mut t, ms(0), sb, 9);
    let _ = drain(&mut t);
    let _ = run_until(&mut t, ms(100)); // every event retried once
    t.handle_ack(ms(150), a, &ack(sa, 3, 2, 2)).unwrap(); // 3 of a's confirmed
    let _ = run_until(&mut t, ms(1000)); // the rest expire
    let m = t.metrics();
    assert_eq!((m.submitted, m.sent, m.retried, m.confirmed, m.expired_attempts), (5, 5, 5, 3, 2));
    assert_eq!(m.finished(), 5);
    assert_eq!(m.confirmation_rate(), Some(0.6));
    assert_eq!(m.retries_per_send(), Some(1.0));
    assert_eq!(m.latency.count(), 3);
    assert_eq!(m.latency.summary().max, Duration::from_millis(150));
    let ma = t.user_metrics(a).unwrap();
    assert_eq!((ma.submitted, ma.retried, ma.confirmed, ma.expired_attempts), (4, 4, 3, 1));
    assert_eq!(ma.confirmation_rate(), Some(0.75));
    let mb = t.user_metrics(b).unwrap();
    assert_eq!((mb.submitted, mb.retried, mb.confirmed, mb.expired_attempts), (1, 1, 0, 1));
    assert_eq!(mb.confirmation_rate(), Some(0.0));
    assert_eq!(mb.latency.count(), 0);
    assert!(t.user_metrics(UserId(3)).is_none());
}

#[test]
fn three_users_ten_events_each_without_cross_contamination() {
    let mut t = tracker(config());
    let users = [UserId(1), UserId(2), UserId(3)];
    let streams: Vec<_> = users.iter().map(|&u| t.open_stream(ms(0), u).unwrap()).collect();
    let mut owner = std::collections::BTreeMap::new();
    for (i, &s) in streams.iter().enumerate() {
        for j in 0..10 {
            owner.insert(submit(&mut t, ms(0), s, (i * 10 + j) as u32), (users[i], i * 10 + j));
        }
    }
    let _ = drain(&mut t);
    for (i, &s) in streams.iter().enumerate() {
        t.handle_ack(ms(10), users[i], &ack(s, 10, 9, 1)).unwrap();
        for c in drain(&mut t) {
            if let Command::Finish { event, user, payload, outcome } = c {
                assert_eq!((user, payload as usize), owner[&event]);
                assert_eq!(user, users[i]);
                assert!(outcome.is_confirmed());
            }
        }
        for &u in &users {
            let want = if users[..=i].contains(&u) { 10 } else { 0 };
            assert_eq!(t.user_metrics(u).unwrap().confirmed, want);
        }
    }
}

#[test]
fn an_operation_on_a_nonexistent_event_is_a_typed_error() {
    let mut t = tracker(config());
    let e = EventId::from_bits(42);
    assert_eq!(t.cancel(ms(0), e), Err(CancelError::UnknownEvent(e)));
    assert_eq!(t.event_state(e), None);
    assert_eq!(t.payload(e), None);
    assert_eq!(CancelError::UnknownEvent(e).to_string(), format!("unknown or finished event {e}"));
}
