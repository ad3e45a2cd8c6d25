//! Shared helpers for the tracker behaviour tests: a deterministic config, a
//! virtual-time driver and a snapshot to prove that bad input changed nothing.
#![allow(dead_code, unreachable_pub)]

use core::time::Duration;

use acktrack::{
    Ack, Command, Config, Echo, EventId, EventState, Instant, Jitter, Metrics, Outcome, Seq,
    SeqRange, StreamId, StreamInfo, SubmitOptions, Tracker, UserId,
};

/// The payload type of every test tracker.
pub type T = Tracker<u32>;

/// A config whose timing is exact: no jitter, no retry budget, 100 ms initial
/// timeout doubling up to 10 s, 5 attempts, 60 s deadline.
pub fn config() -> Config {
    let mut c = Config::default();
    c.retry.initial_delay = Duration::from_millis(100);
    c.retry.backoff_factor = 2.0;
    c.retry.delay_max = Duration::from_secs(10);
    c.retry.jitter = Jitter::None;
    c.retry.attempts_max = 5;
    c.retry.deadline = Duration::from_secs(60);
    c.user_retry_budget = None;
    c.global_retry_budget = None;
    c
}

/// How many cases a proptest runs: `default` scaled by
/// `ACKTRACK_PROPTEST_PERCENT` (100 when unset). With proptest's RNG seed
/// fixed (`PROPTEST_RNG_SEED`), a run of fewer cases runs exactly the first
/// cases of a longer one, so whatever it catches the longer run catches too:
/// `.ci/mutants` screens every mutant with a quarter of the cases and judges
/// the survivors with all of them.
pub fn cases(default: u32) -> u32 {
    let percent: u32 =
        std::env::var("ACKTRACK_PROPTEST_PERCENT").ok().and_then(|p| p.parse().ok()).unwrap_or(100);
    (default.saturating_mul(percent) / 100).max(1)
}

/// The model proptests' case count: `PROPTEST_CASES` when set (a long run,
/// e.g. 20,000), else `cases(256)`.
pub fn model_cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or_else(|| cases(256))
}

pub fn tracker(config: Config) -> T {
    Tracker::new(config).expect("valid config")
}

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}

pub fn drain(t: &mut T) -> Vec<Command<u32>> {
    core::iter::from_fn(|| t.poll_command()).collect()
}

/// Submits with default options, expecting success.
pub fn submit(t: &mut T, now: Instant, stream: StreamId, payload: u32) -> EventId {
    t.submit(now, stream, payload, SubmitOptions::default()).expect("submit accepted")
}

/// A cumulative ack echoing `(echo_seq, attempt)`.
pub fn ack(stream: StreamId, cumulative: u64, echo_seq: u64, attempt: u32) -> Ack {
    Ack::cumulative(stream, Seq(cumulative), Echo { seq: Seq(echo_seq), attempt })
}

/// An ack with selective ranges.
pub fn sack(
    stream: StreamId,
    cumulative: u64,
    ranges: &[(u64, u64)],
    echo_seq: u64,
    attempt: u32,
) -> Ack {
    Ack {
        stream,
        cumulative: Seq(cumulative),
        ranges: ranges.iter().map(|&(a, b)| SeqRange::new(a, b)).collect(),
        echo: Some(Echo { seq: Seq(echo_seq), attempt }),
    }
}

/// Fires every timer due up to and including `until`, in time order, and
/// returns the commands with the time they came out.
pub fn run_until(t: &mut T, until: Instant) -> Vec<(Instant, Command<u32>)> {
    let mut out = Vec::new();
    // Bounded: every wake-up either finishes or re-arms an event later.
    for _ in 0..1_000_000 {
        match t.poll_timeout() {
            Some(at) if at <= until => {
                t.handle_timeout(at);
                // `at` may lie before the tracker's clock (a timer overdue
                // when this was called): record the time it really ran.
                let now = t.now();
                out.extend(drain(t).into_iter().map(|c| (now, c)));
            }
            _ => return out,
        }
    }
    panic!("run_until did not settle");
}

/// The outcomes in a command list, in order.
pub fn finishes(commands: &[Command<u32>]) -> Vec<(EventId, Outcome)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Finish { event, outcome, .. } => Some((*event, *outcome)),
            _ => None,
        })
        .collect()
}

/// The skipped ranges in a command list, in order.
pub fn skips(commands: &[Command<u32>]) -> Vec<(StreamId, SeqRange)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Skip { stream, seqs } => Some((*stream, *seqs)),
            _ => None,
        })
        .collect()
}

/// `(event, seq, attempt)` of every Send and Retry in a command list.
pub fn transmissions(commands: &[Command<u32>]) -> Vec<(EventId, Seq, u32)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Send { event, seq, attempt, .. }
            | Command::Retry { event, seq, attempt, .. } => Some((*event, *seq, *attempt)),
            _ => None,
        })
        .collect()
}

/// Everything observable about a tracker, for "bad input changed nothing".
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// Metrics with the histogram split off (its debug output is long).
    pub metrics: Metrics,
    pub latency: acktrack::LatencySummary,
    pub users: Vec<(UserId, Metrics)>,
    pub events: Vec<Option<EventState>>,
    pub payloads: Vec<Option<u32>>,
    pub streams: Vec<Option<StreamInfo>>,
    pub pending: u32,
    pub timeout: Option<Instant>,
}

pub fn snapshot(t: &T, events: &[EventId], streams: &[StreamId]) -> Snapshot {
    let strip = |m: &Metrics| Metrics { latency: Default::default(), ..m.clone() };
    Snapshot {
        metrics: strip(t.metrics()),
        latency: t.metrics().latency.summary(),
        users: t.users().map(|u| (u, strip(t.user_metrics(u).unwrap()))).collect(),
        events: events.iter().map(|&e| t.event_state(e)).collect(),
        payloads: events.iter().map(|&e| t.payload(e).copied()).collect(),
        streams: streams.iter().map(|&s| t.stream_info(s)).collect(),
        pending: t.pending(),
        timeout: t.poll_timeout(),
    }
}

/// Asserts that `f` left the tracker unchanged except for the counters
/// `adjust` accounts for, and emitted no command.
pub fn assert_unchanged(
    t: &mut T,
    events: &[EventId],
    streams: &[StreamId],
    adjust: impl Fn(&mut Snapshot),
    f: impl FnOnce(&mut T),
) {
    assert!(t.poll_command().is_none(), "drain before comparing");
    let mut before = snapshot(t, events, streams);
    f(t);
    assert_eq!(t.poll_command(), None, "bad input emitted a command");
    adjust(&mut before);
    assert_eq!(snapshot(t, events, streams), before);
}

/// Adds one rejected ack to the global and `user`'s counters of a snapshot.
pub fn one_rejected(user: UserId) -> impl Fn(&mut Snapshot) {
    move |s: &mut Snapshot| {
        s.metrics.acks_rejected += 1;
        if let Some((_, m)) = s.users.iter_mut().find(|(u, _)| *u == user) {
            m.acks_rejected += 1;
        }
    }
}

/// The attempt timeout after `attempt` under [`config`] (no jitter).
pub fn nominal(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << (attempt - 1)).min(10_000))
}
