//! What the demo reports: the tracker's metrics as JSON, the driver's own
//! counters, and recent outcomes per user.

use acktrack::{Metrics, Outcome};
use serde::Serialize;
use serde_json::{Value, json};

use crate::agent::{AgentEvent, EventKind};

/// The driver's counters: what happened on sockets, outside the tracker.
/// Kept per user by the user's shard; summed for the global view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct DriverCounters {
    /// WebSocket connections accepted.
    pub connections: u64,
    /// Gauge: connections open now.
    pub connections_open: u64,
    /// Connections dropped by the test hook.
    pub connections_killed: u64,
    /// Frames received from clients.
    pub frames_in: u64,
    /// Frames written to client sockets' queues.
    pub frames_out: u64,
    /// Frames not written because a socket's queue was full or the stream
    /// had no socket (the tracker retransmits them).
    pub frames_dropped: u64,
    /// Client frames that did not decode (socket closed, 1007).
    pub frames_malformed: u64,
    /// Client frames over the size limit (socket closed, 1009).
    pub frames_oversized: u64,
    /// Client frames of a server-to-client kind, or binary (socket closed, 1003/1008).
    pub frames_unexpected: u64,
    /// Hellos for a stream that is unknown or another user's, or resuming
    /// beyond what was sent (socket closed, 4404 / 1008).
    pub hellos_rejected: u64,
    /// Acks, naks and progress reports the tracker rejected (foreign stream,
    /// seq never sent, malformed ranges); the socket stays open.
    pub acks_rejected: u64,
    /// Streams closed because their client closed the socket cleanly (1000/1001).
    pub streams_closed_by_client: u64,
}

impl DriverCounters {
    pub(crate) fn add(&mut self, other: &DriverCounters) {
        // Destructured so that a new field cannot be forgotten here.
        let DriverCounters {
            connections,
            connections_open,
            connections_killed,
            frames_in,
            frames_out,
            frames_dropped,
            frames_malformed,
            frames_oversized,
            frames_unexpected,
            hellos_rejected,
            acks_rejected,
            streams_closed_by_client,
        } = *other;
        self.connections += connections;
        self.connections_open += connections_open;
        self.connections_killed += connections_killed;
        self.frames_in += frames_in;
        self.frames_out += frames_out;
        self.frames_dropped += frames_dropped;
        self.frames_malformed += frames_malformed;
        self.frames_oversized += frames_oversized;
        self.frames_unexpected += frames_unexpected;
        self.hellos_rejected += hellos_rejected;
        self.acks_rejected += acks_rejected;
        self.streams_closed_by_client += streams_closed_by_client;
    }
}

/// Adds one tracker's metrics to another's (shards are summed for the
/// global view; the latency histograms merge exactly).
pub(crate) fn add_metrics(into: &mut Metrics, other: &Metrics) {
    // Destructured so that a field added to `Metrics` fails to compile here.
    let Metrics {
        submitted,
        sent,
        retried,
        confirmed,
        expired_deadline,
        expired_attempts,
        cancelled,
        superseded,
        stream_closed,
        acks_duplicate,
        acks_late,
        acks_rejected,
        spurious_retries,
        clock_regressions,
        deferred_retries,
        rejected_stream_queue,
        rejected_user_cap,
        rejected_global_cap,
        window_full_events,
        window_full_micros,
        resumes,
        confirmed_by_resume,
        expired_disconnected,
        naks,
        progress_reports,
        skips_resent,
        transmit_failures,
        in_flight,
        queued,
        streams,
        latency,
    } = other;
    into.submitted += submitted;
    into.sent += sent;
    into.retried += retried;
    into.confirmed += confirmed;
    into.expired_deadline += expired_deadline;
    into.expired_attempts += expired_attempts;
    into.cancelled += cancelled;
    into.superseded += superseded;
    into.stream_closed += stream_closed;
    into.acks_duplicate += acks_duplicate;
    into.acks_late += acks_late;
    into.acks_rejected += acks_rejected;
    into.spurious_retries += spurious_retries;
    into.clock_regressions += clock_regressions;
    into.deferred_retries += deferred_retries;
    into.rejected_stream_queue += rejected_stream_queue;
    into.rejected_user_cap += rejected_user_cap;
    into.rejected_global_cap += rejected_global_cap;
    into.window_full_events += window_full_events;
    into.window_full_micros += window_full_micros;
    into.resumes += resumes;
    into.confirmed_by_resume += confirmed_by_resume;
    into.expired_disconnected += expired_disconnected;
    into.naks += naks;
    into.progress_reports += progress_reports;
    into.skips_resent += skips_resent;
    into.transmit_failures += transmit_failures;
    into.in_flight += in_flight;
    into.queued += queued;
    into.streams += streams;
    into.latency.merge(latency);
}

