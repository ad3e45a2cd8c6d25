//! The bench scenarios, shared by the criterion benches, the
//! `bytes-per-event` binary and the tests.
//!
//! Every scenario keeps a fixed number of events in flight, `K` per stream
//! (`K = min(n, 1000)`) over `n / K` streams, one user per stream, so that
//! the measured loop runs in steady state for as long as criterion wants.
//! Time is virtual (`Instant`, µs) and deterministic.

use core::time::Duration;
use std::collections::VecDeque;

use acktrack::{Ack, Command, Echo, Instant, Outcome, Seq, SeqRange, StreamId, UserId};

use crate::tracking::{Policy, Tracking};

/// Events in flight per stream (fewer when the scenario has fewer in all).
pub const PER_STREAM_MAX: u64 = 1000;

/// acktrack's per-stream window in the lifecycle scenarios: at least twice
/// the events in flight per stream, as random-order acks can leave a
/// stream's span up to 2 K seqs.
pub const WINDOW: u32 = 4096;

/// acktrack's per-stream window in the timeout scenarios, where a stream's
/// span is its `K` events in flight. It also bounds the abandoned seqs a
/// stream remembers, which fill up within two turnovers of the events.
pub const TIMEOUTS_WINDOW: u32 = 1024;

/// Timeouts of a scenario that must not time out: far beyond any bench run.
const NEVER: Duration = Duration::from_secs(3600);

/// In-flight counts from `ACKTRACK_BENCH_SIZES` (comma-separated, with `k`
/// and `M` suffixes, e.g. `1k,1M,10M`), default `1k,1M`.
pub fn sizes() -> Vec<u64> {
    let spec = std::env::var("ACKTRACK_BENCH_SIZES").unwrap_or_else(|_| "1k,1M".into());
    spec.split(',')
        .map(|s| parse_size(s.trim()).expect("ACKTRACK_BENCH_SIZES: like 1k,1M,10M"))
        .collect()
}

/// `1000`, `1k`, `1M` → the number.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, scale) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1_000),
        b'm' | b'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    digits.parse::<u64>().ok().map(|n| n * scale)
}

/// `1000` → `1k`, `10000000` → `10M`.
pub fn size_label(n: u64) -> String {
    if n >= 1_000_000 && n % 1_000_000 == 0 {
        format!("{}M", n / 1_000_000)
    } else if n >= 1_000 && n % 1_000 == 0 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// Drains every command; counts the finished events and the timeouts that
/// fired (retries and expiries).
fn drain<T: Tracking<()>>(t: &mut T, finished: &mut u64, mut on_finish: impl FnMut(UserId)) -> u64 {
    let mut fired = 0;
    while let Some(command) = t.poll_command() {
        match command {
            Command::Retry { .. } => fired += 1,
            Command::Finish { user, outcome, .. } => {
                *finished += 1;
                if matches!(outcome, Outcome::Expired { .. }) {
                    fired += 1;
                    on_finish(user);
                }
            }
            Command::Send { .. } | Command::Skip { .. } => {}
        }
    }
    fired
}

/// A small deterministic PRNG (splitmix64) for shuffles.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Shuffles `items` (Fisher–Yates, seeded with `seed`): the same order on
/// every run, for every implementation.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = seed;
    for i in (1..items.len()).rev() {
        items.swap(i, (splitmix(&mut rng) % (i as u64 + 1)) as usize);
    }
}

/// In which order a lifecycle's acks arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOrder {
    /// Each ack is cumulative and confirms the stream's oldest event.
    InOrder,
    /// Each stream's events are acked in a random order within blocks of `K`
    /// seqs; each ack carries the receiver's cumulative ack and, when the
    /// newly received seq lies above it, a selective range naming that seq.
    Random,
}

