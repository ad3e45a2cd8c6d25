//! `tracker_ops`: arbitrary application verbs and environment inputs, many of
//! them hostile, against one [`Tracker`], with a reference model that predicts
//! which calls must fail and which events each call must finish, and checks
//! every command and the metrics after every call.

use std::collections::{BTreeMap, BTreeSet};

use acktrack::{
    Ack, AckError, Command, Config, Echo, EventId, EventState, ExpiryReason, FlowControl, Instant,
    Jitter, Metrics, Outcome, RetryBudget, RetryPolicy, RtoConfig, Seq, SeqRange, StreamId,
    SubmitError, SubmitOptions, Tracker, UserId,
};
use arbitrary::Arbitrary;
use core::time::Duration;

use crate::{SeqSel, Span};

/// Policy knobs, mapped into small valid values (the `config` target covers
/// invalid ones).
#[derive(Arbitrary, Debug)]
pub struct Knobs {
    initial_ms: u8,
    factor_tenths: u8,
    delay_max_extra_ms: u16,
    jitter: u8,
    attempts_max: u8,
    deadline_10ms: u16,
    rto: Option<(u8, u8, u16)>,
    window: u8,
    queue_max: u8,
    user_pending_max: u8,
    global_pending_max: u8,
    streams_max: u8,
    user_budget: Option<(u16, u8, u16)>,
    global_budget: Option<(u16, u8, u16)>,
    ack_ranges_max: u8,
    seed: u64,
}

fn budget(b: Option<(u16, u8, u16)>) -> Option<RetryBudget> {
    b.map(|(ratio, burst, refill)| RetryBudget {
        ratio_percent: u32::from(ratio % 201),
        burst: u32::from(burst % 8) + 1,
        refill_per_sec: u32::from(refill % 50),
    })
}

impl Knobs {
    /// A valid config.
    pub fn config(&self) -> Config {
        let initial_delay = Duration::from_millis(u64::from(self.initial_ms % 200) + 1);
        let jitter = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated]
            [usize::from(self.jitter % 4)];
        Config {
            retry: RetryPolicy {
                initial_delay,
                backoff_factor: 1.0 + f64::from(self.factor_tenths % 91) / 10.0,
                delay_max: initial_delay
                    + Duration::from_millis(u64::from(self.delay_max_extra_ms)),
                jitter,
                attempts_max: u32::from(self.attempts_max % 6) + 1,
                deadline: Duration::from_millis(u64::from(self.deadline_10ms) * 10 + 1),
            },
            rto: self.rto.map(|(min, extra, initial)| {
                let min = Duration::from_millis(u64::from(min % 50) + 1);
                let max = min + Duration::from_millis(u64::from(extra) * 10);
                let span = (max - min).as_micros() as u64;
                let initial = min + Duration::from_micros(u64::from(initial) % (span + 1));
                RtoConfig { initial, min, max }
            }),
            flow: FlowControl {
                window: u32::from(self.window % 8) + 1,
                queue_max: u32::from(self.queue_max % 8),
                user_pending_max: u32::from(self.user_pending_max % 16) + 1,
                global_pending_max: u32::from(self.global_pending_max % 24) + 1,
                streams_max: u32::from(self.streams_max % 6) + 1,
            },
            user_retry_budget: budget(self.user_budget),
            global_retry_budget: budget(self.global_budget),
            ack_ranges_max: u32::from(self.ack_ranges_max % 5),
            seed: self.seed,
        }
    }
}

/// A stream: one the tracker handed out (open or closed), or any id.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum StreamSel {
    /// The n-th stream opened (modulo).
    Known(u8),
    /// Any id.
    Bogus(u64),
}

/// An event: one submitted (pending or finished), or any id.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum EventSel {
    /// The n-th event submitted, counting from the latest (modulo).
    Known(u8),
    /// Any id.
    Bogus(u64),
}

/// Who claims to send an ack.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum UserSel {
    /// The stream's owner.
    Owner,
    /// One of the harness's users (maybe the owner).
    User(u8),
}

/// One call on the tracker.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// `open_stream` for one of four users.
    Open { user: u8 },
    /// `close_stream`.
    Close { stream: StreamSel },
    /// `submit`.
    Submit { stream: StreamSel, deadline_ms: Option<u16>, key: Option<u8> },
    /// `cancel`.
    Cancel { event: EventSel },
    /// `handle_ack` with arbitrary fields (often malformed or foreign).
    Ack {
        user: UserSel,
        stream: StreamSel,
        cumulative: SeqSel,
        ranges: Vec<(SeqSel, u8)>,
        echo: Option<(SeqSel, u8)>,
    },
    /// `handle_ack` from the owner, well formed: cumulative up to `upto`
    /// above the floor, echoing the last seq's current attempt.
    GoodAck { stream: StreamSel, upto: u8, range: Option<(u8, u8)> },
    /// `handle_connect` with a resume point.
    Connect { stream: StreamSel, resume: SeqSel },
    /// `handle_disconnect`.
    Disconnect { stream: StreamSel },
    /// `handle_nak`.
    Nak { user: UserSel, stream: StreamSel, seq: SeqSel, delay: Span },
    /// `handle_progress`.
    Progress { user: UserSel, stream: StreamSel, seq: SeqSel },
    /// `handle_transmit_failed`.
    TransmitFailed { stream: StreamSel, seq: SeqSel },
    /// `forget_user`.
    Forget { user: u8 },
    /// Move the harness clock forward (no call).
    Advance(Span),
    /// Move the harness clock backwards: later calls pass an earlier `now`.
    Regress(Span),
    /// `handle_timeout(now)`, spurious or not.
    Timeout,
    /// Call `handle_timeout` at every `poll_timeout` up to `now + span`.
    Drive(Span),
}

