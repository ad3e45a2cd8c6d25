//! A receiver never waits forever for a seq the sender gave up on: it honours
//! skip frames and the floor carried by every server frame.

use acktrack::{
    Arrival, Delivery, DeliveryOrder, EventFrame, Instant, Receiver, ReceiverConfig, Seq, SeqRange,
    SkipFrame, StreamId,
};

const STREAM: StreamId = StreamId::from_bits(9);

fn receiver(order: DeliveryOrder) -> Receiver<u64> {
    Receiver::new(STREAM, ReceiverConfig { order, ..ReceiverConfig::default() }).unwrap()
}

fn event(seq: u64, floor: u64) -> EventFrame<u64> {
    EventFrame { stream: STREAM, seq: Seq(seq), attempt: 1, floor: Seq(floor), payload: seq }
}

fn skip(start: u64, end: u64) -> SkipFrame {
    SkipFrame { stream: STREAM, seqs: SeqRange::new(start, end), floor: Seq(0) }
}

fn drain(r: &mut Receiver<u64>) -> Vec<Delivery<u64>> {
    core::iter::from_fn(|| r.poll_delivery()).collect()
}

fn ev(seq: u64) -> Delivery<u64> {
    Delivery::Event { seq: Seq(seq), payload: seq }
}

fn skipped(start: u64, end: u64) -> Delivery<u64> {
    Delivery::Skipped { seqs: SeqRange::new(start, end) }
}

#[test]
fn an_ordered_receiver_stops_waiting_for_skipped_seqs() {
    let mut r = receiver(DeliveryOrder::Ordered);
    r.handle_event(Instant::ZERO, event(2, 0)).unwrap();
    assert!(drain(&mut r).is_empty());
    r.handle_skip(skip(0, 2)).unwrap();
    assert_eq!(drain(&mut r), [skipped(0, 2), ev(2)]);
    assert_eq!(r.resume(), Seq(3));
    assert_eq!(r.metrics().skipped, 2);
}

#[test]
fn a_skip_ahead_of_the_gap_is_reported_in_its_place_when_ordered() {
    let mut r = receiver(DeliveryOrder::Ordered);
    r.handle_skip(skip(1, 3)).unwrap();
    r.handle_event(Instant::ZERO, event(3, 0)).unwrap();
    assert!(drain(&mut r).is_empty(), "seq 0 still blocks");
    r.handle_event(Instant::ZERO, event(0, 0)).unwrap();
    assert_eq!(drain(&mut r), [ev(0), skipped(1, 3), ev(3)]);
    assert_eq!(r.resume(), Seq(4));
}

#[test]
fn an_unordered_receiver_reports_a_skip_at_once() {
    let mut r = receiver(DeliveryOrder::Unordered);
    r.handle_skip(skip(1, 3)).unwrap();
    assert_eq!(drain(&mut r), [skipped(1, 3)]);
    r.handle_event(Instant::ZERO, event(0, 0)).unwrap();
    assert_eq!(drain(&mut r), [ev(0)], "the skip is not reported twice");
    assert_eq!(r.resume(), Seq(3));
    assert_eq!(r.metrics().skipped, 2);
}

#[test]
fn the_floor_in_an_event_frame_abandons_what_a_lost_skip_would_have() {
    for order in [DeliveryOrder::Ordered, DeliveryOrder::Unordered] {
        let mut r = receiver(order);
        r.handle_event(Instant::ZERO, event(1, 0)).unwrap();
        // Seqs 0 and 2 expired; their skip frames were lost. Seq 4 says so.
        r.handle_event(Instant::ZERO, event(4, 3)).unwrap();
        let got = drain(&mut r);
        let expected = match order {
            DeliveryOrder::Ordered => vec![skipped(0, 1), ev(1), skipped(2, 3)],
            DeliveryOrder::Unordered => vec![ev(1), skipped(0, 1), skipped(2, 3), ev(4)],
        };
        assert_eq!(got, expected, "{order:?}");
        assert_eq!(r.resume(), Seq(3), "seq 3 may still come");
    }
}

#[test]
fn the_floor_in_a_skip_frame_is_applied_too() {
    let mut r = receiver(DeliveryOrder::Ordered);
    let frame = SkipFrame { stream: STREAM, seqs: SeqRange::new(5, 6), floor: Seq(3) };
    r.handle_skip(frame).unwrap();
    assert_eq!(drain(&mut r), [skipped(0, 3)]);
    r.handle_event(Instant::ZERO, event(3, 3)).unwrap();
    r.handle_event(Instant::ZERO, event(4, 3)).unwrap();
    assert_eq!(drain(&mut r), [ev(3), ev(4), skipped(5, 6)]);
}

#[test]
fn a_skip_may_reach_past_the_window_when_its_floor_says_so() {
    // The tracker resends skip(client cumulative..floor), however long.
    let mut r = receiver(DeliveryOrder::Ordered);
    let frame = SkipFrame { stream: STREAM, seqs: SeqRange::new(0, 500), floor: Seq(500) };
    r.handle_skip(frame).unwrap();
    assert_eq!(drain(&mut r), [skipped(0, 500)]);
    assert_eq!(r.resume(), Seq(500));
}

#[test]
fn a_seq_received_before_its_skip_is_still_released() {
    let mut r = receiver(DeliveryOrder::Ordered);
    r.handle_event(Instant::ZERO, event(1, 0)).unwrap();
    // The ack for 1 was lost and the sender expired it anyway.
    r.handle_skip(skip(0, 3)).unwrap();
    assert_eq!(drain(&mut r), [skipped(0, 1), ev(1), skipped(2, 3)]);
}

#[test]
fn a_seq_arriving_after_its_skip_is_a_duplicate() {
    for order in [DeliveryOrder::Ordered, DeliveryOrder::Unordered] {
        let mut r = receiver(order);
        r.handle_skip(skip(2, 4)).unwrap();
        let arrival = r.handle_event(Instant::ZERO, event(3, 0)).unwrap();
        assert_eq!(arrival, Arrival::Duplicate, "above the cumulative ack, {order:?}");
        r.handle_skip(skip(0, 2)).unwrap();
        let arrival = r.handle_event(Instant::ZERO, event(1, 0)).unwrap();
        assert_eq!(arrival, Arrival::Duplicate, "below the cumulative ack, {order:?}");
        assert!(r.poll_ack().is_some(), "acked so the sender stops");
        assert!(drain(&mut r).iter().all(|d| matches!(d, Delivery::Skipped { .. })));
        assert_eq!(r.metrics().delivered, 0);
    }
}

#[test]
fn repeated_and_overlapping_skips_report_each_seq_once() {
    let mut r = receiver(DeliveryOrder::Unordered);
    r.handle_skip(skip(2, 5)).unwrap();
    r.handle_skip(skip(2, 5)).unwrap();
    r.handle_skip(skip(4, 8)).unwrap();
    r.handle_skip(skip(0, 9)).unwrap();
    let mut seqs: Vec<u64> = drain(&mut r)
        .into_iter()
        .flat_map(|d| match d {
            Delivery::Skipped { seqs } => seqs.iter().map(|s| s.0).collect::<Vec<_>>(),
            Delivery::Event { .. } => panic!("nothing was received"),
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..9).collect::<Vec<_>>());
    assert_eq!(r.metrics().skipped, 9);
    assert_eq!(r.resume(), Seq(9));
    assert_eq!(r.tracked_runs(), 0);
}
