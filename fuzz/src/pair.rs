//! `pair`: a [`Tracker`] and one [`Receiver`] per stream talking through a
//! channel the fuzzer controls packet by packet: deliver any packet (reorder),
//! drop it, duplicate it, let time pass, partition, disconnect and reconnect.
//! Frames cross the channel encoded (JSON or binary, per stream).
//!
//! Checks during the run: no peer input is ever refused (a correct pair
//! produces only valid frames), each event finishes once, each receiver
//! releases each seq at most once, in order when ordered, with the payload
//! submitted at that seq. Then the network heals (every client reconnects,
//! every packet is delivered) and the pair runs to quiescence: every event has
//! finished, every open stream's receiver has resolved every seq sent, and
//! every confirmed event was released to its application.

use std::collections::{BTreeMap, VecDeque};

use acktrack::{
    Command, DecodeLimits, Delivery, DeliveryOrder, EventFrame, EventId, Frame, Instant, Outcome,
    Receiver, ReceiverConfig, SkipFrame, StreamId, SubmitOptions, Tracker, UserId,
};
use arbitrary::{Arbitrary, Unstructured};
use core::time::Duration;

use crate::Span;
use crate::tracker_ops::Knobs;

/// One step of the scenario.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Open a stream (for user `user % 2`) with its client.
    Open { user: u8, ordered: bool, json: bool },
    /// Submit on a stream.
    Submit { stream: u8, key: Option<u8>, deadline_ms: Option<u16> },
    /// Cancel the n-th latest event.
    Cancel(u8),
    /// Close a stream.
    Close(u8),
    /// Deliver one packet now, picked anywhere in the queue (reordering).
    Deliver { stream: u8, to_server: bool, index: u8 },
    /// Drop one packet.
    Drop { stream: u8, to_server: bool, index: u8 },
    /// Duplicate one packet.
    Duplicate { stream: u8, to_server: bool, index: u8 },
    /// Deliver a whole queue in order.
    Flush { stream: u8, to_server: bool },
    /// Time passes; every party handles its timeouts.
    Advance(Span),
    /// Everything in flight on a stream is lost.
    Partition(u8),
    /// The client's connection drops (the server learns at once).
    Disconnect(u8),
    /// The client reconnects: its hello travels like any packet.
    Reconnect(u8),
}

struct Client {
    user: UserId,
    rx: Receiver<u64>,
    json: bool,
    connected: bool,
    connection: u32,
    to_client: VecDeque<(u32, Vec<u8>)>,
    to_server: VecDeque<(u32, Vec<u8>)>,
    /// Seqs released or skipped, as `start -> end` runs.
    reported: BTreeMap<u64, u64>,
    released: BTreeMap<u64, u64>,
    next: u64,
    open: bool,
}

struct Harness {
    tracker: Tracker<u64>,
    rx_config: ReceiverConfig,
    now: Instant,
    clients: BTreeMap<StreamId, Client>,
    order: Vec<StreamId>,
    submitted: BTreeMap<EventId, (StreamId, u64)>,
    event_order: Vec<EventId>,
    /// (stream, seq) -> payload, from Send commands.
    seqs: BTreeMap<(StreamId, u64), u64>,
    finished: BTreeMap<EventId, Outcome>,
    next_payload: u64,
}

const LIMITS: DecodeLimits =
    DecodeLimits { frame_bytes_max: 64 * 1024, payload_bytes_max: 1024, ranges_max: 1024 };

/// Runs one input: the knobs, then the steps.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(knobs) = Knobs::arbitrary(&mut u) else { return };
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(u) else { return };
    let config = knobs.config();
    let rx_config = ReceiverConfig {
        window: config.flow.window,
        reorder_buffer_max: config.flow.window / 2,
        ack_every: 1 + config.flow.window / 4,
        ack_delay: Duration::from_millis(2),
        ack_ranges_max: config.ack_ranges_max,
        ..ReceiverConfig::default()
    };
    let mut h = Harness {
        tracker: Tracker::new(config).expect("valid"),
        rx_config,
        now: Instant::ZERO,
        clients: BTreeMap::new(),
        order: Vec::new(),
        submitted: BTreeMap::new(),
        event_order: Vec::new(),
        seqs: BTreeMap::new(),
        finished: BTreeMap::new(),
        next_payload: 0,
    };
    for op in ops.into_iter().take(400) {
        h.apply(op);
    }
    h.heal();
}

