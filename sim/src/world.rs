//! The world: one tracker, users with streams, a client and two links per
//! connection, a virtual clock and a priority queue of happenings.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use acktrack::{
    Ack, Arrival, EventFrame, Instant, LatencyHistogram, Seq, SeqRange, SkipFrame, StreamId, UserId,
};

use crate::choice::Choices;
use crate::client::Client;
use crate::coverage::Coverage;
use crate::driver::SimTracker;
use crate::model::Model;
use crate::net::{self, Link};
use crate::trace::{Trace, TraceEvent};
use crate::world_config::{FaultKind, WorldConfig};

pub use crate::violation::{ALL_INVARIANTS, Invariant, Violation};

/// A message on a link.
#[derive(Clone, Debug)]
pub(crate) enum Msg {
    Event { seq: u64, attempt: u32, floor: u64, id: u64 },
    Skip { start: u64, end: u64, floor: u64 },
    Ack(Ack),
    Nak { seq: u64, delay_us: u64 },
    Progress { seq: u64 },
}

/// Something scheduled to happen.
#[derive(Debug)]
pub(crate) enum Happening {
    Deliver { conn: u32, epoch: u32, to_client: bool, msg: Msg },
    Arrival,
    ClientTimer { conn: u32, incarnation: u32 },
    Fault(FaultKind),
    ServerNotice { conn: u32, epoch: u32 },
    Reconnect { conn: u32, epoch: u32 },
    LivenessCheck,
    ProbeCheck { conn: u32 },
}

/// A heap entry: small, so the heap moves little; the happening itself
/// waits in a slab slot.
#[derive(Debug)]
struct Entry {
    at: u64,
    order: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest, then the
    // first scheduled (the deterministic tie-break).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// One connection: a stream, its client, its links.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: StreamId,
    pub(crate) user: u32,
    pub(crate) open: bool,
    /// The transport is up (messages flow).
    pub(crate) up: bool,
    pub(crate) epoch: u32,
    pub(crate) client: Client,
    pub(crate) incarnation: u32,
    /// Last released seq in this incarnation (ordered streams), +1; 0 for none.
    pub(crate) released_next: u64,
    pub(crate) links: [Link; 2],
    pub(crate) partition_until: u64,
    pub(crate) asym_until: u64,
    pub(crate) timer_at: u64,
}

/// Which phase the run is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Workload,
    Draining,
    Probing,
    Done,
}

/// Figures of one run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RunStats {
    /// Messages put on links (events, skips, acks, malicious frames).
    pub messages: u64,
    /// Steps (happenings processed).
    pub steps: u64,
    /// Virtual time at the end, µs.
    pub sim_time_us: u64,
    /// Events submitted.
    pub submitted: u64,
    /// Events confirmed.
    pub confirmed: u64,
    /// Events finished.
    pub finished: u64,
    /// Retransmissions.
    pub retried: u64,
    /// The liveness bound after healing, µs (longest remaining deadline).
    pub liveness_bound_us: u64,
    /// How long it actually took everything to finish after healing, µs.
    pub liveness_observed_us: u64,
    /// The probe bound, µs.
    pub probe_bound_us: u64,
    /// The slowest probe confirmation, µs.
    pub probe_observed_us: u64,
    /// Hash of the trace.
    pub trace_hash: u64,
    /// Coverage marks.
    pub coverage: Coverage,
    /// Confirm latencies (tracker-measured).
    #[serde(skip)]
    pub latency: LatencyHistogram,
    /// A label of the world's fault profile, for plots.
    pub profile: String,
}

/// The result of one run.
#[derive(Debug)]
pub struct RunResult {
    /// The world drawn.
    pub config: WorldConfig,
    /// What happened.
    pub stats: RunStats,
    /// The first violation, if any.
    pub violation: Option<Violation>,
}

