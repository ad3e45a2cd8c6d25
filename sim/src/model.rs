//! The reference model: what a simple, obviously-correct tracker would have
//! done with the same inputs. It predicts validity, confirmations,
//! backpressure and every counter; the checks compare the real tracker with it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use acktrack::{Ack, Config, EventId, SubmitError, SubmitOptions};

use crate::choice::Choices;

/// No seq assigned yet.
pub(crate) const NO_SEQ: u64 = u64::MAX;

/// Why the tracker was called, to judge the commands it returned.
#[derive(Debug)]
pub(crate) enum Ctx<'a> {
    Submit {
        conn: u32,
        key: Option<u64>,
    },
    Cancel {
        id: u64,
    },
    /// A valid ack from the stream's owner; `expected` confirmations;
    /// `echo`: the pending event its echo names, with its attempts before the ack.
    Ack {
        conn: u32,
        ack: &'a Ack,
        expected: u64,
        echo: Option<(u64, u32)>,
    },
    Connect {
        conn: u32,
        resume: u64,
        expected: u64,
    },
    Close {
        conn: u32,
    },
    Timeout,
    /// The driver reported a failed write of a transmission, or the client
    /// asked for a redelivery (nak): the next retry may come early.
    TransmitFailed,
    /// An input the model says must be rejected and change nothing.
    Rejected,
    Other,
}

/// One submitted event, as the model knows it.
#[derive(Clone, Debug)]
pub(crate) struct EvRec {
    pub(crate) user: u32,
    pub(crate) conn: u32,
    pub(crate) event: EventId,
    pub(crate) submitted_at: u64,
    pub(crate) deadline: u64,
    pub(crate) seq: u64,
    pub(crate) attempts: u32,
    pub(crate) last_tx: u64,
    pub(crate) last_base_us: u64,
    pub(crate) finished: bool,
    /// A write of its latest attempt failed, or the client naked it: its next
    /// retry may come before the backoff.
    pub(crate) early_retry_ok: bool,
    pub(crate) confirmed: bool,
    pub(crate) received: bool,
    pub(crate) delivered_inc: u32,
    pub(crate) key: Option<u64>,
}

/// One stream, as the model knows it.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamModel {
    pub(crate) user: u32,
    pub(crate) open: bool,
    pub(crate) connected: bool,
    pub(crate) next_seq: u64,
    /// Lowest unresolved seq.
    pub(crate) floor: u64,
    pub(crate) seq_ids: Vec<u64>,
    pub(crate) resolved: Vec<bool>,
    pub(crate) queued: u32,
    pub(crate) keys: BTreeMap<u64, u64>,
}

/// The counters the model predicts, globally and per user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) submitted: u64,
    pub(crate) sent: u64,
    pub(crate) retried: u64,
    pub(crate) confirmed: u64,
    pub(crate) expired_deadline: u64,
    pub(crate) expired_attempts: u64,
    pub(crate) cancelled: u64,
    pub(crate) superseded: u64,
    pub(crate) stream_closed: u64,
    pub(crate) acks_rejected: u64,
    pub(crate) resumes: u64,
    pub(crate) confirmed_by_resume: u64,
    pub(crate) rejected_stream_queue: u64,
    pub(crate) rejected_user_cap: u64,
    pub(crate) rejected_global_cap: u64,
    pub(crate) in_flight: u64,
    pub(crate) queued: u64,
    pub(crate) streams: u64,
    pub(crate) latency_count: u64,
    pub(crate) latency_max_us: u64,
    pub(crate) spurious_retries: u64,
    pub(crate) transmit_failures: u64,
    pub(crate) naks: u64,
    pub(crate) progress_reports: u64,
}

