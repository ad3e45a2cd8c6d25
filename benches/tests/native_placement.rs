//! `NativePlacement` places large blocks as glibc does natively, 16 bytes
//! past a 64-byte boundary, and leaves every other block to the system
//! allocator; contents survive a reallocation across the threshold.

use acktrack_benches::alloc::NativePlacement;

#[global_allocator]
static ALLOC: NativePlacement = NativePlacement;

/// Where a block starts past a 64-byte boundary.
fn skew<T>(v: &[T]) -> usize {
    v.as_ptr() as usize % 64
}

#[test]
fn large_blocks_start_16_bytes_past_a_line() {
    for _ in 0..4 {
        let v: Vec<[u32; 8]> = Vec::with_capacity(4096); // 128 KiB
        assert_eq!(skew(&v), 16);
        let v: Vec<u8> = Vec::with_capacity(1 << 20);
        assert_eq!(skew(&v), 16);
    }
}

#[test]
fn over_aligned_blocks_keep_their_alignment() {
    #[repr(align(32))]
    struct Line(#[allow(dead_code)] [u8; 32]);
    #[repr(align(64))]
    struct Wide(#[allow(dead_code)] [u8; 64]);
    let v: Vec<Line> = Vec::with_capacity(4096);
    assert_eq!(v.as_ptr() as usize % 32, 0);
    let w: Vec<Wide> = Vec::with_capacity(4096);
    assert_eq!(skew(&w), 0);
}

#[test]
fn contents_survive_growing_and_shrinking_across_the_threshold() {
    let mut v: Vec<u64> = (0..1000).collect(); // 8 KB: the system's
    v.reserve_exact(100_000); // now skewed
    assert_eq!(skew(&v), 16);
    assert!(v.iter().copied().eq(0..1000));
    v.extend(1000..100_000);
    v.truncate(500);
    v.shrink_to_fit(); // 4 KB again
    assert!(v.iter().copied().eq(0..500));
    v.extend(500..200_000); // grows by reallocation, skewed again
    assert_eq!(skew(&v), 16);
    assert!(v.iter().copied().eq(0..200_000));
}
