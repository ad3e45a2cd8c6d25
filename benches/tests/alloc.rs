//! The counting allocator counts. Its own test binary, so no other test
//! allocates while it measures.

use acktrack_benches::alloc::{CountingAlloc, reset_peak, stats};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn counts_bytes_peak_and_allocations() {
    reset_peak();
    let before = stats();
    let v: Vec<u8> = Vec::with_capacity(1 << 20);
    let during = stats();
    assert_eq!(during.current, before.current + (1 << 20));
    assert_eq!(during.allocations, before.allocations + 1);
    drop(std::hint::black_box(v));
    let after = stats();
    assert_eq!(after.current, before.current);
    assert_eq!(after.peak, during.current);
    assert_eq!(after.allocations, during.allocations);
}
