//! The sender: [`Tracker`] tracks every event until its user's client acks it.

mod engine;
mod events;
mod input;
mod payloads;
mod slots;
mod state;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::ack::Ack;
use crate::budget::TokenBucket;
use crate::command::Command;
use crate::config::Config;
use crate::error::{
    AckError, CancelError, ConfigError, ConnectError, OpenError, Rejected, StreamError, SubmitError,
};
use crate::ids::{EventId, Seq, StreamId, UserId};
use crate::metrics::Metrics;
use crate::time::Instant;
use crate::wheel::TimerWheel;

use events::{Event, Events, Phase};
use payloads::Payloads;
use state::{Stream, StreamSlot, User};

/// Events queued or in flight from which a stream is busy enough to take
/// its events' slots from a block of its own: the free slots of its open
/// block, which wait for it alone, are then at most an eighth of its events
/// (`slots.rs`).
const BUSY: u32 = 8 * slots::BLOCK;

/// [`Tracker::prefetch_acks`] takes a batch this many acks at a time (and
/// [`Tracker::prefetch_submits`] this many streams): enough
/// for their misses to overlap (a core tracks a few dozen at once), few
/// enough for the first pass's lines to be there when the second comes.
const PREFETCH_BATCH: usize = 16;

/// Per-submit choices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SubmitOptions {
    /// Give up this long after submit instead of `retry.deadline`.
    pub deadline: Option<Duration>,
    /// Conflation key: a newer event with the same key on the same stream
    /// supersedes this one while it is pending (progress-style events).
    pub conflation_key: Option<u64>,
}

impl SubmitOptions {
    /// Options with a deadline override.
    pub fn with_deadline(deadline: Duration) -> Self {
        SubmitOptions { deadline: Some(deadline), ..Self::default() }
    }

    /// Options with a conflation key.
    pub fn conflated(key: u64) -> Self {
        SubmitOptions { conflation_key: Some(key), ..Self::default() }
    }
}

/// Where a pending event is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EventState {
    /// Waiting for the window or a connection; no seq yet.
    Queued,
    /// Transmitted, waiting for an ack or its next timeout.
    InFlight {
        /// Its seq.
        seq: Seq,
        /// Transmissions so far.
        attempts: u32,
    },
    /// Its retry is due but the retry budget is empty.
    RetryDeferred {
        /// Its seq.
        seq: Seq,
        /// Transmissions so far.
        attempts: u32,
    },
    /// Its retry came due while the stream was disconnected; it is
    /// retransmitted on reconnect.
    Paused {
        /// Its seq.
        seq: Seq,
        /// Transmissions so far.
        attempts: u32,
    },
}

/// A snapshot of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StreamInfo {
    /// Its owner.
    pub user: UserId,
    /// Whether a client is connected.
    pub connected: bool,
    /// The lowest unresolved seq: every seq below it is confirmed or abandoned,
    /// so a receiver may stop waiting for it. Carried in every event frame.
    pub floor: Seq,
    /// The next seq to be transmitted.
    pub next_seq: Seq,
    /// Transmitted events not yet finished.
    pub in_flight: u32,
    /// Events waiting for the window or a connection.
    pub queued: u32,
    /// Smoothed RTT, once sampled (adaptive timeout only).
    pub srtt: Option<Duration>,
    /// The base timeout of a first attempt on this stream.
    pub rto: Duration,
}

/// A prefetch instruction, given to a tracker by
/// [`Tracker::set_prefetch`]: called with the address of memory the tracker
/// expects to read soon, it should start loading that address's cache line
/// and return at once.
///
/// The address may point at anything, or already be in cache; the function
/// must not read or write through it (the memory belongs to the tracker,
/// which may change it) and must not panic. A hint changes no result of
/// the tracker, so one that does nothing is correct, only slower.
pub type Prefetch = fn(*const u8);

/// The sans-IO sender state machine. One tracker serves many users and
/// streams; it owns no socket, clock or thread.
///
/// # Method groups
/// - **Application verbs**: [`open_stream`](Self::open_stream),
///   [`close_stream`](Self::close_stream), [`submit`](Self::submit),
///   [`cancel`](Self::cancel), [`forget_user`](Self::forget_user).
/// - **Environment inputs** (`handle_*`): acks, naks, progress reports,
///   connects, disconnects, transmit failures, and timeouts.
/// - **Outputs** (`poll_*`): [`poll_command`](Self::poll_command) and
///   [`poll_timeout`](Self::poll_timeout).
/// - **Getters** (`&self`): metrics, event and stream state, payloads.
///
/// # Poll order
/// After every verb or input, drain [`poll_command`](Self::poll_command) until
/// it returns `None`, then ask [`poll_timeout`](Self::poll_timeout) when to
/// call [`handle_timeout`](Self::handle_timeout) next. Commands come out in the
/// order the tracker decided them.
///
/// # The time rule
/// Every time-dependent call takes `now`. Time should not go backwards; if it
/// does, the tracker clamps it to the latest `now` it has seen and counts a
/// clock regression. Calling `handle_timeout` early or twice is harmless.
///
/// # Payloads
/// Each pending event's payload is kept by its slot until its `Finish`
/// hands it back. A payload type of size zero (`()`, for an application
/// that keeps its payloads itself, found by `EventId`) is kept as a count
/// instead: nothing per event, and nothing to read when one finishes.
///
/// # Errors
/// Bad input (a stale id, a foreign or malformed ack, a submit over a cap) is
/// a typed error and changes nothing. Nothing a peer sends can panic the
/// tracker; a panic is a bug.
#[derive(Debug)]
pub struct Tracker<P> {
    /// Everything but the payloads; not generic, so it is compiled once.
    engine: Engine,
    /// The pending events' payloads, until their `Finish` command is polled.
    payloads: Payloads<P>,
}