/// The fuzz input.
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// The policy.
    pub knobs: Knobs,
    /// The calls.
    pub ops: Vec<Op>,
}

#[derive(Clone, Debug)]
struct Ev {
    id: EventId,
    stream: StreamId,
    user: UserId,
    payload: u64,
    submitted_at: Instant,
    deadline: Instant,
    seq: Option<u64>,
    attempts: u32,
    key: Option<u64>,
    finished: bool,
}

#[derive(Clone, Debug)]
struct St {
    id: StreamId,
    user: UserId,
    open: bool,
    connected: bool,
    next_seq: u64,
    floor: u64,
}

/// Counters the model keeps, globally and per user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counts {
    submitted: u64,
    sent: u64,
    retried: u64,
    confirmed: u64,
    expired_deadline: u64,
    expired_attempts: u64,
    cancelled: u64,
    superseded: u64,
    stream_closed: u64,
    pending: u64,
}

impl Counts {
    fn of(m: &Metrics) -> Counts {
        Counts {
            submitted: m.submitted,
            sent: m.sent,
            retried: m.retried,
            confirmed: m.confirmed,
            expired_deadline: m.expired_deadline,
            expired_attempts: m.expired_attempts,
            cancelled: m.cancelled,
            superseded: m.superseded,
            stream_closed: m.stream_closed,
            pending: m.in_flight + m.queued,
        }
    }
}

/// Which call is running: decides which outcomes it may produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Open,
    Close(StreamId),
    Submit(StreamId, Option<u64>),
    Cancel(EventId),
    Ack(StreamId),
    Connect(StreamId),
    /// A nak or a transmit-failure report.
    Feedback,
    Other,
}

const USERS: u64 = 4;

struct Harness {
    tracker: Tracker<u64>,
    config: Config,
    now: Instant,
    events: Vec<Ev>,
    event_index: BTreeMap<EventId, usize>,
    pending: BTreeSet<EventId>,
    /// Pending events that have a seq.
    by_seq: BTreeMap<(StreamId, u64), EventId>,
    streams: Vec<St>,
    stream_index: BTreeMap<StreamId, usize>,
    counts: Counts,
    users: BTreeMap<UserId, Counts>,
    clock_regressions: u64,
    next_payload: u64,
    /// The last few acks, prefetched again with each new one as a batch
    /// (stale ones name resolved seqs, closed or unknown streams).
    recent_acks: Vec<Ack>,
}

/// A prefetch hint that does nothing (a fuzzer has no use for the speed).
fn ignore_hint(address: *const u8) {
    let _ = address;
}

/// Runs one input.
pub fn run(input: Input) {
    let config = input.knobs.config();
    let mut tracker = Tracker::new(config).expect("the knobs make valid configs");
    // Half the inputs (by the seed's low bit) give the tracker a prefetch
    // hint, which must change nothing the harness checks.
    if input.knobs.seed & 1 == 1 {
        tracker.set_prefetch(Some(ignore_hint));
    }
    let mut h = Harness {
        tracker,
        config,
        now: Instant::ZERO,
        events: Vec::new(),
        event_index: BTreeMap::new(),
        pending: BTreeSet::new(),
        by_seq: BTreeMap::new(),
        streams: Vec::new(),
        stream_index: BTreeMap::new(),
        counts: Counts::default(),
        users: BTreeMap::new(),
        clock_regressions: 0,
        next_payload: 0,
        recent_acks: Vec::new(),
    };
    for op in input.ops.into_iter().take(512) {
        h.apply(op);
        h.check_state();
    }
    h.quiesce();
}

impl Harness {
    fn stream_id(&self, sel: StreamSel) -> StreamId {
        match sel {
            StreamSel::Known(i) if !self.streams.is_empty() => {
                self.streams[usize::from(i) % self.streams.len()].id
            }
            StreamSel::Known(i) => StreamId::from_bits(u64::from(i)),
            StreamSel::Bogus(bits) => StreamId::from_bits(bits),
        }
    }

    fn event_id(&self, sel: EventSel) -> EventId {
        match sel {
            EventSel::Known(i) if !self.events.is_empty() => {
                let n = self.events.len();
                self.events[n - 1 - usize::from(i) % n].id
            }
            EventSel::Known(i) => EventId::from_bits(u64::from(i)),
            EventSel::Bogus(bits) => EventId::from_bits(bits),
        }
    }

