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

#[derive(Debug, Default)]
pub(crate) struct SeqRing {
    /// Seq of `entries[0]`.
    base: u64,
    /// Event slot index (unresolved) or `RESOLVED | jump` (resolved).
    entries: VecDeque<u32>,
}

impl SeqRing {
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

    /// Marks `seq` resolved and pops the resolved prefix, advancing the floor.
    /// Returns whether the floor moved.
    pub(crate) fn resolve(&mut self, seq: Seq) -> bool {
        let i = (seq.0 - self.base) as usize;
        debug_assert!(self.entries[i] & RESOLVED == 0, "resolving a resolved seq");
        self.entries[i] = RESOLVED | 1;
        let mut moved = false;
        while self.entries.front().is_some_and(|e| e & RESOLVED != 0) {
            self.entries.pop_front();
            self.base += 1;
            moved = true;
        }
        moved
    }

    /// The first unresolved seq at or after `from` and below `end`.
    pub(crate) fn next_unresolved(&mut self, from: Seq, end: Seq) -> Option<(Seq, u32)> {
        let len = self.entries.len();
        let start = from.0.max(self.base);
        let end = end.0.min(self.base + len as u64);
        if start >= end {
            return None;
        }
        let first = (start - self.base) as usize;
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

    /// Bytes held by the ring's buffer.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

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
        // After compression the first resolved entry jumps straight to 99.
        assert_eq!(r.entries[1], RESOLVED | 98);
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
