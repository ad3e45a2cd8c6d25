//! Model-based test: random operation sequences against the tracker and a
//! small, obviously-correct reference model written here (vectors and linear
//! scans, no slabs, rings or heaps). They must agree on every error, every
//! event's state and outcome, every transmission, every skip, and the metrics.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use acktrack::{
    Ack, AckError, CancelError, Command, Config, ConnectError, Echo, EventId, EventState,
    ExpiryReason, FlowControl, Instant, Jitter, Metrics, Outcome, RetryPolicy, Seq, SeqRange,
    StreamError, StreamId, SubmitError, SubmitOptions, Tracker, UserId,
};
use proptest::prelude::*;

const WINDOW: u64 = 3;
const QUEUE_MAX: u32 = 4;
const USER_PENDING_MAX: u32 = 6;
const GLOBAL_PENDING_MAX: u32 = 10;
const STREAMS_MAX: u32 = 5;
const ATTEMPTS_MAX: u32 = 3;
const RANGES_MAX: u32 = 3;
const INITIAL_MS: u64 = 100;
const CAP_MS: u64 = 300;
const DEADLINE_MS: u64 = 1000;

fn config() -> Config {
    Config {
        retry: RetryPolicy {
            initial_delay: Duration::from_millis(INITIAL_MS),
            backoff_factor: 2.0,
            delay_max: Duration::from_millis(CAP_MS),
            jitter: Jitter::None,
            attempts_max: ATTEMPTS_MAX,
            deadline: Duration::from_millis(DEADLINE_MS),
        },
        rto: None,
        flow: FlowControl {
            window: WINDOW as u32,
            queue_max: QUEUE_MAX,
            user_pending_max: USER_PENDING_MAX,
            global_pending_max: GLOBAL_PENDING_MAX,
            streams_max: STREAMS_MAX,
        },
        user_retry_budget: None,
        global_retry_budget: None,
        ack_ranges_max: RANGES_MAX,
        seed: 1,
    }
}

/// Timeout of `attempt`, µs: 100 ms doubling, capped at 300 ms.
fn delay(attempt: u32) -> u64 {
    let mut d = INITIAL_MS;
    for _ in 1..attempt {
        d = (d * 2).min(CAP_MS);
    }
    d * 1000
}

#[derive(Clone, Debug)]
enum Op {
    Open { user: u8 },
    Close { stream: u8 },
    Submit { stream: u8, key: Option<u8>, deadline_ms: Option<u16> },
    Cancel { event: u16 },
    Ack { stream: u8, foreign: bool, cum: u16, mask: u16, echo: u16, attempt: u8 },
    Advance { ms: u16 },
    Disconnect { stream: u8 },
    Connect { stream: u8, resume: u16 },
    ClockBack { ms: u16 },
    Nak { stream: u8, foreign: bool, seq: u16, delay_ms: u16 },
    Progress { stream: u8, foreign: bool, seq: u16 },
    TransmitFailed { stream: u8, seq: u16 },
    Forget { user: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..3).prop_map(|user| Op::Open { user }),
        1 => any::<u8>().prop_map(|stream| Op::Close { stream }),
        8 => (any::<u8>(), proptest::option::weighted(0.3, 0u8..2), proptest::option::weighted(0.2, 0u16..1500))
            .prop_map(|(stream, key, deadline_ms)| Op::Submit { stream, key, deadline_ms }),
        1 => any::<u16>().prop_map(|event| Op::Cancel { event }),
        8 => (any::<u8>(), proptest::bool::weighted(0.1), any::<u16>(), any::<u16>(), any::<u16>(), 0u8..5)
            .prop_map(|(stream, foreign, cum, mask, echo, attempt)| Op::Ack { stream, foreign, cum, mask, echo, attempt }),
        6 => (0u16..400).prop_map(|ms| Op::Advance { ms }),
        1 => any::<u8>().prop_map(|stream| Op::Disconnect { stream }),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(stream, resume)| Op::Connect { stream, resume }),
        1 => (0u16..50).prop_map(|ms| Op::ClockBack { ms }),
        1 => (any::<u8>(), proptest::bool::weighted(0.1), any::<u16>(), prop_oneof![Just(0u16), 0u16..1200])
            .prop_map(|(stream, foreign, seq, delay_ms)| Op::Nak { stream, foreign, seq, delay_ms }),
        1 => (any::<u8>(), proptest::bool::weighted(0.1), any::<u16>())
            .prop_map(|(stream, foreign, seq)| Op::Progress { stream, foreign, seq }),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(stream, seq)| Op::TransmitFailed { stream, seq }),
        1 => (0u8..3).prop_map(|user| Op::Forget { user }),
    ]
}

