//! acktrack's behaviour suite lives in `suite/` (`cargo test -p acktrack-tests`);
//! this library is empty. The suite is a package of its own so that mutation
//! testing can compile it unoptimised while the library under test stays
//! optimised: see `.ci/mutants`.
#![no_std]
