//! Drives a tracker through a lossy exchange with a simulated client and
//! prints what happened. Run: `cargo run -p acktrack --example lossy`.

use std::collections::BTreeMap;

use acktrack::{Ack, Command, Config, Echo, Instant, Outcome, Seq, SubmitOptions, Tracker, UserId};

/// A tiny deterministic PRNG for the example's network (the tracker has its own).
struct Lcg(u64);
impl Lcg {
    fn chance(&mut self, percent: u64) -> bool {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % 100 < percent
    }
}

fn main() {
    // Choosing window, caps and budget (see the README): a window of a few
    // dozen events per stream is plenty for an agent's event stream; the
    // queue holds a burst behind it; per-user caps keep one user's flood
    // from filling the tracker; the retry budget bounds a retry storm.
    let mut config = Config::default();
    config.flow.window = 32; // events in flight per stream (seq span from the oldest unacked)
    config.flow.queue_max = 256; // events waiting behind a full window or a dropped connection
    config.flow.user_pending_max = 1_000; // one user's share of the memory bound
    config.flow.global_pending_max = 100_000; // the tracker's memory bound
    if let Some(budget) = config.user_retry_budget.as_mut() {
        budget.burst = 16; // retries a user may send at once after a quiet spell
    }
    let mut tracker: Tracker<&'static str> = Tracker::new(config).expect("a valid config");
    let mut net = Lcg(42);
    let user = UserId(7);
    let mut now = Instant::ZERO;
    let stream = tracker.open_stream(now, user).unwrap();
    let events =
        ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"];
    for name in events {
        tracker.submit(now, stream, name, SubmitOptions::default()).unwrap();
    }
    // The client's view: which seqs it has, to build cumulative acks.
    let mut received: BTreeMap<u64, ()> = BTreeMap::new();
    let mut in_transit: Vec<(Instant, Seq, u32)> = Vec::new();
    let latency = std::time::Duration::from_millis(40);
    loop {
        while let Some(command) = tracker.poll_command() {
            match command {
                Command::Send { event, seq, attempt, .. }
                | Command::Retry { event, seq, attempt, .. } => {
                    let name = tracker.payload(event).unwrap();
                    let lost = net.chance(40);
                    println!(
                        "{now}  send {name:<16} seq {} attempt {attempt}{}",
                        seq.0,
                        if lost { "  (lost)" } else { "" }
                    );
                    if !lost {
                        in_transit.push((now.saturating_add(latency), seq, attempt));
                    }
                }
                Command::Skip { seqs, .. } => println!("{now}  skip {seqs:?}"),
                Command::Finish { outcome, payload, .. } => match outcome {
                    Outcome::Confirmed { attempts, latency } => {
                        println!(
                            "{now}  done {payload:<16} confirmed after {attempts} attempt(s), {latency:?}"
                        )
                    }
                    other => println!("{now}  done {payload:<16} {other:?}"),
                },
            }
        }
        // Advance to the next arrival or timer, whichever is first.
        in_transit.sort();
        let next_arrival = in_transit.first().map(|a| a.0);
        let next = match (next_arrival, tracker.poll_timeout()) {
            (Some(a), Some(t)) => a.min(t),
            (a, t) => match a.or(t) {
                Some(x) => x,
                None => break,
            },
        };
        now = next;
        if next_arrival == Some(now) {
            let (_, seq, attempt) = in_transit.remove(0);
            received.insert(seq.0, ());
            let mut cumulative = 0;
            while received.contains_key(&cumulative) {
                cumulative += 1;
            }
            let ack = Ack::cumulative(stream, Seq(cumulative), Echo { seq, attempt });
            // The ack itself may be lost on the way back.
            if !net.chance(40) {
                tracker.handle_ack(now, user, &ack).unwrap();
            }
        } else {
            tracker.handle_timeout(now);
        }
    }
    let m = tracker.metrics();
    println!(
        "\nsubmitted {}  sent {}  retried {}  confirmed {}  expired {}  confirmation rate {:.0}%  p50 {:?}",
        m.submitted,
        m.sent,
        m.retried,
        m.confirmed,
        m.expired_deadline + m.expired_attempts,
        100.0 * m.confirmation_rate().unwrap_or(0.0),
        m.latency.summary().p50,
    );
}
