//! Proof that the simulator finds bugs: each test wraps the real tracker with
//! one deliberate defect and asserts that a swarm of at most 500 seeds
//! reports the invariant that defect breaks.

use std::collections::BTreeMap;

use acktrack::{
    Ack, AckError, CancelError, Command, Config, ConfigError, ConnectError, Echo, EventId, Instant,
    Metrics, OpenError, Rejected, Seq, StreamError, StreamId, StreamInfo, SubmitOptions, Tracker,
    UserId,
};
use acktrack_sim::swarm::first_violation;
use acktrack_sim::{Invariant, Payload, SimTracker};

/// One defect: hooks around the real tracker; the defaults are correct.
trait Bug: Default {
    /// The config the inner tracker really runs with.
    fn inner_config(&self, c: Config) -> Config {
        c
    }
    fn ack(
        &mut self,
        t: &mut Tracker<Payload>,
        now: Instant,
        user: UserId,
        ack: &Ack,
    ) -> Result<(), AckError> {
        t.handle_ack(now, user, ack)
    }
    fn connect(
        &mut self,
        t: &mut Tracker<Payload>,
        now: Instant,
        s: StreamId,
        resume: Seq,
    ) -> Result<(), ConnectError> {
        t.handle_connect(now, s, resume)
    }
    fn submit_options(&self, o: SubmitOptions) -> SubmitOptions {
        o
    }
    fn poll(&mut self, t: &mut Tracker<Payload>) -> Option<Command<Payload>> {
        t.poll_command()
    }
    fn timeout(&mut self, t: &mut Tracker<Payload>, now: Instant) {
        t.handle_timeout(now)
    }
}

/// The real tracker with a defect `B`; it reports the config it was asked for.
#[derive(Debug)]
struct Broken<B> {
    t: Tracker<Payload>,
    config: Config,
    bug: B,
}

