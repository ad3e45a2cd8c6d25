//! Bad input: every kind returns its typed error and leaves the tracker
//! exactly as it was (metrics apart from the rejection counter, event
//! states, payloads, streams, timers, and no command emitted).

use crate::common;

use core::time::Duration;

use acktrack::{
    AckError, CancelError, Config, ConnectError, Echo, EventId, Jitter, RetryBudget, RtoConfig,
    Seq, SeqRange, StreamError, StreamId, SubmitError, SubmitOptions, Tracker, UserId,
};
use common::*;

const U: UserId = UserId(1);

/// A stream with seqs 0..6 sent: 0 and 2 confirmed, 1 and 3..6 in flight,
/// one more event queued (window 5), and a closed second stream.
fn setup() -> (T, StreamId, StreamId, Vec<EventId>) {
    let mut c = config();
    c.flow.window = 5;
    c.ack_ranges_max = 3;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    let closed = t.open_stream(ms(0), U).unwrap();
    let _ = t.open_stream(ms(0), UserId(2)).unwrap();
    let events: Vec<_> = (0..7).map(|i| submit(&mut t, ms(0), s, i)).collect();
    t.handle_ack(ms(1), U, &sack(s, 1, &[(2, 3)], 2, 1)).unwrap();
    t.close_stream(ms(1), closed).unwrap();
    let _ = drain(&mut t);
    assert_eq!(t.stream_info(s).unwrap().next_seq, Seq(6));
    assert_eq!(t.stream_info(s).unwrap().queued, 1);
    (t, s, closed, events)
}

fn check_ack(a: acktrack::Ack, user: UserId, want: AckError) {
    let (mut t, s, closed, events) = setup();
    assert_unchanged(&mut t, &events, &[s, closed], one_rejected(user), |t| {
        assert_eq!(t.handle_ack(ms(2), user, &a), Err(want));
    });
}

#[test]
fn unknown_and_closed_streams() {
    let (mut t, s, closed, events) = setup();
    let unknown = StreamId::from_bits(999);
    // Ids the tracker has not handed out yet: a later generation of a closed
    // slot and of a live one.
    let future = |id: StreamId| StreamId::from_bits((id.to_bits() & 0xFFFF_FFFF) | (5 << 32));
    let (after_closed, after_live) = (future(closed), future(s));
    for (id, err) in [
        (unknown, StreamError::Unknown(unknown)),
        (closed, StreamError::Closed(closed)),
        (after_closed, StreamError::Unknown(after_closed)),
        (after_live, StreamError::Unknown(after_live)),
    ] {
        let streams = [s, closed];
        assert_unchanged(&mut t, &events, &streams, one_rejected(U), |t| {
            assert_eq!(t.handle_ack(ms(2), U, &ack(id, 0, 0, 1)), Err(AckError::Stream(err)));
        });
        assert_unchanged(
            &mut t,
            &events,
            &streams,
            |_| {},
            |t| {
                let r = t.submit(ms(2), id, 77, SubmitOptions::default()).unwrap_err();
                assert_eq!((r.error, r.payload), (SubmitError::Stream(err), 77));
            },
        );
        assert_unchanged(
            &mut t,
            &events,
            &streams,
            |_| {},
            |t| {
                assert_eq!(t.close_stream(ms(2), id), Err(err));
                assert_eq!(t.handle_disconnect(ms(2), id), Err(err));
                assert_eq!(t.handle_connect(ms(2), id, Seq(0)), Err(ConnectError::Stream(err)));
            },
        );
        assert_unchanged(&mut t, &events, &streams, one_rejected(U), |t| {
            let r = t.handle_nak(ms(2), U, id, Seq(0), Duration::ZERO);
            assert_eq!(r, Err(AckError::Stream(err)));
        });
        assert_unchanged(&mut t, &events, &streams, one_rejected(U), |t| {
            let r = t.handle_progress(ms(2), U, id, Seq(0));
            assert_eq!(r, Err(AckError::Stream(err)));
        });
    }
}

#[test]
fn an_ack_from_a_user_the_tracker_never_saw_is_rejected_and_counted_globally() {
    let (mut t, s, closed, events) = setup();
    let stranger = UserId(999);
    let adjust = |snap: &mut Snapshot| snap.metrics.acks_rejected += 1;
    assert_unchanged(&mut t, &events, &[s, closed], adjust, |t| {
        let r = t.handle_ack(ms(2), stranger, &ack(s, 6, 5, 1));
        assert_eq!(r, Err(AckError::NotOwner { stream: s, user: stranger }));
    });
    assert!(t.user_metrics(stranger).is_none(), "no entry is created for a stranger");
}

