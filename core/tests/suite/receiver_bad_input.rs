//! Frames that cannot be right get a typed error and change nothing; a bad
//! config names its field.

use core::time::Duration;

use acktrack::{
    Ack, Delivery, DeliveryOrder, Echo, EventFrame, Frame, FrameKind, HelloFrame, Instant,
    ReceiveError, Receiver, ReceiverConfig, Seq, SeqRange, SkipFrame, StreamId,
};

const STREAM: StreamId = StreamId::from_bits(5);

fn receiver() -> Receiver<u32> {
    let config =
        ReceiverConfig { ack_every: 4, window: 16, reorder_buffer_max: 16, ..Default::default() };
    let mut r = Receiver::new(STREAM, config).unwrap();
    // Some state worth preserving: a release, an early event, a coalesced ack.
    r.handle_event(Instant::ZERO, event(0, 1, 0)).unwrap();
    r.handle_event(Instant::ZERO, event(2, 1, 0)).unwrap();
    r
}

fn event(seq: u64, attempt: u32, floor: u64) -> EventFrame<u32> {
    EventFrame { stream: STREAM, seq: Seq(seq), attempt, floor: Seq(floor), payload: 1 }
}

/// Everything observable except the rejection counter.
fn snapshot(r: &Receiver<u32>) -> String {
    let mut m = *r.metrics();
    m.rejected = 0;
    format!(
        "{:?} {:?} {} {} {:?}",
        r.resume(),
        r.poll_timeout(),
        r.tracked_runs(),
        r.pending_deliveries(),
        m
    )
}

fn assert_rejected(frame: Frame<u32>, expected: ReceiveError) {
    let mut r = receiver();
    let before = snapshot(&r);
    let rejected = r.metrics().rejected;
    assert_eq!(r.handle_frame(Instant::ZERO, frame), Err(expected));
    assert_eq!(snapshot(&r), before, "{expected}");
    assert_eq!(r.metrics().rejected, rejected + 1);
}

#[test]
fn a_frame_for_another_stream_is_refused() {
    let other = StreamId::from_bits(6);
    let mut f = event(1, 1, 0);
    f.stream = other;
    let expected = ReceiveError::WrongStream { expected: STREAM, got: other };
    assert_rejected(f.into(), expected);
    let skip = SkipFrame { stream: other, seqs: SeqRange::new(1, 2), floor: Seq(0) };
    assert_rejected(skip.into(), expected);
}

#[test]
fn attempt_zero_is_refused() {
    assert_rejected(event(1, 0, 0).into(), ReceiveError::ZeroAttempt);
}

#[test]
fn a_floor_above_the_seq_is_refused() {
    assert_rejected(
        event(3, 1, 4).into(),
        ReceiveError::FloorAboveSeq { floor: Seq(4), seq: Seq(3) },
    );
}

#[test]
fn a_seq_beyond_the_window_is_refused() {
    // Cumulative ack 1, window 16: seq 17 cannot have been sent.
    assert_rejected(
        event(17, 1, 0).into(),
        ReceiveError::BeyondWindow { seq: Seq(17), limit: Seq(17) },
    );
    assert_rejected(
        event(u64::MAX, 1, 0).into(),
        ReceiveError::BeyondWindow { seq: Seq(u64::MAX), limit: Seq(17) },
    );
    // With its floor the frame itself vouches for more.
    let mut r = receiver();
    assert!(r.handle_event(Instant::ZERO, event(17, 1, 10)).is_ok());
}

#[test]
fn malformed_skips_are_refused() {
    let skip = |start, end, floor| SkipFrame {
        stream: STREAM,
        seqs: SeqRange::new(start, end),
        floor: Seq(floor),
    };
    assert_rejected(skip(4, 4, 0).into(), ReceiveError::EmptySkip { start: Seq(4), end: Seq(4) });
    assert_rejected(skip(6, 2, 0).into(), ReceiveError::EmptySkip { start: Seq(6), end: Seq(2) });
    assert_rejected(
        skip(5, 18, 0).into(),
        ReceiveError::BeyondWindow { seq: Seq(17), limit: Seq(17) },
    );
    assert_rejected(
        skip(5, u64::MAX, 0).into(),
        ReceiveError::BeyondWindow { seq: Seq(u64::MAX - 1), limit: Seq(17) },
    );
}

#[test]
fn client_to_server_frames_are_refused() {
    let ack = Ack::cumulative(STREAM, Seq(0), Echo { seq: Seq(0), attempt: 1 });
    assert_rejected(ack.into(), ReceiveError::UnexpectedFrame(FrameKind::Ack));
    let hello = HelloFrame { stream: STREAM, resume: Seq(0) };
    assert_rejected(hello.into(), ReceiveError::UnexpectedFrame(FrameKind::Hello));
}

#[test]
fn error_messages_are_lowercase_sentences() {
    let e = ReceiveError::BeyondWindow { seq: Seq(17), limit: Seq(17) };
    assert_eq!(e.to_string(), "seq #17 is beyond the window (first seq out of reach: #17)");
    assert_eq!(ReceiveError::ZeroAttempt.to_string(), "event frame names attempt 0");
    assert_eq!(
        ReceiveError::UnexpectedFrame(FrameKind::Nak).to_string(),
        "a receiver does not take nak frames"
    );
}

#[test]
fn time_going_backwards_is_clamped_and_counted() {
    let config = ReceiverConfig { ack_every: 8, ..ReceiverConfig::default() };
    let mut r: Receiver<u32> = Receiver::new(STREAM, config).unwrap();
    r.handle_event(Instant::from_millis(100), event(0, 1, 0)).unwrap();
    assert_eq!(r.poll_timeout(), Some(Instant::from_millis(125)));
    r.handle_timeout(Instant::from_millis(50));
    assert_eq!(r.metrics().clock_regressions, 1);
    assert_eq!(r.poll_ack(), None);
    r.handle_timeout(Instant::from_millis(125));
    assert!(r.poll_ack().is_some());
    assert!(matches!(r.poll_delivery(), Some(Delivery::Event { seq: Seq(0), .. })));
}

#[test]
fn bad_config_values_name_their_field() {
    let bad = [
        (ReceiverConfig { window: 0, ..Default::default() }, "window"),
        (ReceiverConfig { window: (1 << 24) + 1, ..Default::default() }, "window"),
        (ReceiverConfig { reorder_buffer_max: 65, ..Default::default() }, "reorder_buffer_max"),
        (ReceiverConfig { ack_every: 0, ..Default::default() }, "ack_every"),
        (ReceiverConfig { ack_every: 65, ..Default::default() }, "ack_every"),
        (
            ReceiverConfig { ack_delay: Duration::from_secs(3601), ..Default::default() },
            "ack_delay",
        ),
        (ReceiverConfig { ack_ranges_max: 1025, ..Default::default() }, "ack_ranges_max"),
    ];
    for (config, field) in bad {
        assert_eq!(config.validate().unwrap_err().field, field);
        assert_eq!(Receiver::<()>::new(STREAM, config).unwrap_err().field, field);
    }
    let e = ReceiverConfig { ack_every: 0, ..Default::default() }.validate().unwrap_err();
    assert_eq!(e.to_string(), "invalid config: `ack_every` is 0, allowed 1..=window");
    let fine = ReceiverConfig {
        order: DeliveryOrder::Unordered,
        window: 1,
        reorder_buffer_max: 0,
        ack_every: 1,
        ack_delay: Duration::ZERO,
        ack_ranges_max: 0,
    };
    assert_eq!(fine.validate(), Ok(()));
    assert_eq!(ReceiverConfig::default().validate(), Ok(()));
}
