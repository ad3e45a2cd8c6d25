//! The per-step checks: every command the tracker emits is judged against the
//! reference model, then the metrics are compared.

use acktrack::{Command, EventId, ExpiryReason, Outcome, SeqRange, StreamId, UserId};

use crate::driver::SimTracker;
use crate::model::{Counts, Ctx, Model, NO_SEQ, both};
use crate::trace::TraceEvent;
use crate::world::{Invariant, Msg, World, user_id};

impl<T: SimTracker> World<T> {
    /// Drains the tracker's commands after an input, checking and acting on each.
    pub(crate) fn drain(&mut self, ctx: Ctx<'_>) {
        let mut confirmed = 0u64;
        let mut commands = 0u64;
        let mut skips: Vec<(StreamId, SeqRange)> = Vec::new();
        while let Some(command) = self.tracker.poll_command() {
            commands += 1;
            match command {
                Command::Send { stream, event, seq, attempt } => {
                    self.on_transmit(&ctx, stream, event, seq.0, attempt, false)
                }
                Command::Retry { stream, event, seq, attempt } => {
                    self.on_transmit(&ctx, stream, event, seq.0, attempt, true)
                }
                Command::Skip { stream, seqs } => {
                    // Judged after the drain: the Finish of a skipped event follows its Skip.
                    skips.push((stream, seqs));
                    self.on_skip(stream, seqs);
                }
                Command::Finish { event, user, outcome, payload } => {
                    if outcome.is_confirmed() {
                        confirmed += 1;
                    }
                    self.on_finish(&ctx, event, user, outcome, payload);
                }
            }
            if self.violation.is_some() {
                // Keep draining so the tracker is left consistent, but judge no more.
                while self.tracker.poll_command().is_some() {}
                return;
            }
        }
        for (stream, seqs) in skips {
            self.check_skip(stream, seqs);
        }
        self.judge_drain(&ctx, confirmed, commands);
        // Writes that failed during this drain are reported now, each as its
        // own input (never from inside a drain).
        while let Some((conn, seq)) = self.failed_writes.pop() {
            if self.violation.is_some() {
                return;
            }
            self.transmit_failed(conn, seq);
        }
    }

    fn transmit_failed(&mut self, conn: u32, seq: u64) {
        let stream = self.conns[conn as usize].stream;
        let now = self.server_now();
        let s = &self.model.streams[conn as usize];
        let pending = s.open && seq < s.next_seq && !s.resolved[seq as usize];
        let user = s.user;
        let r = self.tracker.handle_transmit_failed(now, stream, acktrack::Seq(seq));
        self.record(TraceEvent::TransmitFailed { stream: stream.to_bits(), seq, ok: r.is_ok() });
        if r.is_err() && self.model.streams[conn as usize].open {
            return self.fail(
                Invariant::Metrics,
                format!("transmit failure of sent seq {seq} on {stream} refused"),
            );
        }
        if pending {
            both!(self.model, user, |c| c.transmit_failures += 1);
            let id = self.model.streams[conn as usize].seq_ids[seq as usize];
            self.model.events[id as usize].early_retry_ok = true;
        }
        self.drain(Ctx::TransmitFailed);
        self.check_step(Some(user));
    }

    /// A nak (`delay_us` given) or a progress report from the client of `conn`.
    pub(crate) fn input_feedback(&mut self, conn: u32, seq: u64, delay_us: Option<u64>) {
        let (stream, user) = (self.conns[conn as usize].stream, self.conns[conn as usize].user);
        let now = self.server_now();
        let s = &self.model.streams[conn as usize];
        let pending = seq < s.next_seq && !s.resolved[seq as usize];
        let id = s.seq_ids.get(seq as usize).copied();
        let uid = user_id(user);
        let r = match delay_us {
            Some(d) => {
                let delay = core::time::Duration::from_micros(d);
                self.tracker.handle_nak(now, uid, stream, acktrack::Seq(seq), delay)
            }
            None => self.tracker.handle_progress(now, uid, stream, acktrack::Seq(seq)),
        };
        self.record(TraceEvent::Feedback {
            stream: stream.to_bits(),
            seq,
            nak: delay_us.is_some(),
            ok: r.is_ok(),
        });
        if let Err(e) = r {
            return self.fail(
                Invariant::Metrics,
                format!("feedback on sent seq {seq} of {stream} refused: {e}"),
            );
        }
        if pending {
            if delay_us.is_some() {
                both!(self.model, user, |c| c.naks += 1);
                if let Some(id) = id {
                    self.model.events[id as usize].early_retry_ok = true;
                }
            } else {
                both!(self.model, user, |c| c.progress_reports += 1);
            }
        }
        self.drain(Ctx::TransmitFailed);
        self.check_step(Some(user));
    }

