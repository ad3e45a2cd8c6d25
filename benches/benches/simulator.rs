//! The simulator's speed: simulated network messages per second, one core.
//!
//! Each iteration runs the same 16 seeds (worlds drawn by the swarm, faults
//! and all, with every invariant checked at every step); criterion reports
//! the throughput in messages (frames put on a simulated link).
//! Run: `cargo bench -p acktrack-benches --bench simulator`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SEEDS: std::ops::Range<u64> = 0..16;

fn simulator(c: &mut Criterion) {
    // Deterministic: the same seeds always send the same messages.
    let messages: u64 = SEEDS.map(acktrack_sim::run_seed_messages).sum();
    let mut group = c.benchmark_group("simulator");
    group.throughput(Throughput::Elements(messages));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("swarm_seeds", "0..16"), |b| {
        b.iter(|| SEEDS.map(acktrack_sim::run_seed_messages).sum::<u64>())
    });
    // Wall time should grow linearly with users: same seed, more users.
    for users in [4u32, 16, 64] {
        let messages = acktrack_sim::run_seed_scaled(7, users, 200).stats.messages;
        group.throughput(Throughput::Elements(messages));
        group.bench_function(BenchmarkId::new("users", users), |b| {
            b.iter(|| acktrack_sim::run_seed_scaled(7, users, 200).stats.messages)
        });
    }
    group.finish();
}

criterion_group!(benches, simulator);
criterion_main!(benches);
