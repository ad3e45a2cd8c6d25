//! Transmit failure: the event is retried now, the failure is counted, and
//! the stream stays usable.

use crate::common;

use acktrack::{Command, Outcome, Seq, UserId};
use common::*;

const U: UserId = UserId(1);

#[test]
fn a_failed_transmission_is_retried_now_and_the_stream_stays_usable() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    t.handle_transmit_failed(ms(3), s, Seq(0)).unwrap();
    assert_eq!(drain(&mut t), [Command::Retry { stream: s, event: e, seq: Seq(0), attempt: 2 }]);
    assert_eq!(t.metrics().transmit_failures, 1);
    assert_eq!(t.user_metrics(U).unwrap().transmit_failures, 1);
    assert!(t.stream_info(s).unwrap().connected);
    let f = submit(&mut t, ms(4), s, 2);
    assert_eq!(transmissions(&drain(&mut t)), [(f, Seq(1), 1)]);
    t.handle_ack(ms(10), U, &ack(s, 2, 1, 1)).unwrap();
    let fin = finishes(&drain(&mut t));
    assert_eq!(fin.len(), 2);
    assert!(fin.iter().all(|(_, o)| o.is_confirmed()));
    assert!(matches!(fin[0], (x, Outcome::Confirmed { attempts: 2, .. }) if x == e));
}

#[test]
fn a_failure_report_for_a_resolved_seq_changes_nothing() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let a = submit(&mut t, ms(0), s, 1);
    let b = submit(&mut t, ms(0), s, 2);
    t.handle_ack(ms(1), U, &ack(s, 1, 0, 1)).unwrap();
    let _ = drain(&mut t);
    assert_unchanged(
        &mut t,
        &[a, b],
        &[s],
        |_| {},
        |t| {
            assert_eq!(t.handle_transmit_failed(ms(2), s, Seq(0)), Ok(()));
        },
    );
}
