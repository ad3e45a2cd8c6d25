//! Policies: retry, adaptive timeout, flow control and retry budgets.

use alloc::format;
use core::time::Duration;

use crate::error::ConfigError;

/// How the delay before each retry is randomised (see "Exponential Backoff And
/// Jitter", AWS Architecture Blog). `d` is the capped exponential delay for the
/// attempt: `min(delay_max, base × factor^(attempt-1))`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Jitter {
    /// Exactly `d`.
    None,
    /// Uniform in `[0, d]` (at least 1 µs).
    Full,
    /// Uniform in `[d/2, d]`.
    #[default]
    Equal,
    /// Uniform in `[base, min(delay_max, 3 × previous delay)]`.
    Decorrelated,
}

/// When and how often to retransmit, and when to give up.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RetryPolicy {
    /// Timeout of the first attempt (when the adaptive timeout is off).
    pub initial_delay: Duration,
    /// Each further attempt waits this many times longer (1.0 to 10.0).
    pub backoff_factor: f64,
    /// No attempt waits longer than this.
    pub delay_max: Duration,
    /// How delays are randomised.
    pub jitter: Jitter,
    /// Transmissions allowed per event, the first included (1 to 1000).
    pub attempts_max: u32,
    /// Default time from submit to giving up; `SubmitOptions::deadline` overrides it.
    pub deadline: Duration,
}

/// RFC 6298 adaptive retransmission timeout, kept per stream and fed only by
/// unambiguous samples (the ack's echo names the attempt it answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RtoConfig {
    /// RTO before the first sample.
    pub initial: Duration,
    /// Lower clamp.
    pub min: Duration,
    /// Upper clamp.
    pub max: Duration,
}

/// Windows, queues and caps: the memory bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FlowControl {
    /// Per stream: transmitted seqs from the lowest unresolved one up, at most
    /// this many (so at most this many in flight, and a bounded seq span).
    pub window: u32,
    /// Per stream: events waiting for the window, at most this many.
    pub queue_max: u32,
    /// Per user: pending (queued or in flight) events, at most this many.
    pub user_pending_max: u32,
    /// Whole tracker: pending events, at most this many.
    pub global_pending_max: u32,
    /// Whole tracker: open streams, at most this many.
    pub streams_max: u32,
}

/// A token bucket bounding retransmissions: each first send earns
/// `ratio_percent / 100` tokens, time earns `refill_per_sec`, the bucket holds
/// at most `burst`, and each retry spends one. An empty bucket defers retries
/// (delayed, never lost; they still expire at their deadline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RetryBudget {
    /// Retry tokens earned per 100 first sends (0 to 10,000).
    pub ratio_percent: u32,
    /// Bucket size, and its initial fill (1 to 1,000,000,000).
    pub burst: u32,
    /// Tokens earned per second of time (0 to 1,000,000,000).
    pub refill_per_sec: u32,
}

/// Everything the tracker needs to know, validated by [`Config::validate`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    /// Retry timing and limits.
    pub retry: RetryPolicy,
    /// Adaptive timeout; `None` uses `retry.initial_delay` for every stream.
    pub rto: Option<RtoConfig>,
    /// Windows, queues and caps.
    pub flow: FlowControl,
    /// Retry budget per user, if any.
    pub user_retry_budget: Option<RetryBudget>,
    /// Retry budget for the whole tracker, if any.
    pub global_retry_budget: Option<RetryBudget>,
    /// Selective ranges accepted per ack (0 to 1024).
    pub ack_ranges_max: u32,
    /// Seed of the ChaCha RNG that draws jitter.
    pub seed: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_delay: Duration::from_millis(500),
            backoff_factor: 2.0,
            delay_max: Duration::from_secs(30),
            jitter: Jitter::Equal,
            attempts_max: 8,
            deadline: Duration::from_secs(60),
        }
    }
}

impl Default for RtoConfig {
    fn default() -> Self {
        RtoConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(200),
            max: Duration::from_secs(60),
        }
    }
}

