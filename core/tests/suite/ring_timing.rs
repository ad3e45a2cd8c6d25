//! Ring timing: first transmissions whose expiries come in seq order share
//! their stream's one timer. Whichever way an event is timed, its timer
//! fires at its exact time, and timers fire in time order across streams.

use crate::common;

use core::time::Duration;

use acktrack::{Command, ExpiryReason, Outcome, Seq, SeqRange, SubmitOptions, UserId};
use common::*;

const A: UserId = UserId(1);
const B: UserId = UserId(2);

#[test]
fn first_timeouts_fire_on_time_and_in_time_order_across_streams() {
    let mut t = tracker(config());
    let (sa, sb) = (t.open_stream(ms(0), A).unwrap(), t.open_stream(ms(0), B).unwrap());
    let a0 = submit(&mut t, ms(0), sa, 0);
    let b0 = submit(&mut t, ms(5), sb, 1);
    let a1 = submit(&mut t, ms(10), sa, 2);
    let b1 = submit(&mut t, ms(15), sb, 3);
    let _ = drain(&mut t);
    assert_eq!(t.poll_timeout(), Some(ms(100)));
    let retry = |stream, event, seq| Command::Retry { stream, event, seq: Seq(seq), attempt: 2 };
    assert_eq!(
        run_until(&mut t, ms(115)),
        [
            (ms(100), retry(sa, a0, 0)),
            (ms(105), retry(sb, b0, 0)),
            (ms(110), retry(sa, a1, 1)),
            (ms(115), retry(sb, b1, 1)),
        ]
    );
    // Each one's second timeout (200 ms) is its own again.
    assert_eq!(t.poll_timeout(), Some(ms(300)));
    // All due at once (a late `handle_timeout`): still in time order.
    t.handle_timeout(ms(1000));
    let order: Vec<_> = transmissions(&drain(&mut t)).into_iter().map(|(e, ..)| e).collect();
    assert_eq!(order, [a0, b0, a1, b1]);
}

#[test]
fn a_ring_timer_left_early_by_an_ack_keeps_the_time_order() {
    let mut t = tracker(config());
    let (sa, sb) = (t.open_stream(ms(0), A).unwrap(), t.open_stream(ms(0), B).unwrap());
    let _a0 = submit(&mut t, ms(0), sa, 0);
    let b0 = submit(&mut t, ms(20), sb, 1);
    let a1 = submit(&mut t, ms(50), sa, 2);
    let _ = drain(&mut t);
    // Acked: stream A's timer still waits for 100 ms, its next event is due
    // at 150 ms, after B's at 120 ms.
    t.handle_ack(ms(60), A, &ack(sa, 1, 0, 1)).unwrap();
    let _ = drain(&mut t);
    t.handle_timeout(ms(1000));
    let order: Vec<_> = transmissions(&drain(&mut t)).into_iter().map(|(e, ..)| e).collect();
    assert_eq!(order, [b0, a1]);
}

#[test]
fn a_later_event_of_one_stream_waits_for_another_streams_earlier_one() {
    let mut t = tracker(config());
    let (sa, sb) = (t.open_stream(ms(0), A).unwrap(), t.open_stream(ms(0), B).unwrap());
    let a0 = submit(&mut t, ms(0), sa, 0);
    let b0 = submit(&mut t, ms(20), sb, 1);
    let a1 = submit(&mut t, ms(50), sa, 2);
    let _ = drain(&mut t);
    // All due at once: A's timer fires a0, then B's (120 ms) comes before a1.
    t.handle_timeout(ms(1000));
    let order: Vec<_> = transmissions(&drain(&mut t)).into_iter().map(|(e, ..)| e).collect();
    assert_eq!(order, [a0, b0, a1]);
}

#[test]
fn events_due_at_once_on_one_stream_fire_in_seq_order_between_other_timers() {
    let mut t = tracker(config());
    let (sa, sb) = (t.open_stream(ms(0), A).unwrap(), t.open_stream(ms(0), B).unwrap());
    let a: Vec<_> = (0..3).map(|i| submit(&mut t, ms(0), sa, i)).collect();
    let b = submit(&mut t, ms(0), sb, 9);
    let a3 = submit(&mut t, ms(1), sa, 3);
    let _ = drain(&mut t);
    t.handle_timeout(ms(100));
    let fired: Vec<_> = transmissions(&drain(&mut t)).into_iter().map(|(e, ..)| e).collect();
    // The four due at 100 ms (in some order between the streams, each
    // stream's in seq order); the one due at 101 ms waits.
    assert_eq!(fired.len(), 4);
    assert!(fired.contains(&b));
    let on_a: Vec<_> = fired.iter().copied().filter(|e| *e != b).collect();
    assert_eq!(on_a, a);
    assert_eq!(t.poll_timeout(), Some(ms(101)));
    assert_eq!(
        run_until(&mut t, ms(101)),
        [(ms(101), Command::Retry { stream: sa, event: a3, seq: Seq(3), attempt: 2 })]
    );
}

