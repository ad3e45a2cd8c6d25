//! The tracker's records of streams and users, in generational slabs (events
//! are in `events.rs`).

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};

use crate::budget::TokenBucket;
use crate::config::RtoConfig;
use crate::ids::{Seq, UserId};
use crate::metrics::Metrics;
use crate::ring::{SeqRing, SeqSet};
use crate::rtt::RttEstimator;
use crate::time::Instant;
use crate::wheel::Pos;

use super::slots::NO_CURSOR;

/// A stream's record, in this order (`repr(C)`): what every event's
/// lifecycle reads or writes fills the first two cache lines of its
/// [`StreamSlot`] (with the slot's generation), the abandoned set the third,
/// and what only some inputs touch (adaptive timeout, conflation keys, the
/// queue) the rest. With the compiler's order a lifecycle touched all five.
#[derive(Debug)]
#[repr(C)]
pub(super) struct Stream {
    // First line, after the slot's generation.
    pub(super) ring: SeqRing,
    /// Live entries in `queue`.
    pub(super) queued: u32,
    /// Transmitted, unfinished events.
    pub(super) in_flight: u32,
    /// Ring timing (`Engine::ring_time`): how many of the stream's events
    /// are ring-timed (with `ring_tail_at` and `ring_cursor` below).
    pub(super) ring_timed: u32,
    pub(super) user: u32,
    // Second line.
    /// The client's cumulative ack: the highest it acked since it last
    /// connected, or its resume point.
    pub(super) client_cumulative: Seq,
    /// The expiry of the newest ring-timed event: a new one may not be
    /// earlier.
    pub(super) ring_tail_at: Instant,
    /// The next slot of the stream's open block of event slots, or
    /// `NO_CURSOR` (`slots.rs`): every submit reads it, so it is here
    /// rather than in a table of cursors, a line of its own.
    pub(super) slot_cursor: u32,
    /// Where the ring timer sits in the wheel (and, below, when it fires).
    pub(super) ring_timer: Pos,
    /// The skip timer: where it sits in the wheel, how often skips were
    /// resent since the client last made progress (and, below, when it
    /// fires).
    pub(super) skip_timer: Pos,
    pub(super) window_full_since: Option<Instant>,
    pub(super) skip_resends: u32,
    pub(super) connected: bool,
    /// The ring timer fired an event since the client last confirmed one:
    /// the stream's timers are firing, so new first transmissions are timed
    /// by the wheel (its entries cost less than the ring timer when they
    /// fire, and more when they do not).
    pub(super) timers_firing: bool,
    /// `abandoned` may hold seqs (it does not when this is false), so that
    /// an ack reads the third line only when it may have work there.
    pub(super) abandoned_any: bool,
    // Third line.
    /// Abandoned seqs the client has not acked past yet, to tell late acks
    /// apart. Only those within a window below the next seq are kept.
    pub(super) abandoned: SeqSet,
    /// The seq from which the oldest ring-timed event is searched (none is
    /// below it).
    pub(super) ring_cursor: Seq,
    pub(super) skip_at: Instant,
    /// When the ring timer fires: never after the oldest ring-timed event's
    /// expiry.
    pub(super) ring_at: Instant,
    // The rest. The estimator is boxed: streams have one only with an
    // adaptive timeout (`Config::rto`), and without it the record is a line
    // shorter.
    pub(super) rtt: Option<Box<RttEstimator>>,
    pub(super) conflation: BTreeMap<u64, u32>,
    /// (event slot, generation); entries of finished events are stale.
    pub(super) queue: VecDeque<(u32, u32)>,
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
            rtt: rto.map(|config| Box::new(RttEstimator::new(config))),
            window_full_since: None,
            abandoned: SeqSet::default(),
            abandoned_any: false,
            client_cumulative: Seq(0),
            skip_timer: Pos::NONE,
            skip_at: Instant::MAX,
            skip_resends: 0,
            ring_timed: 0,
            ring_cursor: Seq(0),
            ring_tail_at: Instant::ZERO,
            ring_timer: Pos::NONE,
            ring_at: Instant::ZERO,
            slot_cursor: NO_CURSOR,
            timers_firing: false,
        }
    }
}

