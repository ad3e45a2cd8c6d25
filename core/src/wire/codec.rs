//! serde impls for [`Frame`] and the limit-checking decoders.
//!
//! One visitor serves both layouts: human-readable formats (JSON) see a map
//! with a `"type"` key, compact formats (postcard) an enum whose variant tag
//! is the [`FrameKind::tag`] and whose fields follow in a fixed order with the
//! payload last. Limits are carried by a [`DeserializeSeed`]; when a limit
//! trips, the typed [`DecodeError`] is parked in a `Cell` because serde's
//! error types only carry text.

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeStruct, SerializeStructVariant, Serializer};
use serde::{Deserialize, Serialize};

use super::{
    DecodeError, EventFrame, Frame, FrameKind, HelloFrame, NakFrame, ProgressFrame,
    RANGES_HARD_MAX, SkipFrame,
};
use crate::ack::{Ack, Echo};
use crate::ids::{Seq, SeqRange, StreamId};

// ---------------------------------------------------------------- encoding

/// Writes named fields into either a struct (JSON) or a struct variant (binary).
trait Fields {
    type Ok;
    type Error: ser::Error;
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T)
    -> Result<(), Self::Error>;
    fn done(self) -> Result<Self::Ok, Self::Error>;
}

struct Tagged<S>(S);
struct Variant<S>(S);

impl<S: SerializeStruct> Fields for Tagged<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Result<(), S::Error> {
        self.0.serialize_field(key, v)
    }
    fn done(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

impl<S: SerializeStructVariant> Fields for Variant<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Result<(), S::Error> {
        self.0.serialize_field(key, v)
    }
    fn done(self) -> Result<S::Ok, S::Error> {
        self.0.end()
    }
}

/// Field names per kind, in binary order. The JSON object has the same
/// fields plus `"type"`; a Nak's delay is `"delay_us"` in both.
const fn field_names(kind: FrameKind) -> &'static [&'static str] {
    match kind {
        FrameKind::Event => &["stream", "seq", "attempt", "floor", "payload"],
        FrameKind::Ack => &["stream", "cumulative", "ranges", "echo"],
        FrameKind::Skip => &["stream", "seqs", "floor"],
        FrameKind::Hello => &["stream", "resume"],
        FrameKind::Nak => &["stream", "seq", "delay_us"],
        FrameKind::Progress => &["stream", "seq"],
    }
}

const KIND_NAMES: [&str; 6] = ["event", "ack", "skip", "hello", "nak", "progress"];

/// A stream id: a decimal string in human-readable formats (JavaScript numbers
/// are exact only to 2^53 and the generation sits in the high bits), a varint
/// in compact ones. Decoding accepts a JSON number too.
struct StreamWire(StreamId);

impl Serialize for StreamWire {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(&self.0.to_bits())
        } else {
            s.serialize_u64(self.0.to_bits())
        }
    }
}

