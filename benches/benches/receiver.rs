//! The receiver: dedup, in-order release and ack generation, per frame.

use std::time::Duration;

use acktrack_benches::clock::Clock;
use acktrack_benches::receiving::{Arrivals, ReceiverLoad};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn receiver(c: &mut Criterion) {
    let mut group = c.benchmark_group("receiver");
    group.throughput(Throughput::Elements(1));
    for (name, arrivals, reuse) in [
        ("in_order", Arrivals::InOrder, false),
        ("duplicates_10pct", Arrivals::Duplicates, false),
        ("reordered_by_8", Arrivals::Reordered, false),
        // The same, the acks taken into one kept `Ack` (`poll_ack_into`).
        ("reordered_by_8_ack_reused", Arrivals::Reordered, true),
    ] {
        let mut load =
            if reuse { ReceiverLoad::reusing_ack(arrivals) } else { ReceiverLoad::new(arrivals) };
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