#[derive(Debug)]
struct MEvent {
    id: EventId,
    stream: usize,
    seq: Option<u64>,
    attempts: u32,
    submitted: u64,
    deadline: u64,
    timeout: u64,
    paused: bool,
    key: Option<u64>,
    done: Option<Outcome>,
}

#[derive(Debug)]
struct MStream {
    id: StreamId,
    user: UserId,
    open: bool,
    connected: bool,
    next_seq: u64,
    /// Transmitted, unresolved: seq → event.
    sent: BTreeMap<u64, usize>,
    queue: VecDeque<usize>,
    abandoned: BTreeSet<u64>,
    client_cum: u64,
}

impl MStream {
    fn floor(&self) -> u64 {
        self.sent.keys().next().copied().unwrap_or(self.next_seq)
    }
    fn span(&self) -> u64 {
        self.next_seq - self.floor()
    }
}

#[derive(Default)]
struct Model {
    now: u64,
    /// The latest time the tracker was given.
    seen: u64,
    streams: Vec<MStream>,
    events: Vec<MEvent>,
    m: Metrics,
    users: BTreeMap<UserId, Metrics>,
    user_pending: BTreeMap<UserId, u32>,
    open_streams: u32,
}

macro_rules! bump {
    ($model:expr, $user:expr, $field:ident) => {{
        $model.m.$field += 1;
        $model.users.entry($user).or_default().$field += 1;
    }};
}
macro_rules! gauge {
    ($model:expr, $user:expr, $field:ident, $delta:expr) => {{
        $model.m.$field = ($model.m.$field as i64 + $delta) as u64;
        let u = $model.users.entry($user).or_default();
        u.$field = (u.$field as i64 + $delta) as u64;
    }};
}

impl Model {
    fn pending(&self) -> u32 {
        self.events.iter().filter(|e| e.done.is_none()).count() as u32
    }

    fn stream_of(&self, id: StreamId) -> Result<usize, StreamError> {
        match self.streams.iter().position(|s| s.id == id) {
            Some(i) if self.streams[i].open => Ok(i),
            Some(_) => Err(StreamError::Closed(id)),
            None => Err(StreamError::Unknown(id)),
        }
    }

    fn finish(&mut self, e: usize, outcome: Outcome) {
        let ev = &self.events[e];
        assert!(ev.done.is_none());
        let s = ev.stream;
        let user = self.streams[s].user;
        if let Some(seq) = ev.seq {
            self.streams[s].sent.remove(&seq);
            gauge!(self, user, in_flight, -1);
            if !matches!(outcome, Outcome::Confirmed { .. } | Outcome::StreamClosed) {
                let st = &mut self.streams[s];
                st.abandoned.insert(seq);
            }
        } else {
            self.streams[s].queue.retain(|&q| q != e);
            gauge!(self, user, queued, -1);
        }
        *self.user_pending.get_mut(&user).unwrap() -= 1;
        match outcome {
            Outcome::Confirmed { latency, .. } => {
                bump!(self, user, confirmed);
                self.m.latency.record(latency);
                self.users.get_mut(&user).unwrap().latency.record(latency);
            }
            Outcome::Expired { reason } => {
                match reason {
                    ExpiryReason::Deadline => bump!(self, user, expired_deadline),
                    ExpiryReason::AttemptsExhausted => bump!(self, user, expired_attempts),
                }
                if !self.streams[s].connected {
                    bump!(self, user, expired_disconnected);
                }
            }
            Outcome::Cancelled => bump!(self, user, cancelled),
            Outcome::Superseded => bump!(self, user, superseded),
            Outcome::StreamClosed => bump!(self, user, stream_closed),
        }
        self.events[e].done = Some(outcome);
    }

    fn confirm(&mut self, e: usize) {
        let ev = &self.events[e];
        let latency = Duration::from_micros(self.now - ev.submitted);
        self.finish(e, Outcome::Confirmed { attempts: ev.attempts, latency });
    }

    fn send(&mut self, e: usize) {
        let s = self.events[e].stream;
        let user = self.streams[s].user;
        let seq = self.streams[s].next_seq;
        self.streams[s].next_seq += 1;
        self.streams[s].sent.insert(seq, e);
        let ev = &mut self.events[e];
        ev.seq = Some(seq);
        ev.attempts = 1;
        ev.timeout = self.now + delay(1);
        gauge!(self, user, in_flight, 1);
        bump!(self, user, sent);
    }