impl<'de> Deserialize<'de> for StreamWire {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StreamWire;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stream id (u64, or a decimal string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StreamWire, E> {
                Ok(StreamWire(StreamId::from_bits(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StreamWire, E> {
                let digits =
                    !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit());
                match v.parse::<u64>() {
                    Ok(bits) if digits => Ok(StreamWire(StreamId::from_bits(bits))),
                    _ => Err(E::invalid_value(de::Unexpected::Other("string"), &self)),
                }
            }
        }
        if d.is_human_readable() { d.deserialize_any(V) } else { d.deserialize_u64(V) }
    }
}

fn micros(d: Duration) -> u64 {
    crate::time::micros(d)
}

fn write_fields<P: Serialize, W: Fields>(frame: &Frame<P>, mut w: W) -> Result<W::Ok, W::Error> {
    match frame {
        Frame::Event(e) => {
            w.field("stream", &StreamWire(e.stream))?;
            w.field("seq", &e.seq)?;
            w.field("attempt", &e.attempt)?;
            w.field("floor", &e.floor)?;
            w.field("payload", &e.payload)?;
        }
        Frame::Ack(a) => {
            w.field("stream", &StreamWire(a.stream))?;
            w.field("cumulative", &a.cumulative)?;
            w.field("ranges", &a.ranges)?;
            w.field("echo", &a.echo)?;
        }
        Frame::Skip(s) => {
            w.field("stream", &StreamWire(s.stream))?;
            w.field("seqs", &s.seqs)?;
            w.field("floor", &s.floor)?;
        }
        Frame::Hello(h) => {
            w.field("stream", &StreamWire(h.stream))?;
            w.field("resume", &h.resume)?;
        }
        Frame::Nak(n) => {
            w.field("stream", &StreamWire(n.stream))?;
            w.field("seq", &n.seq)?;
            w.field("delay_us", &micros(n.delay))?;
        }
        Frame::Progress(p) => {
            w.field("stream", &StreamWire(p.stream))?;
            w.field("seq", &p.seq)?;
        }
    }
    w.done()
}

impl<P: Serialize> Serialize for Frame<P> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.kind();
        let len = field_names(kind).len();
        if s.is_human_readable() {
            let mut st = s.serialize_struct("Frame", len + 1)?;
            st.serialize_field("type", kind.name())?;
            write_fields(self, Tagged(st))
        } else {
            let st = s.serialize_struct_variant("Frame", kind.tag(), kind.name(), len)?;
            write_fields(self, Variant(st))
        }
    }
}

// ---------------------------------------------------------------- decoding

/// Deserializes a `Frame<X>` under a range limit, parking typed errors in `error`.
pub(super) struct FrameSeed<'e, X> {
    ranges_max: usize,
    error: &'e Cell<Option<DecodeError>>,
    payload: PhantomData<fn() -> X>,
}

impl<'e, X> FrameSeed<'e, X> {
    fn new(ranges_max: usize, error: &'e Cell<Option<DecodeError>>) -> Self {
        FrameSeed { ranges_max: ranges_max.min(RANGES_HARD_MAX), error, payload: PhantomData }
    }

    /// Records `e` as the reason and returns a serde error to unwind with.
    fn fail<E: de::Error>(&self, e: DecodeError) -> E {
        fail(self.error, e)
    }

    fn need<T, E: de::Error>(&self, v: Option<T>, field: &'static str) -> Result<T, E> {
        v.ok_or_else(|| self.fail(DecodeError::MissingField { field }))
    }
}

fn fail<E: de::Error>(cell: &Cell<Option<DecodeError>>, e: DecodeError) -> E {
    // Keep the innermost reason: it is the most specific.
    if cell.get().is_none() {
        cell.set(Some(e));
    }
    E::custom(e)
}

impl<'de, X: Deserialize<'de>> DeserializeSeed<'de> for FrameSeed<'_, X> {
    type Value = Frame<X>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Frame<X>, D::Error> {
        if d.is_human_readable() {
            d.deserialize_map(self)
        } else {
            d.deserialize_enum("Frame", &KIND_NAMES, self)
        }
    }
}

impl<'de, P: Deserialize<'de>> Deserialize<'de> for Frame<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let error = Cell::new(None);
        FrameSeed::new(RANGES_HARD_MAX, &error).deserialize(d)
    }
}

/// JSON keys.
#[derive(Clone, Copy)]
enum Key {
    Type,
    Stream,
    Seq,
    Attempt,
    Floor,
    Payload,
    Cumulative,
    Ranges,
    Echo,
    Seqs,
    Resume,
    DelayUs,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "type" => Key::Type,
                    "stream" => Key::Stream,
                    "seq" => Key::Seq,
                    "attempt" => Key::Attempt,
                    "floor" => Key::Floor,
                    "payload" => Key::Payload,
                    "cumulative" => Key::Cumulative,
                    "ranges" => Key::Ranges,
                    "echo" => Key::Echo,
                    "seqs" => Key::Seqs,
                    "resume" => Key::Resume,
                    "delay_us" => Key::DelayUs,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// The JSON `"type"` value.
struct KindSeed<'e>(&'e Cell<Option<DecodeError>>);