    fn judge_drain(&mut self, ctx: &Ctx<'_>, confirmed: u64, commands: u64) {
        let touched = match *ctx {
            Ctx::Submit { conn, .. } | Ctx::Ack { conn, .. } | Ctx::Connect { conn, .. } => {
                Some(conn)
            }
            Ctx::Cancel { id } => self.model.events.get(id as usize).map(|e| e.conn),
            _ => None,
        };
        if let Some(conn) = touched {
            self.check_pump(conn);
        }
        if let Ctx::Connect { conn, .. } = *ctx {
            self.check_resent(conn);
        }
        // An ack for an earlier attempt that confirms its event shows the
        // later attempts were spurious (the echo makes it unambiguous).
        if let Ctx::Ack { ack, echo: Some((id, attempts)), .. } = *ctx {
            let e = &self.model.events[id as usize];
            if e.confirmed && ack.echo.is_some_and(|echo| echo.attempt < attempts) {
                let owner = e.user;
                both!(self.model, owner, |c| c.spurious_retries += 1);
            }
        }
        match *ctx {
            Ctx::Ack { ack, expected, .. } if confirmed != expected => self.fail(
                Invariant::Metrics,
                format!("ack {ack:?} covered {expected} unresolved events but confirmed {confirmed}"),
            ),
            Ctx::Connect { conn, resume, expected } if confirmed != expected => self.fail(
                Invariant::Metrics,
                format!(
                    "connect of {} resuming at {resume} should confirm {expected} events below it, confirmed {confirmed}",
                    self.conns[conn as usize].stream
                ),
            ),
            Ctx::Timeout => {
                if let Some((id, deadline)) = self.model.overdue(self.tracker_now) {
                    self.fail(
                        Invariant::Deadline,
                        format!(
                            "event {id} still pending at {} µs after handle_timeout; its deadline was {deadline} µs",
                            self.tracker_now
                        ),
                    );
                }
            }
            Ctx::Rejected if commands > 0 => self.fail(
                Invariant::Isolation,
                format!("a rejected input produced {commands} commands"),
            ),
            _ => {}
        }
    }

    /// A connected stream never leaves events queued while its window has room.
    fn check_pump(&mut self, conn: u32) {
        let window = u64::from(self.tracker.config().flow.window);
        let s = &self.model.streams[conn as usize];
        if s.open && s.connected && s.queued > 0 && s.next_seq - s.floor < window {
            let stream = self.conns[conn as usize].stream;
            let (queued, span) = (s.queued, s.next_seq - s.floor);
            self.fail(
                Invariant::Window,
                format!("{stream} keeps {queued} events queued with only {span} of its window of {window} in use"),
            );
        }
    }

    /// After a connect, everything in flight was retransmitted at once (but
    /// an event with no attempt left, which only gets a fresh timeout).
    fn check_resent(&mut self, conn: u32) {
        if self.violation.is_some() {
            return;
        }
        let attempts_max = self.tracker.config().retry.attempts_max;
        let s = &self.model.streams[conn as usize];
        for seq in s.floor..s.next_seq {
            if s.resolved[seq as usize] {
                continue;
            }
            let id = s.seq_ids[seq as usize];
            let e = &self.model.events[id as usize];
            if e.last_tx != self.tracker_now && e.attempts < attempts_max {
                let stream = self.conns[conn as usize].stream;
                return self.fail(
                    Invariant::Liveness,
                    format!(
                        "connect of {stream} did not retransmit pending seq {seq} (attempt {})",
                        e.attempts
                    ),
                );
            }
        }
    }

