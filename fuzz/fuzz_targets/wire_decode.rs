#![no_main]

//! Bounds allocation: a decode may not allocate one block over 2 MiB nor hold
//! over 8 MiB at once (the decoders document at most serde's cautious 1 MiB
//! preallocation plus memory proportional to the input).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use libfuzzer_sys::fuzz_target;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        LARGEST.fetch_max(layout.size(), Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fuzz_target!(|data: &[u8]| {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    LARGEST.store(0, Relaxed);
    acktrack_fuzz::wire_decode::run(data);
    let largest = LARGEST.load(Relaxed);
    let held = PEAK.load(Relaxed).saturating_sub(base);
    assert!(
        largest <= 2 << 20,
        "one allocation of {largest} bytes for a {}-byte input",
        data.len()
    );
    assert!(held <= 8 << 20, "{held} bytes held at once for a {}-byte input", data.len());
});