impl Default for FlowControl {
    fn default() -> Self {
        FlowControl {
            window: 64,
            queue_max: 1024,
            user_pending_max: 10_000,
            global_pending_max: 1_000_000,
            streams_max: 1_000_000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            retry: RetryPolicy::default(),
            rto: None,
            flow: FlowControl::default(),
            user_retry_budget: Some(RetryBudget {
                ratio_percent: 50,
                burst: 64,
                refill_per_sec: 10,
            }),
            global_retry_budget: Some(RetryBudget {
                ratio_percent: 20,
                burst: 10_000,
                refill_per_sec: 1_000,
            }),
            ack_ranges_max: 32,
            seed: 0,
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn check<T: core::fmt::Debug>(
    ok: bool,
    field: &'static str,
    value: T,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    if ok { Ok(()) } else { Err(ConfigError { field, value: format!("{value:?}"), allowed }) }
}

fn check_duration(
    d: Duration,
    min: Duration,
    max: Duration,
    field: &'static str,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    check(d >= min && d <= max, field, d, allowed)
}

impl Config {
    /// Checks every field; the first bad one is named in the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let us = Duration::from_micros(1);
        let r = &self.retry;
        check_duration(r.initial_delay, us, HOUR, "retry.initial_delay", "1µs..=1h")?;
        check(
            r.backoff_factor.is_finite() && (1.0..=10.0).contains(&r.backoff_factor),
            "retry.backoff_factor",
            r.backoff_factor,
            "1.0..=10.0",
        )?;
        check_duration(
            r.delay_max,
            r.initial_delay,
            DAY,
            "retry.delay_max",
            "initial_delay..=24h",
        )?;
        check(
            (1..=1000).contains(&r.attempts_max),
            "retry.attempts_max",
            r.attempts_max,
            "1..=1000",
        )?;
        check_duration(r.deadline, us, 30 * DAY, "retry.deadline", "1µs..=30d")?;
        if let Some(rto) = &self.rto {
            check_duration(rto.min, us, HOUR, "rto.min", "1µs..=1h")?;
            check_duration(rto.max, rto.min, DAY, "rto.max", "rto.min..=24h")?;
            check_duration(rto.initial, rto.min, rto.max, "rto.initial", "rto.min..=rto.max")?;
        }
        let f = &self.flow;
        check((1..=1 << 24).contains(&f.window), "flow.window", f.window, "1..=16777216")?;
        check(f.queue_max <= 1 << 30, "flow.queue_max", f.queue_max, "0..=1073741824")?;
        check(
            (1..=1 << 30).contains(&f.user_pending_max),
            "flow.user_pending_max",
            f.user_pending_max,
            "1..=1073741824",
        )?;
        check(
            (1..=1 << 30).contains(&f.global_pending_max),
            "flow.global_pending_max",
            f.global_pending_max,
            "1..=1073741824",
        )?;
        check(
            (1..=1 << 30).contains(&f.streams_max),
            "flow.streams_max",
            f.streams_max,
            "1..=1073741824",
        )?;
        for (budget, names) in [
            (
                &self.user_retry_budget,
                [
                    "user_retry_budget.ratio_percent",
                    "user_retry_budget.burst",
                    "user_retry_budget.refill_per_sec",
                ],
            ),
            (
                &self.global_retry_budget,
                [
                    "global_retry_budget.ratio_percent",
                    "global_retry_budget.burst",
                    "global_retry_budget.refill_per_sec",
                ],
            ),
        ] {
            if let Some(b) = budget {
                check(b.ratio_percent <= 10_000, names[0], b.ratio_percent, "0..=10000")?;
                check((1..=1_000_000_000).contains(&b.burst), names[1], b.burst, "1..=1000000000")?;
                check(
                    b.refill_per_sec <= 1_000_000_000,
                    names[2],
                    b.refill_per_sec,
                    "0..=1000000000",
                )?;
            }
        }
        check(self.ack_ranges_max <= 1024, "ack_ranges_max", self.ack_ranges_max, "0..=1024")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut c = Config::default();
        c.retry.backoff_factor = f64::NAN;
        assert_eq!(c.validate().unwrap_err().field, "retry.backoff_factor");
        let mut c = Config::default();
        c.retry.delay_max = Duration::from_millis(1);
        assert_eq!(c.validate().unwrap_err().field, "retry.delay_max");
        let mut c = Config::default();
        c.flow.window = 0;
        let e = c.validate().unwrap_err();
        assert_eq!((e.field, e.allowed), ("flow.window", "1..=16777216"));
        assert_eq!(e.to_string(), "invalid config: `flow.window` is 0, allowed 1..=16777216");
    }
}