impl<'de> DeserializeSeed<'de> for KindSeed<'_> {
    type Value = FrameKind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FrameKind, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KindSeed<'_> {
    type Value = FrameKind;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a frame type name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<FrameKind, E> {
        FrameKind::from_name(v).ok_or_else(|| fail(self.0, DecodeError::UnknownKind))
    }
}

/// Ack ranges, refused as soon as they exceed `max` (before allocating, when
/// the format announces the length).
struct RangesSeed<'e> {
    max: usize,
    error: &'e Cell<Option<DecodeError>>,
}

impl<'de> DeserializeSeed<'de> for RangesSeed<'_> {
    type Value = Vec<SeqRange>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<SeqRange>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RangesSeed<'_> {
    type Value = Vec<SeqRange>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of seq ranges")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<SeqRange>, A::Error> {
        let announced = seq.size_hint();
        if let Some(count) = announced.filter(|&n| n > self.max) {
            return Err(fail(self.error, DecodeError::TooManyRanges { count, max: self.max }));
        }
        let mut ranges = Vec::with_capacity(announced.unwrap_or(0).min(self.max));
        while let Some(range) = seq.next_element::<SeqRange>()? {
            if ranges.len() == self.max {
                let e = DecodeError::TooManyRanges { count: self.max + 1, max: self.max };
                return Err(fail(self.error, e));
            }
            ranges.push(range);
        }
        Ok(ranges)
    }
}

/// Every field any frame has, collected in whatever order the map gives them.
struct Collected<X> {
    kind: Option<FrameKind>,
    stream: Option<StreamId>,
    seq: Option<Seq>,
    attempt: Option<u32>,
    floor: Option<Seq>,
    payload: Option<X>,
    cumulative: Option<Seq>,
    ranges: Option<Vec<SeqRange>>,
    /// Outer: seen; inner: `null` or absent means no echo.
    echo: Option<Option<Echo>>,
    seqs: Option<SeqRange>,
    resume: Option<Seq>,
    delay_us: Option<u64>,
}

