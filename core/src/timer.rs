//! Timers are data: one min-heap of (when, event) with lazy deletion.
//!
//! Every pending event has exactly one live entry: the earlier of its next
//! retry and its deadline. Re-arming bumps the event's epoch, which turns the
//! old entry stale; stale entries are dropped when they reach the top, and the
//! tracker drops them after every input so `poll_timeout` is exact.

use alloc::collections::BinaryHeap;
use core::cmp::Reverse;

use crate::time::Instant;

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// When to retry, or give up on, one event: the earlier of its attempt
    /// timeout and its deadline. `slot` is the event's slot.
    Event,
    /// When to tell a stream's client again that seqs below the floor are
    /// resolved, because its acks show it is still waiting for one of them
    /// (the first `Skip` may have been lost). `slot` is the stream's slot.
    Skip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerEntry {
    pub(crate) at: Instant,
    /// Insertion order: equal times fire first-armed first.
    pub(crate) order: u64,
    pub(crate) kind: TimerKind,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
    pub(crate) epoch: u32,
}

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<TimerEntry>>,
    order: u64,
}

impl TimerQueue {
    pub(crate) fn arm(
        &mut self,
        kind: TimerKind,
        at: Instant,
        slot: u32,
        generation: u32,
        epoch: u32,
    ) {
        self.order += 1;
        let entry = TimerEntry { at, order: self.order, kind, slot, generation, epoch };
        self.heap.push(Reverse(entry));
    }

    pub(crate) fn peek(&self) -> Option<&TimerEntry> {
        self.heap.peek().map(|Reverse(e)| e)
    }

    pub(crate) fn pop(&mut self) -> Option<TimerEntry> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.heap.capacity()
    }
}
