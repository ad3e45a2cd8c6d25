//! A receiver's acks: cumulative, selective ranges and the echo of the frame
//! that triggered them; coalesced by count or delay; duplicates acked at once.

use core::time::Duration;

use acktrack::{
    Ack, DeliveryOrder, Echo, EventFrame, Instant, Receiver, ReceiverConfig, Seq, SeqRange,
    SkipFrame, StreamId,
};

const STREAM: StreamId = StreamId::from_bits(3);

fn receiver(config: ReceiverConfig) -> Receiver<()> {
    Receiver::new(STREAM, config).unwrap()
}

fn event(seq: u64, attempt: u32) -> EventFrame<()> {
    EventFrame { stream: STREAM, seq: Seq(seq), attempt, floor: Seq(0), payload: () }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn ack(cumulative: u64, ranges: &[(u64, u64)], echo: (u64, u32)) -> Ack {
    Ack {
        stream: STREAM,
        cumulative: Seq(cumulative),
        ranges: ranges.iter().map(|&(s, e)| SeqRange::new(s, e)).collect(),
        echo: Some(Echo { seq: Seq(echo.0), attempt: echo.1 }),
    }
}

#[test]
fn every_ack_every_events_an_ack_is_due() {
    let config = ReceiverConfig { ack_every: 3, ..ReceiverConfig::default() };
    let mut r = receiver(config);
    r.handle_event(ms(0), event(0, 1)).unwrap();
    r.handle_event(ms(1), event(1, 1)).unwrap();
    assert_eq!(r.poll_ack(), None);
    r.handle_event(ms(2), event(2, 1)).unwrap();
    assert_eq!(r.poll_ack(), Some(ack(3, &[], (2, 1))));
    assert_eq!(r.poll_ack(), None, "one ack per batch");
    assert_eq!(r.poll_timeout(), None, "nothing left to ack");
    assert_eq!(r.metrics().acks_sent, 1);
}

#[test]
fn a_lone_event_is_acked_after_ack_delay() {
    let config =
        ReceiverConfig { ack_every: 8, ack_delay: Duration::from_millis(25), ..Default::default() };
    let mut r = receiver(config);
    r.handle_event(ms(100), event(0, 1)).unwrap();
    assert_eq!(r.poll_ack(), None);
    assert_eq!(r.poll_timeout(), Some(ms(125)));
    // A second event does not push the deadline back.
    r.handle_event(ms(110), event(1, 2)).unwrap();
    assert_eq!(r.poll_timeout(), Some(ms(125)));
    r.handle_timeout(ms(124));
    assert_eq!(r.poll_ack(), None, "early timeouts are no-ops");
    r.handle_timeout(ms(125));
    assert_eq!(r.poll_ack(), Some(ack(2, &[], (1, 2))));
    assert_eq!(r.poll_timeout(), None);
    r.handle_timeout(ms(200));
    assert_eq!(r.poll_ack(), None, "spurious timeouts are no-ops");
}

#[test]
fn zero_ack_delay_acks_every_event_at_once() {
    let config = ReceiverConfig { ack_every: 8, ack_delay: Duration::ZERO, ..Default::default() };
    let mut r = receiver(config);
    r.handle_event(ms(0), event(0, 1)).unwrap();
    assert_eq!(r.poll_ack(), Some(ack(1, &[], (0, 1))));
}

#[test]
fn a_duplicate_is_acked_at_once_with_its_own_echo() {
    let config = ReceiverConfig { ack_every: 8, ..ReceiverConfig::default() };
    let mut r = receiver(config);
    r.handle_event(ms(0), event(0, 1)).unwrap();
    assert_eq!(r.poll_ack(), None, "coalescing");
    // The sender timed out and retransmitted: ack now so it stops.
    r.handle_event(ms(1), event(0, 2)).unwrap();
    assert_eq!(r.poll_ack(), Some(ack(1, &[], (0, 2))));
    assert_eq!(r.poll_timeout(), None, "the pending delay was folded into that ack");
}

#[test]
fn selective_ranges_cover_what_arrived_above_a_gap() {
    let config = ReceiverConfig { ack_every: 1, ..ReceiverConfig::default() };
    let mut r = receiver(config);
    for seq in [0, 2, 3, 6] {
        r.handle_event(ms(0), event(seq, 1)).unwrap();
    }
    assert_eq!(r.poll_ack(), Some(ack(1, &[(2, 4), (6, 7)], (6, 1))));
}

#[test]
fn skipped_seqs_count_as_resolved_in_ranges_too() {
    let config = ReceiverConfig { ack_every: 1, ..ReceiverConfig::default() };
    let mut r = receiver(config);
    r.handle_event(ms(0), event(2, 1)).unwrap();
    r.handle_skip(SkipFrame { stream: STREAM, seqs: SeqRange::new(3, 5), floor: Seq(0) }).unwrap();
    r.handle_event(ms(0), event(5, 1)).unwrap();
    assert_eq!(r.poll_ack(), Some(ack(0, &[(2, 6)], (5, 1))), "adjacent runs merge");
}

#[test]
fn ranges_are_capped_and_always_cover_the_echo() {
    let config = ReceiverConfig { ack_every: 1, ack_ranges_max: 2, ..ReceiverConfig::default() };
    let mut r = receiver(config);
    for seq in [1, 3, 5, 7, 9] {
        r.handle_event(ms(0), event(seq, 1)).unwrap();
    }
    assert_eq!(r.poll_ack(), Some(ack(0, &[(1, 2), (9, 10)], (9, 1))));
    let config = ReceiverConfig { ack_every: 1, ack_ranges_max: 0, ..ReceiverConfig::default() };
    let mut r = receiver(config);
    r.handle_event(ms(0), event(1, 1)).unwrap();
    assert_eq!(r.poll_ack(), Some(ack(0, &[], (1, 1))), "purely cumulative");
}

#[test]
fn acks_are_valid_for_the_tracker_shape_checks() {
    // Whatever arrived, ranges are sorted, disjoint, non-empty and above the
    // cumulative ack (the tracker rejects anything else).
    let config = ReceiverConfig {
        order: DeliveryOrder::Unordered,
        ack_every: 1,
        ..ReceiverConfig::default()
    };
    let mut r = receiver(config);
    for seq in [9, 4, 1, 12, 5, 20, 0, 30, 31, 2] {
        r.handle_event(ms(0), event(seq, 1)).unwrap();
        let a = r.poll_ack().unwrap();
        let mut floor = a.cumulative;
        for range in &a.ranges {
            assert!(!range.is_empty() && range.start > floor, "{a:?}");
            floor = range.end;
        }
    }
}

#[test]
fn a_rejected_or_dropped_frame_schedules_no_ack() {
    let config = ReceiverConfig { reorder_buffer_max: 0, ack_every: 1, ..Default::default() };
    let mut r = receiver(config);
    r.handle_event(ms(0), event(1, 1)).unwrap();
    assert!(r.handle_event(ms(0), event(0, 0)).is_err());
    assert_eq!(r.poll_ack(), None);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn a_skip_is_acked_at_once_so_skip_resends_stop() {
    let config = ReceiverConfig { ack_every: 8, ..ReceiverConfig::default() };
    let mut r = receiver(config);
    let skip = SkipFrame { stream: STREAM, seqs: SeqRange::new(0, 3), floor: Seq(3) };
    r.handle_skip(skip).unwrap();
    // No event frame triggered it: the ack echoes nothing.
    let unechoed = Ack { echo: None, ..ack(3, &[], (0, 1)) };
    assert_eq!(r.poll_ack(), Some(unechoed.clone()));
    // A resent skip (our ack was lost) is acked again.
    r.handle_skip(skip).unwrap();
    assert_eq!(r.poll_ack(), Some(unechoed));
}