    fn retransmit(&mut self, e: usize) {
        let user = self.streams[self.events[e].stream].user;
        let ev = &mut self.events[e];
        ev.attempts += 1;
        ev.paused = false;
        ev.timeout = self.now + delay(ev.attempts);
        bump!(self, user, retried);
    }

    fn pump(&mut self, s: usize) {
        while self.streams[s].connected && self.streams[s].span() < WINDOW {
            let Some(e) = self.streams[s].queue.front().copied() else { break };
            if self.events[e].deadline <= self.now {
                self.finish(e, Outcome::Expired { reason: ExpiryReason::Deadline });
                continue;
            }
            self.streams[s].queue.pop_front();
            let user = self.streams[s].user;
            gauge!(self, user, queued, -1);
            self.send(e);
        }
    }

    fn due(&self, e: &MEvent) -> u64 {
        if e.seq.is_some() && !e.paused { e.timeout.min(e.deadline) } else { e.deadline }
    }

    fn next_due(&self) -> Option<u64> {
        self.events.iter().filter(|e| e.done.is_none()).map(|e| self.due(e)).min()
    }

    fn fire(&mut self) {
        loop {
            let now = self.now;
            let Some(e) = (0..self.events.len())
                .filter(|&e| self.events[e].done.is_none() && self.due(&self.events[e]) <= now)
                .min_by_key(|&e| self.due(&self.events[e]))
            else {
                break;
            };
            let s = self.events[e].stream;
            if self.events[e].deadline <= now {
                self.finish(e, Outcome::Expired { reason: ExpiryReason::Deadline });
                self.pump(s);
            } else {
                self.attempt_timed_out(e);
            }
        }
    }

    fn submit(&mut self, id: StreamId, opts: SubmitOptions) -> Result<usize, SubmitError> {
        let s = self.stream_of(id)?;
        if opts.deadline == Some(Duration::ZERO) {
            return Err(SubmitError::ZeroDeadline);
        }
        let user = self.streams[s].user;
        let old = opts.conflation_key.and_then(|k| {
            self.events.iter().position(|e| e.done.is_none() && e.stream == s && e.key == Some(k))
        });
        let freed = u32::from(old.is_some());
        let freed_queue = u32::from(old.is_some_and(|e| self.events[e].seq.is_none()));
        if self.pending() - freed >= GLOBAL_PENDING_MAX {
            bump!(self, user, rejected_global_cap);
            return Err(SubmitError::GlobalPendingFull { cap: GLOBAL_PENDING_MAX });
        }
        if self.user_pending[&user] - freed >= USER_PENDING_MAX {
            bump!(self, user, rejected_user_cap);
            return Err(SubmitError::UserPendingFull { cap: USER_PENDING_MAX });
        }
        let st = &self.streams[s];
        let queued = st.queue.len() as u32 - freed_queue;
        if (!st.connected || queued > 0 || st.span() >= WINDOW) && queued >= QUEUE_MAX {
            bump!(self, user, rejected_stream_queue);
            return Err(SubmitError::StreamQueueFull { cap: QUEUE_MAX });
        }
        if let Some(old) = old {
            self.finish(old, Outcome::Superseded);
        }
        let deadline = opts.deadline.unwrap_or(Duration::from_millis(DEADLINE_MS));
        let e = self.events.len();
        self.events.push(MEvent {
            id: EventId::from_bits(u64::MAX),
            stream: s,
            seq: None,
            attempts: 0,
            submitted: self.now,
            deadline: self.now + deadline.as_micros() as u64,
            timeout: u64::MAX,
            paused: false,
            key: opts.conflation_key,
            done: None,
        });
        bump!(self, user, submitted);
        *self.user_pending.get_mut(&user).unwrap() += 1;
        let st = &self.streams[s];
        if st.connected && st.queue.is_empty() && st.span() < WINDOW {
            self.send(e);
        } else {
            if st.span() >= WINDOW {
                bump!(self, user, window_full_events);
            }
            self.streams[s].queue.push_back(e);
            gauge!(self, user, queued, 1);
            self.pump(s);
        }
        Ok(e)
    }

