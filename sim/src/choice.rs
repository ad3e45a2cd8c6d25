//! Every random choice of a run, from one seeded ChaCha RNG or from a tape.
//!
//! A run draws raw `u64`s and maps them to values so that *any* sequence of
//! `u64`s is a valid world, and `0` always maps to the simplest value (the
//! smallest count, "no fault"). That is what lets the shrinker work on the
//! recorded choices: it edits the tape (deletes, zeroes, halves) and replays
//! it, and every edited tape is still a world that can run.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// Where the raw draws come from.
#[derive(Debug)]
enum Source {
    Rng(Box<ChaCha8Rng>),
    /// Replays a tape; past its end every draw is 0 (the simplest choice).
    Tape {
        tape: Vec<u64>,
        at: usize,
    },
}

/// The single source of randomness of a run, optionally recording its draws.
#[derive(Debug)]
pub struct Choices {
    source: Source,
    record: Option<Vec<u64>>,
    draws: u64,
}

impl Choices {
    /// Draws from a ChaCha8 RNG seeded with `seed`.
    pub fn from_seed(seed: u64) -> Self {
        Choices {
            source: Source::Rng(Box::new(ChaCha8Rng::seed_from_u64(seed))),
            record: None,
            draws: 0,
        }
    }

    /// Replays `tape`, then zeros.
    pub fn from_tape(tape: Vec<u64>) -> Self {
        Choices { source: Source::Tape { tape, at: 0 }, record: None, draws: 0 }
    }

    /// Also keep every draw, for [`Choices::into_tape`].
    pub fn recording(mut self) -> Self {
        self.record = Some(Vec::new());
        self
    }

    /// The draws made so far, if recording.
    pub fn into_tape(self) -> Option<Vec<u64>> {
        self.record
    }

    /// How many draws were made.
    pub fn draws(&self) -> u64 {
        self.draws
    }

    /// One raw draw.
    #[inline]
    pub fn u64(&mut self) -> u64 {
        let v = match &mut self.source {
            Source::Rng(rng) => rng.next_u64(),
            Source::Tape { tape, at } => {
                let v = tape.get(*at).copied().unwrap_or(0);
                *at += 1;
                v
            }
        };
        self.draws += 1;
        if let Some(r) = &mut self.record {
            r.push(v);
        }
        v
    }

    /// Uniform in `0..n` (0 if `n` is 0); a raw 0 gives 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`; a raw 0 gives `lo`.
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            // Still draw, so the tape layout does not depend on the bounds.
            self.u64();
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`; a raw 0 gives false (for `p < 1`).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        let v = self.u64();
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        let threshold = ((1.0 - p) * 18_446_744_073_709_551_616.0) as u64;
        v > threshold
    }

    /// Uniform in `[0, 1)`; a raw 0 gives 0.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Picks an index with the given integer weights (all zero: index 0).
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        0
    }
}
