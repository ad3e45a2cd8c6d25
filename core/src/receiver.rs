//! The receiving side of one stream: exactly-once release, ordering, acks.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::vec::Vec;
use core::time::Duration;

use crate::ack::{Ack, Echo};
use crate::error::ConfigError;
use crate::ids::{Seq, SeqRange, StreamId};
use crate::time::Instant;
use crate::wire::{EventFrame, Frame, FrameKind, HelloFrame, SkipFrame};

/// How a [`Receiver`] releases events to the application.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DeliveryOrder {
    /// In seq order: an event that arrives early waits in the reorder buffer
    /// until every seq below it was released or skipped.
    #[default]
    Ordered,
    /// On first arrival, whatever its seq.
    Unordered,
}

/// A receiver's policy, checked by [`ReceiverConfig::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReceiverConfig {
    /// Ordered or unordered release.
    pub order: DeliveryOrder,
    /// The sender's `flow.window` (or more): a seq at or beyond
    /// `max(cumulative, floor) + window` cannot have been sent and is
    /// rejected. Also the bound on the seqs the receiver tracks (1 to 2^24).
    pub window: u32,
    /// Ordered mode: events held while waiting for a gap to fill (0 to
    /// `window`). An early event that finds the buffer full is dropped and
    /// not acked, so the sender retransmits it later. Unused when unordered.
    pub reorder_buffer_max: u32,
    /// Ack once this many new events arrived since the last ack (1 to `window`).
    pub ack_every: u32,
    /// …or once the oldest unacked event has waited this long (0: at once;
    /// at most 1 h). Keep it well below the sender's retry timeout.
    pub ack_delay: Duration,
    /// Selective ranges per ack, at most this many (0 to 1024); match the
    /// tracker's `ack_ranges_max`.
    pub ack_ranges_max: u32,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            order: DeliveryOrder::Ordered,
            window: 64,
            reorder_buffer_max: 64,
            ack_every: 2,
            ack_delay: Duration::from_millis(25),
            ack_ranges_max: 32,
        }
    }
}

fn check<T: core::fmt::Debug>(
    ok: bool,
    field: &'static str,
    value: T,
    allowed: &'static str,
) -> Result<(), ConfigError> {
    if ok { Ok(()) } else { Err(ConfigError { field, value: format!("{value:?}"), allowed }) }
}

impl ReceiverConfig {
    /// Checks every field; the first bad one is named in the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check((1..=1 << 24).contains(&self.window), "window", self.window, "1..=16777216")?;
        check(
            self.reorder_buffer_max <= self.window,
            "reorder_buffer_max",
            self.reorder_buffer_max,
            "0..=window",
        )?;
        check(
            (1..=self.window).contains(&self.ack_every),
            "ack_every",
            self.ack_every,
            "1..=window",
        )?;
        check(self.ack_delay <= Duration::from_secs(3600), "ack_delay", self.ack_delay, "0..=1h")?;
        check(self.ack_ranges_max <= 1024, "ack_ranges_max", self.ack_ranges_max, "0..=1024")?;
        Ok(())
    }
}

/// What the receiver hands the application, from
/// [`Receiver::poll_delivery`]. Every seq of the stream is reported at most
/// once, as an event or as part of a skipped range; in ordered mode, in seq
/// order.
#[must_use = "a delivery is the application's data"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery<P> {
    /// An event, released exactly once.
    Event {
        /// Its seq.
        seq: Seq,
        /// Its payload.
        payload: P,
    },
    /// The sender gave up on these seqs; they will never be released.
    Skipped {
        /// The seqs.
        seqs: SeqRange,
    },
}

/// What became of an accepted event frame (see [`Receiver::handle_event`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arrival {
    /// A seq seen for the first time: released or buffered, acked soon.
    New,
    /// A seq already received, released or skipped: acked at once, not released again.
    Duplicate,
    /// Ordered mode: an early seq that found the reorder buffer full. Dropped
    /// and not acked; the sender will retransmit it.
    OverBuffer,
}

/// What a receiver has done. Counters only grow; `buffered` is a gauge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReceiverMetrics {
    /// Event frames whose seq was new.
    pub received: u64,
    /// Events released to the application ([`Delivery::Event`]).
    pub delivered: u64,
    /// Event frames for seqs already received, released or skipped.
    pub duplicates: u64,
    /// Seqs given up on ([`Delivery::Skipped`]), counted one by one.
    pub skipped: u64,
    /// Early event frames dropped, unacked, because the reorder buffer was full.
    pub dropped_over_buffer: u64,
    /// Acks handed out by [`Receiver::poll_ack`] or [`Receiver::poll_ack_into`].
    pub acks_sent: u64,
    /// Frames rejected with a [`ReceiveError`].
    pub rejected: u64,
    /// Inputs whose `now` was earlier than a previous one (clamped).
    pub clock_regressions: u64,
    /// Gauge: events held in the reorder buffer.
    pub buffered: u64,
}