    fn on_transmit(
        &mut self,
        ctx: &Ctx<'_>,
        stream: StreamId,
        event: EventId,
        seq: u64,
        attempt: u32,
        retry: bool,
    ) {
        self.record(TraceEvent::Transmit {
            stream: stream.to_bits(),
            event: event.to_bits(),
            seq,
            attempt,
        });
        let Some(&id) = self.tracker.payload(event) else {
            return self.fail(
                Invariant::SentAfterFinish,
                format!("{event} (seq {seq}, attempt {attempt}) transmitted but it is not pending"),
            );
        };
        let Some(rec) = self.model.events.get(id as usize) else {
            return self.fail(Invariant::Metrics, format!("transmit of unknown payload {id}"));
        };
        if rec.finished {
            return self.fail(
                Invariant::SentAfterFinish,
                format!("event {id} ({event}) transmitted after it finished"),
            );
        }
        let conn = rec.conn;
        let cfg = *self.tracker.config();
        let s = &self.model.streams[conn as usize];
        if self.conns[conn as usize].stream != stream || rec.event != event {
            return self.fail(Invariant::Isolation, format!("event {id} transmitted on {stream}"));
        }
        if !s.connected {
            return self.fail(
                Invariant::Metrics,
                format!("event {id} transmitted on {stream} while it is disconnected"),
            );
        }
        let now = self.tracker_now;
        if !retry {
            if attempt != 1 || rec.seq != NO_SEQ || seq != s.next_seq {
                return self.fail(
                    Invariant::Metrics,
                    format!(
                        "first send of event {id} as seq {seq} attempt {attempt}; expected seq {} attempt 1",
                        s.next_seq
                    ),
                );
            }
            if seq - s.floor >= u64::from(cfg.flow.window) {
                return self.fail(
                    Invariant::Window,
                    format!(
                        "seq {seq} sent on {stream} with the lowest unresolved at {}: span over the window of {}",
                        s.floor, cfg.flow.window
                    ),
                );
            }
            let s = &mut self.model.streams[conn as usize];
            s.next_seq += 1;
            s.seq_ids.push(id);
            s.resolved.push(false);
            s.queued -= 1;
            let user = rec.user;
            both!(self.model, user, |c| {
                c.sent += 1;
                c.queued -= 1;
                c.in_flight += 1;
            });
        } else {
            if attempt != rec.attempts + 1 || seq != rec.seq {
                return self.fail(
                    Invariant::Attempts,
                    format!(
                        "retry of event {id} as seq {seq} attempt {attempt} after {} attempts at seq {}",
                        rec.attempts, rec.seq
                    ),
                );
            }
            if attempt > cfg.retry.attempts_max {
                return self.fail(
                    Invariant::Attempts,
                    format!(
                        "event {id} attempt {attempt} over attempts_max {}",
                        cfg.retry.attempts_max
                    ),
                );
            }
            if now >= rec.deadline {
                return self.fail(
                    Invariant::Deadline,
                    format!("event {id} retried at {now} µs, its deadline was {} µs", rec.deadline),
                );
            }
            // Reconnects and failed writes retransmit at once, by design.
            if !matches!(ctx, Ctx::Connect { .. } | Ctx::TransmitFailed) && !rec.early_retry_ok {
                let base = core::time::Duration::from_micros(rec.last_base_us);
                let (lo, _) = cfg.retry.delay_bounds(base, rec.attempts);
                let waited = now - rec.last_tx;
                if waited < lo.as_micros() as u64 {
                    return self.fail(
                        Invariant::Backoff,
                        format!(
                            "event {id} attempt {attempt} after {waited} µs; policy minimum after attempt {} is {lo:?}",
                            rec.attempts
                        ),
                    );
                }
            }
            let user = rec.user;
            both!(self.model, user, |c| c.retried += 1);
        }
        let info = self.tracker.stream_info(stream);
        let (floor, rto) = info.map_or((0, 0), |i| (i.floor.0, i.rto.as_micros() as u64));
        let rec = &mut self.model.events[id as usize];
        rec.early_retry_ok = false;
        rec.attempts = attempt;
        rec.seq = seq;
        rec.last_tx = now;
        rec.last_base_us = rto;
        self.send(conn, true, Msg::Event { seq, attempt, floor, id });
    }

