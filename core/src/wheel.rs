//! A hierarchical timing wheel with packed-array buckets and O(1) removal.
//!
//! Seven levels of 64 slots; level `l` slots are `64^l` µs wide, and each
//! level is a window of 64 slots from the one the current time is in. A
//! timer sits in the lowest level whose window holds it; when time reaches
//! a slot above level 0, its timers move down to where their exact times
//! now belong (a cascade). Timers beyond the top level's window (about 2^42
//! µs, 51 days) wait in an overflow bucket until they enter it. The windows
//! are relative, not aligned blocks, so a timer never sits a level higher
//! than its distance asks because a block boundary lies between (see
//! `level_for`). Each bucket is a `Vec<u32>` of
//! keys; the owner of a key remembers where it sits ([`Pos`]) so that a timer
//! is removed with one `swap_remove`, and no stale entry ever lingers. A
//! bucket gives memory back as it empties (below a quarter full it shrinks to
//! half; emptied, it keeps at most [`KEEP`] keys' room), so the wheel holds
//! at most four slots per live timer plus that small room per bucket,
//! whatever the timeouts and acks do, never the sum of every bucket's
//! busiest moment.
//!
//! A slot of many timers (262,000 in a 262 ms slot at a thousand timers a
//! ms) would move down all in the one call that reaches it. So after a
//! `poll` to `None`, [`spread`](TimerWheel::spread) moves a share of each
//! higher level's next slot down ahead of time, over the calls in the last
//! sixteenth of its width before it comes due; only the timers that do not
//! fit the level below yet are left for its cascade.
//!
//! The wheel never stores times. It asks the owner ([`TimerStore`]) for a key's
//! exact expiry when it cascades the key to a lower level, and tells the owner
//! whenever a key moves. A higher level's window starts earlier than a
//! lower one's, so its first slot may come due first: the next expiry is the
//! earliest of every level's first occupied slot, exact at level 0, a lower
//! bound above it.

use alloc::vec::Vec;

const BITS: u32 = 6;
const SLOTS: usize = 1 << BITS;
const LEVELS: usize = 7;
/// About how far ahead the wheel's levels reach (the top level's window
/// of 64 slots is this wide); timers beyond its window wait in the
/// overflow bucket.
#[cfg(test)]
const BLOCK: u64 = 1 << (BITS as usize * LEVELS);
/// The bucket of timers beyond the top level's window.
const FAR: usize = LEVELS * SLOTS;
/// Buckets in all.
pub(crate) const BUCKETS: usize = FAR + 1;
/// Buckets this long grow by a quarter at a time.
const GROW_SLOWLY_FROM: usize = 1 << 16;
/// An emptied bucket keeps room for up to this many keys (256 bytes; 112 KiB
/// if every bucket was ever used): one that fills and empties with a few
/// dozen timers does not allocate each time. A larger room goes back.
const KEEP: usize = 64;

/// Where a key sits: level, slot, index in the bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    bucket: u16,
    index: u32,
}

impl Pos {
    /// A position that is in no bucket.
    pub(crate) const NONE: Pos = Pos { bucket: u16::MAX, index: 0 };

    pub(crate) fn is_none(self) -> bool {
        self.bucket == u16::MAX
    }

    /// A position from its parts, as [`bucket`](Self::bucket) and
    /// [`index`](Self::index) gave them (for owners that store it packed).
    pub(crate) const fn new(bucket: u16, index: u32) -> Pos {
        Pos { bucket, index }
    }

    /// The bucket: below [`BUCKETS`], or `u16::MAX` for [`Pos::NONE`].
    pub(crate) const fn bucket(self) -> u16 {
        self.bucket
    }

    pub(crate) const fn index(self) -> u32 {
        self.index
    }
}

/// The owner of the keys: knows each key's expiry and records its position.
pub(crate) trait TimerStore {
    /// The exact expiry of `key`, µs.
    fn expiry(&self, key: u32) -> u64;
    /// `key` now sits at `pos`.
    fn set_pos(&mut self, key: u32, pos: Pos);
    /// Moves `key` in a cascade or a spread: `place` takes its exact expiry
    /// and gives its new position, which the owner records, or `None` if it
    /// stays where it is. Returns whether it moved. The same as `expiry`,
    /// then `place`, then `set_pos`; an owner may look the key up once.
    #[inline]
    fn relocate(&mut self, key: u32, place: impl FnOnce(u64) -> Option<Pos>) -> bool {
        let pos = place(self.expiry(key));
        if let Some(pos) = pos {
            self.set_pos(key, pos);
        }
        pos.is_some()
    }
    /// Reads what moving `key` reads first (its expiry), and changes
    /// nothing: a hint. A cascade calls it for each of a run of [`AHEAD`]
    /// keys before it moves them, so that their cache misses overlap.
    #[inline]
    fn touch(&self, key: u32) {
        let _ = key;
    }
}

/// How many keys a cascade [`touch`](TimerStore::touch)es before it moves
/// them.
pub(crate) const AHEAD: usize = 32;

/// The lowest level whose next slot is [`spread`](TimerWheel::spread): a
/// level-1 slot holds 64 µs of timers, few enough to move at once.
const SPREAD_FROM: usize = 2;
/// A slot is spread over the calls in the last `1 / 2^SPREAD_SHIFT` of its
/// width before it comes due (16 ms for the 262 ms level). Its timers in
/// that last part of its width do not fit the level below yet and stay for
/// its cascade, so a larger share would leave more of them, a smaller one
/// would move the rest in fewer calls.
const SPREAD_SHIFT: usize = 4;

/// A level's next slot, being spread: which bucket, and how many of its
/// first keys were looked at and did not fit a lower level yet (the rest
/// have not been looked at).
#[derive(Clone, Copy, Debug)]
struct Spread {
    bucket: u16,
    kept: u32,
}

impl Spread {
    const NONE: Spread = Spread { bucket: u16::MAX, kept: 0 };
}

/// The keys in one slot, and a lower bound on their expiries (exact until
/// one is removed): wake-ups land on it instead of the slot's start.
#[derive(Debug)]
struct Bucket {
    keys: Vec<u32>,
    min: u64,
}

#[derive(Debug)]
pub(crate) struct TimerWheel {
    /// Every timer before this has fired.
    elapsed: u64,
    buckets: Vec<Bucket>,
    /// Per level, a bit per non-empty slot.
    occupied: [u64; LEVELS],
    len: usize,
    /// Per level, the slot [`spread`](Self::spread) works on.
    spread: [Spread; LEVELS],
    /// `now` at the last `spread`.
    spread_last: u64,
    /// `poll`'s scans of every level so far (tests: the shortcut skips them).
    #[cfg(test)]
    scans: u32,
}

impl Default for TimerWheel {
    fn default() -> Self {
        TimerWheel {
            elapsed: 0,
            buckets: (0..=FAR).map(|_| Bucket { keys: Vec::new(), min: u64::MAX }).collect(),
            occupied: [0; LEVELS],
            len: 0,
            spread: [Spread::NONE; LEVELS],
            spread_last: 0,
            #[cfg(test)]
            scans: 0,
        }
    }
}

