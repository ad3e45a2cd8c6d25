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
    /// Ring timing (`Engine::ring_time`): how many of the stream's events
    /// are ring-timed, the seq from which the oldest is searched (none is
    /// below it), and the expiry of the newest (a new one may not be earlier).
    pub(super) ring_timed: u32,
    pub(super) ring_cursor: Seq,
    pub(super) ring_tail_at: Instant,
    /// The ring timer: where it sits in the wheel, and when it fires (never
    /// after the oldest ring-timed event's expiry).
    pub(super) ring_timer: Pos,
    pub(super) ring_at: Instant,
    /// The ring timer fired an event since the client last confirmed one:
    /// the stream's timers are firing, so new first transmissions are timed
    /// by the wheel (its entries cost less than the ring timer when they
    /// fire, and more when they do not).
    pub(super) timers_firing: bool,
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
            ring_timed: 0,
            ring_cursor: Seq(0),
            ring_tail_at: Instant::ZERO,
            ring_timer: Pos::NONE,
            ring_at: Instant::ZERO,
            timers_firing: false,
        }
    }
}

/// Aligned to a cache line: every stream's record starts on one and spans
/// whole lines (five, 320 bytes, since ring timing added its fields; four
/// before). Unaligned, records straddle one line more in places. An input
/// touches its stream's record, which is out of cache when many streams are
/// busy (`benches/README.md`: aligning took 5 % off an in-order lifecycle at
/// 10M in flight over 10,000 streams, when records were 240 bytes).
#[derive(Debug)]
#[repr(align(64))]
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

#[cfg(test)]
mod tests {
    use super::StreamSlot;

    /// Every stream record starts on a cache line and spans five: a field
    /// added to `Stream` that makes it six shows here.
    #[test]
    fn stream_records_sit_on_cache_lines() {
        assert_eq!(core::mem::align_of::<StreamSlot>(), 64);
        assert_eq!(core::mem::size_of::<StreamSlot>(), 320);
    }
}
