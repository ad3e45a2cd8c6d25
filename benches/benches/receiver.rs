//! The receiver: dedup, in-order release and ack generation, per frame.

use std::time::Duration;

use acktrack_benches::clock::Clock;
use acktrack_benches::receiving::{Arrivals, ReceiverLoad};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn receiver(c: &mut Criterion) {
    let mut group = c.benchmark_group("receiver");
    group.throughput(Throughput::Elements(1));
    for (name, arrivals) in [
        ("in_order", Arrivals::InOrder),
        ("duplicates_10pct", Arrivals::Duplicates),
        ("reordered_by_8", Arrivals::Reordered),
    ] {
        let mut load = ReceiverLoad::new(arrivals);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let stopwatch = Clock::from_env().start();
                for _ in 0..iters {
                    load.step();
                }
                stopwatch.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = receiver
}
criterion_main!(benches);
