//! One shard: a task that owns a `Tracker` outright and is its only driver.
//!
//! The loop is the drive loop from the crate docs with real I/O: wait for an
//! input or for the tracker's one timeout, feed it in with `now` from the
//! clock, then drain every command. Commands become JSON frames pushed into
//! the socket queue of the connection the stream is attached to (never
//! awaited: a full queue drops the frame and the tracker retransmits it), or
//! outcome records.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use acktrack::{
    Command, EventFrame, Frame, HelloFrame, Metrics, OpenError, SkipFrame, StreamId, SubmitError,
    SubmitOptions, Tracker, UserId,
};
use axum::extract::ws::{CloseFrame, Message};
use serde::de::IgnoredAny;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::agent::AgentEvent;
use crate::clock::Clock;
use crate::conn::{self, BadFrame, ConnId};
use crate::stats::{DriverCounters, OutcomeRecord};

/// Outcome records kept per user for the page.
const OUTCOMES_KEPT: usize = 512;

/// Everything a shard is told. Connections, HTTP handlers and agent runs send
/// these; only the shard touches the tracker.
#[derive(Debug)]
pub(crate) enum Input {
    /// Open a stream for `user` (it stays disconnected until a hello).
    OpenStream { user: UserId, reply: oneshot::Sender<Result<StreamId, OpenError>> },
    /// Whether `stream` is open and `user`'s.
    CheckStream { user: UserId, stream: StreamId, reply: oneshot::Sender<bool> },
    /// A WebSocket of `user` was accepted; `tx` is its outgoing queue, `kill`
    /// drops it abruptly.
    Connected { user: UserId, conn: ConnId, tx: mpsc::Sender<Message>, kill: Arc<Notify> },
    /// The socket is gone. `clean`: the client closed it with 1000 or 1001,
    /// so it is done with its streams and they are closed.
    Disconnected { user: UserId, conn: ConnId, clean: bool },
    /// A decoded client frame: hello, ack, nak or progress.
    Frame { user: UserId, conn: ConnId, frame: Frame<IgnoredAny> },
    /// A client frame that was refused before reaching the tracker.
    BadFrame { user: UserId, what: BadFrame },
    /// The agent submits an event.
    Submit {
        user: UserId,
        stream: StreamId,
        event: AgentEvent,
        options: SubmitOptions,
        reply: oneshot::Sender<Result<(), (SubmitError, AgentEvent)>>,
    },
    /// Test hook: drop every socket of `user` abruptly; replies how many.
    Kill { user: UserId, reply: oneshot::Sender<usize> },
    /// Metrics: the shard's, and `user`'s (or every user's, without
    /// outcomes) with the outcome records numbered above `since`.
    Snapshot { user: Option<UserId>, since: u64, reply: oneshot::Sender<ShardSnapshot> },
}

/// A shard's metrics at one moment.
#[derive(Debug)]
pub(crate) struct ShardSnapshot {
    pub metrics: Metrics,
    pub counters: DriverCounters,
    pub users: Vec<UserSnapshot>,
}

/// One user's metrics at one moment.
#[derive(Debug)]
pub(crate) struct UserSnapshot {
    pub user: UserId,
    pub metrics: Metrics,
    pub counters: DriverCounters,
    pub outcomes: Vec<OutcomeRecord>,
}

#[derive(Debug)]
struct Conn {
    user: UserId,
    tx: mpsc::Sender<Message>,
    kill: Arc<Notify>,
    /// Streams this socket said hello for (some may since have moved to a newer socket).
    streams: Vec<StreamId>,
}

#[derive(Debug, Default)]
struct UserState {
    counters: DriverCounters,
    outcomes: VecDeque<OutcomeRecord>,
    outcomes_total: u64,
}

#[derive(Debug)]
pub(crate) struct Shard {
    tracker: Tracker<AgentEvent>,
    clock: Clock,
    conns: BTreeMap<ConnId, Conn>,
    /// The socket each connected stream's frames go to.
    attached: BTreeMap<StreamId, ConnId>,
    users: BTreeMap<UserId, UserState>,
}

impl Shard {
    pub(crate) fn new(tracker: Tracker<AgentEvent>, clock: Clock) -> Self {
        Shard {
            tracker,
            clock,
            conns: BTreeMap::new(),
            attached: BTreeMap::new(),
            users: BTreeMap::new(),
        }
    }

