//! acktrack confirms the delivery of events to users.
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
mod timer;
mod tracker;
mod wire;

pub use ack::{Ack, Echo};
pub use command::{Command, ExpiryReason, Outcome};
pub use config::{Config, FlowControl, Jitter, RetryBudget, RetryPolicy, RtoConfig};
pub use error::{
    AckError, CancelError, ConfigError, ConnectError, OpenError, Rejected, StreamError, SubmitError,
};
pub use ids::{EventId, Seq, SeqRange, StreamId, UserId};
pub use metrics::{LatencyHistogram, LatencySummary, Metrics};
pub use time::Instant;
pub use tracker::{EventState, StreamInfo, SubmitOptions, Tracker};
