//! Token buckets for the retry budget, in micro-tokens so that ratios and
//! per-second refills add up exactly.

use crate::config::RetryBudget;
use crate::time::Instant;

const UNIT: u64 = 1_000_000;

#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    /// Micro-tokens available.
    tokens: u64,
    capacity: u64,
    per_send: u64,
    /// Micro-tokens per microsecond equals tokens per second.
    refill_per_sec: u64,
    refilled_at: Instant,
}

impl TokenBucket {
    pub(crate) fn new(budget: &RetryBudget, now: Instant) -> Self {
        let capacity = u64::from(budget.burst) * UNIT;
        TokenBucket {
            tokens: capacity,
            capacity,
            per_send: u64::from(budget.ratio_percent) * UNIT / 100,
            refill_per_sec: u64::from(budget.refill_per_sec),
            refilled_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.as_micros().saturating_sub(self.refilled_at.as_micros());
        self.refilled_at = self.refilled_at.max(now);
        let earned = elapsed.saturating_mul(self.refill_per_sec);
        self.tokens = self.tokens.saturating_add(earned).min(self.capacity);
    }

    /// A first send earns its share.
    pub(crate) fn on_send(&mut self) {
        self.tokens = (self.tokens + self.per_send).min(self.capacity);
    }

    pub(crate) fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= UNIT
    }

    pub(crate) fn take(&mut self) {
        debug_assert!(self.tokens >= UNIT);
        self.tokens -= UNIT;
    }

    /// When refill alone will have earned a whole token, if it ever will.
    pub(crate) fn token_at(&self) -> Option<Instant> {
        if self.tokens >= UNIT {
            return Some(self.refilled_at);
        }
        if self.refill_per_sec == 0 {
            return None;
        }
        let missing = UNIT - self.tokens;
        let wait = missing.div_ceil(self.refill_per_sec);
        Some(Instant::from_micros(self.refilled_at.as_micros().saturating_add(wait)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_earns_by_sends_and_time() {
        let b = RetryBudget { ratio_percent: 50, burst: 2, refill_per_sec: 10 };
        let mut t = TokenBucket::new(&b, Instant::ZERO);
        assert!(t.has_token(Instant::ZERO));
        t.take();
        t.take();
        assert!(!t.has_token(Instant::ZERO));
        t.on_send();
        assert!(!t.has_token(Instant::ZERO));
        t.on_send();
        assert!(t.has_token(Instant::ZERO));
        t.take();
        assert_eq!(t.token_at(), Some(Instant::from_millis(100)));
        assert!(!t.has_token(Instant::from_micros(99_999)));
        assert!(t.has_token(Instant::from_millis(100)));
        // Capped at the burst.
        assert!(t.has_token(Instant::from_secs(100)));
        t.take();
        t.take();
        assert!(!t.has_token(Instant::from_secs(100)));
    }
}