impl<P> Tracker<P> {
    /// A tracker with a validated config.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        Ok(Tracker { engine: Engine::new(config)?, payloads: Payloads::default() })
    }

    /// Gives the tracker a prefetch instruction to call, or takes it away
    /// (`None`, the default).
    ///
    /// A tracker holding far more events than the cache reads most of them
    /// from memory, and much of its time is spent waiting for those reads.
    /// Some it can tell in advance: the event a stream's next in-order ack
    /// will confirm (acks mostly come in order), the events whose timers
    /// a tick is about to move, and, while timers fire, the records of
    /// those that fire next (their streams and users and, for one about
    /// to expire, the lines its expiry writes). A prefetch starts such a read
    /// without waiting for it. `core/` is safe Rust, and prefetch
    /// instructions are `unsafe` to call, so the embedder passes one in;
    /// [`Prefetch`] says what it may and must not do. Without one the
    /// tracker reads those timers' events ahead instead (which waits, but
    /// lets their misses overlap) and nothing ahead of acks.
    ///
    /// It changes no result, command or metric: only where the time goes.
    /// At 1M events in flight on the bench machine it takes about a quarter
    /// off an in-order lifecycle, a fifth off a retry and a sixth off an
    /// expiry; at 10M the timers fetched ahead bring an expiry to about
    /// 0.58 of its time with the rest of the hint alone (benches/README.md,
    /// "Firing timers hint what fires next" and "Expiries hint what they
    /// write"). In a tracker that fits in the cache it costs a few
    /// instructions a call (benches/README.md, "Prefetch hints"). Use a
    /// prefetch into every cache level (`prefetcht0` on x86_64, as below):
    /// `prefetcht1` made the in-order lifecycle at 1M 15 % slower there.
    ///
    /// ```
    /// use acktrack::{Config, Tracker};
    ///
    /// /// A hint to the CPU: start loading the cache line at `address`.
    /// fn prefetch(address: *const u8) {
    ///     #[cfg(target_arch = "x86_64")]
    ///     // SAFETY: SSE is part of x86_64, and a prefetch only hints: it
    ///     // reads nothing the program sees and never faults, whatever the
    ///     // address.
    ///     unsafe {
    ///         use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    ///         _mm_prefetch::<_MM_HINT_T0>(address.cast());
    ///     }
    ///     #[cfg(not(target_arch = "x86_64"))]
    ///     let _ = address;
    /// }
    ///
    /// let mut tracker: Tracker<String> = Tracker::new(Config::default()).unwrap();
    /// tracker.set_prefetch(Some(prefetch));
    /// ```
    pub fn set_prefetch(&mut self, prefetch: Option<Prefetch>) {
        self.engine.events.set_hint(prefetch);
    }

    // ----- application verbs --------------------------------------------------------

    /// Opens a new stream for `user`, connected. Stream ids are never reused.
    pub fn open_stream(&mut self, now: Instant, user: UserId) -> Result<StreamId, OpenError> {
        self.engine.open_stream(now, user)
    }

    /// Closes a stream: every pending event on it finishes `StreamClosed`.
    pub fn close_stream(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        self.engine.close_stream(now, stream)
    }

    /// Submits an event on a stream. It is transmitted at once if the stream
    /// is connected and its window has room, otherwise queued. Over a cap, the
    /// payload comes back in the error and nothing changes.
    pub fn submit(
        &mut self,
        now: Instant,
        stream: StreamId,
        payload: P,
        options: SubmitOptions,
    ) -> Result<EventId, Rejected<P>> {
        match self.engine.submit(now, stream, options) {
            Ok(id) => {
                // The slot is new or released: its payload was handed back.
                self.payloads.put(id.index(), payload);
                Ok(id)
            }
            Err(error) => Err(Rejected { error, payload }),
        }
    }

    /// Cancels a pending event: it finishes `Cancelled`, and if it was
    /// transmitted its seq is skipped.
    pub fn cancel(&mut self, now: Instant, event: EventId) -> Result<(), CancelError> {
        self.engine.cancel(now, event)
    }

    /// Drops a user's metrics once it has no open stream; returns them.
    /// A user's entry otherwise lives as long as the tracker.
    pub fn forget_user(&mut self, user: UserId) -> Option<Metrics> {
        self.engine.forget_user(user)
    }

    // ----- environment inputs -------------------------------------------------------

    /// An ack from `user`'s client. Newly acked events finish `Confirmed`;
    /// acks that confirm nothing new are counted as duplicate (or late, when
    /// the echo names an event already given up on). A foreign, malformed or
    /// impossible ack is rejected, counted, and changes nothing else.
    pub fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError> {
        self.engine.handle_ack(now, user, ack)
    }

    /// Reads, and changes nothing, the memory [`handle_ack`](Self::handle_ack)
    /// is about to read for `ack`: its stream and user, the ring entry of the
    /// seq it echoes (or else the newest it covers), and that event's record
    /// and payload. Given a [prefetch hint](Self::set_prefetch), it
    /// prefetches the user, the event, the record of the event's slot (which
    /// giving the payload back reads) and the payload instead, and reads
    /// only the stream and the ring entry (which names the event). For a
    /// batch, [`prefetch_acks`](Self::prefetch_acks) does better with a hint.
    ///
    /// A hint for a caller holding several acks at once (say, all the frames
    /// one read from many sockets gave it): calling this for each of them
    /// before handling them lets their cache misses overlap instead of
    /// coming one after another. That matters when the tracker holds far
    /// more events than the cache does and acks arrive out of order; it
    /// costs about 80 instructions, so a tracker that fits in the cache
    /// loses a little (2–13 ns per lifecycle at 1k in flight across the
    /// bench runs). The `*_batched` benches measure both (see
    /// benches/README.md).
    ///
    /// Any ack may be passed: one naming an unknown or closed stream, or
    /// seqs it does not hold, reads less and does nothing else. The result
    /// of [`handle_ack`](Self::handle_ack) does not depend on it.
    ///
    /// ```
    /// use acktrack::{Ack, Config, Echo, Instant, Seq, SubmitOptions, Tracker, UserId};
    ///
    /// let mut tracker: Tracker<&str> = Tracker::new(Config::default()).unwrap();
    /// let now = Instant::ZERO;
    /// let mut acks = Vec::new();
    /// for user in 1..=3 {
    ///     let stream = tracker.open_stream(now, UserId(user)).unwrap();
    ///     tracker.submit(now, stream, "hello", SubmitOptions::default()).unwrap();
    ///     let echo = Some(Echo { seq: Seq(0), attempt: 1 });
    ///     acks.push((UserId(user), Ack { stream, cumulative: Seq(1), ranges: Vec::new(), echo }));
    /// }
    /// while tracker.poll_command().is_some() {} // the three sends
    ///
    /// // Acks read from many sockets at once: prefetch them all, then handle them.
    /// for (_, ack) in &acks {
    ///     tracker.prefetch_ack(ack);
    /// }
    /// for (user, ack) in &acks {
    ///     tracker.handle_ack(now, *user, ack).unwrap();
    ///     while let Some(command) = tracker.poll_command() {
    ///         assert!(matches!(command, acktrack::Command::Finish { .. }));
    ///     }
    /// }
    /// assert_eq!(tracker.metrics().confirmed, 3);
    /// ```
    pub fn prefetch_ack(&self, ack: &Ack) {
        if let Some(slot) = self.engine.prefetch_ack(ack) {
            // Its payload, which the `Finish` hands back.
            self.payloads.touch(slot, self.engine.events.hint());
        }
    }

    /// [`prefetch_ack`](Self::prefetch_ack) for a batch of acks, to call
    /// before handling them. With a [prefetch hint](Self::set_prefetch) it
    /// takes them in two passes: the first hints each ack's user and the
    /// seq ring entry that names the event it most likely confirms; the
    /// second reads those entries, fetched by then, and hints the events,
    /// their slots' records and their payloads. One pass (`prefetch_ack`
    /// for each) waits for each ring entry in turn; so with acks in random
    /// order over a million events in flight, batches of 16 take about a
    /// quarter less time (benches/README.md, "Prefetch hints"). The first
    /// pass leaves out an ack of the stream's oldest event (in-order acks),
    /// whose entry is beside the ring's head and whose event the previous
    /// ack hinted already. Without a hint, the same as `prefetch_ack` for
    /// each ack.
    ///
    /// A batch longer than 16 acks is taken 16 at a time, each in two
    /// passes. Batches of about 16 are the ones to aim for: on the bench
    /// machine (random order, 1M in flight) batches of 4 took 37 % longer
    /// per ack than batches of 16, of 8 about 10 %, and of 32 or 64, 3–4 %
    /// (benches/README.md, "Prefetch hints"). As with `prefetch_ack`, any ack may be passed and nothing
    /// changes: the results of [`handle_ack`](Self::handle_ack) do not
    /// depend on it.
    ///
    /// ```
    /// # use acktrack::{Ack, Config, Instant, Seq, SeqRange, SubmitOptions, Tracker, UserId};
    /// # fn prefetch(_: *const u8) {} // the application's: see `set_prefetch`
    /// let mut tracker: Tracker<u32> = Tracker::new(Config::default()).unwrap();
    /// tracker.set_prefetch(Some(prefetch));
    /// let now = Instant::ZERO;
    /// let stream = tracker.open_stream(now, UserId(1)).unwrap();
    /// for i in 0..8 {
    ///     tracker.submit(now, stream, i, SubmitOptions::default()).unwrap();
    /// }
    /// while tracker.poll_command().is_some() {} // the sends
    /// // Selective acks, out of order, read in one go.
    /// let acks: Vec<Ack> = [5, 2, 7]
    ///     .map(|seq| Ack {
    ///         stream,
    ///         cumulative: Seq(0),
    ///         ranges: vec![SeqRange { start: Seq(seq), end: Seq(seq + 1) }],
    ///         echo: None,
    ///     })
    ///     .into();
    /// tracker.prefetch_acks(&acks);
    /// for ack in &acks {
    ///     tracker.handle_ack(now, UserId(1), ack).unwrap();
    /// }
    /// assert_eq!(tracker.metrics().confirmed, 3);
    /// ```
    pub fn prefetch_acks<'a>(&self, acks: impl IntoIterator<Item = &'a Ack>) {
        let mut acks = acks.into_iter();
        let Some(hint) = self.engine.events.hint() else {
            for ack in acks {
                self.prefetch_ack(ack);
            }
            return;
        };
        // What the first pass found, for the second: the stream and seq of
        // each ack that names a stream.
        let mut targets = [(0u32, Seq(0)); PREFETCH_BATCH];
        loop {
            let (mut taken, mut found) = (0, 0);
            for ack in acks.by_ref().take(PREFETCH_BATCH) {
                taken += 1;
                if let Some(target) = self.engine.prefetch_ack_ring(ack, hint) {
                    targets[found] = target;
                    found += 1;
                }
            }
            for &(index, seq) in &targets[..found] {
                if let Some(slot) = self.engine.prefetch_acked_event(index, seq) {
                    self.payloads.touch(slot, Some(hint));
                }
            }
            if taken < PREFETCH_BATCH {
                return;
            }
        }
    }

    /// Fetches, and changes nothing, what [`submit`](Self::submit) to
    /// `stream` is about to read and write. Given a [prefetch
    /// hint](Self::set_prefetch), it reads the stream's record, which names
    /// the rest, and hints its user's record, the line where the stream's
    /// next seq ring entry goes and, for a busy stream, the event slot its
    /// next event takes (and that slot's payload); without one, it reads
    /// the stream's record and its user's. For one submit known ahead; for a batch (a broadcast to
    /// many streams, a burst read off a queue),
    /// [`prefetch_submits`](Self::prefetch_submits) overlaps the records'
    /// misses too. Any stream may be passed (an unknown or closed one reads
    /// at most its record), and nothing changes: the results of `submit` do
    /// not depend on it.
    pub fn prefetch_submit(&self, stream: StreamId) {
        if let Some(slot) = self.engine.prefetch_submit(stream) {
            self.payloads.touch(slot, self.engine.events.hint());
        }
    }

    /// [`prefetch_submit`](Self::prefetch_submit) for a batch of submits, to
    /// call before making them: the streams they go to, in any order, each
    /// as often as it is submitted to or once. With a [prefetch
    /// hint](Self::set_prefetch) it takes them in two passes: the first
    /// hints each stream's record, the second reads those records, fetched
    /// by then, and hints the rest. So the misses of a whole batch overlap
    /// where one submit at a time waits for each in turn: with ten million
    /// events in flight over 10,000 streams, in-order lifecycles in batches
    /// of 16 took 0.56 times as long with both this and
    /// [`prefetch_acks`](Self::prefetch_acks) as with `prefetch_acks` alone,
    /// and 0.93 times with a million (benches/README.md, "Prefetching
    /// submits"). Longer batches are taken
    /// 16 streams at a time. Without a hint, the same as `prefetch_submit`
    /// for each stream. Any stream may be passed and nothing changes.
    ///
    /// ```
    /// # use acktrack::{Config, Instant, SubmitOptions, Tracker, UserId};
    /// # fn prefetch(_: *const u8) {} // the application's: see `set_prefetch`
    /// let mut tracker: Tracker<&str> = Tracker::new(Config::default()).unwrap();
    /// tracker.set_prefetch(Some(prefetch));
    /// let now = Instant::ZERO;
    /// let streams: Vec<_> =
    ///     (0..4).map(|user| tracker.open_stream(now, UserId(user)).unwrap()).collect();
    /// // A broadcast: one event to every stream.
    /// tracker.prefetch_submits(&streams);
    /// for &stream in &streams {
    ///     tracker.submit(now, stream, "maintenance at 22:00", SubmitOptions::default()).unwrap();
    /// }
    /// assert_eq!(tracker.metrics().sent, 4);
    /// ```
    pub fn prefetch_submits<'a>(&self, streams: impl IntoIterator<Item = &'a StreamId>) {
        let mut streams = streams.into_iter();
        let Some(hint) = self.engine.events.hint() else {
            for &stream in streams {
                self.prefetch_submit(stream);
            }
            return;
        };
        // The streams the first pass found a record for, for the second.
        let mut found = [StreamId::from_bits(0); PREFETCH_BATCH];
        loop {
            let (mut taken, mut n) = (0, 0);
            for &stream in streams.by_ref().take(PREFETCH_BATCH) {
                taken += 1;
                if self.engine.prefetch_stream_record(stream, hint) {
                    found[n] = stream;
                    n += 1;
                }
            }
            for &stream in &found[..n] {
                self.prefetch_submit(stream);
            }
            if taken < PREFETCH_BATCH {
                return;
            }
        }
    }

    /// A client (re)connected to a stream, resuming from `resume`, its
    /// cumulative ack (the next seq it expects). Everything below `resume`
    /// is confirmed (acks lost before the drop); everything still pending is
    /// retransmitted at once within the window, without waiting out a backoff,
    /// and without spending the retry budget. Seqs the client is missing but
    /// that are already resolved (below the floor) are skipped.
    ///
    /// A connect on a stream that is already connected is a racing reconnect:
    /// the new connection replaces the old one and the same steps apply.
    /// A resume point beyond anything sent is an error and changes nothing.
    pub fn handle_connect(
        &mut self,
        now: Instant,
        stream: StreamId,
        resume: Seq,
    ) -> Result<(), ConnectError> {
        self.engine.handle_connect(now, stream, resume)
    }

    /// The stream's connection dropped: nothing is transmitted on it and its
    /// retry clocks pause until [`handle_connect`](Self::handle_connect);
    /// deadlines keep running. Disconnecting a disconnected stream is a no-op.
    pub fn handle_disconnect(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        self.engine.handle_disconnect(now, stream)
    }

    /// The client asks for a redelivery of `seq` after `delay` (it got the
    /// frame but could not process it). The redelivery is a new attempt, never
    /// scheduled past the deadline. A nak for a seq already resolved is
    /// counted as a duplicate and changes nothing.
    pub fn handle_nak(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
        delay: Duration,
    ) -> Result<(), AckError> {
        self.engine.handle_nak(now, user, stream, seq, delay)
    }

    /// The client reports it is still working on `seq`: the current attempt's
    /// timeout is extended by one nominal timeout from now, never past the deadline.
    pub fn handle_progress(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        self.engine.handle_progress(now, user, stream, seq)
    }

    /// The driver could not write the transmission of `seq`: the event is
    /// retried now (a new attempt, within the budget) instead of after its
    /// timeout; the stream stays usable. At the last attempt it keeps its
    /// timeout. Reports for resolved seqs change nothing.
    pub fn handle_transmit_failed(
        &mut self,
        now: Instant,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        self.engine.handle_transmit_failed(now, stream, seq)
    }

    /// Runs whatever was due at `now`: retries, expiries, deferred retries.
    /// Calling it early or twice is a no-op: no command, no metric.
    ///
    /// With nothing more due, it also moves part of the timers of each
    /// timer-wheel slot that comes due soon (within a sixteenth of the
    /// slot's width: 16 ms for a 262 ms slot) down to where the wheel fires
    /// them from, so that a far slot of many timers (a 262 ms slot of about
    /// 262,000 at a thousand timeouts a ms) is moved over the calls before
    /// it comes due, not all in one call. Nothing else depends on it:
    /// [`poll_timeout`](Self::poll_timeout) never moves earlier for it.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now)
    }

    // ----- outputs ------------------------------------------------------------------

    /// The next command for the driver. Drain after every input.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<Command<P>> {
        Some(match self.engine.poll_command()? {
            Command::Send { stream, event, seq, attempt } => {
                Command::Send { stream, event, seq, attempt }
            }
            Command::Retry { stream, event, seq, attempt } => {
                Command::Retry { stream, event, seq, attempt }
            }
            Command::Skip { stream, seqs } => Command::Skip { stream, seqs },
            Command::Finish { event, user, outcome, payload: slot } => {
                Command::Finish { event, user, outcome, payload: self.hand_back(slot) }
            }
        })
    }

    /// The payload of the finished event that was in `slot`, which may now
    /// be reused. Out of line: the other commands need no registers for it.
    #[inline(never)]
    fn hand_back(&mut self, slot: u32) -> P {
        let payload = self.payloads.take(slot);
        self.engine.release(slot);
        payload
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called,
    /// or `None` if nothing is waiting on time. Never later than the next
    /// retry, expiry or skip; it may be earlier (the timer wheel then only
    /// moves far timers closer, or a stream's timer finds that the event it
    /// waited for was acked and moves on to the next), so a call at that
    /// time may do nothing visible.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    // ----- getters ------------------------------------------------------------------

    /// The config the tracker runs with.
    pub fn config(&self) -> &Config {
        self.engine.config()
    }

    /// The latest `now` the tracker has seen.
    pub fn now(&self) -> Instant {
        self.engine.now()
    }

    /// Totals over all users.
    pub fn metrics(&self) -> &Metrics {
        self.engine.metrics()
    }

    /// One user's metrics, if the user ever opened a stream (and was not forgotten).
    pub fn user_metrics(&self, user: UserId) -> Option<&Metrics> {
        self.engine.user_metrics(user)
    }

    /// Users known to the tracker, in id order.
    pub fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.engine.users()
    }

    /// Where a pending event is, or `None` if it is unknown or finished.
    pub fn event_state(&self, event: EventId) -> Option<EventState> {
        self.engine.event_state(event)
    }

    /// The payload of a pending event (to build a frame for `Send`/`Retry`).
    pub fn payload(&self, event: EventId) -> Option<&P> {
        let slot = self.engine.event_slot(event)?;
        self.payloads.get(slot)
    }

    /// The owner of a pending event.
    pub fn event_user(&self, event: EventId) -> Option<UserId> {
        self.engine.event_user(event)
    }

    /// A stream's lowest unresolved seq (see [`StreamInfo::floor`]).
    pub fn stream_floor(&self, stream: StreamId) -> Option<Seq> {
        self.engine.stream_floor(stream)
    }

    /// A snapshot of a stream, or `None` if unknown or closed.
    pub fn stream_info(&self, stream: StreamId) -> Option<StreamInfo> {
        self.engine.stream_info(stream)
    }

    /// Events submitted and not yet finished.
    pub fn pending(&self) -> u32 {
        self.engine.pending()
    }
}

