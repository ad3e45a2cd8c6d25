//! The tracker's records of streams and users, in generational slabs (events
//! are in `events.rs`).

use alloc::collections::{BTreeMap, VecDeque};

use crate::budget::TokenBucket;
use crate::config::RtoConfig;
use crate::ids::{Seq, UserId};
use crate::metrics::Metrics;
use crate::ring::{SeqRing, SeqSet};
use crate::rtt::RttEstimator;
use crate::time::Instant;
use crate::wheel::Pos;

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
