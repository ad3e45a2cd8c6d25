//! Environment inputs: acks, naks, progress, presence, failures, timeouts.

use core::time::Duration;

use super::Engine;
use super::engine::bump;
use super::events::Phase;
use crate::ack::Ack;
use crate::command::Outcome;
use crate::error::{AckError, ConnectError, StreamError};
use crate::ids::{Seq, StreamId, UserId};
use crate::time::Instant;

impl Engine {
    /// Counts a rejected peer input against the claimed user (if known) and globally.
    fn reject(&mut self, user: Option<UserId>, error: AckError) -> AckError {
        self.metrics.acks_rejected += 1;
        if let Some(slot) = user.and_then(|u| self.user_slot(u)) {
            self.user_mut(slot).metrics.acks_rejected += 1;
        }
        error
    }

    /// The stream, checked to exist and to belong to `user`: its index and
    /// its owner's slot.
    #[inline(always)]
    fn owned_stream(&mut self, user: UserId, stream: StreamId) -> Result<(u32, u32), AckError> {
        let index = self.stream_index(stream).map_err(|e| self.reject(Some(user), e.into()))?;
        let owner = self.stream(index).user;
        if self.user(owner).id != user {
            return Err(self.reject(Some(user), AckError::NotOwner { stream, user }));
        }
        Ok((index, owner))
    }

    /// See `Tracker::handle_ack`.
    pub(super) fn handle_ack(
        &mut self,
        now: Instant,
        user: UserId,
        ack: &Ack,
    ) -> Result<(), AckError> {
        let now = self.advance(now);
        let (index, owner) = self.owned_stream(user, ack.stream)?;
        let ranges_max = self.config.ack_ranges_max as usize;
        let window = u64::from(self.config.flow.window);
        // The stream's record, borrowed alone (not all of `self`), so that it
        // is looked up again only after each confirmation, which needs all
        // of `self`.
        let mut s = self.streams[index as usize].stream.as_mut().expect("live stream slot");
        if let Err(e) = ack.validate(s.ring.next_seq(), ranges_max) {
            return Err(self.reject(Some(user), e));
        }
        // The echoed transmission, if its event is still pending.
        let events = &self.events;
        let echoed = ack.echo.and_then(|echo| {
            let slot = s.ring.get(echo.seq)?;
            Some((echo, events.event(slot).attempts(), events.sent_at(slot)))
        });
        if let Some((echo, attempts, _)) = echoed {
            if echo.attempt > attempts {
                let error = AckError::AttemptNotSent {
                    seq: echo.seq,
                    attempt: echo.attempt,
                    sent: attempts,
                };
                return Err(self.reject(Some(user), error));
            }
        }

        // Valid: from here on the ack takes effect.
        if ack.cumulative > s.client_cumulative {
            // The client makes progress: skips may be resent again.
            s.client_cumulative = ack.cumulative;
            s.skip_resends = 0;
        }
        let mut newly = 0u64;
        let floor_before = s.ring.floor();
        loop {
            let floor = s.ring.floor();
            let Some((seq, slot)) = s.ring.next_unresolved(floor, ack.cumulative) else { break };
            self.confirm(now, slot, seq);
            newly += 1;
            s = self.streams[index as usize].stream.as_mut().expect("live stream slot");
        }
        for range in &ack.ranges {
            let mut from = range.start;
            while let Some((seq, slot)) = s.ring.next_unresolved(from, range.end) {
                self.confirm(now, slot, seq);
                newly += 1;
                from = seq.next();
                s = self.streams[index as usize].stream.as_mut().expect("live stream slot");
            }
        }
        if self.events.hint().is_some() && s.ring.floor() != floor_before {
            // Acks come in order more often than not: when this one moved
            // the floor, the stream's next ack will likely read the event
            // now at the floor, by then long out of cache. A prefetch now
            // (unlike a read) does not wait for it.
            if let Some(next) = s.ring.get(s.ring.floor()) {
                self.events.prefetch(next);
            }
        }
        let echo_confirmed = echoed.filter(|(echo, ..)| s.ring.get(echo.seq).is_none());
        let late = echoed.is_none()
            && ack.echo.is_some_and(|echo| {
                let next = s.ring.next_seq().0;
                s.abandoned_any && s.abandoned.contains(echo.seq.0, next, window)
            });
        // Its timers no longer fire unanswered (see `Stream::timers_firing`).
        s.timers_firing &= newly == 0;
        if s.abandoned_any {
            let below = s.client_cumulative.0;
            s.abandoned.remove_below(below);
            s.abandoned_any = !s.abandoned.is_empty();
        }
        if let Some((echo, attempts, sent_at)) = echo_confirmed {
            if echo.attempt == attempts {
                let sample = sent_at.map(|at| now.saturating_duration_since(at));
                if let (Some(config), Some(sample)) = (self.config.rto, sample) {
                    if let Some(rtt) = &mut self.stream_mut(index).rtt {
                        rtt.on_sample(sample, &config);
                    }
                }
            } else {
                bump!(self, owner, spurious_retries);
            }
        } else if late {
            bump!(self, owner, acks_late);
        } else if newly == 0 {
            bump!(self, owner, acks_duplicate);
        }
        self.after_stream_input(now, index);
        Ok(())
    }

