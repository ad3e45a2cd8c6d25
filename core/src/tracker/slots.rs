//! Which event slot a new event takes: slots come in blocks of [`BLOCK`], and
//! a busy stream takes its events' slots from a block of its own, in order.
//!
//! Why: an in-order ack confirms its stream's oldest event, submitted long
//! ago. With one free list for all streams, a new event takes the slot freed
//! last, by whichever stream was acked last, so a stream's events lie
//! scattered over the slab and every ack reads a cold cache line. From a
//! block of its own, a stream's consecutive events share lines (two 32-byte
//! slots each), so in-order acks read half as many.
//!
//! Memory stays within a 32nd of what one free list gives, plus the
//! open blocks:
//! - Only a busy stream ([`Events::alloc`](super::events::Events::alloc)'s
//!   caller decides) opens a block, and it has at most one open (its
//!   cursor); the open block's untaken slots wait for it alone.
//! - A closed block with free slots is on a list of partly free blocks, whose
//!   slots any event may take one by one (the slot freed last first, while
//!   its line is warm, then the block that became partly free last, lowest
//!   slot first); a block whose every slot is free is on a list of free
//!   blocks, taken whole by a busy stream (or split by a quiet one).
//! - Blocks free up whole only if the slots freed in them are not all taken
//!   one by one at once: with exactly as many slots as events, every new
//!   event would take the slot freed last, and no stream would get a block.
//!   So a busy stream that finds no free block opens a new one while fewer
//!   than one slot in [`SLACK`] is free in a partly free block, and takes
//!   such a slot only past that. A quiet stream's event makes the slab grow
//!   only when no slot is free outside the open blocks.
//! - So the slab holds at most the pending events, plus a 32nd, plus one
//!   open block per busy stream and a block of rounding.

use alloc::vec::Vec;

/// Slots per block (divides the slab's chunk).
pub(super) const BLOCK: u32 = 16;
const _: () = assert!(super::events::CHUNK % BLOCK as usize == 0);
/// No open block (a stream's cursor), no slot freed last.
const NONE: u32 = u32::MAX;
/// A stream's cursor when it has no open block: what a new stream's record
/// starts with.
pub(super) const NO_CURSOR: u32 = NONE;
/// A busy stream that needs a block and finds none free makes the slab
/// grow rather than take a single slot while fewer than one slot in
/// `SLACK` is free: the room in which blocks free up whole (a stream's
/// events are acked a block at a time only if its next block's slots are
/// not taken one by one by other events first).
const SLACK: u64 = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A busy stream's: only its cursor takes slots from it. Its `taken`
    /// holds the slots released since it opened: every slot below the
    /// cursor was taken, so a take writes nothing here (the cursor lives in
    /// the stream's record, which a submit reads anyway), and closing works
    /// out which slots are still taken.
    Open,
    /// Its free slots, if any, may be taken one by one.
    Closed,
    /// Every slot free, on the free-block list.
    Free,
}

#[derive(Clone, Copy, Debug)]
struct Block {
    /// Slots taken (pending, retired, or never reusable), one bit each;
    /// while `Open`, the slots released since it opened instead.
    taken: u16,
    /// On the list of partly free blocks (perhaps stale), so that no block
    /// is listed twice and the list holds at most every block.
    listed: bool,
    state: State,
}

const _: () = assert!(BLOCK == u16::BITS);

#[derive(Debug)]
pub(super) struct SlotAlloc {
    blocks: Vec<Block>,
    /// Closed blocks with free slots, the one that became partly free last
    /// on top. An entry goes stale when its block fills or frees whole (it
    /// is then dropped when it comes to the top).
    partial: Vec<u32>,
    /// Blocks with every slot free.
    free_blocks: Vec<u32>,
    /// Free slots of closed blocks.
    free_singles: u32,
    /// The slot of a closed block freed last (perhaps taken since, or its
    /// block freed whole): taken first, while its cache line is warm.
    hot: u32,
}

/// A slot, and whether the slab must grow by a block to hold it (the new
/// block's slots start at `slot` then).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Taken {
    pub(super) slot: u32,
    pub(super) grew: bool,
}