/// The level `when` (not before `elapsed`) belongs to: the lowest whose
/// window, the 64 slots from the one `elapsed` is in, holds it. `LEVELS`
/// or more if none does (the overflow bucket).
///
/// Relative, not aligned: a timer 10 s ahead sits in the 262 ms level
/// whatever the time, where with aligned blocks (the highest 6-bit group in
/// which `elapsed` and `when` differ) six in ten of them went one level up,
/// into the next 16.8 s slot, and moved down again all at once when time
/// got there (millions of timers in one call at 10M in flight).
#[inline(always)]
fn level_for(elapsed: u64, when: u64) -> usize {
    debug_assert!(when >= elapsed);
    // The level by the distance alone; the window may end one slot short
    // of it when `elapsed` is late in its own slot.
    let distance = (when - elapsed) | (SLOTS as u64 - 1);
    let level = (63 - distance.leading_zeros() as usize) / BITS as usize;
    let shift = level * BITS as usize;
    if (when >> shift) - (elapsed >> shift) < SLOTS as u64 { level } else { level + 1 }
}

fn slot_for(level: usize, when: u64) -> usize {
    ((when >> (level * BITS as usize)) as usize) & (SLOTS - 1)
}

/// Shrinks a bucket that fell to a quarter of its room down to half (never
/// below [`KEEP`]): each shrink copies at most a quarter of the room the
/// removals since the last resize emptied, so it costs O(1) per removal.
#[inline]
fn give_back(keys: &mut Vec<u32>) {
    if keys.capacity() > KEEP && keys.len() * 4 <= keys.capacity() {
        shrink(keys);
    }
}

#[inline(never)]
fn shrink(keys: &mut Vec<u32>) {
    keys.shrink_to((keys.len() * 2).max(KEEP));
}

impl TimerWheel {
    /// Live timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Schedules `key` at `when` µs (clamped to now: a past time fires next).
    #[inline(always)]
    pub(crate) fn insert(&mut self, key: u32, when: u64, store: &mut impl TimerStore) {
        let pos = self.place(key, when);
        store.set_pos(key, pos);
    }

    /// [`insert`](Self::insert) without telling the owner: returns where
    /// `key` sits.
    #[inline(always)]
    fn place(&mut self, key: u32, when: u64) -> Pos {
        let when = when.max(self.elapsed);
        let level = level_for(self.elapsed, when);
        let bucket = if level >= LEVELS {
            FAR
        } else {
            let slot = slot_for(level, when);
            self.occupied[level] |= 1 << slot;
            level * SLOTS + slot
        };
        let Bucket { keys: b, min } = &mut self.buckets[bucket];
        if b.len() == b.capacity() && b.len() >= GROW_SLOWLY_FROM {
            // A bucket can hold every timer (they all sit in one when their
            // times are close): past this size it grows by a quarter, not
            // by doubling, so its slack stays small next to the timers.
            b.reserve_exact(b.len() / 4);
        }
        let index = b.len() as u32;
        b.push(key);
        *min = (*min).min(when);
        self.len += 1;
        Pos { bucket: bucket as u16, index }
    }

    /// Removes `key`, which sits at `pos`. The owner's record of `pos` is
    /// left as it is: the owner either inserts the key again (which records
    /// its new place) or drops the record.
    #[inline(always)]
    pub(crate) fn remove(&mut self, key: u32, pos: Pos, store: &mut impl TimerStore) {
        debug_assert!(!pos.is_none());
        let Bucket { keys: b, min } = &mut self.buckets[pos.bucket as usize];
        debug_assert_eq!(b[pos.index as usize], key);
        b.swap_remove(pos.index as usize);
        if let Some(&moved) = b.get(pos.index as usize) {
            store.set_pos(moved, pos);
        }
        give_back(b);
        if b.is_empty() {
            *min = u64::MAX;
            if (pos.bucket as usize) < FAR {
                let (level, slot) = (pos.bucket as usize / SLOTS, pos.bucket as usize % SLOTS);
                self.occupied[level] &= !(1 << slot);
            }
        }
        self.len -= 1;
    }

