//! Identifiers: users, streams, events and sequence numbers.

use core::fmt;

/// A user, as the application authenticated it. acktrack keeps users apart:
/// one user's acks can never confirm another user's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct UserId(pub u64);

/// One ordered channel to one client of one user (a browser tab, an agent run).
///
/// Allocated by the tracker and never reused: the low 32 bits index a slot, the
/// high 32 bits are that slot's generation, and a slot whose generation would
/// wrap is retired instead of reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct StreamId(u64);

/// One submitted event. Allocated by the tracker, never reused, O(1) to look up
/// (slot index plus generation, like [`StreamId`]): a stale id can never reach
/// another event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct EventId(u64);

macro_rules! slot_id {
    ($t:ident) => {
        impl $t {
            pub(crate) const fn new(index: u32, generation: u32) -> Self {
                $t(((generation as u64) << 32) | index as u64)
            }
            pub(crate) const fn index(self) -> u32 {
                self.0 as u32
            }
            pub(crate) const fn generation(self) -> u32 {
                (self.0 >> 32) as u32
            }
            /// The raw value, for logs and wire encodings.
            pub const fn to_bits(self) -> u64 {
                self.0
            }
            /// Rebuilds an id from [`Self::to_bits`]. An id that the tracker did
            /// not hand out is simply unknown to it.
            pub const fn from_bits(bits: u64) -> Self {
                $t(bits)
            }
        }
    };
}
slot_id!(StreamId);
slot_id!(EventId);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}", self.0)
    }
}
impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}.{}", self.index(), self.generation())
    }
}
impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}.{}", self.index(), self.generation())
    }
}

/// The per-stream sequence number of an event on the wire. The first event a
/// stream transmits has seq 0; seqs are assigned at first transmission, so an
/// event that never left the queue consumes none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Seq(pub u64);

impl Seq {
    /// The next seq (saturating).
    pub const fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A half-open range of seqs, `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SeqRange {
    /// First seq in the range.
    pub start: Seq,
    /// One past the last seq in the range.
    pub end: Seq,
}

impl SeqRange {
    /// `start..end`.
    pub const fn new(start: u64, end: u64) -> Self {
        SeqRange { start: Seq(start), end: Seq(end) }
    }

    /// The range holding only `seq`.
    pub const fn single(seq: Seq) -> Self {
        SeqRange { start: seq, end: Seq(seq.0.saturating_add(1)) }
    }

    /// Whether the range holds `seq`.
    pub const fn contains(&self, seq: Seq) -> bool {
        self.start.0 <= seq.0 && seq.0 < self.end.0
    }

    /// Number of seqs in the range.
    pub const fn len(&self) -> u64 {
        self.end.0.saturating_sub(self.start.0)
    }

    /// Whether the range holds no seq.
    pub const fn is_empty(&self) -> bool {
        self.end.0 <= self.start.0
    }

    /// Iterates the seqs of the range.
    pub fn iter(&self) -> impl Iterator<Item = Seq> + use<> {
        (self.start.0..self.end.0).map(Seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ids_round_trip_index_and_generation() {
        let id = EventId::new(7, 3);
        assert_eq!(id.index(), 7);
        assert_eq!(id.generation(), 3);
        assert_eq!(EventId::from_bits(id.to_bits()), id);
        assert_ne!(EventId::new(7, 4), id);
        assert_eq!(StreamId::new(u32::MAX, u32::MAX).index(), u32::MAX);
    }

    #[test]
    fn seq_range_basics() {
        let r = SeqRange::new(3, 6);
        assert!(r.contains(Seq(3)) && r.contains(Seq(5)) && !r.contains(Seq(6)));
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().collect::<alloc::vec::Vec<_>>(), [Seq(3), Seq(4), Seq(5)]);
        assert!(SeqRange::new(4, 4).is_empty());
        assert_eq!(SeqRange::single(Seq(9)), SeqRange::new(9, 10));
    }
}
