//! Baseline 2, the tokio tracker: `tokio_util::time::DelayQueue` holds one
//! timer per pending event, and a `HashMap` maps (stream, seq) to the event
//! and its `DelayQueue` key.
//!
//! It runs on a current-thread runtime whose clock is paused: `now` is mapped
//! onto tokio's clock, `handle_timeout` advances it and drains what expired.
//! The drain runs in `tokio::task::unconstrained`, or tokio's cooperative
//! budget would end every poll after 128 expirations. `DelayQueue` rounds
//! deadlines up to whole milliseconds, so a timer fires up to 1 ms late.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use acktrack::{
    Ack, AckError, Command, EventId, ExpiryReason, Instant, OpenError, Outcome, Rejected, Seq,
    SeqRange, StreamError, StreamId, UserId,
};
use tokio::runtime::Runtime;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;

use crate::hashmap_heap::{StreamState, acked_seqs, check_ack, likely_key};
use crate::tracking::{Policy, Tracking};

#[derive(Debug)]
struct Pending<P> {
    id: u64,
    /// Its entry in the `DelayQueue`.
    key: Key,
    attempts: u32,
    submitted_at: Instant,
    deadline: Instant,
    payload: P,
}

/// `DelayQueue` + a (stream, seq) → key map, on a paused tokio clock.
#[derive(Debug)]
pub struct DelayQueueTracker<P> {
    runtime: Rc<Runtime>,
    /// Whether the caller entered the runtime (see [`Tracking::in_context`]).
    entered: bool,
    /// Tokio's time at acktrack's `Instant::ZERO`.
    start: tokio::time::Instant,
    policy: Policy,
    streams: Vec<StreamState>,
    pending: HashMap<(u32, u64), Pending<P>>,
    queue: DelayQueue<(u32, u64)>,
    commands: VecDeque<Command<P>>,
    next_id: u64,
}

impl<P> DelayQueueTracker<P> {
    fn tokio_time(&self, at: Instant) -> tokio::time::Instant {
        self.start + Duration::from_micros(at.as_micros())
    }

    /// Runs `f` inside the runtime's context (`DelayQueue` needs it to create
    /// its `Sleep`), entering it unless the caller already did.
    fn entered<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        if self.entered {
            return f(self);
        }
        let runtime = Rc::clone(&self.runtime);
        let _guard = runtime.enter();
        f(self)
    }

    fn finish(&mut self, stream: u32, seq: u64, p: Pending<P>, outcome: Outcome) {
        let user = self.streams[stream as usize].user;
        if !outcome.is_confirmed() {
            let stream = StreamId::from_bits(u64::from(stream));
            self.commands.push_back(Command::Skip { stream, seqs: SeqRange::new(seq, seq + 1) });
        }
        self.commands.push_back(Command::Finish {
            event: EventId::from_bits(p.id),
            user,
            outcome,
            payload: p.payload,
        });
    }

    /// The timer of (stream, seq) expired at `now`: retry or give up.
    fn fire(&mut self, now: Instant, (stream, seq): (u32, u64)) {
        let p = self.pending.get_mut(&(stream, seq)).expect("expired entries are pending");
        let reason = if p.deadline <= now {
            Some(ExpiryReason::Deadline)
        } else if p.attempts >= self.policy.attempts_max {
            Some(ExpiryReason::AttemptsExhausted)
        } else {
            None
        };
        if let Some(reason) = reason {
            let p = self.pending.remove(&(stream, seq)).expect("pending");
            self.finish(stream, seq, p, Outcome::Expired { reason });
            return;
        }
        p.attempts += 1;
        let delay = self.policy.delay_micros(p.attempts);
        let at = Instant::from_micros(now.as_micros() + delay).min(p.deadline);
        let when = self.start + Duration::from_micros(at.as_micros());
        p.key = self.queue.insert_at((stream, seq), when);
        let (attempt, id) = (p.attempts, p.id);
        self.commands.push_back(Command::Retry {
            stream: StreamId::from_bits(u64::from(stream)),
            event: EventId::from_bits(id),
            seq: Seq(seq),
            attempt,
        });
    }
}

impl<P> Tracking<P> for DelayQueueTracker<P> {
    const NAME: &'static str = "tokio_delayqueue";

