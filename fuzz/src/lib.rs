//! Fuzz harnesses for acktrack. Each module holds one target's input type and
//! its `run` function; `fuzz_targets/*.rs` are one-line wrappers, so the
//! harnesses compile (and can be unit-run) on stable.
//!
//! A harness panics on a broken invariant: libFuzzer records the input as a
//! crash artifact. See `fuzz/README.md`.

pub mod config;
pub mod pair;
pub mod receiver_ops;
pub mod tracker_ops;
pub mod wire_decode;

use arbitrary::Arbitrary;

use core::time::Duration;

/// A span of time chosen by the fuzzer: a count and a unit, so that both
/// microsecond races and hour-long gaps are reachable in a few bytes.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Span {
    /// Microseconds.
    Micros(u16),
    /// Milliseconds.
    Millis(u16),
    /// Seconds.
    Secs(u16),
}

impl Span {
    /// As a `Duration`.
    pub fn duration(self) -> Duration {
        match self {
            Span::Micros(n) => Duration::from_micros(u64::from(n)),
            Span::Millis(n) => Duration::from_millis(u64::from(n)),
            Span::Secs(n) => Duration::from_secs(u64::from(n)),
        }
    }

    /// In microseconds.
    pub fn micros(self) -> u64 {
        self.duration().as_micros() as u64
    }
}

/// A seq chosen relative to something the harness knows (so that plausible
/// values are likely), or anywhere (so that hostile ones are reachable).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SeqSel {
    /// `base + k`.
    Above(u8),
    /// `base - k` (saturating).
    Below(u8),
    /// Any value.
    Raw(u64),
}

impl SeqSel {
    /// The seq, relative to `base`.
    pub fn pick(self, base: u64) -> u64 {
        match self {
            SeqSel::Above(k) => base.saturating_add(u64::from(k)),
            SeqSel::Below(k) => base.saturating_sub(u64::from(k)),
            SeqSel::Raw(v) => v,
        }
    }
}
