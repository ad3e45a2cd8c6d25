//! Acknowledgements: what a receiver tells the sender it has.

use alloc::vec::Vec;

use crate::error::AckError;
use crate::ids::{Seq, SeqRange, StreamId};

/// The transmission that triggered an ack: the seq and attempt of the event
/// frame the receiver just got. Because every transmission carries its attempt
/// number, an RTT sample taken from an echo is never ambiguous (no Karn problem).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Echo {
    /// Seq of the frame that triggered the ack.
    pub seq: Seq,
    /// Attempt of that frame (1 for the first transmission).
    pub attempt: u32,
}

/// An acknowledgement for one stream (QUIC/TCP SACK style).
///
/// `cumulative` is the receiver's next expected seq: every seq below it was
/// received or skipped. `ranges` are additional received seqs above it, as
/// sorted, non-overlapping half-open ranges.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Ack {
    /// The stream acknowledged.
    pub stream: StreamId,
    /// Every seq below this was received (or skipped by the sender).
    pub cumulative: Seq,
    /// Selective ranges above `cumulative`, ascending, non-overlapping.
    pub ranges: Vec<SeqRange>,
    /// The transmission that triggered this ack, if an event frame did (an
    /// ack that answers a skip echoes none). Only an echoed ack yields an RTT
    /// sample, counts a spurious retry or counts as late.
    pub echo: Option<Echo>,
}

impl Ack {
    /// A purely cumulative ack echoing `echo`.
    pub fn cumulative(stream: StreamId, cumulative: Seq, echo: Echo) -> Self {
        Ack { stream, cumulative, ranges: Vec::new(), echo: Some(echo) }
    }

    /// Checks the shape of the ack against `next_seq` (the first seq the
    /// sender has not transmitted) and the range limit. Pure: no state.
    pub(crate) fn validate(&self, next_seq: Seq, ranges_max: usize) -> Result<(), AckError> {
        if self.ranges.len() > ranges_max {
            return Err(AckError::TooManyRanges { count: self.ranges.len(), max: ranges_max });
        }
        if self.echo.is_some_and(|e| e.attempt == 0) {
            return Err(AckError::ZeroAttempt);
        }
        if self.cumulative > next_seq {
            return Err(AckError::SeqNotSent { seq: Seq(self.cumulative.0 - 1), next: next_seq });
        }
        if let Some(echo) = self.echo.filter(|e| e.seq >= next_seq) {
            return Err(AckError::SeqNotSent { seq: echo.seq, next: next_seq });
        }
        let mut floor = self.cumulative;
        for (index, range) in self.ranges.iter().enumerate() {
            if range.is_empty() {
                return Err(AckError::MalformedRange { index, reason: "empty range" });
            }
            if range.start < floor {
                let reason = if index == 0 {
                    "range starts below the cumulative ack"
                } else {
                    "ranges unsorted or overlapping"
                };
                return Err(AckError::MalformedRange { index, reason });
            }
            if range.end > next_seq {
                return Err(AckError::SeqNotSent { seq: Seq(range.end.0 - 1), next: next_seq });
            }
            floor = range.end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn ack(cumulative: u64, ranges: Vec<SeqRange>, echo: u64) -> Ack {
        Ack {
            stream: StreamId::new(0, 0),
            cumulative: Seq(cumulative),
            ranges,
            echo: Some(Echo { seq: Seq(echo), attempt: 1 }),
        }
    }

    #[test]
    fn well_formed_acks_pass() {
        assert_eq!(ack(3, vec![], 2).validate(Seq(10), 4), Ok(()));
        assert_eq!(ack(10, vec![], 9).validate(Seq(10), 4), Ok(()));
        let ranges = vec![SeqRange::new(4, 6), SeqRange::new(6, 7), SeqRange::new(9, 10)];
        assert_eq!(ack(3, ranges, 9).validate(Seq(10), 4), Ok(()));
    }

    #[test]
    fn each_malformation_has_its_error() {
        let next = Seq(10);
        assert!(matches!(
            ack(11, vec![], 2).validate(next, 4),
            Err(AckError::SeqNotSent { seq: Seq(10), .. })
        ));
        assert!(matches!(ack(3, vec![], 10).validate(next, 4), Err(AckError::SeqNotSent { .. })));
        assert!(matches!(
            ack(3, vec![SeqRange::new(5, 11)], 2).validate(next, 4),
            Err(AckError::SeqNotSent { .. })
        ));
        assert!(matches!(
            ack(3, vec![SeqRange::new(2, 4)], 2).validate(next, 4),
            Err(AckError::MalformedRange { index: 0, .. })
        ));
        assert!(matches!(
            ack(3, vec![SeqRange::new(6, 8), SeqRange::new(4, 5)], 2).validate(next, 4),
            Err(AckError::MalformedRange { index: 1, .. })
        ));
        assert!(matches!(
            ack(3, vec![SeqRange::new(4, 7), SeqRange::new(6, 8)], 2).validate(next, 4),
            Err(AckError::MalformedRange { index: 1, .. })
        ));
        assert!(matches!(
            ack(3, vec![SeqRange::new(5, 5)], 2).validate(next, 4),
            Err(AckError::MalformedRange { index: 0, .. })
        ));
        assert!(matches!(
            ack(0, vec![SeqRange::new(1, 2); 5], 0).validate(next, 4),
            Err(AckError::TooManyRanges { count: 5, max: 4 })
        ));
        let mut zero = ack(3, vec![], 2);
        zero.echo = Some(Echo { seq: Seq(2), attempt: 0 });
        assert_eq!(zero.validate(next, 4), Err(AckError::ZeroAttempt));
    }
}
