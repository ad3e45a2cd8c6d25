//! The event slab: pending events in a compact form, in fixed-size chunks.
//!
//! Memory per pending event is what bounds a tracker, so an event is packed
//! into seven 32-bit words, and its slot with the
//! generation into 32 bytes. Everything that does not fit that form is kept
//! exactly, elsewhere:
//!
//! - Times are offsets from `submitted_at`, the one 64-bit time kept. The
//!   deadline is computed from `submitted_at` and the span it was given: the
//!   config's, or one of up to 254 other spans kept once for all the events
//!   that use them (apps use a few); past that, a deadline is kept in a side
//!   table.
//! - The attempt timeout only matters while it is before the deadline (the
//!   timer fires at the earlier of the two, and a timeout at or after the
//!   deadline behaves exactly like one at the deadline), so it is kept
//!   clamped to the deadline: as a 40-bit µs offset (12.7 days), or "at the
//!   deadline", or in a side table when the offset does not fit.
//! - The seq is kept modulo 2^24: the window (at most 2^24) bounds every
//!   unresolved seq to less than 2^24 above its stream's floor, which gives
//!   back the rest.
//! - The time of the latest transmission (adaptive timeout only) and the
//!   latest drawn delay (decorrelated jitter only) live in side arrays that
//!   exist only when the config uses them.
//!
//! Slots live in chunks of [`CHUNK`], allocated as the slab grows and never
//! moved, so memory follows the peak number of pending events, not a doubled
//! capacity; an index is a shift and a mask.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::num::NonZeroU32;
use core::time::Duration;

use crate::ids::Seq;
use crate::time::Instant;
use crate::wheel::Pos;

use super::slots::{BLOCK, SlotAlloc, Taken};

/// Slots per chunk (a power of two).
const CHUNK_BITS: u32 = 12;
pub(super) const CHUNK: usize = 1 << CHUNK_BITS;

/// A vector of fixed-size chunks: growing never moves or copies an element.
#[derive(Debug)]
pub(super) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: u32,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Chunked<T> {
    pub(super) fn len(&self) -> u32 {
        self.len
    }

    pub(super) fn push(&mut self, value: T) {
        if self.len as usize % CHUNK == 0 {
            // The first chunk grows (small trackers stay small); later ones
            // are allocated whole, once.
            let chunk = if self.chunks.is_empty() { Vec::new() } else { Vec::with_capacity(CHUNK) };
            self.chunks.push(chunk);
        }
        let chunk = self.chunks.last_mut().expect("a chunk with room");
        if chunk.len() == chunk.capacity() {
            // By a quarter, not double: at most a fifth of the first chunk's
            // room is spare (slots come a block of 16 at a time, so a
            // tracker of 1000 events may hold a few more slots than 1024).
            let more = (chunk.capacity() / 4).max(16).min(CHUNK - chunk.len());
            chunk.reserve_exact(more);
        }
        chunk.push(value);
        self.len += 1;
    }

    pub(super) fn get(&self, index: u32) -> Option<&T> {
        let chunk = self.chunks.get((index >> CHUNK_BITS) as usize)?;
        chunk.get(index as usize & (CHUNK - 1))
    }

    fn get_mut(&mut self, index: u32) -> Option<&mut T> {
        let chunk = self.chunks.get_mut((index >> CHUNK_BITS) as usize)?;
        chunk.get_mut(index as usize & (CHUNK - 1))
    }
}

impl<T> core::ops::Index<u32> for Chunked<T> {
    type Output = T;
    fn index(&self, index: u32) -> &T {
        self.get(index).expect("index in bounds")
    }
}

impl<T> core::ops::IndexMut<u32> for Chunked<T> {
    fn index_mut(&mut self, index: u32) -> &mut T {
        self.get_mut(index).expect("index in bounds")
    }
}

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

// Layout of `Event::bits`.
const PHASE_MASK: u32 = 0b11;
const KEYED: u32 = 1 << 2;
const ATTEMPTS_SHIFT: u32 = 3;
const ATTEMPTS_MASK: u32 = (1 << 10) - 1;
const BUCKET_SHIFT: u32 = 13;
const BUCKET_MASK: u32 = (1 << 9) - 1;
/// The bucket field of an event timed by its stream's ring (see
/// `Engine::ring_time`): no wheel entry of its own.
const RING_TIMED: u32 = BUCKET_MASK - 1;
// Every bucket fits, with `RING_TIMED` and `BUCKET_MASK` (for `Pos::NONE`)
// left over.
const _: () = assert!(crate::wheel::BUCKETS < RING_TIMED as usize);
const DEADLINE_SHIFT: u32 = 22;
/// The event's deadline is the config's: `submitted_at + retry.deadline`.
const DEADLINE_DEFAULT: u32 = 0;
/// The event's deadline is in `Events::deadlines`.
const DEADLINE_TABLE: u32 = 1;
/// From here on: `submitted_at + spans[kind - DEADLINE_SPANS]`.
const DEADLINE_SPANS: u32 = 2;
const DEADLINE_MASK: u32 = 0xff;
// The fields do not overlap, and leave the top bit to `LIVE`.
const _: () = assert!(ATTEMPTS_SHIFT + ATTEMPTS_MASK.count_ones() <= BUCKET_SHIFT);
const _: () = assert!(BUCKET_SHIFT + BUCKET_MASK.count_ones() <= DEADLINE_SHIFT);
const _: () = assert!(DEADLINE_SHIFT + DEADLINE_MASK.count_ones() <= 31);
/// Always set, so that `bits` is never zero (the niche of `Option<Event>`).
const LIVE: u32 = 1 << 31;

const SEQ_BITS: u32 = 24;
const SEQ_MASK: u32 = (1 << SEQ_BITS) - 1;
/// Timeout offsets are 40-bit µs; the two highest values are markers.
const TIMEOUT_AT_DEADLINE: u64 = (1 << 40) - 1;
const TIMEOUT_TABLE: u64 = (1 << 40) - 2;

