//! Adaptive timeout (RFC 6298): the stream's RTO follows a steady RTT, is
//! clamped, drives the first attempt's timeout, and takes samples only from
//! acks whose echo names the event's current attempt.

use crate::common;

use core::time::Duration;

use acktrack::{Command, Config, Instant, RtoConfig, StreamId, UserId};
use common::*;

const U: UserId = UserId(1);

fn adaptive() -> Config {
    let mut c = config();
    c.rto = Some(RtoConfig {
        initial: Duration::from_secs(1),
        min: Duration::from_millis(1),
        max: Duration::from_secs(20),
    });
    c
}

/// Sends one event at `now`, acks it `rtt` later (echoing attempt 1); returns
/// the time of the ack.
fn round_trip(t: &mut T, s: StreamId, now: Instant, rtt: Duration) -> Instant {
    let e = submit(t, now, s, 0);
    let seq = match drain(t).as_slice() {
        [Command::Send { event, seq, .. }] if *event == e => *seq,
        other => panic!("{other:?}"),
    };
    let at = now.saturating_add(rtt);
    t.handle_ack(at, U, &ack(s, seq.0 + 1, seq.0, 1)).unwrap();
    let _ = drain(t);
    at
}

#[test]
fn rto_starts_at_the_initial_value_and_follows_a_steady_rtt() {
    let mut t = tracker(adaptive());
    let s = t.open_stream(ms(0), U).unwrap();
    let info = t.stream_info(s).unwrap();
    assert_eq!((info.srtt, info.rto), (None, Duration::from_secs(1)));
    let mut now = round_trip(&mut t, s, ms(0), Duration::from_millis(100));
    // First sample: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR.
    let info = t.stream_info(s).unwrap();
    assert_eq!(
        (info.srtt, info.rto),
        (Some(Duration::from_millis(100)), Duration::from_millis(300))
    );
    let mut rtos = Vec::new();
    for _ in 0..60 {
        now = round_trip(&mut t, s, now, Duration::from_millis(100));
        rtos.push(t.stream_info(s).unwrap().rto);
    }
    assert!(rtos.windows(2).all(|w| w[1] <= w[0]), "RTO shrinks monotonically: {rtos:?}");
    let info = t.stream_info(s).unwrap();
    assert_eq!(info.srtt, Some(Duration::from_millis(100)));
    // RTTVAR decays to (almost) nothing; the clock granularity (1 ms) remains.
    assert!(
        info.rto >= Duration::from_millis(101) && info.rto <= Duration::from_millis(103),
        "{:?}",
        info.rto
    );

    // The RTT moves to 400 ms: the RTO follows it up.
    for _ in 0..60 {
        now = round_trip(&mut t, s, now, Duration::from_millis(400));
    }
    let info = t.stream_info(s).unwrap();
    let srtt = info.srtt.unwrap();
    assert!(srtt >= Duration::from_millis(399) && srtt <= Duration::from_millis(400), "{srtt:?}");
    assert!(
        info.rto >= Duration::from_millis(400) && info.rto <= Duration::from_millis(420),
        "{:?}",
        info.rto
    );
}

#[test]
fn the_first_attempt_times_out_after_the_current_rto() {
    let mut t = tracker(adaptive());
    let s = t.open_stream(ms(0), U).unwrap();
    let mut now = ms(0);
    for _ in 0..40 {
        now = round_trip(&mut t, s, now, Duration::from_millis(50));
    }
    let rto = t.stream_info(s).unwrap().rto;
    let e = submit(&mut t, now, s, 1);
    let _ = drain(&mut t);
    assert_eq!(t.poll_timeout(), Some(now.saturating_add(rto)));
    let out = run_until(&mut t, now.saturating_add(rto));
    assert!(
        matches!(out.as_slice(), [(at, Command::Retry { event, attempt: 2, .. })] if *event == e && *at == now.saturating_add(rto))
    );
    // The second attempt backs off from the RTO (factor 2, no jitter).
    assert_eq!(t.poll_timeout(), Some(now.saturating_add(rto * 3)));
}

