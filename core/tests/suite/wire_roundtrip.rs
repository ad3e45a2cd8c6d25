//! Every frame survives both encodings unchanged, and the two layouts are the
//! ones `PROTOCOL.md` documents.
#![cfg(all(feature = "json", feature = "binary"))]

use core::time::Duration;

use acktrack::{
    Ack, DecodeLimits, Echo, EventFrame, Frame, HelloFrame, NakFrame, ProgressFrame, Seq, SeqRange,
    SkipFrame, StreamId,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A payload shaped like the events the crate is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct AgentEvent {
    kind: String,
    step: u32,
    tokens: Option<Vec<u16>>,
    done: bool,
}

fn stream() -> impl Strategy<Value = StreamId> {
    any::<u64>().prop_map(StreamId::from_bits)
}

fn seq() -> impl Strategy<Value = Seq> {
    any::<u64>().prop_map(Seq)
}

fn range() -> impl Strategy<Value = SeqRange> {
    (any::<u64>(), any::<u64>()).prop_map(|(s, e)| SeqRange::new(s, e))
}

fn frame<P: core::fmt::Debug + Clone>(
    payload: impl Strategy<Value = P>,
) -> impl Strategy<Value = Frame<P>> {
    prop_oneof![
        (stream(), seq(), any::<u32>(), seq(), payload).prop_map(
            |(stream, seq, attempt, floor, payload)| Frame::Event(EventFrame {
                stream,
                seq,
                attempt,
                floor,
                payload
            })
        ),
        (stream(), seq(), proptest::collection::vec(range(), 0..=32), seq(), any::<u32>())
            .prop_map(|(stream, cumulative, ranges, seq, attempt)| Frame::Ack(Ack {
                stream,
                cumulative,
                ranges,
                echo: Some(Echo { seq, attempt }),
            })),
        (stream(), range(), seq()).prop_map(|(stream, seqs, floor)| Frame::Skip(SkipFrame {
            stream,
            seqs,
            floor
        })),
        (stream(), seq()).prop_map(|(stream, resume)| Frame::Hello(HelloFrame { stream, resume })),
        (stream(), seq(), any::<u64>()).prop_map(|(stream, seq, us)| Frame::Nak(NakFrame {
            stream,
            seq,
            delay: Duration::from_micros(us),
        })),
        (stream(), seq()).prop_map(|(stream, seq)| Frame::Progress(ProgressFrame { stream, seq })),
    ]
}

fn agent_event() -> impl Strategy<Value = AgentEvent> {
    (
        any::<String>(),
        any::<u32>(),
        proptest::option::of(proptest::collection::vec(any::<u16>(), 0..20)),
        any::<bool>(),
    )
        .prop_map(|(kind, step, tokens, done)| AgentEvent { kind, step, tokens, done })
}

const LIMITS: DecodeLimits =
    DecodeLimits { frame_bytes_max: 1 << 20, payload_bytes_max: 1 << 20, ranges_max: 32 };

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::common::cases(1024), ..ProptestConfig::default() })]

    #[test]
    fn json_round_trips(f in frame(agent_event())) {
        let text = f.to_json().unwrap();
        prop_assert_eq!(Frame::<AgentEvent>::from_json(text.as_bytes(), LIMITS), Ok(f.clone()));
        // The plain serde path agrees with the entry points.
        prop_assert_eq!(serde_json::to_string(&f).unwrap(), text.clone());
        prop_assert_eq!(serde_json::from_str::<Frame<AgentEvent>>(&text).unwrap(), f);
    }

    #[test]
    fn binary_round_trips(f in frame(agent_event())) {
        let bytes = f.to_binary().unwrap();
        prop_assert_eq!(Frame::<AgentEvent>::from_binary(&bytes, LIMITS), Ok(f.clone()));
        prop_assert_eq!(postcard::to_allocvec(&f).unwrap(), bytes.clone());
        prop_assert_eq!(postcard::from_bytes::<Frame<AgentEvent>>(&bytes).unwrap(), f);
    }

    #[test]
    fn string_and_byte_payloads_round_trip(
        s in frame(any::<String>()),
        b in frame(proptest::collection::vec(any::<u8>(), 0..64)),
    ) {
        let json = s.to_json().unwrap();
        prop_assert_eq!(Frame::<String>::from_json(json.as_bytes(), LIMITS), Ok(s.clone()));
        prop_assert_eq!(Frame::<String>::from_binary(&s.to_binary().unwrap(), LIMITS), Ok(s));
        let json = b.to_json().unwrap();
        prop_assert_eq!(Frame::<Vec<u8>>::from_json(json.as_bytes(), LIMITS), Ok(b.clone()));
        prop_assert_eq!(Frame::<Vec<u8>>::from_binary(&b.to_binary().unwrap(), LIMITS), Ok(b));
    }

    #[test]
    fn json_frames_are_flat_objects_with_a_type_and_a_string_stream(f in frame(any::<u32>())) {
        let value: serde_json::Value = serde_json::from_str(&f.to_json().unwrap()).unwrap();
        prop_assert_eq!(value["type"].as_str(), Some(f.kind().name()));
        let stream = f.stream().to_bits().to_string();
        prop_assert_eq!(value["stream"].as_str(), Some(stream.as_str()));
    }

    #[test]
    fn binary_frames_start_with_their_tag(f in frame(any::<u32>())) {
        prop_assert_eq!(u32::from(f.to_binary().unwrap()[0]), f.kind().tag());
    }
}

