//! The same seed gives the same trace, bit for bit; a recorded tape replays it.

use acktrack::Tracker;
use acktrack_sim::swarm::run_guarded;
use acktrack_sim::{
    Choices, Payload, TRACE_TAIL, Trace, World, count_prefetch, prefetches, run_seed,
};

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in [1, 17, 4242] {
        let a = run_seed(seed);
        let b = run_seed(seed);
        assert_eq!(a.stats.trace_hash, b.stats.trace_hash, "seed {seed}");
        assert_eq!(a.stats.steps, b.stats.steps);
        assert_eq!(a.stats.messages, b.stats.messages);
        assert!(a.stats.steps > 10, "seed {seed} did something");
    }
}

#[test]
fn different_seeds_give_different_traces() {
    assert_ne!(run_seed(1).stats.trace_hash, run_seed(2).stats.trace_hash);
}

#[test]
fn the_determinism_check_passes_on_the_real_tracker() {
    for seed in 100..104 {
        let o = run_guarded::<Tracker<Payload>>(seed, true);
        assert!(o.violation.is_none(), "seed {seed}: {:?}", o.violation);
    }
}

#[test]
fn a_recorded_tape_replays_the_seed() {
    let world =
        World::<Tracker<Payload>>::new(Choices::from_seed(9).recording(), Trace::new(TRACE_TAIL));
    let (first, tape) = world.run_recorded();
    let again =
        World::<Tracker<Payload>>::new(Choices::from_tape(tape), Trace::new(TRACE_TAIL)).run();
    assert_eq!(first.stats.trace_hash, again.stats.trace_hash);
}

#[test]
fn the_trace_file_has_one_json_object_per_record() {
    let path =
        std::env::temp_dir().join(format!("acktrack-sim-trace-{}.jsonl", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let trace = Trace::new(0).with_sink(Box::new(std::io::BufWriter::new(file)));
    let r = World::<Tracker<Payload>>::new(Choices::from_seed(3), trace).run();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() as u64 >= r.stats.steps / 2);
    for line in lines.iter().take(200) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.get("t").is_some() && v.get("kind").is_some(), "{line}");
    }
}

/// A prefetch hint changes where the tracker's time goes, never what it
/// does: the same seed gives the same trace with and without one, and the
/// hint is called (so its paths ran).
#[test]
fn a_prefetch_hint_changes_no_trace() {
    let mut hinted_runs = 0;
    for seed in 0..40 {
        let run = |hint: Option<acktrack::Prefetch>| {
            let before = prefetches();
            let r =
                World::<Tracker<Payload>>::new(Choices::from_seed(seed), Trace::new(TRACE_TAIL))
                    .with_prefetch(hint)
                    .run();
            (r, prefetches() - before)
        };
        let (plain, none) = run(None);
        let (hinted, calls) = run(Some(count_prefetch));
        assert_eq!(none, 0, "seed {seed}: no hint, no call");
        assert!(plain.violation.is_none() && hinted.violation.is_none(), "seed {seed}");
        assert_eq!(plain.stats.trace_hash, hinted.stats.trace_hash, "seed {seed}");
        assert_eq!(plain.stats.steps, hinted.stats.steps, "seed {seed}");
        assert_eq!(plain.stats.messages, hinted.stats.messages, "seed {seed}");
        hinted_runs += usize::from(calls > 0);
    }
    assert!(hinted_runs >= 30, "the hint was called in {hinted_runs} of 40 seeds");
}
