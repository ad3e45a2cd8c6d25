//! The tracker's internals: slabs, transmission, timers, budgets, finishing.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::time::Duration;

use super::events::{Event, Events, Phase};
use super::state::{Stream, User};
use super::{Engine, SubmitOptions};
use crate::backoff::{capped_exponential, jitter};
use crate::budget::TokenBucket;
use crate::command::{Command, ExpiryReason, Outcome};
use crate::error::{StreamError, SubmitError};
use crate::ids::{EventId, Seq, SeqRange, StreamId, UserId};
use crate::metrics::LatencyHistogram;
use crate::time::Instant;
use crate::wheel::{Pos, TimerStore};

/// Bumps a counter globally and for one user.
macro_rules! bump {
    ($self:ident, $user:expr, $field:ident) => {{
        $self.metrics.$field += 1;
        $self.user_mut($user).metrics.$field += 1;
    }};
}
pub(super) use bump;

impl Engine {
    /// Applies the time rule: `now` never goes backwards.
    pub(super) fn advance(&mut self, now: Instant) -> Instant {
        if now < self.now {
            self.metrics.clock_regressions += 1;
        } else {
            self.now = now;
        }
        self.now
    }

    // ----- slab access -------------------------------------------------------

    pub(super) fn user(&self, slot: u32) -> &User {
        self.users[slot as usize].checked()
    }

    pub(super) fn user_mut(&mut self, slot: u32) -> &mut User {
        self.users[slot as usize].checked_mut()
    }

    pub(super) fn stream(&self, index: u32) -> &Stream {
        self.streams[index as usize].stream.as_ref().expect("live stream slot")
    }

    pub(super) fn stream_mut(&mut self, index: u32) -> &mut Stream {
        self.streams[index as usize].stream.as_mut().expect("live stream slot")
    }

    pub(super) fn event(&self, slot: u32) -> &Event {
        self.events.event(slot)
    }

    pub(super) fn event_mut(&mut self, slot: u32) -> &mut Event {
        self.events.event_mut(slot)
    }

    /// The seq of a transmitted, pending event.
    pub(super) fn event_seq(&self, slot: u32) -> Seq {
        let e = self.event(slot);
        debug_assert!(e.phase() != Phase::Queued);
        e.seq(self.stream(e.stream).ring.floor())
    }

    pub(super) fn stream_id(&self, index: u32) -> StreamId {
        StreamId::new(index, self.streams[index as usize].generation)
    }

    pub(super) fn event_id(&self, slot: u32) -> EventId {
        EventId::new(slot, self.events.generation(slot))
    }

    /// The slot of a live stream, or why there is none.
    pub(super) fn stream_index(&self, id: StreamId) -> Result<u32, StreamError> {
        let slot = self.streams.get(id.index() as usize).ok_or(StreamError::Unknown(id))?;
        if slot.generation == id.generation() && slot.stream.is_some() {
            Ok(id.index())
        } else if slot.generation > id.generation()
            || (slot.generation == id.generation() && slot.stream.is_none())
        {
            Err(StreamError::Closed(id))
        } else {
            Err(StreamError::Unknown(id))
        }
    }

    /// The slot of a pending event.
    pub(super) fn event_slot(&self, id: EventId) -> Option<u32> {
        let slot = self.events.get(id.index())?;
        (slot.generation == id.generation() && slot.event.is_some()).then_some(id.index())
    }

    pub(super) fn user_slot_or_insert(&mut self, id: UserId, now: Instant) -> u32 {
        if let Some(&slot) = self.user_index.get(&id) {
            return slot;
        }
        let budget =
            self.config.user_retry_budget.as_ref().map(|b| Box::new(TokenBucket::new(b, now)));
        let user = User::new(id, budget);
        let slot = match self.free_users.pop() {
            Some(slot) => {
                debug_assert!(!self.users[slot as usize].live, "a free user slot");
                self.users[slot as usize] = user;
                slot
            }
            None => {
                self.users.push(user);
                (self.users.len() - 1) as u32
            }
        };
        self.user_index.insert(id, slot);
        slot
    }

    /// Whether a submit fits every cap; the event it would supersede counts as gone.
    pub(super) fn check_submit(
        &self,
        index: u32,
        options: &SubmitOptions,
    ) -> Result<(), SubmitError> {
        if options.deadline == Some(Duration::ZERO) {
            return Err(SubmitError::ZeroDeadline);
        }
        let flow = &self.config.flow;
        let s = self.stream(index);
        let superseded = options.conflation_key.and_then(|k| s.conflation.get(&k)).copied();
        let freed = u32::from(superseded.is_some());
        let freed_queue =
            u32::from(superseded.is_some_and(|slot| self.event(slot).phase() == Phase::Queued));
        if self.pending - freed >= flow.global_pending_max {
            return Err(SubmitError::GlobalPendingFull { cap: flow.global_pending_max });
        }
        if self.user(s.user).pending - freed >= flow.user_pending_max {
            return Err(SubmitError::UserPendingFull { cap: flow.user_pending_max });
        }
        let must_queue =
            !s.connected || s.queued - freed_queue > 0 || s.ring.span() >= u64::from(flow.window);
        if must_queue && s.queued - freed_queue >= flow.queue_max {
            return Err(SubmitError::StreamQueueFull { cap: flow.queue_max });
        }
        Ok(())
    }