impl Counts {
    pub(crate) fn of(m: &acktrack::Metrics) -> Counts {
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
            acks_rejected: m.acks_rejected,
            resumes: m.resumes,
            confirmed_by_resume: m.confirmed_by_resume,
            rejected_stream_queue: m.rejected_stream_queue,
            rejected_user_cap: m.rejected_user_cap,
            rejected_global_cap: m.rejected_global_cap,
            in_flight: m.in_flight,
            queued: m.queued,
            streams: m.streams,
            latency_count: m.latency.count(),
            latency_max_us: m.latency.max().as_micros() as u64,
            spurious_retries: m.spurious_retries,
            transmit_failures: m.transmit_failures,
            naks: m.naks,
            progress_reports: m.progress_reports,
        }
    }

    pub(crate) fn pending(&self) -> u64 {
        self.in_flight + self.queued
    }
}

/// The model's whole state.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) events: Vec<EvRec>,
    pub(crate) streams: Vec<StreamModel>,
    pub(crate) by_stream: BTreeMap<u64, u32>,
    pub(crate) global: Counts,
    pub(crate) users: Vec<Counts>,
    /// Users the application forgot (no stream; the tracker has no record).
    pub(crate) forgotten: Vec<bool>,
    recent: VecDeque<u64>,
    /// (deadline, id) of every submitted event, earliest first.
    deadlines: BinaryHeap<Reverse<(u64, u64)>>,
}

/// Applies `$body` to the global and the user's counts.
macro_rules! both {
    ($m:expr, $user:expr, |$c:ident| $body:expr) => {{
        {
            let $c = &mut $m.global;
            $body;
        }
        {
            let $c = &mut $m.users[$user as usize];
            $body;
        }
    }};
}
pub(crate) use both;