/// The full lifecycle in steady state: each [`step`](Self::step) submits an
/// event (drains its `Send`), then acks one (drains its `Finish`), on a
/// stream picked at random (seeded: the same streams for every
/// implementation), so `n` events stay in flight. Nothing times out.
///
/// Picked at random, not in turn. With the streams in turn (before
/// 2026-12-06, twelfth session) and one permutation for all of them, the
/// events that consecutive steps acked sat in consecutive slots of
/// acktrack's slab: of 19,999 pairs of consecutive acks at 1M, 19,998 were
/// one slot apart in order and 19,960 with random-order acks. Every other
/// ack then found its event's cache line loaded, and the hardware
/// prefetcher streamed the rest. Streams whose events come and go at their
/// own pace leave no such order: picked at random, no pair was.
#[derive(Debug)]
pub struct Lifecycle {
    streams: Vec<StreamId>,
    /// Steps taken on each stream so far (its round).
    rounds: Vec<u64>,
    /// Picks each step's stream.
    rng: u64,
    per_stream: u64,
    order: AckOrder,
    /// Random order: a permutation of `0..K`, and for each prefix of it the
    /// lowest offset it does not contain (the cumulative ack after it).
    perm: Vec<u32>,
    cumulative_after: Vec<u32>,
    ack: Ack,
    now: Instant,
    /// Events finished so far (all confirmed).
    pub finished: u64,
}

impl Lifecycle {
    /// The policy: nothing ever times out.
    pub fn policy() -> Policy {
        Policy {
            initial_delay: NEVER,
            backoff_factor: 2.0,
            delay_max: NEVER,
            attempts_max: 8,
            deadline: 2 * NEVER,
        }
    }

    /// A tracker with `n` events in flight, and the driver to keep it so,
    /// in steady state: every event of the fill was turned over once.
    pub fn setup<T: Tracking<()>>(n: u64, order: AckOrder) -> (T, Lifecycle) {
        let mut t = T::with_policy(&Self::policy(), WINDOW);
        let driver = t.in_context(|t| {
            let mut driver = Lifecycle::open(t, n, order);
            driver.fill(t, n);
            for _ in 0..n {
                driver.step(t);
            }
            driver
        });
        (t, driver)
    }

    /// Opens the streams of a scenario with `n` events in flight.
    pub fn open<T: Tracking<()>>(t: &mut T, n: u64, order: AckOrder) -> Lifecycle {
        let (streams, per_stream) = open_streams(t, n, n.clamp(1, PER_STREAM_MAX));
        let k = per_stream as usize;
        let mut perm: Vec<u32> = (0..k as u32).collect();
        shuffle(&mut perm, 0x5eed);
        let mut seen = vec![false; k + 1];
        let mut low = 0usize;
        let cumulative_after = perm
            .iter()
            .map(|&p| {
                seen[p as usize] = true;
                while seen[low] {
                    low += 1;
                }
                low as u32
            })
            .collect();
        Lifecycle {
            ack: Ack {
                stream: streams[0],
                cumulative: Seq(0),
                ranges: Vec::with_capacity(1),
                echo: Some(Echo { seq: Seq(0), attempt: 1 }),
            },
            rounds: vec![0; streams.len()],
            streams,
            rng: 0x57_2ea3,
            per_stream,
            order,
            perm,
            cumulative_after,
            now: Instant::ZERO,
            finished: 0,
        }
    }

    /// Submits the `n` events the scenario keeps in flight, round-robin
    /// over the streams, 1 µs apart like the steps (so every implementation
    /// sees its timers in submission order, whatever its tie-break).
    pub fn fill<T: Tracking<()>>(&mut self, t: &mut T, n: u64) {
        let mut finished = 0;
        for i in 0..n {
            let stream = self.streams[(i % self.streams.len() as u64) as usize];
            self.now = Instant::from_micros(self.now.as_micros() + 1);
            t.submit(self.now, stream, ()).expect("room for the fill");
            drain(t, &mut finished, |_| {});
        }
    }

    /// One event's lifecycle: submit, drain `Send`, ack, drain `Finish`.
    #[inline]
    pub fn step<T: Tracking<()>>(&mut self, t: &mut T) {
        let (user, stream, seq, cumulative) = self.submit_next(t);
        write_ack(&mut self.ack, stream, seq, cumulative);
        t.handle_ack(self.now, user, &self.ack).expect("a valid ack");
        drain(t, &mut self.finished, |_| {});
    }

