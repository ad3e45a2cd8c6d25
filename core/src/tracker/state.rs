//! The tracker's records: events, streams and users, in generational slabs.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::budget::TokenBucket;
use crate::config::RtoConfig;
use crate::ids::{Seq, UserId};
use crate::metrics::Metrics;
use crate::ring::SeqRing;
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

#[derive(Debug)]
pub(super) struct Event<P> {
    pub(super) stream: u32,
    pub(super) phase: Phase,
    pub(super) attempts: u32,
    /// Valid once transmitted.
    pub(super) seq: Seq,
    pub(super) submitted_at: Instant,
    pub(super) deadline: Instant,
    /// Time of the latest transmission.
    pub(super) sent_at: Instant,
    /// When the latest attempt times out (`InFlight` only).
    pub(super) timeout: Instant,
    /// The latest drawn delay, µs (decorrelated jitter).
    pub(super) prev_delay: u64,
    /// Where its timer sits in the wheel.
    pub(super) timer: Pos,
    pub(super) key: Option<u64>,
    pub(super) payload: P,
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
    /// apart. Bounded by the window: the oldest are forgotten first.
    pub(super) abandoned: BTreeSet<u64>,
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
            abandoned: BTreeSet::new(),
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
