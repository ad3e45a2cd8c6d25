//! Window and bounded queue: at most `window` seqs in flight per stream, the
//! rest wait in a bounded FIFO and go out as acks open the window; every cap
//! is a typed `SubmitError` that hands the payload back; a full window shows
//! in the metrics.

use crate::common;

use acktrack::{EventState, Seq, SubmitError, SubmitOptions, UserId};
use common::*;

const U: UserId = UserId(1);

#[test]
fn queued_events_go_out_in_order_as_acks_open_the_window() {
    let mut c = config();
    c.flow.window = 2;
    c.flow.queue_max = 3;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    let events: Vec<_> = (0..5).map(|i| submit(&mut t, ms(0), s, i)).collect();
    assert_eq!(transmissions(&drain(&mut t)), [(events[0], Seq(0), 1), (events[1], Seq(1), 1)]);
    for &e in &events[2..] {
        assert_eq!(t.event_state(e), Some(EventState::Queued));
    }
    let m = t.metrics();
    assert_eq!((m.in_flight, m.queued, m.window_full_events), (2, 3, 3));
    assert_eq!(t.user_metrics(U).unwrap().window_full_events, 3);

    // Over the queue cap: typed error naming the cap, payload handed back.
    let r = t.submit(ms(1), s, 99, SubmitOptions::default()).unwrap_err();
    assert_eq!((r.error, r.payload), (SubmitError::StreamQueueFull { cap: 3 }, 99));
    assert_eq!(t.metrics().rejected_stream_queue, 1);
    assert_eq!(t.user_metrics(U).unwrap().rejected_stream_queue, 1);
    assert_eq!(t.metrics().submitted, 5);

    // Seq 1 acked out of order: the window spans from the floor (seq 0), so
    // nothing more may go out yet.
    t.handle_ack(ms(10), U, &sack(s, 0, &[(1, 2)], 1, 1)).unwrap();
    assert!(transmissions(&drain(&mut t)).is_empty());
    // Seq 0 acked: two slots open, the queue's head goes out first.
    t.handle_ack(ms(20), U, &ack(s, 2, 0, 1)).unwrap();
    assert_eq!(transmissions(&drain(&mut t)), [(events[2], Seq(2), 1), (events[3], Seq(3), 1)]);
    assert!(t.metrics().window_full_micros == 0, "the queue is not empty yet");
    t.handle_ack(ms(30), U, &ack(s, 3, 2, 1)).unwrap();
    assert_eq!(transmissions(&drain(&mut t)), [(events[4], Seq(4), 1)]);
    // The window was full with a non-empty queue from 0 to 30 ms.
    assert_eq!(t.metrics().window_full_micros, 30_000);
    assert_eq!(t.user_metrics(U).unwrap().window_full_micros, 30_000);
    assert_eq!(t.metrics().queued, 0);
    // With room again, a submit goes straight out.
    t.handle_ack(ms(40), U, &ack(s, 5, 4, 1)).unwrap();
    let _ = drain(&mut t);
    let e = submit(&mut t, ms(41), s, 7);
    assert_eq!(transmissions(&drain(&mut t)), [(e, Seq(5), 1)]);
}

#[test]
fn the_user_pending_cap_is_a_typed_error_that_hands_the_payload_back() {
    let mut c = config();
    c.flow.user_pending_max = 3;
    let mut t = tracker(c);
    let s1 = t.open_stream(ms(0), U).unwrap();
    let s2 = t.open_stream(ms(0), U).unwrap();
    for i in 0..3 {
        submit(&mut t, ms(0), if i == 0 { s1 } else { s2 }, i);
    }
    let _ = drain(&mut t);
    let before = snapshot(&t, &[], &[s1, s2]);
    let r = t.submit(ms(1), s1, 42, SubmitOptions::default()).unwrap_err();
    assert_eq!((r.error, r.payload), (SubmitError::UserPendingFull { cap: 3 }, 42));
    assert_eq!(t.poll_command(), None);
    let mut after = snapshot(&t, &[], &[s1, s2]);
    assert_eq!(after.metrics.rejected_user_cap, 1);
    assert_eq!(after.users[0].1.rejected_user_cap, 1);
    after.metrics.rejected_user_cap = 0;
    after.users[0].1.rejected_user_cap = 0;
    assert_eq!(after, before);
    // Once one finishes, there is room again.
    t.handle_ack(ms(2), U, &ack(s1, 1, 0, 1)).unwrap();
    assert!(t.submit(ms(3), s1, 43, SubmitOptions::default()).is_ok());
}

#[test]
fn the_global_pending_cap_is_a_typed_error() {
    let mut c = config();
    c.flow.global_pending_max = 4;
    let mut t = tracker(c);
    let a = t.open_stream(ms(0), UserId(1)).unwrap();
    let b = t.open_stream(ms(0), UserId(2)).unwrap();
    for i in 0..4 {
        submit(&mut t, ms(0), if i % 2 == 0 { a } else { b }, i);
    }
    let r = t.submit(ms(0), b, 5, SubmitOptions::default()).unwrap_err();
    assert_eq!((r.error, r.payload), (SubmitError::GlobalPendingFull { cap: 4 }, 5));
    assert_eq!(t.metrics().rejected_global_cap, 1);
    assert_eq!(t.user_metrics(UserId(2)).unwrap().rejected_global_cap, 1);
    assert_eq!(t.user_metrics(UserId(1)).unwrap().rejected_global_cap, 0);
    assert_eq!(t.pending(), 4);
}

#[test]
fn a_zero_queue_means_submits_beyond_the_window_are_refused() {
    let mut c = config();
    c.flow.window = 1;
    c.flow.queue_max = 0;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    submit(&mut t, ms(0), s, 1);
    let r = t.submit(ms(0), s, 2, SubmitOptions::default()).unwrap_err();
    assert_eq!(r.error, SubmitError::StreamQueueFull { cap: 0 });
}

#[test]
fn while_disconnected_every_submit_queues_so_a_zero_queue_refuses_it() {
    let mut c = config();
    c.flow.queue_max = 0;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    t.handle_disconnect(ms(1), s).unwrap();
    let r = t.submit(ms(2), s, 1, SubmitOptions::default()).unwrap_err();
    assert_eq!((r.error, r.payload), (SubmitError::StreamQueueFull { cap: 0 }, 1));
    assert_eq!(t.pending(), 0);
    assert!(drain(&mut t).is_empty());
}
