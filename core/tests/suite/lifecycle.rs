//! An event's life: submit → Send → ack → Finish Confirmed, and close_stream.

use crate::common;

use core::time::Duration;

use acktrack::{Command, EventState, Outcome, Seq, UserId};
use common::*;

#[test]
fn submit_sends_then_ack_confirms_and_hands_the_payload_back() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let e = submit(&mut t, ms(10), s, 42);
    assert_eq!(drain(&mut t), [Command::Send { stream: s, event: e, seq: Seq(0), attempt: 1 }]);
    assert_eq!(t.event_state(e), Some(EventState::InFlight { seq: Seq(0), attempts: 1 }));
    assert_eq!(t.payload(e), Some(&42));
    assert_eq!(t.event_user(e), Some(user));
    assert_eq!(t.pending(), 1);
    assert_eq!(t.metrics().in_flight, 1);
    // The first attempt times out after the initial delay.
    assert_eq!(t.poll_timeout(), Some(ms(110)));

    t.handle_ack(ms(35), user, &ack(s, 1, 0, 1)).unwrap();
    let commands = drain(&mut t);
    assert_eq!(
        commands,
        [Command::Finish {
            event: e,
            user,
            outcome: Outcome::Confirmed { attempts: 1, latency: Duration::from_millis(25) },
            payload: 42,
        }]
    );
    assert_eq!(t.event_state(e), None);
    assert_eq!(t.payload(e), None);
    assert_eq!(t.pending(), 0);
    assert_eq!(t.poll_timeout(), None, "nothing left waiting on time");
    let m = t.metrics();
    assert_eq!((m.submitted, m.sent, m.confirmed, m.in_flight, m.retried), (1, 1, 1, 0, 0));
    assert_eq!(t.stream_info(s).unwrap().floor, Seq(1));
}

#[test]
fn seqs_are_per_stream_and_start_at_zero() {
    let mut t = tracker(config());
    let a = t.open_stream(ms(0), UserId(1)).unwrap();
    let b = t.open_stream(ms(0), UserId(1)).unwrap();
    assert_ne!(a, b);
    let a0 = submit(&mut t, ms(0), a, 0);
    let a1 = submit(&mut t, ms(0), a, 1);
    let b0 = submit(&mut t, ms(0), b, 2);
    assert_eq!(transmissions(&drain(&mut t)), [(a0, Seq(0), 1), (a1, Seq(1), 1), (b0, Seq(0), 1)]);
    assert_eq!(t.stream_info(a).unwrap().next_seq, Seq(2));
    assert_eq!(t.stream_info(b).unwrap().next_seq, Seq(1));
}

#[test]
fn unacked_event_is_retried_and_confirmed_with_its_attempt_count() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let e = submit(&mut t, ms(0), s, 7);
    let _ = drain(&mut t);
    let out = run_until(&mut t, ms(100));
    assert_eq!(out, [(ms(100), Command::Retry { stream: s, event: e, seq: Seq(0), attempt: 2 })]);
    assert_eq!(t.event_state(e), Some(EventState::InFlight { seq: Seq(0), attempts: 2 }));
    t.handle_ack(ms(150), user, &ack(s, 1, 0, 2)).unwrap();
    assert_eq!(
        finishes(&drain(&mut t)),
        [(e, Outcome::Confirmed { attempts: 2, latency: Duration::from_millis(150) })]
    );
}

#[test]
fn close_stream_finishes_in_flight_and_queued_events_once_without_skips() {
    let mut c = config();
    c.flow.window = 1;
    let mut t = tracker(c);
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let sent = submit(&mut t, ms(0), s, 1);
    let queued = submit(&mut t, ms(0), s, 2);
    assert_eq!(t.event_state(queued), Some(EventState::Queued));
    let _ = drain(&mut t);
    t.close_stream(ms(5), s).unwrap();
    let commands = drain(&mut t);
    let mut got = finishes(&commands);
    got.sort_by_key(|(e, _)| *e);
    assert_eq!(got, [(sent, Outcome::StreamClosed), (queued, Outcome::StreamClosed)]);
    assert!(skips(&commands).is_empty(), "nobody is listening on a closed stream");
    assert_eq!(t.pending(), 0);
    assert_eq!(t.metrics().stream_closed, 2);
    assert_eq!(t.metrics().streams, 0);
    assert_eq!((t.metrics().queued, t.metrics().in_flight), (0, 0));
    assert_eq!(t.poll_timeout(), None);
    // Nothing is sent for them afterwards.
    assert!(run_until(&mut t, ms(120_000)).is_empty());
    assert!(t.stream_info(s).is_none());
}

