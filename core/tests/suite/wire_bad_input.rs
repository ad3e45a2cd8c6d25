//! Untrusted bytes: every kind of bad input gets its typed error, within the
//! limits, and nothing panics.
#![cfg(all(feature = "json", feature = "binary"))]

use acktrack::{
    Ack, DecodeError, DecodeLimits, Echo, EventFrame, Frame, HelloFrame, Seq, SeqRange, StreamId,
};
use proptest::prelude::*;

fn json<P: serde::de::DeserializeOwned>(text: &str) -> Result<Frame<P>, DecodeError> {
    Frame::from_json(text.as_bytes(), DecodeLimits::default())
}

fn binary<P: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Frame<P>, DecodeError> {
    Frame::from_binary(bytes, DecodeLimits::default())
}

fn event(payload: &str) -> Frame<String> {
    Frame::Event(EventFrame {
        stream: StreamId::from_bits(1),
        seq: Seq(3),
        attempt: 1,
        floor: Seq(2),
        payload: payload.into(),
    })
}

fn ack(ranges: usize) -> Frame<String> {
    Frame::Ack(Ack {
        stream: StreamId::from_bits(1),
        cumulative: Seq(0),
        ranges: (0..ranges as u64).map(|i| SeqRange::new(2 * i + 1, 2 * i + 2)).collect(),
        echo: Some(Echo { seq: Seq(0), attempt: 1 }),
    })
}

#[test]
fn an_oversized_frame_is_refused_before_reading() {
    let limits = DecodeLimits { frame_bytes_max: 10, ..DecodeLimits::default() };
    let text = event("x").to_json().unwrap();
    let expected = Err(DecodeError::FrameTooLarge { len: text.len(), max: 10 });
    assert_eq!(Frame::<String>::from_json(text.as_bytes(), limits), expected);
    // Not even looked at: garbage of the same size gets the same answer.
    let garbage = vec![0xff; text.len()];
    assert_eq!(Frame::<String>::from_json(&garbage, limits), expected);
    let bytes = event("a longer payload").to_binary().unwrap();
    assert_eq!(
        Frame::<String>::from_binary(&bytes, limits),
        Err(DecodeError::FrameTooLarge { len: bytes.len(), max: 10 })
    );
}

#[test]
fn a_frame_of_exactly_the_limit_is_read() {
    let limit = |max: usize| DecodeLimits { frame_bytes_max: max, ..DecodeLimits::default() };
    let text = event("x").to_json().unwrap();
    let len = text.len();
    assert_eq!(Frame::from_json(text.as_bytes(), limit(len)), Ok(event("x")));
    assert_eq!(
        Frame::<String>::from_json(text.as_bytes(), limit(len - 1)),
        Err(DecodeError::FrameTooLarge { len, max: len - 1 })
    );
    let bytes = event("x").to_binary().unwrap();
    let len = bytes.len();
    assert_eq!(Frame::from_binary(&bytes, limit(len)), Ok(event("x")));
    assert_eq!(
        Frame::<String>::from_binary(&bytes, limit(len - 1)),
        Err(DecodeError::FrameTooLarge { len, max: len - 1 })
    );
}

#[test]
fn an_oversized_payload_is_refused_before_decoding() {
    let limits = DecodeLimits { payload_bytes_max: 4, ..DecodeLimits::default() };
    let text = event("hello").to_json().unwrap();
    assert_eq!(
        Frame::<String>::from_json(text.as_bytes(), limits),
        Err(DecodeError::PayloadTooLarge { len: 7, max: 4 }),
        "raw JSON text, quotes included"
    );
    let bytes = event("hello").to_binary().unwrap();
    assert_eq!(
        Frame::<String>::from_binary(&bytes, limits),
        Err(DecodeError::PayloadTooLarge { len: 6, max: 4 }),
        "length prefix included"
    );
    assert!(Frame::<String>::from_binary(&event("hel").to_binary().unwrap(), limits).is_ok());
}

#[test]
fn too_many_ranges_are_refused() {
    let limits = DecodeLimits { ranges_max: 3, ..DecodeLimits::default() };
    let text = ack(4).to_json().unwrap();
    assert_eq!(
        Frame::<String>::from_json(text.as_bytes(), limits),
        Err(DecodeError::TooManyRanges { count: 4, max: 3 })
    );
    let bytes = ack(4).to_binary().unwrap();
    assert_eq!(
        Frame::<String>::from_binary(&bytes, limits),
        Err(DecodeError::TooManyRanges { count: 4, max: 3 })
    );
    assert!(Frame::<String>::from_binary(&ack(3).to_binary().unwrap(), limits).is_ok());
    // A binary ack announcing four billion ranges allocates nothing: postcard
    // does not trust a length longer than the input, and the ranges run out.
    let bytes = [1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2];
    assert_eq!(binary::<()>(&bytes), Err(DecodeError::Truncated));
    // The hard ceiling holds whatever the limits say.
    let limits = DecodeLimits { ranges_max: usize::MAX, ..DecodeLimits::default() };
    let bytes = ack(1025).to_binary().unwrap();
    assert!(matches!(
        Frame::<String>::from_binary(&bytes, limits),
        Err(DecodeError::TooManyRanges { max: 1024, .. })
    ));
}