    /// See `Tracker::prefetch_ack`: returns the slot of the event the ack
    /// most likely confirms, if it is pending.
    pub(super) fn prefetch_ack(&self, ack: &Ack) -> Option<u32> {
        let (index, seq) = self.ack_target(ack)?;
        let s = self.stream(index);
        let user = self.user(s.user);
        if let Some(hint) = self.events.hint() {
            // Prefetched, but for the ring entry, which names the slot.
            hint(core::ptr::from_ref(user).cast());
            return self.prefetch_acked_event(index, seq);
        }
        // Folded into one value the optimizer must produce, so every read
        // is made; none of them is a dependency of what comes after.
        let slot = s.ring.get(seq);
        let found = slot.map(|slot| self.event(slot).stream);
        core::hint::black_box((user.pending, found));
        slot
    }

    /// With a hint: reads the ring entry of `seq` on stream `index` and, if
    /// it names a pending event, hints what confirming it reads (the event,
    /// its send time if kept, its slot's block record). Returns the slot.
    #[inline]
    pub(super) fn prefetch_acked_event(&self, index: u32, seq: Seq) -> Option<u32> {
        let slot = self.stream(index).ring.get(seq)?;
        self.events.prefetch(slot);
        self.events.prefetch_release(slot);
        Some(slot)
    }

    /// The stream an ack names and the seq that most likely names an event
    /// it confirms: the echoed one, else the newest one it covers.
    #[inline]
    fn ack_target(&self, ack: &Ack) -> Option<(u32, Seq)> {
        let index = self.stream_index(ack.stream).ok()?;
        let seq = match (ack.echo, ack.ranges.last()) {
            (Some(echo), _) => echo.seq,
            (None, Some(range)) => range.start,
            (None, None) => Seq(ack.cumulative.0.checked_sub(1)?),
        };
        Some((index, seq))
    }

    /// The first of two passes over a batch of submits
    /// (`Tracker::prefetch_submits`): hints the first two lines of the
    /// stream's record (those every lifecycle touches), without reading it.
    /// Returns whether the id's index names a record.
    pub(super) fn prefetch_stream_record(&self, stream: StreamId, hint: crate::Prefetch) -> bool {
        let Some(record) = self.streams.get(stream.index() as usize) else { return false };
        let at = core::ptr::from_ref(record).cast::<u8>();
        hint(at);
        hint(at.wrapping_add(64));
        true
    }

