//! Isolation: 3 users × 10 events with zero cross-contamination; a foreign
//! ack is rejected with `NotOwner`, counted, and changes nothing.

use crate::common;

use core::time::Duration;

use acktrack::{AckError, Command, EventId, Outcome, Seq, StreamId, UserId};
use common::*;

const USERS: [UserId; 3] = [UserId(10), UserId(20), UserId(30)];

fn setup() -> (T, Vec<StreamId>, Vec<Vec<EventId>>) {
    let mut t = tracker(config());
    let streams: Vec<_> = USERS.iter().map(|&u| t.open_stream(ms(0), u).unwrap()).collect();
    let events = streams
        .iter()
        .enumerate()
        .map(|(i, &s)| (0..10).map(|j| submit(&mut t, ms(0), s, (i * 100 + j) as u32)).collect())
        .collect();
    let _ = drain(&mut t);
    (t, streams, events)
}

#[test]
fn foreign_acks_are_rejected_counted_and_change_nothing() {
    let (mut t, streams, events) = setup();
    let all: Vec<EventId> = events.concat();
    for (i, &thief) in USERS.iter().enumerate() {
        for (j, &victim) in streams.iter().enumerate() {
            if i == j {
                continue;
            }
            let a = sack(victim, 5, &[(6, 10)], 4, 1);
            assert_unchanged(&mut t, &all, &streams, one_rejected(thief), |t| {
                assert_eq!(
                    t.handle_ack(ms(1), thief, &a),
                    Err(AckError::NotOwner { stream: victim, user: thief })
                );
            });
            assert_unchanged(&mut t, &all, &streams, one_rejected(thief), |t| {
                let r = t.handle_nak(ms(1), thief, victim, Seq(0), Duration::ZERO);
                assert_eq!(r, Err(AckError::NotOwner { stream: victim, user: thief }));
            });
            assert_unchanged(&mut t, &all, &streams, one_rejected(thief), |t| {
                let r = t.handle_progress(ms(1), thief, victim, Seq(0));
                assert_eq!(r, Err(AckError::NotOwner { stream: victim, user: thief }));
            });
        }
    }
    // Each thief's rejections are counted against the thief, never the victim.
    for &u in &USERS {
        assert_eq!(t.user_metrics(u).unwrap().acks_rejected, 6);
    }
    assert_eq!(t.metrics().acks_rejected, 18);
    assert_eq!(t.metrics().confirmed, 0);
}

#[test]
fn three_users_ten_events_each_with_zero_cross_contamination() {
    let (mut t, streams, events) = setup();
    // Only user 1 acks (everything), at 5 ms.
    t.handle_ack(ms(5), USERS[1], &ack(streams[1], 10, 9, 1)).unwrap();
    let commands = drain(&mut t);
    let fin = finishes(&commands);
    assert_eq!(fin.iter().map(|(e, _)| *e).collect::<Vec<_>>(), events[1]);
    for c in &commands {
        if let Command::Finish { user, payload, .. } = c {
            assert_eq!(*user, USERS[1]);
            assert!((100..110).contains(payload), "payload {payload} handed to the wrong user");
        }
    }
    for (i, &u) in USERS.iter().enumerate() {
        let m = t.user_metrics(u).unwrap();
        let mine = if i == 1 { 10 } else { 0 };
        assert_eq!((m.submitted, m.sent, m.confirmed, m.streams), (10, 10, mine, 1), "{u}");
        assert_eq!(m.in_flight, 10 - mine);
        assert_eq!(m.latency.count(), mine);
        for &e in &events[i] {
            assert_eq!(t.event_user(e), if i == 1 { None } else { Some(u) });
        }
    }
    // Users 0 and 2 never ack: their events retry and expire, theirs alone.
    let out = run_until(&mut t, ms(120_000));
    for (_, c) in &out {
        match c {
            Command::Retry { stream, .. } | Command::Skip { stream, .. } => {
                assert_ne!(*stream, streams[1]);
            }
            Command::Finish { user, outcome, .. } => {
                assert_ne!(*user, USERS[1]);
                assert!(matches!(outcome, Outcome::Expired { .. }));
            }
            Command::Send { .. } => panic!("nothing new was submitted"),
        }
    }
    let m = t.metrics();
    assert_eq!((m.submitted, m.confirmed, m.finished()), (30, 10, 30));
    assert_eq!(t.user_metrics(USERS[1]).unwrap().retried, 0);
    assert_eq!(t.user_metrics(USERS[1]).unwrap().finished(), 10);
    for u in [USERS[0], USERS[2]] {
        let um = t.user_metrics(u).unwrap();
        assert_eq!(um.confirmed, 0);
        assert_eq!(um.expired_attempts + um.expired_deadline, 10);
        assert_eq!(um.retried, 40, "4 retries each under attempts_max 5");
    }
    // Per-user figures add up to the totals.
    let sum = |f: fn(&acktrack::Metrics) -> u64| -> u64 {
        USERS.iter().map(|&u| f(t.user_metrics(u).unwrap())).sum()
    };
    assert_eq!(sum(|m| m.retried), m.retried);
    assert_eq!(sum(|m| m.expired_attempts), m.expired_attempts);
    assert_eq!(sum(|m| m.sent), m.sent);
}

#[test]
fn one_user_may_own_many_streams_and_ack_each() {
    let mut t = tracker(config());
    let u = UserId(1);
    let a = t.open_stream(ms(0), u).unwrap();
    let b = t.open_stream(ms(0), u).unwrap();
    let other = t.open_stream(ms(0), UserId(2)).unwrap();
    let ea = submit(&mut t, ms(0), a, 1);
    let eb = submit(&mut t, ms(0), b, 2);
    let eo = submit(&mut t, ms(0), other, 3);
    let _ = drain(&mut t);
    // An ack on stream `a` confirms only `a`'s seq 0, not `b`'s or `other`'s.
    t.handle_ack(ms(1), u, &ack(a, 1, 0, 1)).unwrap();
    assert_eq!(finishes(&drain(&mut t)).into_iter().map(|(e, _)| e).collect::<Vec<_>>(), [ea]);
    assert!(t.event_state(eb).is_some() && t.event_state(eo).is_some());
    assert_eq!(t.user_metrics(u).unwrap().streams, 2);
}