impl Default for SlotAlloc {
    fn default() -> Self {
        SlotAlloc {
            blocks: Vec::new(),
            partial: Vec::new(),
            free_blocks: Vec::new(),
            free_singles: 0,
            hot: NONE,
        }
    }
}

impl SlotAlloc {
    /// The record [`release`](Self::release) reads for `slot`, if any.
    #[inline]
    pub(super) fn block_record(&self, slot: u32) -> Option<*const u8> {
        self.blocks.get((slot / BLOCK) as usize).map(|b| core::ptr::from_ref(b).cast())
    }

    /// The address of `slot`'s block record (tests: found apart from
    /// `block_record`).
    #[cfg(test)]
    pub(super) fn block_at(&self, slot: u32) -> usize {
        core::ptr::from_ref(&self.blocks[(slot / BLOCK) as usize]).addr()
    }

    /// Slots in the slab.
    pub(super) fn len(&self) -> u32 {
        self.blocks.len() as u32 * BLOCK
    }

    /// A free slot for a new event of the stream whose cursor is `cursor`
    /// (the next slot of its open block, or [`NO_CURSOR`]): from the
    /// stream's own block when it is `busy`.
    #[inline]
    pub(super) fn take(&mut self, cursor: &mut u32, busy: bool) -> Taken {
        if let Some(next) = Self::next_of_block(*cursor, busy) {
            // Marked taken by being below the cursor (see `State::Open`).
            *cursor = next + 1;
            return Taken { slot: next, grew: false };
        }
        self.end_cursor(cursor);
        if busy {
            // A block of its own: a free one, else a new one while little
            // is free, else a single slot.
            let spare = u64::from(self.free_singles) * SLACK >= u64::from(self.len());
            let (block, grew) = match self.free_blocks.pop() {
                Some(block) => (block, false),
                None => match spare.then(|| self.pop_single()).flatten() {
                    Some(slot) => return Taken { slot, grew: false },
                    None => (self.grow(), true),
                },
            };
            let slot = block * BLOCK;
            let b = &mut self.blocks[block as usize];
            b.state = State::Open;
            // None released yet (see `State::Open`).
            b.taken = 0;
            *cursor = slot + 1;
            return Taken { slot, grew };
        }
        if let Some(slot) = self.pop_single() {
            return Taken { slot, grew: false };
        }
        let (block, grew) = match self.free_blocks.pop() {
            Some(block) => (block, false),
            None => (self.grow(), true),
        };
        // The block's first slot taken (a free or new block has none).
        let b = &mut self.blocks[block as usize];
        debug_assert_eq!(b.taken, 0, "a free block with a slot taken");
        b.taken = 1;
        self.close(block);
        Taken { slot: block * BLOCK, grew }
    }

    /// The slot [`take`](Self::take) will hand out for `cursor` and `busy`
    /// when it comes from the stream's open block; `None` when it comes
    /// from the shared lists, which another stream's submit may take first.
    #[inline]
    pub(super) fn next_of_block(cursor: u32, busy: bool) -> Option<u32> {
        (busy && cursor != NONE && cursor % BLOCK != 0).then_some(cursor)
    }

    /// The slot's event is gone and its slot may be reused, unless `dead`
    /// (its generation is exhausted: it stays taken for good).
    #[inline]
    pub(super) fn release(&mut self, slot: u32, dead: bool) {
        if dead {
            return;
        }
        let block = slot / BLOCK;
        let bit = 1 << (slot % BLOCK);
        let b = &mut self.blocks[block as usize];
        if b.state == State::Open {
            // Its stream's cursor has passed it: free for others when the
            // block closes.
            debug_assert!(b.taken & bit == 0, "releasing a slot twice");
            b.taken |= bit;
            return;
        }
        debug_assert!(b.taken & bit != 0, "releasing a free slot");
        b.taken &= !bit;
        match b.state {
            State::Closed if b.taken == 0 => {
                b.state = State::Free;
                self.free_blocks.push(block);
                // Its other slots were free single slots.
                self.free_singles -= BLOCK - 1;
            }
            State::Closed => {
                self.free_singles += 1;
                self.hot = slot;
                if !b.listed {
                    b.listed = true;
                    self.partial.push(block);
                }
            }
            // Open: handled above.
            State::Open | State::Free => debug_assert!(false, "a slot of a free block was taken"),
        }
    }

