//! Time going backwards is clamped to the latest `now` and counted.

use crate::common;

use core::time::Duration;

use acktrack::{Command, Outcome, Seq, UserId};
use common::*;

#[test]
fn an_earlier_now_is_clamped_counted_and_fires_nothing_early() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    t.handle_timeout(ms(50));
    let before = snapshot(&t, &[e], &[s]);
    t.handle_timeout(ms(10));
    assert_eq!(t.poll_command(), None);
    assert_eq!(t.now(), ms(50), "clamped to the latest now");
    let mut after = snapshot(&t, &[e], &[s]);
    assert_eq!(after.metrics.clock_regressions, 1);
    after.metrics.clock_regressions = 0;
    assert_eq!(after, before, "only the counter moved");
}

#[test]
fn inputs_with_an_earlier_now_act_at_the_latest_now() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(0), user).unwrap();
    t.handle_timeout(ms(1000));
    // Submitted "at 0" but the tracker has seen 1 s: its clocks start at 1 s.
    let e = submit(&mut t, ms(0), s, 1);
    assert_eq!(drain(&mut t), [Command::Send { stream: s, event: e, seq: Seq(0), attempt: 1 }]);
    assert_eq!(t.poll_timeout(), Some(ms(1100)));
    assert_eq!(t.metrics().clock_regressions, 1);
    // An ack "at 500 ms" confirms with a latency measured from the clamped times.
    t.handle_ack(ms(500), user, &ack(s, 1, 0, 1)).unwrap();
    assert_eq!(
        finishes(&drain(&mut t)),
        [(e, Outcome::Confirmed { attempts: 1, latency: Duration::ZERO })]
    );
    assert_eq!(t.metrics().clock_regressions, 2);
    assert_eq!(t.now(), ms(1000));
}

#[test]
fn the_deadline_is_measured_from_the_clamped_now() {
    let mut c = config();
    c.retry.deadline = Duration::from_millis(250);
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    t.handle_timeout(ms(1000));
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    let out = run_until(&mut t, ms(2000));
    let fin = out.iter().find(|(_, c)| matches!(c, Command::Finish { .. })).unwrap();
    assert_eq!(fin.0, ms(1250));
    assert!(matches!(fin.1, Command::Finish { event, .. } if event == e));
}

#[test]
fn every_kind_of_input_counts_a_regression() {
    let mut t = tracker(config());
    let user = UserId(1);
    let s = t.open_stream(ms(100), user).unwrap();
    let e = submit(&mut t, ms(100), s, 1);
    let _ = t.open_stream(ms(1), user).unwrap();
    let _ = t.handle_ack(ms(1), user, &ack(s, 0, 0, 1));
    let _ = t.handle_disconnect(ms(1), s);
    let _ = t.handle_connect(ms(1), s, Seq(0));
    let _ = t.cancel(ms(1), e);
    t.handle_timeout(ms(1));
    let _ = t.close_stream(ms(1), s);
    assert_eq!(t.metrics().clock_regressions, 7);
    assert_eq!(t.now(), ms(100));
}