    /// `acks.len()` lifecycles, batched: every submit (each `Send`
    /// drained), then [`Tracking::prefetch_acks`] for them all, then every
    /// ack (each `Finish` drained). The same events, seqs and acks as as many
    /// [`step`](Self::step)s, on the same streams; `acks` only holds the
    /// acks' room between batches.
    #[inline]
    pub fn batch<T: Tracking<()>>(&mut self, t: &mut T, acks: &mut [(UserId, Ack)]) {
        for (user, ack) in acks.iter_mut() {
            let index = self.pick();
            ack.stream = self.streams[index];
            *user = UserId(index as u64);
        }
        t.prefetch_submits(acks.iter().map(|(_, ack)| &ack.stream));
        for (user, ack) in acks.iter_mut() {
            let (_, stream, seq, cumulative) = self.submit_to(t, user.0 as usize);
            write_ack(ack, stream, seq, cumulative);
        }
        t.prefetch_acks(acks);
        for (user, ack) in acks.iter() {
            t.handle_ack(self.now, *user, ack).expect("a valid ack");
            drain(t, &mut self.finished, |_| {});
        }
    }

    /// Room for a batch of `b` acks, for [`batch`](Self::batch).
    pub fn batch_room(b: usize) -> Vec<(UserId, Ack)> {
        let ack = Ack {
            stream: StreamId::from_bits(0),
            cumulative: Seq(0),
            ranges: Vec::with_capacity(1),
            echo: None,
        };
        vec![(UserId(0), ack); b]
    }

    /// Submits the next event (drains its `Send`); returns the ack its step
    /// sends: the user, the stream, the newly acked seq and the cumulative
    /// ack.
    #[inline(always)]
    fn submit_next<T: Tracking<()>>(&mut self, t: &mut T) -> (UserId, StreamId, u64, u64) {
        let index = self.pick();
        self.submit_to(t, index)
    }

    /// The stream index of the next step: uniform over the streams (the
    /// high half of a 64 × 64-bit product).
    #[inline(always)]
    fn pick(&mut self) -> usize {
        let streams = self.streams.len() as u64;
        ((u128::from(splitmix(&mut self.rng)) * u128::from(streams)) >> 64) as usize
    }

    /// Submits the next event to stream `index` (drains its `Send`); see
    /// [`submit_next`](Self::submit_next).
    #[inline(always)]
    fn submit_to<T: Tracking<()>>(
        &mut self,
        t: &mut T,
        index: usize,
    ) -> (UserId, StreamId, u64, u64) {
        let round = self.rounds[index];
        self.rounds[index] = round + 1;
        self.now = Instant::from_micros(self.now.as_micros() + 1);
        let stream = self.streams[index];
        t.submit(self.now, stream, ()).expect("room for a submit");
        drain(t, &mut self.finished, |_| {});

        let (seq, cumulative) = match self.order {
            AckOrder::InOrder => (round, round + 1),
            AckOrder::Random => {
                let k = self.per_stream;
                let (block, i) = (round / k * k, (round % k) as usize);
                (block + u64::from(self.perm[i]), block + u64::from(self.cumulative_after[i]))
            }
        };
        (UserId(index as u64), stream, seq, cumulative)
    }
}

/// The receiver's ack after it got `seq`: its cumulative ack, and a range
/// naming `seq` when it lies above it; echoing `seq`'s first attempt.
#[inline(always)]
fn write_ack(ack: &mut Ack, stream: StreamId, seq: u64, cumulative: u64) {
    ack.stream = stream;
    ack.cumulative = Seq(cumulative);
    ack.echo = Some(Echo { seq: Seq(seq), attempt: 1 });
    ack.ranges.clear();
    if seq >= cumulative {
        ack.ranges.push(SeqRange::single(Seq(seq)));
    }
}

/// Opens `n / K` streams, stream `i` owned by `UserId(i)`.
fn open_streams<T: Tracking<()>>(t: &mut T, n: u64, per_stream: u64) -> (Vec<StreamId>, u64) {
    assert!(n % per_stream == 0, "in-flight count {n} must be a multiple of {per_stream}");
    let streams = (0..n / per_stream)
        .map(|i| t.open_stream(Instant::ZERO, UserId(i)).expect("room for the streams"))
        .collect();
    (streams, per_stream)
}