/// A frame the receiver refuses. The frame changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The frame names another stream.
    #[error("frame for stream {got}, this receiver serves {expected}")]
    WrongStream {
        /// The stream this receiver serves.
        expected: StreamId,
        /// The stream the frame names.
        got: StreamId,
    },
    /// An event frame with attempt 0 (attempts start at 1).
    #[error("event frame names attempt 0")]
    ZeroAttempt,
    /// An event frame whose floor is above its own seq: a sender never
    /// transmits a seq it has already resolved.
    #[error("floor {floor} is above the frame's own seq {seq}")]
    FloorAboveSeq {
        /// The frame's floor.
        floor: Seq,
        /// The frame's seq.
        seq: Seq,
    },
    /// A seq the sender cannot have sent: at or beyond
    /// `max(cumulative, floor) + window`.
    #[error("seq {seq} is beyond the window (first seq out of reach: {limit})")]
    BeyondWindow {
        /// The offending seq (for a skip, its last seq).
        seq: Seq,
        /// The first seq out of reach.
        limit: Seq,
    },
    /// A skip frame with an empty range.
    #[error("skip range {start}..{end} is empty")]
    EmptySkip {
        /// Its start.
        start: Seq,
        /// Its end.
        end: Seq,
    },
    /// A frame a receiver does not take (acks, hellos, naks and progress
    /// reports go to the sender).
    #[error("a receiver does not take {0} frames")]
    UnexpectedFrame(FrameKind),
}

/// Whether a run of seqs above the cumulative ack was received or skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Received,
    Skipped,
}

/// A run of seqs `start..end` (the key is `start`) of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    end: u64,
    kind: Kind,
}

/// The client side of one stream, sans-IO like the tracker: event and skip
/// frames go in, deliveries and acks come out.
///
/// It releases each event to the application exactly once however often it is
/// retransmitted or duplicated, optionally in seq order through a bounded
/// reorder buffer, honours the sender's abandonment (skip frames and the floor
/// in every server frame, so it never waits forever for a seq the sender gave
/// up on), and builds coalesced [`Ack`]s (cumulative, selective ranges, echo).
///
/// # Method groups
/// - **Inputs**: [`handle_event`](Self::handle_event),
///   [`handle_skip`](Self::handle_skip), [`handle_frame`](Self::handle_frame)
///   (either), [`handle_timeout`](Self::handle_timeout).
/// - **Outputs**: [`poll_delivery`](Self::poll_delivery),
///   [`poll_ack`](Self::poll_ack), [`poll_timeout`](Self::poll_timeout).
/// - **Getters**: [`resume`](Self::resume), [`hello`](Self::hello),
///   [`metrics`](Self::metrics), …
///
/// # Poll order
/// After every input, drain [`poll_delivery`](Self::poll_delivery) and
/// [`poll_ack`](Self::poll_ack) (send the ack), then call
/// [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout). Deliveries queue until drained: the
/// queue holds at most what the inputs since the last drain released.
///
/// # Memory
/// Whatever the sender or the network does, a receiver holds at most
/// `reorder_buffer_max` payloads and tracks seqs only within `window` of its
/// cumulative ack.
///
/// # Errors
/// A frame that cannot be right (another stream, attempt 0, a seq beyond the
/// window, an empty skip) is a [`ReceiveError`] and changes nothing. Nothing a
/// peer sends can panic the receiver.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "json")] {
/// use acktrack::{Delivery, DecodeLimits, Frame, Instant, Receiver, ReceiverConfig, Seq, StreamId};
///
/// let stream = StreamId::from_bits(1);
/// let mut rx: Receiver<String> = Receiver::new(stream, ReceiverConfig::default())?;
/// let mut now = Instant::ZERO;
/// // First frame on a connection: the hello with the resume point.
/// assert_eq!(Frame::<String>::Hello(rx.hello()).to_json()?,
///            r#"{"type":"hello","stream":"1","resume":0}"#);
///
/// // Seq 1 overtook seq 0, and seq 0 was retransmitted once.
/// for text in [
///     r#"{"type":"event","stream":"1","seq":1,"attempt":1,"floor":0,"payload":"b"}"#,
///     r#"{"type":"event","stream":"1","seq":0,"attempt":2,"floor":0,"payload":"a"}"#,
/// ] {
///     let frame = Frame::from_json(text.as_bytes(), DecodeLimits::default())?;
///     rx.handle_frame(now, frame)?;
///     while let Some(delivery) = rx.poll_delivery() {
///         if let Delivery::Event { payload, .. } = delivery {
///             println!("app got {payload}"); // "a", then "b"
///         }
///     }
///     if let Some(ack) = rx.poll_ack() {
///         let _bytes = Frame::<String>::Ack(ack).to_json()?; // write it to the socket
///     }
/// }
/// // Sleep until `poll_timeout`, then let the receiver act.
/// if let Some(at) = rx.poll_timeout() {
///     now = at;
///     rx.handle_timeout(now);
/// }
/// assert_eq!(rx.resume(), Seq(2));
/// assert_eq!(rx.metrics().delivered, 2);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Receiver<P> {
    /// Everything but the payloads; not generic, so it is compiled once.
    core: Core,
    /// Ordered mode: received payloads above the cumulative ack, not yet
    /// released (exactly the seqs of the core's received runs).
    buffer: BTreeMap<u64, P>,
    deliveries: VecDeque<Delivery<P>>,
}