    // ----- transmission ------------------------------------------------------

    /// The base timeout of a first attempt on a stream.
    pub(super) fn base_delay(&self, s: &Stream) -> Duration {
        match s.rtt.as_ref().filter(|_| self.config.rto.is_some()) {
            Some(rtt) => rtt.rto(),
            None => self.config.retry.initial_delay,
        }
    }

    /// Draws the timeout of attempt `attempts` of the event in `slot`, just
    /// made, stores it and arms the timer. `rto` is its stream's adaptive
    /// timeout, if it has one; `first` the stream and seq of a first
    /// transmission.
    #[inline(always)]
    fn schedule_attempt(
        &mut self,
        now: Instant,
        slot: u32,
        attempts: u32,
        rto: Option<Duration>,
        first: Option<(u32, Seq)>,
    ) {
        let prev = self.events.prev_delay(slot);
        let policy = &self.config.retry;
        let (d, base) = match rto {
            // The usual case: a fixed base, its backoff table worked out once.
            None => (self.delays[attempts as usize - 1], self.delays[0]),
            Some(base) => (capped_exponential(policy, base, attempts), crate::time::micros(base)),
        };
        let delay = jitter(policy, d, base, prev, &mut self.rng);
        self.events.set_prev_delay(slot, delay);
        let (at, pos, ring_timed) = self.events.set_timeout_and_timer(slot, now.add_micros(delay));
        debug_assert_eq!(at, self.events.expiry(slot));
        if !pos.is_none() {
            let mut store = Store { events: &mut self.events, streams: &mut self.streams };
            self.wheel.remove(slot, pos, &mut store);
        } else if ring_timed {
            self.leave_ring_timing(slot);
        }
        if let Some((index, seq)) = first {
            if self.ring_time(index, slot, seq, at) {
                return;
            }
        }
        let mut store = Store { events: &mut self.events, streams: &mut self.streams };
        self.wheel.insert(slot, at.as_micros(), &mut store);
    }

    // ----- ring timing -------------------------------------------------------
    //
    // A stream sends its events in seq order, and with a fixed first timeout
    // and the config's deadline their first expiries come in seq order too.
    // Such events need no wheel entry of their own: they are *ring-timed*.
    // The stream's one ring timer waits for the oldest of them, and finds the
    // next one in the seq ring when it fires, as TCP's retransmission timer
    // does. An ack then touches no timer at all, and the wheel holds one
    // entry per stream instead of one per event.
    //
    // Only a first transmission whose expiry is not before the latest
    // ring-timed one's is ring-timed (so ring-timed events expire in seq
    // order); any other timer, and any later one of the same event, is in
    // the wheel. The ring timer may fire early (its event was acked first):
    // it then moves to the next one's expiry. Events fire in time order as
    // before: the ring timer fires one event at a time, then is armed at the
    // next one's expiry.

    /// Times a first transmission on stream `index`, at `seq`, expiring at `at`, by its
    /// stream's ring, if that keeps the stream's ring-timed events in expiry
    /// order. The event has no timer yet.
    #[inline(always)]
    fn ring_time(&mut self, index: u32, slot: u32, seq: Seq, at: Instant) -> bool {
        let s = self.streams[index as usize].stream.as_mut().expect("live stream slot");
        if at < s.ring_tail_at || s.timers_firing {
            return false;
        }
        self.events.event_mut(slot).set_ring_timed();
        if s.ring_timed == 0 {
            s.ring_cursor = seq;
        }
        s.ring_timed += 1;
        s.ring_tail_at = at;
        if s.ring_timer.is_none() {
            self.arm_ring_timer(index, at);
        }
        debug_assert!(self.stream(index).ring_at <= at);
        true
    }

    /// Takes the event's timer out of the wheel, or ends its ring timing.
    #[inline(always)]
    fn take_timer(&mut self, slot: u32) {
        let e = self.events.event(slot);
        let pos = e.timer();
        if !pos.is_none() {
            let mut store = Store { events: &mut self.events, streams: &mut self.streams };
            self.wheel.remove(slot, pos, &mut store);
        } else if e.ring_timed() {
            self.leave_ring_timing(slot);
        }
    }