/// Submits `n` events at time zero, round-robin over `streams` (each a
/// stream's whole `n / streams.len()`), and acks them in a random order
/// (seeded), so that the slots the next events take are in no order.
///
/// A fresh tracker hands its slots out in turn, and the timers of the
/// timeout scenarios fire in submission order: without this, retries and
/// expiries read acktrack's slab in order, one cache line for two events,
/// streamed by the hardware prefetcher (before 2026-12-06, twelfth
/// session). A tracker that has run a while has its free slots in the
/// order its events ended.
fn scatter_slots<T: Tracking<()>>(t: &mut T, streams: &[StreamId], n: u64) {
    let count = streams.len() as u64;
    let mut finished = 0;
    for i in 0..n {
        t.submit(Instant::ZERO, streams[(i % count) as usize], ()).expect("room for the events");
        drain(t, &mut finished, |_| {});
    }
    // Event `i` is seq `i / count` of stream `i % count`.
    let mut order: Vec<u64> = (0..n).collect();
    shuffle(&mut order, 0x5ca7);
    let mut ack =
        Ack { stream: streams[0], cumulative: Seq(0), ranges: Vec::with_capacity(1), echo: None };
    for i in order {
        let index = (i % count) as usize;
        ack.stream = streams[index];
        ack.ranges.clear();
        ack.ranges.push(SeqRange::single(Seq(i / count)));
        t.handle_ack(Instant::ZERO, UserId(index as u64), &ack).expect("a valid ack");
        drain(t, &mut finished, |_| {});
    }
    assert_eq!(finished, n, "every scattering event is confirmed");
}

/// What times out in a [`Timeouts`] scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Attempt timeouts: every firing is a `Retry` (backoff factor 1, 1000
    /// attempts; the one firing in 1000 that exhausts them is an expiry).
    RetryStorm,
    /// Deadlines: every firing is an expiry (`Skip` + `Finish`).
    Expiry,
}

/// Timers firing in steady state: `n` events in flight, no acks, their
/// timeouts spread so that each [`tick`](Self::tick) (1 ms of virtual time)
/// fires [`per_tick`](Self::per_tick) of them. [`refill`](Self::refill)
/// replaces the events that finished, to be called outside the timed part.
#[derive(Debug)]
pub struct Timeouts {
    streams: Vec<StreamId>,
    per_tick: u64,
    now: Instant,
    /// Streams whose event finished during the last tick.
    refill: Vec<usize>,
    /// Events finished so far.
    pub finished: u64,
    /// Timeouts fired so far (retries plus expiries).
    pub fired: u64,
}

impl Timeouts {
    /// Timeouts fired per tick.
    pub fn per_tick(n: u64) -> u64 {
        n.min(1000)
    }

    /// The policy: attempt timeouts (or deadlines) of `n / per_tick` ms.
    pub fn policy(n: u64, kind: TimeoutKind) -> Policy {
        let period = Duration::from_millis(n / Self::per_tick(n));
        match kind {
            TimeoutKind::RetryStorm => Policy {
                initial_delay: period,
                backoff_factor: 1.0,
                delay_max: period,
                attempts_max: 1000,
                deadline: Duration::from_secs(30 * 86_400),
            },
            TimeoutKind::Expiry => Policy {
                initial_delay: NEVER,
                backoff_factor: 2.0,
                delay_max: NEVER,
                attempts_max: 8,
                deadline: period,
            },
        }
    }

    /// A tracker with `n` events in flight, and the driver, in steady state:
    /// two turnovers of the events have fired.
    pub fn setup<T: Tracking<()>>(n: u64, kind: TimeoutKind) -> (T, Timeouts) {
        Self::setup_over(n, n.clamp(1, PER_STREAM_MAX), kind)
    }

    /// [`setup`](Self::setup) with `per_stream` events on each stream
    /// (tests: as many streams as at 1M, with fewer events).
    pub fn setup_over<T: Tracking<()>>(
        n: u64,
        per_stream: u64,
        kind: TimeoutKind,
    ) -> (T, Timeouts) {
        let mut t = T::with_policy(&Self::policy(n, kind), TIMEOUTS_WINDOW);
        let driver = t.in_context(|t| {
            let mut driver = Timeouts::fill(t, n, per_stream);
            for _ in 0..2 * n / driver.per_tick {
                driver.tick(t);
                driver.refill(t);
            }
            driver
        });
        (t, driver)
    }