    fn on_skip(&mut self, stream: StreamId, seqs: SeqRange) {
        self.record(TraceEvent::Skip {
            stream: stream.to_bits(),
            start: seqs.start.0,
            end: seqs.end.0,
        });
        let Some(&conn) = self.model.by_stream.get(&stream.to_bits()) else {
            return self.fail(Invariant::Metrics, format!("skip on unknown stream {stream}"));
        };
        let floor = self.tracker.stream_info(stream).map_or(0, |i| i.floor.0);
        self.send(conn, true, Msg::Skip { start: seqs.start.0, end: seqs.end.0, floor });
    }

    fn check_skip(&mut self, stream: StreamId, seqs: SeqRange) {
        let Some(&conn) = self.model.by_stream.get(&stream.to_bits()) else { return };
        let s = &self.model.streams[conn as usize];
        let end = seqs.end.0.min(seqs.start.0 + 4096);
        if seqs.end.0 > s.next_seq || (seqs.start.0..end).any(|q| !s.resolved[q as usize]) {
            self.fail(
                Invariant::Metrics,
                format!(
                    "skip {seqs:?} on {stream} names a seq that is still pending or never sent"
                ),
            );
        }
    }

    fn on_finish(
        &mut self,
        ctx: &Ctx<'_>,
        event: EventId,
        user: UserId,
        outcome: Outcome,
        id: u64,
    ) {
        let (name, attempts_out, latency_us) = match outcome {
            Outcome::Confirmed { attempts, latency } => {
                ("confirmed", attempts, latency.as_micros() as u64)
            }
            Outcome::Expired { reason: ExpiryReason::Deadline } => ("expired-deadline", 0, 0),
            Outcome::Expired { reason: ExpiryReason::AttemptsExhausted } => {
                ("expired-attempts", 0, 0)
            }
            Outcome::Cancelled => ("cancelled", 0, 0),
            Outcome::Superseded => ("superseded", 0, 0),
            Outcome::StreamClosed => ("stream-closed", 0, 0),
        };
        self.record(TraceEvent::Finish {
            event: event.to_bits(),
            id,
            outcome: name,
            attempts: attempts_out,
            latency_us,
        });
        let Some(rec) = self.model.events.get(id as usize).cloned() else {
            return self.fail(Invariant::FinishOnce, format!("finish of unknown payload {id}"));
        };
        if rec.finished {
            return self
                .fail(Invariant::FinishOnce, format!("event {id} ({event}) finished twice"));
        }
        if rec.event != event || user != user_id(rec.user) {
            return self.fail(
                Invariant::Isolation,
                format!(
                    "finish names {event} of {user}, but payload {id} is {} of {}",
                    rec.event,
                    user_id(rec.user)
                ),
            );
        }
        let conn = rec.conn;
        let now = self.tracker_now;
        let cfg = *self.tracker.config();
        // Outcome-specific rules.
        let problem: Option<(Invariant, String)> = match outcome {
            Outcome::Confirmed { attempts, latency } => {
                let by_ack = matches!(ctx, Ctx::Ack { conn: c, ack, .. } if *c == conn && rec.seq != NO_SEQ && Model::covers(ack, rec.seq));
                let by_resume = matches!(ctx, Ctx::Connect { conn: c, resume, .. } if *c == conn && rec.seq < *resume);
                let expected_latency = now - rec.submitted_at;
                if !(by_ack || by_resume) {
                    Some((Invariant::Isolation, format!("event {id} (seq {}) confirmed without an ack from its own client covering it ({ctx:?})", rec.seq)))
                } else if !rec.received {
                    Some((Invariant::Isolation, format!("event {id} (seq {}) confirmed but its client never received it", rec.seq)))
                } else if attempts != rec.attempts || latency.as_micros() as u64 != expected_latency {
                    Some((Invariant::Metrics, format!("event {id} confirmed with attempts {attempts} latency {latency:?}; model: {} attempts, {expected_latency} µs", rec.attempts)))
                } else {
                    None
                }
            }
            Outcome::Expired { reason: ExpiryReason::Deadline } => (now < rec.deadline).then(|| {
                (Invariant::Deadline, format!("event {id} expired at {now} µs before its deadline {} µs", rec.deadline))
            }),
            Outcome::Expired { reason: ExpiryReason::AttemptsExhausted } => {
                (rec.attempts != cfg.retry.attempts_max).then(|| {
                    (Invariant::Attempts, format!("event {id} exhausted its attempts after {} of {}", rec.attempts, cfg.retry.attempts_max))
                })
            }
            Outcome::Cancelled => (!matches!(ctx, Ctx::Cancel { id: c } if *c == id))
                .then(|| (Invariant::Metrics, format!("event {id} cancelled without a cancel"))),
            Outcome::Superseded => (!matches!(ctx, Ctx::Submit { conn: c, key } if *c == conn && *key == rec.key && key.is_some()))
                .then(|| (Invariant::Metrics, format!("event {id} superseded without a newer event with its key"))),
            Outcome::StreamClosed => (!matches!(ctx, Ctx::Close { conn: c } if *c == conn))
                .then(|| (Invariant::Metrics, format!("event {id} finished stream-closed without a close"))),
        };
        if let Some((inv, detail)) = problem {
            return self.fail(inv, detail);
        }
        // Apply to the model.
        self.model.events[id as usize].finished = true;
        self.model.events[id as usize].confirmed = outcome.is_confirmed();
        let u = rec.user;
        let s = &mut self.model.streams[conn as usize];
        if rec.key.is_some_and(|k| s.keys.get(&k) == Some(&id)) {
            s.keys.remove(&rec.key.expect("checked"));
        }
        if rec.seq == NO_SEQ {
            s.queued -= 1;
            both!(self.model, u, |c| c.queued -= 1);
        } else {
            self.model.resolve(conn, rec.seq);
            both!(self.model, u, |c| c.in_flight -= 1);
        }
        match outcome {
            Outcome::Confirmed { latency, .. } => {
                let l = latency.as_micros() as u64;
                let by_resume = matches!(ctx, Ctx::Connect { .. });
                both!(self.model, u, |c| {
                    c.confirmed += 1;
                    c.latency_count += 1;
                    c.latency_max_us = c.latency_max_us.max(l);
                    if by_resume {
                        c.confirmed_by_resume += 1;
                    }
                });
            }
            Outcome::Expired { reason: ExpiryReason::Deadline } => {
                both!(self.model, u, |c| c.expired_deadline += 1)
            }
            Outcome::Expired { reason: ExpiryReason::AttemptsExhausted } => {
                both!(self.model, u, |c| c.expired_attempts += 1)
            }
            Outcome::Cancelled => both!(self.model, u, |c| c.cancelled += 1),
            Outcome::Superseded => both!(self.model, u, |c| c.superseded += 1),
            Outcome::StreamClosed => both!(self.model, u, |c| c.stream_closed += 1),
        }
    }

