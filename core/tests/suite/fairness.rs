//! Fairness: one user's flood never delays another user's events, and cannot
//! push another user over any cap.

use crate::common;

use acktrack::{Command, EventState, SubmitError, SubmitOptions, UserId};
use common::*;

const A: UserId = UserId(1);
const B: UserId = UserId(2);

#[test]
fn a_flooding_user_does_not_delay_another_users_events() {
    let mut c = config();
    c.flow.window = 64;
    c.flow.queue_max = 100_000;
    c.flow.user_pending_max = 100_064;
    c.flow.global_pending_max = 200_000;
    let mut t = tracker(c);
    let sa = t.open_stream(ms(0), A).unwrap();
    let sb = t.open_stream(ms(0), B).unwrap();
    for i in 0..100_064u32 {
        submit(&mut t, ms(0), sa, i);
    }
    assert_eq!(drain(&mut t).len(), 64);
    assert_eq!(t.user_metrics(A).unwrap().queued, 100_000);
    // A is at every cap it has: its stream queue and its user cap.
    let r = t.submit(ms(0), sa, 0, SubmitOptions::default()).unwrap_err();
    assert_eq!(r.error, SubmitError::UserPendingFull { cap: 100_064 });

    // B's 10 events go out immediately, each with its own submit.
    for i in 0..10u32 {
        let e = t.submit(ms(1), sb, i, SubmitOptions::default()).expect("B is not capped by A");
        match drain(&mut t).as_slice() {
            [Command::Send { stream, event, .. }] => assert_eq!((*stream, *event), (sb, e)),
            other => panic!("B's event {i} waited: {other:?}"),
        }
        assert!(matches!(t.event_state(e), Some(EventState::InFlight { .. })));
    }
    let mb = t.user_metrics(B).unwrap();
    assert_eq!((mb.sent, mb.queued, mb.window_full_events), (10, 0, 0));
    assert_eq!(mb.rejected_user_cap + mb.rejected_stream_queue + mb.rejected_global_cap, 0);
    assert_eq!(t.user_metrics(A).unwrap().rejected_user_cap, 1);

    // B acks its events while A's backlog is still there: confirmed at once.
    t.handle_ack(ms(5), B, &ack(sb, 10, 9, 1)).unwrap();
    assert_eq!(finishes(&drain(&mut t)).len(), 10);
    assert_eq!(t.user_metrics(B).unwrap().confirmed, 10);
}

#[test]
fn a_flooding_user_cannot_push_another_over_the_user_cap() {
    let mut c = config();
    c.flow.window = 4;
    c.flow.queue_max = 1000;
    c.flow.user_pending_max = 50;
    c.flow.global_pending_max = 101;
    let mut t = tracker(c);
    let sa1 = t.open_stream(ms(0), A).unwrap();
    let sa2 = t.open_stream(ms(0), A).unwrap();
    let sb = t.open_stream(ms(0), B).unwrap();
    // A floods both of its streams until refused.
    let mut accepted = 0;
    for i in 0..200u32 {
        if t.submit(ms(0), if i % 2 == 0 { sa1 } else { sa2 }, i, SubmitOptions::default()).is_ok()
        {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 50);
    // B still has its whole allowance.
    for i in 0..50u32 {
        t.submit(ms(0), sb, i, SubmitOptions::default()).expect("B's allowance is its own");
    }
    let r = t.submit(ms(0), sb, 0, SubmitOptions::default()).unwrap_err();
    assert_eq!(r.error, SubmitError::UserPendingFull { cap: 50 });
    assert_eq!(t.user_metrics(A).unwrap().rejected_user_cap, 150);
    assert_eq!(t.user_metrics(B).unwrap().rejected_user_cap, 1);
}