/// One pending event, packed into 28 bytes (its payload is kept by the
/// [`Tracker`](super::Tracker) wrapper, beside it).
#[derive(Debug)]
pub(super) struct Event {
    /// Phase, keyed, attempts (≤ 1000), timer bucket, deadline kind, `LIVE`.
    bits: NonZeroU32,
    /// `submitted_at`, low and high halves.
    submitted: [u32; 2],
    pub(super) stream: u32,
    /// Low 24 bits: the seq modulo 2^24 (valid once transmitted); high 8 bits:
    /// bits 32..40 of the timeout offset.
    seq_timeout: u32,
    /// Bits 0..32 of the timeout offset.
    timeout_low: u32,
    /// Where its timer sits in its wheel bucket.
    timer_index: u32,
}

impl Event {
    /// A queued event with no timer, attempt or seq yet.
    pub(super) fn new(stream: u32, submitted_at: Instant, keyed: bool) -> Self {
        let t = submitted_at.as_micros();
        let mut bits = LIVE | (Phase::Queued as u32);
        if keyed {
            bits |= KEYED;
        }
        let mut e = Event {
            bits: NonZeroU32::new(bits).expect("LIVE is set"),
            submitted: [t as u32, (t >> 32) as u32],
            stream,
            seq_timeout: 0,
            timeout_low: 0,
            timer_index: 0,
        };
        e.set_timer(Pos::NONE);
        e.set_timeout_offset(TIMEOUT_AT_DEADLINE);
        e
    }

    fn field(&self, shift: u32, mask: u32) -> u32 {
        (self.bits.get() >> shift) & mask
    }

    fn set_field(&mut self, shift: u32, mask: u32, value: u32) {
        debug_assert!(value <= mask);
        let bits = (self.bits.get() & !(mask << shift)) | (value << shift) | LIVE;
        self.bits = NonZeroU32::new(bits).expect("LIVE is set");
    }

    pub(super) fn phase(&self) -> Phase {
        match self.bits.get() & PHASE_MASK {
            0 => Phase::Queued,
            1 => Phase::InFlight,
            2 => Phase::Deferred,
            _ => Phase::Paused,
        }
    }

    pub(super) fn set_phase(&mut self, phase: Phase) {
        self.set_field(0, PHASE_MASK, phase as u32);
    }

    /// Whether it has a conflation key (kept in the tracker's side table).
    pub(super) fn keyed(&self) -> bool {
        self.bits.get() & KEYED != 0
    }

    /// Transmissions so far (`attempts_max` ≤ 1000).
    pub(super) fn attempts(&self) -> u32 {
        self.field(ATTEMPTS_SHIFT, ATTEMPTS_MASK)
    }

    pub(super) fn set_attempts(&mut self, attempts: u32) {
        self.set_field(ATTEMPTS_SHIFT, ATTEMPTS_MASK, attempts);
    }

    pub(super) fn submitted_at(&self) -> Instant {
        Instant::from_micros(u64::from(self.submitted[0]) | u64::from(self.submitted[1]) << 32)
    }

    /// Its seq, given its stream's floor (valid once transmitted, while
    /// unresolved: then `floor <= seq < floor + 2^24`).
    pub(super) fn seq(&self, floor: Seq) -> Seq {
        let above = (self.seq_timeout.wrapping_sub(floor.0 as u32)) & SEQ_MASK;
        Seq(floor.0 + u64::from(above))
    }

    pub(super) fn set_seq(&mut self, seq: Seq) {
        self.seq_timeout = (self.seq_timeout & !SEQ_MASK) | (seq.0 as u32 & SEQ_MASK);
    }

    /// Where its timer sits in the wheel (`Pos::NONE` if it has no wheel
    /// entry: no timer, or a ring-timed one).
    pub(super) fn timer(&self) -> Pos {
        match self.field(BUCKET_SHIFT, BUCKET_MASK) {
            BUCKET_MASK | RING_TIMED => Pos::NONE,
            bucket => Pos::new(bucket as u16, self.timer_index),
        }
    }

    /// Sets where its timer sits in the wheel; this ends ring timing.
    pub(super) fn set_timer(&mut self, pos: Pos) {
        let bucket = if pos.is_none() { BUCKET_MASK } else { u32::from(pos.bucket()) };
        debug_assert!(pos.is_none() || bucket < RING_TIMED);
        self.set_field(BUCKET_SHIFT, BUCKET_MASK, bucket);
        self.timer_index = pos.index();
    }

    /// Whether its timer is its stream's ring timer (it fires in seq order
    /// with the stream's other ring-timed events).
    pub(super) fn ring_timed(&self) -> bool {
        self.field(BUCKET_SHIFT, BUCKET_MASK) == RING_TIMED
    }

    /// Times it by its stream's ring. It must have no wheel entry (any
    /// position it still records is dropped).
    pub(super) fn set_ring_timed(&mut self) {
        self.set_field(BUCKET_SHIFT, BUCKET_MASK, RING_TIMED);
    }

    fn deadline_kind(&self) -> u32 {
        self.field(DEADLINE_SHIFT, DEADLINE_MASK)
    }

    fn timeout_offset(&self) -> u64 {
        u64::from(self.seq_timeout >> SEQ_BITS) << 32 | u64::from(self.timeout_low)
    }

    fn set_timeout_offset(&mut self, offset: u64) {
        debug_assert!(offset <= TIMEOUT_AT_DEADLINE);
        self.timeout_low = offset as u32;
        self.seq_timeout = (self.seq_timeout & SEQ_MASK) | ((offset >> 32) as u32) << SEQ_BITS;
    }
}

/// Deadline spans other than the config's, kept once for all the events that
/// use them.
#[derive(Debug, Default)]
struct Spans {
    /// Each span and how many pending events use it. An entry no event uses
    /// stays (with its index entry) until its place is needed for another.
    /// Spans in µs (saturating: only whole µs count towards a deadline).
    entries: Vec<(u64, u32)>,
    index: BTreeMap<u64, u8>,
    /// Entries no event uses.
    unused: u32,
}