    fn ack(&mut self, user: UserId, ack: &Ack) -> Result<(), AckError> {
        let claimed = user;
        let reject = |model: &mut Model, e: AckError| {
            model.m.acks_rejected += 1;
            if let Some(u) = model.users.get_mut(&claimed) {
                u.acks_rejected += 1;
            }
            Err(e)
        };
        let s = match self.stream_of(ack.stream) {
            Ok(s) => s,
            Err(e) => return reject(self, e.into()),
        };
        if self.streams[s].user != user {
            return reject(self, AckError::NotOwner { stream: ack.stream, user });
        }
        let next = Seq(self.streams[s].next_seq);
        // Shape checks, in the tracker's documented order.
        if ack.ranges.len() > RANGES_MAX as usize {
            return reject(
                self,
                AckError::TooManyRanges { count: ack.ranges.len(), max: RANGES_MAX as usize },
            );
        }
        if ack.echo.is_some_and(|e| e.attempt == 0) {
            return reject(self, AckError::ZeroAttempt);
        }
        if ack.cumulative > next {
            return reject(self, AckError::SeqNotSent { seq: Seq(ack.cumulative.0 - 1), next });
        }
        if let Some(echo) = ack.echo.filter(|e| e.seq >= next) {
            return reject(self, AckError::SeqNotSent { seq: echo.seq, next });
        }
        let mut floor = ack.cumulative;
        for (index, r) in ack.ranges.iter().enumerate() {
            if r.is_empty() {
                return reject(self, AckError::MalformedRange { index, reason: "empty range" });
            }
            if r.start < floor {
                let reason = if index == 0 {
                    "range starts below the cumulative ack"
                } else {
                    "ranges unsorted or overlapping"
                };
                return reject(self, AckError::MalformedRange { index, reason });
            }
            if r.end > next {
                return reject(self, AckError::SeqNotSent { seq: Seq(r.end.0 - 1), next });
            }
            floor = r.end;
        }
        let echo_event = ack.echo.and_then(|echo| self.streams[s].sent.get(&echo.seq.0).copied());
        if let (Some(e), Some(echo)) = (echo_event, ack.echo) {
            let attempts = self.events[e].attempts;
            if echo.attempt > attempts {
                return reject(
                    self,
                    AckError::AttemptNotSent {
                        seq: echo.seq,
                        attempt: echo.attempt,
                        sent: attempts,
                    },
                );
            }
        }
        let st = &mut self.streams[s];
        st.client_cum = st.client_cum.max(ack.cumulative.0);
        let covered: Vec<usize> = st
            .sent
            .iter()
            .filter(|(seq, _)| {
                **seq < ack.cumulative.0 || ack.ranges.iter().any(|r| r.contains(Seq(**seq)))
            })
            .map(|(_, e)| *e)
            .collect();
        let newly = covered.len();
        let echo_attempts = echo_event.map(|e| self.events[e].attempts);
        for e in covered {
            self.confirm(e);
        }
        let echo_confirmed = echo_event.is_some_and(|e| self.events[e].done.is_some());
        if echo_confirmed {
            if ack.echo.unwrap().attempt < echo_attempts.unwrap() {
                bump!(self, user, spurious_retries);
            }
        } else if echo_event.is_none()
            && ack.echo.is_some_and(|echo| {
                // Only abandoned seqs within a window below the next seq are remembered.
                let st = &self.streams[s];
                st.abandoned.contains(&echo.seq.0) && echo.seq.0 + WINDOW >= st.next_seq
            })
        {
            bump!(self, user, acks_late);
        } else if newly == 0 {
            bump!(self, user, acks_duplicate);
        }
        let st = &mut self.streams[s];
        let cum = st.client_cum;
        st.abandoned.retain(|&seq| seq >= cum);
        self.pump(s);
        Ok(())
    }

    /// The latest attempt timed out (or failed): pause, give up or retry.
    fn attempt_timed_out(&mut self, e: usize) {
        let s = self.events[e].stream;
        if self.events[e].deadline <= self.now {
            self.finish(e, Outcome::Expired { reason: ExpiryReason::Deadline });
            self.pump(s);
        } else if !self.streams[s].connected {
            self.events[e].paused = true;
        } else if self.events[e].attempts >= ATTEMPTS_MAX {
            self.finish(e, Outcome::Expired { reason: ExpiryReason::AttemptsExhausted });
            self.pump(s);
        } else {
            self.retransmit(e);
        }
    }

    /// The pending event a nak or progress report names, after the ack rules.
    fn feedback(
        &mut self,
        user: UserId,
        id: StreamId,
        seq: Seq,
    ) -> Result<Option<usize>, AckError> {
        let reject = |model: &mut Model, e: AckError| {
            model.m.acks_rejected += 1;
            if let Some(u) = model.users.get_mut(&user) {
                u.acks_rejected += 1;
            }
            Err(e)
        };
        let s = match self.stream_of(id) {
            Ok(s) => s,
            Err(e) => return reject(self, e.into()),
        };
        if self.streams[s].user != user {
            return reject(self, AckError::NotOwner { stream: id, user });
        }
        let next = Seq(self.streams[s].next_seq);
        if seq >= next {
            return reject(self, AckError::SeqNotSent { seq, next });
        }
        let e = self.streams[s].sent.get(&seq.0).copied();
        if e.is_none() {
            bump!(self, user, acks_duplicate);
        }
        Ok(e)
    }