/// The simulated world around a tracker `T`.
#[derive(Debug)]
pub struct World<T: SimTracker> {
    pub(crate) config: WorldConfig,
    pub(crate) tracker: T,
    pub(crate) c: Choices,
    heap: BinaryHeap<Entry>,
    happenings: Vec<Option<Happening>>,
    free_slots: Vec<u32>,
    pub(crate) order: u64,
    /// Virtual time, µs.
    pub(crate) now: u64,
    /// Server clock offset from virtual time, µs.
    pub(crate) offset: i64,
    /// The tracker's clamped clock, µs.
    pub(crate) tracker_now: u64,
    pub(crate) conns: Vec<Conn>,
    /// Users' open connections, by user index (the malicious user is last).
    pub(crate) user_conns: Vec<Vec<u32>>,
    pub(crate) user_weights: Vec<u64>,
    pub(crate) model: Model,
    pub(crate) trace: Trace,
    pub(crate) stats: RunStats,
    pub(crate) phase: Phase,
    pub(crate) healed: bool,
    pub(crate) heal_at: u64,
    pub(crate) violation: Option<Violation>,
    pub(crate) released: Vec<(u64, u64)>,
    /// handle_timeout calls in a row that left the same due timer.
    pub(crate) timeouts_stuck: u32,
    /// (conn, seq) of event frames dropped for capacity, to report as failed writes.
    pub(crate) failed_writes: Vec<(u32, u64)>,
    pub(crate) arrivals: u32,
    pub(crate) probe_conns: Vec<u32>,
    pub(crate) probe_sent_at: u64,
    pub(crate) probe_id: Option<u64>,
    pub(crate) step_max: u64,
}

/// Calls of `handle_timeout` in a row that may leave the same timer due.
const TIMEOUT_REPEATS_MAX: u32 = 8;

/// The user id of user index `u`.
pub(crate) fn user_id(u: u32) -> UserId {
    UserId(u64::from(u) + 1)
}

impl<T: SimTracker> World<T> {
    /// Draws a world from `choices` and builds it.
    pub fn new(mut c: Choices, trace: Trace) -> Self {
        let config = WorldConfig::draw(&mut c);
        Self::with_config(config, c, trace)
    }

    /// Gives the tracker a prefetch hint (see [`Tracker::set_prefetch`]),
    /// which must change nothing in the trace.
    ///
    /// [`Tracker::set_prefetch`]: acktrack::Tracker::set_prefetch
    pub fn with_prefetch(mut self, prefetch: Option<acktrack::Prefetch>) -> Self {
        self.tracker.set_prefetch(prefetch);
        self
    }

    /// Builds a world from an explicit config (scenario tests).
    pub fn with_config(config: WorldConfig, c: Choices, trace: Trace) -> Self {
        let tracker = T::create(config.tracker).expect("drawn configs are valid");
        let users = config.workload.users;
        let zipf = config.workload.zipf;
        let user_weights =
            (0..users).map(|u| (1e6 / f64::from(u + 1).powf(zipf)) as u64 + 1).collect();
        let profile = profile_label(&config);
        let mut w = World {
            tracker,
            c,
            heap: BinaryHeap::new(),
            happenings: Vec::new(),
            free_slots: Vec::new(),
            order: 0,
            now: 0,
            offset: 0,
            tracker_now: 0,
            conns: Vec::new(),
            user_conns: vec![Vec::new(); users as usize + 1],
            user_weights,
            model: Model::new(users as usize + 1),
            trace,
            stats: RunStats { profile, ..RunStats::default() },
            phase: Phase::Workload,
            healed: false,
            heal_at: 0,
            violation: None,
            released: Vec::new(),
            timeouts_stuck: 0,
            failed_writes: Vec::new(),
            arrivals: 0,
            probe_conns: Vec::new(),
            probe_sent_at: 0,
            probe_id: None,
            step_max: 2_000_000,
            config,
        };
        for u in 0..=users {
            let streams = if u == users { 1 } else { w.config.workload.streams_per_user };
            for _ in 0..streams {
                w.open_conn(u);
            }
        }
        w.schedule(0, Happening::Arrival);
        let r = w.config.rates;
        let scheduled = [
            (FaultKind::Partition, r.partition),
            (FaultKind::AsymmetricPartition, r.asym_partition),
            (FaultKind::ConnectionDrop, r.conn_drop),
            (FaultKind::ClientCrash, r.crash),
            (FaultKind::ClockJump, r.clock_jump),
            (FaultKind::ForeignAck, r.malicious),
            (FaultKind::UnsentAck, r.malicious),
            (FaultKind::Garbage, r.malicious),
        ];
        for (kind, rate) in scheduled {
            if w.config.has(kind) && rate > 0.0 {
                let at = net::exp_interval(rate, &mut w.c);
                w.schedule(at, Happening::Fault(kind));
            }
        }
        w
    }