    /// `forget_user` of `u`, which has no stream left, returned `returned`:
    /// its metrics, exactly the model's.
    pub(crate) fn check_forgotten(&mut self, u: u32, returned: Option<&acktrack::Metrics>) {
        let Some(m) = returned else {
            return self.fail(
                Invariant::Metrics,
                format!("forget of {}, which has no stream, refused", user_id(u)),
            );
        };
        let actual = Counts::of(m);
        let model = &self.model.users[u as usize];
        if actual != *model {
            let detail = diff(model, &actual);
            self.fail(
                Invariant::Metrics,
                format!("metrics forget handed back for {} differ: {detail}", user_id(u)),
            );
        }
    }

    /// After every step: metrics against the model, and the caps.
    pub(crate) fn check_step(&mut self, user: Option<u32>) {
        if self.violation.is_some() {
            return;
        }
        let cfg = *self.tracker.config();
        let actual = Counts::of(self.tracker.metrics());
        if actual != self.model.global {
            let detail = diff(&self.model.global, &actual);
            return self.fail(
                Invariant::Metrics,
                format!("global metrics differ from the model: {detail}"),
            );
        }
        if self.model.global.pending() > u64::from(cfg.flow.global_pending_max)
            || u64::from(self.tracker.pending()) != self.model.global.pending()
        {
            return self.fail(
                Invariant::Caps,
                format!(
                    "pending {} (tracker says {}) against the global cap {}",
                    self.model.global.pending(),
                    self.tracker.pending(),
                    cfg.flow.global_pending_max
                ),
            );
        }
        let Some(u) = user else { return };
        if self.model.forgotten[u as usize] {
            if self.tracker.user_metrics(user_id(u)).is_some() {
                return self.fail(
                    Invariant::Metrics,
                    format!("{} was forgotten but still has metrics", user_id(u)),
                );
            }
            return;
        }
        let Some(m) = self.tracker.user_metrics(user_id(u)) else {
            return self.fail(Invariant::Metrics, format!("no metrics for {}", user_id(u)));
        };
        let actual = Counts::of(m);
        let model = &self.model.users[u as usize];
        if actual != *model {
            let detail = diff(model, &actual);
            return self.fail(
                Invariant::Metrics,
                format!("metrics of {} differ from the model: {detail}", user_id(u)),
            );
        }
        if model.pending() > u64::from(cfg.flow.user_pending_max) {
            return self.fail(
                Invariant::Caps,
                format!(
                    "{} has {} pending over its cap {}",
                    user_id(u),
                    model.pending(),
                    cfg.flow.user_pending_max
                ),
            );
        }
        for &conn in &self.user_conns[u as usize] {
            let q = self.model.streams[conn as usize].queued;
            if q > cfg.flow.queue_max {
                let stream = self.conns[conn as usize].stream;
                return self.fail(
                    Invariant::Caps,
                    format!("{stream} queues {q} over queue_max {}", cfg.flow.queue_max),
                );
            }
        }
    }
}

