//! Baseline 1, the obvious tracker: a std `HashMap` of pending events keyed
//! by (stream, seq), and a `BinaryHeap` of timers with lazy deletion.
//!
//! This is what a Rust developer writes first: default SipHash hasher, one
//! heap entry per armed timer, a stale entry recognised when it reaches the
//! top (its event is gone or was re-armed to another time). Like acktrack it
//! drops stale entries from the top after every input, so `poll_timeout` is
//! exact and in-order acks keep the heap at one entry per pending event.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use acktrack::{
    Ack, AckError, Command, EventId, ExpiryReason, Instant, OpenError, Outcome, Rejected, Seq,
    SeqRange, StreamError, StreamId, UserId,
};

use crate::tracking::{Policy, Tracking};

/// One stream: its owner and the seqs it has handed out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamState {
    pub(crate) user: UserId,
    pub(crate) next_seq: u64,
    /// Every seq below this was covered by a cumulative ack.
    pub(crate) floor: u64,
}

/// Checks an ack's stream, owner and seqs; returns the stream's index.
pub(crate) fn check_ack(
    streams: &[StreamState],
    user: UserId,
    ack: &Ack,
) -> Result<usize, AckError> {
    let index = ack.stream.to_bits() as usize;
    let s = streams.get(index).ok_or(AckError::Stream(StreamError::Unknown(ack.stream)))?;
    if s.user != user {
        return Err(AckError::NotOwner { stream: ack.stream, user });
    }
    let next = Seq(s.next_seq);
    if ack.cumulative > next {
        return Err(AckError::SeqNotSent { seq: Seq(ack.cumulative.0 - 1), next });
    }
    if let Some(r) = ack.ranges.iter().find(|r| r.end > next) {
        return Err(AckError::SeqNotSent { seq: Seq(r.end.0 - 1), next });
    }
    Ok(index)
}

/// The seqs an ack confirms on a stream whose cumulative floor is `floor`:
/// the cumulative part, then each range. The caller removes what is still pending.
pub(crate) fn acked_seqs(floor: u64, ack: &Ack) -> impl Iterator<Item = u64> + '_ {
    let cumulative = floor..ack.cumulative.0.max(floor);
    let top = ack.cumulative.0.max(floor);
    cumulative.chain(ack.ranges.iter().flat_map(move |r| r.start.0.max(top)..r.end.0))
}

#[derive(Debug)]
struct Pending<P> {
    id: u64,
    attempts: u32,
    submitted_at: Instant,
    deadline: Instant,
    /// When its live heap entry fires; other entries for it are stale.
    timer: Instant,
    payload: P,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    at: Instant,
    stream: u32,
    seq: u64,
}

/// The (stream, seq) an ack most likely confirms, for `prefetch_ack`: the
/// echoed seq, else the newest one it covers (as acktrack picks).
pub(crate) fn likely_key(ack: &Ack) -> Option<(u32, u64)> {
    let seq = match (ack.echo, ack.ranges.last()) {
        (Some(echo), _) => echo.seq.0,
        (None, Some(range)) => range.start.0,
        (None, None) => ack.cumulative.0.checked_sub(1)?,
    };
    Some((ack.stream.to_bits() as u32, seq))
}

/// `HashMap` + `BinaryHeap` with lazy deletion.
#[derive(Debug)]
pub struct HashMapHeap<P> {
    policy: Policy,
    streams: Vec<StreamState>,
    pending: HashMap<(u32, u64), Pending<P>>,
    timers: BinaryHeap<Reverse<Timer>>,
    commands: VecDeque<Command<P>>,
    next_id: u64,
}

impl<P> HashMapHeap<P> {
    fn is_live(&self, t: &Timer) -> bool {
        self.pending.get(&(t.stream, t.seq)).is_some_and(|p| p.timer == t.at)
    }

    fn drop_stale_tops(&mut self) {
        while let Some(Reverse(top)) = self.timers.peek() {
            if self.is_live(top) {
                break;
            }
            self.timers.pop();
        }
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

    /// The live timer `t` fired at `now`: retry or give up.
    fn fire(&mut self, now: Instant, t: Timer) {
        let key = (t.stream, t.seq);
        let p = self.pending.get_mut(&key).expect("live timer");
        let reason = if p.deadline <= now {
            Some(ExpiryReason::Deadline)
        } else if p.attempts >= self.policy.attempts_max {
            Some(ExpiryReason::AttemptsExhausted)
        } else {
            None
        };
        if let Some(reason) = reason {
            let p = self.pending.remove(&key).expect("live timer");
            self.finish(t.stream, t.seq, p, Outcome::Expired { reason });
            return;
        }
        p.attempts += 1;
        let delay = self.policy.delay_micros(p.attempts);
        p.timer = Instant::from_micros(now.as_micros() + delay).min(p.deadline);
        let (at, attempt, id) = (p.timer, p.attempts, p.id);
        self.timers.push(Reverse(Timer { at, ..t }));
        self.commands.push_back(Command::Retry {
            stream: StreamId::from_bits(u64::from(t.stream)),
            event: EventId::from_bits(id),
            seq: Seq(t.seq),
            attempt,
        });
    }
}

impl<P> Tracking<P> for HashMapHeap<P> {
    const NAME: &'static str = "hashmap_heap";

    fn with_policy(policy: &Policy, _window: u32) -> Self {
        HashMapHeap {
            policy: *policy,
            streams: Vec::new(),
            pending: HashMap::new(),
            timers: BinaryHeap::new(),
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
        let timer =
            Instant::from_micros(now.as_micros() + self.policy.delay_micros(1)).min(deadline);
        let key = (index as u32, seq);
        self.pending
            .insert(key, Pending { id, attempts: 1, submitted_at: now, deadline, timer, payload });
        self.timers.push(Reverse(Timer { at: timer, stream: key.0, seq }));
        let event = EventId::from_bits(id);
        self.commands.push_back(Command::Send { stream, event, seq: Seq(seq), attempt: 1 });
        Ok(event)
    }

    fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError> {
        let index = check_ack(&self.streams, user, ack)?;
        let floor = self.streams[index].floor;
        for seq in acked_seqs(floor, ack) {
            if let Some(p) = self.pending.remove(&(index as u32, seq)) {
                let outcome = Outcome::Confirmed {
                    attempts: p.attempts,
                    latency: now.saturating_duration_since(p.submitted_at),
                };
                self.finish(index as u32, seq, p, outcome);
            }
        }
        let s = &mut self.streams[index];
        s.floor = s.floor.max(ack.cumulative.0);
        self.drop_stale_tops();
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
        // The stream, and the pending entry `handle_ack` will remove.
        let stream = self.streams.get(ack.stream.to_bits() as usize).map(|s| s.floor);
        let found =
            likely_key(ack).and_then(|k| self.pending.get(&k)).map(|p| (p.attempts, p.timer));
        std::hint::black_box((stream, found));
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse(top)) = self.timers.peek() {
            if top.at > now {
                break;
            }
            let Reverse(t) = self.timers.pop().expect("peeked");
            if self.is_live(&t) {
                self.fire(now, t);
            }
        }
        self.drop_stale_tops();
    }

    fn poll_command(&mut self) -> Option<Command<P>> {
        self.commands.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse(t)| t.at)
    }
}