#[test]
fn truncated_frames_are_refused() {
    let bytes = event("payload").to_binary().unwrap();
    for len in 0..bytes.len() {
        let result = binary::<String>(&bytes[..len]);
        assert!(
            matches!(result, Err(DecodeError::Truncated | DecodeError::Payload)),
            "{len}: {result:?}"
        );
    }
    assert_eq!(binary::<String>(&bytes[..3]), Err(DecodeError::Truncated));
    let text = event("payload").to_json().unwrap();
    for len in 0..text.len() {
        assert!(json::<String>(&text[..len]).is_err(), "{len}");
    }
    assert_eq!(json::<String>(&text[..text.len() - 1]), Err(DecodeError::Truncated));
}

#[test]
fn bytes_after_the_frame_are_refused() {
    let mut bytes =
        Frame::<String>::Hello(HelloFrame { stream: StreamId::from_bits(1), resume: Seq(0) })
            .to_binary()
            .unwrap();
    bytes.push(0);
    assert_eq!(binary::<String>(&bytes), Err(DecodeError::TrailingBytes));
    let mut bytes = event("x").to_binary().unwrap();
    bytes.push(0);
    assert_eq!(binary::<String>(&bytes), Err(DecodeError::TrailingBytes));
    let text = event("x").to_json().unwrap();
    assert_eq!(json::<String>(&format!("{text} 1")), Err(DecodeError::TrailingBytes));
    assert_eq!(json::<String>(&format!("{text}{text}")), Err(DecodeError::TrailingBytes));
}