    /// Opens the streams and submits `n` events, `per_tick` per ms, into
    /// slots scattered first (by `scatter_slots`), each to a stream taken
    /// in a random order.
    pub fn fill<T: Tracking<()>>(t: &mut T, n: u64, per_stream: u64) -> Timeouts {
        let (streams, _) = open_streams(t, n, per_stream);
        scatter_slots(t, &streams, n);
        let per_tick = Self::per_tick(n);
        // Each stream's share, in a random order (seeded): the timers fire
        // in submission order, which must not walk the streams in turn
        // either (acktrack gives a busy stream's events consecutive slots).
        let count = streams.len() as u64;
        let mut order: Vec<u32> = (0..n).map(|i| (i % count) as u32).collect();
        shuffle(&mut order, 0xf111);
        let mut finished = 0;
        for (i, &stream) in order.iter().enumerate() {
            let now = Instant::from_millis(i as u64 / per_tick);
            t.submit(now, streams[stream as usize], ()).expect("room");
            drain(t, &mut finished, |_| {});
        }
        Timeouts {
            now: Instant::from_millis(n / per_tick - 1),
            refill: Vec::with_capacity(per_tick as usize),
            streams,
            per_tick,
            finished,
            fired: 0,
        }
    }

    /// Advances 1 ms and runs the timeouts due; returns how many fired.
    #[inline]
    pub fn tick<T: Tracking<()>>(&mut self, t: &mut T) -> u64 {
        self.now = Instant::from_micros(self.now.as_micros() + 1000);
        t.handle_timeout(self.now);
        let refill = &mut self.refill;
        let fired = drain(t, &mut self.finished, |user| refill.push(user.0 as usize));
        self.fired += fired;
        fired
    }

    /// Submits one event for each that finished in the last tick.
    pub fn refill<T: Tracking<()>>(&mut self, t: &mut T) {
        for i in 0..self.refill.len() {
            let stream = self.streams[self.refill[i]];
            t.submit(self.now, stream, ()).expect("room for a refill");
            drain(t, &mut self.finished, |_| {});
        }
        self.refill.clear();
    }

    /// Timeouts fired by each tick in steady state.
    pub fn expected_per_tick(&self) -> u64 {
        self.per_tick
    }

    /// The virtual time of the last tick.
    pub fn now(&self) -> Instant {
        self.now
    }
}

/// Acks that arrive a fixed time after each submit, at a chosen ratio to the
/// first attempt's timeout, to measure memory at any ack-latency/timeout
/// ratio. Below 1 nothing is retried; above it every event is retried with
/// backoff until its ack arrives; past the deadline every event expires
/// first and its ack arrives late. Each 1 ms [`tick`](Self::tick) delivers
/// the acks due, runs the timeouts, then submits the tick's share of new
/// events, so that about `n` events are pending at the end of every tick.
#[derive(Debug)]
pub struct AckLatency {
    streams: Vec<StreamId>,
    n: u64,
    /// Ack latency, in ms (ticks).
    latency: u64,
    /// How long an event stays pending, in ms: the latency or the deadline.
    pending_for: u64,
    /// (stream index, seq, tick the ack is due), in submit order.
    acks: VecDeque<(u32, u64, u64)>,
    /// The room `acks` was given up front.
    acks_capacity: usize,
    ack: Ack,
    tick: u64,
    next_stream: usize,
    /// Events submitted so far.
    pub submitted: u64,
    /// Retransmissions so far.
    pub retries: u64,
    /// Events finished confirmed so far.
    pub confirmed: u64,
    /// Events finished expired so far.
    pub expired: u64,
}

impl AckLatency {
    /// The first attempt's timeout.
    pub const FIRST_TIMEOUT_MS: u64 = 10;
    /// The deadline.
    pub const DEADLINE_MS: u64 = 2000;

