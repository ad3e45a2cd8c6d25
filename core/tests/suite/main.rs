//! The acktrack test suite, one module per behaviour, linked into a single
//! binary (one link and one monomorphisation of the tracker instead of
//! ~40: faster `cargo test` and a mutation-testing run that fits in minutes).

mod common;
#[cfg(all(feature = "json", feature = "binary"))]
mod pair;

mod adaptive_timeout;
mod attempts_exhaustion;
mod backoff_jitter;
mod bad_input;
mod cancel;
mod checklist;
mod conflation;
mod deadline;
mod determinism;
mod display;
mod duplicate_late_acks;
mod e2e_lossy;
mod e2e_partition;
mod e2e_reconnect;
mod fairness;
mod fuzz_regressions;
mod isolation;
mod lifecycle;
mod long_times;
mod model_budget;
mod model_tracker;
mod nak;
mod presence;
mod progress;
mod receiver_acks;
mod receiver_bad_input;
mod receiver_delivery;
mod receiver_props;
mod receiver_skip;
mod retry_budget;
mod ring_timing;
mod slot_reuse;
mod spurious_retry;
mod time_regression;
mod transmit_failure;
mod window_queue;
mod wire_bad_input;
mod wire_roundtrip;