#[test]
fn spurious_handle_timeout_calls_are_no_ops() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let before = snapshot(&t, &[e], &[s]);
    t.handle_timeout(ms(50));
    t.handle_timeout(ms(50));
    t.handle_timeout(us(99_999));
    assert_eq!(t.poll_command(), None);
    assert_eq!(snapshot(&t, &[e], &[s]), before);
}

#[test]
fn every_event_finishes_exactly_once() {
    let mut t = tracker(config());
    let user = UserId(3);
    let s = t.open_stream(ms(0), user).unwrap();
    let events: Vec<_> = (0..20).map(|i| submit(&mut t, ms(0), s, i)).collect();
    let mut commands = drain(&mut t);
    // Ack half, cancel a quarter, let the rest expire.
    t.handle_ack(ms(10), user, &sack(s, 5, &[(6, 10)], 9, 1)).unwrap();
    commands.extend(drain(&mut t));
    for &e in &events[10..15] {
        t.cancel(ms(20), e).unwrap();
    }
    commands.extend(drain(&mut t));
    commands.extend(run_until(&mut t, ms(61_000)).into_iter().map(|(_, c)| c));
    let mut done: Vec<_> = finishes(&commands).into_iter().map(|(e, _)| e).collect();
    done.sort();
    let mut want = events.clone();
    want.sort();
    assert_eq!(done, want);
    // Event 5 was neither in the cumulative nor in the range: it expires.
    let fin = finishes(&commands);
    assert!(matches!(
        fin.iter().find(|(e, _)| *e == events[5]),
        Some((_, Outcome::Expired { .. }))
    ));
    assert_eq!(t.metrics().finished(), 20);
    assert_eq!(t.pending(), 0);
    // Nothing is transmitted for an event after its Finish.
    let mut finished = std::collections::BTreeSet::new();
    for c in &commands {
        match c {
            Command::Finish { event, .. } => {
                finished.insert(*event);
            }
            Command::Send { event, .. } | Command::Retry { event, .. } => {
                assert!(!finished.contains(event), "{event} transmitted after finishing");
            }
            Command::Skip { .. } => {}
        }
    }
}

#[test]
fn a_user_is_forgotten_only_once_it_has_no_stream() {
    let mut t = tracker(config());
    let (a, b) = (UserId(1), UserId(2));
    let s = t.open_stream(ms(0), a).unwrap();
    t.open_stream(ms(0), b).unwrap();
    submit(&mut t, ms(0), s, 7);
    assert_eq!(t.users().collect::<Vec<_>>(), [a, b]);
    // Still owns a stream: nothing is dropped.
    assert_eq!(t.forget_user(a), None);
    assert!(t.user_metrics(a).is_some());
    t.close_stream(ms(1), s).unwrap();
    let metrics = t.forget_user(a).expect("no stream left");
    assert_eq!((metrics.submitted, metrics.stream_closed, metrics.streams), (1, 1, 0));
    assert_eq!(t.user_metrics(a), None);
    assert_eq!(t.users().collect::<Vec<_>>(), [b]);
    assert_eq!(t.forget_user(a), None, "forgotten twice");
    // A forgotten user may come back, with fresh metrics.
    t.open_stream(ms(2), a).unwrap();
    assert_eq!(t.user_metrics(a).unwrap().submitted, 0);
}

#[test]
fn only_a_confirmation_counts_as_confirmed() {
    use acktrack::ExpiryReason;
    let confirmed = Outcome::Confirmed { attempts: 1, latency: Duration::from_millis(5) };
    assert!(confirmed.is_confirmed());
    for other in [
        Outcome::Expired { reason: ExpiryReason::Deadline },
        Outcome::Expired { reason: ExpiryReason::AttemptsExhausted },
        Outcome::Cancelled,
        Outcome::Superseded,
        Outcome::StreamClosed,
    ] {
        assert!(!other.is_confirmed(), "{other:?}");
    }
}

#[test]
fn stream_info_counts_in_flight_and_queued_events_as_they_come_and_go() {
    let mut c = config();
    c.flow.window = 3;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    for p in 0..5 {
        submit(&mut t, ms(0), s, p);
    }
    drain(&mut t);
    let info = t.stream_info(s).unwrap();
    assert_eq!((info.in_flight, info.queued, info.next_seq), (3, 2, Seq(3)));
    // Two confirmed open the window for the two queued ones.
    t.handle_ack(ms(10), UserId(1), &ack(s, 2, 1, 1)).unwrap();
    drain(&mut t);
    let info = t.stream_info(s).unwrap();
    assert_eq!((info.in_flight, info.queued, info.floor), (3, 0, Seq(2)));
    t.handle_ack(ms(20), UserId(1), &ack(s, 5, 4, 1)).unwrap();
    drain(&mut t);
    let info = t.stream_info(s).unwrap();
    assert_eq!((info.in_flight, info.queued, info.floor), (0, 0, Seq(5)));
}