    /// Closes the stream's open block, if any (the stream closes, or it is
    /// no longer busy): `cursor` is the stream's.
    pub(super) fn end_cursor(&mut self, cursor: &mut u32) {
        if *cursor != NONE {
            // The slot before the cursor is in its block (a cursor at a
            // block's end points at the next block's first slot).
            let block = (*cursor - 1) / BLOCK;
            let handed_out = (*cursor - 1) % BLOCK + 1;
            *cursor = NONE;
            let b = &mut self.blocks[block as usize];
            debug_assert_eq!(b.state, State::Open);
            // Taken: handed out by the cursor and not released since.
            let below = (((1u32 << handed_out) - 1) & 0xffff) as u16;
            b.taken = below & !b.taken;
            self.close(block);
        }
    }

    fn grow(&mut self) -> u32 {
        let block = self.blocks.len() as u32;
        assert!(block < u32::MAX / BLOCK, "event slots exhausted");
        self.blocks.push(Block { taken: 0, listed: false, state: State::Free });
        block
    }

    /// Makes a block's free slots free for any event, or frees it whole.
    fn close(&mut self, block: u32) {
        let b = &mut self.blocks[block as usize];
        if b.taken == 0 {
            b.state = State::Free;
            self.free_blocks.push(block);
            return;
        }
        b.state = State::Closed;
        let free = b.taken.count_zeros();
        if free > 0 {
            self.free_singles += free;
            if !b.listed {
                b.listed = true;
                self.partial.push(block);
            }
        }
    }