    /// Ends the ring timing of the event in `slot`.
    #[inline(never)]
    fn leave_ring_timing(&mut self, slot: u32) {
        let e = self.events.event_mut(slot);
        e.set_timer(Pos::NONE);
        let index = e.stream;
        let s = self.stream_mut(index);
        s.ring_timed -= 1;
        if s.ring_timed == 0 {
            self.end_ring_timing(index);
        }
    }

    /// The stream's last ring-timed event is gone: its ring timer goes too.
    #[inline(never)]
    fn end_ring_timing(&mut self, index: u32) {
        let s = self.stream_mut(index);
        debug_assert_eq!(s.ring_timed, 0);
        s.ring_tail_at = Instant::ZERO;
        self.disarm_ring_timer(index);
    }

    /// Arms the stream's ring timer, which is not armed, at `at`.
    fn arm_ring_timer(&mut self, index: u32, at: Instant) {
        let s = self.stream_mut(index);
        debug_assert!(s.ring_timer.is_none());
        s.ring_at = at;
        let mut store = Store { events: &mut self.events, streams: &mut self.streams };
        self.wheel.insert(index | STREAM_KEY | RING_KEY, at.as_micros(), &mut store);
    }

    /// The stream's oldest ring-timed event: its seq, slot and expiry.
    /// Moves the stream's cursor up to it.
    fn ring_head(&mut self, index: u32) -> Option<(Seq, u32, Instant)> {
        let s = self.streams[index as usize].stream.as_mut().expect("live stream slot");
        if s.ring_timed == 0 {
            return None;
        }
        loop {
            let (from, end) = (s.ring_cursor.max(s.ring.floor()), s.ring.next_seq());
            let (seq, slot) =
                s.ring.next_unresolved(from, end).expect("ring-timed events are unresolved");
            if self.events.event(slot).ring_timed() {
                s.ring_cursor = seq;
                // In flight (any other phase has a wheel timer): its timeout.
                debug_assert_eq!(self.events.event(slot).phase(), Phase::InFlight);
                return Some((seq, slot, self.events.timeout(slot)));
            }
            s.ring_cursor = seq.next();
        }
    }

    /// The stream's ring timer fired (the wheel took it out): fires its
    /// ring-timed events that are due, oldest first, as long as no other
    /// timer is due before the next one, then arms it at the next one's
    /// expiry.
    fn on_ring_timer(&mut self, now: Instant, index: u32) {
        debug_assert!(self.stream(index).ring_timer.is_none());
        // No other timer is due before this time: the wheel fired this one
        // at it, then each event fired here.
        let mut clear_until = self.stream(index).ring_at;
        // The earliest any other timer may fire, looked up when needed.
        // Timers armed while these events fire are not before `now`.
        let mut wake = None;
        let mut head = self.ring_head(index);
        while let Some((seq, slot, at)) = head {
            if at > now {
                // Armed for an event resolved or timed otherwise since.
                break;
            }
            if at > clear_until {
                let wake = *wake.get_or_insert_with(|| self.wheel.next_wake().unwrap_or(u64::MAX));
                if wake < at.as_micros() {
                    // Another timer comes first: the wheel keeps them in order.
                    break;
                }
            }
            clear_until = at;
            let s = self.stream_mut(index);
            s.ring_cursor = seq.next();
            s.timers_firing = true;
            self.take_timer(slot);
            self.on_timer(now, slot);
            // A first transmission in `on_timer` may have armed it, later.
            self.disarm_ring_timer(index);
            head = self.ring_head(index);
        }
        if let Some((_, _, at)) = head {
            self.arm_ring_timer(index, at);
        }
    }

    /// Takes the stream's ring timer out of the wheel, if it is there.
    fn disarm_ring_timer(&mut self, index: u32) {
        let pos = core::mem::replace(&mut self.stream_mut(index).ring_timer, Pos::NONE);
        if !pos.is_none() {
            let mut store = Store { events: &mut self.events, streams: &mut self.streams };
            self.wheel.remove(index | STREAM_KEY | RING_KEY, pos, &mut store);
        }
    }

    /// First transmission of a queued (or just submitted) event.
    #[inline]
    pub(super) fn transmit_first(&mut self, now: Instant, slot: u32) {
        let (e, generation) = self.events.event_and_generation_mut(slot);
        let index = e.stream;
        let stream_slot = &mut self.streams[index as usize];
        let stream = StreamId::new(index, stream_slot.generation);
        let s = stream_slot.stream.as_mut().expect("live stream slot");
        debug_assert!(s.ring.span() < 1 << 24, "the window bounds the span");
        let seq = s.ring.push(slot);
        s.in_flight += 1;
        // Streams have an estimator iff the config asks for one: checked
        // first, so the usual lifecycle leaves the record's cold lines alone.
        let adaptive = self.config.rto.is_some();
        let (user, rto) = (s.user, s.rtt.as_ref().filter(|_| adaptive).map(|r| r.rto()));
        e.set_seq(seq);
        e.set_attempts(1);
        e.set_phase(Phase::InFlight);
        self.events.set_sent(slot, now);
        self.schedule_attempt(now, slot, 1, rto, Some((index, seq)));
        self.metrics.in_flight += 1;
        self.metrics.sent += 1;
        let u = self.users[user as usize].checked_mut();
        u.metrics.in_flight += 1;
        u.metrics.sent += 1;
        if let Some(b) = &mut u.budget {
            b.on_send();
        }
        if let Some(b) = &mut self.global_budget {
            b.on_send();
        }
        let event = EventId::new(slot, generation);
        self.commands.push_back(Command::Send { stream, event, seq, attempt: 1 });
    }

