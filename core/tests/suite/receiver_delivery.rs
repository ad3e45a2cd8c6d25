//! A receiver releases each event exactly once: in seq order through a bounded
//! reorder buffer when ordered, on first arrival when unordered.

use acktrack::{
    Arrival, Delivery, DeliveryOrder, EventFrame, Instant, Receiver, ReceiverConfig, Seq, StreamId,
};

const STREAM: StreamId = StreamId::from_bits(7);

fn receiver(order: DeliveryOrder, reorder_buffer_max: u32) -> Receiver<u64> {
    let config = ReceiverConfig { order, reorder_buffer_max, ..ReceiverConfig::default() };
    Receiver::new(STREAM, config).unwrap()
}

fn event(seq: u64, attempt: u32) -> EventFrame<u64> {
    EventFrame { stream: STREAM, seq: Seq(seq), attempt, floor: Seq(0), payload: seq * 10 }
}

fn arrive(r: &mut Receiver<u64>, seq: u64) -> Arrival {
    r.handle_event(Instant::ZERO, event(seq, 1)).unwrap()
}

/// Drains deliveries as seqs (panics on a skip: none expected here).
fn released(r: &mut Receiver<u64>) -> Vec<u64> {
    core::iter::from_fn(|| r.poll_delivery())
        .map(|d| match d {
            Delivery::Event { seq, payload } => {
                assert_eq!(payload, seq.0 * 10, "payload travels with its seq");
                seq.0
            }
            Delivery::Skipped { seqs } => panic!("unexpected skip {seqs:?}"),
        })
        .collect()
}

#[test]
fn ordered_mode_holds_early_events_until_the_gap_fills() {
    let mut r = receiver(DeliveryOrder::Ordered, 64);
    assert_eq!(arrive(&mut r, 2), Arrival::New);
    assert_eq!(arrive(&mut r, 1), Arrival::New);
    assert!(released(&mut r).is_empty(), "seq 0 is missing");
    assert_eq!(r.metrics().buffered, 2);
    assert_eq!(r.resume(), Seq(0));
    arrive(&mut r, 0);
    assert_eq!(released(&mut r), [0, 1, 2]);
    assert_eq!(r.resume(), Seq(3));
    assert_eq!(r.metrics().buffered, 0);
    assert_eq!(r.tracked_runs(), 0);
}

#[test]
fn unordered_mode_releases_on_first_arrival() {
    let mut r = receiver(DeliveryOrder::Unordered, 0);
    for seq in [3, 1, 0, 2] {
        arrive(&mut r, seq);
    }
    assert_eq!(released(&mut r), [3, 1, 0, 2]);
    assert_eq!(r.resume(), Seq(4));
    assert_eq!(r.metrics().delivered, 4);
}

#[test]
fn retransmissions_and_network_duplicates_are_released_once() {
    for order in [DeliveryOrder::Ordered, DeliveryOrder::Unordered] {
        let mut r = receiver(order, 64);
        assert_eq!(arrive(&mut r, 1), Arrival::New);
        assert_eq!(arrive(&mut r, 1), Arrival::Duplicate, "above the cumulative ack");
        assert_eq!(r.handle_event(Instant::ZERO, event(1, 2)).unwrap(), Arrival::Duplicate);
        assert_eq!(arrive(&mut r, 0), Arrival::New);
        assert_eq!(arrive(&mut r, 0), Arrival::Duplicate, "below the cumulative ack");
        let mut got = released(&mut r);
        got.sort_unstable();
        assert_eq!(got, [0, 1], "{order:?}");
        assert_eq!(r.metrics().duplicates, 3);
        assert_eq!(r.metrics().received, 2);
    }
}

#[test]
fn a_full_reorder_buffer_drops_early_events_without_acking_them() {
    let mut r = receiver(DeliveryOrder::Ordered, 2);
    assert_eq!(arrive(&mut r, 1), Arrival::New);
    assert_eq!(arrive(&mut r, 2), Arrival::New);
    let _ = r.poll_ack();
    assert_eq!(arrive(&mut r, 3), Arrival::OverBuffer);
    assert_eq!(r.metrics().dropped_over_buffer, 1);
    assert_eq!(r.metrics().buffered, 2);
    assert_eq!(r.poll_ack(), None, "a dropped event is not acked");
    assert_eq!(r.poll_timeout(), None);
    // The seq the buffer waits for is always taken, so the buffer drains…
    assert_eq!(arrive(&mut r, 0), Arrival::New);
    assert_eq!(released(&mut r), [0, 1, 2]);
    // …and the sender's retransmission of the dropped event gets in.
    assert_eq!(arrive(&mut r, 3), Arrival::New);
    assert_eq!(released(&mut r), [3]);
}

#[test]
fn a_zero_reorder_buffer_takes_only_the_next_seq() {
    let mut r = receiver(DeliveryOrder::Ordered, 0);
    assert_eq!(arrive(&mut r, 1), Arrival::OverBuffer);
    assert_eq!(arrive(&mut r, 0), Arrival::New);
    assert_eq!(arrive(&mut r, 1), Arrival::New);
    assert_eq!(released(&mut r), [0, 1]);
}

#[test]
fn the_unordered_receiver_needs_no_buffer_whatever_the_arrival_order() {
    let mut r = receiver(DeliveryOrder::Unordered, 0);
    for seq in (0..60).rev() {
        assert_eq!(arrive(&mut r, seq), Arrival::New);
    }
    assert_eq!(released(&mut r).len(), 60);
    assert_eq!(r.metrics().buffered, 0);
    assert_eq!(r.resume(), Seq(60));
}

#[test]
fn resume_point_and_hello_report_what_arrived_contiguously() {
    let mut r = receiver(DeliveryOrder::Ordered, 64);
    for seq in [0, 1, 3] {
        arrive(&mut r, seq);
    }
    assert_eq!(r.resume(), Seq(2));
    let hello = r.hello();
    assert_eq!((hello.stream, hello.resume), (STREAM, Seq(2)));
}

#[test]
fn runs_above_the_cumulative_ack_and_waiting_deliveries_are_counted() {
    let mut r = receiver(DeliveryOrder::Unordered, 0);
    for seq in [0, 1, 3, 6, 7] {
        arrive(&mut r, seq);
    }
    // Cumulative 2; tracked above it: 3..4 and 6..8.
    assert_eq!(r.tracked_runs(), 2);
    assert_eq!(r.pending_deliveries(), 5);
    assert_eq!(released(&mut r), [0, 1, 3, 6, 7]);
    assert_eq!(r.pending_deliveries(), 0);
    // Seq 2 joins 0..4 to the cumulative ack: only 6..8 is left above it.
    arrive(&mut r, 2);
    assert_eq!(r.tracked_runs(), 1);
    assert_eq!(r.pending_deliveries(), 1);
}