#[test]
fn unknown_frame_types_are_refused() {
    assert_eq!(json::<()>(r#"{"type":"evnet","stream":"1"}"#), Err(DecodeError::UnknownKind));
    assert_eq!(json::<()>(r#"{"type":"Event","stream":"1"}"#), Err(DecodeError::UnknownKind));
    assert_eq!(binary::<()>(&[6, 1, 0]), Err(DecodeError::UnknownKind));
    assert_eq!(binary::<()>(&[0x80, 0x01]), Err(DecodeError::UnknownKind));
    // A tag that does not fit 32 bits is not a tag at all.
    assert_eq!(binary::<()>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Err(DecodeError::Malformed));
}

#[test]
fn missing_and_duplicate_fields_are_named() {
    assert_eq!(
        json::<u8>(r#"{"stream":"1","resume":0}"#),
        Err(DecodeError::MissingField { field: "type" })
    );
    assert_eq!(
        json::<u8>(r#"{"type":"event","stream":"1","seq":3,"attempt":1,"payload":7}"#),
        Err(DecodeError::MissingField { field: "floor" })
    );
    assert_eq!(
        json::<u8>(r#"{"type":"hello","resume":0}"#),
        Err(DecodeError::MissingField { field: "stream" })
    );
    assert_eq!(
        json::<u8>(r#"{"type":"hello","stream":"1","resume":0,"resume":1}"#),
        Err(DecodeError::DuplicateField { field: "resume" })
    );
    assert_eq!(
        json::<u8>(r#"{"type":"hello","type":"ack","stream":"1","resume":0}"#),
        Err(DecodeError::DuplicateField { field: "type" })
    );
}

#[test]
fn malformed_values_are_refused() {
    let bad = [
        "",
        "null",
        "[]",
        "\"hello\"",
        "{not json}",
        r#"{"type":"hello","stream":"1","resume":-1}"#,
        r#"{"type":"hello","stream":"1","resume":1.5}"#,
        r#"{"type":"hello","stream":"1","resume":"1"}"#,
        r#"{"type":"hello","stream":"1","resume":18446744073709551616}"#,
        r#"{"type":"hello","stream":"abc","resume":1}"#,
        r#"{"type":"hello","stream":"-1","resume":1}"#,
        r#"{"type":"hello","stream":" 1","resume":1}"#,
        r#"{"type":"hello","stream":"","resume":1}"#,
        r#"{"type":"hello","stream":"18446744073709551616","resume":1}"#,
        // Rust's u64 parser takes a leading `+`, and leading zeros past 20
        // digits: the wire takes 1 to 20 decimal digits and nothing else.
        r#"{"type":"hello","stream":"+5","resume":1}"#,
        r#"{"type":"hello","stream":"000000000000000000001","resume":1}"#,
        r#"{"type":"hello","stream":-1,"resume":1}"#,
        r#"{"type":"hello","stream":null,"resume":1}"#,
        r#"{"type":7,"stream":"1","resume":1}"#,
        r#"{"type":"event","stream":"1","seq":0,"attempt":4294967296,"floor":0,"payload":1}"#,
        r#"{"type":"ack","stream":"1","cumulative":0,"ranges":{"start":1},"echo":{"seq":0,"attempt":1}}"#,
        r#"{"type":"ack","stream":"1","cumulative":0,"ranges":[{"start":1}],"echo":{"seq":0,"attempt":1}}"#,
        r#"{"type":"ack","stream":"1","cumulative":0,"ranges":[],"echo":{"seq":0}}"#,
        "{\"type\":\"hello\",\"stream\":\"1\",\"resume\":1,\"x\":\"\u{1}\"}",
    ];
    for text in bad {
        assert!(
            matches!(json::<u8>(text), Err(DecodeError::Malformed | DecodeError::Truncated)),
            "{text}: {:?}",
            json::<u8>(text)
        );
    }
    assert_eq!(json::<u8>("{\"type\":\"hello\"").unwrap_err(), DecodeError::Truncated);
    assert_eq!(json::<u8>(&"x".repeat(10)), Err(DecodeError::Malformed));
    // Invalid UTF-8 inside a string.
    let mut bytes = br#"{"type":"hello","resume":1,"stream":"#.to_vec();
    bytes.extend_from_slice(&[b'"', 0xff, b'"', b'}']);
    assert_eq!(
        Frame::<u8>::from_json(&bytes, DecodeLimits::default()),
        Err(DecodeError::Malformed)
    );
    // A varint longer than its type allows.
    assert_eq!(
        binary::<u8>(&[3, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        Err(DecodeError::Malformed)
    );
}

#[test]
fn a_payload_of_the_wrong_type_is_refused() {
    let text = r#"{"type":"event","stream":"1","seq":0,"attempt":1,"floor":0,"payload":"x"}"#;
    assert_eq!(json::<u32>(text), Err(DecodeError::Payload));
    // postcard bool must be 0 or 1.
    assert_eq!(binary::<bool>(&[0, 1, 0, 1, 0, 2]), Err(DecodeError::Payload));
    // A byte vector announcing more bytes than there are fails without
    // reading past the frame.
    assert_eq!(binary::<Vec<u8>>(&[0, 1, 0, 1, 0, 0xff, 0xff, 0x03, 1]), Err(DecodeError::Payload));
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let limits =
        DecodeLimits { frame_bytes_max: 1 << 20, payload_bytes_max: 1 << 20, ranges_max: 32 };
    // An unknown field is skipped without recursion, however deep.
    let unknown = format!(r#"{{"type":"hello","stream":"1","resume":1,"x":{deep}}}"#);
    assert!(Frame::<u8>::from_json(unknown.as_bytes(), limits).is_ok());
    // A known field or a payload deeper than 128 levels is refused.
    let ranges = format!(
        r#"{{"type":"ack","stream":"1","cumulative":0,"echo":{{"seq":0,"attempt":1}},"ranges":{deep}}}"#
    );
    assert_eq!(Frame::<u8>::from_json(ranges.as_bytes(), limits), Err(DecodeError::Malformed));
    let payload = format!(
        r#"{{"type":"event","stream":"1","seq":0,"attempt":1,"floor":0,"payload":{deep}}}"#
    );
    let result = Frame::<serde_json::Value>::from_json(payload.as_bytes(), limits);
    assert!(matches!(result, Err(DecodeError::Malformed | DecodeError::Payload)), "{result:?}");
}

fn valid_frames() -> Vec<Frame<String>> {
    vec![
        event("agent_thinking"),
        ack(3),
        Frame::Hello(HelloFrame { stream: StreamId::from_bits(9), resume: Seq(4) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::common::cases(2048), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Frame::<String>::from_binary(&bytes, DecodeLimits::default());
        let _ = Frame::<Vec<u8>>::from_binary(&bytes, DecodeLimits::default());
        let _ = Frame::<serde_json::Value>::from_json(&bytes, DecodeLimits::default());
    }

    #[test]
    fn mutated_frames_never_panic(
        which in 0..3usize,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let frame = &valid_frames()[which];
        let mut bytes = frame.to_binary().unwrap();
        let mut text = frame.to_json().unwrap().into_bytes();
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
            let j = at % text.len();
            text[j] = value;
        }
        bytes.truncate(cut % (bytes.len() + 1) + bytes.len() / 2);
        let _ = Frame::<String>::from_binary(&bytes, DecodeLimits::default());
        let _ = Frame::<String>::from_json(&text, DecodeLimits::default());
        let _ = Frame::<serde_json::Value>::from_json(&text, DecodeLimits::default());
    }
}
