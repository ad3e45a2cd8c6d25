//! The prefetch instruction the benches give acktrack's tracker
//! ([`Tracker::set_prefetch`](acktrack::Tracker::set_prefetch)), as an
//! application that wants the speed would. Chosen by
//! `ACKTRACK_BENCH_PREFETCH`: `on` (default) or `off`, to measure the
//! tracker without it (e.g. `benches/ab HEAD HEAD --b-env
//! ACKTRACK_BENCH_PREFETCH=off`), `one-pass`: the hint, but batches of
//! acks prefetched one ack at a time instead of in `prefetch_acks`' two
//! passes, or `acks-only`: the hint, but batches of submits not prefetched
//! (`prefetch_submits` not called). The baselines have nothing to prefetch
//! ahead: they cannot tell which entry comes next.

#![allow(unsafe_code)]

/// `prefetcht0` on x86_64; nothing elsewhere.
pub fn prefetch(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86_64, and a prefetch only hints: it reads
    // nothing the program sees and never faults, whatever the address.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// The hint `ACKTRACK_BENCH_PREFETCH` asks for: [`prefetch`], or none.
pub fn from_env() -> Option<acktrack::Prefetch> {
    match mode() {
        Mode::On | Mode::OnePass | Mode::AcksOnly => Some(prefetch),
        Mode::Off => None,
    }
}

/// Whether `ACKTRACK_BENCH_PREFETCH=one-pass` asks for batches of acks to
/// be prefetched one ack at a time (`Tracker::prefetch_ack` for each), as
/// before `Tracker::prefetch_acks`, with the hint still given.
pub fn one_pass() -> bool {
    static ONE_PASS: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| mode() == Mode::OnePass);
    *ONE_PASS
}

/// Whether batched scenarios call `Tracker::prefetch_submits` before their
/// submits: unless `ACKTRACK_BENCH_PREFETCH=acks-only` asks for the hint with
/// `prefetch_acks` alone, as before `prefetch_submits`.
pub fn submits() -> bool {
    static SUBMITS: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| mode() != Mode::AcksOnly);
    *SUBMITS
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    On,
    Off,
    OnePass,
    AcksOnly,
}

fn mode() -> Mode {
    match std::env::var("ACKTRACK_BENCH_PREFETCH").as_deref() {
        Err(_) | Ok("" | "on") => Mode::On,
        Ok("off") => Mode::Off,
        Ok("one-pass") => Mode::OnePass,
        Ok("acks-only") => Mode::AcksOnly,
        Ok(other) => panic!(
            "ACKTRACK_BENCH_PREFETCH={other}: expected `on`, `off`, `one-pass` or `acks-only`"
        ),
    }
}