impl<'de, X: Deserialize<'de>> Visitor<'de> for FrameSeed<'_, X> {
    type Value = Frame<X>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an acktrack frame")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Frame<X>, A::Error> {
        let mut c = Collected {
            kind: None,
            stream: None,
            seq: None,
            attempt: None,
            floor: None,
            payload: None,
            cumulative: None,
            ranges: None,
            echo: None,
            seqs: None,
            resume: None,
            delay_us: None,
        };
        macro_rules! once {
            ($slot:expr, $name:literal, $value:expr) => {{
                if $slot.is_some() {
                    return Err(self.fail(DecodeError::DuplicateField { field: $name }));
                }
                $slot = Some($value);
            }};
        }
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Type => once!(c.kind, "type", map.next_value_seed(KindSeed(self.error))?),
                Key::Stream => once!(c.stream, "stream", map.next_value::<StreamWire>()?.0),
                Key::Seq => once!(c.seq, "seq", map.next_value()?),
                Key::Attempt => once!(c.attempt, "attempt", map.next_value()?),
                Key::Floor => once!(c.floor, "floor", map.next_value()?),
                Key::Payload => once!(c.payload, "payload", map.next_value()?),
                Key::Cumulative => once!(c.cumulative, "cumulative", map.next_value()?),
                Key::Ranges => {
                    let seed = RangesSeed { max: self.ranges_max, error: self.error };
                    once!(c.ranges, "ranges", map.next_value_seed(seed)?)
                }
                Key::Echo => once!(c.echo, "echo", map.next_value()?),
                Key::Seqs => once!(c.seqs, "seqs", map.next_value()?),
                Key::Resume => once!(c.resume, "resume", map.next_value()?),
                Key::DelayUs => once!(c.delay_us, "delay_us", map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = self.need(c.kind, "type")?;
        let stream = self.need(c.stream, "stream")?;
        Ok(match kind {
            FrameKind::Event => Frame::Event(EventFrame {
                stream,
                seq: self.need(c.seq, "seq")?,
                attempt: self.need(c.attempt, "attempt")?,
                floor: self.need(c.floor, "floor")?,
                payload: self.need(c.payload, "payload")?,
            }),
            FrameKind::Ack => Frame::Ack(Ack {
                stream,
                cumulative: self.need(c.cumulative, "cumulative")?,
                ranges: self.need(c.ranges, "ranges")?,
                echo: c.echo.flatten(),
            }),
            FrameKind::Skip => Frame::Skip(SkipFrame {
                stream,
                seqs: self.need(c.seqs, "seqs")?,
                floor: self.need(c.floor, "floor")?,
            }),
            FrameKind::Hello => {
                Frame::Hello(HelloFrame { stream, resume: self.need(c.resume, "resume")? })
            }
            FrameKind::Nak => Frame::Nak(NakFrame {
                stream,
                seq: self.need(c.seq, "seq")?,
                delay: Duration::from_micros(self.need(c.delay_us, "delay_us")?),
            }),
            FrameKind::Progress => {
                Frame::Progress(ProgressFrame { stream, seq: self.need(c.seq, "seq")? })
            }
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Frame<X>, A::Error> {
        use de::VariantAccess;
        let (tag, variant) = data.variant::<u32>()?;
        let kind = FrameKind::from_tag(tag).ok_or_else(|| self.fail(DecodeError::UnknownKind))?;
        variant.struct_variant(field_names(kind), VariantFields { kind, seed: self })
    }
}

/// The fields of one binary variant, in order.
struct VariantFields<'e, X> {
    kind: FrameKind,
    seed: FrameSeed<'e, X>,
}

impl<'de, X: Deserialize<'de>> Visitor<'de> for VariantFields<'_, X> {
    type Value = Frame<X>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the fields of a {} frame", self.kind)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Frame<X>, A::Error> {
        let s = &self.seed;
        macro_rules! next {
            ($name:literal) => {
                s.need(seq.next_element()?, $name)?
            };
        }
        let stream = next!("stream");
        let StreamWire(stream) = stream;
        Ok(match self.kind {
            FrameKind::Event => Frame::Event(EventFrame {
                stream,
                seq: next!("seq"),
                attempt: next!("attempt"),
                floor: next!("floor"),
                payload: next!("payload"),
            }),
            FrameKind::Ack => {
                let cumulative = next!("cumulative");
                let ranges_seed = RangesSeed { max: s.ranges_max, error: s.error };
                let ranges = s.need(seq.next_element_seed(ranges_seed)?, "ranges")?;
                Frame::Ack(Ack { stream, cumulative, ranges, echo: next!("echo") })
            }
            FrameKind::Skip => {
                Frame::Skip(SkipFrame { stream, seqs: next!("seqs"), floor: next!("floor") })
            }
            FrameKind::Hello => Frame::Hello(HelloFrame { stream, resume: next!("resume") }),
            FrameKind::Nak => Frame::Nak(NakFrame {
                stream,
                seq: next!("seq"),
                delay: Duration::from_micros(next!("delay_us")),
            }),
            FrameKind::Progress => Frame::Progress(ProgressFrame { stream, seq: next!("seq") }),
        })
    }
}

// ---------------------------------------------------------------- entry points

#[cfg(any(feature = "json", feature = "binary"))]
use super::DecodeLimits;

#[cfg(any(feature = "json", feature = "binary"))]
fn check_len(len: usize, limits: DecodeLimits) -> Result<(), DecodeError> {
    if len > limits.frame_bytes_max {
        return Err(DecodeError::FrameTooLarge { len, max: limits.frame_bytes_max });
    }
    Ok(())
}

#[cfg(any(feature = "json", feature = "binary"))]
fn check_payload_len(len: usize, limits: DecodeLimits) -> Result<(), DecodeError> {
    if len > limits.payload_bytes_max {
        return Err(DecodeError::PayloadTooLarge { len, max: limits.payload_bytes_max });
    }
    Ok(())
}

#[cfg(feature = "json")]
pub(super) fn from_json<'a, P: Deserialize<'a>>(
    bytes: &'a [u8],
    limits: DecodeLimits,
) -> Result<Frame<P>, DecodeError> {
    use serde_json::error::Category;
    use serde_json::value::RawValue;

    check_len(bytes.len(), limits)?;
    let error = Cell::new(None);
    let classify = |e: serde_json::Error| match e.classify() {
        Category::Eof => DecodeError::Truncated,
        _ => DecodeError::Malformed,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // First pass: the frame with its payload left as raw JSON text, so the
    // payload's size is known before anything is built from it.
    let head: Frame<&'a RawValue> = FrameSeed::new(limits.ranges_max, &error)
        .deserialize(&mut de)
        .map_err(|e| error.take().unwrap_or_else(|| classify(e)))?;
    de.end().map_err(|_| DecodeError::TrailingBytes)?;
    head.try_map_payload(|raw| {
        let text = raw.get();
        check_payload_len(text.len(), limits)?;
        serde_json::from_str(text).map_err(|_| DecodeError::Payload)
    })
}

#[cfg(feature = "binary")]
pub(super) fn from_binary<'a, P: Deserialize<'a>>(
    bytes: &'a [u8],
    limits: DecodeLimits,
) -> Result<Frame<P>, DecodeError> {
    check_len(bytes.len(), limits)?;
    let error = Cell::new(None);
    let classify = |e: postcard::Error| match e {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
        _ => DecodeError::Malformed,
    };
    let mut de = postcard::Deserializer::from_bytes(bytes);
    // First pass: the header. `()` occupies no bytes, and the payload is the
    // last field, so what is left over is exactly the payload's encoding.
    let head: Frame<()> = FrameSeed::new(limits.ranges_max, &error)
        .deserialize(&mut de)
        .map_err(|e| error.take().unwrap_or_else(|| classify(e)))?;
    let rest: &'a [u8] = de.finalize().map_err(classify)?;
    if head.kind() != FrameKind::Event && !rest.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    head.try_map_payload(|()| {
        check_payload_len(rest.len(), limits)?;
        let (payload, tail) =
            postcard::take_from_bytes::<P>(rest).map_err(|_| DecodeError::Payload)?;
        if !tail.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(payload)
    })
}

#[cfg(test)]
#[cfg(all(feature = "json", feature = "binary"))]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    fn stream() -> StreamId {
        StreamId::from_bits((3 << 32) | 7)
    }