/// Aligned to a cache line: every stream's record starts on one and spans
/// whole lines (four, 256 bytes; five while ring timing's fields and an
/// inline RTT estimator shared it, until the estimator was boxed).
/// Unaligned, records straddle one line more in places. An input touches
/// its stream's record, which is out of cache when many streams are
/// busy (`benches/HISTORY.md`: aligning took 5 % off an in-order lifecycle at
/// 10M in flight over 10,000 streams, when records were 240 bytes).
#[derive(Debug)]
#[repr(C, align(64))]
pub(super) struct StreamSlot {
    pub(super) generation: u32,
    pub(super) stream: Option<Stream>,
}

/// A user's record. What every event's lifecycle touches (the id, the
/// pending count, whether the slot is live, whether a retry budget applies,
/// and the first fields of `Metrics`: its counters of sends and
/// confirmations, the in-flight gauge and the latency histogram's header)
/// sits in the first 112 bytes, in this order
/// (`repr(C)`), inside the record's first two cache lines, which the
/// 128-byte alignment makes one aligned pair (what an adjacent-line
/// prefetcher fetches together). With the compiler's order those fields
/// spread over four or five lines of an unaligned 392-byte record
/// (`benches/HISTORY.md`, "Hot fields first").
#[derive(Debug)]
#[repr(C, align(128))]
pub(super) struct User {
    pub(super) id: UserId,
    pub(super) pending: u32,
    pub(super) streams: u32,
    /// The slot holds a user (else it was forgotten, and is free). A field
    /// of the first line, where `Option<User>`'s tag would have been a
    /// niche the compiler picked: the deferred queue's capacity, on the
    /// record's fifth line, read by every lookup of a user.
    pub(super) live: bool,
    /// Boxed: a pointer here rather than the 48 bytes of an inline
    /// `Option<TokenBucket>`, so the hot fields stay together (a budget is
    /// per user, not per event).
    pub(super) budget: Option<Box<TokenBucket>>,
    pub(super) metrics: Metrics,
    /// (event slot, generation) of deferred retries, oldest first; entries of
    /// events no longer deferred are stale.
    pub(super) deferred: VecDeque<(u32, u32)>,
    pub(super) in_deferred_ring: bool,
}

impl User {
    /// A live user with nothing yet.
    pub(super) fn new(id: UserId, budget: Option<Box<TokenBucket>>) -> Self {
        User {
            id,
            pending: 0,
            streams: 0,
            live: true,
            budget,
            metrics: Metrics::default(),
            deferred: VecDeque::new(),
            in_deferred_ring: false,
        }
    }

    /// What a forgotten user leaves in its slot (allocates nothing).
    pub(super) fn vacant() -> Self {
        User { live: false, ..User::new(UserId(0), None) }
    }

    /// This user, checked live: a lookup of a forgotten slot is a bug.
    #[inline(always)]
    pub(super) fn checked(&self) -> &Self {
        assert!(self.live, "live user slot");
        self
    }

    /// As [`checked`](Self::checked), mutably.
    #[inline(always)]
    pub(super) fn checked_mut(&mut self) -> &mut Self {
        assert!(self.live, "live user slot");
        self
    }
}

#[cfg(test)]
mod tests {
    use super::StreamSlot;
    use crate::time::Instant;
    use crate::wheel::Pos;