    /// The drive loop. Ends when every sender is gone (the server stopped).
    pub(crate) async fn run(mut self, mut inputs: mpsc::Receiver<Input>) {
        loop {
            // The single sleep: until the tracker's next timeout, if any.
            let wake = self.tracker.poll_timeout().and_then(|at| self.clock.to_tokio(at));
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => self.handle(input),
                    None => break,
                },
                () = sleep_until(wake) => self.tracker.handle_timeout(self.clock.now()),
            }
            // Drain after every input.
            self.drain();
        }
    }

    fn user(&mut self, user: UserId) -> &mut UserState {
        self.users.entry(user).or_default()
    }

    fn handle(&mut self, input: Input) {
        let now = self.clock.now();
        match input {
            Input::OpenStream { user, reply } => {
                let result = self.tracker.open_stream(now, user).inspect(|&stream| {
                    // No socket yet: nothing is sent until a hello attaches one.
                    let _ = self.tracker.handle_disconnect(now, stream);
                });
                self.user(user);
                let _ = reply.send(result);
            }
            Input::CheckStream { user, stream, reply } => {
                let owned = self.tracker.stream_info(stream).is_some_and(|info| info.user == user);
                let _ = reply.send(owned);
            }
            Input::Connected { user, conn, tx, kill } => {
                let counters = &mut self.user(user).counters;
                counters.connections += 1;
                counters.connections_open += 1;
                self.conns.insert(conn, Conn { user, tx, kill, streams: Vec::new() });
            }
            Input::Disconnected { user, conn, clean } => self.disconnected(now, user, conn, clean),
            Input::Frame { user, conn, frame } => {
                self.user(user).counters.frames_in += 1;
                self.frame(now, user, conn, frame);
            }
            Input::BadFrame { user, what } => {
                let counters = &mut self.user(user).counters;
                counters.frames_in += 1;
                match what {
                    BadFrame::Malformed => counters.frames_malformed += 1,
                    BadFrame::Oversized => counters.frames_oversized += 1,
                    BadFrame::Unexpected => counters.frames_unexpected += 1,
                }
            }
            Input::Submit { user, stream, event, options, reply } => {
                let owned = self.tracker.stream_info(stream).is_some_and(|info| info.user == user);
                let result = if owned {
                    self.tracker.submit(now, stream, event, options).map(drop).map_err(|r| {
                        let acktrack::Rejected { error, payload } = r;
                        (error, payload)
                    })
                } else {
                    let error = acktrack::StreamError::Unknown(stream);
                    Err((SubmitError::Stream(error), event))
                };
                let _ = reply.send(result);
            }
            Input::Kill { user, reply } => {
                let mut killed = 0;
                for conn in self.conns.values().filter(|c| c.user == user) {
                    conn.kill.notify_one();
                    killed += 1;
                }
                self.user(user).counters.connections_killed += killed as u64;
                let _ = reply.send(killed);
            }
            Input::Snapshot { user, since, reply } => {
                let _ = reply.send(self.snapshot(user, since));
            }
        }
    }

    fn frame(
        &mut self,
        now: acktrack::Instant,
        user: UserId,
        conn: ConnId,
        frame: Frame<IgnoredAny>,
    ) {
        let result = match frame {
            Frame::Hello(hello) => return self.hello(now, user, conn, hello),
            Frame::Ack(ack) => self.tracker.handle_ack(now, user, &ack),
            Frame::Nak(nak) => self.tracker.handle_nak(now, user, nak.stream, nak.seq, nak.delay),
            Frame::Progress(p) => self.tracker.handle_progress(now, user, p.stream, p.seq),
            // The connection refuses these before they get here.
            Frame::Event(_) | Frame::Skip(_) => {
                self.user(user).counters.frames_unexpected += 1;
                return;
            }
        };
        // A refused ack changed nothing; the tracker counted it too (for
        // the user who sent it, never for the stream's owner).
        if result.is_err() {
            self.user(user).counters.acks_rejected += 1;
        }
    }

    /// A client (re)attaches to a stream: only its own, and only with a
    /// resume point the stream can have reached.
    fn hello(&mut self, now: acktrack::Instant, user: UserId, conn: ConnId, hello: HelloFrame) {
        let owned = self.tracker.stream_info(hello.stream).is_some_and(|info| info.user == user);
        if !owned {
            // Unknown, closed and foreign streams look the same to the client.
            self.user(user).counters.hellos_rejected += 1;
            self.close(conn, conn::CLOSE_UNKNOWN_STREAM, "unknown stream");
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if !c.streams.contains(&hello.stream) {
            c.streams.push(hello.stream);
        }
        // A newer socket takes the stream over from an older one (a racing
        // reconnect: the old one is probably dead and not yet noticed).
        let previous = self.attached.insert(hello.stream, conn);
        if let Err(_e) = self.tracker.handle_connect(now, hello.stream, hello.resume) {
            match previous {
                Some(old) => self.attached.insert(hello.stream, old),
                None => self.attached.remove(&hello.stream),
            };
            self.user(user).counters.hellos_rejected += 1;
            self.close(conn, conn::CLOSE_POLICY, "resume point beyond anything sent");
        }
    }

    fn disconnected(&mut self, now: acktrack::Instant, user: UserId, conn: ConnId, clean: bool) {
        self.user(user).counters.connections_open -= 1;
        let Some(c) = self.conns.remove(&conn) else { return };
        for stream in c.streams {
            if self.attached.get(&stream) != Some(&conn) {
                continue; // a newer socket has it
            }
            self.attached.remove(&stream);
            if clean {
                // The client said goodbye: its pending events end StreamClosed.
                if self.tracker.close_stream(now, stream).is_ok() {
                    self.user(user).counters.streams_closed_by_client += 1;
                }
            } else {
                // Retry clocks pause until it comes back with a hello.
                let _ = self.tracker.handle_disconnect(now, stream);
            }
        }
    }

    /// Asks a socket's writer to close it with `code`.
    fn close(&mut self, conn: ConnId, code: u16, reason: &'static str) {
        if let Some(c) = self.conns.get(&conn) {
            let frame = CloseFrame { code, reason: reason.into() };
            if c.tx.try_send(Message::Close(Some(frame))).is_err() {
                c.kill.notify_one(); // its queue is full: drop it instead
            }
        }
    }

    /// Turns every pending command into a frame or an outcome record.
    fn drain(&mut self) {
        // Bounded: the tracker emits a finite number of commands per input.
        while let Some(command) = self.tracker.poll_command() {
            match command {
                Command::Send { stream, event, seq, attempt }
                | Command::Retry { stream, event, seq, attempt } => {
                    let (Some(payload), Some(floor)) =
                        (self.tracker.payload(event), self.tracker.stream_floor(stream))
                    else {
                        continue; // cannot happen: the event is pending
                    };
                    let frame = Frame::Event(EventFrame { stream, seq, attempt, floor, payload });
                    if let Ok(text) = frame.to_json() {
                        self.transmit(stream, text);
                    }
                }
                Command::Skip { stream, seqs } => {
                    let floor = self.tracker.stream_floor(stream).unwrap_or(seqs.end);
                    let frame: Frame<()> = Frame::Skip(SkipFrame { stream, seqs, floor });
                    if let Ok(text) = frame.to_json() {
                        self.transmit(stream, text);
                    }
                }
                Command::Finish { event: _, user, outcome, payload } => {
                    let state = self.user(user);
                    state.outcomes_total += 1;
                    let record = OutcomeRecord::new(state.outcomes_total, &payload, &outcome);
                    if state.outcomes.len() == OUTCOMES_KEPT {
                        state.outcomes.pop_front();
                    }
                    state.outcomes.push_back(record);
                }
            }
        }
    }

    /// Queues a frame on the stream's socket without waiting. If there is no
    /// socket or its queue is full, the frame is dropped (and counted): to the
    /// tracker that is a lost transmission, which it retries.
    fn transmit(&mut self, stream: StreamId, text: String) {
        let conn = self.attached.get(&stream).and_then(|id| self.conns.get(id));
        let sent = conn.is_some_and(|c| c.tx.try_send(Message::Text(text.into())).is_ok());
        let user = match conn {
            Some(c) => c.user,
            None => match self.tracker.stream_info(stream) {
                Some(info) => info.user,
                None => return,
            },
        };
        let counters = &mut self.user(user).counters;
        if sent {
            counters.frames_out += 1;
        } else {
            counters.frames_dropped += 1;
        }
    }

    fn snapshot(&self, only: Option<UserId>, since: u64) -> ShardSnapshot {
        let mut counters = DriverCounters::default();
        for state in self.users.values() {
            counters.add(&state.counters);
        }
        let users = self
            .users
            .iter()
            .filter(|(user, _)| only.is_none_or(|only| only == **user))
            .map(|(&user, state)| UserSnapshot {
                user,
                metrics: self.tracker.user_metrics(user).cloned().unwrap_or_default(),
                counters: state.counters,
                outcomes: match only {
                    Some(_) => state.outcomes.iter().filter(|r| r.n > since).cloned().collect(),
                    None => Vec::new(),
                },
            })
            .collect();
        ShardSnapshot { metrics: self.tracker.metrics().clone(), counters, users }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
