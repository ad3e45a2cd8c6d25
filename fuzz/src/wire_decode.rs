//! `wire_decode`: arbitrary bytes into both decoders. The first byte picks the
//! encoding, the payload type and the limits; the rest is the frame.
//!
//! Every input must give a typed [`DecodeError`](acktrack::DecodeError) or a
//! frame that round-trips: re-encoded in the same encoding it decodes to the
//! same frame and re-encodes to the same bytes, and it survives the other
//! encoding too. The target binary also bounds what one decode may allocate
//! (see `fuzz_targets/wire_decode.rs`).

use acktrack::{DecodeLimits, Frame};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, bytes)) = data.split_first() else { return };
    let json = mode & 1 == 0;
    let limits = match (mode >> 3) & 3 {
        0 => DecodeLimits::default(),
        1 => DecodeLimits { frame_bytes_max: 64, payload_bytes_max: 16, ranges_max: 2 },
        2 => DecodeLimits {
            frame_bytes_max: 1 << 20,
            payload_bytes_max: 1 << 20,
            ranges_max: usize::MAX,
        },
        _ => DecodeLimits { frame_bytes_max: 0, payload_bytes_max: 0, ranges_max: 0 },
    };
    match (mode >> 1) & 3 {
        0 => check::<u64>(json, bytes, limits),
        1 => check::<String>(json, bytes, limits),
        2 => check::<Vec<u8>>(json, bytes, limits),
        _ => check::<Option<(bool, i32)>>(json, bytes, limits),
    }
}

fn decode<P: DeserializeOwned>(
    json: bool,
    bytes: &[u8],
    limits: DecodeLimits,
) -> Result<Frame<P>, acktrack::DecodeError> {
    if json { Frame::from_json(bytes, limits) } else { Frame::from_binary(bytes, limits) }
}

fn encode<P: Serialize>(json: bool, frame: &Frame<P>) -> Vec<u8> {
    if json {
        frame.to_json().expect("a decoded frame encodes").into_bytes()
    } else {
        frame.to_binary().expect("a decoded frame encodes")
    }
}

fn check<P>(json: bool, bytes: &[u8], limits: DecodeLimits)
where
    P: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    let Ok(frame) = decode::<P>(json, bytes, limits) else { return };
    assert!(bytes.len() <= limits.frame_bytes_max, "accepted a frame over frame_bytes_max");
    if let Frame::Ack(ack) = &frame {
        assert!(
            ack.ranges.len() <= limits.ranges_max.min(acktrack::RANGES_HARD_MAX),
            "accepted too many ranges"
        );
    }
    // The canonical form may be longer than the input (a JSON stream id as a
    // number becomes a string): decode it with room to spare.
    let roomy = DecodeLimits {
        frame_bytes_max: 1 << 22,
        payload_bytes_max: 1 << 22,
        ranges_max: usize::MAX,
    };
    for same in [true, false] {
        let enc = if same { json } else { !json };
        let canonical = encode(enc, &frame);
        let again = decode::<P>(enc, &canonical, roomy)
            .unwrap_or_else(|e| panic!("re-encoded frame does not decode ({e}): {frame:?}"));
        assert_eq!(again, frame, "frame does not round-trip");
        assert_eq!(encode(enc, &again), canonical, "encoding is not canonical");
    }
}
