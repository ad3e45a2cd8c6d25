//! RFC 6298 retransmission timeout estimator.

use core::time::Duration;

use crate::config::RtoConfig;
use crate::time::micros;

/// Clock granularity G of RFC 6298, §2.
const GRANULARITY_MICROS: u64 = 1_000;

#[derive(Clone, Copy, Debug)]
pub(crate) struct RttEstimator {
    srtt: u64,
    rttvar: u64,
    rto: u64,
    sampled: bool,
}

impl RttEstimator {
    pub(crate) fn new(config: &RtoConfig) -> Self {
        RttEstimator { srtt: 0, rttvar: 0, rto: micros(config.initial), sampled: false }
    }

    /// Feeds one unambiguous round-trip sample.
    pub(crate) fn on_sample(&mut self, sample: Duration, config: &RtoConfig) {
        let r = micros(sample);
        if self.sampled {
            // RTTVAR ← 3/4 RTTVAR + 1/4 |SRTT − R'|, then SRTT ← 7/8 SRTT + 1/8 R'.
            self.rttvar = (3 * self.rttvar + self.srtt.abs_diff(r)) / 4;
            self.srtt = (7 * self.srtt + r) / 8;
        } else {
            self.srtt = r;
            self.rttvar = r / 2;
            self.sampled = true;
        }
        let rto = self.srtt.saturating_add(GRANULARITY_MICROS.max(4 * self.rttvar));
        self.rto = rto.clamp(micros(config.min), micros(config.max));
    }

    pub(crate) fn rto(&self) -> Duration {
        Duration::from_micros(self.rto)
    }

    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.sampled.then(|| Duration::from_micros(self.srtt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_sample_follows_rfc_6298_exactly() {
        let c = RtoConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(1),
            max: Duration::from_secs(60),
        };
        let mut e = RttEstimator::new(&c);
        e.on_sample(Duration::from_millis(100), &c);
        e.on_sample(Duration::from_millis(200), &c);
        // RTTVAR = 3/4 × 50 + 1/4 × |100 − 200| = 62.5 ms;
        // SRTT = 7/8 × 100 + 1/8 × 200 = 112.5 ms; RTO = SRTT + 4 × RTTVAR.
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn converges_to_a_steady_rtt_and_clamps() {
        let c = RtoConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(10),
            max: Duration::from_secs(10),
        };
        let mut e = RttEstimator::new(&c);
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.on_sample(Duration::from_millis(100), &c);
        assert_eq!(e.rto(), Duration::from_millis(300));
        for _ in 0..100 {
            e.on_sample(Duration::from_millis(100), &c);
        }
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert!(e.rto() <= Duration::from_millis(102), "{:?}", e.rto());
        e.on_sample(Duration::from_secs(100), &c);
        assert_eq!(e.rto(), Duration::from_secs(10));
    }
}