    fn nak(&mut self, user: UserId, id: StreamId, seq: Seq, delay: u64) -> Result<(), AckError> {
        let Some(e) = self.feedback(user, id, seq)? else { return Ok(()) };
        bump!(self, user, naks);
        if !self.events[e].paused {
            self.events[e].timeout = self.now + delay;
            if delay == 0 {
                self.attempt_timed_out(e);
            }
        }
        Ok(())
    }

    fn progress(&mut self, user: UserId, id: StreamId, seq: Seq) -> Result<(), AckError> {
        let Some(e) = self.feedback(user, id, seq)? else { return Ok(()) };
        bump!(self, user, progress_reports);
        let ev = &mut self.events[e];
        if !ev.paused {
            ev.timeout = ev.timeout.max(self.now + delay(ev.attempts));
        }
        Ok(())
    }

    fn transmit_failed(&mut self, id: StreamId, seq: Seq) -> Result<(), AckError> {
        let s = self.stream_of(id)?;
        let next = Seq(self.streams[s].next_seq);
        if seq >= next {
            return Err(AckError::SeqNotSent { seq, next });
        }
        if let Some(e) = self.streams[s].sent.get(&seq.0).copied() {
            let user = self.streams[s].user;
            bump!(self, user, transmit_failures);
            if !self.events[e].paused && self.events[e].attempts < ATTEMPTS_MAX {
                self.attempt_timed_out(e);
            }
        }
        Ok(())
    }

    fn connect(&mut self, id: StreamId, resume: Seq) -> Result<(), ConnectError> {
        let s = self.stream_of(id)?;
        let next = Seq(self.streams[s].next_seq);
        if resume > next {
            return Err(ConnectError::ResumeBeyondSent { resume, next });
        }
        let user = self.streams[s].user;
        bump!(self, user, resumes);
        self.streams[s].connected = true;
        self.streams[s].client_cum = resume.0;
        let below: Vec<usize> = self.streams[s].sent.range(..resume.0).map(|(_, e)| *e).collect();
        for e in below {
            self.confirm(e);
            bump!(self, user, confirmed_by_resume);
        }
        let pending: Vec<usize> = self.streams[s].sent.values().copied().collect();
        for e in pending {
            if self.events[e].deadline <= self.now {
                self.finish(e, Outcome::Expired { reason: ExpiryReason::Deadline });
            } else if self.events[e].attempts < ATTEMPTS_MAX {
                self.retransmit(e);
            } else {
                let ev = &mut self.events[e];
                ev.paused = false;
                ev.timeout = self.now + delay(ev.attempts);
            }
        }
        self.pump(s);
        Ok(())
    }
}

/// What the tracker said, per event and per stream.
#[derive(Default)]
struct Observed {
    transmissions: BTreeMap<EventId, (u32, Seq)>,
    finished: BTreeMap<EventId, Outcome>,
    skipped: BTreeMap<StreamId, BTreeSet<u64>>,
}

fn drain(tracker: &mut Tracker<u32>, model: &Model, seen: &mut Observed) {
    while let Some(c) = tracker.poll_command() {
        match c {
            Command::Send { event, seq, attempt, .. } => {
                assert_eq!(attempt, 1);
                assert!(seen.transmissions.insert(event, (1, seq)).is_none(), "second Send");
            }
            Command::Retry { event, seq, attempt, .. } => {
                let t = seen.transmissions.get_mut(&event).expect("retry before send");
                assert_eq!(t.1, seq, "seq changed between attempts");
                assert_eq!(attempt, t.0 + 1, "attempts not consecutive");
                assert!((2..=ATTEMPTS_MAX).contains(&attempt));
                t.0 = attempt;
            }
            Command::Skip { stream, seqs } => {
                let s =
                    model.streams.iter().find(|s| s.id == stream).expect("skip on a known stream");
                for seq in seqs.iter() {
                    assert!(!s.sent.contains_key(&seq.0), "skip of a pending seq {seq}");
                    assert!(seq.0 < s.next_seq, "skip of an unsent seq {seq}");
                    seen.skipped.entry(stream).or_default().insert(seq.0);
                }
            }
            Command::Finish { event, outcome, .. } => {
                assert!(seen.finished.insert(event, outcome).is_none(), "finished twice");
                assert!(tracker.event_state(event).is_none());
            }
        }
    }
}