/// The examples in PROTOCOL.md, byte for byte.
#[test]
fn the_documented_examples_decode() {
    let s = StreamId::from_bits(4_294_967_298);
    let cases: [(&str, Frame<serde_json::Value>); 6] = [
        (
            r#"{"type":"event","stream":"4294967298","seq":7,"attempt":2,"floor":5,"payload":{"kind":"tool_completed","tool":"search"}}"#,
            Frame::Event(EventFrame {
                stream: s,
                seq: Seq(7),
                attempt: 2,
                floor: Seq(5),
                payload: serde_json::json!({"kind": "tool_completed", "tool": "search"}),
            }),
        ),
        (
            r#"{"type":"ack","stream":"4294967298","cumulative":5,"ranges":[{"start":7,"end":9}],"echo":{"seq":7,"attempt":2}}"#,
            Frame::Ack(Ack {
                stream: s,
                cumulative: Seq(5),
                ranges: vec![SeqRange::new(7, 9)],
                echo: Some(Echo { seq: Seq(7), attempt: 2 }),
            }),
        ),
        (
            r#"{"type":"skip","stream":"4294967298","seqs":{"start":5,"end":7},"floor":9}"#,
            Frame::Skip(SkipFrame { stream: s, seqs: SeqRange::new(5, 7), floor: Seq(9) }),
        ),
        (
            r#"{"type":"hello","stream":"4294967298","resume":5}"#,
            Frame::Hello(HelloFrame { stream: s, resume: Seq(5) }),
        ),
        (
            r#"{"type":"nak","stream":"4294967298","seq":6,"delay_us":250000}"#,
            Frame::Nak(NakFrame { stream: s, seq: Seq(6), delay: Duration::from_millis(250) }),
        ),
        (
            r#"{"type":"progress","stream":"4294967298","seq":6}"#,
            Frame::Progress(ProgressFrame { stream: s, seq: Seq(6) }),
        ),
    ];
    for (text, frame) in cases {
        assert_eq!(Frame::from_json(text.as_bytes(), DecodeLimits::default()), Ok(frame.clone()));
        assert_eq!(frame.to_json().unwrap(), text);
    }
}

#[test]
fn the_documented_binary_example_decodes() {
    // Event, stream 2, seq 7, attempt 2, floor 5, payload "hi" (a postcard string).
    let bytes = [0x00, 0x02, 0x07, 0x02, 0x05, 0x02, b'h', b'i'];
    let frame = Frame::Event(EventFrame {
        stream: StreamId::from_bits(2),
        seq: Seq(7),
        attempt: 2,
        floor: Seq(5),
        payload: String::from("hi"),
    });
    assert_eq!(Frame::from_binary(&bytes, DecodeLimits::default()), Ok(frame.clone()));
    assert_eq!(frame.to_binary().unwrap(), bytes);
    // Ack, stream 2, cumulative 300 (varint ac 02), ranges [7..9], echo Some (01) (7, 2).
    let bytes = [0x01, 0x02, 0xac, 0x02, 0x01, 0x07, 0x09, 0x01, 0x07, 0x02];
    let frame: Frame<()> = Frame::Ack(Ack {
        stream: StreamId::from_bits(2),
        cumulative: Seq(300),
        ranges: vec![SeqRange::new(7, 9)],
        echo: Some(Echo { seq: Seq(7), attempt: 2 }),
    });
    assert_eq!(Frame::from_binary(&bytes, DecodeLimits::default()), Ok(frame.clone()));
    assert_eq!(frame.to_binary().unwrap(), bytes);
}

#[test]
fn json_decoding_is_lenient_where_clients_differ() {
    // Keys in any order, unknown keys ignored, a stream id as a number.
    let text = r#"{"seq":6,"extra":{"nested":[1,2,3]},"stream":42,"type":"progress"}"#;
    let frame = Frame::<()>::from_json(text.as_bytes(), DecodeLimits::default()).unwrap();
    assert_eq!(
        frame,
        Frame::Progress(ProgressFrame { stream: StreamId::from_bits(42), seq: Seq(6) })
    );
    // Whitespace around the object.
    let text = b" \n{\"type\":\"hello\",\"stream\":\"1\",\"resume\":0}\n ";
    assert!(Frame::<()>::from_json(text, DecodeLimits::default()).is_ok());
}

#[test]
fn payloads_may_borrow_from_the_input() {
    let text =
        br#"{"type":"event","stream":"1","seq":0,"attempt":1,"floor":0,"payload":"agent_started"}"#;
    let frame = Frame::<&str>::from_json(text, DecodeLimits::default()).unwrap();
    assert!(matches!(frame, Frame::Event(EventFrame { payload: "agent_started", .. })));
    let bytes = Frame::Event(EventFrame {
        stream: StreamId::from_bits(1),
        seq: Seq(0),
        attempt: 1,
        floor: Seq(0),
        payload: "agent_started",
    })
    .to_binary()
    .unwrap();
    let frame = Frame::<&str>::from_binary(&bytes, DecodeLimits::default()).unwrap();
    assert!(matches!(frame, Frame::Event(EventFrame { payload: "agent_started", .. })));
}