impl Spans {
    const MAX: usize = (DEADLINE_MASK - DEADLINE_SPANS + 1) as usize;

    /// The entry of `span`, counted as used once more; `None` if every
    /// entry is in use by other spans.
    fn acquire(&mut self, span: u64) -> Option<u8> {
        if let Some(&i) = self.index.get(&span) {
            let refs = &mut self.entries[i as usize].1;
            if *refs == 0 {
                self.unused -= 1;
            }
            *refs += 1;
            return Some(i);
        }
        let i = if self.entries.len() < Self::MAX {
            self.entries.push((span, 1));
            self.entries.len() - 1
        } else if self.unused > 0 {
            let i = self.entries.iter().position(|e| e.1 == 0).expect("an unused entry");
            self.index.remove(&self.entries[i].0);
            self.unused -= 1;
            self.entries[i] = (span, 1);
            i
        } else {
            return None;
        };
        let i = u8::try_from(i).expect("at most MAX entries");
        self.index.insert(span, i);
        Some(i)
    }

    fn release(&mut self, i: u8) {
        let refs = &mut self.entries[i as usize].1;
        *refs -= 1;
        if *refs == 0 {
            self.unused += 1;
        }
    }

    fn span(&self, i: u8) -> u64 {
        self.entries[i as usize].0
    }
}

/// The deadline of `e`, the event in `slot`, from the tables that keep the
/// spans it may use.
#[inline]
fn deadline_in(
    e: &Event,
    slot: u32,
    default: u64,
    spans: &Spans,
    deadlines: &BTreeMap<u32, Instant>,
) -> Instant {
    match e.deadline_kind() {
        DEADLINE_DEFAULT => e.submitted_at().add_micros(default),
        DEADLINE_TABLE => deadlines[&slot],
        kind => e.submitted_at().add_micros(spans.span((kind - DEADLINE_SPANS) as u8)),
    }
}

/// When `e`, the event in `slot`, fires: the earlier of its attempt timeout
/// (in flight only) and its deadline, from the tables that keep them.
#[inline(always)]
fn expiry_in(
    e: &Event,
    slot: u32,
    default: u64,
    spans: &Spans,
    deadlines: &BTreeMap<u32, Instant>,
    timeouts: &BTreeMap<u32, Instant>,
) -> Instant {
    let deadline = || deadline_in(e, slot, default, spans, deadlines);
    match e.phase() {
        Phase::InFlight => timeout_in(e, slot, timeouts, deadline),
        _ => deadline(),
    }
}

/// The timeout of `e`, the event in `slot` (see [`Events::timeout`]), whose
/// deadline `deadline` gives.
#[inline(always)]
fn timeout_in(
    e: &Event,
    slot: u32,
    timeouts: &BTreeMap<u32, Instant>,
    deadline: impl FnOnce() -> Instant,
) -> Instant {
    match e.timeout_offset() {
        TIMEOUT_AT_DEADLINE => deadline(),
        TIMEOUT_TABLE => timeouts[&slot],
        offset => e.submitted_at().add_micros(offset),
    }
}

/// Aligned to its size, so that no slot straddles two cache lines: a chunk
/// as large as the slab's is its own `mmap`, whose start the allocator's
/// header puts 16 bytes past a page, and with 4-byte alignment every other
/// slot then spanned two lines (a second miss on each of them at scale).
#[derive(Debug)]
#[repr(align(32))]
pub(super) struct EventSlot {
    pub(super) generation: u32,
    pub(super) event: Option<Event>,
}

/// Every event slot, with what does not fit the compact form.
#[derive(Debug)]
pub(super) struct Events {
    slots: Chunked<EventSlot>,
    /// Which slot a new event takes.
    alloc: SlotAlloc,
    /// The config's deadline, of events with `DEADLINE_DEFAULT`.
    deadline_default: u64,
    /// Other deadline spans, shared.
    spans: Spans,
    /// Deadlines of events with `DEADLINE_TABLE`.
    deadlines: BTreeMap<u32, Instant>,
    /// Timeouts of events whose offset does not fit 40 bits.
    timeouts: BTreeMap<u32, Instant>,
    /// Time of the latest transmission, µs after `submitted_at` (`u32::MAX`:
    /// too late to tell, no RTT sample is taken). Adaptive timeout only.
    sent: Option<Chunked<u32>>,
    /// The latest drawn delay, µs, saturating. Decorrelated jitter only.
    prev_delay: Option<Chunked<u32>>,
    /// The embedder's prefetch hint (see `Tracker::set_prefetch`), if any.
    hint: Option<crate::Prefetch>,
}

impl Events {
    pub(super) fn new(deadline_default: Duration, track_sent: bool, track_delay: bool) -> Self {
        Events {
            slots: Chunked::default(),
            alloc: SlotAlloc::default(),
            deadline_default: crate::time::micros(deadline_default),
            spans: Spans::default(),
            deadlines: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            sent: track_sent.then(Chunked::default),
            prev_delay: track_delay.then(Chunked::default),
            hint: None,
        }
    }

    // ----- prefetch hints ----------------------------------------------------

    pub(super) fn set_hint(&mut self, hint: Option<crate::Prefetch>) {
        self.hint = hint;
    }

    pub(super) fn hint(&self) -> Option<crate::Prefetch> {
        self.hint
    }

    /// The addresses [`prefetch`](Self::prefetch) hints for `slot`.
    #[cfg(test)]
    pub(super) fn addresses(&self, slot: u32) -> Vec<usize> {
        let mut at = alloc::vec![core::ptr::from_ref(&self.slots[slot]).addr()];
        at.extend(self.sent.as_ref().map(|sent| core::ptr::from_ref(&sent[slot]).addr()));
        at
    }

