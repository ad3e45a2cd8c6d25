//! The receiver scenario releases every event exactly once, in order, and acks.

use acktrack::Seq;
use acktrack_benches::receiving::{Arrivals, ReceiverLoad};

#[test]
fn every_event_is_released_once_in_each_pattern() {
    for arrivals in [Arrivals::InOrder, Arrivals::Duplicates, Arrivals::Reordered] {
        let mut load = ReceiverLoad::new(arrivals);
        for _ in 0..8000 {
            load.step();
        }
        let unique = match arrivals {
            Arrivals::Duplicates => 8000 - 800,
            _ => 8000,
        };
        assert_eq!(load.delivered, unique, "{arrivals:?}");
        assert_eq!(load.resume(), Seq(unique), "{arrivals:?}");
        // An ack every 2 new events, and one at once for every duplicate.
        assert!(load.acks >= unique / 2, "{arrivals:?}: {} acks", load.acks);
    }
}

#[test]
fn reusing_one_ack_takes_the_same_acks() {
    let (mut fresh, mut kept) =
        (ReceiverLoad::new(Arrivals::Reordered), ReceiverLoad::reusing_ack(Arrivals::Reordered));
    for _ in 0..8000 {
        fresh.step();
        kept.step();
    }
    assert_eq!((kept.delivered, kept.acks), (fresh.delivered, fresh.acks));
    assert_eq!(kept.resume(), Seq(8000));
}
