//! acktrack's memory per pending event stays within the benchmark issue's
//! peak bound (64 B) when acks arrive long after or well before the timeouts,
//! run long enough for every timer-wheel bucket the timers pass through to
//! have filled and emptied many times. Its own test binary, so the counting
//! allocator sees only this test.

use acktrack::Tracker;
use acktrack_benches::Tracking;
use acktrack_benches::alloc::{CountingAlloc, reset_peak, stats};
use acktrack_benches::scenario::{AckLatency, WINDOW};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// (steady, peak) bytes per pending event over `ticks` ms after `warm` ms.
fn bytes_per_event(n: u64, latency_ms: u64, warm: u64, ticks: u64) -> (f64, f64) {
    let mut t = Tracker::<()>::with_policy(&AckLatency::policy(), WINDOW);
    let mut driver = AckLatency::open(&mut t, n, latency_ms);
    let opened = stats().current;
    for _ in 0..warm {
        driver.tick(&mut t);
    }
    reset_peak();
    for _ in 0..ticks {
        driver.tick(&mut t);
    }
    let end = stats();
    assert!(driver.acks_fit(), "the driver's ack queue grew: its bytes would count");
    assert!(driver.pending().abs_diff(n) <= 1);
    let per_event = |bytes: usize| (bytes - opened) as f64 / n as f64;
    (per_event(end.current), per_event(end.peak))
}

#[test]
fn memory_per_event_stays_bounded_at_any_ack_latency() {
    // Acks at half the first timeout (nothing retried, every timer removed
    // before it fires), and after the deadline (every event retried seven
    // times, then expired, then acked late). 700 ms runs the 262 ms
    // level-2 ring of the wheel round more than twice.
    for (latency, warm) in [(5, 700), (4000, 6000)] {
        let (steady, peak) = bytes_per_event(8000, latency, warm, 50);
        assert!(peak <= 64.0, "latency {latency} ms: peak {peak:.1} B per event");
        assert!(steady <= 64.0, "latency {latency} ms: {steady:.1} B per event");
    }
}