    #[test]
    fn json_event_layout_is_flat_and_tagged() {
        let frame: Frame<String> = Frame::Event(EventFrame {
            stream: stream(),
            seq: Seq(5),
            attempt: 2,
            floor: Seq(3),
            payload: "hi".into(),
        });
        let json = frame.to_json().unwrap();
        assert_eq!(
            json,
            r#"{"type":"event","stream":"12884901895","seq":5,"attempt":2,"floor":3,"payload":"hi"}"#
        );
        assert_eq!(Frame::from_json(json.as_bytes(), DecodeLimits::default()), Ok(frame));
    }

    #[test]
    fn binary_ack_layout_is_tag_then_fields() {
        let frame: Frame<()> = Frame::Ack(Ack {
            stream: StreamId::from_bits(1),
            cumulative: Seq(2),
            ranges: vec![SeqRange::new(4, 6)],
            echo: Some(Echo { seq: Seq(5), attempt: 1 }),
        });
        let bytes = frame.to_binary().unwrap();
        assert_eq!(bytes, [1, 1, 2, 1, 4, 6, 1, 5, 1]);
        assert_eq!(Frame::from_binary(&bytes, DecodeLimits::default()), Ok(frame));
    }

    #[test]
    fn the_innermost_reason_wins() {
        let cell = Cell::new(None);
        let _: serde_json::Error = fail(&cell, DecodeError::UnknownKind);
        let _: serde_json::Error = fail(&cell, DecodeError::Malformed);
        assert_eq!(cell.get(), Some(DecodeError::UnknownKind));
    }
}