    /// A retransmission (the caller checked connection, attempts and budget).
    pub(super) fn retransmit(&mut self, now: Instant, slot: u32) {
        let (e, generation) = self.events.event_and_generation_mut(slot);
        let index = e.stream;
        let stream_slot = &self.streams[index as usize];
        let stream = StreamId::new(index, stream_slot.generation);
        let s = stream_slot.stream.as_ref().expect("live stream slot");
        // As in `transmit_first`: the estimator only if the config has one.
        let adaptive = self.config.rto.is_some();
        let rto = s.rtt.as_ref().filter(|_| adaptive).map(|r| r.rto());
        let (floor, user) = (s.ring.floor(), s.user);
        debug_assert!(e.phase() != Phase::Queued);
        let seq = e.seq(floor);
        let attempt = e.attempts() + 1;
        e.set_attempts(attempt);
        e.set_phase(Phase::InFlight);
        self.events.set_sent(slot, now);
        self.schedule_attempt(now, slot, attempt, rto, None);
        bump!(self, user, retried);
        let event = EventId::new(slot, generation);
        self.commands.push_back(Command::Retry { stream, event, seq, attempt });
    }

    /// Arms the event's single timer: the earlier of its attempt timeout
    /// (in flight only) and its deadline. Replaces any timer it had.
    pub(super) fn arm(&mut self, slot: u32) {
        let at = self.events.expiry(slot);
        self.arm_at(slot, at);
    }

    /// Arms the event's timer at `at`, which is its expiry (see `arm`).
    #[inline]
    fn arm_at(&mut self, slot: u32, at: Instant) {
        debug_assert_eq!(at, self.events.expiry(slot));
        self.take_timer(slot);
        let mut store = Store { events: &mut self.events, streams: &mut self.streams };
        self.wheel.insert(slot, at.as_micros(), &mut store);
    }

    /// Removes the stream's skip timer, if armed.
    pub(super) fn disarm_skip(&mut self, index: u32) {
        let pos = self.stream(index).skip_timer;
        if !pos.is_none() {
            let mut store = Store { events: &mut self.events, streams: &mut self.streams };
            self.wheel.remove(index | STREAM_KEY, pos, &mut store);
            self.stream_mut(index).skip_timer = Pos::NONE;
        }
    }

    /// Sends queued events while the stream is connected and its window has room.
    #[inline]
    pub(super) fn pump(&mut self, now: Instant, index: u32) {
        let s = self.stream(index);
        // The usual case, checked inline: nothing queued, no window-full clock.
        if s.queued == 0 && s.window_full_since.is_none() {
            return;
        }
        self.pump_queue(now, index);
    }

    #[inline(never)]
    fn pump_queue(&mut self, now: Instant, index: u32) {
        let window = u64::from(self.config.flow.window);
        loop {
            let s = self.stream_mut(index);
            if !s.connected || s.queued == 0 || s.ring.span() >= window {
                break;
            }
            let Some((slot, generation)) = s.queue.pop_front() else { break };
            if !self.events.is_live(slot, generation) {
                continue;
            }
            if self.events.deadline(slot) <= now {
                // Its deadline passed while it waited: it expires unsent.
                self.finish(now, slot, Outcome::Expired { reason: ExpiryReason::Deadline });
                continue;
            }
            let s = self.stream_mut(index);
            s.queued -= 1;
            let user = s.user;
            self.metrics.queued -= 1;
            self.user_mut(user).metrics.queued -= 1;
            self.transmit_first(now, slot);
        }
        crate::ring::give_back(&mut self.stream_mut(index).queue);
        self.track_window_full(now, index);
    }

    /// Starts or stops the stream's window-full clock.
    pub(super) fn track_window_full(&mut self, now: Instant, index: u32) {
        let window = u64::from(self.config.flow.window);
        let s = self.stream_mut(index);
        let full = s.queued > 0 && s.ring.span() >= window;
        match (full, s.window_full_since) {
            (true, None) => s.window_full_since = Some(now),
            (false, Some(since)) => {
                s.window_full_since = None;
                let user = s.user;
                let micros = now.saturating_duration_since(since).as_micros() as u64;
                self.metrics.window_full_micros += micros;
                self.user_mut(user).metrics.window_full_micros += micros;
            }
            _ => {}
        }
    }