fn compare(tracker: &Tracker<u32>, model: &Model, seen: &Observed) {
    for e in &model.events {
        match e.done {
            Some(outcome) => {
                assert_eq!(seen.finished.get(&e.id), Some(&outcome), "outcome of {}", e.id);
                if let (Some(seq), false) =
                    (e.seq, matches!(outcome, Outcome::Confirmed { .. } | Outcome::StreamClosed))
                {
                    let st = &model.streams[e.stream];
                    assert!(
                        seen.skipped.get(&st.id).is_some_and(|s| s.contains(&seq)),
                        "abandoned seq {seq} of {} never skipped",
                        e.id
                    );
                }
            }
            None => {
                assert!(!seen.finished.contains_key(&e.id));
                let state = tracker.event_state(e.id).expect("pending event known");
                let expected = match (e.seq, e.paused) {
                    (None, _) => EventState::Queued,
                    (Some(seq), false) => {
                        EventState::InFlight { seq: Seq(seq), attempts: e.attempts }
                    }
                    (Some(seq), true) => EventState::Paused { seq: Seq(seq), attempts: e.attempts },
                };
                assert_eq!(state, expected, "state of {}", e.id);
            }
        }
        if let Some(seq) = e.seq {
            assert_eq!(seen.transmissions.get(&e.id), Some(&(e.attempts, Seq(seq))));
        } else {
            assert!(!seen.transmissions.contains_key(&e.id));
        }
    }
    same_metrics(tracker.metrics(), &model.m, "global");
    for (user, expected) in &model.users {
        same_metrics(tracker.user_metrics(*user).expect("user known"), expected, "user");
    }
    assert_eq!(tracker.pending(), model.pending());
    for s in model.streams.iter().filter(|s| s.open) {
        let info = tracker.stream_info(s.id).unwrap();
        assert_eq!((info.floor, info.next_seq), (Seq(s.floor()), Seq(s.next_seq)));
        assert!(s.span() <= WINDOW, "window exceeded");
    }
}

/// Equal but for what the model leaves out (time spent window-full, resent
/// skips); histograms compared by their summaries to keep failures readable.
fn same_metrics(got: &Metrics, expected: &Metrics, what: &str) {
    assert_eq!(got.latency.summary(), expected.latency.summary(), "{what} latency");
    let strip = |m: &Metrics| Metrics {
        window_full_micros: 0,
        skips_resent: 0,
        latency: Default::default(),
        ..m.clone()
    };
    assert_eq!(strip(got), strip(expected), "{what} metrics");
}

/// A prefetch hint that does nothing.
fn ignore_hint(address: *const u8) {
    let _ = address;
}

