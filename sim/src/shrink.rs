//! Shrinking a failing run on its recorded choices, and replaying case files.
//!
//! A run's randomness is a tape of raw `u64` draws (see [`Choices`]). The
//! shrinker edits the tape — drops its tail, zeroes and halves draws, deletes
//! chunks — and keeps an edit when the same invariant still fails. Because
//! any tape is a valid world and a zero draw is always the simplest choice,
//! every shrunk case is a real world: fewer users, streams, events and
//! faults, and fewer steps.

use std::path::Path;
use std::time::{Duration, Instant as WallInstant};

use serde::{Deserialize, Serialize};

use crate::driver::SimTracker;
use crate::world::{Invariant, RunResult, Violation};
use crate::{Choices, TRACE_TAIL, Trace, World};

/// A replayable failing case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseFile {
    /// The seed it came from.
    pub seed: u64,
    /// The invariant that fails (its name).
    pub invariant: String,
    /// The failure as first seen.
    pub detail: String,
    /// The recorded choices; past the end every draw is 0.
    pub tape: Vec<u64>,
}

/// Sizes of a run, before and after shrinking.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Size {
    /// Draws on the tape.
    pub draws: usize,
    /// Users.
    pub users: u32,
    /// Streams per user.
    pub streams_per_user: u32,
    /// Workload events.
    pub events: u32,
    /// Fault kinds enabled.
    pub fault_kinds: usize,
    /// Steps until the violation.
    pub steps: u64,
}

/// The result of shrinking.
#[derive(Debug)]
pub struct Shrunk {
    /// The case, ready to write.
    pub case: CaseFile,
    /// Before.
    pub before: Size,
    /// After.
    pub after: Size,
    /// The violation of the shrunk case.
    pub violation: Violation,
    /// Runs tried.
    pub runs: u64,
}

fn run_tape<T: SimTracker>(tape: &[u64]) -> (RunResult, Vec<u64>) {
    let choices = Choices::from_tape(tape.to_vec()).recording();
    let world = World::<T>::new(choices, Trace::new(TRACE_TAIL));
    let (result, used) = world.run_recorded();
    (result, used)
}

fn size_of(r: &RunResult, draws: usize) -> Size {
    let w = &r.config.workload;
    Size {
        draws,
        users: w.users,
        streams_per_user: w.streams_per_user,
        events: w.events,
        fault_kinds: r.config.faults.len(),
        steps: r.violation.as_ref().map_or(r.stats.steps, |v| v.step),
    }
}

/// Shrinks the failing run of `seed` within `budget` of wall time. `None` if
/// the seed does not fail.
pub fn shrink<T: SimTracker>(seed: u64, budget: Duration) -> Option<Shrunk> {
    let choices = Choices::from_seed(seed).recording();
    let (first, tape) = World::<T>::new(choices, Trace::new(TRACE_TAIL)).run_recorded();
    let first_violation = first.violation.clone()?;
    let invariant = first_violation.invariant;
    let before = size_of(&first, tape.len());
    let start = WallInstant::now();
    let mut runs = 0u64;
    let mut best = tape;
    let mut best_result = first;

    // Accepts a candidate if the same invariant still fails; keeps the draws
    // it actually used (a shorter tape when it failed earlier).
    let mut attempt =
        |candidate: Vec<u64>, best: &mut Vec<u64>, best_result: &mut RunResult| -> bool {
            runs += 1;
            let (r, used) = run_tape::<T>(&candidate);
            let same = r.violation.as_ref().is_some_and(|v| v.invariant == invariant);
            let smaller = used.len() < best.len()
                || (used.len() == best.len() && weight(&used) < weight(best))
                || r.violation.as_ref().map(|v| v.step)
                    < best_result.violation.as_ref().map(|v| v.step);
            if same && smaller {
                *best = trim_zeros(used);
                *best_result = r;
                true
            } else {
                false
            }
        };
    let out_of_time = |start: &WallInstant| start.elapsed() > budget;

    let mut progress = true;
    while progress && !out_of_time(&start) {
        progress = false;
        // 1. Zero, then halve, each of the first draws (the world's config).
        for i in 0..best.len().min(160) {
            if out_of_time(&start) {
                break;
            }
            if best.get(i).is_some_and(|&v| v != 0) {
                let mut c = best.clone();
                c[i] = 0;
                if attempt(c, &mut best, &mut best_result) {
                    progress = true;
                    continue;
                }
                let mut c = best.clone();
                if let Some(v) = c.get_mut(i) {
                    *v /= 2;
                }
                progress |= attempt(c, &mut best, &mut best_result);
            }
        }
        // 2. Delete chunks, large to small, anywhere on the tape.
        for size in [1024usize, 256, 64, 16, 4] {
            let mut i = 0;
            while i < best.len() && !out_of_time(&start) {
                let mut c = best.clone();
                c.drain(i..(i + size).min(c.len()));
                if attempt(c, &mut best, &mut best_result) {
                    progress = true;
                } else {
                    i += size;
                }
            }
        }
    }
    let violation = best_result.violation.clone().expect("kept only failing tapes");
    let after = size_of(&best_result, best.len());
    Some(Shrunk {
        case: CaseFile {
            seed,
            invariant: invariant.name().to_string(),
            detail: violation.detail.clone(),
            tape: best,
        },
        before,
        after,
        violation,
        runs,
    })
}

fn weight(tape: &[u64]) -> u128 {
    tape.iter().map(|&v| u128::from(v)).sum()
}

fn trim_zeros(mut tape: Vec<u64>) -> Vec<u64> {
    while tape.last() == Some(&0) {
        tape.pop();
    }
    tape
}

/// Re-runs a case file.
pub fn replay<T: SimTracker>(case: &CaseFile) -> RunResult {
    World::<T>::new(Choices::from_tape(case.tape.clone()), Trace::new(TRACE_TAIL)).run()
}

/// Reads a case file.
pub fn read_case(path: &Path) -> Result<CaseFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a case file.
pub fn write_case(path: &Path, case: &CaseFile) -> Result<(), String> {
    let text = serde_json::to_string(case).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The invariant a case expects, if its name is known.
pub fn invariant_of(case: &CaseFile) -> Option<Invariant> {
    crate::world::ALL_INVARIANTS.iter().copied().find(|i| i.name() == case.invariant)
}