    // ----- finishing ---------------------------------------------------------

    /// Ends an event: exactly once, with its outcome. Its slot stays retired
    /// until the `Finish` command (carrying the slot where the payload is)
    /// is polled.
    pub(super) fn finish(&mut self, now: Instant, slot: u32, outcome: Outcome) {
        let seq = (self.event(slot).phase() != Phase::Queued).then(|| self.event_seq(slot));
        self.finish_at(now, slot, seq, outcome);
    }

    /// [`finish`](Self::finish) of an event whose seq the caller knows:
    /// `Some` if it was transmitted, `None` if it is queued.
    pub(super) fn finish_at(
        &mut self,
        now: Instant,
        slot: u32,
        seq: Option<Seq>,
        outcome: Outcome,
    ) {
        let (e, generation) = self.events.retire(slot);
        // Its timer goes with it (the record of where it sat is `e`'s).
        let pos = e.timer();
        if !pos.is_none() {
            let mut store = Store { events: &mut self.events, streams: &mut self.streams };
            self.wheel.remove(slot, pos, &mut store);
        }
        let event_id = EventId::new(slot, generation);
        let index = e.stream;
        let window = self.config.flow.window;
        let stream_slot = &mut self.streams[index as usize];
        let stream_id = StreamId::new(index, stream_slot.generation);
        let s = stream_slot.stream.as_mut().expect("live stream slot");
        let user = s.user;
        let connected = s.connected;
        let mut skip = None;
        let mut end_ring_timing = false;
        if e.ring_timed() {
            s.ring_timed -= 1;
            end_ring_timing = s.ring_timed == 0;
        }
        let u = self.users[user as usize].checked_mut();
        if let Some(seq) = seq {
            s.ring.resolve(seq);
            s.in_flight -= 1;
            if !matches!(outcome, Outcome::Confirmed { .. } | Outcome::StreamClosed) {
                skip = Some(seq);
                let next = s.ring.next_seq().0;
                s.abandoned.insert(seq.0, next, u64::from(window));
                s.abandoned_any = true;
            }
            self.metrics.in_flight -= 1;
            u.metrics.in_flight -= 1;
        } else {
            s.queued -= 1;
            // The queue entry is now stale; compact when stale entries dominate.
            if s.queue.len() > 2 * s.queued as usize + 16 {
                let events = &self.events;
                s.queue.retain(|(slot, generation)| events.is_live(*slot, *generation));
            }
            self.metrics.queued -= 1;
            u.metrics.queued -= 1;
        }
        if e.keyed() {
            let key = self.keys.remove(&slot).expect("a keyed event has its key");
            if s.conflation.get(&key) == Some(&slot) {
                s.conflation.remove(&key);
            }
        }
        self.pending -= 1;
        u.pending -= 1;
        let (m, um) = (&mut self.metrics, &mut u.metrics);
        // `bump!` with the user at hand.
        macro_rules! both {
            ($field:ident) => {{
                m.$field += 1;
                um.$field += 1;
            }};
        }
        match outcome {
            Outcome::Confirmed { .. } => {
                both!(confirmed);
                // The outcome's latency, in µs.
                let latency = now.as_micros().saturating_sub(e.submitted_at().as_micros());
                LatencyHistogram::record_both(&mut m.latency, &mut um.latency, latency);
            }
            Outcome::Expired { reason } => {
                match reason {
                    ExpiryReason::Deadline => both!(expired_deadline),
                    ExpiryReason::AttemptsExhausted => both!(expired_attempts),
                }
                if !connected {
                    both!(expired_disconnected);
                }
            }
            Outcome::Cancelled => both!(cancelled),
            Outcome::Superseded => both!(superseded),
            Outcome::StreamClosed => both!(stream_closed),
        }
        let user_id = u.id;
        if end_ring_timing {
            self.end_ring_timing(index);
        }
        if let Some(seq) = skip {
            self.push_skip(stream_id, seq);
            self.arm_skip_timer(now, index);
        }
        self.commands.push_back(Command::Finish {
            event: event_id,
            user: user_id,
            outcome,
            payload: slot,
        });
    }

    /// Queues a skip, merged into the previous command when that was an
    /// adjacent skip on the same stream.
    pub(super) fn push_skip(&mut self, stream: StreamId, seq: Seq) {
        self.push_skip_range(stream, SeqRange::single(seq));
    }

    pub(super) fn push_skip_range(&mut self, stream: StreamId, seqs: SeqRange) {
        if let Some(Command::Skip { stream: s, seqs: last }) = self.commands.back_mut() {
            if *s == stream && last.end == seqs.start {
                last.end = seqs.end;
                return;
            }
        }
        self.commands.push_back(Command::Skip { stream, seqs });
    }

