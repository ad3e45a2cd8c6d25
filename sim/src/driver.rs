//! The narrow interface through which the simulator drives a tracker, so
//! tests can wrap the real [`Tracker`] with deliberately broken behaviour and
//! check that the simulator catches it.

use core::time::Duration;

use acktrack::{
    Ack, AckError, CancelError, Command, Config, ConfigError, ConnectError, EventId, Instant,
    Metrics, OpenError, Rejected, Seq, StreamError, StreamId, StreamInfo, SubmitOptions, Tracker,
    UserId,
};

/// The payload the simulator submits: its own event number.
pub type Payload = u64;

/// Everything the simulator calls on a tracker. The real [`Tracker`]
/// implements it by delegation; a test wrapper can change any of it.
///
/// `config` must return the config the world asked for: the checks are
/// made against it, whatever the implementation does inside.
pub trait SimTracker: Sized {
    /// A tracker with this config.
    fn create(config: Config) -> Result<Self, ConfigError>;
    /// The config the world asked for.
    fn config(&self) -> &Config;
    /// See [`Tracker::open_stream`].
    fn open_stream(&mut self, now: Instant, user: UserId) -> Result<StreamId, OpenError>;
    /// See [`Tracker::close_stream`].
    fn close_stream(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError>;
    /// See [`Tracker::forget_user`].
    fn forget_user(&mut self, user: UserId) -> Option<Metrics>;
    /// See [`Tracker::submit`].
    fn submit(
        &mut self,
        now: Instant,
        stream: StreamId,
        payload: Payload,
        options: SubmitOptions,
    ) -> Result<EventId, Rejected<Payload>>;
    /// See [`Tracker::cancel`].
    fn cancel(&mut self, now: Instant, event: EventId) -> Result<(), CancelError>;
    /// See [`Tracker::handle_ack`].
    fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError>;
    /// See [`Tracker::prefetch_ack`]: a hint that changes nothing, so by
    /// default it does nothing.
    fn prefetch_ack(&self, ack: &Ack) {
        let _ = ack;
    }
    /// See [`Tracker::prefetch_acks`]: likewise a hint.
    fn prefetch_acks(&self, acks: &[Ack]) {
        let _ = acks;
    }
    /// See [`Tracker::prefetch_submit`]: likewise a hint.
    fn prefetch_submit(&self, stream: StreamId) {
        let _ = stream;
    }
    /// See [`Tracker::prefetch_submits`]: likewise a hint.
    fn prefetch_submits(&self, streams: &[StreamId]) {
        let _ = streams;
    }
    /// See [`Tracker::handle_connect`].
    fn handle_connect(
        &mut self,
        now: Instant,
        stream: StreamId,
        resume: Seq,
    ) -> Result<(), ConnectError>;
    /// See [`Tracker::handle_disconnect`].
    fn handle_disconnect(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError>;
    /// See [`Tracker::handle_nak`].
    fn handle_nak(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
        delay: Duration,
    ) -> Result<(), AckError>;
    /// See [`Tracker::handle_progress`].
    fn handle_progress(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError>;
    /// See [`Tracker::handle_transmit_failed`].
    fn handle_transmit_failed(
        &mut self,
        now: Instant,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError>;
    /// See [`Tracker::handle_timeout`].
    fn handle_timeout(&mut self, now: Instant);
    /// See [`Tracker::poll_command`].
    fn poll_command(&mut self) -> Option<Command<Payload>>;
    /// See [`Tracker::poll_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
    /// See [`Tracker::metrics`].
    fn metrics(&self) -> &Metrics;
    /// See [`Tracker::user_metrics`].
    fn user_metrics(&self, user: UserId) -> Option<&Metrics>;
    /// See [`Tracker::payload`].
    fn payload(&self, event: EventId) -> Option<&Payload>;
    /// See [`Tracker::stream_info`].
    fn stream_info(&self, stream: StreamId) -> Option<StreamInfo>;
    /// See [`Tracker::pending`].
    fn pending(&self) -> u32;
    /// See [`Tracker::set_prefetch`]; a tracker without hints ignores it.
    fn set_prefetch(&mut self, prefetch: Option<acktrack::Prefetch>) {
        let _ = prefetch;
    }
}

impl SimTracker for Tracker<Payload> {
    fn create(config: Config) -> Result<Self, ConfigError> {
        Tracker::new(config)
    }
    fn set_prefetch(&mut self, prefetch: Option<acktrack::Prefetch>) {
        Tracker::set_prefetch(self, prefetch);
    }
    fn config(&self) -> &Config {
        Tracker::config(self)
    }
    fn open_stream(&mut self, now: Instant, user: UserId) -> Result<StreamId, OpenError> {
        Tracker::open_stream(self, now, user)
    }
    fn close_stream(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        Tracker::close_stream(self, now, stream)
    }
    fn forget_user(&mut self, user: UserId) -> Option<Metrics> {
        Tracker::forget_user(self, user)
    }
    fn submit(
        &mut self,
        now: Instant,
        stream: StreamId,
        payload: Payload,
        options: SubmitOptions,
    ) -> Result<EventId, Rejected<Payload>> {
        Tracker::submit(self, now, stream, payload, options)
    }
    fn cancel(&mut self, now: Instant, event: EventId) -> Result<(), CancelError> {
        Tracker::cancel(self, now, event)
    }
    fn handle_ack(&mut self, now: Instant, user: UserId, ack: &Ack) -> Result<(), AckError> {
        Tracker::handle_ack(self, now, user, ack)
    }
    fn prefetch_ack(&self, ack: &Ack) {
        Tracker::prefetch_ack(self, ack)
    }
    fn prefetch_acks(&self, acks: &[Ack]) {
        Tracker::prefetch_acks(self, acks)
    }
    fn prefetch_submit(&self, stream: StreamId) {
        Tracker::prefetch_submit(self, stream)
    }
    fn prefetch_submits(&self, streams: &[StreamId]) {
        Tracker::prefetch_submits(self, streams)
    }
    fn handle_connect(
        &mut self,
        now: Instant,
        stream: StreamId,
        resume: Seq,
    ) -> Result<(), ConnectError> {
        Tracker::handle_connect(self, now, stream, resume)
    }
    fn handle_disconnect(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        Tracker::handle_disconnect(self, now, stream)
    }
    fn handle_nak(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
        delay: Duration,
    ) -> Result<(), AckError> {
        Tracker::handle_nak(self, now, user, stream, seq, delay)
    }
    fn handle_progress(
        &mut self,
        now: Instant,
        user: UserId,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        Tracker::handle_progress(self, now, user, stream, seq)
    }
    fn handle_transmit_failed(
        &mut self,
        now: Instant,
        stream: StreamId,
        seq: Seq,
    ) -> Result<(), AckError> {
        Tracker::handle_transmit_failed(self, now, stream, seq)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Tracker::handle_timeout(self, now)
    }
    fn poll_command(&mut self) -> Option<Command<Payload>> {
        Tracker::poll_command(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Tracker::poll_timeout(self)
    }
    fn metrics(&self) -> &Metrics {
        Tracker::metrics(self)
    }
    fn user_metrics(&self, user: UserId) -> Option<&Metrics> {
        Tracker::user_metrics(self, user)
    }
    fn payload(&self, event: EventId) -> Option<&Payload> {
        Tracker::payload(self, event)
    }
    fn stream_info(&self, stream: StreamId) -> Option<StreamInfo> {
        Tracker::stream_info(self, stream)
    }
    fn pending(&self) -> u32 {
        Tracker::pending(self)
    }
}
