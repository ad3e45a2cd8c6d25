//! The per-stream record of transmitted seqs, indexed by seq.
//!
//! The ring covers `base..base + len`, where `base` is the stream's floor (its
//! lowest unresolved seq). The window bounds its length, so one old event can
//! never pin unbounded memory. Resolved entries hold a forward jump to the next
//! candidate, compressed on every walk (union-find style), so scanning a range
//! costs what it finds, not the width of the range: an ack that repeats an old
//! selective range does no work per seq.

use alloc::collections::VecDeque;

use crate::ids::Seq;

/// High bit marks a resolved entry; the rest is the jump to the next candidate.
const RESOLVED: u32 = 1 << 31;

/// A per-stream deque keeps room for this many entries however empty it gets.
const KEEP: usize = 16;

/// Shrinks a per-stream deque that fell to a quarter of its room down to half
/// (never below [`KEEP`]), so a stream that was busy once and is quiet now
/// does not hold its busiest moment's room. The hysteresis makes it O(1) a
/// pop: each shrink copies at most a quarter of the room the pops since the
/// last resize emptied.
#[inline]
pub(crate) fn give_back<T>(deque: &mut VecDeque<T>) {
    if deque.capacity() > KEEP && deque.len() * 4 <= deque.capacity() {
        shrink(deque);
    }
}

#[inline(never)]
fn shrink<T>(deque: &mut VecDeque<T>) {
    deque.shrink_to((deque.len() * 2).max(KEEP));
}

#[derive(Debug, Default)]
pub(crate) struct SeqRing {
    /// Seq of `entries[0]`.
    base: u64,
    /// Event slot index (unresolved) or `RESOLVED | jump` (resolved).
    entries: VecDeque<u32>,
}

impl SeqRing {
    /// An empty ring whose next seq is `base` (tests: seqs far from zero).
    #[cfg(test)]
    pub(crate) fn starting_at(base: u64) -> Self {
        SeqRing { base, entries: VecDeque::new() }
    }

    /// The lowest unresolved seq, or the next seq to send if none is.
    pub(crate) fn floor(&self) -> Seq {
        Seq(self.base)
    }

    /// The next seq to send.
    pub(crate) fn next_seq(&self) -> Seq {
        Seq(self.base + self.entries.len() as u64)
    }