    // ----- timers and the retry budget ---------------------------------------

    /// Runs every timer due at `now`, in time order.
    pub(super) fn run_timers(&mut self, now: Instant) {
        loop {
            let mut store = Store { events: &mut self.events, streams: &mut self.streams };
            let Some(key) = self.wheel.poll(now.as_micros(), &mut store) else { break };
            if let Some(hint) = self.events.hint() {
                self.prefetch_timers_ahead(now, hint);
            }
            if key & STREAM_KEY != 0 {
                let index = key & !(STREAM_KEY | RING_KEY);
                if key & RING_KEY != 0 {
                    self.on_ring_timer(now, index);
                } else {
                    self.on_skip_timer(now, index);
                }
            } else {
                self.on_timer(now, key);
            }
        }
        // Nothing more is due: work ahead of the wheel's next cascades.
        let mut store = Store { events: &mut self.events, streams: &mut self.streams };
        self.wheel.spread(now.as_micros(), &mut store);
    }

    /// With a hint, while timers fire: hints the stream record of the
    /// event that fires `STREAM_AHEAD` keys on, and the user record of the
    /// one `USER_AHEAD` keys on (whose stream record the hint before
    /// fetched), so that with many streams their misses overlap. If that
    /// one is past its deadline at `now` (it will expire, not retry), also
    /// what its expiry writes besides: its seq ring entry, the word of its
    /// stream's abandoned set that takes its seq, and its slot's block
    /// record. The events themselves were touched as their timers moved
    /// down the wheel.
    #[inline]
    fn prefetch_timers_ahead(&self, now: Instant, hint: crate::Prefetch) {
        const STREAM_AHEAD: usize = 8;
        const USER_AHEAD: usize = 4;
        // The event `ahead` keys on (not a stream's timer), with its
        // stream's record.
        let upcoming = |ahead| {
            let key = self.wheel.upcoming(ahead).filter(|key| key & STREAM_KEY == 0)?;
            let e = self.events.get(key)?.event.as_ref()?;
            Some((key, e, self.streams.get(e.stream as usize)?))
        };
        if let Some((_, _, record)) = upcoming(STREAM_AHEAD) {
            let at = core::ptr::from_ref(record).cast::<u8>();
            hint(at);
            hint(at.wrapping_add(64));
            hint(at.wrapping_add(128));
        }
        let Some((key, e, record)) = upcoming(USER_AHEAD) else { return };
        let Some(s) = record.stream.as_ref() else { return };
        if let Some(user) = self.users.get(s.user as usize) {
            let at = core::ptr::from_ref(user).cast::<u8>();
            hint(at);
            hint(at.wrapping_add(64));
        }
        if self.events.deadline(key) <= now {
            // It expires: its ring entry is resolved and its slot released.
            if e.phase() != Phase::Queued {
                let seq = e.seq(s.ring.floor());
                if let Some(at) = s.ring.entry_address(seq) {
                    hint(at);
                }
                // It goes into the abandoned set.
                if let Some(at) = s.abandoned.word_address(seq.0) {
                    hint(at);
                }
            }
            self.events.prefetch_release(key);
        }
    }

    /// After an input on a stream: sends what its window now lets through,
    /// arms its skip timer if one is owed, then [`after_input`](Self::after_input).
    /// The same as `pump`, `arm_skip_timer` and `after_input` in turn, with
    /// the stream looked up once in the usual case (nothing queued).
    #[inline(always)]
    pub(super) fn after_stream_input(&mut self, now: Instant, index: u32) {
        let s = self.stream(index);
        if s.queued != 0 || s.window_full_since.is_some() {
            self.pump_queue(now, index);
            self.arm_skip_timer(now, index);
        } else if self.skip_timer_owed(s) {
            self.arm_skip_timer_now(now, index);
        }
        self.after_input(now);
    }

    /// Whether stream `s` needs its skip timer armed (see `arm_skip_timer`).
    #[inline(always)]
    fn skip_timer_owed(&self, s: &Stream) -> bool {
        s.connected
            && s.skip_timer.is_none()
            && s.client_cumulative < s.ring.floor()
            && s.skip_resends < self.config.retry.attempts_max
    }

    /// Arms the stream's skip timer if its client may be waiting for a
    /// resolved seq (its cumulative ack is below the floor), none is armed,
    /// and it has not been resent `attempts_max` times without the client
    /// making progress (new event frames carry the floor in any case).
    #[inline]
    pub(super) fn arm_skip_timer(&mut self, now: Instant, index: u32) {
        if self.skip_timer_owed(self.stream(index)) {
            self.arm_skip_timer_now(now, index);
        }
    }