    /// The address [`prefetch_release`](Self::prefetch_release) hints for
    /// `slot`.
    #[cfg(test)]
    pub(super) fn block_address(&self, slot: u32) -> usize {
        self.alloc.block_at(slot)
    }

    /// Hints, if the embedder gave a hint, that `slot` will be read soon:
    /// its event, and its transmission time if kept. Changes nothing.
    #[inline]
    pub(super) fn prefetch(&self, slot: u32) {
        if let Some(hint) = self.hint {
            if let Some(entry) = self.slots.get(slot) {
                hint(core::ptr::from_ref(entry).cast());
            }
            if let Some(sent) = self.sent.as_ref().and_then(|sent| sent.get(slot)) {
                hint(core::ptr::from_ref(sent).cast());
            }
        }
    }

    /// Hints, if the embedder gave a hint, that `slot` will be released
    /// soon: its block's record, which the release reads. Changes nothing.
    #[inline]
    pub(super) fn prefetch_release(&self, slot: u32) {
        if let Some((hint, at)) = self.hint.zip(self.alloc.block_record(slot)) {
            hint(at);
        }
    }

    // ----- slots -------------------------------------------------------------

    pub(super) fn get(&self, slot: u32) -> Option<&EventSlot> {
        self.slots.get(slot)
    }

    pub(super) fn generation(&self, slot: u32) -> u32 {
        self.slots[slot].generation
    }

    /// Slots in the slab.
    #[cfg(test)]
    pub(super) fn len(&self) -> u32 {
        self.slots.len()
    }

    /// The stream whose slot cursor is `cursor` is closed: its open block,
    /// if any, goes back.
    pub(super) fn end_stream(&mut self, cursor: &mut u32) {
        self.alloc.end_cursor(cursor);
    }

    /// Whether `slot` holds the event of that generation.
    pub(super) fn is_live(&self, slot: u32, generation: u32) -> bool {
        let entry = &self.slots[slot];
        entry.generation == generation && entry.event.is_some()
    }

    #[inline(always)]
    pub(super) fn event(&self, slot: u32) -> &Event {
        self.slots[slot].event.as_ref().expect("live event slot")
    }

    #[inline(always)]
    pub(super) fn event_mut(&mut self, slot: u32) -> &mut Event {
        self.slots[slot].event.as_mut().expect("live event slot")
    }

    /// The live event in `slot` and its generation, in one lookup.
    #[inline]
    pub(super) fn event_and_generation_mut(&mut self, slot: u32) -> (&mut Event, u32) {
        let entry = &mut self.slots[slot];
        (entry.event.as_mut().expect("live event slot"), entry.generation)
    }

    /// Stores a new event whose deadline is `span` after its submit; returns
    /// its slot. A `busy` stream's events take consecutive slots of a block
    /// of its own (`slots.rs`), from `cursor`, which the stream's record
    /// keeps.
    #[inline]
    pub(super) fn alloc(
        &mut self,
        mut event: Event,
        span: Duration,
        busy: bool,
        cursor: &mut u32,
    ) -> u32 {
        let Taken { slot, grew } = self.alloc.take(cursor, busy);
        if grew {
            for _ in 0..BLOCK {
                self.slots.push(EventSlot { generation: 0, event: None });
                if let Some(sent) = &mut self.sent {
                    sent.push(0);
                }
                if let Some(prev) = &mut self.prev_delay {
                    prev.push(0);
                }
            }
        }
        // `submitted_at.saturating_add(span)` is `add_micros` of the span in
        // µs, saturated: both saturate at `Instant::MAX`.
        let span = crate::time::micros(span);
        if span != self.deadline_default {
            let kind = match self.spans.acquire(span) {
                Some(i) => DEADLINE_SPANS + u32::from(i),
                None => {
                    self.deadlines.insert(slot, event.submitted_at().add_micros(span));
                    DEADLINE_TABLE
                }
            };
            event.set_field(DEADLINE_SHIFT, DEADLINE_MASK, kind);
        }
        self.slots[slot].event = Some(event);
        if let Some(sent) = &mut self.sent {
            sent[slot] = 0;
        }
        if let Some(prev) = &mut self.prev_delay {
            prev[slot] = 0;
        }
        slot
    }

    /// Takes the event out and frees its slot at once.
    #[cfg(test)]
    pub(super) fn free(&mut self, slot: u32) -> Event {
        let (e, _) = self.retire(slot);
        self.release(slot);
        e
    }

    /// Takes the event out; the slot's generation moves on, so its id goes
    /// stale. The slot is not reused before [`release`](Self::release): its
    /// payload is handed back in a `Finish` command first.
    /// Returns it with the generation it had.
    #[inline]
    pub(super) fn retire(&mut self, slot: u32) -> (Event, u32) {
        let entry = &mut self.slots[slot];
        let e = entry.event.take().expect("retiring a live event");
        let generation = entry.generation;
        entry.generation = generation.saturating_add(1);
        match e.deadline_kind() {
            DEADLINE_DEFAULT => {}
            DEADLINE_TABLE => {
                self.deadlines.remove(&slot);
            }
            kind => self.spans.release((kind - DEADLINE_SPANS) as u8),
        }
        if e.timeout_offset() == TIMEOUT_TABLE {
            self.timeouts.remove(&slot);
        }
        (e, generation)
    }

    /// Makes a retired slot reusable, unless its generation is exhausted (a
    /// slot is never reused at generation `u32::MAX`, so no id comes back).
    #[inline]
    pub(super) fn release(&mut self, slot: u32) {
        debug_assert!(self.slots[slot].event.is_none(), "releasing a live slot");
        self.alloc.release(slot, self.slots[slot].generation == u32::MAX);
    }

    // ----- times -------------------------------------------------------------

    pub(super) fn deadline(&self, slot: u32) -> Instant {
        self.deadline_of(slot, self.event(slot))
    }

    /// The deadline of `e`, the event in `slot`.
    #[inline]
    fn deadline_of(&self, slot: u32, e: &Event) -> Instant {
        deadline_in(e, slot, self.deadline_default, &self.spans, &self.deadlines)
    }

