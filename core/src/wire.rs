//! Wire frames and their two encodings: JSON for browser clients, postcard for
//! everything else.
//!
//! A [`Frame`] is one message on a stream's connection. The server sends
//! [`EventFrame`]s and [`SkipFrame`]s; the client sends [`Ack`]s,
//! [`HelloFrame`]s, [`NakFrame`]s and [`ProgressFrame`]s. `PROTOCOL.md` at the
//! repository root documents every frame, with JSON examples and the binary
//! layout, for clients written in other languages.
//!
//! Decoding is the first thing untrusted bytes meet, so it is defensive:
//! [`Frame::from_json`] and [`Frame::from_binary`] check the frame size before
//! reading anything, the range count before allocating ranges and the payload
//! size before decoding the payload, and report each problem as a typed
//! [`DecodeError`]. They check shape only: whether a seq is plausible is for the
//! [`Receiver`](crate::Receiver) or the tracker to judge.
//!
//! `Frame<P>` also implements serde's traits directly (with the `serde`
//! feature): human-readable formats get the JSON layout, compact formats the
//! binary one. Those impls cap ack ranges at [`RANGES_HARD_MAX`] but know no
//! other limit; prefer the `from_*` functions for untrusted input.

use core::fmt;
use core::time::Duration;

use crate::ack::Ack;
use crate::ids::{Seq, SeqRange, StreamId};

#[cfg(feature = "serde")]
mod codec;

/// The most ack ranges any decoder accepts, whatever its [`DecodeLimits`] say
/// (the tracker's own ceiling for `ack_ranges_max`).
pub const RANGES_HARD_MAX: usize = 1024;

/// One transmission of an event: server to client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventFrame<P> {
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its seq on the stream; the same on every attempt.
    pub seq: Seq,
    /// 1 for the first transmission, then 2, 3, …
    pub attempt: u32,
    /// The sender's floor when this frame was built: every seq below it is
    /// confirmed or abandoned, so the receiver stops waiting for them. Never
    /// above `seq`. Because every event frame carries it, abandonment survives
    /// the loss of any [`SkipFrame`].
    pub floor: Seq,
    /// The application's payload.
    pub payload: P,
}

/// The sender gave up on these seqs (expired, cancelled, superseded): server
/// to client. Sent for every `Command::Skip`, and again by the tracker while
/// the client's cumulative ack stays below the floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SkipFrame {
    /// The stream.
    pub stream: StreamId,
    /// The abandoned seqs; never empty.
    pub seqs: SeqRange,
    /// The sender's floor when this frame was built, as in [`EventFrame`]. It
    /// lets the receiver place a skip that lies beyond what it has seen, and
    /// carries abandonment like every other server frame.
    pub floor: Seq,
}

/// A client (re)connects to a stream and says where to resume: client to
/// server, first frame on every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HelloFrame {
    /// The stream.
    pub stream: StreamId,
    /// The client's cumulative ack: every seq below it was received or
    /// skipped ([`Receiver::resume`](crate::Receiver::resume)).
    pub resume: Seq,
}

/// A negative ack: client to server. The client got `seq` but could not
/// process it, and asks for a redelivery after `delay` (zero: now); the
/// tracker makes it a new attempt, never past the event's deadline
/// ([`Tracker::handle_nak`](crate::Tracker::handle_nak)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NakFrame {
    /// The stream.
    pub stream: StreamId,
    /// The seq to redeliver.
    pub seq: Seq,
    /// How long the sender should wait before redelivering it. Carried in
    /// whole microseconds.
    pub delay: Duration,
}

/// A progress report: client to server. The client is still working on `seq`;
/// the tracker extends the current attempt's timeout instead of retrying
/// ([`Tracker::handle_progress`](crate::Tracker::handle_progress)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgressFrame {
    /// The stream.
    pub stream: StreamId,
    /// The seq being worked on.
    pub seq: Seq,
}

/// One message on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Frame<P> {
    /// An event transmission (server to client).
    Event(EventFrame<P>),
    /// An acknowledgement (client to server).
    Ack(Ack),
    /// Abandoned seqs (server to client).
    Skip(SkipFrame),
    /// Connect or reconnect with a resume point (client to server).
    Hello(HelloFrame),
    /// A negative ack (client to server).
    Nak(NakFrame),
    /// A progress report (client to server).
    Progress(ProgressFrame),
}

/// The kind of a [`Frame`], without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// [`Frame::Event`].
    Event,
    /// [`Frame::Ack`].
    Ack,
    /// [`Frame::Skip`].
    Skip,
    /// [`Frame::Hello`].
    Hello,
    /// [`Frame::Nak`].
    Nak,
    /// [`Frame::Progress`].
    Progress,
}

impl FrameKind {
    /// Every kind, in binary tag order.
    pub const ALL: [FrameKind; 6] = [
        FrameKind::Event,
        FrameKind::Ack,
        FrameKind::Skip,
        FrameKind::Hello,
        FrameKind::Nak,
        FrameKind::Progress,
    ];