/// The tracker's state, independent of the payload type: every verb and
/// input of [`Tracker`] runs here, compiled once for all payload types. A
/// `Finish` command carries the slot of its payload, which the wrapper swaps
/// for the payload itself.
#[derive(Debug)]
pub(super) struct Engine {
    config: Config,
    now: Instant,
    events: Events,
    streams: Vec<StreamSlot>,
    free_streams: Vec<u32>,
    /// By slot; a forgotten user's slot holds a vacant record until reused.
    users: Vec<User>,
    free_users: Vec<u32>,
    user_index: BTreeMap<UserId, u32>,
    wheel: TimerWheel,
    /// `Finish` commands carry the payload's slot.
    commands: VecDeque<Command<u32>>,
    metrics: Metrics,
    global_budget: Option<TokenBucket>,
    /// Users with deferred retries, served round-robin as tokens come back.
    deferred_users: VecDeque<u32>,
    /// When a deferred retry can next get a token by refill alone.
    budget_wake: Option<Instant>,
    rng: ChaCha8Rng,
    /// Un-jittered timeout of each attempt (index `attempt - 1`), µs, when the
    /// base is the fixed `retry.initial_delay`.
    delays: Vec<u64>,
    /// Conflation keys of the pending events that have one, by event slot.
    keys: BTreeMap<u32, u64>,
    /// Pending events, the memory bound.
    pending: u32,
    open_streams: u32,
}

/// The index of a stream slot appended to `len` slots, if it has one: below
/// [`engine::RING_KEY`], so that the wheel keys of its timers are unique.
fn new_stream_index(len: usize) -> Option<u32> {
    u32::try_from(len).ok().filter(|&index| index < engine::RING_KEY)
}