    #[inline(never)]
    fn arm_skip_timer_now(&mut self, now: Instant, index: u32) {
        let s = self.stream(index);
        let base = self.base_delay(s);
        let delay = capped_exponential(&self.config.retry, base, s.skip_resends + 1);
        let at = now.saturating_add(Duration::from_micros(delay));
        self.stream_mut(index).skip_at = at;
        let mut store = Store { events: &mut self.events, streams: &mut self.streams };
        self.wheel.insert(index | STREAM_KEY, at.as_micros(), &mut store);
    }

    fn on_skip_timer(&mut self, now: Instant, index: u32) {
        let s = self.stream_mut(index);
        let (from, floor) = (s.client_cumulative, s.ring.floor());
        if !s.connected || from >= floor {
            s.skip_resends = 0;
            return;
        }
        s.skip_resends = s.skip_resends.saturating_add(1);
        let user = s.user;
        bump!(self, user, skips_resent);
        let stream = self.stream_id(index);
        self.push_skip_range(stream, SeqRange { start: from, end: floor });
        self.arm_skip_timer(now, index);
    }

    #[inline(always)]
    fn on_timer(&mut self, now: Instant, slot: u32) {
        let e = self.event(slot);
        let index = e.stream;
        let (deadline, timeout) = self.events.deadline_and_timeout(slot);
        if deadline <= now {
            self.finish(now, slot, Outcome::Expired { reason: ExpiryReason::Deadline });
            self.pump(now, index);
            return;
        }
        if e.phase() != Phase::InFlight || timeout > now {
            // Only the deadline matters in the other phases.
            self.arm(slot);
            return;
        }
        self.attempt_timed_out_before(now, slot, deadline);
    }

    /// The latest attempt timed out (or failed): retry, defer, pause or give up.
    pub(super) fn attempt_timed_out(&mut self, now: Instant, slot: u32) {
        let deadline = self.events.deadline(slot);
        self.attempt_timed_out_before(now, slot, deadline);
    }

    /// [`attempt_timed_out`](Self::attempt_timed_out) of an event whose
    /// deadline is `deadline`.
    fn attempt_timed_out_before(&mut self, now: Instant, slot: u32, deadline: Instant) {
        let e = self.event(slot);
        let index = e.stream;
        let attempts = e.attempts();
        let s = self.stream(index);
        let user = s.user;
        if deadline <= now {
            // Reached early (a nak or transmit failure reported after the
            // deadline, before `handle_timeout`): never retry past it.
            self.finish(now, slot, Outcome::Expired { reason: ExpiryReason::Deadline });
            self.pump(now, index);
        } else if !s.connected {
            self.event_mut(slot).set_phase(Phase::Paused);
            self.arm(slot);
        } else if attempts >= self.config.retry.attempts_max {
            self.finish(now, slot, Outcome::Expired { reason: ExpiryReason::AttemptsExhausted });
            self.pump(now, index);
        } else if self.take_retry_token(now, user) {
            self.retransmit(now, slot);
        } else {
            self.event_mut(slot).set_phase(Phase::Deferred);
            self.arm(slot);
            let generation = self.events.generation(slot);
            let u = self.user_mut(user);
            u.deferred.push_back((slot, generation));
            if !u.in_deferred_ring {
                u.in_deferred_ring = true;
                self.deferred_users.push_back(user);
            }
            bump!(self, user, deferred_retries);
        }
    }

    /// Takes a retry token from the user's and the global bucket, if both have one.
    fn take_retry_token(&mut self, now: Instant, user: u32) -> bool {
        let global_ok = self.global_budget.as_mut().is_none_or(|b| b.has_token(now));
        if !global_ok {
            return false;
        }
        let u = self.user_mut(user);
        if !u.budget.as_mut().is_none_or(|b| b.has_token(now)) {
            return false;
        }
        if let Some(b) = &mut u.budget {
            b.take();
        }
        if let Some(b) = &mut self.global_budget {
            b.take();
        }
        true
    }

