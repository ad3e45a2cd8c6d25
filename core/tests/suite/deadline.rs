//! Deadlines: an event expires exactly at its deadline (not a microsecond
//! early), and no retry is ever scheduled at or past it.

use crate::common;

use core::time::Duration;

use acktrack::{
    Command, EventState, ExpiryReason, Instant, Jitter, Outcome, Seq, SeqRange, SubmitOptions,
    UserId,
};
use common::*;

const DEADLINE: Outcome = Outcome::Expired { reason: ExpiryReason::Deadline };

#[test]
fn expires_exactly_at_the_deadline_not_a_microsecond_early() {
    let mut c = config();
    c.retry.initial_delay = Duration::from_millis(300);
    c.retry.attempts_max = 10;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let e = t.submit(ms(0), s, 1, SubmitOptions::with_deadline(Duration::from_secs(1))).unwrap();
    let _ = drain(&mut t);
    // Attempt 2 at 300 ms, attempt 3 at 900 ms; attempt 4 would be due at 2.1 s.
    let out = run_until(&mut t, us(999_999));
    let retry_times: Vec<_> = out.iter().map(|(at, _)| *at).collect();
    assert_eq!(retry_times, [ms(300), ms(900)]);
    assert!(out.iter().all(|(_, c)| matches!(c, Command::Retry { .. })));
    assert_eq!(t.poll_timeout(), Some(ms(1000)), "the next wake-up is the deadline itself");
    t.handle_timeout(us(999_999));
    assert_eq!(t.poll_command(), None, "a microsecond early: still pending");
    assert_eq!(t.event_state(e), Some(EventState::InFlight { seq: Seq(0), attempts: 3 }));

    t.handle_timeout(ms(1000));
    assert_eq!(
        drain(&mut t),
        [
            Command::Skip { stream: s, seqs: SeqRange::new(0, 1) },
            Command::Finish { event: e, user: UserId(1), outcome: DEADLINE, payload: 1 },
        ]
    );
    assert_eq!(t.metrics().expired_deadline, 1);
    assert_eq!(t.metrics().expired_attempts, 0);
    // Nothing but (re)sent skips happens for it afterwards.
    let later = run_until(&mut t, Instant::from_secs(120));
    assert!(later.iter().all(|(_, c)| matches!(c, Command::Skip { .. })), "{later:?}");
}

#[test]
fn default_deadline_comes_from_the_config() {
    let mut c = config();
    c.retry.deadline = Duration::from_millis(250);
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let e = submit(&mut t, ms(50), s, 1);
    let _ = drain(&mut t);
    let out = run_until(&mut t, ms(10_000));
    let (at, c) = out.iter().rfind(|(_, c)| matches!(c, Command::Finish { .. })).unwrap();
    assert_eq!(*at, ms(300));
    assert!(matches!(c, Command::Finish { event, outcome: DEADLINE, .. } if *event == e));
}

#[test]
fn a_queued_event_expires_at_its_deadline_without_a_skip() {
    let mut c = config();
    c.flow.window = 1;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let _blocker = submit(&mut t, ms(0), s, 1);
    let q =
        t.submit(ms(0), s, 2, SubmitOptions::with_deadline(Duration::from_millis(150))).unwrap();
    let _ = drain(&mut t);
    assert_eq!(t.event_state(q), Some(EventState::Queued));
    let out = run_until(&mut t, us(149_999));
    assert!(finishes(&out.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>()).is_empty());
    t.handle_timeout(ms(150));
    let commands = drain(&mut t);
    assert_eq!(finishes(&commands), [(q, DEADLINE)]);
    assert!(skips(&commands).is_empty(), "it never had a seq");
    assert_eq!(t.stream_info(s).unwrap().next_seq, Seq(1), "it consumed no seq");
    assert_eq!(t.metrics().queued, 0);
}

#[test]
fn no_retry_is_ever_scheduled_at_or_past_the_deadline() {
    for jitter in [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        for seed in 0..4 {
            let mut c = config();
            c.retry.jitter = jitter;
            c.retry.attempts_max = 1000;
            c.retry.initial_delay = Duration::from_millis(7);
            c.retry.delay_max = Duration::from_millis(900);
            c.seed = seed;
            let mut t = tracker(c);
            let s = t.open_stream(ms(0), UserId(1)).unwrap();
            let mut deadline = std::collections::BTreeMap::new();
            for i in 0..30u64 {
                let d = Duration::from_micros(1 + i * 97_331);
                let e = t.submit(ms(i), s, i as u32, SubmitOptions::with_deadline(d)).unwrap();
                deadline.insert(e, ms(i).saturating_add(d));
                let _ = drain(&mut t);
            }
            let out = run_until(&mut t, Instant::from_secs(100));
            let mut expired = 0;
            for (at, c) in out {
                match c {
                    Command::Retry { event, .. } => {
                        assert!(at < deadline[&event], "{jitter:?}: retry of {event} at {at}");
                    }
                    Command::Finish { event, outcome, .. } => {
                        assert_eq!(outcome, DEADLINE);
                        assert_eq!(at, deadline[&event].max(ms(29)), "{jitter:?} {event}");
                        expired += 1;
                    }
                    _ => {}
                }
            }
            assert_eq!(expired, 30);
        }
    }
}

#[test]
fn poll_timeout_never_points_past_a_pending_deadline() {
    let mut c = config();
    c.retry.initial_delay = Duration::from_secs(5);
    c.retry.delay_max = Duration::from_secs(5);
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    t.submit(ms(0), s, 1, SubmitOptions::with_deadline(Duration::from_secs(2))).unwrap();
    let _ = drain(&mut t);
    assert_eq!(t.poll_timeout(), Some(Instant::from_secs(2)));
}
