//! Conflation: a newer event with the same key on the same stream supersedes
//! the older pending one; a transmitted one's seq is skipped.

use crate::common;

use acktrack::{Command, EventState, Outcome, Seq, SeqRange, SubmitError, SubmitOptions, UserId};
use common::*;

fn keyed(
    t: &mut T,
    now: acktrack::Instant,
    s: acktrack::StreamId,
    p: u32,
    key: u64,
) -> acktrack::EventId {
    t.submit(now, s, p, SubmitOptions::conflated(key)).expect("accepted")
}

#[test]
fn a_transmitted_event_is_superseded_and_its_seq_skipped() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let old = keyed(&mut t, ms(0), s, 1, 7);
    let _ = drain(&mut t);
    let new = keyed(&mut t, ms(10), s, 2, 7);
    assert_eq!(
        drain(&mut t),
        [
            Command::Skip { stream: s, seqs: SeqRange::new(0, 1) },
            Command::Finish { event: old, user, outcome: Outcome::Superseded, payload: 1 },
            Command::Send { stream: s, event: new, seq: Seq(1), attempt: 1 },
        ]
    );
    assert_eq!(t.metrics().superseded, 1);
    assert_eq!(t.user_metrics(user).unwrap().superseded, 1);
    assert_eq!(t.metrics().submitted, 2);
    assert_eq!(t.pending(), 1);
    // The newer one keeps going: a third supersedes it in turn.
    let third = keyed(&mut t, ms(20), s, 3, 7);
    let commands = drain(&mut t);
    assert_eq!(finishes(&commands), [(new, Outcome::Superseded)]);
    assert_eq!(transmissions(&commands), [(third, Seq(2), 1)]);
}

#[test]
fn a_queued_event_is_superseded_without_a_skip() {
    let mut c = config();
    c.flow.window = 1;
    let mut t = tracker(c);
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let _blocker = submit(&mut t, ms(0), s, 0);
    let old = keyed(&mut t, ms(0), s, 1, 7);
    let _ = drain(&mut t);
    let new = keyed(&mut t, ms(1), s, 2, 7);
    let commands = drain(&mut t);
    assert_eq!(
        commands,
        [Command::Finish { event: old, user, outcome: Outcome::Superseded, payload: 1 }]
    );
    assert_eq!(t.event_state(new), Some(EventState::Queued));
    assert_eq!(t.metrics().queued, 1);
    t.handle_ack(ms(2), user, &ack(s, 1, 0, 1)).unwrap();
    assert_eq!(transmissions(&drain(&mut t)), [(new, Seq(1), 1)], "no seq was burnt");
}

#[test]
fn keys_are_per_stream_and_unkeyed_events_never_conflate() {
    let mut t = tracker(config());
    let user = UserId(1);
    let a = t.open_stream(ms(0), user).unwrap();
    let b = t.open_stream(ms(0), user).unwrap();
    let a1 = keyed(&mut t, ms(0), a, 1, 7);
    let b1 = keyed(&mut t, ms(0), b, 2, 7);
    let a2 = keyed(&mut t, ms(0), a, 3, 8);
    let plain1 = submit(&mut t, ms(0), a, 4);
    let plain2 = submit(&mut t, ms(0), a, 5);
    let commands = drain(&mut t);
    assert!(finishes(&commands).is_empty(), "{commands:?}");
    for e in [a1, b1, a2, plain1, plain2] {
        assert!(matches!(t.event_state(e), Some(EventState::InFlight { .. })));
    }
    assert_eq!(t.metrics().superseded, 0);
}

#[test]
fn a_key_whose_event_finished_supersedes_nothing() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let _old = keyed(&mut t, ms(0), s, 1, 7);
    t.handle_ack(ms(5), user, &ack(s, 1, 0, 1)).unwrap();
    let _ = drain(&mut t);
    let _new = keyed(&mut t, ms(6), s, 2, 7);
    assert!(finishes(&drain(&mut t)).is_empty());
    assert_eq!(t.metrics().superseded, 0);
}

#[test]
fn superseding_at_a_cap_is_accepted_because_it_frees_its_own_room() {
    let mut c = config();
    c.flow.user_pending_max = 2;
    c.flow.window = 1;
    c.flow.queue_max = 1;
    let mut t = tracker(c);
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let _blocker = submit(&mut t, ms(0), s, 0);
    let old = keyed(&mut t, ms(0), s, 1, 7);
    let _ = drain(&mut t);
    // Both the user cap and the queue are full, but the new event replaces one.
    let err = t.submit(ms(1), s, 9, SubmitOptions::default()).unwrap_err();
    assert_eq!(err.error, SubmitError::UserPendingFull { cap: 2 });
    let new = keyed(&mut t, ms(1), s, 2, 7);
    assert_eq!(finishes(&drain(&mut t)), [(old, Outcome::Superseded)]);
    assert_eq!(t.event_state(new), Some(EventState::Queued));
    assert_eq!(t.pending(), 2);
}
