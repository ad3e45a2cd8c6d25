//! acktrack's `Tracker` against the two baselines, in the same criterion
//! groups so every run reports them side by side (per event, via
//! `Throughput::Elements`). Sizes (events in flight) come from
//! `ACKTRACK_BENCH_SIZES`, default `1k,1M`, and the clock from
//! `ACKTRACK_BENCH_CLOCK` (`wall` or `thread-cpu`); see benches/README.md.
//!
//! Every benchmark runs in steady state: its state is built once (untimed,
//! and only if the filter selects it), then each timed iteration is one event
//! lifecycle, or one tick of timeouts firing.

use std::time::Duration;

use acktrack::Tracker;
use acktrack_benches::clock::Clock;
use acktrack_benches::scenario::{AckOrder, Lifecycle, TimeoutKind, Timeouts, size_label, sizes};
use acktrack_benches::{DelayQueueTracker, HashMapHeap, Tracking};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use criterion::{criterion_group, criterion_main};

/// Full lifecycle: submit, drain `Send`, ack, drain `Finish`; `n` in flight.
fn lifecycle<T: Tracking<()>>(group: &mut BenchmarkGroup<'_, WallTime>, n: u64, order: AckOrder) {
    let mut state: Option<(T, Lifecycle)> = None;
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new(T::NAME, size_label(n)), |b| {
        let (t, driver) = state.get_or_insert_with(|| Lifecycle::setup(n, order));
        let clock = Clock::from_env();
        b.iter_custom(|iters| {
            t.in_context(|t| {
                let stopwatch = clock.start();
                for _ in 0..iters {
                    driver.step(t);
                }
                stopwatch.elapsed()
            })
        });
    });
}

/// Acks handled in batches of this many, prefetched first.
const BATCH: usize = 16;

/// The full lifecycle in batches of [`BATCH`] events: every submit (each
/// `Send` drained), `prefetch_acks` for them all, then every ack (each
/// `Finish` drained); the same events and acks as [`lifecycle`].
fn lifecycle_batched<T: Tracking<()>>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    n: u64,
    order: AckOrder,
) {
    let mut state: Option<(T, Lifecycle)> = None;
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new(T::NAME, size_label(n)), |b| {
        let (t, driver) = state.get_or_insert_with(|| Lifecycle::setup(n, order));
        let mut acks = Lifecycle::batch_room(BATCH);
        let clock = Clock::from_env();
        b.iter_custom(|iters| {
            t.in_context(|t| {
                let stopwatch = clock.start();
                for _ in 0..iters {
                    driver.batch(t, &mut acks);
                }
                stopwatch.elapsed()
            })
        });
    });
}

/// One tick: 1 ms of time passes and `per_tick` timeouts fire (retries or
/// expiries). Refilling the finished events is not timed.
fn timeouts<T: Tracking<()>>(group: &mut BenchmarkGroup<'_, WallTime>, n: u64, kind: TimeoutKind) {
    let mut state: Option<(T, Timeouts)> = None;
    group.throughput(Throughput::Elements(Timeouts::per_tick(n)));
    group.bench_function(BenchmarkId::new(T::NAME, size_label(n)), |b| {
        let (t, driver) = state.get_or_insert_with(|| Timeouts::setup(n, kind));
        let clock = Clock::from_env();
        b.iter_custom(|iters| {
            t.in_context(|t| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let stopwatch = clock.start();
                    let fired = driver.tick(t);
                    timed += stopwatch.elapsed();
                    debug_assert_eq!(fired, driver.expected_per_tick());
                    driver.refill(t);
                }
                timed
            })
        });
    });
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group
}

fn lifecycle_in_order(c: &mut Criterion) {
    let mut g = group(c, "lifecycle_in_order");
    for n in sizes() {
        lifecycle::<Tracker<()>>(&mut g, n, AckOrder::InOrder);
        lifecycle::<HashMapHeap<()>>(&mut g, n, AckOrder::InOrder);
        lifecycle::<DelayQueueTracker<()>>(&mut g, n, AckOrder::InOrder);
    }
    g.finish();
}

fn lifecycle_random_acks(c: &mut Criterion) {
    let mut g = group(c, "lifecycle_random_acks");
    for n in sizes() {
        lifecycle::<Tracker<()>>(&mut g, n, AckOrder::Random);
        lifecycle::<HashMapHeap<()>>(&mut g, n, AckOrder::Random);
        lifecycle::<DelayQueueTracker<()>>(&mut g, n, AckOrder::Random);
    }
    g.finish();
}

fn lifecycle_random_acks_batched(c: &mut Criterion) {
    let mut g = group(c, "lifecycle_random_acks_batched");
    for n in sizes() {
        lifecycle_batched::<Tracker<()>>(&mut g, n, AckOrder::Random);
        lifecycle_batched::<HashMapHeap<()>>(&mut g, n, AckOrder::Random);
        lifecycle_batched::<DelayQueueTracker<()>>(&mut g, n, AckOrder::Random);
    }
    g.finish();
}

fn lifecycle_in_order_batched(c: &mut Criterion) {
    let mut g = group(c, "lifecycle_in_order_batched");
    for n in sizes() {
        lifecycle_batched::<Tracker<()>>(&mut g, n, AckOrder::InOrder);
        lifecycle_batched::<HashMapHeap<()>>(&mut g, n, AckOrder::InOrder);
        lifecycle_batched::<DelayQueueTracker<()>>(&mut g, n, AckOrder::InOrder);
    }
    g.finish();
}

fn retry_storm(c: &mut Criterion) {
    let mut g = group(c, "retry_storm");
    for n in sizes() {
        timeouts::<Tracker<()>>(&mut g, n, TimeoutKind::RetryStorm);
        timeouts::<HashMapHeap<()>>(&mut g, n, TimeoutKind::RetryStorm);
        timeouts::<DelayQueueTracker<()>>(&mut g, n, TimeoutKind::RetryStorm);
    }
    g.finish();
}

fn expiry(c: &mut Criterion) {
    let mut g = group(c, "expiry");
    for n in sizes() {
        timeouts::<Tracker<()>>(&mut g, n, TimeoutKind::Expiry);
        timeouts::<HashMapHeap<()>>(&mut g, n, TimeoutKind::Expiry);
        timeouts::<DelayQueueTracker<()>>(&mut g, n, TimeoutKind::Expiry);
    }
    g.finish();
}

fn config() -> Criterion {
    // Long-running iterations in steady state: ten samples over 3 s each are
    // plenty (millions of events per sample at 1M in flight).
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = lifecycle_in_order, lifecycle_random_acks, retry_storm, expiry,
        lifecycle_in_order_batched, lifecycle_random_acks_batched
}
criterion_main!(benches);
