//! Ids are never reused: a stale `EventId` or `StreamId` whose slot was
//! reused never reaches the new occupant.

use crate::common;

use std::collections::BTreeSet;

use acktrack::{
    AckError, CancelError, EventId, EventState, StreamError, SubmitError, SubmitOptions, UserId,
};
use common::*;

#[test]
fn a_stale_event_id_never_reaches_the_event_that_reuses_its_slot() {
    let mut t = tracker(config());
    let u = UserId(1);
    let s = t.open_stream(ms(0), u).unwrap();
    let old = submit(&mut t, ms(0), s, 1);
    t.handle_ack(ms(1), u, &ack(s, 1, 0, 1)).unwrap();
    let _ = drain(&mut t);
    let new = submit(&mut t, ms(2), s, 2);
    let _ = drain(&mut t);
    assert_ne!(old, new);
    assert_eq!(t.event_state(old), None);
    assert_eq!(t.payload(old), None);
    assert_eq!(t.event_user(old), None);
    assert_unchanged(
        &mut t,
        &[old, new],
        &[s],
        |_| {},
        |t| {
            assert_eq!(t.cancel(ms(3), old), Err(CancelError::UnknownEvent(old)));
        },
    );
    assert!(matches!(t.event_state(new), Some(EventState::InFlight { .. })));
    assert_eq!(t.payload(new), Some(&2));
}

#[test]
fn ids_stay_unique_across_many_reuses() {
    let mut t = tracker(config());
    let u = UserId(1);
    let s = t.open_stream(ms(0), u).unwrap();
    let mut seen = BTreeSet::new();
    for i in 0..1000u64 {
        let e = submit(&mut t, ms(i), s, i as u32);
        assert!(seen.insert(e), "{e} handed out twice");
        if i % 2 == 0 {
            t.cancel(ms(i), e).unwrap();
        } else {
            t.handle_ack(ms(i), u, &ack(s, i + 1, i, 1)).unwrap();
        }
        let _ = drain(&mut t);
    }
    assert_eq!(t.pending(), 0);
    for &e in &seen {
        assert_eq!(t.event_state(e), None);
    }
    // Forged ids (same slot, other generations) are unknown too.
    let last = *seen.iter().next_back().unwrap();
    let forged = EventId::from_bits(last.to_bits() + (1 << 32));
    assert_eq!(t.cancel(ms(2000), forged), Err(CancelError::UnknownEvent(forged)));
}

#[test]
fn a_closed_stream_id_stays_closed_after_its_slot_is_reused() {
    let mut t = tracker(config());
    let a = UserId(1);
    let b = UserId(2);
    let old = t.open_stream(ms(0), a).unwrap();
    t.close_stream(ms(1), old).unwrap();
    let new = t.open_stream(ms(2), b).unwrap();
    assert_ne!(old, new);
    let e = submit(&mut t, ms(3), new, 1);
    let _ = drain(&mut t);
    let closed = StreamError::Closed(old);
    assert_unchanged(&mut t, &[e], &[old, new], one_rejected(a), |t| {
        assert_eq!(t.handle_ack(ms(4), a, &ack(old, 1, 0, 1)), Err(AckError::Stream(closed)));
    });
    assert_unchanged(
        &mut t,
        &[e],
        &[old, new],
        |_| {},
        |t| {
            let r = t.submit(ms(4), old, 9, SubmitOptions::default()).unwrap_err();
            assert_eq!((r.error, r.payload), (SubmitError::Stream(closed), 9));
            assert_eq!(t.close_stream(ms(4), old), Err(closed));
        },
    );
    assert!(t.stream_info(old).is_none());
    assert_eq!(t.stream_info(new).unwrap().user, b);
}

/// The slot half of an id (its low 32 bits; the generation is the high half).
fn slot(e: EventId) -> u32 {
    e.to_bits() as u32
}

/// An event's slot is reused only once its `Finish` command (carrying its
/// payload) has been polled: a submit that supersedes the pending event on
/// its key gets another slot, and each `Finish` hands back its own payload.
#[test]
fn a_finished_slot_is_not_reused_before_its_finish_is_polled() {
    let mut t = tracker(config());
    let u = UserId(1);
    let s = t.open_stream(ms(0), u).unwrap();
    // Nothing drained: every finish below is still waiting to be polled.
    let first = t.submit(ms(0), s, 10, SubmitOptions::conflated(7)).unwrap();
    let second = t.submit(ms(1), s, 20, SubmitOptions::conflated(7)).unwrap();
    let third = t.submit(ms(2), s, 30, SubmitOptions::conflated(7)).unwrap();
    let slots: BTreeSet<u32> = [first, second, third].iter().map(|&e| slot(e)).collect();
    assert_eq!(slots.len(), 3, "no slot reused while its Finish is undrained");
    assert_eq!(t.payload(third), Some(&30));
    assert_eq!(t.payload(first), None);
    let finished: Vec<(EventId, u32)> = drain(&mut t)
        .into_iter()
        .filter_map(|c| match c {
            acktrack::Command::Finish { event, payload, .. } => Some((event, payload)),
            _ => None,
        })
        .collect();
    assert_eq!(finished, vec![(first, 10), (second, 20)]);
    // Drained: the freed slots come back (most recently freed first).
    let fourth = submit(&mut t, ms(3), s, 40);
    assert_eq!(slot(fourth), slot(second));
    assert_ne!(fourth, second);
    assert_eq!(t.payload(fourth), Some(&40));
    assert_eq!(t.payload(third), Some(&30));
}