    /// The tracker, for inspection.
    pub fn tracker(&self) -> &T {
        &self.tracker
    }

    pub(crate) fn schedule(&mut self, at: u64, what: Happening) {
        self.order += 1;
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.happenings[slot as usize] = Some(what);
                slot
            }
            None => {
                self.happenings.push(Some(what));
                (self.happenings.len() - 1) as u32
            }
        };
        self.heap.push(Entry { at, order: self.order, slot });
    }

    /// The server's clock now (virtual time plus the jumps so far).
    pub(crate) fn server_now(&mut self) -> Instant {
        let t = (self.now as i64 + self.offset).max(0) as u64;
        self.tracker_now = self.tracker_now.max(t);
        Instant::from_micros(t)
    }

    pub(crate) fn record(&mut self, event: TraceEvent) {
        self.trace.record(self.stats.steps, self.now, event);
    }

    pub(crate) fn fail(&mut self, invariant: Invariant, detail: String) {
        if self.violation.is_some() {
            return;
        }
        self.violation = Some(Violation {
            step: self.stats.steps,
            time_us: self.now,
            invariant,
            detail,
            trace_tail: self.trace.tail_lines(),
        });
    }

    pub(crate) fn open_conn(&mut self, user: u32) -> Option<u32> {
        let now = self.server_now();
        let stream = self.tracker.open_stream(now, user_id(user)).ok()?;
        self.record(TraceEvent::Open { user: user_id(user).0, stream: stream.to_bits() });
        let ordered = self.c.chance(self.config.workload.ordered);
        let t = &self.config.tracker;
        let client =
            Client::new(stream, ordered, self.config.client, t.flow.window, t.ack_ranges_max);
        let index = self.conns.len() as u32;
        self.conns.push(Conn {
            stream,
            user,
            open: true,
            up: true,
            epoch: 0,
            client,
            incarnation: 1,
            released_next: 0,
            links: [Link::default(); 2],
            partition_until: 0,
            asym_until: 0,
            timer_at: u64::MAX,
        });
        self.user_conns[user as usize].push(index);
        self.model.open_stream(index, user);
        self.model.register_stream(stream.to_bits(), index);
        self.check_step(Some(user));
        Some(index)
    }

    /// Runs to the end (or the first violation).
    pub fn run(mut self) -> RunResult {
        self.run_to_end();
        RunResult { config: self.config, stats: self.stats, violation: self.violation }
    }

    /// Runs to the end and also returns the draws made (the world must have
    /// been built from recording [`Choices`]).
    pub fn run_recorded(mut self) -> (RunResult, Vec<u64>) {
        self.run_to_end();
        let c = std::mem::replace(&mut self.c, Choices::from_tape(Vec::new()));
        let tape = c.into_tape().unwrap_or_default();
        (RunResult { config: self.config, stats: self.stats, violation: self.violation }, tape)
    }

    fn run_to_end(&mut self) {
        while self.phase != Phase::Done && self.violation.is_none() {
            if !self.step() {
                break;
            }
        }
        if self.violation.is_none() {
            self.final_checks();
        }
        self.trace.flush();
        let m = self.tracker.metrics();
        self.stats.submitted = m.submitted;
        self.stats.confirmed = m.confirmed;
        self.stats.finished = m.finished();
        self.stats.retried = m.retried;
        self.stats.latency = m.latency.clone();
        self.stats.sim_time_us = self.now;
        self.stats.trace_hash = self.trace.hash();
        self.stats.coverage.read_metrics(m);
    }

    /// One step: the earliest of the tracker's timer and the next happening.
    pub(crate) fn step(&mut self) -> bool {
        self.stats.steps += 1;
        if self.stats.steps > self.step_max {
            self.fail(Invariant::Liveness, format!("no progress after {} steps", self.step_max));
            return false;
        }
        let timer = self.tracker.poll_timeout().map(|t| {
            let v = t.as_micros() as i64 - self.offset;
            (v.max(0) as u64).max(self.now)
        });
        let next = self.heap.peek().map(|e| e.at);
        match (timer, next) {
            (Some(t), n) if n.is_none_or(|n| t <= n) => {
                self.now = t;
                let now = self.server_now();
                let before = self.tracker.poll_timeout();
                self.tracker.handle_timeout(now);
                self.record(TraceEvent::Timeout);
                self.drain(crate::model::Ctx::Timeout);
                self.check_step(None);
                // A timer still due after handle_timeout asks to be called
                // again at once; more than a few such calls in a row is a
                // busy loop for any driver.
                if self.tracker.poll_timeout() == before
                    && before.is_some_and(|b| b.as_micros() <= self.tracker_now)
                {
                    self.timeouts_stuck += 1;
                    self.stats.coverage.timeout_repeats += 1;
                    if self.timeouts_stuck > TIMEOUT_REPEATS_MAX {
                        self.fail(
                            Invariant::Liveness,
                            format!(
                                "handle_timeout called {} times at {now} left its timer {before:?} due",
                                self.timeouts_stuck
                            ),
                        );
                    }
                } else {
                    self.timeouts_stuck = 0;
                }
                if self.phase != Phase::Workload {
                    self.maybe_next_phase();
                }
                true
            }
            (_, Some(_)) | (Some(_), None) => {
                let e = self.heap.pop().expect("peeked");
                self.now = self.now.max(e.at);
                let what = self.happenings[e.slot as usize].take().expect("scheduled");
                self.free_slots.push(e.slot);
                self.happen(what);
                if self.phase != Phase::Workload {
                    self.maybe_next_phase();
                }
                true
            }
            (None, None) => {
                if self.phase != Phase::Done {
                    self.fail(Invariant::Liveness, "the world went quiet before the end".into());
                }
                false
            }
        }
    }

    pub(crate) fn happen(&mut self, what: Happening) {
        match what {
            Happening::Deliver { conn, epoch, to_client, msg } => {
                self.deliver(conn, epoch, to_client, msg)
            }
            Happening::Arrival => self.arrival(),
            Happening::ClientTimer { conn, incarnation } => {
                let cn = &mut self.conns[conn as usize];
                if cn.incarnation != incarnation || cn.timer_at != self.now || !cn.open {
                    return;
                }
                cn.timer_at = u64::MAX;
                if let Some(ack) = cn.client.handle_timeout(self.now) {
                    self.send(conn, false, Msg::Ack(ack));
                }
            }
            Happening::Fault(kind) => {
                if !self.healed {
                    self.fault(kind);
                }
            }
            Happening::ServerNotice { conn, epoch } => {
                let cn = &self.conns[conn as usize];
                if cn.epoch == epoch && cn.open {
                    let stream = cn.stream;
                    let now = self.server_now();
                    let r = self.tracker.handle_disconnect(now, stream);
                    self.record(TraceEvent::Disconnect { stream: stream.to_bits() });
                    if r.is_ok() {
                        self.model.on_disconnect(conn);
                    }
                    self.drain(crate::model::Ctx::Other);
                    let user = self.conns[conn as usize].user;
                    self.check_step(Some(user));
                }
            }
            Happening::Reconnect { conn, epoch } => {
                if self.conns[conn as usize].epoch == epoch {
                    self.reconnect(conn);
                }
            }
            Happening::LivenessCheck => {
                if self.phase == Phase::Draining {
                    let pending = self.tracker.pending();
                    self.fail(
                        Invariant::Liveness,
                        format!(
                            "{pending} events still pending {} µs after healing (bound {} µs)",
                            self.now - self.heal_at,
                            self.stats.liveness_bound_us
                        ),
                    );
                }
            }
            Happening::ProbeCheck { conn } => {
                if self.phase == Phase::Probing && self.probe_conns.last() == Some(&conn) {
                    self.fail(
                        Invariant::Liveness,
                        format!(
                            "probe on stream {} not confirmed within {} µs after healing",
                            self.conns[conn as usize].stream, self.stats.probe_bound_us
                        ),
                    );
                }
            }
        }
    }

    /// Puts a message on a link (or loses it).
    pub(crate) fn send(&mut self, conn: u32, to_client: bool, msg: Msg) {
        self.stats.messages += 1;
        let now = self.now;
        let healed = self.healed;
        let cn = &mut self.conns[conn as usize];
        if !cn.up || !cn.open {
            return;
        }
        if !healed && (now < cn.partition_until || (!to_client && now < cn.asym_until)) {
            let kind = if now < cn.partition_until {
                FaultKind::Partition
            } else {
                FaultKind::AsymmetricPartition
            };
            self.stats.coverage.fire(kind);
            return;
        }
        let epoch = cn.epoch;
        let link = &mut cn.links[usize::from(!to_client)];
        match net::route(&self.config.net, healed, link, now, &mut self.c) {
            Err(d) => {
                if let (net::Drop::Capacity, true, Msg::Event { seq, .. }) = (d, to_client, &msg) {
                    // A full socket buffer: the driver learns the write failed.
                    self.failed_writes.push((conn, *seq));
                }
                let kind = match d {
                    net::Drop::Loss => FaultKind::Loss,
                    net::Drop::Burst => FaultKind::BurstLoss,
                    net::Drop::Capacity => FaultKind::Capacity,
                };
                self.stats.coverage.fire(kind);
            }
            Ok((at, reordered, dup)) => {
                link.in_transit += 1;
                if reordered {
                    self.stats.coverage.fire(FaultKind::Reordering);
                }
                if at > now + self.config.net.latency_base_us && !healed {
                    self.stats.coverage.fire(FaultKind::Jitter);
                }
                if let Some(dup_at) = dup {
                    link.in_transit += 1;
                    self.stats.coverage.fire(FaultKind::Duplication);
                    let copy = msg.clone();
                    self.schedule(dup_at, Happening::Deliver { conn, epoch, to_client, msg: copy });
                }
                self.schedule(at, Happening::Deliver { conn, epoch, to_client, msg });
            }
        }
    }

    pub(crate) fn deliver(&mut self, conn: u32, epoch: u32, to_client: bool, msg: Msg) {
        let cn = &mut self.conns[conn as usize];
        let link = &mut cn.links[usize::from(!to_client)];
        link.in_transit = link.in_transit.saturating_sub(1);
        if !cn.open {
            return;
        }
        // A frame for the client dies with its connection. An ack already on
        // its way to the server still arrives after the client reconnected
        // (the server reads the old socket until it notices the drop): late,
        // honest acks the tracker must take.
        if to_client && (cn.epoch != epoch || !cn.up) {
            return;
        }
        if to_client {
            self.deliver_to_client(conn, msg);
        } else {
            let user = self.conns[conn as usize].user;
            match msg {
                Msg::Ack(ack) => self.input_ack(Some(conn), user, &ack),
                Msg::Nak { seq, delay_us } => self.input_feedback(conn, seq, Some(delay_us)),
                Msg::Progress { seq } => self.input_feedback(conn, seq, None),
                Msg::Event { .. } | Msg::Skip { .. } => {}
            }
        }
    }

    pub(crate) fn deliver_to_client(&mut self, conn: u32, msg: Msg) {
        let mut released = std::mem::take(&mut self.released);
        let now = self.now;
        let cn = &mut self.conns[conn as usize];
        let stream = cn.stream;
        let mut feedback = None;
        let result = match msg {
            Msg::Event { seq, attempt, floor, id } => {
                let frame =
                    EventFrame { stream, seq: Seq(seq), attempt, floor: Seq(floor), payload: id };
                let r = cn.client.handle_event(now, frame, &mut released);
                if let Ok((Arrival::New, _)) = r {
                    self.model.on_received(id);
                    let c = self.config.client;
                    // Healed clients process what they receive: a nak asks for
                    // a redelivery, and one on a probe whose attempts are all
                    // sent would rightly end it unconfirmed.
                    let naks = self.phase != Phase::Probing;
                    if naks && self.c.chance(c.nak) {
                        let delay_us = self.c.below(c.nak_delay_max_us + 1);
                        feedback = Some(Msg::Nak { seq, delay_us });
                    } else if self.c.chance(c.progress) {
                        feedback = Some(Msg::Progress { seq });
                    }
                }
                r.map(|(_, ack)| ack)
            }
            Msg::Skip { start, end, floor } => {
                let frame =
                    SkipFrame { stream, seqs: SeqRange::new(start, end), floor: Seq(floor) };
                cn.client.handle_skip(frame, &mut released)
            }
            Msg::Ack(_) | Msg::Nak { .. } | Msg::Progress { .. } => Ok(None),
        };
        for &(seq, id) in &released {
            self.on_release(conn, seq, id);
        }
        released.clear();
        self.released = released;
        if let Some(msg) = feedback {
            self.send(conn, false, msg);
        }
        match result {
            Ok(Some(ack)) => self.send(conn, false, Msg::Ack(ack)),
            Ok(None) => {}
            Err(e) => {
                return self.fail(
                    Invariant::Window,
                    format!("the receiver of {stream} refused an honest frame: {e}"),
                );
            }
        }
        let cn = &mut self.conns[conn as usize];
        if let Some(at) = cn.client.poll_timeout() {
            if at != cn.timer_at {
                cn.timer_at = at;
                let incarnation = cn.incarnation;
                self.schedule(at, Happening::ClientTimer { conn, incarnation });
            }
        }
    }

    /// The application behind a client sees an event.
    pub(crate) fn on_release(&mut self, conn: u32, seq: u64, id: u64) {
        let (stream, incarnation, ordered, next) = {
            let cn = &self.conns[conn as usize];
            (cn.stream, cn.incarnation, cn.client.ordered(), cn.released_next)
        };
        self.record(TraceEvent::Deliver { stream: stream.to_bits(), seq, id });
        if !self.model.on_delivered(id, incarnation) {
            self.fail(
                Invariant::Delivery,
                format!("event {id} (seq {seq}) delivered twice to one receiver on {stream}"),
            );
        }
        if ordered && seq < next {
            self.fail(
                Invariant::Order,
                format!("ordered stream {stream} released seq {seq} after seq {}", next - 1),
            );
        }
        self.conns[conn as usize].released_next = next.max(seq + 1);
    }

    /// An ack into the tracker from `user` (honest, when `conn` is its own connection).
    pub(crate) fn input_ack(&mut self, conn: Option<u32>, user: u32, ack: &Ack) {
        let now = self.server_now();
        let predicted = self.model.ack_valid(user, ack, self.config.tracker.ack_ranges_max);
        // Every ack, honest or not, prefetched first, alone and as a batch
        // of one: hints that must change nothing (a seed's trace is the same
        // with or without them).
        self.tracker.prefetch_ack(ack);
        self.tracker.prefetch_acks(core::slice::from_ref(ack));
        let result = self.tracker.handle_ack(now, user_id(user), ack);
        self.record(TraceEvent::Ack {
            user: user_id(user).0,
            stream: ack.stream.to_bits(),
            cumulative: ack.cumulative.0,
            ranges: ack.ranges.len() as u32,
            echo: ack.echo.map_or(u64::MAX, |e| e.seq.0),
            attempt: ack.echo.map_or(0, |e| e.attempt),
            ok: result.is_ok(),
        });
        if let Err(acktrack::AckError::NotOwner { .. }) = result {
            self.stats.coverage.rejected_cross_user += 1;
        }
        self.model.on_ack_result(user, predicted.is_ok(), result.is_ok());
        match (&predicted, &result) {
            (Ok(_), Err(e)) => {
                let e = *e;
                self.fail(Invariant::Metrics, format!("valid ack {ack:?} rejected: {e}"));
            }
            (Err(why), Ok(())) => {
                let inv =
                    if why.contains("owner") { Invariant::Isolation } else { Invariant::Metrics };
                self.fail(inv, format!("ack {ack:?} from {} accepted but {why}", user_id(user)));
            }
            _ => {}
        }
        let ctx = match predicted {
            Ok(conn_index) => {
                let expected = self.model.ack_coverage(conn_index, ack);
                let echo = self.model.echo_target(conn_index, ack);
                crate::model::Ctx::Ack { conn: conn_index, ack, expected, echo }
            }
            Err(_) => crate::model::Ctx::Rejected,
        };
        let _ = conn;
        self.drain(ctx);
        self.check_step(Some(user));
    }

    /// A client reconnects: new transport, resume from its receiver.
    pub(crate) fn reconnect(&mut self, conn: u32) {
        let cn = &mut self.conns[conn as usize];
        if !cn.open {
            return;
        }
        cn.epoch += 1;
        cn.up = true;
        cn.links = [Link::default(); 2];
        cn.partition_until = 0;
        cn.asym_until = 0;
        let resume = cn.client.resume_point();
        let stream = cn.stream;
        let user = cn.user;
        let now = self.server_now();
        let expected = self.model.connect_expectation(conn, resume.0);
        let result = self.tracker.handle_connect(now, stream, resume);
        self.record(TraceEvent::Connect {
            stream: stream.to_bits(),
            resume: resume.0,
            ok: result.is_ok(),
        });
        if let Err(e) = result {
            self.fail(Invariant::Metrics, format!("connect {stream} resume {resume} failed: {e}"));
        } else {
            self.model.on_connect(conn, user);
        }
        self.drain(crate::model::Ctx::Connect { conn, resume: resume.0, expected });
        self.check_step(Some(user));
    }

    /// A scheduled fault fires.
    pub(crate) fn fault(&mut self, kind: FaultKind) {
        let r = self.config.rates;
        let rate = match kind {
            FaultKind::Partition => r.partition,
            FaultKind::AsymmetricPartition => r.asym_partition,
            FaultKind::ConnectionDrop => r.conn_drop,
            FaultKind::ClientCrash => r.crash,
            FaultKind::ClockJump => r.clock_jump,
            _ => r.malicious,
        };
        let next = self.now + net::exp_interval(rate, &mut self.c);
        self.schedule(next, Happening::Fault(kind));
        crate::faults::inject(self, kind);
    }

    pub(crate) fn final_checks(&mut self) {
        let users = self.config.workload.users;
        for u in 0..=users {
            self.check_step(Some(u));
        }
    }
}

fn profile_label(config: &WorldConfig) -> String {
    let net = &config.net;
    let lossy = net.loss > 0.0 || net.ge_enter_bad > 0.0;
    let partitions = config.has(FaultKind::Partition)
        || config.has(FaultKind::AsymmetricPartition)
        || config.has(FaultKind::ConnectionDrop)
        || config.has(FaultKind::ClientCrash);
    match (lossy, partitions) {
        (false, false) => "clean",
        (true, false) => "lossy",
        (false, true) => "partitions",
        (true, true) => "lossy+partitions",
    }
    .to_string()
}
