//! The trace: every input to the tracker and every output, with virtual time.
//!
//! Each record is folded into a 64-bit hash (the determinism check
//! compares hashes), the last few are kept for violation reports, and all of
//! them can be written as JSON lines.

use std::collections::VecDeque;
use std::io::Write;

use serde::Serialize;

/// One traced happening. Ids are raw bits (`StreamId::to_bits`, …).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceEvent {
    /// The application opened a stream.
    Open { user: u64, stream: u64 },
    /// The application closed a stream.
    Close { stream: u64 },
    /// The application forgot a user (after closing its last stream).
    Forget { user: u64, ok: bool },
    /// A submit and its result.
    Submit { stream: u64, id: u64, key: Option<u64>, accepted: bool },
    /// A cancel and its result.
    Cancel { event: u64, ok: bool },
    /// An ack into the tracker and its result.
    Ack { user: u64, stream: u64, cumulative: u64, ranges: u32, echo: u64, attempt: u32, ok: bool },
    /// A connect (resume) and its result.
    Connect { stream: u64, resume: u64, ok: bool },
    /// A disconnect.
    Disconnect { stream: u64 },
    /// A timeout.
    Timeout,
    /// A nak or progress report from a client.
    Feedback { stream: u64, seq: u64, nak: bool, ok: bool },
    /// The driver reported a failed write.
    TransmitFailed { stream: u64, seq: u64, ok: bool },
    /// A garbage frame the decoder refused.
    Garbage { bytes: u32 },
    /// `Command::Send` / `Command::Retry`.
    Transmit { stream: u64, event: u64, seq: u64, attempt: u32 },
    /// `Command::Skip`.
    Skip { stream: u64, start: u64, end: u64 },
    /// `Command::Finish`.
    Finish { event: u64, id: u64, outcome: &'static str, attempts: u32, latency_us: u64 },
    /// A fault fired.
    Fault { fault: &'static str, stream: u64 },
    /// The application saw an event.
    Deliver { stream: u64, seq: u64, id: u64 },
    /// The liveness phase began.
    Heal,
}

/// One record: virtual time (µs), server time (µs) and the happening.
#[derive(Clone, Debug, Serialize)]
pub struct TraceRecord {
    /// Step number.
    pub step: u64,
    /// Virtual time, µs.
    pub t: u64,
    /// The happening.
    #[serde(flatten)]
    pub event: TraceEvent,
}

const HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const MIX_PRIME: u64 = 0x517c_c1b7_2722_0a95;

/// Keeps the hash, the tail, and optionally a JSON-lines sink.
pub struct Trace {
    hash: u64,
    tail: VecDeque<TraceRecord>,
    tail_max: usize,
    sink: Option<Box<dyn Write + Send>>,
    records: u64,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace").field("hash", &self.hash).field("records", &self.records).finish()
    }
}

impl Trace {
    /// A trace keeping the last `tail_max` records.
    pub fn new(tail_max: usize) -> Self {
        Trace { hash: HASH_SEED, tail: VecDeque::new(), tail_max, sink: None, records: 0 }
    }

    /// Also write every record as a JSON line.
    pub fn with_sink(mut self, sink: Box<dyn Write + Send>) -> Self {
        self.sink = Some(sink);
        self
    }

    #[inline]
    fn mix(&mut self, v: u64) {
        // One multiply per word (FxHash-style): fast, and any change to any
        // recorded field changes the hash with overwhelming probability.
        self.hash = (self.hash.rotate_left(5) ^ v).wrapping_mul(MIX_PRIME);
    }

    /// Records one happening.
    pub fn record(&mut self, step: u64, t: u64, event: TraceEvent) {
        self.records += 1;
        self.mix(t);
        self.mix_event(&event);
        if let Some(sink) = &mut self.sink {
            let rec = TraceRecord { step, t, event: event.clone() };
            let _ = serde_json::to_writer(&mut *sink, &rec);
            let _ = sink.write_all(b"\n");
        }
        if self.tail_max > 0 {
            if self.tail.len() == self.tail_max {
                self.tail.pop_front();
            }
            self.tail.push_back(TraceRecord { step, t, event });
        }
    }

    fn mix_event(&mut self, e: &TraceEvent) {
        match *e {
            TraceEvent::Open { user, stream } => {
                self.mix(1);
                self.mix(user);
                self.mix(stream);
            }
            TraceEvent::Close { stream } => {
                self.mix(2);
                self.mix(stream);
            }
            TraceEvent::Forget { user, ok } => {
                self.mix(18);
                self.mix(user);
                self.mix(u64::from(ok));
            }
            TraceEvent::Submit { stream, id, key, accepted } => {
                self.mix(3);
                self.mix(stream);
                self.mix(id);
                self.mix(key.map_or(u64::MAX, |k| k));
                self.mix(u64::from(accepted));
            }
            TraceEvent::Cancel { event, ok } => {
                self.mix(4);
                self.mix(event);
                self.mix(u64::from(ok));
            }
            TraceEvent::Ack { user, stream, cumulative, ranges, echo, attempt, ok } => {
                self.mix(5);
                self.mix(user);
                self.mix(stream);
                self.mix(cumulative);
                self.mix(u64::from(ranges));
                self.mix(echo);
                self.mix(u64::from(attempt));
                self.mix(u64::from(ok));
            }
            TraceEvent::Connect { stream, resume, ok } => {
                self.mix(6);
                self.mix(stream);
                self.mix(resume);
                self.mix(u64::from(ok));
            }
            TraceEvent::Disconnect { stream } => {
                self.mix(7);
                self.mix(stream);
            }
            TraceEvent::Timeout => self.mix(8),
            TraceEvent::Garbage { bytes } => {
                self.mix(9);
                self.mix(u64::from(bytes));
            }
            TraceEvent::Transmit { stream, event, seq, attempt } => {
                self.mix(10);
                self.mix(stream);
                self.mix(event);
                self.mix(seq);
                self.mix(u64::from(attempt));
            }
            TraceEvent::Skip { stream, start, end } => {
                self.mix(11);
                self.mix(stream);
                self.mix(start);
                self.mix(end);
            }
            TraceEvent::Finish { event, id, outcome, attempts, latency_us } => {
                self.mix(12);
                self.mix(event);
                self.mix(id);
                for b in outcome.bytes() {
                    self.mix(u64::from(b));
                }
                self.mix(u64::from(attempts));
                self.mix(latency_us);
            }
            TraceEvent::Fault { fault, stream } => {
                self.mix(13);
                for b in fault.bytes() {
                    self.mix(u64::from(b));
                }
                self.mix(stream);
            }
            TraceEvent::Deliver { stream, seq, id } => {
                self.mix(14);
                self.mix(stream);
                self.mix(seq);
                self.mix(id);
            }
            TraceEvent::Heal => self.mix(15),
            TraceEvent::Feedback { stream, seq, nak, ok } => {
                self.mix(17);
                self.mix(stream);
                self.mix(seq);
                self.mix(u64::from(nak));
                self.mix(u64::from(ok));
            }
            TraceEvent::TransmitFailed { stream, seq, ok } => {
                self.mix(16);
                self.mix(stream);
                self.mix(seq);
                self.mix(u64::from(ok));
            }
        }
    }

    /// The hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Records so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The last records, oldest first, as JSON lines.
    pub fn tail_lines(&self) -> Vec<String> {
        self.tail.iter().map(|r| serde_json::to_string(r).unwrap_or_default()).collect()
    }

    /// Flushes the sink, if any.
    pub fn flush(&mut self) {
        if let Some(sink) = &mut self.sink {
            let _ = sink.flush();
        }
    }
}