    /// The name used as the JSON `"type"`.
    pub const fn name(self) -> &'static str {
        match self {
            FrameKind::Event => "event",
            FrameKind::Ack => "ack",
            FrameKind::Skip => "skip",
            FrameKind::Hello => "hello",
            FrameKind::Nak => "nak",
            FrameKind::Progress => "progress",
        }
    }

    /// The tag that starts the binary encoding.
    pub const fn tag(self) -> u32 {
        match self {
            FrameKind::Event => 0,
            FrameKind::Ack => 1,
            FrameKind::Skip => 2,
            FrameKind::Hello => 3,
            FrameKind::Nak => 4,
            FrameKind::Progress => 5,
        }
    }

    /// The kind with this JSON name.
    pub fn from_name(name: &str) -> Option<FrameKind> {
        FrameKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind with this binary tag.
    pub fn from_tag(tag: u32) -> Option<FrameKind> {
        FrameKind::ALL.get(usize::try_from(tag).ok()?).copied()
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<P> Frame<P> {
    /// Its kind.
    pub const fn kind(&self) -> FrameKind {
        match self {
            Frame::Event(_) => FrameKind::Event,
            Frame::Ack(_) => FrameKind::Ack,
            Frame::Skip(_) => FrameKind::Skip,
            Frame::Hello(_) => FrameKind::Hello,
            Frame::Nak(_) => FrameKind::Nak,
            Frame::Progress(_) => FrameKind::Progress,
        }
    }

    /// The stream it is about.
    pub const fn stream(&self) -> StreamId {
        match self {
            Frame::Event(f) => f.stream,
            Frame::Ack(f) => f.stream,
            Frame::Skip(f) => f.stream,
            Frame::Hello(f) => f.stream,
            Frame::Nak(f) => f.stream,
            Frame::Progress(f) => f.stream,
        }
    }

    /// The same frame with its payload (if it has one) replaced by `f(payload)`.
    pub fn map_payload<Q>(self, f: impl FnOnce(P) -> Q) -> Frame<Q> {
        match self.try_map_payload(|p| Ok::<Q, core::convert::Infallible>(f(p))) {
            Ok(frame) => frame,
            Err(never) => match never {},
        }
    }

    /// Like [`Frame::map_payload`], with a fallible `f`.
    pub(crate) fn try_map_payload<Q, E>(
        self,
        f: impl FnOnce(P) -> Result<Q, E>,
    ) -> Result<Frame<Q>, E> {
        Ok(match self {
            Frame::Event(e) => Frame::Event(EventFrame {
                stream: e.stream,
                seq: e.seq,
                attempt: e.attempt,
                floor: e.floor,
                payload: f(e.payload)?,
            }),
            Frame::Ack(a) => Frame::Ack(a),
            Frame::Skip(s) => Frame::Skip(s),
            Frame::Hello(h) => Frame::Hello(h),
            Frame::Nak(n) => Frame::Nak(n),
            Frame::Progress(p) => Frame::Progress(p),
        })
    }
}

impl<P> From<EventFrame<P>> for Frame<P> {
    fn from(f: EventFrame<P>) -> Self {
        Frame::Event(f)
    }
}
impl<P> From<Ack> for Frame<P> {
    fn from(f: Ack) -> Self {
        Frame::Ack(f)
    }
}
impl<P> From<SkipFrame> for Frame<P> {
    fn from(f: SkipFrame) -> Self {
        Frame::Skip(f)
    }
}
impl<P> From<HelloFrame> for Frame<P> {
    fn from(f: HelloFrame) -> Self {
        Frame::Hello(f)
    }
}
impl<P> From<NakFrame> for Frame<P> {
    fn from(f: NakFrame) -> Self {
        Frame::Nak(f)
    }
}
impl<P> From<ProgressFrame> for Frame<P> {
    fn from(f: ProgressFrame) -> Self {
        Frame::Progress(f)
    }
}

/// What a decoder accepts. Everything a decoder allocates is bounded by these
/// (see [`Frame::from_json`] and [`Frame::from_binary`] for the details).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DecodeLimits {
    /// Bytes in the whole encoded frame, at most this many (default 64 KiB).
    pub frame_bytes_max: usize,
    /// Bytes in the encoded payload of an event frame, at most this many
    /// (default 60 KiB).
    pub payload_bytes_max: usize,
    /// Selective ranges in an ack, at most this many (default 32, the
    /// tracker's default `ack_ranges_max`); values above
    /// [`RANGES_HARD_MAX`] act as [`RANGES_HARD_MAX`].
    pub ranges_max: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { frame_bytes_max: 64 * 1024, payload_bytes_max: 60 * 1024, ranges_max: 32 }
    }
}

