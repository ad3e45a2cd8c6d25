//! The simulator's test suite in one binary: deliberately broken trackers it
//! must catch, determinism and replay, and scenarios (swarm, coverage,
//! shrinking, reports).

mod broken_trackers;
mod choices;
mod determinism;
mod scenarios;
