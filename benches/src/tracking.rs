//! The job every implementation does, as a small trait shaped like acktrack's
//! own [`Tracker`] API, so one bench function drives all three.

use core::time::Duration;

use acktrack::{
    Ack, AckError, Command, Config, EventId, FlowControl, Instant, Jitter, OpenError, Rejected,
    RetryPolicy, StreamId, SubmitOptions, Tracker, UserId,
};

/// The retry policy shared by all implementations in one scenario. No jitter:
/// the baselines and acktrack must schedule exactly the same timeouts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    /// Timeout of the first attempt.
    pub initial_delay: Duration,
    /// Each further attempt waits this many times longer.
    pub backoff_factor: f64,
    /// No attempt waits longer than this.
    pub delay_max: Duration,
    /// Transmissions allowed per event, the first included.
    pub attempts_max: u32,
    /// Time from submit to giving up.
    pub deadline: Duration,
}

impl Policy {
    /// The delay after transmitting `attempt` (1-based), in µs:
    /// `min(delay_max, initial_delay × factor^(attempt-1))`, as acktrack computes it.
    pub fn delay_micros(&self, attempt: u32) -> u64 {
        let cap = self.delay_max.as_micros() as f64;
        let mut d = (self.initial_delay.as_micros() as f64).min(cap);
        for _ in 1..attempt {
            if d >= cap {
                break;
            }
            d = (d * self.backoff_factor).min(cap);
        }
        (d as u64).max(1)
    }

    /// The acktrack config for this policy: caps large enough for 10M events
    /// in flight, `window` seqs per stream, no retry budgets, no jitter, no
    /// adaptive timeout (a fixed policy, like the baselines').
    pub fn acktrack_config(&self, window: u32) -> Config {
        Config {
            retry: RetryPolicy {
                initial_delay: self.initial_delay,
                backoff_factor: self.backoff_factor,
                delay_max: self.delay_max,
                jitter: Jitter::None,
                attempts_max: self.attempts_max,
                deadline: self.deadline,
            },
            rto: None,
            flow: FlowControl {
                window,
                queue_max: 1 << 20,
                user_pending_max: 1 << 30,
                global_pending_max: 1 << 30,
                streams_max: 1 << 24,
            },
            user_retry_budget: None,
            global_retry_budget: None,
            ack_ranges_max: 32,
            seed: 0,
        }
    }
}

/// What the benches need from a delivery tracker: the subset of
/// [`Tracker`]'s API that the scenarios use, with the same types and the
/// same meaning. `poll_command` must be drained after every input.
pub trait Tracking<P>: Sized {
    /// Its name in bench ids and tables.
    const NAME: &'static str;

    /// A tracker for `policy`, with per-stream `window` where it has one.
    fn with_policy(policy: &Policy, window: u32) -> Self;

    /// Opens a stream for `user`.
    fn open_stream(&mut self, now: Instant, user: UserId) -> Result<StreamId, OpenError>;

    /// Submits an event; it is sent at once (`Command::Send`).
    fn submit(
        &mut self,
        now: Instant,
        stream: StreamId,
        payload: P,
    ) -> Result<EventId, Rejected<P>>;

    /// An ack from `user`'s client: cumulative plus selective ranges.
    fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError>;

    /// Reads what `handle_ack` is about to read for `ack` and changes
    /// nothing: called for each ack of a batch before handling them, so
    /// their cache misses overlap (`Tracker::prefetch_ack`). Any ack may be
    /// passed; one that names nothing reads less.
    fn prefetch_ack(&self, ack: &Ack);

    /// [`prefetch_ack`](Self::prefetch_ack) for each of a batch of acks
    /// (acktrack's `Tracker::prefetch_acks` takes them in two passes).
    fn prefetch_acks(&self, acks: &[(UserId, Ack)]) {
        for (_, ack) in acks {
            self.prefetch_ack(ack);
        }
    }

    /// Reads what `submit` to `stream` is about to read and changes
    /// nothing (`Tracker::prefetch_submit`). Any stream may be passed.
    fn prefetch_submit(&self, stream: StreamId);

    /// [`prefetch_submit`](Self::prefetch_submit) for each stream of a batch
    /// of submits (acktrack's `Tracker::prefetch_submits` takes them in two
    /// passes).
    fn prefetch_submits<'a>(&self, streams: impl IntoIterator<Item = &'a StreamId>) {
        for &stream in streams {
            self.prefetch_submit(stream);
        }
    }

    /// Runs the retries and expiries due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// The next command.
    fn poll_command(&mut self) -> Option<Command<P>>;

    /// When `handle_timeout` should next be called.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Runs `f` inside whatever context the implementation needs to work fast
    /// (the tokio runtime for the `DelayQueue` baseline); the bench loops run
    /// inside it. The methods also work outside it.
    fn in_context<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        f(self)
    }
}

impl<P> Tracking<P> for Tracker<P> {
    const NAME: &'static str = "acktrack";

    fn with_policy(policy: &Policy, window: u32) -> Self {
        let mut tracker =
            Tracker::new(policy.acktrack_config(window)).expect("the bench config is valid");
        tracker.set_prefetch(crate::prefetch::from_env());
        tracker
    }

    fn open_stream(&mut self, now: Instant, user: UserId) -> Result<StreamId, OpenError> {
        Tracker::open_stream(self, now, user)
    }

    fn submit(
        &mut self,
        now: Instant,
        stream: StreamId,
        payload: P,
    ) -> Result<EventId, Rejected<P>> {
        Tracker::submit(self, now, stream, payload, SubmitOptions::default())
    }

    fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError> {
        Tracker::handle_ack(self, now, user, ack)
    }

    fn prefetch_ack(&self, ack: &Ack) {
        Tracker::prefetch_ack(self, ack)
    }

    fn prefetch_acks(&self, acks: &[(UserId, Ack)]) {
        if crate::prefetch::one_pass() {
            for (_, ack) in acks {
                Tracker::prefetch_ack(self, ack);
            }
        } else {
            Tracker::prefetch_acks(self, acks.iter().map(|(_, ack)| ack));
        }
    }

    fn prefetch_submit(&self, stream: StreamId) {
        Tracker::prefetch_submit(self, stream)
    }

    fn prefetch_submits<'a>(&self, streams: impl IntoIterator<Item = &'a StreamId>) {
        if crate::prefetch::submits() {
            Tracker::prefetch_submits(self, streams);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        Tracker::handle_timeout(self, now)
    }

    fn poll_command(&mut self) -> Option<Command<P>> {
        Tracker::poll_command(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Tracker::poll_timeout(self)
    }
}