    fn st(&self, id: StreamId) -> Option<&St> {
        self.stream_index.get(&id).map(|&i| &self.streams[i]).filter(|s| s.open)
    }

    fn user(&self, sel: UserSel, stream: StreamId) -> UserId {
        match (sel, self.st(stream)) {
            (UserSel::Owner, Some(s)) => s.user,
            (UserSel::Owner, None) => UserId(0),
            (UserSel::User(u), _) => UserId(u64::from(u) % USERS),
        }
    }

    /// Accounts for the clock rule of a call taking `self.now`.
    fn tick(&mut self) {
        if self.now < self.tracker.now() {
            self.clock_regressions += 1;
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            metrics: self.tracker.metrics().clone(),
            users: (0..USERS).map(|u| self.tracker.user_metrics(UserId(u)).cloned()).collect(),
            pending: self.tracker.pending(),
            timeout: self.tracker.poll_timeout(),
        }
    }

    /// A call that failed changed nothing but the counters that count rejections.
    fn unchanged(&mut self, before: &Snapshot, rejected: Rejection, what: &str) {
        let after = self.snapshot();
        assert!(self.tracker.poll_command().is_none(), "{what}: an error emitted a command");
        assert_eq!(after.pending, before.pending, "{what}: an error changed pending");
        assert_eq!(after.timeout, before.timeout, "{what}: an error changed poll_timeout");
        let scrub = |m: &Metrics| {
            let mut m = m.clone();
            m.clock_regressions = 0;
            m.acks_rejected = 0;
            m.rejected_stream_queue = 0;
            m.rejected_user_cap = 0;
            m.rejected_global_cap = 0;
            m
        };
        assert_eq!(
            scrub(&after.metrics),
            scrub(&before.metrics),
            "{what}: an error changed metrics"
        );
        for (a, b) in after.users.iter().zip(&before.users) {
            assert_eq!(
                a.as_ref().map(scrub),
                b.as_ref().map(scrub),
                "{what}: an error changed user metrics"
            );
        }
        let delta = |f: fn(&Metrics) -> u64| f(&after.metrics) - f(&before.metrics);
        let expected = |r: Rejection| u64::from(r == rejected);
        assert_eq!(delta(|m| m.acks_rejected), expected(Rejection::Ack), "{what}: acks_rejected");
        assert_eq!(
            delta(|m| m.rejected_stream_queue),
            expected(Rejection::Queue),
            "{what}: rejected_stream_queue"
        );
        assert_eq!(
            delta(|m| m.rejected_user_cap),
            expected(Rejection::User),
            "{what}: rejected_user_cap"
        );
        assert_eq!(
            delta(|m| m.rejected_global_cap),
            expected(Rejection::Global),
            "{what}: rejected_global_cap"
        );
    }

