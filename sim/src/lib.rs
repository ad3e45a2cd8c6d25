//! A deterministic simulator for acktrack, in the spirit of TigerBeetle's
//! VOPR and FoundationDB's simulator, specialised for delivery.
//!
//! One seed draws a whole world — users and streams, a workload, a network
//! with latency, loss, duplication, reordering, partitions, drops, crashes,
//! clock jumps and malicious clients, and the tracker's policy — and runs it
//! on a virtual clock, checking the invariants of `DESIGN.md` on every step.
//! The same seed and code give the same trace, bit for bit.
//!
//! # What is checked, on every step
//! Every input to the tracker is mirrored into a reference model
//! (`model.rs`) that predicts what a correct tracker must answer; every
//! command that comes out is judged against it (`checks.rs`):
//! - each event finishes exactly once and is never transmitted after
//!   ([`Invariant::FinishOnce`], [`Invariant::SentAfterFinish`]);
//! - only an ack from the owner's own client, covering a seq that client
//!   really received, confirms; foreign, impossible and garbage acks are
//!   rejected and change nothing ([`Invariant::Isolation`]);
//! - the real [`acktrack::Receiver`] releases each event at most once per
//!   incarnation, in order where asked ([`Invariant::Delivery`], [`Invariant::Order`]);
//! - attempts, deadlines and backoff within policy ([`Invariant::Attempts`],
//!   [`Invariant::Deadline`], [`Invariant::Backoff`]);
//! - the window, the queues and the pending caps, and backpressure exactly
//!   when a cap is hit ([`Invariant::Window`], [`Invariant::Caps`]);
//! - every counter and gauge, globally and per user, equals the model's
//!   ([`Invariant::Metrics`]).
//!
//! Then the liveness phase heals every fault and reconnects every client:
//! everything pending must finish by its deadline as the server's clock reads
//! it (the bound), and one probe per stream, from a client that no longer
//! naks, must be confirmed within a round trip and leave its receiver waiting
//! for nothing ([`Invariant::Liveness`]).
//!
//! # Command line
//! ```text
//! acktrack-sim run --seed N [--trace FILE]        one run, JSON-lines trace
//! acktrack-sim swarm --seeds A..B [--jobs J] [--check-determinism] [--report DIR] [--require-coverage]
//! acktrack-sim shrink --seed N [--out FILE]       minimise a failure into a case file
//! acktrack-sim replay FILE                        re-run a case file
//! ```
//!
//! ```
//! let result = acktrack_sim::run_seed(7);
//! assert!(result.violation.is_none(), "{:?}", result.violation);
//! assert!(result.stats.messages > 0);
//! ```
#![forbid(unsafe_code)]

mod checks;
mod choice;
mod client;
mod coverage;
mod driver;
mod faults;
mod liveness;
mod model;
mod net;
pub mod report;
pub mod shrink;
pub mod swarm;
mod trace;
mod violation;
mod workload;
mod world;
mod world_config;

pub use choice::Choices;
pub use coverage::Coverage;
pub use driver::{Payload, SimTracker};
pub use trace::{Trace, TraceEvent, TraceRecord};
pub use world::{ALL_INVARIANTS, Invariant, RunResult, RunStats, Violation, World};
pub use world_config::{FaultKind, LatencyModel, WorldConfig};

use acktrack::Tracker;

/// Trace records kept for a violation report.
pub const TRACE_TAIL: usize = 40;

/// Runs one seed against the real tracker.
pub fn run_seed(seed: u64) -> RunResult {
    run_seed_with::<Tracker<Payload>>(seed)
}

/// Runs one seed against any [`SimTracker`] (tests wrap the real one).
pub fn run_seed_with<T: SimTracker>(seed: u64) -> RunResult {
    World::<T>::new(Choices::from_seed(seed), Trace::new(TRACE_TAIL))
        .with_prefetch(prefetch_for(seed))
        .run()
}

std::thread_local! {
    static PREFETCHES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The prefetch hint simulated trackers get: it counts its calls on this
/// thread ([`prefetches`]). A real prefetch would gain a simulation
/// nothing; the count shows that the hinted paths ran.
pub fn count_prefetch(address: *const u8) {
    let _ = address;
    PREFETCHES.with(|n| n.set(n.get() + 1));
}

/// How many times [`count_prefetch`] was called on this thread.
pub fn prefetches() -> u64 {
    PREFETCHES.with(std::cell::Cell::get)
}

/// The prefetch hint of a seed's tracker: [`count_prefetch`] for odd
/// seeds, none for even ones, so that a swarm runs both paths. Either way
/// the trace is the same.
pub fn prefetch_for(seed: u64) -> Option<acktrack::Prefetch> {
    (seed % 2 == 1).then_some(count_prefetch as acktrack::Prefetch)
}

/// Runs one world from a choice source, with a trace.
pub fn run_choices<T: SimTracker>(choices: Choices, trace: Trace) -> RunResult {
    World::<T>::new(choices, trace).run()
}

/// Runs one seed and returns the number of simulated network messages (for benches).
pub fn run_seed_messages(seed: u64) -> u64 {
    run_seed(seed).stats.messages
}

/// Runs the world of `seed` resized to `users` users with `events_per_user`
/// events each (for scaling benches: cost should grow linearly with users).
pub fn run_seed_scaled(seed: u64, users: u32, events_per_user: u32) -> RunResult {
    let mut c = Choices::from_seed(seed);
    let mut config = WorldConfig::draw(&mut c);
    config.workload.users = users.max(1);
    config.workload.events = events_per_user.saturating_mul(users.max(1));
    // Keep the arrival rate per user constant.
    config.workload.arrival_mean_us =
        (config.workload.arrival_mean_us / u64::from(users.max(1))).max(1);
    World::<Tracker<Payload>>::with_config(config, c, Trace::new(TRACE_TAIL)).run()
}