impl Model {
    pub(crate) fn new(users: usize) -> Self {
        Model {
            events: Vec::new(),
            streams: Vec::new(),
            by_stream: BTreeMap::new(),
            global: Counts::default(),
            users: vec![Counts::default(); users],
            forgotten: vec![false; users],
            recent: VecDeque::new(),
            deadlines: BinaryHeap::new(),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.events.len() as u64
    }

    pub(crate) fn pending(&self) -> u64 {
        self.global.pending()
    }

    pub(crate) fn is_finished(&self, id: u64) -> bool {
        self.events.get(id as usize).is_none_or(|e| e.finished)
    }

    pub(crate) fn user_of(&self, id: u64) -> u32 {
        self.events[id as usize].user
    }

    pub(crate) fn next_seq(&self, conn: u32) -> u64 {
        self.streams[conn as usize].next_seq
    }

    pub(crate) fn open_stream(&mut self, conn: u32, user: u32) {
        debug_assert_eq!(conn as usize, self.streams.len());
        self.streams.push(StreamModel { user, open: true, connected: true, ..Default::default() });
        // A forgotten user comes back with fresh metrics.
        self.forgotten[user as usize] = false;
        both!(self, user, |c| c.streams += 1);
    }

    /// The application forgot `user`, which has no stream left: the tracker
    /// dropped its record, and its metrics start over if it comes back.
    pub(crate) fn on_forget(&mut self, user: u32) {
        self.users[user as usize] = Counts::default();
        self.forgotten[user as usize] = true;
    }

    pub(crate) fn register_stream(&mut self, bits: u64, conn: u32) {
        self.by_stream.insert(bits, conn);
    }

    pub(crate) fn on_close(&mut self, conn: u32) {
        let s = &mut self.streams[conn as usize];
        s.open = false;
        let user = s.user;
        both!(self, user, |c| c.streams -= 1);
    }

    pub(crate) fn on_disconnect(&mut self, conn: u32) {
        self.streams[conn as usize].connected = false;
    }

    pub(crate) fn on_connect(&mut self, conn: u32, user: u32) {
        self.streams[conn as usize].connected = true;
        both!(self, user, |c| c.resumes += 1);
    }

    /// What `submit` must answer, mirroring the documented caps.
    pub(crate) fn submit_prediction(
        &self,
        conn: u32,
        key: Option<u64>,
        config: &Config,
    ) -> Result<(), SubmitError> {
        let s = &self.streams[conn as usize];
        let flow = &config.flow;
        let superseded = key.and_then(|k| s.keys.get(&k)).copied();
        let freed = u64::from(superseded.is_some());
        let freed_queue =
            u32::from(superseded.is_some_and(|id| self.events[id as usize].seq == NO_SEQ));
        if self.global.pending() - freed >= u64::from(flow.global_pending_max) {
            return Err(SubmitError::GlobalPendingFull { cap: flow.global_pending_max });
        }
        if self.users[s.user as usize].pending() - freed >= u64::from(flow.user_pending_max) {
            return Err(SubmitError::UserPendingFull { cap: flow.user_pending_max });
        }
        let must_queue = !s.connected
            || s.queued - freed_queue > 0
            || s.next_seq - s.floor >= u64::from(flow.window);
        if must_queue && s.queued - freed_queue >= flow.queue_max {
            return Err(SubmitError::StreamQueueFull { cap: flow.queue_max });
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_submit(
        &mut self,
        id: u64,
        event: EventId,
        conn: u32,
        user: u32,
        now: u64,
        deadline: u64,
        options: SubmitOptions,
    ) {
        debug_assert_eq!(id as usize, self.events.len());
        self.events.push(EvRec {
            user,
            conn,
            event,
            submitted_at: now,
            deadline,
            seq: NO_SEQ,
            attempts: 0,
            last_tx: now,
            last_base_us: 0,
            finished: false,
            early_retry_ok: false,
            confirmed: false,
            received: false,
            delivered_inc: 0,
            key: options.conflation_key,
        });
        self.deadlines.push(Reverse((deadline, id)));
        let s = &mut self.streams[conn as usize];
        s.queued += 1;
        if let Some(k) = options.conflation_key {
            s.keys.insert(k, id);
        }
        both!(self, user, |c| {
            c.submitted += 1;
            c.queued += 1;
        });
        if self.recent.len() == 64 {
            self.recent.pop_front();
        }
        self.recent.push_back(id);
    }

    pub(crate) fn on_rejected_submit(&mut self, user: u32, error: SubmitError) {
        match error {
            SubmitError::StreamQueueFull { .. } => {
                both!(self, user, |c| c.rejected_stream_queue += 1)
            }
            SubmitError::UserPendingFull { .. } => both!(self, user, |c| c.rejected_user_cap += 1),
            SubmitError::GlobalPendingFull { .. } => {
                both!(self, user, |c| c.rejected_global_cap += 1)
            }
            _ => {}
        }
    }

    pub(crate) fn recent_event(&self, c: &mut Choices) -> Option<(u64, EventId)> {
        if self.recent.is_empty() {
            c.u64();
            return None;
        }
        let id = self.recent[c.below(self.recent.len() as u64) as usize];
        Some((id, self.events[id as usize].event))
    }

    pub(crate) fn on_received(&mut self, id: u64) {
        if let Some(e) = self.events.get_mut(id as usize) {
            e.received = true;
        }
    }

    /// False if this incarnation already delivered the event.
    pub(crate) fn on_delivered(&mut self, id: u64, incarnation: u32) -> bool {
        let e = &mut self.events[id as usize];
        if e.delivered_inc == incarnation {
            return false;
        }
        e.delivered_inc = incarnation;
        true
    }

    pub(crate) fn on_ack_result(&mut self, user: u32, predicted_ok: bool, _actual_ok: bool) {
        if !predicted_ok {
            self.global.acks_rejected += 1;
            // A rejected input counts against its user only if the tracker
            // knows it: a forgotten user's late acks count globally.
            if !self.forgotten[user as usize] {
                self.users[user as usize].acks_rejected += 1;
            }
        }
    }

    /// Whether an ack must be accepted: `Ok(conn)` of the stream, or why not.
    pub(crate) fn ack_valid(&self, user: u32, ack: &Ack, ranges_max: u32) -> Result<u32, String> {
        let Some(&conn) = self.by_stream.get(&ack.stream.to_bits()) else {
            return Err("the stream is unknown".into());
        };
        let s = &self.streams[conn as usize];
        if !s.open {
            return Err("the stream is closed".into());
        }
        if s.user != user {
            return Err(format!("user index {user} is not the owner (user index {})", s.user));
        }
        let next = s.next_seq;
        if ack.ranges.len() > ranges_max as usize {
            return Err("too many ranges".into());
        }
        if ack.echo.is_some_and(|echo| echo.attempt == 0) {
            return Err("the echo names attempt 0".into());
        }
        if ack.cumulative.0 > next || ack.echo.is_some_and(|echo| echo.seq.0 >= next) {
            return Err("it names a seq never sent".into());
        }
        let mut floor = ack.cumulative.0;
        for r in &ack.ranges {
            if r.is_empty() || r.start.0 < floor {
                return Err("a range is malformed".into());
            }
            if r.end.0 > next {
                return Err("a range names a seq never sent".into());
            }
            floor = r.end.0;
        }
        if let Some(echo) = ack.echo {
            let seq = echo.seq.0 as usize;
            if !s.resolved[seq] && echo.attempt > self.events[s.seq_ids[seq] as usize].attempts {
                return Err("the echo names an attempt not made yet".into());
            }
        }
        Ok(conn)
    }

    /// The pending event an ack's echo names, with its attempts so far.
    pub(crate) fn echo_target(&self, conn: u32, ack: &Ack) -> Option<(u64, u32)> {
        let s = &self.streams[conn as usize];
        let seq = ack.echo?.seq.0 as usize;
        if seq >= s.resolved.len() || s.resolved[seq] {
            return None;
        }
        let id = s.seq_ids[seq];
        Some((id, self.events[id as usize].attempts))
    }

    /// Unresolved seqs a valid ack covers: what it must confirm.
    pub(crate) fn ack_coverage(&self, conn: u32, ack: &Ack) -> u64 {
        let s = &self.streams[conn as usize];
        let mut n = Self::unresolved_in(s, s.floor, ack.cumulative.0);
        for r in &ack.ranges {
            n += Self::unresolved_in(s, r.start.0.max(s.floor), r.end.0);
        }
        n
    }

    /// Unresolved seqs below a resume point: what a connect must confirm.
    pub(crate) fn connect_expectation(&self, conn: u32, resume: u64) -> u64 {
        let s = &self.streams[conn as usize];
        Self::unresolved_in(s, s.floor, resume.min(s.next_seq))
    }

    fn unresolved_in(s: &StreamModel, from: u64, to: u64) -> u64 {
        (from..to.min(s.next_seq)).filter(|&q| !s.resolved[q as usize]).count() as u64
    }

    /// Whether a seq is covered by an ack.
    pub(crate) fn covers(ack: &Ack, seq: u64) -> bool {
        seq < ack.cumulative.0 || ack.ranges.iter().any(|r| r.start.0 <= seq && seq < r.end.0)
    }

    /// An event still pending at `now` although its deadline is at or before it.
    pub(crate) fn overdue(&mut self, now: u64) -> Option<(u64, u64)> {
        while let Some(&Reverse((deadline, id))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            if !self.events[id as usize].finished {
                return Some((id, deadline));
            }
        }
        None
    }

    pub(crate) fn latest_pending_deadline(&self) -> u64 {
        self.events.iter().filter(|e| !e.finished).map(|e| e.deadline).max().unwrap_or(0)
    }

    /// Marks a seq resolved and moves the floor.
    pub(crate) fn resolve(&mut self, conn: u32, seq: u64) {
        let s = &mut self.streams[conn as usize];
        s.resolved[seq as usize] = true;
        while s.floor < s.next_seq && s.resolved[s.floor as usize] {
            s.floor += 1;
        }
    }
}