    fn apply(&mut self, op: Op) {
        let before = self.snapshot();
        match op {
            Op::Open { user } => {
                let user = UserId(u64::from(user) % USERS);
                self.tick();
                let open = self.streams.iter().filter(|s| s.open).count() as u32;
                match self.tracker.open_stream(self.now, user) {
                    Ok(id) => {
                        assert!(open < self.config.flow.streams_max, "opened over streams_max");
                        assert!(!self.stream_index.contains_key(&id), "stream id {id} reused");
                        self.stream_index.insert(id, self.streams.len());
                        self.streams.push(St {
                            id,
                            user,
                            open: true,
                            connected: true,
                            next_seq: 0,
                            floor: 0,
                        });
                        self.users.entry(user).or_default();
                        self.drain(Ctx::Open);
                    }
                    Err(_) => {
                        assert_eq!(
                            open, self.config.flow.streams_max,
                            "open refused under the cap"
                        );
                        self.unchanged(&before, Rejection::None, "open");
                    }
                }
            }
            Op::Close { stream } => {
                let id = self.stream_id(stream);
                self.tick();
                let expect_ok = self.st(id).is_some();
                let result = self.tracker.close_stream(self.now, id);
                assert_eq!(result.is_ok(), expect_ok, "close {id}: {result:?}");
                if expect_ok {
                    let on_stream: Vec<EventId> =
                        self.pending.iter().copied().filter(|e| self.ev(*e).stream == id).collect();
                    self.drain(Ctx::Close(id));
                    for e in on_stream {
                        assert!(self.ev(e).finished, "close left {e} pending");
                    }
                    let i = self.stream_index[&id];
                    self.streams[i].open = false;
                    assert!(self.tracker.stream_info(id).is_none(), "closed stream still visible");
                } else {
                    self.unchanged(&before, Rejection::None, "close");
                }
            }
            Op::Submit { stream, deadline_ms, key } => {
                let id = self.stream_id(stream);
                let key = key.map(|k| u64::from(k % 3));
                let options = SubmitOptions {
                    deadline: deadline_ms.map(|ms| Duration::from_millis(u64::from(ms))),
                    conflation_key: key,
                };
                let payload = self.next_payload;
                self.next_payload += 1;
                self.tick();
                let info = self.tracker.stream_info(id);
                let user = self.st(id).map(|s| s.user);
                // Hints, whatever the stream: they must not panic or change
                // anything (a refused submit is checked to leave the
                // snapshot as it was). Alone, then in a batch with every
                // stream the run opened and the one picked.
                self.tracker.prefetch_submit(id);
                let batch: Vec<StreamId> = self.streams.iter().map(|s| s.id).chain([id]).collect();
                self.tracker.prefetch_submits(&batch);
                match self.tracker.submit(self.now, id, payload, options) {
                    Ok(event) => {
                        let s =
                            self.st(id).expect("submit accepted on an unknown or closed stream");
                        assert_ne!(
                            options.deadline,
                            Some(Duration::ZERO),
                            "zero deadline accepted"
                        );
                        assert!(!self.event_index.contains_key(&event), "event id {event} reused");
                        let now = self.tracker.now();
                        let user = s.user;
                        let ev = Ev {
                            id: event,
                            stream: id,
                            user,
                            payload,
                            submitted_at: now,
                            deadline: now.saturating_add(
                                options.deadline.unwrap_or(self.config.retry.deadline),
                            ),
                            seq: None,
                            attempts: 0,
                            key,
                            finished: false,
                        };
                        self.event_index.insert(event, self.events.len());
                        self.events.push(ev);
                        self.pending.insert(event);
                        self.counts.submitted += 1;
                        self.counts.pending += 1;
                        let u = self.users.entry(user).or_default();
                        u.submitted += 1;
                        u.pending += 1;
                        self.drain(Ctx::Submit(id, key));
                        if let Some(key) = key {
                            let others = self
                                .pending
                                .iter()
                                .filter(|&&e| e != event)
                                .map(|&e| self.ev(e))
                                .filter(|e| e.stream == id && e.key == Some(key))
                                .count();
                            assert_eq!(others, 0, "an older event with the same key survived");
                        }
                    }
                    Err(rejected) => {
                        assert_eq!(rejected.payload, payload, "the payload was not handed back");
                        let r = match rejected.error {
                            SubmitError::Stream(_) => {
                                assert!(user.is_none(), "submit refused on an open stream");
                                Rejection::None
                            }
                            SubmitError::ZeroDeadline => {
                                assert_eq!(options.deadline, Some(Duration::ZERO));
                                Rejection::None
                            }
                            SubmitError::StreamQueueFull { cap } => {
                                assert_eq!(cap, self.config.flow.queue_max);
                                let info = info.expect("queue full on an open stream");
                                assert!(info.queued >= cap, "queue full under its cap: {info:?}");
                                Rejection::Queue
                            }
                            SubmitError::UserPendingFull { cap } => {
                                assert_eq!(cap, self.config.flow.user_pending_max);
                                let pending = self.users[&user.expect("open")].pending;
                                assert!(pending >= u64::from(cap), "user cap hit at {pending}");
                                Rejection::User
                            }
                            SubmitError::GlobalPendingFull { cap } => {
                                assert_eq!(cap, self.config.flow.global_pending_max);
                                assert!(
                                    self.counts.pending >= u64::from(cap),
                                    "global cap hit early"
                                );
                                Rejection::Global
                            }
                        };
                        self.unchanged(&before, r, "submit");
                    }
                }
            }
            Op::Cancel { event } => {
                let id = self.event_id(event);
                self.tick();
                let expect_ok = self.pending.contains(&id);
                let result = self.tracker.cancel(self.now, id);
                assert_eq!(result.is_ok(), expect_ok, "cancel {id}: {result:?}");
                if expect_ok {
                    self.drain(Ctx::Cancel(id));
                    assert!(self.ev(id).finished, "cancel left {id} pending");
                } else {
                    self.unchanged(&before, Rejection::None, "cancel");
                }
            }
            Op::Ack { user, stream, cumulative, ranges, echo } => {
                let id = self.stream_id(stream);
                let user = self.user(user, id);
                let (floor, next) = self.st(id).map_or((0, 0), |s| (s.floor, s.next_seq));
                let cumulative = cumulative.pick(floor);
                let mut base = cumulative;
                let ranges: Vec<SeqRange> = ranges
                    .into_iter()
                    .take(8)
                    .map(|(start, len)| {
                        let start = start.pick(base);
                        let end = start.saturating_add(u64::from(len));
                        base = end;
                        SeqRange::new(start, end)
                    })
                    .collect();
                let ack = Ack {
                    stream: id,
                    cumulative: Seq(cumulative),
                    ranges,
                    echo: echo.map(|(seq, attempt)| Echo {
                        seq: Seq(seq.pick(next.saturating_sub(1))),
                        attempt: u32::from(attempt),
                    }),
                };
                self.ack(user, &ack, &before);
            }
            Op::GoodAck { stream, upto, range } => {
                let id = self.stream_id(stream);
                let Some(s) = self.st(id) else { return };
                let (user, floor, next) = (s.user, s.floor, s.next_seq);
                if next == 0 {
                    return;
                }
                let cumulative = (floor + u64::from(upto)).min(next);
                let ranges = match range {
                    Some((gap, len)) => {
                        let start = cumulative + 1 + u64::from(gap);
                        let end = (start + u64::from(len) + 1).min(next);
                        if start < end { vec![SeqRange::new(start, end)] } else { vec![] }
                    }
                    None => vec![],
                };
                let echo_seq = cumulative.saturating_sub(1).max(floor).min(next - 1);
                let attempt =
                    self.by_seq.get(&(id, echo_seq)).map_or(1, |e| self.ev(*e).attempts.max(1));
                let ack = Ack {
                    stream: id,
                    cumulative: Seq(cumulative),
                    ranges,
                    echo: Some(Echo { seq: Seq(echo_seq), attempt }),
                };
                self.ack(user, &ack, &before);
            }
            Op::Connect { stream, resume } => {
                let id = self.stream_id(stream);
                let (floor, next) = self.st(id).map_or((0, 0), |s| (s.floor, s.next_seq));
                let _ = floor;
                let resume = resume.pick(next);
                self.tick();
                let expect_ok = self.st(id).is_some() && resume <= next;
                let result = self.tracker.handle_connect(self.now, id, Seq(resume));
                assert_eq!(result.is_ok(), expect_ok, "connect {id} resume {resume}: {result:?}");
                if expect_ok {
                    let confirmed: Vec<EventId> =
                        self.by_seq.range((id, 0)..(id, resume)).map(|(_, &e)| e).collect();
                    let i = self.stream_index[&id];
                    self.streams[i].connected = true;
                    self.drain(Ctx::Connect(id));
                    for e in confirmed {
                        assert!(self.ev(e).finished, "resume {resume} left {e} pending");
                    }
                } else {
                    self.unchanged(&before, Rejection::None, "connect");
                }
            }
            Op::Disconnect { stream } => {
                let id = self.stream_id(stream);
                self.tick();
                let expect_ok = self.st(id).is_some();
                let result = self.tracker.handle_disconnect(self.now, id);
                assert_eq!(result.is_ok(), expect_ok, "disconnect {id}: {result:?}");
                if expect_ok {
                    let i = self.stream_index[&id];
                    self.streams[i].connected = false;
                    self.drain(Ctx::Other);
                } else {
                    self.unchanged(&before, Rejection::None, "disconnect");
                }
            }
            Op::Nak { user, stream, seq, delay } => {
                let id = self.stream_id(stream);
                let user = self.user(user, id);
                let seq = seq.pick(self.st(id).map_or(0, |s| s.floor));
                let expect_ok = self.feedback_ok(user, id, seq);
                self.tick();
                let result =
                    self.tracker.handle_nak(self.now, user, id, Seq(seq), delay.duration());
                self.feedback_result(result, expect_ok, &before, "nak");
            }
            Op::Progress { user, stream, seq } => {
                let id = self.stream_id(stream);
                let user = self.user(user, id);
                let seq = seq.pick(self.st(id).map_or(0, |s| s.floor));
                let expect_ok = self.feedback_ok(user, id, seq);
                self.tick();
                let result = self.tracker.handle_progress(self.now, user, id, Seq(seq));
                self.feedback_result(result, expect_ok, &before, "progress");
            }
            Op::TransmitFailed { stream, seq } => {
                let id = self.stream_id(stream);
                let s = self.st(id);
                let seq = seq.pick(s.map_or(0, |s| s.next_seq.saturating_sub(1)));
                let expect_ok = s.is_some_and(|s| seq < s.next_seq);
                self.tick();
                let result = self.tracker.handle_transmit_failed(self.now, id, Seq(seq));
                assert_eq!(result.is_ok(), expect_ok, "transmit_failed {id} {seq}: {result:?}");
                if expect_ok {
                    self.drain(Ctx::Feedback);
                } else {
                    self.unchanged(&before, Rejection::None, "transmit_failed");
                }
            }
            Op::Forget { user } => {
                let user = UserId(u64::from(user) % USERS);
                let has_open = self.streams.iter().any(|s| s.open && s.user == user);
                let known = self.users.contains_key(&user);
                let result = self.tracker.forget_user(user);
                assert_eq!(result.is_some(), known && !has_open, "forget {user}");
                if result.is_some() {
                    let counts = self.users.remove(&user).expect("known");
                    assert_eq!(counts.pending, 0, "forgot a user with pending events");
                    assert!(self.tracker.user_metrics(user).is_none());
                }
                assert!(self.tracker.poll_command().is_none(), "forget emitted a command");
            }
            Op::Advance(span) => self.now = self.now.saturating_add(span.duration()),
            Op::Regress(span) => self.now = self.now.saturating_sub(span.duration()),
            Op::Timeout => self.timeout(),
            Op::Drive(span) => {
                let target = self.now.saturating_add(span.duration());
                for _ in 0..10_000 {
                    match self.tracker.poll_timeout() {
                        Some(t) if t <= target => {
                            self.now = self.now.max(t);
                            self.timeout();
                        }
                        _ => break,
                    }
                }
                self.now = self.now.max(target);
            }
        }
    }