#[test]
fn rto_is_clamped_to_its_bounds() {
    let mut c = adaptive();
    c.rto = Some(RtoConfig {
        initial: Duration::from_secs(1),
        min: Duration::from_millis(200),
        max: Duration::from_secs(2),
    });
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    let mut now = ms(0);
    for _ in 0..30 {
        now = round_trip(&mut t, s, now, Duration::from_millis(5));
    }
    assert_eq!(t.stream_info(s).unwrap().rto, Duration::from_millis(200));
    // A 10 s round trip: the event is retried meanwhile; answer the latest attempt.
    let e = submit(&mut t, now, s, 0);
    let _ = drain(&mut t);
    let later = now.saturating_add(Duration::from_secs(10));
    let out = run_until(&mut t, later);
    let attempt = out
        .iter()
        .filter_map(|(_, c)| match c {
            Command::Retry { event, attempt, .. } if *event == e => Some(*attempt),
            _ => None,
        })
        .max()
        .unwrap();
    // An unambiguous sample of the latest attempt (sent at most 10 s ago).
    t.handle_ack(later, U, &ack(s, 31, 30, attempt)).unwrap();
    assert!(t.stream_info(s).unwrap().rto <= Duration::from_secs(2));
}

#[test]
fn only_an_echo_of_the_current_attempt_is_sampled() {
    let mut t = tracker(adaptive());
    let s = t.open_stream(ms(0), U).unwrap();
    let now = round_trip(&mut t, s, ms(0), Duration::from_millis(100));
    let before = t.stream_info(s).unwrap();
    assert_eq!(before.rto, Duration::from_millis(300));

    // Attempt 1 at `now`, attempt 2 at now + 300 ms; the ack echoes attempt 1.
    let _e = submit(&mut t, now, s, 1);
    let _ = drain(&mut t);
    let retry_at = now.saturating_add(Duration::from_millis(300));
    assert_eq!(run_until(&mut t, retry_at).len(), 1);
    t.handle_ack(retry_at.saturating_add(Duration::from_millis(5)), U, &ack(s, 2, 1, 1)).unwrap();
    let _ = drain(&mut t);
    let after = t.stream_info(s).unwrap();
    assert_eq!(
        (after.srtt, after.rto),
        (before.srtt, before.rto),
        "an old attempt's echo is no sample"
    );
    assert_eq!(t.metrics().spurious_retries, 1);

    // An ack that confirms an event while echoing another, already confirmed
    // seq gives no sample either.
    let now = retry_at.saturating_add(Duration::from_millis(10));
    let _ = submit(&mut t, now, s, 2);
    let _ = drain(&mut t);
    t.handle_ack(now.saturating_add(Duration::from_millis(900)), U, &ack(s, 3, 0, 1)).unwrap();
    let _ = drain(&mut t);
    let after = t.stream_info(s).unwrap();
    assert_eq!((after.srtt, after.rto), (before.srtt, before.rto));

    // An echo of the current attempt is sampled: RTT 20 ms after the retry.
    let now = now.saturating_add(Duration::from_secs(1));
    let _ = submit(&mut t, now, s, 3);
    let _ = drain(&mut t);
    let retry_at = now.saturating_add(before.rto);
    assert_eq!(run_until(&mut t, retry_at).len(), 1);
    t.handle_ack(retry_at.saturating_add(Duration::from_millis(20)), U, &ack(s, 4, 3, 2)).unwrap();
    let after = t.stream_info(s).unwrap();
    // SRTT = 7/8 × 100 + 1/8 × 20 = 90 ms.
    assert_eq!(after.srtt, Some(Duration::from_millis(90)));
}

#[test]
fn a_stream_without_samples_uses_the_configured_initial_delay_when_rto_is_off() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let now = round_trip(&mut t, s, ms(0), Duration::from_millis(3));
    let info = t.stream_info(s).unwrap();
    assert_eq!((info.srtt, info.rto), (None, Duration::from_millis(100)));
    let _ = submit(&mut t, now, s, 0);
    assert_eq!(t.poll_timeout(), Some(now.saturating_add(Duration::from_millis(100))));
}