    /// A forgotten user's slot holds a vacant record that keeps nothing,
    /// and looking it up as a user panics (a bug, not input).
    #[test]
    fn a_forgotten_users_slot_is_vacant_and_a_lookup_of_it_panics() {
        use super::User;
        use crate::ids::UserId;
        let live = User::new(UserId(7), None);
        assert!(live.live && live.checked().id == UserId(7));
        let vacant = User::vacant();
        assert!(!vacant.live);
        // Nothing kept: no deferred room, no histogram counts.
        assert_eq!(vacant.deferred.capacity(), 0);
        assert_eq!(vacant.metrics.latency.count(), 0);
        let lookup = std::panic::catch_unwind(|| {
            User::vacant().checked();
        });
        assert!(lookup.is_err(), "a vacant slot is not a user");
        let lookup = std::panic::catch_unwind(|| {
            User::vacant().checked_mut();
        });
        assert!(lookup.is_err());
    }

    /// A user's record: the fields every lifecycle touches are within its
    /// first 128 bytes, which start on a 128-byte boundary.
    #[test]
    fn a_users_hot_fields_share_its_first_two_lines() {
        use super::User;
        use crate::metrics::Metrics;
        use core::mem::{align_of, offset_of, size_of};
        assert_eq!(align_of::<User>(), 128);
        assert_eq!(size_of::<User>(), 384);
        let metrics = offset_of!(User, metrics);
        for end in [
            offset_of!(User, id) + 8,
            offset_of!(User, pending) + 4,
            offset_of!(User, live) + 1,
            offset_of!(User, budget) + 8,
            metrics + offset_of!(Metrics, submitted) + 8,
            metrics + offset_of!(Metrics, sent) + 8,
            metrics + offset_of!(Metrics, confirmed) + 8,
            metrics + offset_of!(Metrics, in_flight) + 8,
            metrics + offset_of!(Metrics, latency) + size_of::<crate::metrics::LatencyHistogram>(),
        ] {
            assert!(end <= 128, "a hot field ends at byte {end}");
        }
    }

    /// What a lifecycle touches of a stream's record is in the first two
    /// lines of its slot, the abandoned set in the third.
    #[test]
    fn a_streams_hot_fields_share_its_first_two_lines() {
        use super::Stream;
        use crate::ring::{SeqRing, SeqSet};
        use core::mem::{offset_of, size_of};
        // (offset in the slot, size) of a field of the stream.
        let field = |offset: usize, size: usize| (offset_of!(StreamSlot, stream) + offset, size);
        let first_line = [
            (offset_of!(StreamSlot, generation), 4),
            field(offset_of!(Stream, ring), size_of::<SeqRing>()),
            field(offset_of!(Stream, queued), 4),
            field(offset_of!(Stream, in_flight), 4),
            field(offset_of!(Stream, ring_timed), 4),
            field(offset_of!(Stream, user), 4),
        ];
        let second_line = [
            field(offset_of!(Stream, client_cumulative), 8),
            field(offset_of!(Stream, ring_tail_at), 8),
            field(offset_of!(Stream, slot_cursor), 4),
            field(offset_of!(Stream, ring_timer), size_of::<Pos>()),
            field(offset_of!(Stream, skip_timer), size_of::<Pos>()),
            field(offset_of!(Stream, window_full_since), size_of::<Option<Instant>>()),
            field(offset_of!(Stream, skip_resends), 4),
            field(offset_of!(Stream, connected), 1),
            field(offset_of!(Stream, timers_firing), 1),
            field(offset_of!(Stream, abandoned_any), 1),
        ];
        for (offset, size) in first_line {
            assert!(offset + size <= 64, "a first-line field at {offset}..{}", offset + size);
        }
        for (offset, size) in second_line {
            assert!(offset >= 64 && offset + size <= 128, "a second-line field at {offset}");
        }
        let (abandoned, size) = field(offset_of!(Stream, abandoned), size_of::<SeqSet>());
        assert!(abandoned >= 128 && abandoned + size <= 192);
    }

    /// Every stream record starts on a cache line and spans four: a field
    /// added to `Stream` that makes it five shows here.
    #[test]
    fn stream_records_sit_on_cache_lines() {
        assert_eq!(core::mem::align_of::<StreamSlot>(), 64);
        assert_eq!(core::mem::size_of::<StreamSlot>(), 256);
    }
}
