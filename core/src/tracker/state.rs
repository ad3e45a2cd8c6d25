//! The tracker's records: events, streams and users, in generational slabs.

use alloc::collections::{BTreeMap, VecDeque};

use crate::budget::TokenBucket;
use crate::config::RtoConfig;
use crate::ids::{Seq, UserId};
use crate::metrics::Metrics;
use crate::ring::{SeqRing, SeqSet};
use crate::rtt::RttEstimator;
use crate::time::Instant;
use crate::wheel::Pos;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// In its stream's queue, no seq yet.
    Queued,
    /// Transmitted; its timer is the earlier of `timeout` and the deadline.
    InFlight,
    /// Retry due, waiting for a budget token (in its user's deferred queue).
    Deferred,
    /// Retry due while disconnected; retransmitted on connect.
    Paused,
}

/// One pending event, kept compact: 56 bytes plus the payload.
#[derive(Debug)]
pub(super) struct Event<P> {
    /// Valid once transmitted.
    pub(super) seq: Seq,
    pub(super) submitted_at: Instant,
    pub(super) deadline: Instant,
    /// When the latest attempt times out (`InFlight` only).
    pub(super) timeout: Instant,
    /// Where its timer sits in the wheel.
    pub(super) timer: Pos,
    pub(super) stream: u32,
    /// Time of the latest transmission, µs after `submitted_at`
    /// (`u32::MAX`: too late to tell, no RTT sample is taken).
    pub(super) sent_offset: u32,
    /// The latest drawn delay, µs, saturating (decorrelated jitter).
    pub(super) prev_delay: u32,
    /// Transmissions so far (`attempts_max` ≤ 1000).
    pub(super) attempts: u16,
    pub(super) phase: Phase,
    /// Whether it has a conflation key (kept in the tracker's side table).
    pub(super) keyed: bool,
    pub(super) payload: P,
}

impl<P> Event<P> {
    pub(super) fn attempts(&self) -> u32 {
        u32::from(self.attempts)
    }

    /// Records a transmission at `now`.
    pub(super) fn set_sent(&mut self, now: Instant) {
        let offset = now.as_micros().saturating_sub(self.submitted_at.as_micros());
        self.sent_offset = u32::try_from(offset).unwrap_or(u32::MAX);
    }

    /// The time of the latest transmission, if it is known exactly.
    pub(super) fn sent_at(&self) -> Option<Instant> {
        (self.sent_offset != u32::MAX).then(|| {
            Instant::from_micros(self.submitted_at.as_micros() + u64::from(self.sent_offset))
        })
    }
}

#[derive(Debug)]
pub(super) struct EventSlot<P> {
    pub(super) generation: u32,
    pub(super) event: Option<Event<P>>,
}

#[derive(Debug)]
pub(super) struct Stream {
    pub(super) user: u32,
    pub(super) connected: bool,
    pub(super) ring: SeqRing,
    /// (event slot, generation); entries of finished events are stale.
    pub(super) queue: VecDeque<(u32, u32)>,
    /// Live entries in `queue`.
    pub(super) queued: u32,
    /// Transmitted, unfinished events.
    pub(super) in_flight: u32,
    pub(super) conflation: BTreeMap<u64, u32>,
    pub(super) rtt: Option<RttEstimator>,
    pub(super) window_full_since: Option<Instant>,
    /// Abandoned seqs the client has not acked past yet, to tell late acks
    /// apart. Only those within a window below the next seq are kept.
    pub(super) abandoned: SeqSet,
    /// The client's cumulative ack: the highest it acked since it last
    /// connected, or its resume point.
    pub(super) client_cumulative: Seq,
    /// The skip timer: where it sits in the wheel, when it fires, and how
    /// often skips were resent since the client last made progress.
    pub(super) skip_timer: Pos,
    pub(super) skip_at: Instant,
    pub(super) skip_resends: u32,
}

impl Stream {
    pub(super) fn new(user: u32, rto: Option<&RtoConfig>) -> Self {
        Stream {
            user,
            connected: true,
            ring: SeqRing::default(),
            queue: VecDeque::new(),
            queued: 0,
            in_flight: 0,
            conflation: BTreeMap::new(),
            rtt: rto.map(RttEstimator::new),
            window_full_since: None,
            abandoned: SeqSet::default(),
            client_cumulative: Seq(0),
            skip_timer: Pos::NONE,
            skip_at: Instant::MAX,
            skip_resends: 0,
        }
    }
}

#[derive(Debug)]
pub(super) struct StreamSlot {
    pub(super) generation: u32,
    pub(super) stream: Option<Stream>,
}

#[derive(Debug)]
pub(super) struct User {
    pub(super) id: UserId,
    pub(super) metrics: Metrics,
    pub(super) pending: u32,
    pub(super) streams: u32,
    pub(super) budget: Option<TokenBucket>,
    /// (event slot, generation) of deferred retries, oldest first; entries of
    /// events no longer deferred are stale.
    pub(super) deferred: VecDeque<(u32, u32)>,
    pub(super) in_deferred_ring: bool,
}