/// The receiver's state, independent of the payload type. Each input leaves
/// in `ops` what becomes of payloads, in order, for [`Receiver`] to carry out.
#[derive(Clone, Debug)]
struct Core {
    stream: StreamId,
    config: ReceiverConfig,
    now: Instant,
    /// Every seq below this was released or skipped: the cumulative ack.
    cumulative: u64,
    /// Disjoint runs above `cumulative`, none starting at it; adjacent runs of
    /// the same kind are merged. All lie below `cumulative + window`.
    spans: BTreeMap<u64, Span>,
    /// The latest event frame, echoed by the next ack.
    echo: Option<Echo>,
    /// New events since the last ack.
    unacked: u32,
    /// When the coalescing delay runs out.
    ack_at: Option<Instant>,
    /// An ack is due now.
    ack_due: bool,
    metrics: ReceiverMetrics,
    ops: Vec<Op>,
}

/// What becomes of payloads, in the order the core decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Release the arriving frame's payload (at this seq).
    ReleaseArriving(Seq),
    /// Keep the arriving frame's payload in the reorder buffer.
    BufferArriving(Seq),
    /// Release the buffered payloads below this seq, lowest first.
    ReleaseBufferedBelow(u64),
    /// Report these seqs skipped.
    Skipped(SeqRange),
}

impl<P> Receiver<P> {
    /// A receiver for `stream`, expecting seq 0 first.
    pub fn new(stream: StreamId, config: ReceiverConfig) -> Result<Self, ConfigError> {
        Ok(Receiver {
            core: Core::new(stream, config)?,
            buffer: BTreeMap::new(),
            deliveries: VecDeque::new(),
        })
    }

    // ----- inputs ------------------------------------------------------------

    /// An event frame arrived. The frame's floor is applied first (seqs below
    /// it that never arrived are skipped); then the seq is released (or
    /// buffered, in ordered mode, until the seqs below it are resolved) if it
    /// is new, and an ack is scheduled per `ack_every` / `ack_delay`. A
    /// duplicate is acked at once and not released again.
    pub fn handle_event(
        &mut self,
        now: Instant,
        frame: EventFrame<P>,
    ) -> Result<Arrival, ReceiveError> {
        let EventFrame { stream, seq, attempt, floor, payload } = frame;
        let frame = (stream, seq, attempt, floor);
        let arrival = self.core.handle_event(now, frame, self.buffer.len())?;
        self.carry_out(Some(payload));
        Ok(arrival)
    }

    /// A skip frame arrived: its floor is applied, then its seqs that were not
    /// received are given up on (reported as [`Delivery::Skipped`], at once
    /// when unordered, in their place when ordered). A seq received before its
    /// skip is still released; one that arrives after it is a duplicate.
    ///
    /// A skip is acked at once (the tracker resends skips until the client's
    /// cumulative ack passes them); that ack echoes no transmission.
    pub fn handle_skip(&mut self, frame: SkipFrame) -> Result<(), ReceiveError> {
        self.core.handle_skip(frame)?;
        self.carry_out(None);
        Ok(())
    }

    /// Any frame from the sender: events and skips are handled, other kinds
    /// are [`ReceiveError::UnexpectedFrame`].
    pub fn handle_frame(&mut self, now: Instant, frame: Frame<P>) -> Result<(), ReceiveError> {
        match frame {
            Frame::Event(event) => self.handle_event(now, event).map(drop),
            Frame::Skip(skip) => {
                self.core.advance_clock(now);
                self.handle_skip(skip)
            }
            other => {
                self.core.metrics.rejected += 1;
                Err(ReceiveError::UnexpectedFrame(other.kind()))
            }
        }
    }

