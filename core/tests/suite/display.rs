//! What ids, times, frame kinds and refusals look like in logs and error
//! messages: short, stable and distinct per kind of id.

use acktrack::{FrameKind, Instant, Seq, SubmitError, SubmitOptions, UserId};

use crate::common::*;

#[test]
fn ids_print_with_a_prefix_per_kind_and_their_generation() {
    let mut t = tracker(config());
    let first = t.open_stream(ms(0), UserId(7)).unwrap();
    let second = t.open_stream(ms(0), UserId(7)).unwrap();
    let e = submit(&mut t, ms(0), second, 1);
    assert_eq!(UserId(7).to_string(), "u7");
    assert_eq!(first.to_string(), "s0.0");
    assert_eq!(second.to_string(), "s1.0");
    assert_eq!(e.to_string(), "e0.0");
    assert_eq!(Seq(42).to_string(), "#42");
    // A closed stream's slot comes back with the next generation.
    t.close_stream(ms(1), first).unwrap();
    let reused = t.open_stream(ms(2), UserId(7)).unwrap();
    assert_eq!(reused.to_string(), "s0.1");
}

#[test]
fn instants_print_as_seconds_with_microseconds() {
    assert_eq!(Instant::from_micros(0).to_string(), "0.000000s");
    assert_eq!(Instant::from_micros(1_234_567).to_string(), "1.234567s");
    assert_eq!(Instant::from_millis(60_005).to_string(), "60.005000s");
}

#[test]
fn frame_kinds_print_their_wire_name() {
    let names: Vec<String> = FrameKind::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["event", "ack", "skip", "hello", "nak", "progress"]);
}

#[test]
fn a_rejected_submit_prints_its_reason_and_hides_the_payload() {
    let mut c = config();
    c.flow.global_pending_max = 1;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    submit(&mut t, ms(0), s, 1);
    let rejected = t.submit(ms(0), s, 0xDEAD_BEEF, SubmitOptions::default()).unwrap_err();
    assert_eq!(rejected.error, SubmitError::GlobalPendingFull { cap: 1 });
    assert_eq!(rejected.to_string(), SubmitError::GlobalPendingFull { cap: 1 }.to_string());
    let debug = format!("{rejected:?}");
    assert!(debug.starts_with("Rejected { error: GlobalPendingFull"), "{debug}");
    assert!(!debug.contains(&0xDEAD_BEEFu32.to_string()), "{debug}");
}