    /// The slot freed last if it is still free, else the lowest free slot
    /// of the partly free block on top, if any.
    fn pop_single(&mut self) -> Option<u32> {
        let hot = core::mem::replace(&mut self.hot, NONE);
        if hot != NONE {
            let bit = 1 << (hot % BLOCK);
            let b = &mut self.blocks[(hot / BLOCK) as usize];
            if b.state == State::Closed && b.taken & bit == 0 {
                // If it fills the block, its entry on the list is stale.
                b.taken |= bit;
                self.free_singles -= 1;
                return Some(hot);
            }
        }
        while let Some(&block) = self.partial.last() {
            let b = &mut self.blocks[block as usize];
            if b.state == State::Closed && b.taken != u16::MAX {
                let i = b.taken.trailing_ones();
                b.taken |= 1 << i;
                self.free_singles -= 1;
                if b.taken == u16::MAX {
                    b.listed = false;
                    self.partial.pop();
                }
                return Some(block * BLOCK + i);
            }
            // Stale: it filled, freed whole, or is open again.
            b.listed = false;
            self.partial.pop();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use proptest::prelude::*;

    /// The cursor of a quiet stream, which has no open block.
    fn quiet() -> u32 {
        NO_CURSOR
    }

    #[test]
    fn a_busy_stream_takes_consecutive_slots() {
        let mut a = SlotAlloc::default();
        // Two busy streams interleaved: each gets runs of its own.
        let mut of = [Vec::new(), Vec::new()];
        let mut cursors = [NO_CURSOR; 2];
        for i in 0..4 * BLOCK as usize {
            let stream = i % 2;
            of[stream].push(a.take(&mut cursors[stream], true).slot);
        }
        for slots in &of {
            for pair in slots.windows(2) {
                let same_block = pair[0] / BLOCK == pair[1] / BLOCK;
                assert!(!same_block || pair[1] == pair[0] + 1, "{slots:?}");
            }
            let blocks: BTreeSet<u32> = slots.iter().map(|s| s / BLOCK).collect();
            assert_eq!(blocks.len(), 2, "{slots:?}");
        }
        assert_eq!(a.len(), 4 * BLOCK);
    }

    #[test]
    fn quiet_streams_share_blocks_and_take_the_slot_freed_last_first() {
        let mut a = SlotAlloc::default();
        let slots: Vec<u32> = (0..2 * BLOCK).map(|_| a.take(&mut quiet(), false).slot).collect();
        assert_eq!(slots, (0..2 * BLOCK).collect::<Vec<_>>());
        assert_eq!(a.len(), 2 * BLOCK);
        a.release(9, false);
        a.release(BLOCK + 3, false);
        a.release(5, false);
        // The slot freed last first, then the block that became partly
        // free last (block 1), then block 0's.
        assert_eq!(a.take(&mut quiet(), false).slot, 5);
        assert_eq!(a.take(&mut quiet(), false).slot, BLOCK + 3);
        assert_eq!(a.take(&mut quiet(), false).slot, 9);
        assert_eq!(a.take(&mut quiet(), false), Taken { slot: 2 * BLOCK, grew: true });
    }

    #[test]
    fn a_dead_slot_is_never_taken_again_and_pins_its_block() {
        let mut a = SlotAlloc::default();
        let mut cursor = NO_CURSOR;
        for i in 0..BLOCK {
            assert_eq!(a.take(&mut cursor, true).slot, i);
        }
        a.end_cursor(&mut cursor);
        a.release(3, true);
        for i in (0..BLOCK).filter(|&i| i != 3) {
            a.release(i, false);
        }
        // Never a free block again (slot 3 is dead): quiet takes get its 15
        // other slots, then new blocks.
        let mut taken = BTreeSet::new();
        for _ in 0..2 * BLOCK {
            taken.insert(a.take(&mut quiet(), false).slot);
        }
        assert!(!taken.contains(&3));
        assert_eq!(taken.len(), 2 * BLOCK as usize);
    }

    #[test]
    fn a_free_block_goes_whole_to_a_busy_stream() {
        let mut a = SlotAlloc::default();
        let mut cursor = NO_CURSOR;
        for _ in 0..BLOCK {
            a.take(&mut cursor, true);
        }
        // The cursor sits at the block's end: the next take closes it.
        for i in 0..BLOCK {
            a.release(i, false);
        }
        let t = a.take(&mut cursor, true);
        assert_eq!(t, Taken { slot: 0, grew: false });
        assert_eq!(a.take(&mut cursor, true).slot, 1);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Take { stream: u32, busy: bool },
        Release { pick: usize, dead: bool },
        End { stream: u32 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..6u32, any::<bool>()).prop_map(|(stream, busy)| Op::Take { stream, busy }),
            3 => (any::<usize>(), prop::bool::weighted(0.05))
                .prop_map(|(pick, dead)| Op::Release { pick, dead }),
            1 => (0..6u32).prop_map(|stream| Op::End { stream }),
        ]
    }

    proptest! {
        /// Against a model: a taken slot is never handed out again until
        /// released, a dead one never; the slab grows only when no block is
        /// free and, outside the open blocks (one per cursor), no slot is
        /// free for a quiet stream, fewer than one in `SLACK` for a busy
        /// one.
        #[test]
        fn slots_are_unique_and_the_slab_stays_bounded(
            ops in prop::collection::vec(op(), 1..600),
        ) {
            let mut a = SlotAlloc::default();
            // Each stream's cursor, as its record keeps it.
            let mut cursors = [NO_CURSOR; 6];
            let mut live: Vec<u32> = Vec::new();
            let mut dead: BTreeSet<u32> = BTreeSet::new();
            let mut len = 0;
            for op in ops {
                match op {
                    Op::Take { stream, busy } => {
                        let held = live.len() as u32 + dead.len() as u32;
                        let free = len - held - open_free_slots(&a, &cursors);
                        let free_block = a.blocks.iter().any(|b| b.state == State::Free);
                        let t = a.take(&mut cursors[stream as usize], busy);
                        prop_assert!(!live.contains(&t.slot), "slot {} handed out twice", t.slot);
                        prop_assert!(!dead.contains(&t.slot), "dead slot {} reused", t.slot);
                        if t.grew {
                            prop_assert!(!free_block, "grew with a free block");
                            if busy {
                                let few = u64::from(free) * SLACK < u64::from(len);
                                prop_assert!(free == 0 || few, "grew with {} free of {}", free, len);
                            } else {
                                prop_assert_eq!(free, 0, "grew with {} free slots", free);
                            }
                            prop_assert_eq!(t.slot, len);
                            len += BLOCK;
                        }
                        prop_assert!(t.slot < len);
                        live.push(t.slot);
                    }
                    Op::Release { pick, dead: d } => {
                        if live.is_empty() {
                            continue;
                        }
                        let slot = live.swap_remove(pick % live.len());
                        a.release(slot, d);
                        if d {
                            dead.insert(slot);
                        }
                    }
                    Op::End { stream } => a.end_cursor(&mut cursors[stream as usize]),
                }
                prop_assert_eq!(a.len(), len);
                // One open block per cursor, each a different one.
                let open_blocks: BTreeSet<u32> =
                    cursors.iter().filter(|&&c| c != NONE).map(|c| (c - 1) / BLOCK).collect();
                let with_cursor = cursors.iter().filter(|&&c| c != NONE).count();
                prop_assert_eq!(open_blocks.len(), with_cursor);
                for &block in &open_blocks {
                    prop_assert_eq!(a.blocks[block as usize].state, State::Open);
                }
                let open = a.blocks.iter().filter(|b| b.state == State::Open).count();
                prop_assert_eq!(with_cursor, open);
                // The count of single free slots: every free slot outside
                // the open and the free blocks.
                let held = live.len() as u32 + dead.len() as u32;
                let in_free_blocks =
                    a.blocks.iter().filter(|b| b.state == State::Free).count() as u32 * BLOCK;
                prop_assert_eq!(
                    a.free_singles,
                    len - held - open_free_slots(&a, &cursors) - in_free_blocks
                );
                prop_assert!(a.partial.len() <= a.blocks.len());
                // Every closed block with a free slot can be found.
                for (i, b) in a.blocks.iter().enumerate() {
                    if b.state == State::Closed && b.taken != u16::MAX {
                        prop_assert!(b.listed && a.partial.contains(&(i as u32)));
                    }
                }
            }
        }
    }

    /// Busy streams acked in order, picked at random: each stream's acks
    /// read consecutive slots, in a slab a 32nd bigger at most (and the
    /// open blocks).
    #[test]
    fn in_order_acks_read_each_busy_stream_s_slots_in_order() {
        use alloc::collections::VecDeque;
        let (streams, k) = (30usize, 1000usize);
        let mut a = SlotAlloc::default();
        let mut cursors = alloc::vec![NO_CURSOR; streams];
        let mut pending: Vec<VecDeque<u32>> = (0..streams).map(|_| VecDeque::new()).collect();
        for i in 0..streams * k {
            let s = i % streams;
            let slot = a.take(&mut cursors[s], pending[s].len() >= 128).slot;
            pending[s].push_back(slot);
        }
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut last = alloc::vec![u32::MAX; streams];
        let mut adjacent = 0;
        for _ in 0..3 * streams * k {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let s = (rng % streams as u64) as usize;
            let slot = a.take(&mut cursors[s], true).slot;
            pending[s].push_back(slot);
            let acked = pending[s].pop_front().expect("pending events");
            a.release(acked, false);
            adjacent += usize::from(acked == last[s].wrapping_add(1));
            last[s] = acked;
        }
        // Every stream moves to a new block every 16 acks (and a few
        // blocks are singles while the slab finds its room).
        let steps = 3 * streams * k;
        assert!(adjacent * 100 > steps * 85, "{adjacent} of {steps} acks in the next slot");
        let n = (streams * k) as u32;
        assert!(a.len() <= n + n / 32 + BLOCK * (streams as u32 + 1), "{} slots", a.len());
    }

    /// Free slots of the open blocks, which only their cursors may take
    /// (or, released ones, anyone once the block closes): those not yet
    /// handed out, and those released since.
    fn open_free_slots(a: &SlotAlloc, cursors: &[u32]) -> u32 {
        cursors
            .iter()
            .filter(|&&c| c != NONE)
            .map(|&c| {
                let handed_out = (c - 1) % BLOCK + 1;
                BLOCK - handed_out + a.blocks[((c - 1) / BLOCK) as usize].taken.count_ones()
            })
            .sum()
    }
}
