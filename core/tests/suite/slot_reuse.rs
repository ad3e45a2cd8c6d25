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