    /// Seqs from the floor to the next one to send.
    pub(crate) fn span(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Appends the next seq, owned by event `slot`.
    pub(crate) fn push(&mut self, slot: u32) -> Seq {
        debug_assert!(slot < RESOLVED);
        let seq = self.next_seq();
        self.entries.push_back(slot);
        seq
    }

    /// The slot of the unresolved event at `seq`, if any.
    pub(crate) fn get(&self, seq: Seq) -> Option<u32> {
        let i = usize::try_from(seq.0.checked_sub(self.base)?).ok()?;
        let e = *self.entries.get(i)?;
        (e & RESOLVED == 0).then_some(e)
    }

    /// Where the entry of `seq` is kept, if the ring spans it; reads no
    /// entry.
    pub(crate) fn entry_address(&self, seq: Seq) -> Option<*const u8> {
        let i = usize::try_from(seq.0.checked_sub(self.base)?).ok()?;
        self.entries.get(i).map(|e| core::ptr::from_ref(e).cast())
    }

    /// The address of the entry of `seq`, which the ring must span (tests:
    /// found apart from `entry_address`).
    #[cfg(test)]
    pub(crate) fn entry_at(&self, seq: Seq) -> usize {
        core::ptr::from_ref(&self.entries[(seq.0 - self.base) as usize]).addr()
    }

    /// Marks `seq` resolved and pops the resolved prefix, advancing the floor.
    /// Returns whether the floor moved.
    #[inline(always)]
    pub(crate) fn resolve(&mut self, seq: Seq) -> bool {
        let i = (seq.0 - self.base) as usize;
        debug_assert!(self.entries[i] & RESOLVED == 0, "resolving a resolved seq");
        if i > 0 {
            // Above the floor: marked, the floor stays.
            self.entries[i] = RESOLVED | 1;
            return false;
        }
        // The floor itself (the usual case): it goes, with the resolved run
        // after it.
        self.entries.pop_front();
        self.base += 1;
        while self.entries.front().is_some_and(|e| e & RESOLVED != 0) {
            self.entries.pop_front();
            self.base += 1;
        }
        give_back(&mut self.entries);
        true
    }

    /// The first unresolved seq at or after `from` and below `end`.
    #[inline]
    pub(crate) fn next_unresolved(&mut self, from: Seq, end: Seq) -> Option<(Seq, u32)> {
        let len = self.entries.len();
        let start = from.0.max(self.base);
        let end = end.0.min(self.base + len as u64);
        if start >= end {
            return None;
        }
        let first = (start - self.base) as usize;
        // The usual case: the entry itself is unresolved.
        let e = self.entries[first];
        if e & RESOLVED == 0 {
            return Some((Seq(start), e));
        }
        self.walk(first, end)
    }

    /// `next_unresolved` from `first`, a resolved entry: follows the jumps
    /// and compresses the path.
    fn walk(&mut self, first: usize, end: u64) -> Option<(Seq, u32)> {
        let len = self.entries.len();
        // Walk the jumps to the first unresolved entry (or the end).
        let mut i = first;
        while i < len && self.entries[i] & RESOLVED != 0 {
            i += (self.entries[i] & !RESOLVED) as usize;
        }
        // Path compression: every resolved entry walked now jumps straight to `i`.
        let mut j = first;
        while j < i {
            let e = self.entries[j];
            let next = j + (e & !RESOLVED) as usize;
            let jump = u32::try_from(i - j).unwrap_or(RESOLVED - 1).min(RESOLVED - 1);
            self.entries[j] = RESOLVED | jump;
            j = next;
        }
        let seq = self.base + i as u64;
        (i < len && seq < end).then(|| (Seq(seq), self.entries[i]))
    }

    /// Every unresolved (seq, slot), in seq order.
    pub(crate) fn unresolved(&self) -> impl Iterator<Item = (Seq, u32)> + '_ {
        let base = self.base;
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| **e & RESOLVED == 0)
            .map(move |(i, e)| (Seq(base + i as u64), *e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn a_ring_gives_its_room_back_as_its_floor_rises() {
        let mut r = SeqRing::default();
        for slot in 0..1024 {
            r.push(slot);
        }
        assert_eq!(r.entries.capacity(), 1024);
        // (seqs left, room): the room halves when a quarter is left and
        // stays until the next quarter, never below `KEEP`; the seqs left
        // keep their slots.
        let mut next = 0;
        for (left, room) in [
            (257, 1024),
            (256, 512),
            (129, 512),
            (128, 256),
            (65, 256),
            (64, 128),
            (8, 16),
            (0, 16),
        ] {
            while r.span() > left {
                r.resolve(Seq(next));
                next += 1;
            }
            assert_eq!(r.entries.capacity(), room, "{left} seqs left");
            assert_eq!(r.get(Seq(next)), (left > 0).then_some(next as u32));
        }
        assert_eq!(r.floor(), Seq(1024));
    }

    #[test]
    fn floor_advances_over_the_resolved_prefix() {
        let mut r = SeqRing::default();
        for slot in 0..5 {
            assert_eq!(r.push(slot), Seq(slot as u64));
        }
        assert!(!r.resolve(Seq(2)));
        assert_eq!(r.floor(), Seq(0));
        assert!(r.resolve(Seq(0)));
        assert_eq!(r.floor(), Seq(1));
        assert!(r.resolve(Seq(1)));
        assert_eq!(r.floor(), Seq(3));
        assert_eq!(r.span(), 2);
        assert_eq!(r.get(Seq(3)), Some(3));
        assert_eq!(r.get(Seq(2)), None);
        assert_eq!(r.get(Seq(9)), None);
    }

    #[test]
    fn scans_skip_resolved_entries_and_compress_paths() {
        let mut r = SeqRing::default();
        for slot in 0..100 {
            r.push(slot);
        }
        for s in 1..99 {
            r.resolve(Seq(s));
        }
        assert_eq!(r.next_unresolved(Seq(1), Seq(100)), Some((Seq(99), 99)));
        // After compression every resolved entry walked jumps straight to 99.
        for k in 1..99 {
            assert_eq!(r.entries[k], RESOLVED | (99 - k as u32), "entry {k}");
        }
        assert_eq!(r.next_unresolved(Seq(1), Seq(99)), None);
        assert_eq!(r.next_unresolved(Seq(0), Seq(1)), Some((Seq(0), 0)));
        let all: Vec<_> = r.unresolved().collect();
        assert_eq!(all, [(Seq(0), 0), (Seq(99), 99)]);
        // A jump past the end stays valid once the ring grows.
        r.resolve(Seq(99));
        r.push(100);
        assert_eq!(r.next_unresolved(Seq(1), Seq(200)), Some((Seq(100), 100)));
    }
}

/// A set of seqs kept only within a sliding span below the stream's next seq,
/// as a bitmap: O(1) insert, lookup and pruning, no allocation once warm.
/// Used for the abandoned seqs the client has not acked past (to tell late
/// acks apart): seqs more than `span` below the next seq are forgotten.
#[derive(Debug, Default)]
pub(crate) struct SeqSet {
    /// Seq of bit 0 of `words[0]`, a multiple of 64.
    base: u64,
    words: VecDeque<u64>,
}

impl SeqSet {
    /// Adds `seq`; forgets what is more than `span` below `next`.
    pub(crate) fn insert(&mut self, seq: u64, next: u64, span: u64) {
        let oldest = next.saturating_sub(span);
        if seq < oldest {
            return;
        }
        if self.words.is_empty() {
            self.base = seq & !63;
        }
        while seq < self.base {
            self.words.push_front(0);
            self.base -= 64;
        }
        let word = ((seq - self.base) / 64) as usize;
        while self.words.len() <= word {
            self.words.push_back(0);
        }
        self.words[word] |= 1 << (seq % 64);
        self.remove_below(oldest);
    }

    /// Whether `seq` is in the set and not more than `span` below `next`.
    pub(crate) fn contains(&self, seq: u64, next: u64, span: u64) -> bool {
        if seq < next.saturating_sub(span) || seq < self.base {
            return false;
        }
        let word = ((seq - self.base) / 64) as usize;
        self.words.get(word).is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    /// Whether the set holds no seq.
    pub(crate) fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The address of the word [`insert`](Self::insert) sets for `seq`: the
    /// word that holds it, else (past the end) the last word, beside the
    /// one an insert adds. `None` for an empty set or a seq below its base.
    /// For a prefetch hint.
    #[inline]
    pub(crate) fn word_address(&self, seq: u64) -> Option<*const u8> {
        let word = usize::try_from(seq.checked_sub(self.base)? / 64).ok()?;
        let at = self.words.get(word).or_else(|| self.words.back())?;
        Some(core::ptr::from_ref(at).cast())
    }

    /// The address of the word that holds `seq`, which the set must span
    /// (tests: found apart from `word_address`).
    #[cfg(test)]
    pub(crate) fn word_at(&self, seq: u64) -> usize {
        core::ptr::from_ref(&self.words[((seq - self.base) / 64) as usize]).addr()
    }

    /// Forgets every seq below `seq`.
    #[inline]
    pub(crate) fn remove_below(&mut self, seq: u64) {
        if self.words.is_empty() || seq <= self.base {
            return;
        }
        self.remove_below_base(seq);
    }

    /// `remove_below` of a `seq` above a non-empty set's base.
    fn remove_below_base(&mut self, seq: u64) {
        while !self.words.is_empty() && self.base + 64 <= seq {
            self.words.pop_front();
            self.base += 64;
        }
        if self.words.is_empty() {
            return;
        }
        if seq > self.base {
            self.words[0] &= !((1u64 << (seq - self.base)) - 1);
        }
        // Drop empty words at the front so the set stays small.
        while self.words.front() == Some(&0) {
            self.words.pop_front();
            self.base += 64;
        }
    }
}

#[cfg(test)]
mod seq_set_tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use proptest::prelude::*;

    /// `word_address` names the word that holds a seq, the last word for
    /// a seq past the end, and nothing for an empty set or a seq below it.
    #[test]
    fn word_address_names_the_word_an_insert_sets() {
        let mut set = SeqSet::default();
        assert_eq!(set.word_address(5), None, "an empty set");
        set.insert(130, 200, 1000);
        set.insert(260, 300, 1000);
        // Words for 128..192, 192..256 and 256..320.
        let at = |seq| set.word_address(seq).map(<*const u8>::addr);
        assert_eq!(at(127), None, "below the base");
        assert_eq!(at(128), Some(set.word_at(130)));
        assert_eq!(at(200), Some(set.word_at(255)));
        assert_eq!(at(319), Some(set.word_at(260)));
        assert_ne!(set.word_at(130), set.word_at(200));
        assert_eq!(at(320), Some(set.word_at(260)), "past the end: the last word");
        assert_eq!(at(u64::MAX), Some(set.word_at(260)));
    }

    /// `is_empty` tells whether any seq is held: an ack skips the set while
    /// it is (`Stream::abandoned_any`).
    #[test]
    fn a_set_is_empty_until_a_seq_goes_in_and_again_once_pruned_past_it() {
        let mut set = SeqSet::default();
        assert!(set.is_empty());
        set.insert(130, 131, 64);
        set.insert(70, 131, 64);
        assert!(!set.is_empty());
        set.remove_below(100);
        assert!(!set.is_empty(), "130 is still held");
        assert!(set.contains(130, 131, 64));
        set.remove_below(131);
        assert!(set.is_empty());
        // A seq too old for the span is not held.
        set.insert(10, 131, 64);
        assert!(set.is_empty());
    }

    proptest! {
        #[test]
        fn agrees_with_a_btree_set(ops in proptest::collection::vec((0u8..3, 0u64..300, 1u64..100), 1..200)) {
            let mut set = SeqSet::default();
            let mut model = BTreeSet::new();
            let mut next = 0u64;
            let span = 64 + 7;
            for (op, x, step) in ops {
                match op {
                    0 => {
                        next += step % 5;
                        let seq = next.saturating_sub(x % 90);
                        set.insert(seq, next + 1, span);
                        next += 1;
                        model.insert(seq);
                    }
                    1 => {
                        let below = next.saturating_sub(x % 120);
                        set.remove_below(below);
                        model.retain(|&s| s >= below);
                    }
                    _ => {}
                }
                for probe in next.saturating_sub(200)..next + 2 {
                    let expected = model.contains(&probe) && probe >= next.saturating_sub(span);
                    prop_assert_eq!(set.contains(probe, next, span), expected, "probe {}", probe);
                }
            }
        }
    }
}
