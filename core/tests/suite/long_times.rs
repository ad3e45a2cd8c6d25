//! Times far apart stay exact: deadlines and timeouts too far from the submit
//! for the tracker's compact form (more than 2^32 µs, 2^40 µs, or forever),
//! latencies of events acked weeks later, and many distinct deadlines.

use crate::common;

use core::time::Duration;

use acktrack::{Command, ExpiryReason, Outcome, SeqRange, SubmitOptions, UserId};
use common::*;

const HOUR: u64 = 3_600_000_000;

/// Far from zero, so the high half of every time is in use.
const T0: u64 = 1 << 41;

#[test]
fn thirty_day_deadlines_and_day_long_backoff_stay_exact() {
    let mut c = config();
    c.retry.initial_delay = Duration::from_secs(3600);
    c.retry.backoff_factor = 10.0;
    c.retry.delay_max = Duration::from_secs(24 * 3600);
    c.retry.attempts_max = 1000;
    c.retry.deadline = Duration::from_secs(30 * 24 * 3600);
    let mut t = tracker(c);
    let (u, v) = (UserId(1), UserId(2));
    let s = t.open_stream(us(T0), u).unwrap();
    let s2 = t.open_stream(us(T0), v).unwrap();
    let e = submit(&mut t, us(T0), s, 1);
    let acked = submit(&mut t, us(T0 + 5), s2, 2);
    let _ = drain(&mut t);

    // Timeouts of 1 h, 10 h, then 24 h each, up to the deadline at 720 h:
    // past 2^40 µs (about 305 h) after the submit they no longer fit an offset.
    let mut expected = Vec::new();
    let (mut at, mut delay) = (T0, HOUR);
    loop {
        at += delay;
        delay = (delay * 10).min(24 * HOUR);
        if at >= T0 + 720 * HOUR {
            break;
        }
        expected.push(at);
    }
    assert!(expected.iter().any(|&at| at - T0 > 1 << 40));

    // Acked after 20 days (its stream's retries go on meanwhile).
    let out = run_until(&mut t, us(T0 + 480 * HOUR + 128));
    let ack_at = us(T0 + 480 * HOUR + 128);
    t.handle_ack(ack_at, v, &ack(s2, 1, 0, 1)).unwrap();
    let confirmed = drain(&mut t);
    // The same timeouts as `e`'s, 5 µs later.
    let sent = 1 + expected.iter().filter(|&&at| at + 5 <= ack_at.as_micros()).count() as u32;
    assert!(confirmed.contains(&Command::Finish {
        event: acked,
        user: v,
        outcome: Outcome::Confirmed {
            attempts: sent,
            latency: Duration::from_micros(480 * HOUR + 123)
        },
        payload: 2,
    }));

    let out: Vec<_> = out.into_iter().chain(run_until(&mut t, us(T0 + 800 * HOUR))).collect();
    let retries: Vec<u64> = out
        .iter()
        .filter(|(_, c)| matches!(c, Command::Retry { event, .. } if *event == e))
        .map(|(at, _)| at.as_micros())
        .collect();
    assert_eq!(retries, expected);
    let expiry: Vec<_> = out
        .iter()
        .filter(|(_, c)| matches!(c, Command::Finish { event, .. } if *event == e))
        .collect();
    assert_eq!(
        expiry,
        [&(
            us(T0 + 720 * HOUR),
            Command::Finish {
                event: e,
                user: u,
                outcome: Outcome::Expired { reason: ExpiryReason::Deadline },
                payload: 1,
            }
        )]
    );
}

#[test]
fn a_nak_delay_beyond_2_to_the_40_microseconds_is_honoured_exactly() {
    let mut t = tracker(config());
    let u = UserId(1);
    let s = t.open_stream(us(T0), u).unwrap();
    let e = t.submit(us(T0), s, 1, SubmitOptions::with_deadline(Duration::MAX)).unwrap();
    let _ = drain(&mut t);
    let delay = (1 << 42) + 7;
    t.handle_nak(us(T0), u, s, acktrack::Seq(0), Duration::from_micros(delay)).unwrap();
    let _ = drain(&mut t);
    assert!(t.poll_timeout().unwrap() <= us(T0 + delay));
    assert!(run_until(&mut t, us(T0 + delay - 1)).is_empty());
    let out = run_until(&mut t, us(T0 + delay));
    assert_eq!(
        out,
        [(
            us(T0 + delay),
            Command::Retry { stream: s, event: e, seq: acktrack::Seq(0), attempt: 2 }
        )]
    );
}

#[test]
fn hundreds_of_distinct_deadlines_each_expire_exactly() {
    let mut c = config();
    c.flow.window = 1024;
    let mut t = tracker(c);
    let u = UserId(1);
    let s = t.open_stream(us(T0), u).unwrap();
    // Twice, so the second round reuses what the first one left.
    for round in 0..2u64 {
        let start = T0 + round * 10 * HOUR;
        let events: Vec<_> = (0..600u64)
            .map(|i| {
                let deadline = Duration::from_micros(1000 * (i + 1) + round);
                let e = t.submit(us(start), s, i as u32, SubmitOptions::with_deadline(deadline));
                (e.unwrap(), start + 1000 * (i + 1) + round)
            })
            .collect();
        let _ = drain(&mut t);
        let out = run_until(&mut t, us(start + HOUR));
        let expired: Vec<_> = out
            .iter()
            .filter_map(|(at, c)| match c {
                Command::Finish { event, outcome, .. } => {
                    assert_eq!(*outcome, Outcome::Expired { reason: ExpiryReason::Deadline });
                    Some((*event, at.as_micros()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(expired, events);
        assert!(out.iter().any(|(_, c)| matches!(
            c,
            Command::Skip { stream, seqs } if *stream == s && *seqs == SeqRange::new(599 + 600 * round, 600 + 600 * round)
        )));
        assert_eq!(t.pending(), 0);
    }
}