    /// When the latest attempt times out, or the deadline if that is earlier
    /// (`InFlight` only; the same behaviour as the exact timeout, see above).
    pub(super) fn timeout(&self, slot: u32) -> Instant {
        self.timeout_of(slot, self.event(slot))
    }

    /// The timeout of `e`, the event in `slot` (see [`timeout`](Self::timeout)).
    #[inline]
    fn timeout_of(&self, slot: u32, e: &Event) -> Instant {
        self.timeout_with(slot, e, || self.deadline_of(slot, e))
    }

    /// The timeout of `e`, the event in `slot`, whose deadline `deadline`
    /// gives.
    #[inline]
    fn timeout_with(&self, slot: u32, e: &Event, deadline: impl FnOnce() -> Instant) -> Instant {
        timeout_in(e, slot, &self.timeouts, deadline)
    }

    /// [`deadline`](Self::deadline) and [`timeout`](Self::timeout) at once.
    pub(super) fn deadline_and_timeout(&self, slot: u32) -> (Instant, Instant) {
        let e = self.event(slot);
        let deadline = self.deadline_of(slot, e);
        (deadline, self.timeout_with(slot, e, || deadline))
    }

    /// Sets the latest attempt's timeout; returns what [`timeout`](Self::timeout)
    /// now gives: the earlier of it and the deadline.
    #[inline]
    pub(super) fn set_timeout(&mut self, slot: u32, timeout: Instant) -> Instant {
        self.set_timeout_and_timer(slot, timeout).0
    }

    /// [`set_timeout`](Self::set_timeout), also returning where the event's
    /// timer sits now (to be moved): its wheel position, and whether it is
    /// ring-timed.
    #[inline(always)]
    pub(super) fn set_timeout_and_timer(
        &mut self,
        slot: u32,
        timeout: Instant,
    ) -> (Instant, Pos, bool) {
        // One lookup of the slot: the deadline's tables are other fields.
        let Events { slots, deadline_default, spans, deadlines, timeouts, .. } = self;
        let e = slots[slot].event.as_mut().expect("live event slot");
        let deadline = deadline_in(e, slot, *deadline_default, spans, deadlines);
        let submitted = e.submitted_at().as_micros();
        let was_table = e.timeout_offset() == TIMEOUT_TABLE;
        // A timeout never precedes the submit (`now` never goes backwards);
        // if it did, the wrapped offset would be too large and kept exactly.
        let offset = if timeout >= deadline {
            TIMEOUT_AT_DEADLINE
        } else {
            timeout.as_micros().wrapping_sub(submitted).min(TIMEOUT_TABLE)
        };
        e.set_timeout_offset(offset);
        if offset == TIMEOUT_TABLE {
            timeouts.insert(slot, timeout);
        } else if was_table {
            timeouts.remove(&slot);
        }
        (timeout.min(deadline), e.timer(), e.ring_timed())
    }

    /// When the event's timer fires: the earlier of its attempt timeout
    /// (in flight only) and its deadline.
    #[inline]
    pub(super) fn expiry(&self, slot: u32) -> Instant {
        let Events { slots, deadline_default, spans, deadlines, timeouts, .. } = self;
        let e = slots[slot].event.as_ref().expect("live event slot");
        expiry_in(e, slot, *deadline_default, spans, deadlines, timeouts)
    }

    /// Moves the event's wheel timer in a cascade or a spread: `place` takes
    /// its expiry (µs, see [`expiry`](Self::expiry)) and gives its new
    /// position, which is recorded, or `None` if it stays; returns whether
    /// it moved. One lookup of the slot.
    #[inline(always)]
    pub(super) fn relocate_timer(
        &mut self,
        slot: u32,
        place: impl FnOnce(u64) -> Option<Pos>,
    ) -> bool {
        let Events { slots, deadline_default, spans, deadlines, timeouts, .. } = self;
        let e = slots[slot].event.as_mut().expect("live event slot");
        let at = expiry_in(e, slot, *deadline_default, spans, deadlines, timeouts);
        let pos = place(at.as_micros());
        if let Some(pos) = pos {
            e.set_timer(pos);
        }
        pos.is_some()
    }

    /// Records a transmission at `now` (adaptive timeout only).
    pub(super) fn set_sent(&mut self, slot: u32, now: Instant) {
        if let Some(sent) = &mut self.sent {
            let e = self.slots[slot].event.as_ref().expect("live event slot");
            let since = now.as_micros().saturating_sub(e.submitted_at().as_micros());
            sent[slot] = u32::try_from(since).unwrap_or(u32::MAX);
        }
    }

    /// The time of the latest transmission, if it is known exactly (and
    /// tracked: adaptive timeout only).
    #[inline]
    pub(super) fn sent_at(&self, slot: u32) -> Option<Instant> {
        let offset = self.sent.as_ref()?[slot];
        let submitted_at = self.event(slot).submitted_at();
        (offset != u32::MAX).then(|| submitted_at.add_micros(u64::from(offset)))
    }

    /// The latest drawn delay, µs, saturated to `u32::MAX` (0 before the first
    /// draw, or when not tracked: decorrelated jitter only).
    pub(super) fn prev_delay(&self, slot: u32) -> u64 {
        self.prev_delay.as_ref().map_or(0, |prev| u64::from(prev[slot]))
    }

