//! Benches for acktrack, and the baseline trackers they compare against.
//!
//! - [`Tracking`]: the job (submit, first send, ack by stream and seq, retry
//!   on timeout, expire at the deadline) as a small trait shaped like
//!   acktrack's [`Tracker`](acktrack::Tracker), implemented by the tracker and
//!   by the two baselines, so one bench function drives all three:
//!   - [`HashMapHeap`]: a std `HashMap` + a `BinaryHeap` of timers with lazy
//!     deletion, the obvious design;
//!   - [`DelayQueueTracker`]: `tokio_util::time::DelayQueue` + a key map on a
//!     paused tokio clock, the tokio design.
//! - [`scenario`]: the steady-state scenarios the benches time, and
//!   [`receiving`] the receiver's.
//! - [`alloc`]: a counting global allocator, for bytes per in-flight event.
//! - [`clock`]: wall time, or thread CPU time on a shared machine.
//! - [`prefetch`]: the prefetch hint acktrack's tracker is given.
//!
//! See `benches/README.md` for how to run them and the results.

pub mod alloc;
pub mod clock;
mod delay_queue;
mod hashmap_heap;
pub mod prefetch;
pub mod receiving;
pub mod scenario;
mod tracking;

pub use delay_queue::DelayQueueTracker;
pub use hashmap_heap::HashMapHeap;
pub use tracking::{Policy, Tracking};