impl<B: Bug + std::fmt::Debug> SimTracker for Broken<B> {
    fn create(config: Config) -> Result<Self, ConfigError> {
        let bug = B::default();
        let t = Tracker::new(bug.inner_config(config))?;
        Ok(Broken { t, config, bug })
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn open_stream(&mut self, now: Instant, user: UserId) -> Result<StreamId, OpenError> {
        self.t.open_stream(now, user)
    }
    fn close_stream(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        self.t.close_stream(now, stream)
    }
    fn forget_user(&mut self, user: UserId) -> Option<Metrics> {
        self.t.forget_user(user)
    }
    fn submit(
        &mut self,
        now: Instant,
        s: StreamId,
        p: Payload,
        o: SubmitOptions,
    ) -> Result<EventId, Rejected<Payload>> {
        let o = self.bug.submit_options(o);
        self.t.submit(now, s, p, o)
    }
    fn cancel(&mut self, now: Instant, event: EventId) -> Result<(), CancelError> {
        self.t.cancel(now, event)
    }
    fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError> {
        self.bug.ack(&mut self.t, now, user, ack)
    }
    fn handle_connect(
        &mut self,
        now: Instant,
        s: StreamId,
        resume: Seq,
    ) -> Result<(), ConnectError> {
        self.bug.connect(&mut self.t, now, s, resume)
    }
    fn handle_disconnect(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        self.t.handle_disconnect(now, stream)
    }
    fn handle_nak(
        &mut self,
        now: Instant,
        u: UserId,
        s: StreamId,
        seq: Seq,
        d: core::time::Duration,
    ) -> Result<(), AckError> {
        self.t.handle_nak(now, u, s, seq, d)
    }
    fn handle_progress(
        &mut self,
        now: Instant,
        u: UserId,
        s: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        self.t.handle_progress(now, u, s, seq)
    }
    fn handle_transmit_failed(
        &mut self,
        now: Instant,
        s: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        self.t.handle_transmit_failed(now, s, seq)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.bug.timeout(&mut self.t, now)
    }
    fn poll_command(&mut self) -> Option<Command<Payload>> {
        self.bug.poll(&mut self.t)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.t.poll_timeout()
    }
    fn metrics(&self) -> &Metrics {
        self.t.metrics()
    }
    fn user_metrics(&self, user: UserId) -> Option<&Metrics> {
        self.t.user_metrics(user)
    }
    fn payload(&self, event: EventId) -> Option<&Payload> {
        self.t.payload(event)
    }
    fn stream_info(&self, stream: StreamId) -> Option<StreamInfo> {
        self.t.stream_info(stream)
    }
    fn pending(&self) -> u32 {
        self.t.pending()
    }
}

/// Seeds each swarm may use (the cap).
const SEEDS_MAX: u64 = 500;

/// Runs the swarm until the first violation and checks its invariant.
fn caught<B: Bug + std::fmt::Debug>(name: &str, expected: &[Invariant]) -> u64 {
    let Some((seed, v)) = first_violation::<Broken<B>>(0..SEEDS_MAX) else {
        panic!("{name}: no violation in {SEEDS_MAX} seeds");
    };
    assert!(
        expected.contains(&v.invariant),
        "{name}: seed {seed} reported [{}] {}, expected one of {expected:?}",
        v.invariant.name(),
        v.detail
    );
    println!(
        "{name}: caught by seed {seed} ({} seeds) as [{}]: {}",
        seed + 1,
        v.invariant.name(),
        v.detail
    );
    seed + 1
}

/// Confirms with any ack, whoever sends it: it passes the stream's owner on.
#[derive(Debug, Default)]
struct AcceptsAnyUser;
impl Bug for AcceptsAnyUser {
    fn ack(
        &mut self,
        t: &mut Tracker<Payload>,
        now: Instant,
        user: UserId,
        ack: &Ack,
    ) -> Result<(), AckError> {
        let owner = t.stream_info(ack.stream).map_or(user, |i| i.user);
        t.handle_ack(now, owner, ack)
    }
}

#[test]
fn acks_from_another_user_are_caught() {
    // Caught either as a confirmation by a foreign ack, or as a rejection
    // counted against the wrong user.
    caught::<AcceptsAnyUser>(
        "accepts acks from any user",
        &[Invariant::Isolation, Invariant::Metrics],
    );
}

/// Retransmits an event once more after it finished (a stale timer).
#[derive(Debug, Default)]
struct RetriesAfterFinish {
    transmitted: BTreeMap<EventId, (StreamId, Seq, u32)>,
    zombies: Vec<(StreamId, EventId, Seq, u32)>,
}
impl Bug for RetriesAfterFinish {
    fn poll(&mut self, t: &mut Tracker<Payload>) -> Option<Command<Payload>> {
        let c = t.poll_command();
        match &c {
            Some(
                Command::Send { stream, event, seq, attempt }
                | Command::Retry { stream, event, seq, attempt },
            ) => {
                self.transmitted.insert(*event, (*stream, *seq, *attempt));
            }
            Some(Command::Finish { event, .. }) => {
                if let Some((stream, seq, attempt)) = self.transmitted.remove(event) {
                    self.zombies.push((stream, *event, seq, attempt + 1));
                }
            }
            Some(Command::Skip { .. }) => {}
            None => {
                return self.zombies.pop().map(|(stream, event, seq, attempt)| Command::Retry {
                    stream,
                    event,
                    seq,
                    attempt,
                });
            }
        }
        c
    }
}

#[test]
fn retrying_after_finish_is_caught() {
    caught::<RetriesAfterFinish>("keeps retrying after Finish", &[Invariant::SentAfterFinish]);
}

/// Never gives up: no deadline, no attempt limit to speak of.
#[derive(Debug, Default)]
struct NeverExpires;
impl Bug for NeverExpires {
    fn inner_config(&self, mut c: Config) -> Config {
        c.retry.deadline = core::time::Duration::from_secs(30 * 86_400);
        c.retry.attempts_max = 1000;
        c
    }
    fn submit_options(&self, o: SubmitOptions) -> SubmitOptions {
        SubmitOptions { deadline: None, ..o }
    }
}

#[test]
fn never_expiring_is_caught() {
    caught::<NeverExpires>(
        "never expires",
        &[Invariant::Attempts, Invariant::Deadline, Invariant::Liveness],
    );
}

/// Treats an ack that confirms nothing new as confirming the oldest pending event.
#[derive(Debug, Default)]
struct DuplicateAckConfirms;
impl Bug for DuplicateAckConfirms {
    fn ack(
        &mut self,
        t: &mut Tracker<Payload>,
        now: Instant,
        user: UserId,
        ack: &Ack,
    ) -> Result<(), AckError> {
        let before = t.metrics().acks_duplicate;
        let r = t.handle_ack(now, user, ack);
        if r.is_ok() && t.metrics().acks_duplicate > before {
            if let Some(info) = t.stream_info(ack.stream) {
                if info.floor < info.next_seq {
                    let echo = Echo { seq: info.floor, attempt: 1 };
                    let _ = t.handle_ack(
                        now,
                        user,
                        &Ack::cumulative(ack.stream, info.floor.next(), echo),
                    );
                }
            }
        }
        r
    }
}

#[test]
fn duplicate_ack_as_confirmation_is_caught() {
    caught::<DuplicateAckConfirms>(
        "counts a duplicate ack as a confirmation",
        &[Invariant::Isolation, Invariant::Metrics],
    );
}

/// Forgets the client's resume point on reconnect.
#[derive(Debug, Default)]
struct ForgetsResume;
impl Bug for ForgetsResume {
    fn connect(
        &mut self,
        t: &mut Tracker<Payload>,
        now: Instant,
        s: StreamId,
        _resume: Seq,
    ) -> Result<(), ConnectError> {
        t.handle_connect(now, s, Seq(0))
    }
}

#[test]
fn forgetting_resume_is_caught() {
    caught::<ForgetsResume>("forgets resume", &[Invariant::Metrics]);
}

/// Ignores the configured window: really runs with one four times wider.
#[derive(Debug, Default)]
struct IgnoresWindow;
impl Bug for IgnoresWindow {
    fn inner_config(&self, mut c: Config) -> Config {
        c.flow.window = c.flow.window.saturating_mul(4);
        c
    }
}

#[test]
fn ignoring_the_window_is_caught() {
    caught::<IgnoresWindow>("ignores the window", &[Invariant::Window, Invariant::Caps]);
}

/// Retries too early: half the configured initial delay, no exponential growth.
#[derive(Debug, Default)]
struct RetriesTooEarly;
impl Bug for RetriesTooEarly {
    fn inner_config(&self, mut c: Config) -> Config {
        c.retry.initial_delay /= 2;
        c.retry.backoff_factor = 1.0;
        c.retry.delay_max = c.retry.initial_delay.max(c.retry.delay_max / 2);
        if let Some(rto) = &mut c.rto {
            rto.min /= 2;
            rto.initial /= 2;
        }
        c
    }
}

#[test]
fn retrying_before_the_backoff_is_caught() {
    caught::<RetriesTooEarly>("retries before its backoff", &[Invariant::Backoff]);
}

/// Seeds needed to catch each defect, from 15 different starting seeds; prints
/// the median. Slow in debug builds: run with
/// `cargo test --release -p acktrack-sim --test suite broken_trackers -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn median_seeds_to_catch() {
    fn median<B: Bug + std::fmt::Debug>(name: &str) {
        let mut needed: Vec<u64> = (0..15u64)
            .map(|k| {
                let start = k * 10_000;
                first_violation::<Broken<B>>(start..start + SEEDS_MAX)
                    .map_or(SEEDS_MAX + 1, |(s, _)| s - start + 1)
            })
            .collect();
        needed.sort_unstable();
        println!("{name:<40} median {} seeds (all: {needed:?})", needed[needed.len() / 2]);
    }
    median::<AcceptsAnyUser>("accepts acks from any user");
    median::<RetriesAfterFinish>("keeps retrying after Finish");
    median::<NeverExpires>("never expires");
    median::<DuplicateAckConfirms>("duplicate ack counted as confirmation");
    median::<ForgetsResume>("forgets resume");
    median::<IgnoresWindow>("ignores the window");
    median::<RetriesTooEarly>("retries before its backoff");
}