    /// Serves deferred retries round-robin across users while tokens last,
    /// then works out when refill will allow the next one.
    #[inline(never)]
    fn serve_deferred(&mut self, now: Instant) {
        self.budget_wake = None;
        let mut idle = 0;
        while idle < self.deferred_users.len() {
            if !self.global_budget.as_mut().is_none_or(|b| b.has_token(now)) {
                break;
            }
            let user = self.deferred_users.pop_front().expect("non-empty");
            // The user's oldest event that is still deferred.
            let next = loop {
                let Some((slot, generation)) = self.user_mut(user).deferred.pop_front() else {
                    break None;
                };
                if self.events.is_live(slot, generation)
                    && self.event(slot).phase() == Phase::Deferred
                {
                    break Some((slot, generation));
                }
            };
            let Some((slot, generation)) = next else {
                self.user_mut(user).in_deferred_ring = false;
                continue;
            };
            let index = self.event(slot).stream;
            if !self.stream(index).connected {
                self.event_mut(slot).set_phase(Phase::Paused);
                idle = 0;
            } else if self.events.deadline(slot) <= now {
                self.finish(now, slot, Outcome::Expired { reason: ExpiryReason::Deadline });
                self.pump(now, index);
                idle = 0;
            } else if self.take_retry_token(now, user) {
                self.retransmit(now, slot);
                idle = 0;
            } else {
                self.user_mut(user).deferred.push_front((slot, generation));
                idle += 1;
            }
            if self.user(user).deferred.is_empty() {
                self.user_mut(user).in_deferred_ring = false;
            } else {
                self.deferred_users.push_back(user);
            }
        }
        if self.deferred_users.is_empty() {
            return;
        }
        // Nothing more can be served now: wake when refill can serve someone.
        let global_at = match &self.global_budget {
            Some(b) => b.token_at(),
            None => Some(now),
        };
        let Some(global_at) = global_at else { return };
        let mut user_at: Option<Instant> = None;
        for &user in &self.deferred_users {
            let at = match &self.user(user).budget {
                Some(b) => b.token_at(),
                None => Some(now),
            };
            if let Some(at) = at {
                user_at = Some(user_at.map_or(at, |u| u.min(at)));
            }
        }
        if let Some(user_at) = user_at {
            let at = global_at.max(user_at);
            // Always strictly in the future: a wake-up at `now` could not serve anything.
            self.budget_wake = Some(at.max(Instant::from_micros(now.as_micros() + 1)));
        }
    }

    /// Housekeeping after every input: serve deferred retries, or clear the
    /// budget wake-up when none are waiting.
    #[inline]
    pub(super) fn after_input(&mut self, now: Instant) {
        if !self.deferred_users.is_empty() {
            self.serve_deferred(now);
        } else {
            self.budget_wake = None;
        }
    }

    /// Un-jittered timeout of the given attempt on the event's stream.
    pub(super) fn nominal_delay(&self, slot: u32) -> Duration {
        let e = self.event(slot);
        let base = self.base_delay(self.stream(e.stream));
        Duration::from_micros(capped_exponential(&self.config.retry, base, e.attempts().max(1)))
    }

    pub(super) fn user_slot(&self, user: UserId) -> Option<u32> {
        self.user_index.get(&user).copied()
    }
}

/// Wheel keys with this bit name a stream's skip timer; without it, an event.
pub(super) const STREAM_KEY: u32 = 1 << 31;
/// With [`STREAM_KEY`]: the stream's ring timer instead of its skip timer.
/// Stream indices are below it.
pub(super) const RING_KEY: u32 = 1 << 30;

/// The wheel's view of the slabs: expiries and positions of its keys.
pub(super) struct Store<'a> {
    pub(super) events: &'a mut Events,
    pub(super) streams: &'a mut Vec<super::state::StreamSlot>,
}

impl TimerStore for Store<'_> {
    #[inline]
    fn expiry(&self, key: u32) -> u64 {
        if key & STREAM_KEY != 0 {
            let s = self.streams[(key & !(STREAM_KEY | RING_KEY)) as usize].stream.as_ref();
            let s = s.expect("timer of a live stream");
            if key & RING_KEY != 0 { s.ring_at } else { s.skip_at }.as_micros()
        } else {
            self.events.expiry(key).as_micros()
        }
    }

    #[inline]
    fn set_pos(&mut self, key: u32, pos: Pos) {
        if key & STREAM_KEY != 0 {
            let s = self.streams[(key & !(STREAM_KEY | RING_KEY)) as usize].stream.as_mut();
            let s = s.expect("timer of a live stream");
            if key & RING_KEY != 0 {
                s.ring_timer = pos;
            } else {
                s.skip_timer = pos;
            }
        } else {
            self.events.event_mut(key).set_timer(pos);
        }
    }

    /// An event's slot (a stream's record is at hand anyway): prefetched
    /// if the embedder gave a hint, else read (a read that misses stalls
    /// the core as the move's own read would, but the run's misses overlap).
    #[inline]
    fn touch(&self, key: u32) {
        if key & STREAM_KEY == 0 {
            if self.events.hint().is_some() {
                self.events.prefetch(key);
            } else {
                core::hint::black_box(self.events.get(key).map(|slot| slot.event.is_some()));
            }
        }
    }

    #[inline]
    fn relocate(&mut self, key: u32, place: impl FnOnce(u64) -> Option<Pos>) -> bool {
        if key & STREAM_KEY != 0 {
            let pos = place(self.expiry(key));
            if let Some(pos) = pos {
                self.set_pos(key, pos);
            }
            pos.is_some()
        } else {
            self.events.relocate_timer(key, place)
        }
    }
}
