//! Retry delays: capped exponential backoff with jitter from a seeded ChaCha RNG.

use core::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

use crate::config::{Jitter, RetryPolicy};
use crate::time::micros;

/// The un-jittered delay of `attempt` (1-based): `min(delay_max, base × factor^(attempt-1))`.
pub(crate) fn capped_exponential(policy: &RetryPolicy, base: Duration, attempt: u32) -> u64 {
    let cap = micros(policy.delay_max) as f64;
    let mut d = (micros(base) as f64).min(cap);
    // Bounded: attempts_max ≤ 1000, and the loop stops at the cap.
    for _ in 1..attempt {
        if d >= cap {
            break;
        }
        d = (d * policy.backoff_factor).min(cap);
    }
    (d as u64).max(1)
}

/// Uniform in `lo..=hi`.
fn uniform(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = u128::from(hi - lo) + 1;
    lo + ((u128::from(rng.next_u64()) * span) >> 64) as u64
}

/// The timeout after transmitting `attempt`, in µs (≥ 1). `prev` is the
/// previous delay drawn for this event (decorrelated jitter), 0 for none.
#[cfg(test)]
pub(crate) fn draw_delay(
    policy: &RetryPolicy,
    base: Duration,
    attempt: u32,
    prev: u64,
    rng: &mut ChaCha8Rng,
) -> u64 {
    jitter(policy, capped_exponential(policy, base, attempt), micros(base), prev, rng)
}

/// Jitters `d`, the capped exponential delay of an attempt (µs), as the
/// policy says; `base` is the first attempt's un-jittered delay (µs).
pub(crate) fn jitter(
    policy: &RetryPolicy,
    d: u64,
    base: u64,
    prev: u64,
    rng: &mut ChaCha8Rng,
) -> u64 {
    let drawn = match policy.jitter {
        Jitter::None => d,
        Jitter::Full => uniform(rng, 0, d),
        Jitter::Equal => uniform(rng, d / 2, d),
        Jitter::Decorrelated => {
            let cap = micros(policy.delay_max);
            let lo = base.min(cap);
            let prev = if prev == 0 { lo } else { prev };
            uniform(rng, lo, prev.saturating_mul(3).min(cap).max(lo))
        }
    };
    drawn.max(1)
}

impl RetryPolicy {
    /// The range any policy-abiding delay after `attempt` must fall in, given
    /// the stream's base timeout (`initial_delay`, or the adaptive RTO). Used by
    /// the simulator to check backoff; the decorrelated bound is the loosest
    /// one that holds whatever the earlier draws were.
    pub fn delay_bounds(&self, base: Duration, attempt: u32) -> (Duration, Duration) {
        let d = capped_exponential(self, base, attempt);
        let cap = micros(self.delay_max);
        let (lo, hi) = match self.jitter {
            Jitter::None => (d, d),
            Jitter::Full => (1, d),
            Jitter::Equal => ((d / 2).max(1), d),
            Jitter::Decorrelated => {
                let lo = micros(base).min(cap).max(1);
                let mut hi = lo;
                for _ in 0..attempt.min(64) {
                    hi = hi.saturating_mul(3).min(cap);
                }
                (lo, hi.max(lo))
            }
        };
        (Duration::from_micros(lo), Duration::from_micros(hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            initial_delay: Duration::from_millis(100),
            backoff_factor: 2.0,
            delay_max: Duration::from_secs(1),
            jitter,
            attempts_max: 10,
            deadline: Duration::from_secs(60),
        }
    }

    #[test]
    fn exponential_then_capped() {
        let p = policy(Jitter::None);
        let base = p.initial_delay;
        let got: alloc::vec::Vec<u64> =
            (1..=6).map(|a| capped_exponential(&p, base, a) / 1000).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn uniform_reaches_both_ends_and_every_value_between() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            let v = uniform(&mut rng, 10, 13);
            assert!((10..=13).contains(&v), "{v} outside 10..=13");
            seen[(v - 10) as usize] += 1;
        }
        // Each of the four values about 1000 times: a span one too small
        // never draws 13, one too large draws 14.
        assert!(seen.iter().all(|&n| (850..=1150).contains(&n)), "{seen:?}");
        assert_eq!(uniform(&mut rng, 5, 5), 5);
    }

    #[test]
    fn delay_bounds_are_exactly_each_modes_range() {
        let ms = Duration::from_millis;
        let base = ms(100);
        let bounds = |jitter, attempt| policy(jitter).delay_bounds(base, attempt);
        assert_eq!(bounds(Jitter::None, 1), (ms(100), ms(100)));
        assert_eq!(bounds(Jitter::None, 3), (ms(400), ms(400)));
        assert_eq!(bounds(Jitter::Full, 2), (Duration::from_micros(1), ms(200)));
        assert_eq!(bounds(Jitter::Equal, 1), (ms(50), ms(100)));
        assert_eq!(bounds(Jitter::Equal, 3), (ms(200), ms(400)));
        // Decorrelated: from the base up to base × 3^attempt, capped at 1 s.
        assert_eq!(bounds(Jitter::Decorrelated, 1), (ms(100), ms(300)));
        assert_eq!(bounds(Jitter::Decorrelated, 2), (ms(100), ms(900)));
        assert_eq!(bounds(Jitter::Decorrelated, 3), (ms(100), ms(1000)));
    }

    #[test]
    fn every_jitter_mode_stays_in_its_bounds() {
        for jitter in [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let p = policy(jitter);
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            for _ in 0..200 {
                let mut prev = 0;
                for attempt in 1..=8 {
                    let d = draw_delay(&p, p.initial_delay, attempt, prev, &mut rng);
                    let (lo, hi) = p.delay_bounds(p.initial_delay, attempt);
                    assert!(
                        micros(lo) <= d && d <= micros(hi),
                        "{jitter:?} attempt {attempt}: {d} not in {lo:?}..={hi:?}"
                    );
                    prev = d;
                }
            }
        }
    }
}
