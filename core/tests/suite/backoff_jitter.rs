//! Backoff: the actual gap between transmissions stays within
//! `RetryPolicy::delay_bounds` for every jitter mode, and grows exponentially.

use crate::common;

use std::collections::BTreeMap;

use core::time::Duration;

use acktrack::{Command, EventId, ExpiryReason, Instant, Jitter, Outcome, UserId};
use common::*;

const EVENTS: u32 = 40;
const ATTEMPTS: u32 = 9;

/// Submits `EVENTS` events, never acks, and returns each event's
/// transmission times (index = attempt - 1) and its finish time.
fn transmission_times(jitter: Jitter, seed: u64) -> BTreeMap<EventId, (Vec<Instant>, Instant)> {
    let mut c = config();
    c.retry.jitter = jitter;
    c.retry.initial_delay = Duration::from_millis(100);
    c.retry.delay_max = Duration::from_secs(3);
    c.retry.attempts_max = ATTEMPTS;
    c.retry.deadline = Duration::from_secs(3600);
    c.seed = seed;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), UserId(1)).unwrap();
    let mut times: BTreeMap<EventId, (Vec<Instant>, Instant)> = BTreeMap::new();
    let mut out: Vec<(Instant, Command<u32>)> = Vec::new();
    for i in 0..EVENTS {
        let now = ms(u64::from(i));
        out.extend(run_until(&mut t, now));
        submit(&mut t, now, s, i);
        out.extend(drain(&mut t).into_iter().map(|c| (now, c)));
    }
    out.extend(run_until(&mut t, Instant::from_secs(3600)));
    for (at, c) in out {
        match c {
            Command::Send { event, attempt, .. } | Command::Retry { event, attempt, .. } => {
                let entry = times.entry(event).or_insert((Vec::new(), Instant::MAX));
                assert_eq!(entry.0.len() as u32 + 1, attempt, "attempts go up by one");
                entry.0.push(at);
            }
            Command::Finish { event, outcome, .. } => {
                assert_eq!(outcome, Outcome::Expired { reason: ExpiryReason::AttemptsExhausted });
                times.get_mut(&event).unwrap().1 = at;
            }
            Command::Skip { .. } => {}
        }
    }
    assert_eq!(times.len(), EVENTS as usize);
    times
}

/// Gaps after attempt 1, 2, … (the last one is the timeout of the final attempt).
fn gaps(sends: &[Instant], finish: Instant) -> Vec<Duration> {
    let mut all = sends.to_vec();
    all.push(finish);
    all.windows(2).map(|w| w[1].saturating_duration_since(w[0])).collect()
}

fn check_bounds(jitter: Jitter) -> Vec<Vec<Duration>> {
    let mut c = config();
    c.retry.jitter = jitter;
    c.retry.initial_delay = Duration::from_millis(100);
    c.retry.delay_max = Duration::from_secs(3);
    let policy = c.retry;
    let mut all = Vec::new();
    for seed in [0, 1, 99] {
        for (event, (sends, finish)) in transmission_times(jitter, seed) {
            assert_eq!(sends.len() as u32, ATTEMPTS, "{event}: every attempt was made");
            let gaps = gaps(&sends, finish);
            for (i, gap) in gaps.iter().enumerate() {
                let attempt = i as u32 + 1;
                let (lo, hi) = policy.delay_bounds(policy.initial_delay, attempt);
                assert!(
                    lo <= *gap && *gap <= hi,
                    "{jitter:?} seed {seed} {event} attempt {attempt}: gap {gap:?} not in {lo:?}..={hi:?}"
                );
            }
            all.push(gaps);
        }
    }
    all
}

#[test]
fn no_jitter_is_exact_capped_exponential_backoff() {
    let all = check_bounds(Jitter::None);
    let want: Vec<Duration> =
        [100, 200, 400, 800, 1600, 3000, 3000, 3000, 3000].map(Duration::from_millis).to_vec();
    for gaps in all {
        assert_eq!(gaps, want);
    }
}

#[test]
fn full_jitter_stays_within_zero_to_the_exponential_delay() {
    let all = check_bounds(Jitter::Full);
    // Jitter actually happens: draws differ between events and fall below d/2 sometimes.
    let firsts: std::collections::BTreeSet<_> = all.iter().map(|g| g[0]).collect();
    assert!(firsts.len() > 10, "full jitter draws look constant: {firsts:?}");
    assert!(all.iter().flatten().any(|g| *g < Duration::from_millis(50)));
}

#[test]
fn equal_jitter_stays_within_half_to_the_exponential_delay() {
    let all = check_bounds(Jitter::Equal);
    let firsts: std::collections::BTreeSet<_> = all.iter().map(|g| g[0]).collect();
    assert!(firsts.len() > 10, "equal jitter draws look constant: {firsts:?}");
    // The sixth gap is capped: in [1.5 s, 3 s].
    assert!(all.iter().all(|g| g[5] >= Duration::from_millis(1500)));
}

#[test]
fn decorrelated_jitter_stays_within_base_to_three_times_the_previous_delay() {
    let all = check_bounds(Jitter::Decorrelated);
    let base = Duration::from_millis(100);
    let cap = Duration::from_secs(3);
    for gaps in &all {
        let mut prev = base;
        for gap in gaps {
            assert!(*gap >= base && *gap <= (prev * 3).min(cap).max(base), "{gaps:?}");
            prev = *gap;
        }
    }
    let firsts: std::collections::BTreeSet<_> = all.iter().map(|g| g[0]).collect();
    assert!(firsts.len() > 10, "decorrelated draws look constant: {firsts:?}");
}

#[test]
fn jitter_draws_depend_on_the_seed_only() {
    let a = transmission_times(Jitter::Full, 5);
    let b = transmission_times(Jitter::Full, 5);
    let c = transmission_times(Jitter::Full, 6);
    assert_eq!(a, b);
    assert_ne!(a, c);
}