    /// Makes the coalesced ack due if its delay ran out. Calling it early or
    /// twice is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }

    /// Does with the payloads what the core's last input decided, in order:
    /// `arriving` is the payload of the frame it handled, if any.
    fn carry_out(&mut self, mut arriving: Option<P>) {
        for i in 0..self.core.ops.len() {
            match self.core.ops[i] {
                Op::ReleaseArriving(seq) => {
                    let payload = arriving.take().expect("one arriving payload");
                    self.release(seq, payload);
                }
                Op::BufferArriving(seq) => {
                    let payload = arriving.take().expect("one arriving payload");
                    self.buffer.insert(seq.0, payload);
                }
                Op::ReleaseBufferedBelow(end) => {
                    while let Some(entry) = self.buffer.first_entry() {
                        if *entry.key() >= end {
                            break;
                        }
                        let (seq, payload) = entry.remove_entry();
                        self.release(Seq(seq), payload);
                    }
                }
                Op::Skipped(seqs) => self.deliveries.push_back(Delivery::Skipped { seqs }),
            }
        }
        self.core.ops.clear();
        self.core.metrics.buffered = self.buffer.len() as u64;
    }

    fn release(&mut self, seq: Seq, payload: P) {
        self.core.metrics.delivered += 1;
        self.deliveries.push_back(Delivery::Event { seq, payload });
    }

    // ----- outputs -----------------------------------------------------------

    /// The next event (or skipped range) for the application.
    #[must_use]
    pub fn poll_delivery(&mut self) -> Option<Delivery<P>> {
        self.deliveries.pop_front()
    }

    /// The ack to send now, if one is due. It reflects everything received so
    /// far and echoes the latest event frame (none if a skip came after it).
    #[must_use]
    pub fn poll_ack(&mut self) -> Option<Ack> {
        self.core.poll_ack()
    }

    /// [`poll_ack`](Self::poll_ack) into an `Ack` the caller keeps: if an ack
    /// is due, overwrites every field of `ack` with it and returns `true`;
    /// otherwise leaves `ack` as it was and returns `false`. The ranges go
    /// into `ack.ranges`' room, so a caller that reuses one `Ack` allocates
    /// only while that room grows (up to `ack_ranges_max` ranges), where
    /// `poll_ack` allocates a new list for every ack with ranges.
    pub fn poll_ack_into(&mut self, ack: &mut Ack) -> bool {
        self.core.poll_ack_into(ack)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called,
    /// or `None` if nothing waits on time.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.ack_at
    }

    // ----- getters -----------------------------------------------------------

    /// The stream this receiver serves.
    pub fn stream(&self) -> StreamId {
        self.core.stream
    }

    /// Its config.
    pub fn config(&self) -> &ReceiverConfig {
        &self.core.config
    }

    /// The resume point for a reconnect: the cumulative ack, the next seq
    /// expected. Every seq below it was released or skipped.
    pub fn resume(&self) -> Seq {
        Seq(self.core.cumulative)
    }

    /// The hello frame to open a (re)connection with.
    pub fn hello(&self) -> HelloFrame {
        HelloFrame { stream: self.core.stream, resume: self.resume() }
    }

    /// What it has done.
    pub fn metrics(&self) -> &ReceiverMetrics {
        &self.core.metrics
    }

    /// Runs of seqs tracked above the cumulative ack (at most `window`).
    pub fn tracked_runs(&self) -> usize {
        self.core.spans.len()
    }

    /// Deliveries waiting for [`poll_delivery`](Self::poll_delivery).
    pub fn pending_deliveries(&self) -> usize {
        self.deliveries.len()
    }
}