/// Why bytes are not a frame. Decoding changed nothing and allocated at most a
/// bounded amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is longer than `frame_bytes_max`; nothing was read.
    #[error("frame of {len} bytes is over the {max} byte limit")]
    FrameTooLarge {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An event's encoded payload is longer than `payload_bytes_max`; it was
    /// not decoded.
    #[error("payload of {len} bytes is over the {max} byte limit")]
    PayloadTooLarge {
        /// Bytes in the encoded payload.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An ack has more selective ranges than `ranges_max`.
    #[error("too many ack ranges: {count} > {max}")]
    TooManyRanges {
        /// Ranges announced (binary) or read before giving up (JSON: `max + 1`).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends in the middle of a frame.
    #[error("frame is truncated")]
    Truncated,
    /// Something follows the frame.
    #[error("unexpected bytes after the frame")]
    TrailingBytes,
    /// The JSON `"type"` or binary tag names no known frame.
    #[error("unknown frame type")]
    UnknownKind,
    /// A field the frame's type requires is absent (JSON).
    #[error("missing field `{field}`")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field appears twice (JSON).
    #[error("duplicate field `{field}`")]
    DuplicateField {
        /// The field.
        field: &'static str,
    },
    /// Not a frame: bad syntax, a value of the wrong type or out of range, an
    /// invalid stream id string, a bad varint.
    #[error("malformed frame")]
    Malformed,
    /// The payload's bytes do not decode as the payload type.
    #[error("payload does not decode")]
    Payload,
}

/// Why a frame could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The payload's `Serialize` impl failed (for JSON, a map with non-string
    /// keys, for example).
    #[error("payload could not be encoded")]
    Payload,
}

#[cfg(feature = "json")]
impl<P: serde::Serialize> Frame<P> {
    /// Encodes the frame as JSON (one object with a `"type"` field; see
    /// `PROTOCOL.md`). Stream ids are strings so that JavaScript clients, whose
    /// numbers are exact only up to 2^53, keep them intact.
    pub fn to_json(&self) -> Result<alloc::string::String, EncodeError> {
        serde_json::to_string(self).map_err(|_| EncodeError::Payload)
    }
}

#[cfg(feature = "json")]
impl<'a, P: serde::Deserialize<'a>> Frame<P> {
    /// Decodes one JSON frame from untrusted bytes.
    ///
    /// Checks the length first, the range count while reading the ranges, and
    /// the payload's length (as raw JSON text) before parsing it as `P`.
    /// Unknown fields are ignored (so newer peers may add some) and skipped
    /// without recursion; a known field or payload nested deeper than 128
    /// levels is rejected rather than recursed into.
    /// Allocation is proportional to the input, which is at most
    /// `frame_bytes_max`.
    pub fn from_json(bytes: &'a [u8], limits: DecodeLimits) -> Result<Self, DecodeError> {
        codec::from_json(bytes, limits)
    }
}

#[cfg(feature = "binary")]
impl<P: serde::Serialize> Frame<P> {
    /// Encodes the frame in the compact binary form: postcard, tag first, the
    /// payload last (see `PROTOCOL.md`).
    pub fn to_binary(&self) -> Result<alloc::vec::Vec<u8>, EncodeError> {
        postcard::to_allocvec(self).map_err(|_| EncodeError::Payload)
    }
}

#[cfg(feature = "binary")]
impl<'a, P: serde::Deserialize<'a>> Frame<P> {
    /// Decodes one binary frame from untrusted bytes.
    ///
    /// Checks the length first, the announced range count before allocating
    /// any range, and the payload's length (the bytes after the header) before
    /// decoding it as `P`. The payload must use up the frame exactly. Postcard
    /// has no nesting limit: a recursive payload type is as deep as its bytes
    /// allow, so keep `payload_bytes_max` modest for such types. A payload
    /// collection announcing more elements than it has preallocates at most
    /// serde's cautious 1 MiB before failing.
    pub fn from_binary(bytes: &'a [u8], limits: DecodeLimits) -> Result<Self, DecodeError> {
        codec::from_binary(bytes, limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_name_and_tag() {
        for kind in FrameKind::ALL {
            assert_eq!(FrameKind::from_name(kind.name()), Some(kind));
            assert_eq!(FrameKind::from_tag(kind.tag()), Some(kind));
        }
        assert_eq!(FrameKind::from_tag(6), None);
        assert_eq!(FrameKind::from_tag(u32::MAX), None);
        assert_eq!(FrameKind::from_name("Event"), None);
    }

    #[test]
    fn map_payload_touches_only_events() {
        let stream = StreamId::from_bits(1);
        let event: Frame<u8> =
            EventFrame { stream, seq: Seq(2), attempt: 1, floor: Seq(0), payload: 7 }.into();
        let mapped = event.map_payload(u32::from);
        assert!(matches!(mapped, Frame::Event(EventFrame { payload: 7u32, .. })));
        let hello: Frame<u8> = HelloFrame { stream, resume: Seq(3) }.into();
        assert_eq!(
            hello.map_payload(|_| 0u32),
            Frame::Hello(HelloFrame { stream, resume: Seq(3) })
        );
    }
}
