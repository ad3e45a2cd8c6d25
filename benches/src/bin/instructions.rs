//! Runs one bench scenario for a fixed number of events, for counting
//! instructions and cycles per event with `perf stat` (deterministic where
//! criterion's timings are not: a busy machine does not change the count).
//!
//! ```text
//! cargo build --release -p acktrack-benches --bin instructions
//! perf stat -e instructions,cycles target/release/instructions in-order 1M 0
//! perf stat -e instructions,cycles target/release/instructions in-order 1M 5000000
//! ```
//! The difference between the two runs, divided by the events, is the cost
//! per event of the measured loop alone (the setup cancels out).
//! Scenarios: `in-order`, `random`, their `in-order-batched` and
//! `random-batched` forms (acks in batches of 16, prefetched), `retry-storm`,
//! `expiry`, and the
//! receiver's `receiver-in-order`, `receiver-duplicates`, `receiver-reordered`
//! and `receiver-reordered-reuse` (acks taken with `poll_ack_into`)
//! (frames, as in the `receiver` bench; `<in flight>` is ignored there).

use acktrack::Tracker;
use acktrack_benches::alloc::NativePlacement;
use acktrack_benches::receiving::{Arrivals, ReceiverLoad};
use acktrack_benches::scenario::{AckOrder, Lifecycle, TimeoutKind, Timeouts, parse_size};

/// Large blocks placed as glibc places them natively, not as valgrind does
/// (see [`NativePlacement`]): cache figures under cachegrind then count the
/// lines a native run reads.
#[global_allocator]
static ALLOC: NativePlacement = NativePlacement;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: instructions <in-order|random|in-order-batched|random-batched|retry-storm|expiry|receiver-in-order|receiver-duplicates|receiver-reordered|receiver-reordered-reuse> <in flight> <events>";
    let [scenario, n, events] = args.as_slice() else { panic!("{usage}") };
    let n = parse_size(n).expect(usage);
    let events = parse_size(events).expect(usage);
    let done = match scenario.as_str() {
        "in-order" | "random" => {
            let order = if scenario == "random" { AckOrder::Random } else { AckOrder::InOrder };
            let (mut t, mut d) = Lifecycle::setup::<Tracker<()>>(n, order);
            let before = d.finished;
            for _ in 0..events {
                d.step(&mut t);
            }
            d.finished - before
        }
        "in-order-batched" | "random-batched" => {
            let order =
                if scenario == "random-batched" { AckOrder::Random } else { AckOrder::InOrder };
            let (mut t, mut d) = Lifecycle::setup::<Tracker<()>>(n, order);
            // Batches of 16, prefetched (as the `*_batched` benches).
            let mut acks = Lifecycle::batch_room(16);
            let before = d.finished;
            for _ in 0..events / 16 {
                d.batch(&mut t, &mut acks);
            }
            d.finished - before
        }
        "retry-storm" | "expiry" => {
            let kind =
                if scenario == "expiry" { TimeoutKind::Expiry } else { TimeoutKind::RetryStorm };
            let (mut t, mut d) = Timeouts::setup::<Tracker<()>>(n, kind);
            let mut fired = 0;
            while fired < events {
                fired += d.tick(&mut t);
                d.refill(&mut t);
            }
            fired
        }
        "receiver-in-order"
        | "receiver-duplicates"
        | "receiver-reordered"
        | "receiver-reordered-reuse" => {
            let arrivals = match scenario.as_str() {
                "receiver-in-order" => Arrivals::InOrder,
                "receiver-duplicates" => Arrivals::Duplicates,
                _ => Arrivals::Reordered,
            };
            let mut load = if scenario == "receiver-reordered-reuse" {
                ReceiverLoad::reusing_ack(arrivals)
            } else {
                ReceiverLoad::new(arrivals)
            };
            for _ in 0..events {
                load.step();
            }
            load.frames
        }
        _ => panic!("{usage}"),
    };
    println!("{scenario} {n} in flight: {done} events");
}