impl Core {
    fn new(stream: StreamId, config: ReceiverConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Core {
            stream,
            config,
            now: Instant::ZERO,
            cumulative: 0,
            spans: BTreeMap::new(),
            echo: None,
            unacked: 0,
            ack_at: None,
            ack_due: false,
            metrics: ReceiverMetrics::default(),
            ops: Vec::new(),
        })
    }

    /// See [`Receiver::handle_event`]; the payload's fate is left in `ops`.
    #[inline]
    fn handle_event(
        &mut self,
        now: Instant,
        frame: (StreamId, Seq, u32, Seq),
        buffered: usize,
    ) -> Result<Arrival, ReceiveError> {
        let now = self.advance_clock(now);
        let (stream, seq, attempt, floor) = frame;
        if let Err(e) = self.check_event(stream, seq, attempt, floor) {
            self.metrics.rejected += 1;
            return Err(e);
        }
        Ok(self.accept(now, seq, attempt, floor, buffered))
    }

    /// The body of `handle_event`, for a checked frame; `buffered` is the
    /// reorder buffer's occupancy.
    #[inline]
    fn accept(
        &mut self,
        now: Instant,
        seq: Seq,
        attempt: u32,
        floor: Seq,
        buffered: usize,
    ) -> Arrival {
        self.resolve_below(floor.0);
        let echo = Echo { seq, attempt };
        if seq.0 < self.cumulative || self.span_at(seq.0).is_some() {
            self.metrics.duplicates += 1;
            self.echo = Some(echo);
            self.ack_due = true;
            self.ack_at = None;
            return Arrival::Duplicate;
        }
        let ordered = self.config.order == DeliveryOrder::Ordered;
        if ordered
            && seq.0 != self.cumulative
            && buffered >= self.config.reorder_buffer_max as usize
        {
            self.metrics.dropped_over_buffer += 1;
            return Arrival::OverBuffer;
        }
        self.metrics.received += 1;
        if seq.0 == self.cumulative {
            self.ops.push(Op::ReleaseArriving(seq));
            // Cannot overflow: `seq` is below the window limit.
            self.cumulative = seq.0 + 1;
            self.resolve_below(self.cumulative);
        } else {
            self.fill(seq.0, seq.0 + 1, Kind::Received);
            self.ops.push(if ordered { Op::BufferArriving(seq) } else { Op::ReleaseArriving(seq) });
        }
        self.echo = Some(echo);
        self.unacked += 1;
        if self.unacked >= self.config.ack_every || self.config.ack_delay.is_zero() {
            self.ack_due = true;
            self.ack_at = None;
        } else if self.ack_at.is_none() && !self.ack_due {
            self.ack_at = Some(now.saturating_add(self.config.ack_delay));
        }
        Arrival::New
    }

    /// See [`Receiver::handle_skip`].
    fn handle_skip(&mut self, frame: SkipFrame) -> Result<(), ReceiveError> {
        if let Err(e) = self.check_skip(&frame) {
            self.metrics.rejected += 1;
            return Err(e);
        }
        self.resolve_below(frame.floor.0);
        let start = frame.seqs.start.0.max(self.cumulative);
        let end = frame.seqs.end.0;
        if start == self.cumulative {
            self.resolve_below(end);
        } else if start < end {
            self.fill(start, end, Kind::Skipped);
        }
        // Ack at once, so that a sender resending skips learns it can stop.
        // No event frame triggered it, so it echoes none.
        self.echo = None;
        self.ack_due = true;
        self.ack_at = None;
        Ok(())
    }

    /// See [`Receiver::handle_timeout`].
    fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance_clock(now);
        if self.ack_at.is_some_and(|at| at.has_elapsed(now)) {
            self.ack_at = None;
            self.ack_due = true;
        }
    }

    /// See [`Receiver::poll_ack`].
    fn poll_ack(&mut self) -> Option<Ack> {
        let echo = self.take_due_ack()?;
        let mut ranges = Vec::new();
        // In order there is no range: no call for them.
        if !self.spans.is_empty() {
            self.build_ranges(echo, &mut ranges);
        }
        Some(Ack { stream: self.stream, cumulative: Seq(self.cumulative), ranges, echo })
    }

    /// See [`Receiver::poll_ack_into`].
    fn poll_ack_into(&mut self, ack: &mut Ack) -> bool {
        let Some(echo) = self.take_due_ack() else { return false };
        ack.stream = self.stream;
        ack.cumulative = Seq(self.cumulative);
        ack.echo = echo;
        // In order there is no range: the list is only cleared.
        if self.spans.is_empty() {
            ack.ranges.clear();
        } else {
            self.build_ranges(echo, &mut ack.ranges);
        }
        true
    }

    // ----- internals ---------------------------------------------------------

    /// If an ack is due: marks it taken and returns its echo.
    #[inline]
    fn take_due_ack(&mut self) -> Option<Option<Echo>> {
        if !self.ack_due {
            return None;
        }
        self.ack_due = false;
        self.ack_at = None;
        self.unacked = 0;
        self.metrics.acks_sent += 1;
        Some(self.echo)
    }

    #[inline]
    fn advance_clock(&mut self, now: Instant) -> Instant {
        if now < self.now {
            self.metrics.clock_regressions += 1;
        } else {
            self.now = now;
        }
        self.now
    }

    #[inline]
    fn check_stream(&self, got: StreamId) -> Result<(), ReceiveError> {
        if got == self.stream {
            Ok(())
        } else {
            Err(ReceiveError::WrongStream { expected: self.stream, got })
        }
    }

    /// The first seq out of reach for a frame carrying `floor`.
    #[inline]
    fn limit(&self, floor: Seq) -> u64 {
        self.cumulative.max(floor.0).saturating_add(u64::from(self.config.window))
    }

    #[inline]
    fn check_event(
        &self,
        stream: StreamId,
        seq: Seq,
        attempt: u32,
        floor: Seq,
    ) -> Result<(), ReceiveError> {
        self.check_stream(stream)?;
        if attempt == 0 {
            return Err(ReceiveError::ZeroAttempt);
        }
        if floor > seq {
            return Err(ReceiveError::FloorAboveSeq { floor, seq });
        }
        let limit = self.limit(floor);
        if seq.0 >= limit {
            return Err(ReceiveError::BeyondWindow { seq, limit: Seq(limit) });
        }
        Ok(())
    }

    fn check_skip(&self, f: &SkipFrame) -> Result<(), ReceiveError> {
        self.check_stream(f.stream)?;
        if f.seqs.is_empty() {
            return Err(ReceiveError::EmptySkip { start: f.seqs.start, end: f.seqs.end });
        }
        let limit = self.limit(f.floor);
        if f.seqs.end.0 > limit {
            return Err(ReceiveError::BeyondWindow {
                seq: Seq(f.seqs.end.0 - 1),
                limit: Seq(limit),
            });
        }
        Ok(())
    }

    fn report_skipped(&mut self, start: u64, end: u64) {
        self.metrics.skipped += end - start;
        self.ops.push(Op::Skipped(SeqRange::new(start, end)));
    }

    /// The run holding `seq`, if any.
    fn span_at(&self, seq: u64) -> Option<(u64, Span)> {
        if self.spans.is_empty() {
            return None;
        }
        let (&start, &span) = self.spans.range(..=seq).next_back()?;
        (span.end > seq).then_some((start, span))
    }

    /// Moves the cumulative ack up to at least `to`: every seq below `to` is
    /// resolved. Runs that become contiguous are consumed too. Received runs
    /// release their buffered payloads; skipped runs and never-seen gaps are
    /// reported skipped (a skipped run only when ordered: unordered reported
    /// it when it was marked).
    #[inline]
    fn resolve_below(&mut self, to: u64) {
        if !self.spans.is_empty() {
            self.resolve_runs_below(to);
        } else if self.cumulative < to {
            // The usual case, in order: no run above the cumulative ack, so
            // only the gap up to `to` is left to report.
            self.report_skipped(self.cumulative, to);
            self.cumulative = to;
        }
    }

    /// [`resolve_below`](Self::resolve_below) with runs above the
    /// cumulative ack.
    #[inline(never)]
    fn resolve_runs_below(&mut self, to: u64) {
        // Bounded: each turn consumes a run or the gap before one.
        loop {
            let first = self.spans.first_key_value().map(|(&start, &span)| (start, span));
            match first {
                Some((start, span)) if start == self.cumulative => {
                    self.spans.pop_first();
                    self.consume(start, span);
                }
                Some((start, _)) if start < to => {
                    self.report_skipped(self.cumulative, start);
                    self.cumulative = start;
                }
                _ if self.cumulative < to => {
                    self.report_skipped(self.cumulative, to);
                    self.cumulative = to;
                }
                _ => break,
            }
        }
    }

    /// Moves the cumulative ack over the run `start..span.end`, which starts at it.
    fn consume(&mut self, start: u64, span: Span) {
        match span.kind {
            Kind::Received => {
                if self.config.order == DeliveryOrder::Ordered {
                    self.ops.push(Op::ReleaseBufferedBelow(span.end));
                }
            }
            Kind::Skipped => {
                if self.config.order == DeliveryOrder::Ordered {
                    self.report_skipped(start, span.end);
                }
            }
        }
        self.cumulative = span.end;
    }

    /// Marks the untracked seqs of `start..end` (all above the cumulative ack)
    /// as `kind`, leaving tracked ones alone. Unordered skips are reported at
    /// once.
    fn fill(&mut self, start: u64, end: u64, kind: Kind) {
        let mut cursor = start;
        // Bounded: each turn steps over one run or fills one hole.
        while cursor < end {
            if let Some((_, span)) = self.span_at(cursor) {
                cursor = span.end;
                continue;
            }
            let hole_end = self.spans.range(cursor..end).next().map_or(end, |(&s, _)| s);
            self.insert_run(cursor, hole_end, kind);
            if kind == Kind::Skipped && self.config.order == DeliveryOrder::Unordered {
                self.report_skipped(cursor, hole_end);
            }
            cursor = hole_end;
        }
    }

    /// Inserts the untracked run `start..end`, merging with same-kind neighbours.
    fn insert_run(&mut self, start: u64, end: u64, kind: Kind) {
        let mut run = (start, Span { end, kind });
        if let Some((&s, &before)) = self.spans.range(..start).next_back() {
            if before.end == start && before.kind == kind {
                self.spans.remove(&s);
                run.0 = s;
            }
        }
        if let Some(&after) = self.spans.get(&end) {
            if after.kind == kind {
                self.spans.remove(&end);
                run.1.end = after.end;
            }
        }
        self.spans.insert(run.0, run.1);
    }

    /// The ack for the current state. Ranges are the tracked runs above the
    /// cumulative ack, adjacent runs merged, lowest first; if they do not all
    /// fit, the run holding the echoed seq takes the last place, so an ack
    /// always covers the frame that triggered it.
    #[inline(never)]
    fn build_ranges(&self, echo: Option<Echo>, ranges: &mut Vec<SeqRange>) {
        // Its callers skip it in the usual case, in order, when nothing was
        // received above the cumulative ack (no run, so no range).
        ranges.clear();
        // Ranges start above the cumulative ack, so seq 0 is never in one:
        // without an echo nothing needs a place kept for it.
        let echo_seq = echo.map_or(Seq(0), |e| e.seq);
        let max = self.config.ack_ranges_max as usize;
        ranges.reserve_exact(max.min(self.spans.len()));
        let mut echo_range = None;
        let mut merged: Option<SeqRange> = None;
        // Bounded by the runs, at most `window` of them.
        for (&start, span) in &self.spans {
            if let Some(m) = merged.as_mut().filter(|m| m.end.0 == start) {
                m.end = Seq(span.end);
                continue;
            }
            if let Some(done) = merged.take() {
                if !Self::place(ranges, &mut echo_range, done, echo_seq, max) {
                    break;
                }
            }
            merged = Some(SeqRange::new(start, span.end));
        }
        if let Some(done) = merged {
            Self::place(ranges, &mut echo_range, done, echo_seq, max);
        }
        if let Some(r) = echo_range {
            if max > 0 && !ranges.contains(&r) {
                ranges.pop();
                ranges.push(r);
            }
        }
    }

    /// Keeps `range` if there is room, notes it if it holds the echo; returns
    /// whether to keep scanning.
    fn place(
        ranges: &mut Vec<SeqRange>,
        echo_range: &mut Option<SeqRange>,
        range: SeqRange,
        echo: Seq,
        max: usize,
    ) -> bool {
        if range.contains(echo) {
            *echo_range = Some(range);
        }
        if ranges.len() < max {
            ranges.push(range);
        }
        ranges.len() < max || (echo_range.is_none() && range.end <= echo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn rx(order: DeliveryOrder) -> Receiver<u64> {
        let config = ReceiverConfig { order, ack_every: 1, ..ReceiverConfig::default() };
        Receiver::new(StreamId::from_bits(1), config).unwrap()
    }

    fn event(seq: u64) -> EventFrame<u64> {
        EventFrame {
            stream: StreamId::from_bits(1),
            seq: Seq(seq),
            attempt: 1,
            floor: Seq(0),
            payload: seq,
        }
    }

    fn runs(r: &Receiver<u64>) -> Vec<(u64, u64, Kind)> {
        r.core.spans.iter().map(|(&s, sp)| (s, sp.end, sp.kind)).collect()
    }

    #[test]
    fn runs_merge_with_same_kind_neighbours_only() {
        let mut r = rx(DeliveryOrder::Ordered);
        for seq in [3, 5, 4] {
            r.handle_event(Instant::ZERO, event(seq)).unwrap();
        }
        assert_eq!(runs(&r), vec![(3, 6, Kind::Received)]);
        r.core.fill(6, 9, Kind::Skipped);
        r.core.fill(1, 3, Kind::Skipped);
        assert_eq!(
            runs(&r),
            vec![(1, 3, Kind::Skipped), (3, 6, Kind::Received), (6, 9, Kind::Skipped)]
        );
        // Filling over tracked seqs leaves them alone and fills only the holes.
        r.core.fill(1, 12, Kind::Skipped);
        assert_eq!(
            runs(&r),
            vec![(1, 3, Kind::Skipped), (3, 6, Kind::Received), (6, 12, Kind::Skipped)]
        );
        assert_eq!(r.core.cumulative, 0, "seq 0 is still awaited");
    }

    #[test]
    fn resolving_consumes_contiguous_runs_and_reports_gaps_in_order() {
        let mut r = rx(DeliveryOrder::Ordered);
        r.handle_event(Instant::ZERO, event(2)).unwrap();
        r.core.fill(4, 6, Kind::Skipped);
        r.core.resolve_below(1);
        r.carry_out(None);
        assert_eq!(r.core.cumulative, 1);
        r.core.resolve_below(2);
        r.carry_out(None);
        // Reaching 2 makes the received 2 contiguous; the gap at 3 stays open.
        assert_eq!(r.core.cumulative, 3);
        let got: Vec<_> = core::iter::from_fn(|| r.poll_delivery()).collect();
        assert_eq!(
            got,
            vec![
                Delivery::Skipped { seqs: SeqRange::new(0, 1) },
                Delivery::Skipped { seqs: SeqRange::new(1, 2) },
                Delivery::Event { seq: Seq(2), payload: 2 },
            ]
        );
        r.core.resolve_below(4);
        r.carry_out(None);
        assert_eq!(r.core.cumulative, 6);
        assert!(r.core.spans.is_empty() && r.buffer.is_empty());
    }

    #[test]
    fn the_echoed_run_takes_the_last_place_when_ranges_overflow() {
        let config =
            ReceiverConfig { ack_ranges_max: 2, ack_every: 1, ..ReceiverConfig::default() };
        let mut r: Receiver<u64> = Receiver::new(StreamId::from_bits(1), config).unwrap();
        for seq in [2, 4, 6, 8] {
            r.handle_event(Instant::ZERO, event(seq)).unwrap();
            let _ = r.poll_ack();
        }
        r.handle_event(Instant::ZERO, event(8)).unwrap(); // duplicate: acked at once
        let ack = r.poll_ack().unwrap();
        assert_eq!(ack.ranges, vec![SeqRange::new(2, 3), SeqRange::new(8, 9)]);
        r.handle_event(Instant::ZERO, event(2)).unwrap();
        let ack = r.poll_ack().unwrap();
        assert_eq!(ack.ranges, vec![SeqRange::new(2, 3), SeqRange::new(4, 5)]);
    }

    #[test]
    fn an_ack_polled_into_a_kept_ack_is_the_ack_poll_ack_gives() {
        // Two receivers fed the same frames: one hands out new acks, the
        // other fills one kept `Ack`.
        let config = ReceiverConfig { ack_every: 2, ..ReceiverConfig::default() };
        let mut a: Receiver<u64> = Receiver::new(StreamId::from_bits(1), config).unwrap();
        let mut b: Receiver<u64> = Receiver::new(StreamId::from_bits(1), config).unwrap();
        let stale = Ack {
            stream: StreamId::from_bits(9),
            cumulative: Seq(77),
            ranges: vec![SeqRange::new(90, 95)],
            echo: Some(Echo { seq: Seq(91), attempt: 3 }),
        };
        let mut kept = stale.clone();
        assert!(!b.poll_ack_into(&mut kept), "nothing due yet");
        assert_eq!(kept, stale, "left as it was");
        let mut with_ranges = 0;
        let mut room = 0;
        for seq in [1, 3, 0, 5, 7, 2, 9, 4, 4, 6, 8, 12, 10, 11] {
            a.handle_event(Instant::ZERO, event(seq)).unwrap();
            b.handle_event(Instant::ZERO, event(seq)).unwrap();
            let expected = a.poll_ack();
            assert_eq!(b.poll_ack_into(&mut kept), expected.is_some(), "seq {seq}");
            match expected {
                Some(ack) => {
                    with_ranges += usize::from(!ack.ranges.is_empty());
                    assert_eq!(kept, ack, "seq {seq}");
                    room = room.max(kept.ranges.capacity());
                    // The room is kept, never shrunk: filling it again
                    // allocates only to grow it.
                    assert!(kept.ranges.capacity() >= room);
                }
                None => assert!(kept.ranges.capacity() >= room),
            }
        }
        assert!(with_ranges >= 3, "acks with ranges: {with_ranges}");
        assert_eq!(a.metrics(), b.metrics());
        // The last frame's ack waits for its delay.
        let later = Instant::from_secs(1);
        a.handle_timeout(later);
        b.handle_timeout(later);
        assert!(b.poll_ack_into(&mut kept));
        assert_eq!(Some(&kept), a.poll_ack().as_ref());
        assert!(kept.ranges.is_empty() && kept.cumulative == Seq(13), "{kept:?}");
    }
}