    /// What a submit to `stream` reads and writes besides the stream's
    /// record, which this reads: with a hint, hints the user's first two
    /// lines, the line where the seq ring's next entry goes (the one after
    /// its newest entry's) and the event slot the submit takes, if it comes
    /// from the stream's own block; without, reads the user's record. Returns
    /// that slot. The second pass of `Tracker::prefetch_submits`, and all of
    /// `Tracker::prefetch_submit`.
    pub(super) fn prefetch_submit(&self, stream: StreamId) -> Option<u32> {
        let index = self.stream_index(stream).ok()?;
        let s = self.stream(index);
        let user = self.user(s.user);
        let busy = s.queued + s.in_flight >= super::BUSY;
        let slot = super::slots::SlotAlloc::next_of_block(s.slot_cursor, busy);
        let Some(hint) = self.events.hint() else {
            // Folded into one value the optimizer must produce, so the read
            // is made.
            core::hint::black_box(user.pending);
            return slot;
        };
        let at = core::ptr::from_ref(user).cast::<u8>();
        hint(at);
        hint(at.wrapping_add(64));
        if let Some(newest) = s.ring.next_seq().0.checked_sub(1) {
            if let Some(at) = s.ring.entry_address(Seq(newest)) {
                // Past the end of the ring's room when the newest entry is
                // its last: a prefetch of any address is harmless.
                hint(at.wrapping_add(core::mem::size_of::<u32>()));
            }
        }
        if let Some(slot) = slot {
            self.events.prefetch(slot);
        }
        slot
    }

    /// The first of two passes over a batch of acks (`Tracker::prefetch_acks`),
    /// with a hint: hints the stream's user and the ring entry that names
    /// the event the ack most likely confirms, unless that is the floor's
    /// (in-order acks: the entry is beside the ring's head, and the event
    /// was hinted when the floor moved there). Reads only the stream's
    /// record. Returns the stream and the seq, for the second pass
    /// ([`prefetch_acked_event`](Self::prefetch_acked_event)).
    pub(super) fn prefetch_ack_ring(&self, ack: &Ack, hint: crate::Prefetch) -> Option<(u32, Seq)> {
        let (index, seq) = self.ack_target(ack)?;
        let s = self.stream(index);
        hint(core::ptr::from_ref(self.user(s.user)).cast());
        if seq != s.ring.floor() {
            if let Some(at) = s.ring.entry_address(seq) {
                hint(at);
            }
        }
        Some((index, seq))
    }

    /// Confirms the transmitted event at `seq`.
    fn confirm(&mut self, now: Instant, slot: u32, seq: Seq) {
        let e = self.event(slot);
        let outcome = Outcome::Confirmed {
            attempts: e.attempts(),
            latency: now.saturating_duration_since(e.submitted_at()),
        };
        self.finish_at(now, slot, Some(seq), outcome);
    }

    /// See `Tracker::handle_connect`.
    pub(super) fn handle_connect(
        &mut self,
        now: Instant,
        stream: StreamId,
        resume: Seq,
    ) -> Result<(), ConnectError> {
        let now = self.advance(now);
        let index = self.stream_index(stream)?;
        let s = self.stream(index);
        let next = s.ring.next_seq();
        if resume > next {
            return Err(ConnectError::ResumeBeyondSent { resume, next });
        }
        let user = s.user;
        bump!(self, user, resumes);
        let s = self.stream_mut(index);
        s.connected = true;
        // The new connection's receiver state is authoritative (it may be a
        // fresh client that lost everything).
        s.client_cumulative = resume;
        s.skip_resends = 0;
        loop {
            let s = self.stream_mut(index);
            let floor = s.ring.floor();
            let Some((seq, slot)) = s.ring.next_unresolved(floor, resume) else { break };
            self.confirm(now, slot, seq);
            bump!(self, user, confirmed_by_resume);
        }
        let floor = self.stream(index).ring.floor();
        if resume < floor {
            self.push_skip_range(stream, crate::ids::SeqRange { start: resume, end: floor });
        }
        let pending: alloc::vec::Vec<u32> =
            self.stream(index).ring.unresolved().map(|(_, slot)| slot).collect();
        let attempts_max = self.config.retry.attempts_max;
        for slot in pending {
            if self.events.deadline(slot) <= now {
                self.finish(now, slot, Outcome::Expired { reason: crate::ExpiryReason::Deadline });
            } else if self.event(slot).attempts() < attempts_max {
                self.retransmit(now, slot);
            } else {
                // No attempt left to spend: give the last one a fresh timeout.
                let delay = self.nominal_delay(slot);
                self.event_mut(slot).set_phase(Phase::InFlight);
                self.events.set_timeout(slot, now.saturating_add(delay));
                self.arm(slot);
            }
        }
        self.pump(now, index);
        self.arm_skip_timer(now, index);
        self.after_input(now);
        Ok(())
    }

