//! Errors, one type per operation. Each is a bad input that changed nothing.
//!
//! Grouped by who is at fault: the application (a stale id, a submit over a
//! cap, a bad config) or the peer (a malformed or foreign ack). Duplicate and
//! late acks are not errors: they are counted in the metrics.

use alloc::string::String;
use core::fmt;

use crate::ids::{EventId, Seq, StreamId, UserId};

/// A [`Config`](crate::Config) value outside its allowed range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: `{field}` is {value}, allowed {allowed}")]
pub struct ConfigError {
    /// The offending field, as a path (`retry.backoff_factor`).
    pub field: &'static str,
    /// The value it had.
    pub value: String,
    /// What would have been accepted.
    pub allowed: &'static str,
}

/// Why a stream-addressed operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The tracker never handed out this stream id.
    #[error("unknown stream {0}")]
    Unknown(StreamId),
    /// The stream existed but was closed.
    #[error("stream {0} is closed")]
    Closed(StreamId),
}

/// Why `open_stream` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// `flow.streams_max` streams are already open.
    #[error("stream limit reached: {max} streams open")]
    TooManyStreams {
        /// The configured limit.
        max: u32,
    },
}

/// Which cap a rejected submit hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The stream is unknown or closed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The stream's queue already holds `flow.queue_max` events.
    #[error("stream queue full: {cap} events queued")]
    StreamQueueFull {
        /// The cap.
        cap: u32,
    },
    /// The user already has `flow.user_pending_max` events pending.
    #[error("user pending cap reached: {cap} events pending")]
    UserPendingFull {
        /// The cap.
        cap: u32,
    },
    /// The tracker already holds `flow.global_pending_max` pending events.
    #[error("global pending cap reached: {cap} events pending")]
    GlobalPendingFull {
        /// The cap.
        cap: u32,
    },
    /// The per-submit deadline override was zero.
    #[error("deadline must be positive")]
    ZeroDeadline,
}

/// A refused submit: the reason and the payload, handed back untouched.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Rejected<P> {
    /// Why.
    pub error: SubmitError,
    /// The payload given to `submit`.
    pub payload: P,
}

impl<P> fmt::Debug for Rejected<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected").field("error", &self.error).finish_non_exhaustive()
    }
}

/// Why an ack (or a nak, progress or transmit-failure report) was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The stream is unknown or closed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The stream belongs to another user.
    #[error("stream {stream} is not owned by {user}")]
    NotOwner {
        /// The stream named.
        stream: StreamId,
        /// The user who claimed it.
        user: UserId,
    },
    /// It names a seq the stream has not transmitted.
    #[error("seq {seq} was never sent (next is {next})")]
    SeqNotSent {
        /// The highest offending seq.
        seq: Seq,
        /// The first seq not yet transmitted.
        next: Seq,
    },
    /// A selective range is empty, unsorted, overlapping or below the cumulative ack.
    #[error("malformed range #{index}: {reason}")]
    MalformedRange {
        /// Position of the range in the ack.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More selective ranges than `ack_ranges_max`.
    #[error("too many ranges: {count} > {max}")]
    TooManyRanges {
        /// Ranges in the ack.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The echo names attempt 0, which no transmission carries.
    #[error("echo names attempt 0")]
    ZeroAttempt,
    /// The echo names an attempt of a pending event that was not made yet.
    #[error("seq {seq} attempt {attempt} was never sent (attempts so far: {sent})")]
    AttemptNotSent {
        /// The echoed seq.
        seq: Seq,
        /// The echoed attempt.
        attempt: u32,
        /// Attempts made so far.
        sent: u32,
    },
}

/// Why a `handle_connect` was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The stream is unknown or closed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The client claims to have received seqs the stream never sent.
    #[error("resume point {resume} is beyond the next unsent seq {next}")]
    ResumeBeyondSent {
        /// The claimed resume point (the client's cumulative ack).
        resume: Seq,
        /// The first seq not yet transmitted.
        next: Seq,
    },
}

/// Why `cancel` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// The event never existed or has already finished.
    #[error("unknown or finished event {0}")]
    UnknownEvent(EventId),
}