    pub(super) fn set_prev_delay(&mut self, slot: u32, delay: u64) {
        if let Some(prev) = &mut self.prev_delay {
            prev[slot] = u32::try_from(delay).unwrap_or(u32::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::slots::NO_CURSOR;

    /// The slot cursor of a quiet stream, which has no open block.
    fn quiet() -> u32 {
        NO_CURSOR
    }

    fn events() -> Events {
        Events::new(Duration::from_secs(60), true, true)
    }

    #[test]
    fn a_slot_is_reused_after_release_until_its_generation_is_exhausted() {
        let mut ev = events();
        let at = Instant::ZERO;
        let a = ev.alloc(Event::new(0, at, false), Duration::from_secs(60), false, &mut quiet());
        ev.retire(a);
        assert_eq!(ev.generation(a), 1);
        // Retired but not released: a new event takes another slot.
        let b = ev.alloc(Event::new(0, at, false), Duration::from_secs(60), false, &mut quiet());
        assert_ne!(a, b);
        ev.release(a);
        assert_eq!(
            ev.alloc(Event::new(0, at, false), Duration::from_secs(60), false, &mut quiet()),
            a
        );
        // The last generation is never handed out again.
        ev.slots[a].generation = u32::MAX - 1;
        ev.free(a);
        assert_eq!(ev.generation(a), u32::MAX);
        let c = ev.alloc(Event::new(0, at, false), Duration::from_secs(60), false, &mut quiet());
        assert!(c != a && c != b);
        assert!(!ev.is_live(a, u32::MAX));
    }

    #[test]
    fn an_event_slot_is_32_bytes() {
        assert_eq!(core::mem::size_of::<EventSlot>(), 32);
        // …aligned to 32, so it lies within one cache line.
        assert_eq!(core::mem::align_of::<EventSlot>(), 32);
    }

    #[test]
    fn chunks_hold_their_elements_across_boundaries() {
        let mut c = Chunked::default();
        for i in 0..(3 * CHUNK as u32 + 5) {
            c.push(i);
        }
        for i in [0, CHUNK as u32 - 1, CHUNK as u32, 2 * CHUNK as u32, 3 * CHUNK as u32 + 4] {
            assert_eq!(c[i], i);
        }
        assert_eq!(c.get(3 * CHUNK as u32 + 5), None);
        c[CHUNK as u32] = 7;
        assert_eq!(c[CHUNK as u32], 7);
        assert_eq!(c[CHUNK as u32 - 1], CHUNK as u32 - 1);
        // Whole chunks after the first: no element moves after a push.
        assert_eq!(c.chunks[1].capacity(), CHUNK);
    }

    /// The first chunk grows by a quarter (at least 16), never past
    /// `CHUNK`, and only when full: at most a fifth of its room is spare.
    #[test]
    fn the_first_chunk_grows_by_a_quarter_up_to_a_chunk() {
        let mut c = Chunked::default();
        let mut room = 0;
        let mut grew = 0;
        for i in 0..CHUNK as u32 {
            c.push(i);
            let now = c.chunks[0].capacity();
            if now != room {
                assert_eq!(i as usize, room, "grew before it was full");
                assert_eq!(now, room + (room / 4).max(16).min(CHUNK - room));
                room = now;
                grew += 1;
            }
            assert!(room <= c.len() as usize * 5 / 4 + 16);
        }
        assert_eq!(room, CHUNK);
        // 23 reallocations from 16 to 4,096 slots.
        assert_eq!(grew, 23);
        c.push(0);
        assert_eq!(c.chunks[0].capacity(), CHUNK);
    }

    #[test]
    fn fields_round_trip_without_disturbing_each_other() {
        let mut e = Event::new(7, Instant::from_micros(u64::MAX - 3), true);
        assert_eq!(e.phase(), Phase::Queued);
        assert!(e.timer().is_none());
        e.set_attempts(1000);
        e.set_phase(Phase::Paused);
        e.set_timer(Pos::new(crate::wheel::BUCKETS as u16 - 1, u32::MAX));
        e.set_field(DEADLINE_SHIFT, DEADLINE_MASK, DEADLINE_MASK);
        e.set_seq(Seq(u64::MAX - 1));
        e.set_timeout_offset(TIMEOUT_TABLE);
        assert_eq!(e.attempts(), 1000);
        assert_eq!(e.phase(), Phase::Paused);
        assert!(e.keyed());
        assert_eq!(e.timer(), Pos::new(crate::wheel::BUCKETS as u16 - 1, u32::MAX));
        assert_eq!(e.deadline_kind(), DEADLINE_MASK);
        e.set_field(DEADLINE_SHIFT, DEADLINE_MASK, DEADLINE_DEFAULT);
        assert_eq!(e.timeout_offset(), TIMEOUT_TABLE);
        assert_eq!(e.seq(Seq(u64::MAX - 5)), Seq(u64::MAX - 1));
        assert_eq!(e.submitted_at(), Instant::from_micros(u64::MAX - 3));
        assert_eq!(e.deadline_kind(), DEADLINE_DEFAULT);
        e.set_timer(Pos::NONE);
        assert!(e.timer().is_none());
        assert_eq!(e.attempts(), 1000);
        // Ring timing: no wheel entry, and a wheel entry ends it.
        assert!(!e.ring_timed());
        e.set_ring_timed();
        assert!(e.ring_timed());
        assert!(e.timer().is_none());
        assert_eq!((e.attempts(), e.phase()), (1000, Phase::Paused));
        e.set_timer(Pos::new(448, 3));
        assert!(!e.ring_timed());
        assert_eq!(e.timer(), Pos::new(448, 3));
    }

    #[test]
    fn a_seq_is_recovered_across_a_wrap_of_its_low_bits() {
        let mut e = Event::new(0, Instant::ZERO, false);
        let floor = (1u64 << 24) - 10;
        for seq in [floor, floor + 9, floor + 10, floor + (1 << 24) - 1] {
            e.set_seq(Seq(seq));
            assert_eq!(e.seq(Seq(floor)), Seq(seq));
        }
        let floor = 5 * (1u64 << 24) + 3;
        e.set_seq(Seq(floor + (1 << 23)));
        assert_eq!(e.seq(Seq(floor)), Seq(floor + (1 << 23)));
    }

    fn us(micros: u64) -> Duration {
        Duration::from_micros(micros)
    }

    #[test]
    fn seqs_across_a_wrap_of_their_low_bits_reach_the_wire_exactly() {
        use crate::ring::SeqRing;
        use crate::{
            Ack, Command, Config, Echo, EventState, Jitter, Outcome, SeqRange, SubmitOptions,
            Tracker, UserId,
        };

        let mut config = Config::default();
        config.retry.jitter = Jitter::None;
        config.user_retry_budget = None;
        config.global_retry_budget = None;
        let initial = Instant::ZERO.saturating_add(config.retry.initial_delay);
        let mut t: Tracker<u32> = Tracker::new(config).unwrap();
        let u = UserId(1);
        let s = t.open_stream(Instant::ZERO, u).unwrap();
        // As if 2^24 - 3 seqs had been sent and acked already.
        let base = (1u64 << 24) - 3;
        let stream = t.engine.streams[s.index() as usize].stream.as_mut().unwrap();
        stream.ring = SeqRing::starting_at(base);
        stream.client_cumulative = Seq(base);
        let drain =
            |t: &mut Tracker<u32>| core::iter::from_fn(|| t.poll_command()).collect::<Vec<_>>();

        let events: Vec<_> = (0..6)
            .map(|i| t.submit(Instant::ZERO, s, i, SubmitOptions::default()).unwrap())
            .collect();
        let sent: Vec<_> = drain(&mut t)
            .into_iter()
            .map(|c| match c {
                Command::Send { event, seq, .. } => (event, seq),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let seqs: Vec<_> = (base..base + 6).map(Seq).collect();
        assert_eq!(sent, events.iter().copied().zip(seqs.iter().copied()).collect::<Vec<_>>());
        for (&e, &seq) in events.iter().zip(&seqs) {
            assert_eq!(t.event_state(e), Some(EventState::InFlight { seq, attempts: 1 }));
        }

        // Selectively ack the one at 2^24 + 1, cancel the one at 2^24 + 2.
        let ack = Ack {
            stream: s,
            cumulative: Seq(base),
            ranges: alloc::vec![SeqRange::single(seqs[4])],
            echo: Some(Echo { seq: seqs[4], attempt: 1 }),
        };
        t.handle_ack(Instant::ZERO, u, &ack).unwrap();
        assert!(matches!(
            drain(&mut t)[..],
            [Command::Finish { event, outcome: Outcome::Confirmed { .. }, .. }] if event == events[4]
        ));
        t.cancel(Instant::ZERO, events[5]).unwrap();
        let out = drain(&mut t);
        assert_eq!(out[0], Command::Skip { stream: s, seqs: SeqRange::single(seqs[5]) });

        // The rest time out and are retried with their own seqs.
        t.handle_timeout(initial);
        let retried: Vec<_> = drain(&mut t)
            .into_iter()
            .filter_map(|c| match c {
                Command::Retry { event, seq, attempt: 2, .. } => Some((event, seq)),
                _ => None,
            })
            .collect();
        let mut retried = retried;
        // Timers due at the same µs fire in the wheel's order, not by seq.
        retried.sort();
        let expected: Vec<_> = events[..4].iter().copied().zip(seqs[..4].iter().copied()).collect();
        assert_eq!(retried, expected);

        // Past the wrap, the floor moves on and the last one is still found.
        t.handle_ack(initial, u, &Ack::cumulative(s, seqs[3], Echo { seq: seqs[0], attempt: 2 }))
            .unwrap();
        assert_eq!(t.stream_floor(s), Some(seqs[3]));
        assert_eq!(seqs[3], Seq(1 << 24));
        assert_eq!(
            t.event_state(events[3]),
            Some(EventState::InFlight { seq: seqs[3], attempts: 2 })
        );
        let _ = drain(&mut t);
        t.handle_ack(
            initial,
            u,
            &Ack::cumulative(s, Seq(base + 6), Echo { seq: seqs[3], attempt: 2 }),
        )
        .unwrap();
        assert!(matches!(
            drain(&mut t)[..],
            [Command::Finish { event, outcome: Outcome::Confirmed { attempts: 2, .. }, .. }]
                if event == events[3]
        ));
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn deadlines_are_computed_from_their_span() {
        let mut ev = events();
        let at = Instant::from_micros(5);
        let default =
            ev.alloc(Event::new(0, at, false), Duration::from_secs(60), false, &mut quiet());
        let short = ev.alloc(Event::new(0, at, false), us(1), false, &mut quiet());
        let short_too = ev.alloc(Event::new(0, at, false), us(1), false, &mut quiet());
        let forever = ev.alloc(Event::new(0, at, false), Duration::MAX, false, &mut quiet());
        assert_eq!(ev.deadline(default), Instant::from_micros(60_000_005));
        assert_eq!(ev.deadline(short), Instant::from_micros(6));
        assert_eq!(ev.deadline(short_too), Instant::from_micros(6));
        assert_eq!(ev.deadline(forever), Instant::MAX);
        // Only whole µs count: this is the default span.
        let nanos = ev.alloc(
            Event::new(0, at, false),
            Duration::from_nanos(60_000_000_999),
            false,
            &mut quiet(),
        );
        assert_eq!(ev.deadline(nanos), Instant::from_micros(60_000_005));
        assert_eq!(ev.deadline(nanos), at.saturating_add(Duration::from_nanos(60_000_000_999)));
        // Two spans other than the default, one entry each.
        assert_eq!(ev.spans.entries, [(1, 2), (u64::MAX, 1)]);
        assert!(ev.deadlines.is_empty());
        ev.free(short);
        ev.free(short_too);
        ev.free(forever);
        assert_eq!(ev.spans.unused, 2);
        // A reused slot starts over with the default.
        let again =
            ev.alloc(Event::new(0, at, false), Duration::from_secs(60), false, &mut quiet());
        assert_eq!(ev.deadline(again), Instant::from_micros(60_000_005));
        // An unused span is found again.
        let again = ev.alloc(Event::new(0, at, false), us(1), false, &mut quiet());
        assert_eq!(ev.deadline(again), Instant::from_micros(6));
        assert_eq!(ev.spans.unused, 1);
    }

    #[test]
    fn a_deadline_saturates_like_the_exact_one() {
        let mut ev = events();
        let at = Instant::from_micros(u64::MAX - 10);
        let default =
            ev.alloc(Event::new(0, at, false), Duration::from_secs(60), false, &mut quiet());
        let other = ev.alloc(Event::new(0, at, false), us(11), false, &mut quiet());
        assert_eq!(ev.deadline(default), Instant::MAX);
        assert_eq!(ev.deadline(other), Instant::MAX);
    }

    #[test]
    fn past_the_shared_spans_deadlines_go_to_the_side_table_exactly() {
        let mut ev = events();
        let at = Instant::from_micros(100);
        // 254 spans besides the config's: the deadline kinds left in 8 bits
        // after "the config's" and "in the side table".
        let max = 254;
        let shared: Vec<u32> = (1..=max)
            .map(|i| ev.alloc(Event::new(0, at, false), us(i), false, &mut quiet()))
            .collect();
        assert_eq!(ev.spans.entries.len(), 254);
        assert!(ev.deadlines.is_empty(), "all 254 are shared");
        // Every entry in use: the next new span goes to the side table.
        let extra = ev.alloc(Event::new(0, at, false), us(max + 1), false, &mut quiet());
        assert_eq!(ev.deadline(extra), at.add_micros(max + 1));
        assert_eq!(ev.deadlines.len(), 1);
        // A span in use is still shared.
        let same = ev.alloc(Event::new(0, at, false), us(7), false, &mut quiet());
        assert_eq!(ev.deadline(same), at.add_micros(7));
        assert_eq!(ev.deadlines.len(), 1);
        // Once an entry is unused, a new span takes its place.
        ev.free(shared[2]);
        let new = ev.alloc(Event::new(0, at, false), us(max + 2), false, &mut quiet());
        assert_eq!(ev.deadline(new), at.add_micros(max + 2));
        assert_eq!(ev.deadlines.len(), 1);
        assert_eq!(ev.spans.entries[2], (max + 2, 1));
        assert_eq!(ev.spans.index.get(&3), None);
        for (i, &slot) in shared.iter().enumerate().filter(|(i, _)| *i != 2) {
            assert_eq!(ev.deadline(slot), at.add_micros(i as u64 + 1));
        }
        ev.free(extra);
        assert!(ev.deadlines.is_empty());
    }

    #[test]
    fn timeouts_beyond_40_bits_and_at_the_deadline_are_kept_exactly() {
        let mut ev = events();
        let at = Instant::from_micros(1000);
        let slot = ev.alloc(Event::new(0, at, false), Duration::MAX, false, &mut quiet());
        ev.event_mut(slot).set_phase(Phase::InFlight);
        // Fits: an exact offset.
        let near = at.add_micros((1 << 40) - 3);
        ev.set_timeout(slot, near);
        assert_eq!(ev.timeout(slot), near);
        assert!(ev.timeouts.is_empty());
        // Does not fit: the side table.
        let far = at.add_micros(1 << 40);
        ev.set_timeout(slot, far);
        assert_eq!(ev.timeout(slot), far);
        assert_eq!(ev.expiry(slot), far);
        assert_eq!(ev.timeouts.len(), 1);
        // Back to a small one: the side entry goes.
        ev.set_timeout(slot, at.add_micros(1));
        assert_eq!(ev.timeout(slot), at.add_micros(1));
        assert!(ev.timeouts.is_empty());
        // At or after the deadline: the deadline.
        ev.set_timeout(slot, Instant::MAX);
        assert_eq!(ev.timeout(slot), Instant::MAX);
        ev.set_timeout(slot, far);
        ev.free(slot);
        assert!(ev.timeouts.is_empty());
        assert!(ev.deadlines.is_empty());

        let short = ev.alloc(Event::new(0, at, false), us(50), false, &mut quiet());
        ev.event_mut(short).set_phase(Phase::InFlight);
        ev.set_timeout(short, at.add_micros(70));
        assert_eq!(ev.timeout(short), at.add_micros(50));
        assert_eq!(ev.expiry(short), at.add_micros(50));
        ev.set_timeout(short, at.add_micros(49));
        assert_eq!(ev.expiry(short), at.add_micros(49));
        // Not in flight: only the deadline counts.
        ev.event_mut(short).set_phase(Phase::Paused);
        assert_eq!(ev.expiry(short), at.add_micros(50));
    }

    #[test]
    fn side_arrays_follow_the_slots() {
        let mut ev = events();
        let at = Instant::from_micros(10);
        let mut slots = Vec::new();
        for _ in 0..CHUNK + 2 {
            slots.push(ev.alloc(Event::new(0, at, false), Duration::MAX, false, &mut quiet()));
        }
        let last = *slots.last().unwrap();
        ev.set_sent(last, Instant::from_micros(25));
        ev.set_prev_delay(last, u64::MAX);
        assert_eq!(ev.sent_at(last), Some(Instant::from_micros(25)));
        assert_eq!(ev.prev_delay(last), u64::from(u32::MAX));
        ev.set_sent(last, at.add_micros(1 << 33));
        assert_eq!(ev.sent_at(last), None);
        ev.free(last);
        let again = ev.alloc(Event::new(0, at, false), Duration::MAX, false, &mut quiet());
        assert_eq!(again, last);
        assert_eq!(ev.sent_at(again), Some(at));
        assert_eq!(ev.prev_delay(again), 0);

        let mut untracked: Events = Events::new(Duration::from_secs(1), false, false);
        let slot = untracked.alloc(Event::new(0, at, false), Duration::MAX, false, &mut quiet());
        untracked.set_sent(slot, Instant::from_micros(25));
        untracked.set_prev_delay(slot, 9);
        assert_eq!(untracked.sent_at(slot), None);
        assert_eq!(untracked.prev_delay(slot), 0);
    }
}
