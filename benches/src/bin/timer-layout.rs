//! Where in the slab the events lie that one tick's timeouts fire, in the
//! retry storm: how many of acktrack's 32-byte event slots' cache lines
//! and 4 KiB pages one tick reads, and from how many streams.
//!
//! ```text
//! cargo run --release -p acktrack-benches --bin timer-layout -- 10M 20000 [window]
//! ```
//! Sets the retry storm up with `<in flight>` events as the criterion bench
//! does, then runs `<ticks>` ticks of 1 ms of virtual time (about 1,000
//! retries each), reads the slot of each retried event from its `EventId`,
//! and prints the means of each `window` ticks (1,000 unless given). In a
//! retry storm each event fires again one period (1 ms per 1,000 in
//! flight) after it last fired, so a tick's events are the same ones every
//! period; `tick-latency` times the same ticks. (Not for `expiry`: expired
//! events are replaced by new ones, in other slots.)

use acktrack::{Command, Instant, Tracker};
use acktrack_benches::scenario::{TimeoutKind, Timeouts, parse_size};
use std::collections::BTreeSet;

/// 32-byte slots (`core/src/tracker/events.rs`): 2 per line, 128 per page.
const PER_LINE: u64 = 2;
const PER_PAGE: u64 = 128;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: timer-layout <in flight> <ticks> [window]";
    let (n, ticks, window) = match args.as_slice() {
        [n, ticks] => (n, ticks, 1000),
        [n, ticks, window] => (n, ticks, parse_size(window).expect(usage)),
        _ => panic!("{usage}"),
    };
    let n = parse_size(n).expect(usage);
    let ticks = parse_size(ticks).expect(usage);
    assert!(window > 0, "{usage}: the window is at least one tick");
    let (mut t, d) = Timeouts::setup::<Tracker<()>>(n, TimeoutKind::RetryStorm);
    let mut now = d.now();
    // Per tick: retries, distinct lines, distinct pages, distinct streams.
    let mut per_tick = Vec::with_capacity(ticks as usize);
    for _ in 0..ticks {
        now = Instant::from_micros(now.as_micros() + 1000);
        t.handle_timeout(now);
        let (mut lines, mut pages, mut streams) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let mut retries = 0u64;
        while let Some(command) = t.poll_command() {
            if let Command::Retry { event, stream, .. } = command {
                // The slot index is the low half of the id.
                let slot = u64::from(event.to_bits() as u32);
                lines.insert(slot / PER_LINE);
                pages.insert(slot / PER_PAGE);
                streams.insert(stream.to_bits());
                retries += 1;
            }
        }
        per_tick.push([retries, lines.len() as u64, pages.len() as u64, streams.len() as u64]);
    }
    println!(
        "retry storm, {} in flight: per tick, mean of each {window} ticks: retries, slot lines, slot pages, streams",
        args[0]
    );
    for (i, ticks) in per_tick.chunks(window as usize).enumerate() {
        let mean = |k: usize| ticks.iter().map(|c| c[k]).sum::<u64>() as f64 / ticks.len() as f64;
        println!(
            "  ticks {:>6}-: {:6.0} {:6.0} {:6.0} {:6.0}",
            i as u64 * window,
            mean(0),
            mean(1),
            mean(2),
            mean(3)
        );
    }
}
