//! What the tracker asks its driver to do, and how events end.

use core::time::Duration;

use crate::ids::{EventId, Seq, SeqRange, StreamId, UserId};

/// Why an event expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ExpiryReason {
    /// The event's deadline passed before an ack arrived.
    Deadline,
    /// The last allowed attempt timed out without an ack.
    AttemptsExhausted,
}

/// How an event ended. Every submitted event gets exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Outcome {
    /// The client acknowledged it.
    Confirmed {
        /// Transmissions made, 1 if the first one got through.
        attempts: u32,
        /// Time from `submit` to the confirming ack.
        latency: Duration,
    },
    /// The tracker gave up on it.
    Expired {
        /// Why.
        reason: ExpiryReason,
    },
    /// The application cancelled it.
    Cancelled,
    /// A newer event with the same conflation key on the same stream replaced it.
    Superseded,
    /// Its stream was closed while it was pending.
    StreamClosed,
}

impl Outcome {
    /// Whether the event reached the client.
    pub const fn is_confirmed(&self) -> bool {
        matches!(self, Outcome::Confirmed { .. })
    }
}

/// An instruction for the driver. Drain them with
/// [`Tracker::poll_command`](crate::Tracker::poll_command) after every input;
/// every variant must be handled.
#[must_use = "a command tells the driver to transmit or report something"]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Command<P> {
    /// Transmit an event for the first time (attempt 1). The payload is
    /// available through [`Tracker::payload`](crate::Tracker::payload).
    Send {
        /// Where to send it.
        stream: StreamId,
        /// The event.
        event: EventId,
        /// Its seq on the stream.
        seq: Seq,
        /// Always 1.
        attempt: u32,
    },
    /// Retransmit an event (attempt ≥ 2).
    Retry {
        /// Where to send it.
        stream: StreamId,
        /// The event.
        event: EventId,
        /// Its seq on the stream (unchanged across attempts).
        seq: Seq,
        /// The attempt number, ≥ 2.
        attempt: u32,
    },
    /// These seqs will never be delivered (expired, cancelled, superseded): an
    /// ordered receiver must stop waiting for them.
    Skip {
        /// The stream.
        stream: StreamId,
        /// The abandoned seqs.
        seqs: SeqRange,
    },
    /// The event is over; its payload is handed back.
    Finish {
        /// The event.
        event: EventId,
        /// Its owner.
        user: UserId,
        /// How it ended.
        outcome: Outcome,
        /// The payload given to `submit`.
        payload: P,
    },
}
