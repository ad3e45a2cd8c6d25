//! acktrack confirms the delivery of events to users.
//!
//! A server pushes events to its users' clients (an AI agent's
//! `agent_started` … `agent_completed` over WebSocket, chat messages,
//! notifications) and must know that each one arrived. acktrack tracks every
//! event until the client acks it, retries with exponential backoff and
//! jitter, gives up at a deadline with an explicit [`Outcome`], keeps users
//! strictly apart, bounds memory with windows, queues and caps, and reports
//! what happened in [`Metrics`].
//!
//! The crate is **sans-IO and fully deterministic**: it contains no networking
//! code, never reads a clock (every time-dependent call takes `now:
//! [Instant]`), starts no thread and draws its jitter from a ChaCha RNG seeded
//! by the [`Config`]. The same inputs give the same outputs, bit for bit, so it
//! embeds in any runtime (tokio, a blocking loop, wasm, a simulator). It is
//! `no_std` + `alloc` and free of `unsafe`.
//!
//! - [`Tracker`] is the sender: one serves many users and streams.
//! - [`Receiver`] is the client side of one stream, also sans-IO: it releases
//!   each event to the application exactly once (in seq order if asked, through
//!   a bounded reorder buffer), honours skips and the sender's floor, builds
//!   coalesced acks and reports its resume point for reconnects.
//! - [`Frame`] is the wire protocol between them, with a JSON encoding for
//!   browsers and a compact binary one (postcard); decoding untrusted bytes
//!   is bounded by [`DecodeLimits`] and returns a typed [`DecodeError`].
//!   `PROTOCOL.md` at the repository root documents every frame.
//!
//! # The drive loop
//!
//! Feed inputs in, drain commands out after every input, sleep until
//! [`Tracker::poll_timeout`]:
//!
//! ```
//! use acktrack::{Ack, Command, Config, Echo, Instant, Outcome, SubmitOptions, Tracker, UserId};
//! use core::time::Duration;
//!
//! let mut tracker: Tracker<&str> = Tracker::new(Config::default())?;
//! let mut now = Instant::ZERO;
//! let user = UserId(1);
//! let stream = tracker.open_stream(now, user)?;
//! tracker.submit(now, stream, "agent_started", SubmitOptions::default()).map_err(|r| r.error)?;
//!
//! let mut first_try_lost = true;
//! let mut outcome = None;
//! while outcome.is_none() {
//!     // 1. Drain commands after every input.
//!     while let Some(command) = tracker.poll_command() {
//!         match command {
//!             Command::Send { event, seq, attempt, .. } | Command::Retry { event, seq, attempt, .. } => {
//!                 let _frame = tracker.payload(event); // encode and write it
//!                 if std::mem::take(&mut first_try_lost) {
//!                     continue; // the network ate the first transmission
//!                 }
//!                 // 50 ms later the client acks what it got, echoing the attempt.
//!                 now = now.saturating_add(Duration::from_millis(50));
//!                 let ack = Ack::cumulative(stream, seq.next(), Echo { seq, attempt });
//!                 tracker.handle_ack(now, user, &ack)?;
//!             }
//!             Command::Skip { .. } => {} // tell the client to stop waiting for these seqs
//!             Command::Finish { outcome: o, payload, .. } => outcome = Some((o, payload)),
//!         }
//!     }
//!     // 2. Sleep until the next timeout, then let the tracker act on it.
//!     if let Some(at) = tracker.poll_timeout() {
//!         now = now.max(at);
//!         tracker.handle_timeout(now);
//!     }
//! }
//! let (outcome, payload) = outcome.unwrap();
//! assert!(matches!(outcome, Outcome::Confirmed { attempts: 2, .. }));
//! assert_eq!(payload, "agent_started");
//! assert_eq!(tracker.metrics().retried, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Panics, errors and bad input
//!
//! Bad input gets a typed error and changes nothing: an unknown or closed
//! stream, an ack from a user who does not own the stream, an ack for a seq
//! never sent, malformed ranges, a submit over a cap (which hands the payload
//! back). Duplicate and late acks are not errors; they are counted. Time going
//! backwards is clamped and counted. Nothing a peer sends can panic the
//! tracker: a panic is a bug.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod ack;
mod backoff;
mod budget;
mod command;
mod config;
mod error;
mod ids;
mod metrics;
mod receiver;
mod ring;
mod rtt;
mod time;
mod tracker;
mod wheel;
mod wire;

pub use ack::{Ack, Echo};
pub use command::{Command, ExpiryReason, Outcome};
pub use config::{Config, FlowControl, Jitter, RetryBudget, RetryPolicy, RtoConfig};
pub use error::{
    AckError, CancelError, ConfigError, ConnectError, OpenError, Rejected, StreamError, SubmitError,
};
pub use ids::{EventId, Seq, SeqRange, StreamId, UserId};
pub use metrics::{LatencyHistogram, LatencySummary, Metrics};
pub use receiver::{
    Arrival, Delivery, DeliveryOrder, ReceiveError, Receiver, ReceiverConfig, ReceiverMetrics,
};
pub use time::Instant;
pub use tracker::{EventState, Prefetch, StreamInfo, SubmitOptions, Tracker};
pub use wire::{
    DecodeError, DecodeLimits, EncodeError, EventFrame, Frame, FrameKind, HelloFrame, NakFrame,
    ProgressFrame, RANGES_HARD_MAX, SkipFrame,
};