    /// The next (level, slot) to fire or cascade, and the earliest time it
    /// can hold: of every level's first occupied slot (and the overflow
    /// bucket), the earliest. Levels are windows from the current time, so
    /// a higher level's slot may come due before a lower level's; on a tie
    /// the higher level goes first (cascaded, its timers join the lower
    /// levels before any of them fires).
    #[inline]
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        let mut next: Option<(usize, usize, u64)> = None;
        for level in 0..LEVELS {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let now_slot = slot_for(level, self.elapsed);
            // Slots at or after the current one, in wheel order: the window's
            // slots in time order, each holding only timers of its own
            // interval, so the first occupied one holds the level's earliest.
            let rotated = occupied.rotate_right(now_slot as u32);
            let distance = rotated.trailing_zeros() as usize;
            let slot = (now_slot + distance) % SLOTS;
            // Its keys' earliest expiry (a lower bound once one was
            // removed), which is within the slot's interval.
            let at = self.buckets[level * SLOTS + slot].min.max(self.elapsed);
            if next.is_none_or(|(_, _, first)| at <= first) {
                next = Some((level, slot, at));
            }
        }
        if !self.buckets[FAR].keys.is_empty() {
            // When the earliest of them enters the top level's window.
            let shift = (LEVELS - 1) * BITS as usize;
            let min = self.buckets[FAR].min;
            let at = ((min >> shift).saturating_sub(SLOTS as u64 - 1) << shift).max(self.elapsed);
            if next.is_none_or(|(_, _, first)| at <= first) {
                next = Some((LEVELS, 0, at));
            }
        }
        next
    }

    /// The earliest time a timer may fire: a lower bound, exact unless timers
    /// were removed from the bucket that holds the next one (waking early
    /// then only moves timers closer).
    pub(crate) fn next_wake(&self) -> Option<u64> {
        self.next_expiration().map(|(_, _, at)| at)
    }

    /// The next key due at or before `now`, or `None`. Cascades higher levels
    /// as time passes. Keys due at the same µs come out in a deterministic order.
    #[inline]
    pub(crate) fn poll(&mut self, now: u64, store: &mut impl TimerStore) -> Option<u32> {
        // More keys due at the µs that fired last (timers set at one `now`
        // share their expiry): without the scan of every level. Level 0's
        // slot of `elapsed` holds only that µs, and everything above level 0
        // is due later: a tie goes to the higher level, so none was left
        // when the last key fired, a timer set since at this µs joins level
        // 0, and a call that returned `None` left nothing due.
        let slot = slot_for(0, self.elapsed);
        if self.elapsed <= now && self.occupied[0] & (1 << slot) != 0 {
            debug_assert_eq!(self.next_expiration(), Some((0, slot, self.elapsed)));
            return Some(self.fire(slot, store));
        }
        loop {
            #[cfg(test)]
            {
                self.scans += 1;
            }
            let (level, slot, deadline) = self.next_expiration()?;
            if deadline > now {
                return None;
            }
            self.elapsed = deadline;
            if level == 0 {
                return Some(self.fire(slot, store));
            }
            self.cascade(level, slot, store);
        }
    }

    /// The key that fires `ahead` keys after the next one, if level 0
    /// holds it already (keys due within its 64 µs window; those still in
    /// higher levels are not looked at). Reads only the wheel; for a
    /// caller that wants to fetch a coming key's records early.
    pub(crate) fn upcoming(&self, ahead: usize) -> Option<u32> {
        let start = slot_for(0, self.elapsed);
        let mut occupied = self.occupied[0].rotate_right(start as u32);
        let mut left = ahead;
        while occupied != 0 {
            let slot = (start + occupied.trailing_zeros() as usize) % SLOTS;
            let keys = &self.buckets[slot].keys;
            // A slot's keys fire from its end.
            if let Some(i) = keys.len().checked_sub(left + 1) {
                return Some(keys[i]);
            }
            left -= keys.len();
            occupied &= occupied - 1;
        }
        None
    }

    /// Work ahead of the cascades, for a caller that polled until `None` at
    /// `now`: moves part of each higher level's next slot down to where its
    /// timers now belong, so that a slot of many timers (262,000 in a 262 ms
    /// slot at a thousand timers a ms) moves over the calls before it comes
    /// due instead of all in the one call that reaches it.
    ///
    /// A slot is spread over the last sixteenth of its width before its
    /// earliest time (`SPREAD_SHIFT`); each call looks at a share of the
    /// keys not yet looked at in proportion to the time since the last
    /// call, so calls at a steady rate share the work evenly. A key that
    /// does not fit a lower level yet (its time is in the last part of
    /// the slot) stays and moves with the slot's cascade. Nothing fires and
    /// no expiry changes: keys only move down, each to where an insert
    /// would put it now. Before a key moves, time moves to `now`: nothing
    /// is due before it, and the lower levels' windows then reach further.
    pub(crate) fn spread(&mut self, now: u64, store: &mut impl TimerStore) {
        let last = self.spread_last;
        // Whether nothing is due and time moved to `now`: checked once, when
        // a slot is near (in most calls none is).
        let mut idle = false;
        for level in SPREAD_FROM..LEVELS {
            let occupied = self.occupied[level];
            if occupied == 0 {
                continue;
            }
            let now_slot = slot_for(level, self.elapsed);
            let slot = (now_slot
                + occupied.rotate_right(now_slot as u32).trailing_zeros() as usize)
                % SLOTS;
            let bucket = level * SLOTS + slot;
            let at = self.buckets[bucket].min.max(self.elapsed);
            let start = at.saturating_sub(1 << (level * BITS as usize - SPREAD_SHIFT));
            if now < start {
                continue;
            }
            if !idle {
                if self.next_expiration().is_some_and(|(_, _, at)| at <= now) {
                    // Something is due: the caller did not poll until `None`.
                    return;
                }
                // Nothing is due before `now`: the same first slots, and
                // the lower levels' windows reach further.
                self.elapsed = self.elapsed.max(now);
                idle = true;
            }
            if usize::from(self.spread[level].bucket) != bucket {
                self.spread[level] = Spread { bucket: bucket as u16, kept: 0 };
            }
            // The keys not yet looked at, times the share of the time left
            // until the slot is due that passed since the last call.
            let len = self.buckets[bucket].keys.len();
            let fresh = len - (self.spread[level].kept as usize).min(len);
            // Since the last call, or the horizon's start; never after `now`
            // (an owner whose clock went back gets no share, not a panic).
            let from = last.min(now).max(start);
            let share = u128::from(now - from);
            let left = u128::from(at - from);
            let count = (fresh as u128 * share).div_ceil(left) as usize;
            if count > 0 {
                self.spread_slot(level, slot, count, store);
            }
        }
        self.spread_last = now;
    }

    /// Looks at `count` keys of `level`'s `slot` not yet looked at (see
    /// [`spread`](Self::spread)) and moves those that fit a lower level now.
    #[inline(never)]
    fn spread_slot(
        &mut self,
        level: usize,
        slot: usize,
        count: usize,
        store: &mut impl TimerStore,
    ) {
        let bucket = level * SLOTS + slot;
        let mut keys = core::mem::take(&mut self.buckets[bucket].keys);
        // Keys before `kept` were looked at and stay; a key that moves
        // leaves its place to the last key, looked at next.
        let mut kept = (self.spread[level].kept as usize).min(keys.len());
        // `keys[kept]` came from the end, and its owner does not know yet.
        let mut untold = false;
        let mut left = count;
        // Keys that stayed in the last run: the run after it looks at about
        // as many of the first keys not looked at (one after each that
        // stays), the rest at the last keys, which fill the places of
        // those that move.
        let mut stayed = 0;
        while left > 0 && kept < keys.len() {
            // A run: the keys it will likely look at are touched first, so
            // that their cache misses overlap (as in a cascade).
            let run = AHEAD.min(left);
            left -= run;
            let len = keys.len();
            let front = len.min(kept + run.min(stayed + 1));
            for &key in &keys[kept..front] {
                store.touch(key);
            }
            for &key in &keys[len.saturating_sub(run).max(front)..] {
                store.touch(key);
            }
            stayed = 0;
            for _ in 0..run {
                let Some(&key) = keys.get(kept) else { break };
                let elapsed = self.elapsed;
                let moved = store.relocate(
                    key,
                    #[inline(always)]
                    |when| (level_for(elapsed, when) < level).then(|| self.place(key, when)),
                );
                if moved {
                    keys.swap_remove(kept);
                    untold = kept < keys.len();
                    // `place` counted it again.
                    self.len -= 1;
                } else {
                    if untold {
                        store.set_pos(key, Pos { bucket: bucket as u16, index: kept as u32 });
                        untold = false;
                    }
                    kept += 1;
                    stayed += 1;
                }
            }
        }
        if untold {
            store.set_pos(keys[kept], Pos { bucket: bucket as u16, index: kept as u32 });
        }
        self.spread[level].kept = kept as u32;
        if keys.is_empty() {
            // As a cascade leaves it.
            self.occupied[level] &= !(1 << slot);
            self.buckets[bucket].min = u64::MAX;
            self.spread[level] = Spread::NONE;
            keys.shrink_to(KEEP);
        } else {
            give_back(&mut keys);
        }
        self.buckets[bucket].keys = keys;
    }

    /// Takes a key from level 0's `slot`, which holds keys due at `elapsed`.
    #[inline(always)]
    fn fire(&mut self, slot: usize, store: &mut impl TimerStore) -> u32 {
        let b = &mut self.buckets[slot];
        let key = b.keys.pop().expect("occupied slot has a key");
        if b.keys.is_empty() {
            // Its keys all fire at this µs: give the room back once.
            give_back(&mut b.keys);
            self.occupied[0] &= !(1 << slot);
            b.min = u64::MAX;
        }
        self.len -= 1;
        debug_assert!(store.expiry(key) <= self.elapsed);
        store.set_pos(key, Pos::NONE);
        key
    }

    /// Empties a higher-level slot (or, at `LEVELS`, the overflow bucket)
    /// that time has reached: moves all its timers down to where their
    /// exact times now belong (each to a lower level; from the overflow
    /// bucket, those still beyond the top window go back to it).
    #[inline(never)]
    fn cascade(&mut self, level: usize, slot: usize, store: &mut impl TimerStore) {
        let bucket = if level == LEVELS { FAR } else { level * SLOTS + slot };
        if level < LEVELS {
            self.occupied[level] &= !(1 << slot);
            if usize::from(self.spread[level].bucket) == bucket {
                self.spread[level] = Spread::NONE;
            }
        }
        let mut keys = core::mem::take(&mut self.buckets[bucket].keys);
        self.buckets[bucket].min = u64::MAX;
        self.len -= keys.len();
        // In runs of `AHEAD`: every key of the run touched first, so that
        // their cache misses overlap, then each moved.
        for run in keys.chunks(AHEAD) {
            for &key in run {
                store.touch(key);
            }
            for &key in run {
                store.relocate(
                    key,
                    #[inline(always)]
                    |when| Some(self.place(key, when)),
                );
            }
        }
        keys.clear();
        if self.buckets[bucket].keys.is_empty() {
            // Keep room for the next time this slot fills, at most `KEEP`
            // keys' (as a bucket emptied by firing or removal does): a slot
            // that fills to a few hundred keys each turn then grows from
            // there, not from nothing (six allocations for 128 keys).
            keys.shrink_to(KEEP);
            self.buckets[bucket].keys = keys;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec;
    use proptest::prelude::*;

    #[derive(Default)]
    struct Store {
        expiry: Vec<u64>,
        pos: Vec<Pos>,
    }

    impl TimerStore for Store {
        fn expiry(&self, key: u32) -> u64 {
            self.expiry[key as usize]
        }
        fn set_pos(&mut self, key: u32, pos: Pos) {
            self.pos[key as usize] = pos;
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64),
        Remove(usize),
        Advance(u64),
        /// `spread` at the current time (a no-op if something is due).
        Spread,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => prop_oneof![0u64..100, 0u64..10_000, 0u64..10_000_000, 0u64..(1 << 44)].prop_map(Op::Insert),
            1 => any::<usize>().prop_map(Op::Remove),
            3 => prop_oneof![0u64..100, 0u64..100_000, 0u64..(1 << 40)].prop_map(Op::Advance),
            2 => Just(Op::Spread),
        ]
    }

    /// Runs `ops` against the wheel and a sorted set of (time, key): the
    /// wheel fires exactly what the set says is due, never early, and its
    /// wake-up never comes after a due timer.
    fn agrees_with_the_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
        let mut wheel = TimerWheel::default();
        let mut store = Store::default();
        let mut model: BTreeSet<(u64, u32)> = BTreeSet::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Insert(delta) => {
                    let key = store.expiry.len() as u32;
                    let when = now + delta;
                    store.expiry.push(when);
                    store.pos.push(Pos::NONE);
                    wheel.insert(key, when, &mut store);
                    model.insert((when, key));
                }
                Op::Remove(i) => {
                    if model.is_empty() {
                        continue;
                    }
                    let &(when, key) = model.iter().nth(i % model.len()).unwrap();
                    model.remove(&(when, key));
                    let pos = store.pos[key as usize];
                    wheel.remove(key, pos, &mut store);
                    store.pos[key as usize] = Pos::NONE;
                }
                Op::Advance(delta) => {
                    now += delta;
                    if let (Some(wake), Some(&(first, _))) = (wheel.next_wake(), model.first()) {
                        prop_assert!(wake <= first, "wake {} after due {}", wake, first);
                    }
                    let mut fired = vec![];
                    while let Some(key) = wheel.poll(now, &mut store) {
                        fired.push((store.expiry[key as usize], key));
                    }
                    let due: Vec<_> =
                        model.iter().take_while(|(w, _)| *w <= now).copied().collect();
                    let mut sorted = fired.clone();
                    sorted.sort();
                    prop_assert_eq!(&sorted, &due);
                    // Fired in time order.
                    prop_assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0));
                    for d in &due {
                        model.remove(d);
                    }
                }
                Op::Spread => {
                    let (before, elapsed) = (store.pos.clone(), wheel.elapsed);
                    // A timer due, or a cascade (an insert since the last
                    // poll may need one): `poll` has work first.
                    let wake = wheel.next_wake();
                    let due = wake.is_some_and(|wake| wake <= now);
                    wheel.spread(now, &mut store);
                    // The wake-up may only become more exact.
                    prop_assert!(wheel.next_wake() >= wake);
                    if due {
                        // Not after a poll to `None`: nothing changes.
                        prop_assert_eq!(&store.pos, &before);
                        prop_assert_eq!(wheel.elapsed, elapsed);
                    } else {
                        // Moved to `now` if a slot was near, else left.
                        prop_assert!([elapsed, elapsed.max(now)].contains(&wheel.elapsed));
                    }
                }
            }
            prop_assert_eq!(wheel.len(), model.len());
            for &(when, key) in &model {
                let pos = store.pos[key as usize];
                prop_assert!(!pos.is_none());
                prop_assert_eq!(wheel.buckets[pos.bucket as usize].keys[pos.index as usize], key);
                // Each timer in its level's window, in the slot of its time.
                prop_assert!(when >= wheel.elapsed);
                let (level, slot) = (pos.bucket as usize / SLOTS, pos.bucket as usize % SLOTS);
                if level < LEVELS {
                    let shift = level * BITS as usize;
                    prop_assert!((when >> shift) - (wheel.elapsed >> shift) < SLOTS as u64);
                    prop_assert_eq!(slot_for(level, when), slot);
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn agrees_with_a_sorted_set(ops in proptest::collection::vec(op(), 1..200)) {
            agrees_with_the_model(ops)?;
        }
    }

    /// Levels are windows from the current time: a timer 10 s ahead (the
    /// 10M retry storm's timeout) sits in the 262 ms level whatever the
    /// time, never in the 16.8 s level above it, from which millions of
    /// them once moved down in one call.
    #[test]
    fn a_timer_ten_seconds_ahead_sits_in_the_262_ms_level_at_any_time() {
        let ten_s = 10_000_000;
        for elapsed in (0..40_000_000u64).step_by(997).chain([(1 << 24) - 1, 1 << 24, u64::MAX / 2])
        {
            assert_eq!(level_for(elapsed, elapsed + ten_s), 3, "at {elapsed}");
        }
        // The window's edges: 64 slots from the current one, not 64 slot
        // widths from the current time.
        assert_eq!(level_for(63, 63 + 63), 0);
        assert_eq!(level_for(63, 64 + 63), 1);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(100, 100), 0);
        assert_eq!(level_for(0, (64 << 36) - 1), LEVELS - 1);
        assert_eq!(level_for(0, 64 << 36), LEVELS);
        // Past the top level: the overflow bucket.
        assert!(level_for(0, u64::MAX) >= LEVELS);
    }

    /// A higher level's slot can come due before a lower level's: it is
    /// cascaded first, and its timer fires first.
    #[test]
    fn a_higher_levels_slot_due_first_fires_first() {
        let mut wheel = TimerWheel::default();
        let mut store = Store { expiry: vec![64, 70], pos: vec![Pos::NONE; 2] };
        // At 0, 64 is past the 0-63 window of level 0.
        wheel.insert(0, 64, &mut store);
        assert_eq!(wheel.poll(10, &mut store), None);
        // At 10, 70 is in level 0's window, later than 64.
        wheel.insert(1, 70, &mut store);
        assert_eq!(wheel.next_wake(), Some(64));
        assert_eq!(wheel.poll(100, &mut store), Some(0));
        assert_eq!(wheel.poll(100, &mut store), Some(1));
        assert_eq!(wheel.poll(100, &mut store), None);
        let ops =
            vec![Op::Insert(64), Op::Advance(10), Op::Insert(60), Op::Advance(54), Op::Advance(6)];
        agrees_with_the_model(ops).unwrap();
    }

    /// Keys that share a µs fire one per poll, each only when `now` has
    /// reached it (the shortcut for a µs that fired last included), and a
    /// key set at that µs while it fires joins them.
    #[test]
    fn keys_due_at_one_microsecond_fire_each_when_due() {
        let mut wheel = TimerWheel::default();
        let mut store = Store { expiry: vec![100, 100, 100, 50], pos: vec![Pos::NONE; 4] };
        for key in 0..3 {
            wheel.insert(key, 100, &mut store);
        }
        // Level 1 holds them: one scan finds nothing due, then one finds the
        // slot to cascade and one the level-0 slot to fire.
        assert_eq!(wheel.poll(99, &mut store), None);
        assert_eq!(wheel.scans, 1);
        assert_eq!(wheel.poll(100, &mut store), Some(2));
        assert_eq!(wheel.scans, 3);
        // The next ones without a scan of every level.
        assert_eq!(wheel.poll(100, &mut store), Some(1));
        assert_eq!(wheel.scans, 3, "the shortcut");
        // A clock that went back: nothing is due yet at 99.
        assert_eq!(wheel.poll(99, &mut store), None);
        // Set at the µs that is firing (or before it: clamped to it).
        wheel.insert(3, 50, &mut store);
        assert_eq!(wheel.poll(100, &mut store), Some(3));
        assert_eq!(wheel.poll(100, &mut store), Some(0));
        assert_eq!(wheel.poll(100, &mut store), None);
        assert_eq!(wheel.len(), 0);
        assert_eq!(wheel.next_wake(), None);
    }

    /// `upcoming(d)` names the key that fires `d` keys after the next one
    /// while level 0 holds it (several keys sharing a µs among them), and
    /// nothing past level 0's keys: a key in a higher level is not looked at.
    #[test]
    fn upcoming_names_the_keys_level_0_fires_next_in_order() {
        let n = 31u32;
        // Key 0 fires at 1000 first, so that level 0's window starts
        // mid-way (slot 40); keys 1..=30 fall in it (1001..=1023, some
        // sharing a µs); key 31 is in level 1.
        let mut expiry = vec![1000];
        expiry.extend((1..n).map(|k| 1001 + u64::from(k * 7 % 23)));
        expiry.push(5000);
        let mut store = Store { expiry: expiry.clone(), pos: vec![Pos::NONE; expiry.len()] };
        let mut wheel = TimerWheel::default();
        wheel.insert(0, 1000, &mut store);
        assert_eq!(wheel.poll(1000, &mut store), Some(0));
        for key in 1..=n {
            wheel.insert(key, expiry[key as usize], &mut store);
        }
        let ahead: Vec<Option<u32>> = (0..n as usize + 2).map(|d| wheel.upcoming(d)).collect();
        let mut order = Vec::new();
        while let Some(key) = wheel.poll(1023, &mut store) {
            order.push(key);
            if order.len() == 10 {
                // Part-way, from the keys left.
                for d in 0..25 {
                    assert_eq!(wheel.upcoming(d), order_after(&store, 1023, &order, d));
                }
            }
        }
        assert_eq!(order.len(), n as usize - 1);
        for (d, up) in ahead.iter().enumerate() {
            assert_eq!(*up, order.get(d).copied(), "{d} ahead");
        }
        assert_eq!(wheel.upcoming(0), None, "key 31 is in level 1");
    }

    /// The key that fires `d` keys after the ones in `fired`, among keys
    /// due by `now`: by expiry, later-inserted first within a µs (as a
    /// slot's keys fire from its end). A model for the test above.
    fn order_after(store: &Store, now: u64, fired: &[u32], d: usize) -> Option<u32> {
        let mut left: Vec<u32> = (1..store.expiry.len() as u32)
            .filter(|k| store.expiry[*k as usize] <= now && !fired.contains(k))
            .collect();
        left.sort_by_key(|&k| (store.expiry[k as usize], core::cmp::Reverse(k)));
        left.get(d).copied()
    }

    /// Timers beyond the top level's window wait in the overflow bucket
    /// until the earliest of them enters that window (the 64 slots of
    /// 2^36 µs from the current one), then move into the levels.
    #[test]
    fn the_overflow_bucket_moves_its_timers_in_when_they_enter_the_top_window() {
        let mut wheel = TimerWheel::default();
        let far = 1u64 << 43;
        let mut store = Store { expiry: vec![far, far + 5], pos: vec![Pos::NONE; 2] };
        for key in 0..2 {
            wheel.insert(key, store.expiry[key as usize], &mut store);
            assert_eq!(store.pos[key as usize].bucket() as usize, FAR);
        }
        // 2^43 is slot 128 of 2^36 µs: in the window from slot 65 on.
        let enters = 65u64 << 36;
        assert_eq!(wheel.next_wake(), Some(enters));
        assert_eq!(wheel.poll(enters - 1, &mut store), None);
        assert_eq!(store.pos[0].bucket() as usize, FAR, "not moved before");
        assert_eq!(wheel.poll(enters, &mut store), None);
        assert_eq!(store.pos[0].bucket() as usize, (LEVELS - 1) * SLOTS);
        assert_eq!(wheel.next_wake(), Some(far));
        assert_eq!(wheel.poll(far, &mut store), Some(0));
        assert_eq!(wheel.poll(far + 5, &mut store), Some(1));
    }

    /// The failure proptest once found (`proptest-regressions/wheel.txt`), as
    /// a plain test: a timer due exactly at the next block, inserted after
    /// time has moved.
    #[test]
    fn a_timer_due_at_the_next_block_after_time_moved_fires_exactly() {
        let ops = vec![Op::Insert(1), Op::Advance(1), Op::Insert(BLOCK - 1), Op::Advance(0)];
        agrees_with_the_model(ops).unwrap();
    }

    #[test]
    fn a_large_bucket_grows_by_a_quarter_and_keeps_every_timer() {
        let n = 200_000u32;
        let mut wheel = TimerWheel::default();
        let mut store = Store { expiry: vec![], pos: vec![] };
        for key in 0..n {
            // All in one high-level bucket.
            store.expiry.push(1_000_000_000 + u64::from(key));
            store.pos.push(Pos::NONE);
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        let bucket = store.pos[0].bucket as usize;
        assert!(store.pos.iter().all(|p| p.bucket as usize == bucket));
        let capacity = wheel.buckets[bucket].keys.capacity();
        assert!(capacity < n as usize * 5 / 4 + 1, "capacity {capacity} for {n}");
        // Remove every third, then every other timer fires, in time order.
        for key in (0..n).step_by(3) {
            wheel.remove(key, store.pos[key as usize], &mut store);
        }
        let mut fired = vec![];
        while let Some(key) = wheel.poll(u64::MAX, &mut store) {
            fired.push(key);
        }
        let expected: Vec<u32> = (0..n).filter(|k| k % 3 != 0).collect();
        assert_eq!(fired, expected);
        assert_eq!(wheel.len(), 0);
    }

    /// The room the wheel's buckets hold, in keys.
    fn room(wheel: &TimerWheel) -> usize {
        wheel.buckets.iter().map(|b| b.keys.capacity()).sum()
    }

    #[test]
    fn a_bucket_gives_its_room_back_as_timers_are_removed() {
        let n = 100_000u32;
        let mut wheel = TimerWheel::default();
        let mut store = Store::default();
        for key in 0..n {
            // All in one level-2 bucket (4096 µs wide).
            store.expiry.push(30 * 4096 + u64::from(key % 4000));
            store.pos.push(Pos::NONE);
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        let bucket = store.pos[0].bucket as usize;
        assert!(store.pos.iter().all(|p| p.bucket as usize == bucket));
        assert!(room(&wheel) >= n as usize);
        // Remove all but 100, checking the bound as they go: never more
        // than four slots per live timer (beyond the room every bucket keeps).
        for key in 100..n {
            wheel.remove(key, store.pos[key as usize], &mut store);
            let live = wheel.len();
            assert!(room(&wheel) <= 4 * live + KEEP, "room {} for {live} timers", room(&wheel));
        }
        // The positions recorded before and after each shrink still hold:
        // the rest fire, in time order.
        let mut fired = vec![];
        while let Some(key) = wheel.poll(u64::MAX, &mut store) {
            fired.push(key);
        }
        let mut expected: Vec<u32> = (0..100).collect();
        expected.sort_by_key(|&k| (store.expiry[k as usize], k));
        fired.sort_by_key(|&k| (store.expiry[k as usize], k));
        assert_eq!(fired, expected);
        assert_eq!(wheel.len(), 0);
        // Empty again, every bucket the timers passed through kept at most
        // `KEEP` slots.
        assert!(wheel.buckets.iter().all(|b| b.keys.capacity() <= KEEP));
    }

    #[test]
    fn a_bucket_shrinks_to_half_once_a_quarter_full_not_before() {
        let mut wheel = TimerWheel::default();
        let mut store = Store::default();
        for key in 0..256u32 {
            store.expiry.push(30 * 4096 + u64::from(key));
            store.pos.push(Pos::NONE);
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        let bucket = store.pos[0].bucket as usize;
        let room = |wheel: &TimerWheel| wheel.buckets[bucket].keys.capacity();
        assert_eq!(room(&wheel), 256);
        // (timers left, room): the room halves when a quarter is left, and
        // stays until the next quarter (hysteresis: no resize per removal),
        // never below `KEEP`.
        let mut key = 256;
        for (left, expected) in [(65, 256), (64, 128), (33, 128), (32, 64), (1, 64), (0, 64)] {
            while wheel.len() > left {
                key -= 1;
                wheel.remove(key, store.pos[key as usize], &mut store);
            }
            assert_eq!(room(&wheel), expected, "{left} timers left");
        }
    }

    #[test]
    fn a_small_bucket_keeps_its_room_when_it_empties() {
        // 50 timers at one µs fill one level-0 bucket, then fire: the bucket
        // keeps its room for the next 50 instead of allocating again.
        let mut wheel = TimerWheel::default();
        let mut store = Store::default();
        for key in 0..50u32 {
            store.expiry.push(40);
            store.pos.push(Pos::NONE);
            wheel.insert(key, 40, &mut store);
        }
        let bucket = store.pos[0].bucket as usize;
        let before = wheel.buckets[bucket].keys.capacity();
        assert!(before >= 50);
        let mut fired = 0;
        while wheel.poll(40, &mut store).is_some() {
            fired += 1;
        }
        assert_eq!(fired, 50);
        assert_eq!(wheel.buckets[bucket].keys.capacity(), before);
    }

    /// A higher-level slot that cascades more than `KEEP` timers keeps
    /// `KEEP` keys' room, not none and not all.
    #[test]
    fn a_cascaded_bucket_keeps_room_for_keep_keys() {
        let mut wheel = TimerWheel::default();
        let mut store = Store::default();
        for key in 0..200u32 {
            // 1,000-1,007 µs: one slot of level 1 (960-1,023).
            store.expiry.push(1_000 + u64::from(key % 8));
            store.pos.push(Pos::NONE);
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        let bucket = store.pos[0].bucket as usize;
        assert_eq!(bucket, SLOTS + 15);
        assert!(store.pos.iter().all(|p| p.bucket as usize == bucket));
        assert!(wheel.buckets[bucket].keys.capacity() >= 200);
        // Time reaches the slot: its timers move down, one due fires.
        let key = wheel.poll(1_000, &mut store).expect("due at 1,000");
        assert_eq!(store.expiry[key as usize], 1_000);
        assert!(wheel.buckets[bucket].keys.is_empty());
        assert_eq!(wheel.buckets[bucket].keys.capacity(), KEEP);
    }

    #[test]
    fn buckets_emptied_by_firing_or_cascading_keep_little_room() {
        // Waves of timers, each wave in one bucket that cascades down and
        // fires: the room afterwards does not grow with the waves' sizes.
        let mut wheel = TimerWheel::default();
        let mut store = Store::default();
        let mut now = 0;
        for wave in 0..20u64 {
            let size = 1_000 * (wave + 1);
            for i in 0..size {
                let key = store.expiry.len() as u32;
                store.expiry.push(now + 300_000 + i % 7);
                store.pos.push(Pos::NONE);
                wheel.insert(key, store.expiry[key as usize], &mut store);
            }
            now += 1_000_000;
            let mut fired = 0;
            while wheel.poll(now, &mut store).is_some() {
                fired += 1;
            }
            assert_eq!(fired, size);
            assert!(room(&wheel) <= BUCKETS * KEEP, "room {} after wave {wave}", room(&wheel));
        }
    }

    /// `BLOCK` is the top level's reach from time 0: its last µs sits in
    /// the top level, the next one in the overflow bucket.
    #[test]
    fn a_timer_at_the_last_micro_of_the_block_fires_exactly_then() {
        let mut wheel = TimerWheel::default();
        let last = BLOCK - 1;
        let mut store = Store { expiry: vec![last, BLOCK], pos: vec![Pos::NONE; 2] };
        for key in 0..2 {
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        assert_eq!(store.pos[0].bucket() as usize / SLOTS, LEVELS - 1);
        assert_eq!(store.pos[1].bucket() as usize, FAR);
        assert_eq!(wheel.poll(last - 1, &mut store), None);
        assert_eq!(wheel.poll(last, &mut store), Some(0));
        assert_eq!(wheel.poll(last, &mut store), None);
        assert_eq!(wheel.poll(BLOCK, &mut store), Some(1));
    }

    /// A store that notes the keys the wheel touches, how many of them were
    /// not in the wheel when touched, and how many keys it moved untouched.
    #[derive(Default)]
    struct TouchStore {
        inner: Store,
        touched: core::cell::RefCell<Vec<u32>>,
        outside: core::cell::Cell<u32>,
        moved_untouched: u32,
    }

    impl TimerStore for TouchStore {
        fn expiry(&self, key: u32) -> u64 {
            self.inner.expiry(key)
        }
        fn set_pos(&mut self, key: u32, pos: Pos) {
            self.inner.set_pos(key, pos);
        }
        fn relocate(&mut self, key: u32, place: impl FnOnce(u64) -> Option<Pos>) -> bool {
            if !self.touched.borrow().contains(&key) {
                self.moved_untouched += 1;
            }
            let pos = place(self.expiry(key));
            if let Some(pos) = pos {
                self.set_pos(key, pos);
            }
            pos.is_some()
        }
        fn touch(&self, key: u32) {
            if self.inner.pos[key as usize].is_none() {
                self.outside.set(self.outside.get() + 1);
            }
            self.touched.borrow_mut().push(key);
        }
    }

    #[test]
    fn a_cascade_touches_each_key_once_before_moving_it() {
        // 200 keys due within one level-2 slot: they cascade together, more
        // than one run of `AHEAD`, then fire from level 0.
        let n = 200u32;
        let mut store = TouchStore::default();
        store.inner.expiry = (0..n).map(|k| 4096 + u64::from(k * 7 % 64)).collect();
        store.inner.pos = vec![Pos::NONE; n as usize];
        let mut wheel = TimerWheel::default();
        for key in 0..n {
            wheel.insert(key, store.inner.expiry[key as usize], &mut store);
        }
        assert!(store.touched.borrow().is_empty(), "inserting touches nothing");
        let mut fired = Vec::new();
        while let Some(key) = wheel.poll(4096 + 63, &mut store) {
            fired.push(key);
        }
        assert_eq!(fired.len(), n as usize);
        let expiries: Vec<u64> = fired.iter().map(|&k| store.inner.expiry[k as usize]).collect();
        assert!(expiries.windows(2).all(|w| w[0] <= w[1]), "they fire in time order");
        assert_eq!(store.outside.get(), 0, "every key touched was in the wheel");
        assert_eq!(store.moved_untouched, 0, "every key moved was touched first");
        let touched: BTreeSet<u32> = store.touched.borrow().iter().copied().collect();
        assert_eq!(touched.len(), n as usize, "every key was touched");
        assert_eq!(store.touched.borrow().len(), n as usize, "each key once");
    }

    #[test]
    fn far_timers_cascade_down_exactly() {
        let mut wheel = TimerWheel::default();
        let mut store = Store { expiry: vec![1 << 43, 5, 70_000], pos: vec![Pos::NONE; 3] };
        for key in 0..3 {
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        assert_eq!(wheel.next_wake(), Some(5));
        assert_eq!(wheel.poll(4, &mut store), None);
        assert_eq!(wheel.poll(5, &mut store), Some(1));
        assert_eq!(wheel.poll(69_999, &mut store), None);
        assert!(wheel.next_wake().unwrap() <= 70_000);
        assert_eq!(wheel.poll(70_000, &mut store), Some(2));
        assert_eq!(wheel.poll((1 << 43) - 1, &mut store), None);
        assert_eq!(wheel.poll(1 << 43, &mut store), Some(0));
        assert_eq!(wheel.len(), 0);
    }

    /// The 262 ms level's slot: its start, and how long before it `spread`
    /// begins (a sixteenth of its width).
    const SLOT3: u64 = 1 << 18;
    const HORIZON3: u64 = SLOT3 >> SPREAD_SHIFT;

    /// A full 262 ms slot (a timer every 64 µs across it, in time order,
    /// as a steady rate of timeouts fills it) moves down a share at a time
    /// over the calls of the 16 ms before it comes due, not all in the call
    /// that reaches it; and every timer still fires exactly at its time.
    #[test]
    fn a_full_slot_moves_down_over_the_calls_before_it_comes_due() {
        const N: u64 = SLOT3 / 64;
        let start = 2 * SLOT3;
        let mut wheel = TimerWheel::default();
        let mut store = Store {
            expiry: (0..N).map(|i| start + 64 * i).collect(),
            pos: vec![Pos::NONE; N as usize],
        };
        for key in 0..N as u32 {
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        let bucket = 3 * SLOTS + slot_for(3, start);
        assert_eq!(wheel.buckets[bucket].keys.len(), N as usize);
        let (mut now, mut fired) = (0, 0);
        let mut moved_per_call = vec![];
        let mut left_at_due = None;
        while fired < N {
            now += 1000;
            let before = wheel.buckets[bucket].keys.len();
            if now >= start && left_at_due.is_none() {
                left_at_due = Some(before);
            }
            while let Some(key) = wheel.poll(now, &mut store) {
                let when = store.expiry[key as usize];
                assert!(when <= now && when > now - 1000, "{key} at {when} fired at {now}");
                fired += 1;
            }
            wheel.spread(now, &mut store);
            let after = wheel.buckets[bucket].keys.len();
            // The level's state names the slot while it is spread, and
            // goes with the slot's cascade (a slot refilled a turn later
            // starts afresh).
            let spreading = (start - HORIZON3..start).contains(&now);
            assert_eq!(usize::from(wheel.spread[3].bucket) == bucket, spreading, "at {now}");
            if now < start {
                if now < start - HORIZON3 {
                    assert_eq!(after, N as usize, "moved at {now}, before the horizon");
                } else {
                    moved_per_call.push(before - after);
                }
            }
        }
        assert_eq!(wheel.len(), 0);
        // 17 calls in the horizon (the first 96 µs into it); each moved
        // some and none more than an eighth of the slot (about twice the
        // even share: 12, 125, 131, then 250 each).
        assert_eq!(moved_per_call.len(), 17);
        assert!(moved_per_call.iter().all(|&m| m > 0 && m <= N as usize / 8), "{moved_per_call:?}");
        // What was left for the cascade (328 of 4,096): timers of the
        // slot's last 16 ms, which did not fit the level below when looked
        // at (a moved timer's place goes to the last one, and in time order
        // the last ones are those that do not fit yet).
        let left = left_at_due.unwrap();
        assert!(left > 0 && left <= N as usize / 8, "{left} of {N} left for the cascade");
    }

    /// A timer that does not fit the level below yet stays in its slot,
    /// and when it took the place of one that moved, it is told where it
    /// now sits (in the loop, and after the call's last look).
    #[test]
    fn a_timer_that_does_not_fit_yet_stays_and_is_told_its_place() {
        let start = 2 * SLOT3;
        // Spread 1,000 µs and 10,000 µs before the slot is due: two looks
        // and one.
        for (now, looks) in [(start - 1_000, 2), (start - 10_000, 1)] {
            let mut wheel = TimerWheel::default();
            // Key 0 fits level 2 well before the slot; key 1, in the slot's
            // last 4 ms, does not fit it until the slot is due.
            let mut store =
                Store { expiry: vec![start + 1_000, start + 262_000], pos: vec![Pos::NONE; 2] };
            for key in 0..2 {
                wheel.insert(key, store.expiry[key as usize], &mut store);
            }
            let bucket = (3 * SLOTS + slot_for(3, start)) as u16;
            assert_eq!(store.pos[1], Pos { bucket, index: 1 });
            assert_eq!(wheel.poll(now, &mut store), None);
            wheel.spread(now, &mut store);
            assert_eq!(wheel.spread[3].kept, looks - 1, "at {now}");
            assert!((store.pos[0].bucket as usize / SLOTS) < 3);
            assert_eq!(wheel.buckets[bucket as usize].keys, vec![1]);
            assert_eq!(store.pos[1], Pos { bucket, index: 0 });
            for key in 0..2 {
                assert_eq!(wheel.poll(store.expiry[key] - 1, &mut store), None);
                assert_eq!(wheel.poll(store.expiry[key], &mut store), Some(key as u32));
            }
        }
    }

    /// `spread` when a timer is due (its caller did not poll first) moves
    /// nothing and leaves the time alone; the timer fires as it would have.
    #[test]
    fn spread_with_a_timer_due_changes_nothing() {
        let mut wheel = TimerWheel::default();
        let start = 2 * SLOT3;
        let mut store = Store { expiry: vec![5, start], pos: vec![Pos::NONE; 2] };
        for key in 0..2 {
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        let pos = store.pos.clone();
        wheel.spread(start - 1, &mut store);
        assert_eq!((wheel.elapsed, &store.pos), (0, &pos));
        assert_eq!(wheel.poll(start - 1, &mut store), Some(0));
        assert_eq!(wheel.poll(start - 1, &mut store), None);
        // Polled: now it works ahead (the slot's only key fits level 2).
        wheel.spread(start - 1, &mut store);
        assert_eq!(wheel.elapsed, start - 1);
        assert_eq!(store.pos[1].bucket as usize / SLOTS, 0);
        assert_eq!(wheel.poll(start, &mut store), Some(1));
    }

    /// `spread` touches the keys it is about to look at, a run at a time:
    /// the first not looked at, and the last ones, which take the places
    /// of those that move. When every key moves, it touches each before
    /// looking; when they stay, it learns in the first run that it looks
    /// at the first keys one after another, and touches them from then on.
    #[test]
    fn spread_touches_the_keys_it_looks_at_first() {
        let start = 2 * SLOT3;
        let bucket = 3 * SLOTS + slot_for(3, start);
        let n = 200;
        // Every key fits the level below: all looked at, each touched.
        let mut store = TouchStore::default();
        store.inner.expiry = (0..n).map(|k| start + k).collect();
        store.inner.pos = vec![Pos::NONE; n as usize];
        let mut wheel = TimerWheel::default();
        for key in 0..n as u32 {
            wheel.insert(key, store.inner.expiry[key as usize], &mut store);
        }
        assert_eq!(wheel.poll(start - 1, &mut store), None);
        wheel.spread(start - 1, &mut store);
        assert!(wheel.buckets[bucket].keys.is_empty());
        assert_eq!(store.moved_untouched, 0);
        assert_eq!(store.outside.get(), 0);
        // Key 0 fits; the rest, in the slot's last 300 µs, do not, halfway
        // through the horizon: 100 looks. The first run touches key 0 and
        // the last 32 keys, and looks at key 0 (moves), then at the last
        // key (stays where key 0 was), then at the next 30 first keys,
        // untouched; the runs after it touch the first keys they look at.
        let mut store = TouchStore::default();
        store.inner.expiry =
            (0..n).map(|k| if k == 0 { start } else { start + SLOT3 - 300 + k }).collect();
        store.inner.pos = vec![Pos::NONE; n as usize];
        let mut wheel = TimerWheel::default();
        for key in 0..n as u32 {
            wheel.insert(key, store.inner.expiry[key as usize], &mut store);
        }
        let now = start - HORIZON3 / 2;
        assert_eq!(wheel.poll(now, &mut store), None);
        wheel.spread(now, &mut store);
        assert_eq!(wheel.buckets[bucket].keys.len(), n as usize - 1);
        assert_eq!(wheel.spread[3].kept, 99);
        assert_eq!(store.moved_untouched, 30);
        assert_eq!(store.outside.get(), 0);
    }

    /// A `spread` at a time before the last one's (an owner's clock went
    /// back) gets no share of the slot: nothing moves, nothing panics.
    #[test]
    fn spread_at_an_earlier_time_moves_nothing() {
        let start = 2 * SLOT3;
        let mut wheel = TimerWheel::default();
        let mut store = Store { expiry: vec![start, start + 262_000], pos: vec![Pos::NONE; 2] };
        for key in 0..2 {
            wheel.insert(key, store.expiry[key as usize], &mut store);
        }
        // One look (key 0 moves), key 1 left in the slot.
        wheel.spread(start - 10_000, &mut store);
        assert_eq!(wheel.buckets[3 * SLOTS + slot_for(3, start)].keys, vec![1]);
        let pos = store.pos.clone();
        wheel.spread(start - 12_000, &mut store);
        assert_eq!(store.pos, pos);
        assert_eq!(wheel.poll(start, &mut store), Some(0));
        assert_eq!(wheel.poll(start + 261_999, &mut store), None);
        assert_eq!(wheel.poll(start + 262_000, &mut store), Some(1));
    }
}
