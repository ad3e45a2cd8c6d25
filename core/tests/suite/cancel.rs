//! Cancel: queued and in-flight events finish `Cancelled`; a transmitted
//! one's seq is skipped; nothing is sent for it afterwards.

use crate::common;

use acktrack::{CancelError, Command, EventState, Instant, Outcome, Seq, SeqRange, UserId};
use common::*;

#[test]
fn cancelling_an_in_flight_event_skips_its_seq_and_stops_retries() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let e = submit(&mut t, ms(0), s, 5);
    let _ = drain(&mut t);
    let _ = run_until(&mut t, ms(100)); // attempt 2 out
    t.cancel(ms(120), e).unwrap();
    assert_eq!(
        drain(&mut t),
        [
            Command::Skip { stream: s, seqs: SeqRange::new(0, 1) },
            Command::Finish { event: e, user, outcome: Outcome::Cancelled, payload: 5 },
        ]
    );
    assert_eq!(t.event_state(e), None);
    assert_eq!(t.metrics().cancelled, 1);
    assert_eq!(t.user_metrics(user).unwrap().cancelled, 1);
    assert_eq!(t.metrics().in_flight, 0);
    let later = run_until(&mut t, ms(120_000));
    assert!(
        later.iter().all(|(_, c)| matches!(c, Command::Skip { .. })),
        "no retry or finish after cancel: {later:?}"
    );
    assert_eq!(t.stream_info(s).unwrap().floor, Seq(1));
}

#[test]
fn cancelling_a_queued_event_needs_no_skip_and_consumes_no_seq() {
    let mut c = config();
    c.flow.window = 1;
    let mut t = tracker(c);
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let first = submit(&mut t, ms(0), s, 1);
    let queued = submit(&mut t, ms(0), s, 2);
    let third = submit(&mut t, ms(0), s, 3);
    let _ = drain(&mut t);
    assert_eq!(t.event_state(queued), Some(EventState::Queued));
    t.cancel(ms(1), queued).unwrap();
    assert_eq!(
        drain(&mut t),
        [Command::Finish { event: queued, user, outcome: Outcome::Cancelled, payload: 2 }]
    );
    assert_eq!(t.metrics().queued, 1);
    // The queue moves on: when the window opens, the third event gets seq 1.
    t.handle_ack(ms(2), user, &ack(s, 1, 0, 1)).unwrap();
    let commands = drain(&mut t);
    assert_eq!(finishes(&commands)[0].0, first);
    assert_eq!(transmissions(&commands), [(third, Seq(1), 1)]);
}

#[test]
fn cancelling_an_in_flight_event_opens_the_window_for_the_queue() {
    let mut c = config();
    c.flow.window = 1;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let first = submit(&mut t, ms(0), s, 1);
    let second = submit(&mut t, ms(0), s, 2);
    let _ = drain(&mut t);
    t.cancel(ms(1), first).unwrap();
    let commands = drain(&mut t);
    assert_eq!(finishes(&commands), [(first, Outcome::Cancelled)]);
    assert_eq!(transmissions(&commands), [(second, Seq(1), 1)]);
}

#[test]
fn cancelling_twice_or_after_finish_is_a_typed_error_that_changes_nothing() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let a = submit(&mut t, ms(0), s, 1);
    let b = submit(&mut t, ms(0), s, 2);
    t.cancel(ms(1), a).unwrap();
    t.handle_ack(ms(2), user, &ack(s, 2, 1, 1)).unwrap();
    let _ = drain(&mut t);
    let c = submit(&mut t, ms(3), s, 3);
    let _ = drain(&mut t);
    for gone in [a, b] {
        assert_unchanged(
            &mut t,
            &[c],
            &[s],
            |_| {},
            |t| {
                assert_eq!(t.cancel(ms(4), gone), Err(CancelError::UnknownEvent(gone)));
            },
        );
    }
}

#[test]
fn an_unacked_skip_is_resent_with_backoff_up_to_attempts_max_times() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let e = submit(&mut t, ms(0), s, 5);
    let _ = drain(&mut t);
    t.cancel(ms(20), e).unwrap();
    let _ = drain(&mut t);
    // The client never acks past seq 0: the skip goes out again after the
    // stream's base timeout, doubling each time (100 ms × 2^k), 5 times.
    let resends: Vec<Instant> = run_until(&mut t, ms(600_000))
        .into_iter()
        .map(|(at, c)| {
            assert_eq!(c, Command::Skip { stream: s, seqs: SeqRange::new(0, 1) });
            at
        })
        .collect();
    assert_eq!(resends, [ms(120), ms(320), ms(720), ms(1520), ms(3120)]);
}

/// Acks that make no progress (stale or repeated, cumulative unchanged) do
/// not give the skip its resends back: it still goes out 5 times.
#[test]
fn acks_without_progress_do_not_restart_the_skip_resends() {
    let mut t = tracker(config());
    let u = UserId(1);
    let s = t.open_stream(ms(0), u).unwrap();
    let e = submit(&mut t, ms(0), s, 5);
    let _ = drain(&mut t);
    t.cancel(ms(20), e).unwrap();
    let _ = drain(&mut t);
    let stale = acktrack::Ack { stream: s, cumulative: Seq(0), ranges: vec![], echo: None };
    let mut resends = Vec::new();
    while let Some(at) = t.poll_timeout().filter(|&at| at <= ms(600_000)) {
        t.handle_timeout(at);
        for c in drain(&mut t) {
            assert_eq!(c, Command::Skip { stream: s, seqs: SeqRange::new(0, 1) });
            resends.push(at);
        }
        t.handle_ack(at, u, &stale).unwrap();
        assert_eq!(drain(&mut t), []);
    }
    assert_eq!(resends, [ms(120), ms(320), ms(720), ms(1520), ms(3120)]);
    assert_eq!(t.user_metrics(u).unwrap().skips_resent, 5);
}
