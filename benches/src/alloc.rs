//! A counting global allocator: bytes currently allocated, the peak, and the
//! number of allocations, so the benches can state bytes per in-flight event
//! and show that steady state allocates nothing per event.
//!
//! It wraps the system allocator. A binary that measures installs it:
//!
//! ```text
//! #[global_allocator]
//! static ALLOC: acktrack_benches::alloc::CountingAlloc = acktrack_benches::alloc::CountingAlloc;
//! ```
//!
//! (`bytes-per-event` and `tests/alloc.rs` do; the criterion benches do not,
//! so its atomics never weigh on a timing). Without it [`stats`] stays at
//! zero. The counters are process-wide relaxed atomics: exact while one
//! thread allocates, which is how every measurement here runs.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The system allocator, counted.
#[derive(Debug)]
pub struct CountingAlloc;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and only updates counters around the call; it upholds exactly
// the contract `System` does.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            ALLOCATIONS.fetch_add(1, Relaxed);
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged (see the impl).
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // A realloc is an allocation of the new block (it may move).
            ALLOCATIONS.fetch_add(1, Relaxed);
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        new
    }
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocStats {
    /// Bytes allocated and not yet freed.
    pub current: usize,
    /// The most `current` has been since the last [`reset_peak`].
    pub peak: usize,
    /// Allocations (and reallocations) since the process started.
    pub allocations: u64,
}

/// The counters now.
pub fn stats() -> AllocStats {
    AllocStats {
        current: CURRENT.load(Relaxed),
        peak: PEAK.load(Relaxed),
        allocations: ALLOCATIONS.load(Relaxed),
    }
}

/// Restarts the peak from the current figure, to measure the peak of one phase.
pub fn reset_peak() {
    PEAK.store(CURRENT.load(Relaxed), Relaxed);
}

/// The system allocator, except that a block of 128 KiB or more that asks
/// for at most 16-byte alignment starts 16 bytes past a 64-byte boundary:
/// where glibc's `malloc` puts it natively (such a block is its own `mmap`,
/// after a 16-byte header). Valgrind's allocator starts it on a 64-byte
/// boundary instead, so under cachegrind a slab of 32-byte records needing
/// only 4-byte alignment never had a record straddle two cache lines,
/// where natively every other one does. `instructions` installs this so
/// that cachegrind counts the lines a native run reads.
#[derive(Debug)]
pub struct NativePlacement;

/// glibc's default threshold for serving a block by its own `mmap`.
const MMAP_THRESHOLD: usize = 128 * 1024;
/// Where glibc's `mmap`ed blocks start past a 64-byte boundary.
const MMAP_SKEW: usize = 16;

/// The layout to ask the system for, if `layout` is placed skewed.
fn skewed(layout: Layout) -> Option<Layout> {
    if layout.size() < MMAP_THRESHOLD || layout.align() > MMAP_SKEW {
        return None;
    }
    Layout::from_size_align(layout.size() + 64, 64).ok()
}

// SAFETY: a skewed block is a system block of the skewed layout, 64-aligned,
// `MMAP_SKEW` bytes into it: within it, aligned as asked (16 divides it, and
// the block's alignment is at most 16), with the asked size before its end.
// `dealloc` undoes exactly that, with the same layout (so the same
// decision). Every other call is forwarded unchanged. `realloc` of a block
// that is skewed, or is to be, allocates the new block, copies and frees
// the old, as the trait's default does; any other is forwarded unchanged.
unsafe impl GlobalAlloc for NativePlacement {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match skewed(layout) {
            Some(system) => {
                // SAFETY: `system` has a non-zero size.
                let ptr = unsafe { System.alloc(system) };
                if ptr.is_null() {
                    ptr
                } else {
                    // SAFETY: within the block (see the impl).
                    unsafe { ptr.add(MMAP_SKEW) }
                }
            }
            // SAFETY: forwarded unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match skewed(layout) {
            // SAFETY: `ptr` came from `alloc` with this layout (see the impl).
            Some(system) => unsafe { System.dealloc(ptr.sub(MMAP_SKEW), system) },
            // SAFETY: forwarded unchanged.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        if skewed(layout).is_none() && skewed(new_layout).is_none() {
            // SAFETY: forwarded unchanged.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_layout` has a non-zero size (the caller's contract).
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and hold at least
            // the smaller size; the old one came from `alloc` with `layout`.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