    /// The policy: 10 ms first timeout doubling up to 1 s, 8 attempts, a 2 s
    /// deadline (attempts at 0, 10, 30, 70, 150, 310, 630 and 1270 ms).
    pub fn policy() -> Policy {
        Policy {
            initial_delay: Duration::from_millis(Self::FIRST_TIMEOUT_MS),
            backoff_factor: 2.0,
            delay_max: Duration::from_secs(1),
            attempts_max: 8,
            deadline: Duration::from_millis(Self::DEADLINE_MS),
        }
    }

    /// Opens the streams for `n` pending events acked `latency_ms` after
    /// their submit; allocates the driver's own queue of acks up front.
    pub fn open<T: Tracking<()>>(t: &mut T, n: u64, latency_ms: u64) -> AckLatency {
        assert!(latency_ms > 0, "an ack takes time");
        let (streams, _) = open_streams(t, n, n.clamp(1, PER_STREAM_MAX));
        let pending_for = latency_ms.min(Self::DEADLINE_MS);
        // Acks wait `latency_ms` at a rate of n per `pending_for` ms.
        let capacity = n * latency_ms / pending_for + n / pending_for + 16;
        let acks = VecDeque::with_capacity(capacity as usize);
        AckLatency {
            ack: Ack { stream: streams[0], cumulative: Seq(0), ranges: Vec::new(), echo: None },
            acks_capacity: acks.capacity(),
            streams,
            n,
            latency: latency_ms,
            pending_for,
            acks,
            tick: 0,
            next_stream: 0,
            submitted: 0,
            retries: 0,
            confirmed: 0,
            expired: 0,
        }
    }

    /// Ticks to reach steady state from empty: the events, their retry
    /// timers (and a lazy heap's stale ones) and the late acks turned over.
    pub fn warm_up_ticks(&self) -> u64 {
        if self.latency < Self::DEADLINE_MS {
            2 * self.latency + 2 * Self::FIRST_TIMEOUT_MS
        } else {
            self.latency + Self::DEADLINE_MS
        }
    }

    /// Ticks of one full turnover in steady state.
    pub fn turnover_ticks(&self) -> u64 {
        self.latency + Self::FIRST_TIMEOUT_MS
    }

    /// Events pending in the tracker: submitted and not finished.
    pub fn pending(&self) -> u64 {
        self.submitted - self.confirmed - self.expired
    }

    /// Whether the driver's ack queue still fits the room it was given up
    /// front (so the driver allocated nothing since [`open`](Self::open)).
    pub fn acks_fit(&self) -> bool {
        self.acks.capacity() == self.acks_capacity
    }

    /// One ms: the acks due, the timeouts, then the new events.
    pub fn tick<T: Tracking<()>>(&mut self, t: &mut T) {
        self.tick += 1;
        let now = Instant::from_millis(self.tick);
        while let Some(&(index, seq, due)) = self.acks.front() {
            if due > self.tick {
                break;
            }
            self.acks.pop_front();
            self.ack.stream = self.streams[index as usize];
            self.ack.cumulative = Seq(seq + 1);
            t.handle_ack(now, UserId(u64::from(index)), &self.ack).expect("a valid ack");
            self.drain(t, None);
        }
        t.handle_timeout(now);
        self.drain(t, None);
        // n per `pending_for` ms, spread evenly over the ticks.
        let due =
            self.tick * self.n / self.pending_for - (self.tick - 1) * self.n / self.pending_for;
        for _ in 0..due {
            let index = self.next_stream;
            self.next_stream = (index + 1) % self.streams.len();
            t.submit(now, self.streams[index], ()).expect("room for a submit");
            self.submitted += 1;
            self.drain(t, Some(index as u32));
        }
    }

    /// Drains the commands; the `Send` of a submit to stream `submitted_to`
    /// queues the event's ack.
    fn drain<T: Tracking<()>>(&mut self, t: &mut T, submitted_to: Option<u32>) {
        while let Some(command) = t.poll_command() {
            match command {
                Command::Send { seq, .. } => {
                    let index = submitted_to.expect("a first send only follows its submit");
                    self.acks.push_back((index, seq.0, self.tick + self.latency));
                }
                Command::Retry { .. } => self.retries += 1,
                Command::Finish { outcome, .. } => match outcome {
                    Outcome::Confirmed { .. } => self.confirmed += 1,
                    _ => self.expired += 1,
                },
                Command::Skip { .. } => {}
            }
        }
    }
}
