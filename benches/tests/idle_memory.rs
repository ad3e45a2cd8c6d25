//! Streams that were busy once and are idle now hold little memory: the
//! per-stream seq rings and queues, and the command queue, give their room
//! back. Its own test binary, so the counting allocator sees only this test.

use acktrack::{Ack, Instant, Seq, Tracker, UserId};
use acktrack_benches::Tracking;
use acktrack_benches::alloc::{CountingAlloc, stats};
use acktrack_benches::scenario::{Lifecycle, WINDOW};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn idle_streams_give_back_their_rings_and_queues() {
    let streams = 200u64;
    // Beyond the window (4096): the last 1904 of each burst wait in the
    // stream's queue until the first ack opens the window.
    let burst = 6000u64;
    let mut t = Tracker::<()>::with_policy(&Lifecycle::policy(), WINDOW);
    let ids: Vec<_> = (0..streams)
        .map(|i| Tracking::open_stream(&mut t, Instant::ZERO, UserId(i)).unwrap())
        .collect();
    let opened = stats().current;
    let mut one_busy = 0;
    for (i, &stream) in ids.iter().enumerate() {
        let now = Instant::from_millis(i as u64);
        for _ in 0..burst {
            Tracking::submit(&mut t, now, stream, ()).unwrap();
            while Tracking::poll_command(&mut t).is_some() {}
        }

        for cumulative in [u64::from(WINDOW), burst] {
            let ack = Ack { stream, cumulative: Seq(cumulative), ranges: vec![], echo: None };
            Tracking::handle_ack(&mut t, now, UserId(i as u64), &ack).unwrap();
            if i == 0 {
                // The burst's commands, all at once, at their peak.
                one_busy = one_busy.max(stats().current - opened);
            }
            while Tracking::poll_command(&mut t).is_some() {}
        }
    }
    // What stays is at most what one burst took (its slots, its timers'
    // room, its commands), not every stream's busiest ring and queue.
    let idle = stats().current - opened;
    eprintln!("one stream busy: {one_busy} B; all {streams} idle after their bursts: {idle} B");
    assert!(idle <= one_busy, "idle streams hold {idle} B, one busy stream {one_busy} B");
}