fn run(ops: Vec<Op>) {
    let mut tracker: Tracker<u32> = Tracker::new(config()).unwrap();
    // Half the cases with a prefetch hint: it must change nothing the
    // model sees.
    if ops.len() % 2 == 1 {
        tracker.set_prefetch(Some(ignore_hint));
    }
    let mut model = Model::default();
    let mut seen = Observed::default();
    let pick = |n: usize, i: u64| (n > 0).then(|| (i as usize) % n);
    for op in ops {
        let now = Instant::from_micros(model.now);
        let reaches_tracker = !matches!(
            op,
            Op::Advance { .. } | Op::ClockBack { .. } | Op::Open { .. } | Op::Forget { .. }
        ) && !model.streams.is_empty()
            && (!matches!(op, Op::Cancel { .. }) || !model.events.is_empty());
        if reaches_tracker || matches!(op, Op::Open { .. }) {
            model.seen = model.seen.max(model.now);
        }
        match op {
            Op::Open { user } => {
                let user = UserId(u64::from(user));
                let r = tracker.open_stream(now, user);
                if model.open_streams >= STREAMS_MAX {
                    assert!(r.is_err());
                } else {
                    let id = r.unwrap();
                    model.open_streams += 1;
                    model.user_pending.entry(user).or_default();
                    model.users.entry(user).or_default().streams += 1;
                    model.m.streams += 1;
                    model.streams.push(MStream {
                        id,
                        user,
                        open: true,
                        connected: true,
                        next_seq: 0,
                        sent: BTreeMap::new(),
                        queue: VecDeque::new(),
                        abandoned: BTreeSet::new(),
                        client_cum: 0,
                    });
                }
            }
            Op::Forget { user } => {
                let user = UserId(u64::from(user));
                let r = tracker.forget_user(user);
                let open = model.streams.iter().any(|s| s.open && s.user == user);
                match model.users.get(&user) {
                    Some(expected) if !open => {
                        let got = r.expect("a known user without an open stream is forgotten");
                        same_metrics(&got, expected, "forgotten user");
                        assert_eq!(model.user_pending.get(&user), Some(&0));
                        model.users.remove(&user);
                        model.user_pending.remove(&user);
                        assert_eq!(tracker.user_metrics(user), None);
                    }
                    _ => assert_eq!(r, None, "forgot {user}, unknown or with an open stream"),
                }
                assert_eq!(tracker.poll_command(), None, "forget emitted a command");
            }
            Op::Close { stream } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let id = model.streams[s].id;
                let r = tracker.close_stream(now, id);
                match model.stream_of(id) {
                    Err(e) => assert_eq!(r, Err(e)),
                    Ok(s) => {
                        r.unwrap();
                        let mut order: Vec<usize> =
                            model.streams[s].sent.values().copied().collect();
                        order.extend(model.streams[s].queue.iter().copied());
                        for e in order {
                            model.finish(e, Outcome::StreamClosed);
                        }
                        let user = model.streams[s].user;
                        model.streams[s].open = false;
                        model.open_streams -= 1;
                        gauge!(model, user, streams, -1);
                    }
                }
            }
            Op::Submit { stream, key, deadline_ms } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let id = model.streams[s].id;
                let opts = SubmitOptions {
                    deadline: deadline_ms.map(|ms| Duration::from_millis(ms.into())),
                    conflation_key: key.map(u64::from),
                };
                let payload = model.events.len() as u32;
                // Half the submits prefetched first (by the stream's pick),
                // with every stream as a batch: a hint that must change
                // nothing the model sees (closed streams among them).
                if stream & 1 != 0 {
                    tracker.prefetch_submit(id);
                    let all: Vec<StreamId> = model.streams.iter().map(|s| s.id).collect();
                    tracker.prefetch_submits(&all);
                }
                let r = tracker.submit(now, id, payload, opts);
                match (model.submit(id, opts), r) {
                    (Ok(e), Ok(event)) => model.events[e].id = event,
                    (Err(expected), Err(rejected)) => {
                        assert_eq!(rejected.error, expected);
                        assert_eq!(rejected.payload, payload, "payload handed back");
                    }
                    (m, t) => panic!("model {m:?} vs tracker {:?}", t.map_err(|r| r.error)),
                }
            }
            Op::Cancel { event } => {
                let Some(e) = pick(model.events.len(), event.into()) else { continue };
                let id = model.events[e].id;
                let r = tracker.cancel(now, id);
                if model.events[e].done.is_some() {
                    assert_eq!(r, Err(CancelError::UnknownEvent(id)));
                } else {
                    r.unwrap();
                    let s = model.events[e].stream;
                    model.finish(e, Outcome::Cancelled);
                    model.pump(s);
                }
            }
            Op::Ack { stream, foreign, cum, mask, echo, attempt } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let st = &model.streams[s];
                let next = st.next_seq;
                // Mostly plausible acks (what a receiver could send), sometimes wild ones.
                let wild = cum % 8 == 0;
                let cumulative = if wild {
                    u64::from(cum) % (next + 3)
                } else {
                    st.client_cum.min(next) + u64::from(cum) % (next - st.client_cum.min(next) + 1)
                };
                let mut ranges = Vec::new();
                let mut start = None;
                let top = if wild { cumulative + 13 } else { next };
                for seq in cumulative + 1..top.min(cumulative + 13) {
                    let bit = mask & (1 << (seq - cumulative - 1)) != 0;
                    match (bit, start) {
                        (true, None) => start = Some(seq),
                        (false, Some(a)) => {
                            ranges.push(SeqRange::new(a, seq));
                            start = None;
                        }
                        _ => {}
                    }
                }
                if let Some(a) = start {
                    ranges.push(SeqRange::new(a, top.min(cumulative + 13)));
                }
                if wild && mask & 0x8000 != 0 && ranges.len() >= 2 {
                    ranges.swap(0, 1); // unsorted
                }
                ranges.truncate(if wild && mask & 0x4000 != 0 { 5 } else { 3 });
                let echo_seq = if next == 0 {
                    0
                } else if wild {
                    u64::from(echo) % (next + 1)
                } else {
                    u64::from(echo) % next
                };
                let attempts = st.sent.get(&echo_seq).map_or(1, |&e| model.events[e].attempts);
                let attempt =
                    if wild { u32::from(attempt) } else { 1 + u32::from(attempt) % attempts };
                // Acks answering a skip echo nothing.
                let echo = (mask & 0x2000 == 0).then_some(Echo { seq: Seq(echo_seq), attempt });
                let ack = Ack { stream: st.id, cumulative: Seq(cumulative), ranges, echo };
                let user = if foreign { UserId(st.user.0 + 1) } else { st.user };
                // Half the acks prefetched first: a hint that must change
                // nothing the model sees.
                if mask & 0x1000 != 0 {
                    tracker.prefetch_ack(&ack);
                }
                let r = tracker.handle_ack(now, user, &ack);
                assert_eq!(r, model.ack(user, &ack), "ack {ack:?}");
            }
            Op::Advance { ms } => {
                let target = model.now + u64::from(ms) * 1000;
                loop {
                    let due = model.next_due();
                    let polled = tracker.poll_timeout().map(Instant::as_micros);
                    if let Some(due) = due {
                        let polled = polled.expect("tracker sleeps through a due timer");
                        assert!(
                            polled <= due,
                            "tracker wakes at {polled}, after a timer due {due}"
                        );
                    }
                    let Some(next) = polled.into_iter().chain(due).min() else { break };
                    if next > target {
                        break;
                    }
                    model.now = next;
                    model.seen = next;
                    model.fire();
                    tracker.handle_timeout(Instant::from_micros(next));
                    drain(&mut tracker, &model, &mut seen);
                    compare(&tracker, &model, &seen);
                }
                model.now = target;
            }
            Op::Disconnect { stream } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let id = model.streams[s].id;
                let r = tracker.handle_disconnect(now, id);
                match model.stream_of(id) {
                    Err(e) => assert_eq!(r, Err(e)),
                    Ok(s) => {
                        r.unwrap();
                        model.streams[s].connected = false;
                    }
                }
            }
            Op::Connect { stream, resume } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let st = &model.streams[s];
                let resume = Seq(st.client_cum
                    + u64::from(resume) % (st.next_seq - st.client_cum.min(st.next_seq) + 2));
                let id = st.id;
                let r = tracker.handle_connect(now, id, resume);
                assert_eq!(r, model.connect(id, resume));
            }
            Op::ClockBack { ms } => {
                let back = Instant::from_micros(model.now.saturating_sub(u64::from(ms) * 1000));
                if back.as_micros() < model.seen {
                    model.m.clock_regressions += 1;
                } else {
                    model.seen = back.as_micros();
                }
                tracker.handle_timeout(back);
            }
            Op::Nak { stream, foreign, seq, delay_ms } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let st = &model.streams[s];
                let (id, seq) = (st.id, Seq(u64::from(seq) % (st.next_seq + 2)));
                let user = if foreign { UserId(st.user.0 + 1) } else { st.user };
                let delay = Duration::from_millis(delay_ms.into());
                let r = tracker.handle_nak(now, user, id, seq, delay);
                assert_eq!(r, model.nak(user, id, seq, u64::from(delay_ms) * 1000));
            }
            Op::Progress { stream, foreign, seq } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let st = &model.streams[s];
                let (id, seq) = (st.id, Seq(u64::from(seq) % (st.next_seq + 2)));
                let user = if foreign { UserId(st.user.0 + 1) } else { st.user };
                let r = tracker.handle_progress(now, user, id, seq);
                assert_eq!(r, model.progress(user, id, seq));
            }
            Op::TransmitFailed { stream, seq } => {
                let Some(s) = pick(model.streams.len(), stream.into()) else { continue };
                let st = &model.streams[s];
                let (id, seq) = (st.id, Seq(u64::from(seq) % (st.next_seq + 2)));
                let r = tracker.handle_transmit_failed(now, id, seq);
                assert_eq!(r, model.transmit_failed(id, seq));
            }
        }
        drain(&mut tracker, &model, &mut seen);
        compare(&tracker, &model, &seen);
    }
    if std::env::var_os("MODEL_STATS").is_some() {
        let m = tracker.metrics();
        eprintln!(
            "sub {} sent {} retry {} conf {} exp {}/{} canc {} sup {} closed {} dup {} late {} rej {} spur {} res {} byres {} disc {} rejcap {}/{}/{}",
            m.submitted,
            m.sent,
            m.retried,
            m.confirmed,
            m.expired_deadline,
            m.expired_attempts,
            m.cancelled,
            m.superseded,
            m.stream_closed,
            m.acks_duplicate,
            m.acks_late,
            m.acks_rejected,
            m.spurious_retries,
            m.resumes,
            m.confirmed_by_resume,
            m.expired_disconnected,
            m.rejected_stream_queue,
            m.rejected_user_cap,
            m.rejected_global_cap
        );
    }
}

proptest! {
    // 256 cases by default; `PROPTEST_CASES=20000` for a long run.
    #![proptest_config(ProptestConfig {
        cases: crate::common::model_cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn tracker_agrees_with_the_reference_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops);
    }
}
