//! The choice source every random decision of a world goes through: a zero
//! tape gives the simplest values, and a recorded tape replays exactly.

use acktrack_sim::Choices;

#[test]
fn a_zero_tape_gives_the_simplest_values() {
    let mut c = Choices::from_tape(vec![]);
    assert_eq!(c.below(10), 0);
    assert_eq!(c.range(3, 9), 3);
    assert!(!c.chance(0.9));
    assert_eq!(c.unit(), 0.0);
}

#[test]
fn recording_then_replaying_gives_the_same_draws() {
    let mut a = Choices::from_seed(42).recording();
    let first: Vec<u64> = (0..50).map(|i| a.range(0, i)).collect();
    let mut b = Choices::from_tape(a.into_tape().unwrap());
    let again: Vec<u64> = (0..50).map(|i| b.range(0, i)).collect();
    assert_eq!(first, again);
}