#[test]
fn an_acked_event_leaves_no_early_retry_and_the_next_fires_on_time() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), A).unwrap();
    let _e0 = submit(&mut t, ms(0), s, 0);
    let e1 = submit(&mut t, ms(30), s, 1);
    let _ = drain(&mut t);
    t.handle_ack(ms(10), A, &ack(s, 1, 0, 1)).unwrap();
    let _ = drain(&mut t);
    // The stream's timer may still wake at e0's time (early), never later
    // than e1's, and firing early does nothing.
    assert!(t.poll_timeout().is_some_and(|at| at <= ms(130)));
    assert!(run_until(&mut t, ms(129)).is_empty());
    assert_eq!(t.poll_timeout(), Some(ms(130)));
    assert_eq!(
        run_until(&mut t, ms(130)),
        [(ms(130), Command::Retry { stream: s, event: e1, seq: Seq(1), attempt: 2 })]
    );
    // Once nothing is pending, nothing waits on time.
    t.handle_ack(ms(140), A, &ack(s, 2, 1, 2)).unwrap();
    let _ = drain(&mut t);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn a_first_timeout_earlier_than_the_ones_before_it_fires_on_time() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), A).unwrap();
    let e0 = submit(&mut t, ms(0), s, 0);
    // Its deadline (60 ms) is before e0's first timeout (100 ms).
    let short = SubmitOptions::with_deadline(Duration::from_millis(50));
    let e1 = t.submit(ms(10), s, 1, short).unwrap();
    // And this one's timeout (120 ms) after e0's again.
    let e2 = submit(&mut t, ms(20), s, 2);
    let _ = drain(&mut t);
    assert_eq!(t.poll_timeout(), Some(ms(60)));
    let out = run_until(&mut t, ms(120));
    let expired = Outcome::Expired { reason: ExpiryReason::Deadline };
    assert_eq!(
        out,
        [
            (ms(60), Command::Skip { stream: s, seqs: SeqRange::single(Seq(1)) }),
            (ms(60), Command::Finish { event: e1, user: A, outcome: expired, payload: 1 }),
            (ms(100), Command::Retry { stream: s, event: e0, seq: Seq(0), attempt: 2 }),
            (ms(120), Command::Retry { stream: s, event: e2, seq: Seq(2), attempt: 2 }),
        ]
    );
}

#[test]
fn an_event_retransmitted_early_leaves_the_others_on_their_times() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), A).unwrap();
    let e: Vec<_> = (0..3).map(|i| submit(&mut t, ms(10 * i as u64), s, i)).collect();
    let _ = drain(&mut t);
    // The oldest could not be written: retried at once, next timeout 200 ms on.
    t.handle_transmit_failed(ms(25), s, Seq(0)).unwrap();
    assert_eq!(
        transmissions(&drain(&mut t)),
        [(e[0], Seq(0), 2)],
        "retried at once, the others untouched"
    );
    let out = run_until(&mut t, ms(225));
    let fired: Vec<_> = out.into_iter().map(|(at, c)| (at, transmissions(&[c]))).collect();
    assert_eq!(
        fired,
        [
            (ms(110), vec![(e[1], Seq(1), 2)]),
            (ms(120), vec![(e[2], Seq(2), 2)]),
            (ms(225), vec![(e[0], Seq(0), 3)]),
        ]
    );
}

#[test]
fn a_reconnect_retransmits_ring_timed_events_and_times_them_anew() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), A).unwrap();
    let e: Vec<_> = (0..3).map(|i| submit(&mut t, ms(i as u64), s, i)).collect();
    let _ = drain(&mut t);
    t.handle_disconnect(ms(50), s).unwrap();
    t.handle_connect(ms(60), s, Seq(1)).unwrap();
    let out = drain(&mut t);
    assert_eq!(finishes(&out).len(), 1, "seq 0 confirmed by the resume point");
    assert_eq!(transmissions(&out), [(e[1], Seq(1), 2), (e[2], Seq(2), 2)]);
    // Attempt 2 times out 200 ms after the reconnect, nothing fires before.
    assert_eq!(t.poll_timeout(), Some(ms(260)));
    assert!(run_until(&mut t, ms(259)).is_empty());
}