    /// See `Tracker::handle_disconnect`.
    pub(super) fn handle_disconnect(
        &mut self,
        now: Instant,
        stream: StreamId,
    ) -> Result<(), StreamError> {
        let now = self.advance(now);
        let index = self.stream_index(stream)?;
        self.stream_mut(index).connected = false;
        self.after_input(now);
        Ok(())
    }

    /// See `Tracker::handle_nak`.
    pub(super) fn handle_nak(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
        delay: Duration,
    ) -> Result<(), AckError> {
        let now = self.advance(now);
        let Some(slot) = self.feedback_target(user, stream, seq)? else {
            self.after_input(now);
            return Ok(());
        };
        let owner = self.stream(self.event(slot).stream).user;
        bump!(self, owner, naks);
        if self.event(slot).phase() == Phase::InFlight {
            self.events.set_timeout(slot, now.saturating_add(delay));
            self.arm(slot);
            if delay.is_zero() {
                self.attempt_timed_out(now, slot);
            }
        }
        self.after_input(now);
        Ok(())
    }

    /// See `Tracker::handle_progress`.
    pub(super) fn handle_progress(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        let now = self.advance(now);
        let Some(slot) = self.feedback_target(user, stream, seq)? else {
            self.after_input(now);
            return Ok(());
        };
        let owner = self.stream(self.event(slot).stream).user;
        bump!(self, owner, progress_reports);
        let delay = self.nominal_delay(slot);
        if self.event(slot).phase() == Phase::InFlight {
            let timeout = self.events.timeout(slot).max(now.saturating_add(delay));
            self.events.set_timeout(slot, timeout);
            self.arm(slot);
        }
        self.after_input(now);
        Ok(())
    }

    /// The event at `seq`, if still pending, after the ack rules: ownership,
    /// and a seq that was sent. `Ok(None)` for a resolved seq (counted).
    fn feedback_target(
        &mut self,
        user: UserId,
        stream: StreamId,
        seq: Seq,
    ) -> Result<Option<u32>, AckError> {
        let (index, _) = self.owned_stream(user, stream)?;
        let next = self.stream(index).ring.next_seq();
        if seq >= next {
            return Err(self.reject(Some(user), AckError::SeqNotSent { seq, next }));
        }
        let slot = self.stream(index).ring.get(seq);
        if slot.is_none() {
            let owner = self.stream(index).user;
            bump!(self, owner, acks_duplicate);
        }
        Ok(slot)
    }

    /// See `Tracker::handle_transmit_failed`.
    pub(super) fn handle_transmit_failed(
        &mut self,
        now: Instant,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        let now = self.advance(now);
        let index = self.stream_index(stream)?;
        let s = self.stream(index);
        let next = s.ring.next_seq();
        if seq >= next {
            return Err(AckError::SeqNotSent { seq, next });
        }
        let user = s.user;
        if let Some(slot) = s.ring.get(seq) {
            bump!(self, user, transmit_failures);
            let e = self.event(slot);
            if e.phase() == Phase::InFlight && e.attempts() < self.config.retry.attempts_max {
                self.attempt_timed_out(now, slot);
            }
        }
        self.after_input(now);
        Ok(())
    }

    /// See `Tracker::handle_timeout`.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.run_timers(now);
        self.after_input(now);
    }
}