    /// `handle_timeout(now)`; afterwards nothing may be overdue.
    fn timeout(&mut self) {
        self.tick();
        self.tracker.handle_timeout(self.now);
        self.drain(Ctx::Other);
        let now = self.tracker.now();
        if let Some(t) = self.tracker.poll_timeout() {
            assert!(
                t > now,
                "poll_timeout {t:?} is not after handle_timeout({now:?}): a busy loop"
            );
        }
        for &e in &self.pending {
            let ev = self.ev(e);
            assert!(
                ev.deadline > now,
                "{e} still pending at {now:?}, past its deadline {:?}",
                ev.deadline
            );
        }
    }

    fn feedback_ok(&self, user: UserId, id: StreamId, seq: u64) -> bool {
        self.st(id).is_some_and(|s| s.user == user && seq < s.next_seq)
    }

    fn feedback_result(
        &mut self,
        result: Result<(), AckError>,
        expect_ok: bool,
        before: &Snapshot,
        what: &str,
    ) {
        assert_eq!(result.is_ok(), expect_ok, "{what}: {result:?}");
        if expect_ok {
            self.drain(Ctx::Feedback);
        } else {
            self.unchanged(before, Rejection::Ack, what);
        }
    }

    /// The model's verdict on an ack: the error it must get, or the events it confirms.
    fn judge_ack(&self, user: UserId, ack: &Ack) -> Result<Vec<EventId>, &'static str> {
        let Some(s) = self.st(ack.stream) else { return Err("unknown or closed stream") };
        if s.user != user {
            return Err("not owner");
        }
        if ack.ranges.len() > self.config.ack_ranges_max as usize {
            return Err("too many ranges");
        }
        if ack.echo.is_some_and(|e| e.attempt == 0) {
            return Err("zero attempt");
        }
        let next = s.next_seq;
        if ack.cumulative.0 > next || ack.echo.is_some_and(|e| e.seq.0 >= next) {
            return Err("seq not sent");
        }
        let mut floor = ack.cumulative.0;
        for r in &ack.ranges {
            if r.is_empty() || r.start.0 < floor {
                return Err("malformed range");
            }
            if r.end.0 > next {
                return Err("range not sent");
            }
            floor = r.end.0;
        }
        if let Some((echo, &e)) =
            ack.echo.and_then(|echo| Some((echo, self.by_seq.get(&(ack.stream, echo.seq.0))?)))
        {
            if echo.attempt > self.ev(e).attempts {
                return Err("attempt not sent");
            }
        }
        let id = ack.stream;
        let mut confirmed: Vec<EventId> =
            self.by_seq.range((id, 0)..(id, ack.cumulative.0)).map(|(_, &e)| e).collect();
        for r in &ack.ranges {
            confirmed.extend(self.by_seq.range((id, r.start.0)..(id, r.end.0)).map(|(_, &e)| e));
        }
        Ok(confirmed)
    }

    fn ack(&mut self, user: UserId, ack: &Ack, before: &Snapshot) {
        let verdict = self.judge_ack(user, ack);
        self.tick();
        // Hints, whatever the ack: they must not panic or change anything
        // (a refused ack is checked to leave the snapshot as it was). Alone,
        // then in a batch with the last few.
        self.tracker.prefetch_ack(ack);
        if self.recent_acks.len() == 4 {
            self.recent_acks.remove(0);
        }
        self.recent_acks.push(ack.clone());
        self.tracker.prefetch_acks(&self.recent_acks);
        let result = self.tracker.handle_ack(self.now, user, ack);
        match (&verdict, &result) {
            (Ok(confirmed), Ok(())) => {
                let confirmed = confirmed.clone();
                self.drain(Ctx::Ack(ack.stream));
                for e in confirmed {
                    let ev = self.ev(e);
                    assert!(ev.finished, "ack {ack:?} left {e} pending");
                }
            }
            (Err(_), Err(_)) => self.unchanged(before, Rejection::Ack, "ack"),
            _ => panic!("ack {ack:?} from {user}: model says {verdict:?}, tracker says {result:?}"),
        }
    }

    fn ev(&self, e: EventId) -> &Ev {
        &self.events[self.event_index[&e]]
    }

    fn ev_mut(&mut self, e: EventId) -> &mut Ev {
        let i =
            *self.event_index.get(&e).unwrap_or_else(|| panic!("command names unknown event {e}"));
        &mut self.events[i]
    }

    fn st_mut(&mut self, id: StreamId) -> &mut St {
        let i = self.stream_index[&id];
        &mut self.streams[i]
    }

    /// Drains and checks every command of the call that ran in `ctx`.
    fn drain(&mut self, ctx: Ctx) {
        let now = self.tracker.now();
        let attempts_max = self.config.retry.attempts_max;
        // A skip may come before the Finish of the event it abandons: checked
        // once the call's commands are all in.
        let mut skips: Vec<(StreamId, SeqRange)> = Vec::new();
        // Bounded: the tracker cannot emit more than a few commands per event.
        for _ in 0..100_000 {
            let Some(command) = self.tracker.poll_command() else {
                for (stream, seqs) in skips {
                    let pending =
                        self.by_seq.range((stream, seqs.start.0)..(stream, seqs.end.0)).next();
                    if let Some((_, e)) = pending {
                        panic!("Skip {seqs:?} names pending {e}");
                    }
                }
                return;
            };
            match command {
                Command::Send { stream, event, seq, attempt } => {
                    let ev = self.ev(event).clone();
                    assert!(!ev.finished, "Send for finished {event}");
                    assert_eq!(ev.stream, stream, "Send on the wrong stream");
                    assert_eq!(ev.seq, None, "Send for {event} twice");
                    assert_eq!(attempt, 1, "Send with attempt {attempt}");
                    assert!(now < ev.deadline, "Send at {now:?}, deadline {:?}", ev.deadline);
                    let s = self.st_mut(stream);
                    assert!(s.open && s.connected, "Send on a closed or disconnected stream");
                    assert_eq!(seq.0, s.next_seq, "seqs are not consecutive");
                    s.next_seq += 1;
                    let window = u64::from(self.config.flow.window);
                    let e = self.ev_mut(event);
                    e.seq = Some(seq.0);
                    e.attempts = 1;
                    self.by_seq.insert((stream, seq.0), event);
                    self.counts.sent += 1;
                    self.users.get_mut(&ev.user).expect("user").sent += 1;
                    let lowest =
                        self.by_seq.range((stream, 0)..(stream, u64::MAX)).next().map(|(k, _)| k.1);
                    assert!(seq.0 - lowest.unwrap_or(seq.0) < window, "Send beyond the window");
                }
                Command::Retry { stream, event, seq, attempt } => {
                    let ev = self.ev(event).clone();
                    assert!(!ev.finished, "Retry for finished {event}");
                    assert_eq!(ev.stream, stream, "Retry on the wrong stream");
                    assert_eq!(ev.seq, Some(seq.0), "Retry with another seq");
                    assert_eq!(attempt, ev.attempts + 1, "Retry attempts not consecutive");
                    assert!(
                        attempt >= 2 && attempt <= attempts_max,
                        "Retry attempt {attempt} of {attempts_max}"
                    );
                    assert!(now < ev.deadline, "Retry at {now:?}, deadline {:?}", ev.deadline);
                    let s = self.st_mut(stream);
                    assert!(s.open && s.connected, "Retry on a closed or disconnected stream");
                    self.ev_mut(event).attempts = attempt;
                    self.counts.retried += 1;
                    self.users.get_mut(&ev.user).expect("user").retried += 1;
                }
                Command::Skip { stream, seqs } => {
                    assert!(!seqs.is_empty(), "empty Skip");
                    let s = &self.streams[self.stream_index[&stream]];
                    assert!(
                        seqs.end.0 <= s.next_seq,
                        "Skip {seqs:?} of seqs never sent (next {})",
                        s.next_seq
                    );
                    skips.push((stream, seqs));
                }
                Command::Finish { event, user, outcome, payload } => {
                    let ev = self.ev(event).clone();
                    assert!(!ev.finished, "{event} finished twice");
                    assert_eq!(user, ev.user, "Finish names the wrong user");
                    assert_eq!(payload, ev.payload, "Finish hands back the wrong payload");
                    match outcome {
                        Outcome::Confirmed { attempts, latency } => {
                            assert!(
                                ctx == Ctx::Ack(ev.stream) || ctx == Ctx::Connect(ev.stream),
                                "{event} confirmed by {ctx:?}"
                            );
                            assert!(
                                attempts >= 1 && attempts == ev.attempts,
                                "Confirmed {attempts} attempts, sent {}",
                                ev.attempts
                            );
                            assert_eq!(
                                latency,
                                now.saturating_duration_since(ev.submitted_at),
                                "latency"
                            );
                        }
                        Outcome::Expired { reason: ExpiryReason::Deadline } => {
                            assert!(
                                now >= ev.deadline,
                                "{event} expired at {now:?} before its deadline {:?}",
                                ev.deadline
                            );
                        }
                        Outcome::Expired { reason: ExpiryReason::AttemptsExhausted } => {
                            assert_eq!(
                                ev.attempts, attempts_max,
                                "{event} exhausted after {} attempts",
                                ev.attempts
                            );
                        }
                        Outcome::Cancelled => {
                            assert_eq!(ctx, Ctx::Cancel(event), "Cancelled outside cancel")
                        }
                        Outcome::Superseded => {
                            assert_eq!(
                                ctx,
                                Ctx::Submit(ev.stream, ev.key),
                                "Superseded outside a submit with its key"
                            );
                            assert!(ev.key.is_some());
                        }
                        Outcome::StreamClosed => {
                            assert_eq!(ctx, Ctx::Close(ev.stream), "StreamClosed outside close")
                        }
                    }
                    let bump = |c: &mut Counts| {
                        c.pending -= 1;
                        match outcome {
                            Outcome::Confirmed { .. } => c.confirmed += 1,
                            Outcome::Expired { reason: ExpiryReason::Deadline } => {
                                c.expired_deadline += 1
                            }
                            Outcome::Expired { reason: ExpiryReason::AttemptsExhausted } => {
                                c.expired_attempts += 1
                            }
                            Outcome::Cancelled => c.cancelled += 1,
                            Outcome::Superseded => c.superseded += 1,
                            Outcome::StreamClosed => c.stream_closed += 1,
                        }
                    };
                    bump(&mut self.counts);
                    bump(self.users.get_mut(&ev.user).expect("user"));
                    self.ev_mut(event).finished = true;
                    self.pending.remove(&event);
                    if let Some(seq) = ev.seq {
                        self.by_seq.remove(&(ev.stream, seq));
                    }
                }
            }
        }
        panic!("the tracker emitted over 100000 commands for one call");
    }

    /// Invariants that hold between calls.
    fn check_state(&mut self) {
        let m = self.tracker.metrics();
        assert_eq!(Counts::of(m), self.counts, "metrics differ from the model");
        assert_eq!(m.clock_regressions, self.clock_regressions, "clock_regressions");
        assert_eq!(u64::from(self.tracker.pending()), self.counts.pending, "pending()");
        assert!(
            self.tracker.pending() <= self.config.flow.global_pending_max,
            "over the global cap"
        );
        let open = self.streams.iter().filter(|s| s.open).count() as u64;
        assert_eq!(m.streams, open, "streams gauge");
        assert!(open <= u64::from(self.config.flow.streams_max));
        for (user, counts) in &self.users {
            let um = self.tracker.user_metrics(*user).expect("known user has metrics");
            assert_eq!(&Counts::of(um), counts, "{user}: metrics differ from the model");
            assert!(
                counts.pending <= u64::from(self.config.flow.user_pending_max),
                "{user} over its cap"
            );
        }
        let window = u64::from(self.config.flow.window);
        for i in 0..self.streams.len() {
            let s = self.streams[i].clone();
            if !s.open {
                assert!(self.tracker.stream_info(s.id).is_none());
                continue;
            }
            let info = self.tracker.stream_info(s.id).expect("open stream has info");
            assert_eq!(info.user, s.user);
            assert_eq!(info.connected, s.connected, "{}: connected", s.id);
            assert_eq!(info.next_seq.0, s.next_seq, "{}: next_seq", s.id);
            let floor = info.floor.0;
            assert!(floor >= s.floor, "{}: floor went back from {} to {floor}", s.id, s.floor);
            assert!(floor <= s.next_seq, "{}: floor above next_seq", s.id);
            let lowest = self.by_seq.range((s.id, 0)..(s.id, u64::MAX)).next().map(|(k, _)| k.1);
            assert_eq!(
                floor,
                lowest.unwrap_or(s.next_seq),
                "{}: floor is not the lowest pending seq",
                s.id
            );
            assert_eq!(self.tracker.stream_floor(s.id), Some(info.floor));
            assert!(u64::from(info.in_flight) <= window, "{}: in flight over the window", s.id);
            assert!(s.next_seq - floor <= window, "{}: seq span over the window", s.id);
            assert!(info.queued <= self.config.flow.queue_max, "{}: queue over its cap", s.id);
            self.streams[i].floor = floor;
        }
        let mut earliest = None::<Instant>;
        for &e in &self.pending {
            let ev = self.ev(e);
            let state =
                self.tracker.event_state(e).unwrap_or_else(|| panic!("pending {e} has no state"));
            match (state, ev.seq) {
                (EventState::Queued, None) => {}
                (
                    EventState::InFlight { seq, attempts }
                    | EventState::RetryDeferred { seq, attempts }
                    | EventState::Paused { seq, attempts },
                    Some(s),
                ) => {
                    assert_eq!((seq.0, attempts), (s, ev.attempts), "{e}: state {state:?}");
                }
                _ => panic!("{e}: state {state:?}, model seq {:?}", ev.seq),
            }
            assert_eq!(self.tracker.payload(e), Some(&ev.payload));
            assert_eq!(self.tracker.event_user(e), Some(ev.user));
            earliest = Some(earliest.map_or(ev.deadline, |t| t.min(ev.deadline)));
        }
        if let Some(deadline) = earliest {
            let t = self.tracker.poll_timeout();
            assert!(
                t.is_some_and(|t| t <= deadline),
                "poll_timeout {t:?} later than a deadline {deadline:?}"
            );
        }
    }

    /// Drives the tracker at its `poll_timeout` until every event finished.
    fn quiesce(&mut self) {
        for _ in 0..100_000 {
            if self.pending.is_empty() {
                for ev in &self.events {
                    assert!(ev.finished);
                    assert!(
                        self.tracker.event_state(ev.id).is_none(),
                        "finished {} has a state",
                        ev.id
                    );
                }
                return;
            }
            let t = self.tracker.poll_timeout().expect("pending events but no timeout");
            self.now = self.now.max(t);
            self.timeout();
            self.check_state();
        }
        panic!("events still pending after 100000 timeouts");
    }
}

struct Snapshot {
    metrics: Metrics,
    users: Vec<Option<Metrics>>,
    pending: u32,
    timeout: Option<Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    None,
    Ack,
    Queue,
    User,
    Global,
}