fn pick<T>(q: &VecDeque<T>, index: u8) -> Option<usize> {
    (!q.is_empty()).then(|| usize::from(index) % q.len())
}

impl Harness {
    fn stream(&self, n: u8) -> Option<StreamId> {
        (!self.order.is_empty()).then(|| self.order[usize::from(n) % self.order.len()])
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Open { user, ordered, json } => {
                let user = UserId(u64::from(user % 2));
                let Ok(stream) = self.tracker.open_stream(self.now, user) else { return };
                let order = if ordered { DeliveryOrder::Ordered } else { DeliveryOrder::Unordered };
                let rx = Receiver::new(stream, ReceiverConfig { order, ..self.rx_config })
                    .expect("valid");
                let client = Client {
                    user,
                    rx,
                    json,
                    connected: true,
                    connection: 0,
                    to_client: VecDeque::new(),
                    to_server: VecDeque::new(),
                    reported: BTreeMap::new(),
                    released: BTreeMap::new(),
                    next: 0,
                    open: true,
                };
                self.clients.insert(stream, client);
                self.order.push(stream);
                self.drain_tracker();
            }
            Op::Submit { stream, key, deadline_ms } => {
                let Some(stream) = self.stream(stream) else { return };
                let options = SubmitOptions {
                    deadline: deadline_ms.map(|ms| Duration::from_millis(u64::from(ms) + 1)),
                    conflation_key: key.map(|k| u64::from(k % 2)),
                };
                let payload = self.next_payload;
                self.next_payload += 1;
                if let Ok(event) = self.tracker.submit(self.now, stream, payload, options) {
                    self.submitted.insert(event, (stream, payload));
                    self.event_order.push(event);
                }
                self.drain_tracker();
            }
            Op::Cancel(n) => {
                if self.event_order.is_empty() {
                    return;
                }
                let event = self.event_order
                    [self.event_order.len() - 1 - usize::from(n) % self.event_order.len()];
                let result = self.tracker.cancel(self.now, event);
                assert_eq!(
                    result.is_ok(),
                    !self.finished.contains_key(&event),
                    "cancel {event}: {result:?}"
                );
                self.drain_tracker();
            }
            Op::Close(n) => {
                let Some(stream) = self.stream(n) else { return };
                let open = self.clients[&stream].open;
                let result = self.tracker.close_stream(self.now, stream);
                assert_eq!(result.is_ok(), open, "close {stream}: {result:?}");
                self.drain_tracker();
                self.clients.get_mut(&stream).expect("client").open = false;
            }
            Op::Deliver { stream, to_server, index } => {
                let Some(stream) = self.stream(stream) else { return };
                let c = self.clients.get_mut(&stream).expect("client");
                let q = if to_server { &mut c.to_server } else { &mut c.to_client };
                let Some(i) = pick(q, index) else { return };
                let packet = q.remove(i).expect("in range");
                self.arrive(stream, to_server, packet);
            }
            Op::Drop { stream, to_server, index } => {
                let Some(stream) = self.stream(stream) else { return };
                let c = self.clients.get_mut(&stream).expect("client");
                let q = if to_server { &mut c.to_server } else { &mut c.to_client };
                if let Some(i) = pick(q, index) {
                    q.remove(i);
                }
            }
            Op::Duplicate { stream, to_server, index } => {
                let Some(stream) = self.stream(stream) else { return };
                let c = self.clients.get_mut(&stream).expect("client");
                let q = if to_server { &mut c.to_server } else { &mut c.to_client };
                if let Some(i) = pick(q, index) {
                    if q.len() < 256 {
                        let copy = q[i].clone();
                        q.push_back(copy);
                    }
                }
            }
            Op::Flush { stream, to_server } => {
                let Some(stream) = self.stream(stream) else { return };
                self.flush(stream, to_server);
            }
            Op::Advance(span) => {
                self.now = self.now.saturating_add(span.duration());
                self.timeouts();
            }
            Op::Partition(n) => {
                let Some(stream) = self.stream(n) else { return };
                let c = self.clients.get_mut(&stream).expect("client");
                c.to_client.clear();
                c.to_server.clear();
            }
            Op::Disconnect(n) => {
                let Some(stream) = self.stream(n) else { return };
                let c = self.clients.get_mut(&stream).expect("client");
                if !c.open {
                    return;
                }
                c.connected = false;
                self.tracker.handle_disconnect(self.now, stream).expect("open stream");
                self.drain_tracker();
            }
            Op::Reconnect(n) => {
                let Some(stream) = self.stream(n) else { return };
                self.reconnect(stream);
            }
        }
    }

    fn reconnect(&mut self, stream: StreamId) {
        let c = self.clients.get_mut(&stream).expect("client");
        c.connected = true;
        c.connection += 1;
        let hello = Frame::<u64>::Hello(c.rx.hello());
        let bytes = encode(c.json, &hello);
        c.to_server.push_back((c.connection, bytes));
    }

    fn flush(&mut self, stream: StreamId, to_server: bool) {
        // Bounded: each arrival sends at most a few packets, and a queue holds
        // what was in it plus what this flush adds, drained up to a limit.
        for _ in 0..4096 {
            let c = self.clients.get_mut(&stream).expect("client");
            let q = if to_server { &mut c.to_server } else { &mut c.to_client };
            let Some(packet) = q.pop_front() else { return };
            self.arrive(stream, to_server, packet);
        }
    }

    fn timeouts(&mut self) {
        if self.tracker.poll_timeout().is_some_and(|t| t <= self.now) {
            self.tracker.handle_timeout(self.now);
            self.drain_tracker();
        }
        let streams: Vec<StreamId> = self.clients.keys().copied().collect();
        for stream in streams {
            let c = self.clients.get_mut(&stream).expect("client");
            if c.rx.poll_timeout().is_some_and(|t| t <= self.now) {
                c.rx.handle_timeout(self.now);
                self.flush_client(stream);
            }
        }
    }

    fn arrive(&mut self, stream: StreamId, to_server: bool, (connection, bytes): (u32, Vec<u8>)) {
        let c = &self.clients[&stream];
        if !c.connected || connection != c.connection {
            return; // a packet of a dead connection
        }
        let frame = decode(c.json, &bytes);
        if to_server {
            let user = c.user;
            if !c.open {
                return; // the server dropped the connection with the stream
            }
            match frame {
                Frame::Ack(ack) => {
                    if let Err(e) = self.tracker.handle_ack(self.now, user, &ack) {
                        panic!("the tracker refused an ack from a correct receiver: {e} ({ack:?})");
                    }
                }
                Frame::Hello(hello) => {
                    if let Err(e) =
                        self.tracker.handle_connect(self.now, hello.stream, hello.resume)
                    {
                        panic!(
                            "the tracker refused a hello from a correct receiver: {e} ({hello:?})"
                        );
                    }
                }
                other => panic!("unexpected {} frame at the server", other.kind()),
            }
            self.drain_tracker();
        } else {
            let c = self.clients.get_mut(&stream).expect("client");
            if let Err(e) = c.rx.handle_frame(self.now, frame) {
                panic!("the receiver refused a frame from a correct tracker: {e}");
            }
            self.flush_client(stream);
        }
    }

    fn flush_client(&mut self, stream: StreamId) {
        let c = self.clients.get_mut(&stream).expect("client");
        let ordered = c.rx.config().order == DeliveryOrder::Ordered;
        while let Some(d) = c.rx.poll_delivery() {
            let (start, end) = match d {
                Delivery::Event { seq, payload } => {
                    let sent = self.seqs.get(&(stream, seq.0));
                    assert_eq!(
                        sent,
                        Some(&payload),
                        "{stream}: released {seq} with payload {payload}"
                    );
                    c.released.insert(seq.0, payload);
                    (seq.0, seq.0 + 1)
                }
                Delivery::Skipped { seqs } => (seqs.start.0, seqs.end.0),
            };
            if let Some((&s, &e)) = c.reported.range(..end).next_back() {
                assert!(e <= start, "{stream}: {start}..{end} reported twice (already {s}..{e})");
            }
            c.reported.insert(start, end);
            if ordered {
                assert_eq!(start, c.next, "{stream}: released out of order");
                c.next = end;
            }
        }
        if let Some(ack) = c.rx.poll_ack() {
            let bytes = encode(c.json, &Frame::Ack(ack));
            if c.connected {
                c.to_server.push_back((c.connection, bytes));
            }
        }
    }

    fn drain_tracker(&mut self) {
        for _ in 0..100_000 {
            let Some(command) = self.tracker.poll_command() else { return };
            match command {
                Command::Send { stream, event, seq, attempt }
                | Command::Retry { stream, event, seq, attempt } => {
                    assert!(
                        !self.finished.contains_key(&event),
                        "{event} transmitted after it finished"
                    );
                    let payload =
                        *self.tracker.payload(event).expect("pending event has a payload");
                    let floor = self.tracker.stream_floor(stream).expect("open stream");
                    let known = self.seqs.insert((stream, seq.0), payload);
                    assert!(known.is_none_or(|p| p == payload), "{stream}: seq {seq} reused");
                    let frame = Frame::Event(EventFrame { stream, seq, attempt, floor, payload });
                    self.send_to_client(stream, &frame);
                }
                Command::Skip { stream, seqs } => {
                    if let Some(floor) = self.tracker.stream_floor(stream) {
                        self.send_to_client(
                            stream,
                            &Frame::Skip(SkipFrame { stream, seqs, floor }),
                        );
                    }
                }
                Command::Finish { event, outcome, payload, .. } => {
                    let (_, submitted) = self.submitted[&event];
                    assert_eq!(payload, submitted, "{event}: wrong payload handed back");
                    assert!(
                        self.finished.insert(event, outcome).is_none(),
                        "{event} finished twice"
                    );
                }
            }
        }
        panic!("over 100000 commands for one input");
    }

    fn send_to_client(&mut self, stream: StreamId, frame: &Frame<u64>) {
        let c = self.clients.get_mut(&stream).expect("client");
        if c.connected {
            let bytes = encode(c.json, frame);
            c.to_client.push_back((c.connection, bytes));
        }
    }

    /// Reconnects every client, then delivers every packet and every timeout
    /// until nothing is left to do; then checks the end state.
    fn heal(&mut self) {
        let streams: Vec<StreamId> = self.clients.keys().copied().collect();
        for &stream in &streams {
            if self.clients[&stream].open {
                self.reconnect(stream);
            }
        }
        let mut idle_timeouts = 0;
        for _ in 0..200_000 {
            let busy: Vec<StreamId> = streams
                .iter()
                .copied()
                .filter(|s| {
                    let c = &self.clients[s];
                    !c.to_client.is_empty() || !c.to_server.is_empty()
                })
                .collect();
            if !busy.is_empty() {
                for s in busy {
                    self.flush(s, true);
                    self.flush(s, false);
                }
                continue;
            }
            let next = self
                .clients
                .values()
                .filter_map(|c| c.rx.poll_timeout())
                .chain(self.tracker.poll_timeout())
                .min();
            let Some(at) = next else { break };
            if self.tracker.pending() == 0 {
                idle_timeouts += 1;
                if idle_timeouts > 1000 {
                    break;
                }
            }
            self.now = self.now.max(at);
            self.timeouts();
        }
        assert_eq!(self.tracker.pending(), 0, "events still pending after healing");
        for (event, (stream, payload)) in &self.submitted {
            let outcome =
                self.finished.get(event).unwrap_or_else(|| panic!("{event} never finished"));
            let c = &self.clients[stream];
            if outcome.is_confirmed() && c.open {
                let released = c.released.values().any(|p| p == payload);
                assert!(
                    released,
                    "{event} (payload {payload}) confirmed but never released on {stream}"
                );
            }
        }
        for (stream, c) in &self.clients {
            if !c.open {
                continue;
            }
            let info = self.tracker.stream_info(*stream).expect("open");
            assert_eq!(
                c.rx.resume(),
                info.next_seq,
                "{stream}: the receiver did not resolve every seq sent after healing"
            );
            assert_eq!(
                c.rx.metrics().buffered,
                0,
                "{stream}: payloads stuck in the reorder buffer"
            );
        }
    }
}

fn encode(json: bool, frame: &Frame<u64>) -> Vec<u8> {
    if json {
        frame.to_json().expect("encodable").into_bytes()
    } else {
        frame.to_binary().expect("encodable")
    }
}

fn decode(json: bool, bytes: &[u8]) -> Frame<u64> {
    let frame =
        if json { Frame::from_json(bytes, LIMITS) } else { Frame::from_binary(bytes, LIMITS) };
    frame.expect("a frame we encoded decodes")
}
