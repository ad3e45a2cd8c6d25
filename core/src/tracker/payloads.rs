//! The payloads of pending events, by event slot.
//!
//! A payload type of size zero (`()`, a marker) holds no data: its values
//! are kept as a count, in a `Vec` that never allocates, and not by slot.
//! Handing back any one of them is handing back the one given, and as many
//! come back as went in. So a `Tracker<()>` (payloads kept by the caller,
//! found by `EventId`) stores nothing per event and reads no memory for a
//! payload when an event finishes.

use alloc::vec::Vec;

use super::events::Chunked;

#[derive(Debug)]
pub(super) struct Payloads<P> {
    /// By slot: `Some` from submit until the event's `Finish` is polled.
    /// Empty when `P` has size zero.
    slots: Chunked<Option<P>>,
    /// When `P` has size zero: one value per pending payload.
    zero_sized: Vec<P>,
}

impl<P> Default for Payloads<P> {
    fn default() -> Self {
        Payloads { slots: Chunked::default(), zero_sized: Vec::new() }
    }
}

impl<P> Payloads<P> {
    /// `P` holds no data.
    const ZERO_SIZED: bool = core::mem::size_of::<P>() == 0;

    /// Keeps the payload of the new event in `slot` (new or released: its
    /// previous payload was taken).
    #[inline]
    pub(super) fn put(&mut self, slot: u32, payload: P) {
        if Self::ZERO_SIZED {
            self.zero_sized.push(payload);
            return;
        }
        while self.slots.len() <= slot {
            self.slots.push(None);
        }
        self.slots[slot] = Some(payload);
    }

    /// The payload of the finished event in `slot`.
    #[inline]
    pub(super) fn take(&mut self, slot: u32) -> P {
        let payload =
            if Self::ZERO_SIZED { self.zero_sized.pop() } else { self.slots[slot].take() };
        payload.expect("a finished event's payload")
    }

    /// The payload of the pending event in `slot`.
    pub(super) fn get(&self, slot: u32) -> Option<&P> {
        if Self::ZERO_SIZED {
            return self.zero_sized.last();
        }
        self.slots.get(slot)?.as_ref()
    }

    /// Reads, and changes nothing, the memory `take(slot)` will read; or
    /// prefetches it, given a hint.
    #[inline]
    pub(super) fn touch(&self, slot: u32, hint: Option<crate::Prefetch>) {
        if !Self::ZERO_SIZED {
            match (hint, self.slots.get(slot)) {
                (Some(hint), Some(payload)) => hint(core::ptr::from_ref(payload).cast()),
                (None, payload) => {
                    core::hint::black_box(payload.map(Option::is_some));
                }
                (Some(_), None) => {}
            }
        }
    }

    /// Where the payload of `slot` is kept, if it takes room.
    #[cfg(test)]
    pub(super) fn address(&self, slot: u32) -> Option<usize> {
        let payload = self.slots.get(slot).filter(|_| !Self::ZERO_SIZED)?;
        Some(core::ptr::from_ref(payload).addr())
    }

    /// Payloads kept.
    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        if Self::ZERO_SIZED {
            self.zero_sized.len()
        } else {
            (0..self.slots.len()).filter(|&slot| self.slots[slot].is_some()).count()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Payloads;
    use alloc::rc::Rc;
    use core::sync::atomic::{AtomicU32, Ordering};

    /// Drops of each [`Marker`] type, one per test (tests run at once).
    static DROPPED: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

    /// A zero-sized payload whose drops are counted in `DROPPED[N]`.
    #[derive(Debug)]
    struct Marker<const N: usize>;

    impl<const N: usize> Drop for Marker<N> {
        fn drop(&mut self) {
            DROPPED[N].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn dropped<const N: usize>() -> u32 {
        DROPPED[N].load(Ordering::Relaxed)
    }

    #[test]
    fn sized_payloads_come_back_by_slot() {
        let mut p: Payloads<u64> = Payloads::default();
        p.put(3, 30);
        p.put(0, 0);
        assert_eq!((p.get(3), p.get(0), p.get(1), p.get(9)), (Some(&30), Some(&0), None, None));
        assert_eq!(p.take(3), 30);
        assert_eq!(p.get(3), None);
        p.put(3, 31);
        assert_eq!((p.take(0), p.take(3), p.count()), (0, 31, 0));
        assert!(p.zero_sized.is_empty());
    }

    #[test]
    fn zero_sized_payloads_are_counted_not_stored() {
        let mut p: Payloads<()> = Payloads::default();
        for slot in [5, 1_000_000, 7] {
            p.put(slot, ());
        }
        assert_eq!((p.count(), p.get(5)), (3, Some(&())));
        p.take(1_000_000);
        assert_eq!(p.count(), 2);
        // Nothing by slot, and a `Vec` of a zero-sized type never allocates.
        assert_eq!(p.slots.len(), 0);
        assert_eq!(p.zero_sized.capacity(), usize::MAX);
        p.take(5);
        p.take(7);
        assert_eq!(p.get(7), None);
    }

    #[test]
    fn as_many_zero_sized_payloads_come_back_as_went_in() {
        const { assert!(Payloads::<Marker<0>>::ZERO_SIZED) };
        // `Rc<()>` is a pointer: kept by slot.
        const { assert!(!Payloads::<Rc<()>>::ZERO_SIZED) };
        let mut p: Payloads<Marker<0>> = Payloads::default();
        for slot in 0..4 {
            p.put(slot, Marker);
        }
        drop(p.take(2));
        assert_eq!(dropped::<0>(), 1);
        drop(p);
        assert_eq!(dropped::<0>(), 4, "the three left go with the tracker");
    }

    type Token = Marker<1>;

    /// Through the tracker: a pending event has a payload, a finished one
    /// none, and each `Finish` (confirmed, cancelled) hands back one.
    #[test]
    fn a_tracker_of_zero_sized_payloads_hands_one_back_per_finish() {
        use crate::{Ack, Command, Config, Instant, Seq, SubmitOptions, Tracker, UserId};
        let mut t: Tracker<Token> = Tracker::new(Config::default()).unwrap();
        let now = Instant::ZERO;
        let stream = t.open_stream(now, UserId(1)).unwrap();
        let ids: alloc::vec::Vec<_> = (0..3)
            .map(|_| t.submit(now, stream, Marker, SubmitOptions::default()).unwrap())
            .collect();
        let mut finished = 0;
        let mut drain = |t: &mut Tracker<Token>| {
            while let Some(command) = t.poll_command() {
                if let Command::Finish { payload, .. } = command {
                    finished += 1;
                    drop(payload);
                }
            }
            finished
        };
        assert_eq!(drain(&mut t), 0);
        assert!(ids.iter().all(|&id| t.payload(id).is_some()));
        let ack = Ack { stream, cumulative: Seq(1), ranges: alloc::vec::Vec::new(), echo: None };
        t.handle_ack(now, UserId(1), &ack).unwrap();
        t.cancel(now, ids[2]).unwrap();
        assert_eq!(drain(&mut t), 2);
        assert_eq!(dropped::<1>(), 2);
        assert!(t.payload(ids[0]).is_none() && t.payload(ids[2]).is_none());
        assert!(t.payload(ids[1]).is_some());
        drop(t);
        assert_eq!(dropped::<1>(), 3, "the pending one goes with the tracker");
    }
}