#[test]
fn unknown_and_finished_events() {
    let (mut t, s, closed, events) = setup();
    let confirmed = events[0];
    let bogus = EventId::from_bits(123_456_789);
    for e in [confirmed, bogus] {
        assert_unchanged(
            &mut t,
            &events,
            &[s, closed],
            |_| {},
            |t| {
                assert_eq!(t.cancel(ms(2), e), Err(CancelError::UnknownEvent(e)));
            },
        );
        assert_eq!(t.event_state(e), None);
        assert_eq!(t.payload(e), None);
        assert_eq!(t.event_user(e), None);
    }
}

#[test]
fn wrong_owner() {
    let (t, s, ..) = setup();
    drop(t);
    check_ack(ack(s, 6, 5, 1), UserId(2), AckError::NotOwner { stream: s, user: UserId(2) });
}

#[test]
fn seqs_never_sent() {
    let (_, s, ..) = setup();
    let next = Seq(6);
    check_ack(ack(s, 7, 5, 1), U, AckError::SeqNotSent { seq: Seq(6), next });
    check_ack(ack(s, 1, 6, 1), U, AckError::SeqNotSent { seq: Seq(6), next });
    check_ack(sack(s, 1, &[(3, 8)], 3, 1), U, AckError::SeqNotSent { seq: Seq(7), next });
    check_ack(ack(s, u64::MAX, 5, 1), U, AckError::SeqNotSent { seq: Seq(u64::MAX - 1), next });
}

#[test]
fn malformed_ranges_change_nothing_even_when_part_of_the_ack_is_fine() {
    let (_, s, ..) = setup();
    let malformed = |index: usize| move |e: &AckError| matches!(e, AckError::MalformedRange { index: i, .. } if *i == index);
    let cases: [(&[(u64, u64)], usize); 5] = [
        (&[(4, 5), (3, 4)], 1), // unsorted
        (&[(3, 5), (4, 6)], 1), // overlapping
        (&[(0, 2)], 0),         // below the cumulative ack (1)
        (&[(3, 3)], 0),         // empty
        (&[(3, 4), (5, 5)], 1), // empty after a good one
    ];
    for (ranges, index) in cases {
        let (mut t, s2, closed, events) = setup();
        assert_eq!(s2, s);
        let a = sack(s, 1, ranges, 3, 1);
        assert_unchanged(&mut t, &events, &[s, closed], one_rejected(U), |t| {
            let err = t.handle_ack(ms(2), U, &a).unwrap_err();
            assert!(malformed(index)(&err), "{ranges:?}: {err:?}");
        });
    }
    let too_many = sack(s, 1, &[(3, 4), (4, 5), (5, 6), (5, 6)], 3, 1);
    check_ack(too_many, U, AckError::TooManyRanges { count: 4, max: 3 });
}

#[test]
fn echo_of_attempt_zero_or_of_an_attempt_not_yet_sent() {
    let (_, s, ..) = setup();
    check_ack(ack(s, 6, 5, 0), U, AckError::ZeroAttempt);
    check_ack(ack(s, 6, 5, 2), U, AckError::AttemptNotSent { seq: Seq(5), attempt: 2, sent: 1 });
}

#[test]
fn nak_and_progress_for_a_seq_never_sent() {
    let (mut t, s, closed, events) = setup();
    let want = Err(AckError::SeqNotSent { seq: Seq(6), next: Seq(6) });
    assert_unchanged(&mut t, &events, &[s, closed], one_rejected(U), |t| {
        assert_eq!(t.handle_nak(ms(2), U, s, Seq(6), Duration::ZERO), want);
    });
    assert_unchanged(&mut t, &events, &[s, closed], one_rejected(U), |t| {
        assert_eq!(t.handle_progress(ms(2), U, s, Seq(6)), want);
    });
    // A transmit failure is reported by the driver, not the peer: rejected
    // the same way but not counted (see `Metrics::acks_rejected`).
    assert_unchanged(
        &mut t,
        &events,
        &[s, closed],
        |_| {},
        |t| {
            assert_eq!(t.handle_transmit_failed(ms(2), s, Seq(6)), want);
        },
    );
}

#[test]
fn resume_beyond_anything_sent() {
    let (mut t, s, closed, events) = setup();
    assert_unchanged(
        &mut t,
        &events,
        &[s, closed],
        |_| {},
        |t| {
            assert_eq!(
                t.handle_connect(ms(2), s, Seq(7)),
                Err(ConnectError::ResumeBeyondSent { resume: Seq(7), next: Seq(6) })
            );
        },
    );
}