    fn with_policy(policy: &Policy, _window: u32) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
        let (start, queue) = {
            let _guard = runtime.enter();
            (tokio::time::Instant::now(), DelayQueue::new())
        };
        DelayQueueTracker {
            runtime: Rc::new(runtime),
            entered: false,
            start,
            policy: *policy,
            streams: Vec::new(),
            pending: HashMap::new(),
            queue,
            commands: VecDeque::new(),
            next_id: 0,
        }
    }

    fn open_stream(&mut self, _now: Instant, user: UserId) -> Result<StreamId, OpenError> {
        let index = u32::try_from(self.streams.len())
            .map_err(|_| OpenError::TooManyStreams { max: u32::MAX })?;
        self.streams.push(StreamState { user, next_seq: 0, floor: 0 });
        Ok(StreamId::from_bits(u64::from(index)))
    }

    fn submit(
        &mut self,
        now: Instant,
        stream: StreamId,
        payload: P,
    ) -> Result<EventId, Rejected<P>> {
        let index = stream.to_bits() as usize;
        let Some(s) = self.streams.get_mut(index) else {
            return Err(Rejected { error: StreamError::Unknown(stream).into(), payload });
        };
        let seq = s.next_seq;
        s.next_seq += 1;
        let id = self.next_id;
        self.next_id += 1;
        let deadline =
            Instant::from_micros(now.as_micros() + self.policy.deadline.as_micros() as u64);
        let at = Instant::from_micros(now.as_micros() + self.policy.delay_micros(1)).min(deadline);
        let when = self.tokio_time(at);
        let key = self.entered(|t| t.queue.insert_at((index as u32, seq), when));
        self.pending.insert(
            (index as u32, seq),
            Pending { id, key, attempts: 1, submitted_at: now, deadline, payload },
        );
        let event = EventId::from_bits(id);
        self.commands.push_back(Command::Send { stream, event, seq: Seq(seq), attempt: 1 });
        Ok(event)
    }

    fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError> {
        let index = check_ack(&self.streams, user, ack)?;
        let floor = self.streams[index].floor;
        self.entered(|t| {
            for seq in acked_seqs(floor, ack) {
                if let Some(p) = t.pending.remove(&(index as u32, seq)) {
                    t.queue.remove(&p.key);
                    let outcome = Outcome::Confirmed {
                        attempts: p.attempts,
                        latency: now.saturating_duration_since(p.submitted_at),
                    };
                    t.finish(index as u32, seq, p, outcome);
                }
            }
        });
        let s = &mut self.streams[index];
        s.floor = s.floor.max(ack.cumulative.0);
        Ok(())
    }

    fn prefetch_submit(&self, stream: StreamId) {
        // The stream, and the bucket of the pending entry `submit` will
        // insert (a lookup of its key, not there yet).
        let index = stream.to_bits() as usize;
        let key = self.streams.get(index).map(|s| (index as u32, s.next_seq));
        std::hint::black_box(key.map(|k| self.pending.contains_key(&k)));
    }

    fn prefetch_ack(&self, ack: &Ack) {
        // The stream, the pending entry `handle_ack` will remove and its
        // `DelayQueue` slot.
        let stream = self.streams.get(ack.stream.to_bits() as usize).map(|s| s.floor);
        let found = likely_key(ack)
            .and_then(|k| self.pending.get(&k))
            .map(|p| (p.attempts, self.queue.deadline(&p.key)));
        std::hint::black_box((stream, found));
    }

    fn handle_timeout(&mut self, now: Instant) {
        let target = self.tokio_time(now);
        let runtime = Rc::clone(&self.runtime);
        runtime.block_on(async {
            let current = tokio::time::Instant::now();
            if target > current {
                tokio::time::advance(target - current).await;
            }
            let drain = poll_fn(|cx| {
                while let Poll::Ready(Some(expired)) = self.queue.poll_expired(cx) {
                    self.fire(now, expired.into_inner());
                }
                Poll::Ready(())
            });
            tokio::task::unconstrained(drain).await;
        });
    }

    fn poll_command(&mut self) -> Option<Command<P>> {
        self.commands.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let key = self.queue.peek()?;
        let at = self.queue.deadline(&key).saturating_duration_since(self.start);
        Some(Instant::from_micros(at.as_micros() as u64))
    }

    fn in_context<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let runtime = Rc::clone(&self.runtime);
        let _guard = runtime.enter();
        let was = std::mem::replace(&mut self.entered, true);
        let result = f(self);
        self.entered = was;
        result
    }
}