/// The fields where two counts differ, as "field model→actual".
fn diff(model: &Counts, actual: &Counts) -> String {
    let pairs = [
        ("submitted", model.submitted, actual.submitted),
        ("sent", model.sent, actual.sent),
        ("retried", model.retried, actual.retried),
        ("confirmed", model.confirmed, actual.confirmed),
        ("expired_deadline", model.expired_deadline, actual.expired_deadline),
        ("expired_attempts", model.expired_attempts, actual.expired_attempts),
        ("cancelled", model.cancelled, actual.cancelled),
        ("superseded", model.superseded, actual.superseded),
        ("stream_closed", model.stream_closed, actual.stream_closed),
        ("acks_rejected", model.acks_rejected, actual.acks_rejected),
        ("resumes", model.resumes, actual.resumes),
        ("confirmed_by_resume", model.confirmed_by_resume, actual.confirmed_by_resume),
        ("rejected_stream_queue", model.rejected_stream_queue, actual.rejected_stream_queue),
        ("rejected_user_cap", model.rejected_user_cap, actual.rejected_user_cap),
        ("rejected_global_cap", model.rejected_global_cap, actual.rejected_global_cap),
        ("in_flight", model.in_flight, actual.in_flight),
        ("queued", model.queued, actual.queued),
        ("streams", model.streams, actual.streams),
        ("latency.count", model.latency_count, actual.latency_count),
        ("latency.max_us", model.latency_max_us, actual.latency_max_us),
        ("spurious_retries", model.spurious_retries, actual.spurious_retries),
        ("transmit_failures", model.transmit_failures, actual.transmit_failures),
        ("naks", model.naks, actual.naks),
        ("progress_reports", model.progress_reports, actual.progress_reports),
    ];
    pairs
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(n, a, b)| format!("{n} model {a} tracker {b}"))
        .collect::<Vec<_>>()
        .join(", ")
}