fn millis(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The tracker's metrics as the JSON the page and the tests read.
pub(crate) fn metrics_json(m: &Metrics) -> Value {
    let latency = m.latency.summary();
    json!({
        "submitted": m.submitted,
        "sent": m.sent,
        "retried": m.retried,
        "confirmed": m.confirmed,
        "finished": m.finished(),
        "expired_deadline": m.expired_deadline,
        "expired_attempts": m.expired_attempts,
        "cancelled": m.cancelled,
        "superseded": m.superseded,
        "stream_closed": m.stream_closed,
        "acks_duplicate": m.acks_duplicate,
        "acks_late": m.acks_late,
        "acks_rejected": m.acks_rejected,
        "spurious_retries": m.spurious_retries,
        "deferred_retries": m.deferred_retries,
        "resumes": m.resumes,
        "confirmed_by_resume": m.confirmed_by_resume,
        "skips_resent": m.skips_resent,
        "rejected_submits": m.rejected_stream_queue + m.rejected_user_cap + m.rejected_global_cap,
        "in_flight": m.in_flight,
        "queued": m.queued,
        "streams": m.streams,
        "confirmation_rate": m.confirmation_rate(),
        "retries_per_send": m.retries_per_send(),
        "latency_ms": {
            "count": latency.count,
            "p50": millis(latency.p50),
            "p90": millis(latency.p90),
            "p99": millis(latency.p99),
            "max": millis(latency.max),
        },
    })
}

/// How one event ended, as the page shows it next to the event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct OutcomeRecord {
    /// Position in the user's outcome log, from 1 (the page asks for records after one).
    pub n: u64,
    pub run: u64,
    pub index: u32,
    pub kind: EventKind,
    /// `confirmed`, `expired_deadline`, `expired_attempts`, `cancelled`,
    /// `superseded` or `stream_closed`.
    pub outcome: &'static str,
    /// Transmissions (confirmed only).
    pub attempts: Option<u32>,
    /// Submit to confirming ack, milliseconds (confirmed only).
    pub latency_ms: Option<f64>,
}

impl OutcomeRecord {
    pub(crate) fn new(n: u64, event: &AgentEvent, outcome: &Outcome) -> Self {
        let (name, attempts, latency_ms) = match *outcome {
            Outcome::Confirmed { attempts, latency } => {
                ("confirmed", Some(attempts), Some(millis(latency)))
            }
            Outcome::Expired { reason: acktrack::ExpiryReason::Deadline } => {
                ("expired_deadline", None, None)
            }
            Outcome::Expired { reason: acktrack::ExpiryReason::AttemptsExhausted } => {
                ("expired_attempts", None, None)
            }
            Outcome::Cancelled => ("cancelled", None, None),
            Outcome::Superseded => ("superseded", None, None),
            Outcome::StreamClosed => ("stream_closed", None, None),
        };
        OutcomeRecord {
            n,
            run: event.run,
            index: event.index,
            kind: event.kind,
            outcome: name,
            attempts,
            latency_ms,
        }
    }
}