impl Engine {
    /// See `Tracker::new`.
    pub(super) fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Engine {
            global_budget: config
                .global_retry_budget
                .as_ref()
                .map(|b| TokenBucket::new(b, Instant::ZERO)),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            keys: BTreeMap::new(),
            delays: (1..=config.retry.attempts_max)
                .map(|a| {
                    crate::backoff::capped_exponential(&config.retry, config.retry.initial_delay, a)
                })
                .collect(),
            config,
            now: Instant::ZERO,
            events: Events::new(
                config.retry.deadline,
                config.rto.is_some(),
                config.retry.jitter == crate::config::Jitter::Decorrelated,
            ),
            streams: Vec::new(),
            free_streams: Vec::new(),
            users: Vec::new(),
            free_users: Vec::new(),
            user_index: BTreeMap::new(),
            wheel: TimerWheel::default(),
            commands: VecDeque::new(),
            metrics: Metrics::default(),
            deferred_users: VecDeque::new(),
            budget_wake: None,
            pending: 0,
            open_streams: 0,
        })
    }

    // ----- application verbs -------------------------------------------------

    /// See `Tracker::open_stream`.
    pub(super) fn open_stream(
        &mut self,
        now: Instant,
        user: UserId,
    ) -> Result<StreamId, OpenError> {
        self.advance(now);
        let max = self.config.flow.streams_max;
        if self.open_streams >= max {
            return Err(OpenError::TooManyStreams { max });
        }
        let user_slot = self.user_slot_or_insert(user, now);
        let stream = Stream::new(user_slot, self.config.rto.as_ref());
        let (index, generation) = match self.free_streams.pop() {
            Some(index) => {
                let slot = &mut self.streams[index as usize];
                slot.stream = Some(stream);
                (index, slot.generation)
            }
            None => {
                let index = new_stream_index(self.streams.len())
                    .ok_or(OpenError::TooManyStreams { max })?;
                self.streams.push(StreamSlot { generation: 0, stream: Some(stream) });
                (index, 0)
            }
        };
        self.open_streams += 1;
        let u = self.user_mut(user_slot);
        u.streams += 1;
        u.metrics.streams += 1;
        self.metrics.streams += 1;
        Ok(StreamId::new(index, generation))
    }

    /// See `Tracker::close_stream`.
    pub(super) fn close_stream(
        &mut self,
        now: Instant,
        stream: StreamId,
    ) -> Result<(), StreamError> {
        let now = self.advance(now);
        let index = self.stream_index(stream)?;
        let s = self.stream(index);
        let mut slots: Vec<u32> = s.ring.unresolved().map(|(_, slot)| slot).collect();
        slots.extend(
            s.queue
                .iter()
                .filter(|(slot, generation)| self.events.is_live(*slot, *generation))
                .map(|(slot, _)| *slot),
        );
        for slot in slots {
            self.finish(now, slot, crate::command::Outcome::StreamClosed);
        }
        self.disarm_skip(index);
        debug_assert!(self.stream(index).ring_timer.is_none(), "no ring-timed event is left");
        let s = self.streams[index as usize].stream.as_mut().expect("checked above");
        self.events.end_stream(&mut s.slot_cursor);
        let slot = &mut self.streams[index as usize];
        let closed = slot.stream.take().expect("checked above");
        if slot.generation < u32::MAX {
            slot.generation += 1;
            self.free_streams.push(index);
        }
        self.open_streams -= 1;
        let u = self.user_mut(closed.user);
        u.streams -= 1;
        u.metrics.streams -= 1;
        self.metrics.streams -= 1;
        self.after_input(now);
        Ok(())
    }

    /// See `Tracker::submit`.
    ///
    /// A stream with at least [`BUSY`] events queued or in flight takes its
    /// new events' slots from a block of its own, so that they share cache
    /// lines when acked in order (`slots.rs`).
    pub(super) fn submit(
        &mut self,
        now: Instant,
        stream: StreamId,
        options: SubmitOptions,
    ) -> Result<EventId, SubmitError> {
        let now = self.advance(now);
        let index = self.stream_index(stream)?;
        if let Err(error) = self.check_submit(index, &options) {
            self.count_rejection(index, &error);
            return Err(error);
        }
        if let Some(key) = options.conflation_key {
            self.supersede(now, index, key);
        }
        let deadline_span = options.deadline.unwrap_or(self.config.retry.deadline);
        let user = self.stream(index).user;
        let event = Event::new(index, now, options.conflation_key.is_some());
        let s = self.streams[index as usize].stream.as_mut().expect("live stream slot");
        let busy = s.queued + s.in_flight >= BUSY;
        let slot = self.events.alloc(event, deadline_span, busy, &mut s.slot_cursor);
        let id = self.event_id(slot);
        if let Some(key) = options.conflation_key {
            self.stream_mut(index).conflation.insert(key, slot);
            self.keys.insert(slot, key);
        }
        self.pending += 1;
        self.metrics.submitted += 1;
        let u = self.user_mut(user);
        u.pending += 1;
        u.metrics.submitted += 1;

        let window = u64::from(self.config.flow.window);
        let s = self.stream_mut(index);
        if s.connected && s.queued == 0 && s.ring.span() < window {
            self.transmit_first(now, slot);
        } else {
            self.enqueue(now, index, slot, id.generation());
        }
        self.after_input(now);
        Ok(id)
    }

    /// Counts a submit the caps rejected, globally and for the stream's user.
    #[cold]
    #[inline(never)]
    fn count_rejection(&mut self, index: u32, error: &SubmitError) {
        let user = self.stream(index).user;
        let field: Option<fn(&mut Metrics)> = match error {
            SubmitError::StreamQueueFull { .. } => {
                Some(|m: &mut Metrics| m.rejected_stream_queue += 1)
            }
            SubmitError::UserPendingFull { .. } => Some(|m: &mut Metrics| m.rejected_user_cap += 1),
            SubmitError::GlobalPendingFull { .. } => {
                Some(|m: &mut Metrics| m.rejected_global_cap += 1)
            }
            _ => None,
        };
        if let Some(bump) = field {
            bump(&mut self.metrics);
            bump(&mut self.user_mut(user).metrics);
        }
    }

    /// Finishes the stream's pending event with conflation key `key`, if
    /// any, as superseded by a new submit.
    #[inline(never)]
    fn supersede(&mut self, now: Instant, index: u32, key: u64) {
        if let Some(&old) = self.stream(index).conflation.get(&key) {
            self.finish(now, old, crate::command::Outcome::Superseded);
        }
    }

    /// Queues a just-submitted event that cannot be sent yet (disconnected,
    /// window full, or others queued before it).
    #[inline(never)]
    fn enqueue(&mut self, now: Instant, index: u32, slot: u32, generation: u32) {
        let window = u64::from(self.config.flow.window);
        let s = self.stream_mut(index);
        let (user, window_full) = (s.user, s.ring.span() >= window);
        s.queue.push_back((slot, generation));
        s.queued += 1;
        self.metrics.queued += 1;
        let u = self.user_mut(user);
        u.metrics.queued += 1;
        if window_full {
            u.metrics.window_full_events += 1;
            self.metrics.window_full_events += 1;
        }
        self.arm(slot);
        // A superseded event may have freed room for the queue's head.
        self.pump(now, index);
    }

    /// See `Tracker::cancel`.
    pub(super) fn cancel(&mut self, now: Instant, event: EventId) -> Result<(), CancelError> {
        let now = self.advance(now);
        let slot = self.event_slot(event).ok_or(CancelError::UnknownEvent(event))?;
        let stream = self.event(slot).stream;
        self.finish(now, slot, crate::command::Outcome::Cancelled);
        self.pump(now, stream);
        self.after_input(now);
        Ok(())
    }

    /// See `Tracker::forget_user`.
    pub(super) fn forget_user(&mut self, user: UserId) -> Option<Metrics> {
        let &slot = self.user_index.get(&user)?;
        if self.user(slot).streams > 0 {
            return None;
        }
        self.user_index.remove(&user);
        let u = core::mem::replace(&mut self.users[slot as usize], User::vacant());
        if u.in_deferred_ring {
            // With no stream it has no pending event, so every entry of its
            // deferred queue is stale; but it may still wait in the ring
            // (nothing served the ring since, for want of a global token).
            // It leaves the ring with its slot, or serving the ring would
            // find the slot empty, or a new user's.
            self.deferred_users.retain(|&waiting| waiting != slot);
        }
        self.free_users.push(slot);
        Some(u.metrics)
    }

    // ----- outputs -----------------------------------------------------------

    /// See `Tracker::poll_command`.
    #[inline]
    pub(super) fn poll_command(&mut self) -> Option<Command<u32>> {
        /// Commands the queue keeps room for once drained (48 KiB): bursts
        /// up to this size never allocate; a larger one's room goes back.
        const COMMANDS_KEEP: usize = 1024;
        let command = self.commands.pop_front();
        if command.is_none() && self.commands.capacity() > COMMANDS_KEEP {
            // Drained after a burst: keep room for the usual few only.
            self.commands.shrink_to(COMMANDS_KEEP);
        }
        command
    }

    /// The driver has the `Finish` command of the event that was in `slot`:
    /// the slot may be reused.
    #[inline]
    pub(super) fn release(&mut self, slot: u32) {
        self.events.release(slot);
    }

    /// See `Tracker::poll_timeout`.
    #[inline]
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.wheel.next_wake().map(Instant::from_micros);
        match (timer, self.budget_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- getters -----------------------------------------------------------

    /// See `Tracker::config`.
    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    /// See `Tracker::now`.
    pub(super) fn now(&self) -> Instant {
        self.now
    }

    /// See `Tracker::metrics`.
    pub(super) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// See `Tracker::user_metrics`.
    pub(super) fn user_metrics(&self, user: UserId) -> Option<&Metrics> {
        self.user_index.get(&user).map(|&slot| &self.user(slot).metrics)
    }

    /// See `Tracker::users`.
    pub(super) fn users(&self) -> impl Iterator<Item = UserId> + '_ {
        self.user_index.keys().copied()
    }

    /// See `Tracker::event_state`.
    pub(super) fn event_state(&self, event: EventId) -> Option<EventState> {
        let slot = self.event_slot(event)?;
        let e = self.event(slot);
        if e.phase() == Phase::Queued {
            return Some(EventState::Queued);
        }
        let (seq, attempts) = (self.event_seq(slot), e.attempts());
        Some(match e.phase() {
            Phase::Queued => EventState::Queued,
            Phase::InFlight => EventState::InFlight { seq, attempts },
            Phase::Deferred => EventState::RetryDeferred { seq, attempts },
            Phase::Paused => EventState::Paused { seq, attempts },
        })
    }

    /// See `Tracker::event_user`.
    pub(super) fn event_user(&self, event: EventId) -> Option<UserId> {
        let slot = self.event_slot(event)?;
        Some(self.user(self.stream(self.event(slot).stream).user).id)
    }

    /// See `Tracker::stream_floor`.
    pub(super) fn stream_floor(&self, stream: StreamId) -> Option<Seq> {
        let index = self.stream_index(stream).ok()?;
        Some(self.stream(index).ring.floor())
    }

    /// See `Tracker::stream_info`.
    pub(super) fn stream_info(&self, stream: StreamId) -> Option<StreamInfo> {
        let index = self.stream_index(stream).ok()?;
        let s = self.stream(index);
        Some(StreamInfo {
            user: self.user(s.user).id,
            connected: s.connected,
            floor: s.ring.floor(),
            next_seq: s.ring.next_seq(),
            in_flight: s.in_flight,
            queued: s.queued,
            srtt: s.rtt.as_ref().and_then(|r| r.srtt()),
            rto: self.base_delay(s),
        })
    }

    /// See `Tracker::pending`.
    pub(super) fn pending(&self) -> u32 {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_queue_gives_a_bursts_room_back_once_drained() {
        let mut config = Config::default();
        config.flow.window = 4096;
        config.flow.user_pending_max = 4096;
        config.flow.global_pending_max = 4096;
        let mut t: Tracker<()> = Tracker::new(config).unwrap();
        let now = Instant::ZERO;
        let stream = t.open_stream(now, UserId(1)).unwrap();
        for _ in 0..3000 {
            t.submit(now, stream, (), SubmitOptions::default()).unwrap();
            while t.poll_command().is_some() {}
        }
        // One ack, 3000 `Finish` commands at once.
        let ack = Ack { stream, cumulative: Seq(3000), ranges: Vec::new(), echo: None };
        t.handle_ack(now, UserId(1), &ack).unwrap();
        let room = t.engine.commands.capacity();
        assert!(room >= 3000);
        // No shrinking while the driver drains…
        assert!(t.poll_command().is_some());
        assert_eq!(t.engine.commands.capacity(), room);
        let mut finished = 1;
        while t.poll_command().is_some() {
            finished += 1;
        }
        assert_eq!(finished, 3000);
        // …and once it has, room for the usual few only.
        assert_eq!(t.engine.commands.capacity(), 1024);
    }

    /// A stream with 128 events pending (`BUSY`) takes consecutive slots of
    /// its own; below that, two streams submitting in turn share blocks, one
    /// slot each in turn. Closing a busy stream gives its block back.
    #[test]
    fn busy_streams_take_consecutive_slots_and_quiet_ones_share() {
        let mut config = Config::default();
        config.flow.window = 4096;
        let mut t: Tracker<()> = Tracker::new(config).unwrap();
        let now = Instant::ZERO;
        let a = t.open_stream(now, UserId(1)).unwrap();
        let b = t.open_stream(now, UserId(2)).unwrap();
        let mut slots: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..300 {
            for (i, stream) in [a, b].into_iter().enumerate() {
                let id = t.submit(now, stream, (), SubmitOptions::default()).unwrap();
                slots[i].push(id.index());
                while t.poll_command().is_some() {}
            }
        }
        for s in &slots {
            let steps: Vec<i64> = s.windows(2).map(|w| i64::from(w[1]) - i64::from(w[0])).collect();
            // Quiet (fewer than `BUSY` pending before the submit): every
            // other slot.
            let quiet = &steps[..127];
            assert!(quiet.iter().all(|&d| d == 2), "{quiet:?}");
            // Busy: the next slot, but where a block ends (1 in 16).
            let busy = &steps[128..];
            let next = busy.iter().filter(|&&d| d == 1).count();
            assert!(next * 16 >= busy.len() * 15 - 16, "{next} of {}", busy.len());
        }
        let slab = t.engine.events.len();
        t.close_stream(now, a).unwrap();
        while t.poll_command().is_some() {}
        // `a`'s 300 slots, its open block among them, are free again: `b`
        // refills them before the slab grows (all but a 32nd of the slab,
        // the slack a busy stream keeps: `slots.rs`).
        for _ in 0..280 {
            t.submit(now, b, (), SubmitOptions::default()).unwrap();
            while t.poll_command().is_some() {}
        }
        assert_eq!(t.engine.events.len(), slab);
    }

    #[test]
    fn prefetching_an_ack_finds_the_event_it_names_and_nothing_else() {
        use crate::{Echo, SeqRange};
        use alloc::vec;
        let mut t: Tracker<()> = Tracker::new(Config::default()).unwrap();
        let now = Instant::ZERO;
        let stream = t.open_stream(now, UserId(1)).unwrap();
        let other = t.open_stream(now, UserId(2)).unwrap();
        let ids: Vec<EventId> =
            (0..4).map(|_| t.submit(now, stream, (), SubmitOptions::default()).unwrap()).collect();
        while t.poll_command().is_some() {}
        let slot = |i: usize| Some(ids[i].index());
        let ack = |cumulative: u64, ranges: Vec<SeqRange>, echo: Option<u64>| Ack {
            stream,
            cumulative: Seq(cumulative),
            ranges,
            echo: echo.map(|seq| Echo { seq: Seq(seq), attempt: 1 }),
        };
        // The echoed seq first, else the newest range's start, else the
        // seq below the cumulative ack.
        let e = &t.engine;
        assert_eq!(e.prefetch_ack(&ack(0, vec![SeqRange::single(Seq(3))], Some(2))), slot(2));
        assert_eq!(
            e.prefetch_ack(&ack(0, vec![SeqRange::single(Seq(1)), SeqRange::single(Seq(3))], None)),
            slot(3)
        );
        assert_eq!(e.prefetch_ack(&ack(2, Vec::new(), None)), slot(1));
        // Nothing pending there: no seq yet, none sent, an unknown stream, or
        // a stream of another user with nothing sent.
        assert_eq!(e.prefetch_ack(&ack(0, Vec::new(), None)), None);
        assert_eq!(e.prefetch_ack(&ack(9, Vec::new(), Some(u64::MAX))), None);
        let unknown = Ack { stream: StreamId::from_bits(u64::MAX), ..ack(1, Vec::new(), Some(0)) };
        assert_eq!(e.prefetch_ack(&unknown), None);
        assert_eq!(e.prefetch_ack(&Ack { stream: other, ..ack(1, Vec::new(), Some(0)) }), None);
        // Confirmed events are no longer found; a closed stream finds none.
        t.handle_ack(now, UserId(1), &ack(3, Vec::new(), Some(2))).unwrap();
        assert_eq!(t.engine.prefetch_ack(&ack(3, Vec::new(), Some(2))), None);
        assert_eq!(t.engine.prefetch_ack(&ack(3, Vec::new(), Some(3))), slot(3));
        t.close_stream(now, stream).unwrap();
        assert_eq!(t.engine.prefetch_ack(&ack(3, Vec::new(), Some(3))), None);
        // The public hint on a closed stream: nothing to read, no panic
        // (that it changes nothing is `model_tracker`'s to check).
        t.prefetch_ack(&ack(3, Vec::new(), Some(3)));
    }

    std::thread_local! {
        /// The addresses [`record`] was given on this thread.
        static HINTED: core::cell::RefCell<Vec<usize>> = const { core::cell::RefCell::new(Vec::new()) };
    }

    /// A prefetch hint that notes each address it is given.
    fn record(address: *const u8) {
        HINTED.with(|h| h.borrow_mut().push(address.addr()));
    }

    /// The addresses hinted since the last call.
    fn hinted() -> Vec<usize> {
        HINTED.with(|h| core::mem::take(&mut *h.borrow_mut()))
    }

    /// A tracker with the recording hint and no adaptive timeout, one stream
    /// of user 1 and `n` events sent on it (seqs `0..n`): their slots.
    fn hinted_stream(n: u64) -> (Tracker<u64>, StreamId, Vec<u32>) {
        let config = Config { rto: None, ..Config::default() };
        let mut t: Tracker<u64> = Tracker::new(config).unwrap();
        t.set_prefetch(Some(record));
        let stream = t.open_stream(Instant::ZERO, UserId(1)).unwrap();
        let slots = (0..n)
            .map(|i| t.submit(Instant::ZERO, stream, i, SubmitOptions::default()).unwrap())
            .map(|id| id.index())
            .collect();
        while t.poll_command().is_some() {}
        (t, stream, slots)
    }

    /// What prefetching an ack of the event in `slot` hints besides the
    /// user: the event (and its send time if kept), its block record, its
    /// payload; each address found apart from the code that hints it.
    fn event_hints(t: &Tracker<u64>, slot: u32) -> Vec<usize> {
        let mut at = t.engine.events.addresses(slot);
        at.push(t.engine.events.block_address(slot));
        at.extend(t.payloads.address(slot));
        at
    }

    /// An ack that moves a stream's floor hints the event now at the floor
    /// (its slot, and its send time where kept); one that leaves the floor
    /// where it was hints nothing, and neither does a tracker without a hint.
    #[test]
    fn an_ack_that_moves_the_floor_hints_the_event_at_the_new_floor() {
        use crate::SeqRange;
        for adaptive in [false, true] {
            let config =
                Config { rto: adaptive.then(crate::RtoConfig::default), ..Config::default() };
            let mut t: Tracker<()> = Tracker::new(config).unwrap();
            t.set_prefetch(Some(record));
            let now = Instant::ZERO;
            let stream = t.open_stream(now, UserId(1)).unwrap();
            let slots: Vec<u32> = (0..6)
                .map(|_| t.submit(now, stream, (), SubmitOptions::default()).unwrap().index())
                .collect();
            while t.poll_command().is_some() {}
            hinted();
            let ack = |cumulative: u64, ranges: Vec<SeqRange>| Ack {
                stream,
                cumulative: Seq(cumulative),
                ranges,
                echo: None,
            };
            let addresses = |t: &Tracker<()>, i: usize| t.engine.events.addresses(slots[i]);
            assert_eq!(addresses(&t, 0).len(), if adaptive { 2 } else { 1 });
            // In order: the floor moves to seq 1.
            t.handle_ack(now, UserId(1), &ack(1, Vec::new())).unwrap();
            assert_eq!(hinted(), addresses(&t, 1));
            // Seq 3 alone: the floor stays at 1.
            t.handle_ack(now, UserId(1), &ack(1, alloc::vec![SeqRange::single(Seq(3))])).unwrap();
            assert_eq!(hinted(), Vec::<usize>::new());
            // Up to 3: 1 and 2 confirmed, 3 was; the floor moves to 4.
            t.handle_ack(now, UserId(1), &ack(3, Vec::new())).unwrap();
            assert_eq!(hinted(), addresses(&t, 4));
            // A duplicate moves nothing.
            t.handle_ack(now, UserId(1), &ack(3, Vec::new())).unwrap();
            assert_eq!(hinted(), Vec::<usize>::new());
            // Everything: no event at the floor, nothing to hint.
            t.handle_ack(now, UserId(1), &ack(6, Vec::new())).unwrap();
            assert_eq!(hinted(), Vec::<usize>::new());
            // Without the hint, nothing is called.
            t.submit(now, stream, (), SubmitOptions::default()).unwrap();
            t.submit(now, stream, (), SubmitOptions::default()).unwrap();
            while t.poll_command().is_some() {}
            t.set_prefetch(None);
            t.handle_ack(now, UserId(1), &ack(7, Vec::new())).unwrap();
            assert_eq!(hinted(), Vec::<usize>::new());
        }
    }

    /// Given a hint, moving timers down the wheel prefetches their events
    /// instead of reading them: each event's timer (1 s, jittered, so in
    /// the 262 ms level at first) moves down before its first retry, and
    /// nearly each event is hinted. Without a hint, none is.
    #[test]
    fn moving_timers_down_the_wheel_hints_their_events() {
        for hint in [Some(record as Prefetch), None] {
            let mut config = Config { rto: None, ..Config::default() };
            config.retry.initial_delay = Duration::from_secs(1);
            config.flow.window = 4096;
            config.user_retry_budget = None;
            config.global_retry_budget = None;
            let mut t: Tracker<()> = Tracker::new(config).unwrap();
            t.set_prefetch(hint);
            let stream = t.open_stream(Instant::ZERO, UserId(1)).unwrap();
            let mut slots = Vec::new();
            for i in 0..200 {
                let id = t.submit(Instant::from_micros(i), stream, (), SubmitOptions::default());
                slots.push(id.unwrap().index());
                while t.poll_command().is_some() {}
            }
            assert!(t.engine.wheel.len() > 100, "most events have timers of their own");
            hinted();
            let mut now = Instant::ZERO;
            let mut seen = alloc::collections::BTreeSet::new();
            let mut retried = 0;
            while retried < slots.len() && now < Instant::from_secs(3) {
                now = now.saturating_add(Duration::from_millis(1));
                t.handle_timeout(now);
                seen.extend(hinted());
                while let Some(command) = t.poll_command() {
                    retried += usize::from(matches!(command, Command::Retry { .. }));
                }
            }
            assert_eq!(retried, slots.len(), "each retried once by 3 s");
            let addresses: alloc::collections::BTreeSet<usize> =
                slots.iter().map(|&slot| t.engine.events.addresses(slot)[0]).collect();
            if hint.is_some() {
                // Only events are hinted; all of them but the few that a
                // spread looks at before its runs touch keys ahead (see
                // `wheel::tests::spread_touches_the_keys_it_looks_at_first`).
                assert!(seen.is_subset(&addresses));
                let missing = addresses.difference(&seen).count();
                assert!(missing <= 8, "{missing} of {} events not hinted", addresses.len());
            } else {
                assert!(seen.is_empty());
            }
        }
    }

    /// Given a hint, `prefetch_ack` prefetches the user's record, the event,
    /// its slot's block record and its payload instead of reading them.
    #[test]
    fn prefetching_an_ack_with_a_hint_hints_what_handling_it_reads() {
        use crate::Echo;
        let (t, stream, slots) = hinted_stream(3);
        hinted();
        let echo = Some(Echo { seq: Seq(1), attempt: 1 });
        t.prefetch_ack(&Ack { stream, cumulative: Seq(0), ranges: Vec::new(), echo });
        let owner = t.engine.stream(t.engine.stream_index(stream).unwrap()).user;
        let mut expected = alloc::vec![core::ptr::from_ref(t.engine.user(owner)).addr()];
        expected.extend(event_hints(&t, slots[1]));
        assert_eq!(expected.len(), 4);
        assert_eq!(hinted(), expected);
        // A seq not pending: the user only.
        let echo = Some(Echo { seq: Seq(7), attempt: 1 });
        t.prefetch_ack(&Ack { stream, cumulative: Seq(0), ranges: Vec::new(), echo });
        assert_eq!(hinted(), expected[..1]);
    }

    /// Given a hint, `prefetch_acks` hints in two passes: first each ack's
    /// user and the ring entry of the seq it most likely confirms (unless
    /// that is the stream's floor), then that seq's event, block record and
    /// payload. Acks naming nothing pending are passed over where they name
    /// nothing; no ack changes anything. Without a hint, nothing is hinted.
    #[test]
    fn prefetching_acks_in_a_batch_hints_ring_entries_then_events() {
        let config = Config { rto: None, ..Config::default() };
        for hint in [Some(record as crate::Prefetch), None] {
            let mut t: Tracker<u64> = Tracker::new(config).unwrap();
            t.set_prefetch(hint);
            let now = Instant::ZERO;
            let a = t.open_stream(now, UserId(1)).unwrap();
            let b = t.open_stream(now, UserId(2)).unwrap();
            let mut slots = alloc::collections::BTreeMap::new();
            for (stream, n) in [(a, 6u64), (b, 3)] {
                for i in 0..n {
                    let id = t.submit(now, stream, i, SubmitOptions::default()).unwrap();
                    slots.insert((stream, i), id.index());
                }
            }
            while t.poll_command().is_some() {}
            let before = t.metrics().clone();
            let selective = |stream, seq| Ack {
                stream,
                cumulative: Seq(0),
                ranges: alloc::vec![crate::SeqRange::single(Seq(seq))],
                echo: None,
            };
            let acks = [
                // In order: stream b's floor.
                Ack { stream: b, cumulative: Seq(1), ranges: Vec::new(), echo: None },
                // Out of order on a.
                selective(a, 4),
                // An unknown stream.
                Ack { stream: StreamId::from_bits(u64::MAX), ..selective(a, 1) },
                // A seq not sent yet: the user only.
                selective(a, 40),
                selective(a, 2),
            ];
            hinted();
            t.prefetch_acks(&acks);
            let got = hinted();
            if hint.is_none() {
                assert!(got.is_empty());
                continue;
            }
            let user = |stream: StreamId| {
                let owner = t.engine.stream(t.engine.stream_index(stream).unwrap()).user;
                core::ptr::from_ref(t.engine.user(owner)).addr()
            };
            let entry = |stream: StreamId, seq| {
                t.engine.stream(t.engine.stream_index(stream).unwrap()).ring.entry_at(Seq(seq))
            };
            let event = |stream, seq| event_hints(&t, slots[&(stream, seq)]);
            let mut expected =
                alloc::vec![user(b), user(a), entry(a, 4), user(a), user(a), entry(a, 2)];
            expected.extend(event(b, 0));
            expected.extend(event(a, 4));
            expected.extend(event(a, 2));
            assert_eq!(got, expected);
            assert_eq!(t.metrics(), &before, "hints change nothing");
            // The acks then do what they would have done.
            t.handle_ack(now, UserId(2), &acks[0]).unwrap();
            let results: Vec<bool> =
                acks[1..].iter().map(|ack| t.handle_ack(now, UserId(1), ack).is_ok()).collect();
            // The unknown stream and the unsent seq are refused, as always.
            assert_eq!(results, [true, false, false, true]);
            assert_eq!(t.metrics().confirmed, 3);
        }
    }

    /// A batch longer than `PREFETCH_BATCH` is prefetched that many acks at
    /// a time, each part in two passes; the iterator is gone through once.
    #[test]
    fn a_long_batch_of_acks_is_prefetched_in_parts() {
        let n = PREFETCH_BATCH as u64 + 4;
        let (t, stream, slots) = hinted_stream(n + 1);
        // Every seq but the floor's, newest first: none in order.
        let acks: Vec<Ack> = (1..=n)
            .rev()
            .map(|seq| Ack {
                stream,
                cumulative: Seq(0),
                ranges: alloc::vec![crate::SeqRange::single(Seq(seq))],
                echo: None,
            })
            .collect();
        let mut gone_through = 0;
        hinted();
        t.prefetch_acks(acks.iter().inspect(|_| gone_through += 1));
        assert_eq!(gone_through, acks.len());
        let index = t.engine.stream_index(stream).unwrap();
        let owner = t.engine.stream(index).user;
        let user = core::ptr::from_ref(t.engine.user(owner)).addr();
        let mut expected = Vec::new();
        for part in acks.chunks(PREFETCH_BATCH) {
            let seqs = part.iter().map(|ack| ack.ranges[0].start);
            for seq in seqs.clone() {
                expected.extend([user, t.engine.stream(index).ring.entry_at(seq)]);
            }
            for seq in seqs {
                expected.extend(event_hints(&t, slots[seq.0 as usize]));
            }
        }
        assert_eq!(hinted(), expected);
    }

    /// The addresses the first pass of `prefetch_submits` hints for a
    /// stream in range: its record's first two lines.
    fn record_hints(t: &Tracker<u64>, stream: StreamId) -> [usize; 2] {
        let at = core::ptr::from_ref(&t.engine.streams[stream.index() as usize]).addr();
        [at, at + 64]
    }

    /// What `prefetch_submit` hints for a live stream, each address found
    /// apart from the code that hints it: the user's first two lines, the
    /// line after the ring's newest entry, and for a busy stream the slot
    /// its next event takes (the event, its send time if kept, its payload).
    fn submit_hints(t: &Tracker<u64>, stream: StreamId, next: Option<u32>) -> Vec<usize> {
        let s = t.engine.stream(t.engine.stream_index(stream).unwrap());
        let user = core::ptr::from_ref(t.engine.user(s.user)).addr();
        let mut at = alloc::vec![user, user + 64];
        if let Some(newest) = s.ring.next_seq().0.checked_sub(1) {
            at.push(s.ring.entry_at(Seq(newest)) + 4);
        }
        if let Some(slot) = next {
            at.extend(t.engine.events.addresses(slot));
            at.extend(t.payloads.address(slot));
        }
        at
    }

    /// `prefetch_submits` hints each stream's record (those in range), then
    /// what each live stream's submit touches: its user, where its ring's
    /// next entry goes and, for a busy stream, the slot its next event
    /// takes, which the submit then takes. An unknown stream is passed
    /// over, a closed one has only its record hinted. `prefetch_submit`
    /// hints the second part alone. Nothing changes; without a hint nothing
    /// is hinted either.
    #[test]
    fn prefetching_submits_hints_records_then_what_the_submits_touch() {
        let mut config = Config { rto: None, ..Config::default() };
        config.flow.window = 4096;
        for hint in [Some(record as crate::Prefetch), None] {
            let mut t: Tracker<u64> = Tracker::new(config).unwrap();
            t.set_prefetch(hint);
            let now = Instant::ZERO;
            let [busy, quiet, empty, closed] =
                [1, 2, 3, 4].map(|user| t.open_stream(now, UserId(user)).unwrap());
            // Busy from `BUSY` events pending on: 200 make a busy stream.
            for (stream, n) in [(busy, 200), (quiet, 3), (closed, 1)] {
                for i in 0..n {
                    t.submit(now, stream, i, SubmitOptions::default()).unwrap();
                }
            }
            t.close_stream(now, closed).unwrap();
            while t.poll_command().is_some() {}
            let before = t.metrics().clone();
            let unknown = StreamId::from_bits(u64::MAX);
            let streams = [busy, quiet, unknown, empty, closed, busy];
            hinted();
            t.prefetch_submits(&streams);
            let got = hinted();
            t.prefetch_submit(busy);
            let single = hinted();
            if hint.is_none() {
                assert!(got.is_empty() && single.is_empty());
            } else {
                let cursor = t.engine.stream(t.engine.stream_index(busy).unwrap()).slot_cursor;
                let mut expected = Vec::new();
                for stream in [busy, quiet, empty, closed, busy] {
                    expected.extend(record_hints(&t, stream));
                }
                expected.extend(submit_hints(&t, busy, Some(cursor)));
                expected.extend(submit_hints(&t, quiet, None));
                expected.extend(submit_hints(&t, empty, None));
                expected.extend(submit_hints(&t, busy, Some(cursor)));
                assert_eq!(got, expected);
                assert_eq!(single, submit_hints(&t, busy, Some(cursor)));
                // The hinted slot is the one the busy stream's submit takes.
                let id = t.submit(now, busy, 200, SubmitOptions::default()).unwrap();
                assert_eq!(id.index(), cursor);
            }
            assert_eq!(t.metrics().sent, before.sent + u64::from(hint.is_some()));
            assert_eq!(t.metrics().submitted, before.submitted + u64::from(hint.is_some()));
            // The submits then do what they would have done.
            for stream in [quiet, empty] {
                t.submit(now, stream, 9, SubmitOptions::default()).unwrap();
            }
            assert!(t.submit(now, closed, 9, SubmitOptions::default()).is_err());
            assert!(t.submit(now, unknown, 9, SubmitOptions::default()).is_err());
        }
    }

    /// A batch longer than `PREFETCH_BATCH` streams is prefetched that many
    /// at a time, each part in two passes; the iterator is gone through once.
    #[test]
    fn a_long_batch_of_submits_is_prefetched_in_parts() {
        let mut t: Tracker<u64> = Tracker::new(Config::default()).unwrap();
        t.set_prefetch(Some(record));
        let n = PREFETCH_BATCH as u64 + 4;
        let streams: Vec<StreamId> =
            (0..n).map(|user| t.open_stream(Instant::ZERO, UserId(user)).unwrap()).collect();
        let mut gone_through = 0;
        hinted();
        t.prefetch_submits(streams.iter().inspect(|_| gone_through += 1));
        assert_eq!(gone_through, streams.len());
        let mut expected = Vec::new();
        for part in streams.chunks(PREFETCH_BATCH) {
            for &stream in part {
                expected.extend(record_hints(&t, stream));
            }
            for &stream in part {
                expected.extend(submit_hints(&t, stream, None));
            }
        }
        assert_eq!(hinted(), expected);
    }

    /// While timers fire, each firing hints the stream record of the event
    /// 8 keys on and the user record of the one 4 keys on, among the keys
    /// level 0 of the wheel holds: so the stream of every event from the
    /// tenth fired on, and the user of every one from the sixth on, was
    /// hinted. Without a hint, nothing is.
    #[test]
    fn firing_timers_hints_the_records_of_the_events_that_fire_next() {
        let mut config = Config { rto: None, ..Config::default() };
        config.retry.jitter = crate::config::Jitter::None;
        config.retry.initial_delay = Duration::from_millis(100);
        config.retry.backoff_factor = 1.0;
        config.retry.attempts_max = 10;
        for hint in [Some(record as crate::Prefetch), None] {
            let mut t: Tracker<()> = Tracker::new(config).unwrap();
            t.set_prefetch(hint);
            let now = Instant::ZERO;
            let streams: Vec<StreamId> =
                (0..20).map(|user| t.open_stream(now, UserId(user)).unwrap()).collect();
            for &stream in &streams {
                t.submit(now, stream, (), SubmitOptions::default()).unwrap();
            }
            while t.poll_command().is_some() {}
            // The first round of retries (the first attempts may be timed
            // by their streams' ring timers); the second, all at one µs, by
            // the events' own timers.
            t.handle_timeout(Instant::from_micros(100_000));
            while t.poll_command().is_some() {}
            hinted();
            t.handle_timeout(Instant::from_micros(200_000));
            let got = hinted();
            let mut fired = Vec::new();
            while let Some(command) = t.poll_command() {
                if let Command::Retry { stream, .. } = command {
                    fired.push(stream);
                }
            }
            assert_eq!(fired.len(), 20);
            if hint.is_none() {
                assert!(got.is_empty());
                continue;
            }
            for (i, &stream) in fired.iter().enumerate() {
                let index = t.engine.stream_index(stream).unwrap();
                let record = core::ptr::from_ref(&t.engine.streams[index as usize]).addr();
                let user = core::ptr::from_ref(t.engine.user(t.engine.stream(index).user)).addr();
                let has = |at: usize| got.contains(&at);
                assert_eq!(
                    [record, record + 64, record + 128].map(has),
                    [i >= 9; 3],
                    "the {i}th fired's stream record"
                );
                assert_eq!([user, user + 64].map(has), [i >= 5; 2], "the {i}th fired's user");
                // It retries: nothing of what an expiry writes.
                let slot = t.engine.stream(index).ring.get(Seq(0)).unwrap();
                assert!(!has(t.engine.events.block_address(slot)), "the {i}th's block record");
                assert!(
                    !has(t.engine.stream(index).ring.entry_at(Seq(0))),
                    "the {i}th's ring entry"
                );
            }
        }
    }

    /// Events that fire at their deadline: with a hint, the one four
    /// keys on also has its ring entry, its abandoned-set word and its
    /// slot's block record hinted (what the expiry writes), besides its
    /// user; an event that only retries (above) has none of them hinted.
    #[test]
    fn firing_deadlines_hints_what_the_expiries_write() {
        let mut config = Config { rto: None, ..Config::default() };
        config.retry.jitter = crate::config::Jitter::None;
        config.retry.initial_delay = Duration::from_secs(10);
        let deadline = SubmitOptions::with_deadline(Duration::from_millis(50));
        for hint in [Some(record as crate::Prefetch), None] {
            let mut t: Tracker<()> = Tracker::new(config).unwrap();
            t.set_prefetch(hint);
            let streams: Vec<StreamId> =
                (0..20).map(|user| t.open_stream(Instant::ZERO, UserId(user)).unwrap()).collect();
            // Seq 0 expires first (timed by its stream's ring timer), so
            // that seq 1 finds the abandoned set holding a word, and its
            // stream's timers firing: seq 1 has a wheel timer of its own.
            for &stream in &streams {
                t.submit(Instant::ZERO, stream, (), deadline).unwrap();
            }
            while t.poll_command().is_some() {}
            let now = Instant::from_millis(50);
            t.handle_timeout(now);
            let mut stream_of = alloc::collections::BTreeMap::new();
            for &stream in &streams {
                stream_of.insert(t.submit(now, stream, (), deadline).unwrap(), stream);
            }
            while t.poll_command().is_some() {}
            // Where each stream's seq 1 sits in its ring and in its
            // abandoned set (which holds seq 0 now), before they change.
            let before: alloc::collections::BTreeMap<u32, (usize, usize)> = stream_of
                .values()
                .map(|&stream| {
                    let index = t.engine.stream_index(stream).unwrap();
                    let s = t.engine.stream(index);
                    (index, (s.ring.entry_at(Seq(1)), s.abandoned.word_at(1)))
                })
                .collect();
            hinted();
            t.handle_timeout(Instant::from_millis(100));
            let got = hinted();
            let mut fired = Vec::new();
            while let Some(command) = t.poll_command() {
                if let Command::Finish { event, outcome, .. } = command {
                    assert!(matches!(outcome, crate::Outcome::Expired { .. }));
                    fired.push(event);
                }
            }
            assert_eq!(fired.len(), 20);
            if hint.is_none() {
                assert!(got.is_empty());
                continue;
            }
            for (i, event) in fired.iter().enumerate() {
                let index = t.engine.stream_index(stream_of[event]).unwrap();
                assert_eq!(t.engine.stream(index).ring.floor(), Seq(2), "seq 1 resolved");
                let has = |at: usize| got.contains(&at);
                let (entry, word) = before[&index];
                assert_eq!(has(entry), i >= 5, "the {i}th fired's ring entry");
                assert_eq!(has(word), i >= 5, "the {i}th fired's abandoned word");
                // Quiet streams share blocks, so an earlier one's record may
                // be a later one's: only the hint is checked.
                if i >= 5 {
                    assert!(has(t.engine.events.block_address(event.index())), "{i}th's block");
                }
            }
        }
    }

    /// A tracker whose first timeouts come in send order (100 ms, no
    /// jitter, no adaptive timeout), with one stream and room for 1001
    /// events in flight on it.
    fn ring_timed_tracker() -> (Tracker<()>, StreamId) {
        let mut config = Config::default();
        config.retry.jitter = crate::config::Jitter::None;
        config.retry.initial_delay = Duration::from_millis(100);
        config.rto = None;
        config.flow.window = 4096;
        let mut t: Tracker<()> = Tracker::new(config).unwrap();
        let stream = t.open_stream(Instant::ZERO, UserId(1)).unwrap();
        (t, stream)
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn submit_at(t: &mut Tracker<()>, now: Instant, stream: StreamId, options: SubmitOptions) {
        t.submit(now, stream, (), options).unwrap();
        while t.poll_command().is_some() {}
    }

    fn ack_below(t: &mut Tracker<()>, now: Instant, stream: StreamId, cumulative: u64) {
        let ack = Ack { stream, cumulative: Seq(cumulative), ranges: Vec::new(), echo: None };
        t.handle_ack(now, UserId(1), &ack).unwrap();
        while t.poll_command().is_some() {}
    }

    #[test]
    fn a_streams_in_order_sends_share_one_wheel_entry() {
        let (mut t, stream) = ring_timed_tracker();
        for i in 0..1000 {
            submit_at(&mut t, Instant::from_micros(i), stream, SubmitOptions::default());
        }
        assert_eq!(t.engine.wheel.len(), 1, "the stream's ring timer only");
        assert_eq!(t.poll_timeout(), Some(ms(100)), "the first event's timeout");
        // A timer before the latest ring-timed one has its own entry.
        let short = SubmitOptions::with_deadline(Duration::from_millis(1));
        submit_at(&mut t, Instant::from_micros(1000), stream, short);
        assert_eq!(t.engine.wheel.len(), 2);
        ack_below(&mut t, Instant::from_micros(1001), stream, 1001);
        assert_eq!(t.engine.wheel.len(), 0);
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn events_sent_at_the_same_time_share_the_ring_timer() {
        let (mut t, stream) = ring_timed_tracker();
        for _ in 0..3 {
            submit_at(&mut t, ms(5), stream, SubmitOptions::default());
        }
        assert_eq!(t.engine.wheel.len(), 1);
    }

    #[test]
    fn ring_timing_starts_afresh_once_its_events_are_gone() {
        let (mut t, stream) = ring_timed_tracker();
        // Times out at 100 ms; acked, so the stream has no ring-timed event.
        submit_at(&mut t, ms(0), stream, SubmitOptions::default());
        ack_below(&mut t, ms(1), stream, 1);
        assert_eq!(t.engine.wheel.len(), 0);
        // Expiring at 60 ms, before the gone one's 100 ms: ring-timed, and
        // the next one (120 ms) with it.
        let short = SubmitOptions::with_deadline(Duration::from_millis(50));
        submit_at(&mut t, ms(10), stream, short);
        submit_at(&mut t, ms(20), stream, SubmitOptions::default());
        assert_eq!(t.engine.wheel.len(), 1);
    }

    #[test]
    fn a_stream_whose_timers_fire_times_new_events_by_the_wheel_until_an_ack() {
        let (mut t, stream) = ring_timed_tracker();
        submit_at(&mut t, ms(0), stream, SubmitOptions::default());
        assert_eq!(t.engine.wheel.len(), 1, "the ring timer");
        // Its timer fires: the retry has a wheel entry, the ring timer goes.
        t.handle_timeout(ms(100));
        while t.poll_command().is_some() {}
        assert_eq!(t.engine.wheel.len(), 1);
        // While the stream's timers fire unanswered, new events get wheel
        // entries of their own…
        submit_at(&mut t, ms(101), stream, SubmitOptions::default());
        submit_at(&mut t, ms(102), stream, SubmitOptions::default());
        assert_eq!(t.engine.wheel.len(), 3);
        // …until the client confirms something.
        ack_below(&mut t, ms(103), stream, 1);
        assert_eq!(t.engine.wheel.len(), 2);
        submit_at(&mut t, ms(104), stream, SubmitOptions::default());
        submit_at(&mut t, ms(105), stream, SubmitOptions::default());
        assert_eq!(t.engine.wheel.len(), 3, "two own entries and the ring timer");
    }

    #[test]
    fn stream_indices_stay_below_the_ring_timer_bit() {
        let last = engine::RING_KEY - 1;
        assert_eq!(new_stream_index(0), Some(0));
        assert_eq!(new_stream_index(last as usize), Some(last));
        assert_eq!(new_stream_index(engine::RING_KEY as usize), None);
        assert_eq!(new_stream_index(usize::MAX), None);
    }

    #[test]
    fn a_stream_slot_whose_generation_would_wrap_is_retired() {
        let mut t: Tracker<()> = Tracker::new(Config::default()).unwrap();
        let now = Instant::ZERO;
        let old = t.open_stream(now, UserId(1)).unwrap();
        // As if this slot had been reused 2^32 - 1 times already.
        t.engine.streams[0].generation = u32::MAX;
        let old = StreamId::new(old.index(), u32::MAX);
        t.close_stream(now, old).unwrap();
        assert!(t.engine.free_streams.is_empty(), "the slot is not reused");
        let next = t.open_stream(now, UserId(1)).unwrap();
        assert_eq!((next.index(), next.generation()), (1, 0));
        assert_eq!(t.close_stream(now, old), Err(StreamError::Closed(old)));
        // Below the limit the slot comes back with the next generation.
        t.close_stream(now, next).unwrap();
        let again = t.open_stream(now, UserId(1)).unwrap();
        assert_eq!((again.index(), again.generation()), (1, 1));
    }
}