#[test]
fn zero_deadline_hands_the_payload_back() {
    let (mut t, s, closed, events) = setup();
    assert_unchanged(
        &mut t,
        &events,
        &[s, closed],
        |_| {},
        |t| {
            let r =
                t.submit(ms(2), s, 5, SubmitOptions::with_deadline(Duration::ZERO)).unwrap_err();
            assert_eq!((r.error, r.payload), (SubmitError::ZeroDeadline, 5));
        },
    );
}

#[test]
fn invalid_config_names_its_field_and_the_allowed_range() {
    type Edit = fn(&mut Config);
    let budget = RetryBudget { ratio_percent: 10, burst: 10, refill_per_sec: 10 };
    let cases: Vec<(&str, Edit)> = vec![
        ("retry.initial_delay", |c| c.retry.initial_delay = Duration::ZERO),
        ("retry.backoff_factor", |c| c.retry.backoff_factor = 0.5),
        ("retry.backoff_factor", |c| c.retry.backoff_factor = f64::INFINITY),
        ("retry.backoff_factor", |c| c.retry.backoff_factor = f64::NAN),
        ("retry.delay_max", |c| c.retry.delay_max = Duration::from_micros(1)),
        ("retry.attempts_max", |c| c.retry.attempts_max = 0),
        ("retry.attempts_max", |c| c.retry.attempts_max = 1001),
        ("retry.deadline", |c| c.retry.deadline = Duration::ZERO),
        ("rto.min", |c| c.rto = Some(RtoConfig { min: Duration::ZERO, ..RtoConfig::default() })),
        ("rto.max", |c| {
            c.rto = Some(RtoConfig { max: Duration::from_millis(1), ..RtoConfig::default() })
        }),
        ("rto.initial", |c| {
            c.rto = Some(RtoConfig { initial: Duration::from_millis(1), ..RtoConfig::default() })
        }),
        ("flow.window", |c| c.flow.window = 0),
        ("flow.queue_max", |c| c.flow.queue_max = u32::MAX),
        ("flow.user_pending_max", |c| c.flow.user_pending_max = 0),
        ("flow.global_pending_max", |c| c.flow.global_pending_max = 0),
        ("flow.streams_max", |c| c.flow.streams_max = 0),
        ("user_retry_budget.ratio_percent", |c| {
            c.user_retry_budget =
                Some(RetryBudget { ratio_percent: 10_001, burst: 1, refill_per_sec: 0 })
        }),
        ("user_retry_budget.burst", |c| {
            c.user_retry_budget =
                Some(RetryBudget { ratio_percent: 0, burst: 0, refill_per_sec: 0 })
        }),
        ("user_retry_budget.refill_per_sec", |c| {
            c.user_retry_budget =
                Some(RetryBudget { ratio_percent: 0, burst: 1, refill_per_sec: u32::MAX })
        }),
        ("global_retry_budget.ratio_percent", |c| {
            c.global_retry_budget =
                Some(RetryBudget { ratio_percent: 10_001, burst: 1, refill_per_sec: 0 })
        }),
        ("global_retry_budget.burst", |c| {
            c.global_retry_budget =
                Some(RetryBudget { ratio_percent: 0, burst: 0, refill_per_sec: 0 })
        }),
        ("global_retry_budget.refill_per_sec", |c| {
            c.global_retry_budget =
                Some(RetryBudget { ratio_percent: 0, burst: 1, refill_per_sec: u32::MAX })
        }),
        ("ack_ranges_max", |c| c.ack_ranges_max = 1025),
    ];
    for (field, edit) in cases {
        let mut c = config();
        c.user_retry_budget = Some(budget);
        c.global_retry_budget = Some(budget);
        c.retry.jitter = Jitter::Equal;
        edit(&mut c);
        let err = Tracker::<u32>::new(c).unwrap_err();
        assert_eq!(err.field, field);
        assert!(!err.allowed.is_empty() && !err.value.is_empty());
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn an_echo_for_a_resolved_seq_is_not_an_error() {
    // Echo seq 0 was confirmed: the ack is valid (duplicate), not rejected.
    let (mut t, s, _, _) = setup();
    let a = acktrack::Ack::cumulative(s, Seq(1), Echo { seq: Seq(0), attempt: 9 });
    assert_eq!(t.handle_ack(ms(2), U, &a), Ok(()));
    assert_eq!(t.metrics().acks_rejected, 0);
    assert_eq!(t.metrics().acks_duplicate, 1);
    let _ = SeqRange::new(0, 1);
}
