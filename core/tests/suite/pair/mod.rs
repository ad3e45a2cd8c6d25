//! A quinn-`Pair`-style harness: one [`Tracker`] and one [`Receiver`] per
//! stream exchanging *encoded* frames over an in-memory network with virtual
//! time and seeded loss, duplication, reordering and partitions.
//!
//! Time only moves in [`Pair::step`], to the earliest of the tracker's
//! `poll_timeout`, the receivers' `poll_timeout`s and the next packet arrival.
//! Every input is followed by draining the party's outputs, as the drive-loop
//! rules say. Everything is deterministic for a given seed.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;

use acktrack::{
    Command, Config, DecodeLimits, Delivery, DeliveryOrder, EventFrame, EventId, Frame, Instant,
    Outcome, Receiver, ReceiverConfig, Seq, SkipFrame, StreamId, SubmitOptions, Tracker, UserId,
};

/// The payload of every event: its index among all submitted events.
pub type Payload = u64;

/// How a client's frames are encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// JSON, as a browser would.
    Json,
    /// postcard.
    Binary,
}

/// The network's misbehaviour, per packet.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Chance a packet is lost, in percent.
    pub loss_pct: u64,
    /// Chance a delivered packet arrives twice, in percent.
    pub dup_pct: u64,
    /// One-way delay is uniform in `delay_min..=delay_max`; a wide span reorders.
    pub delay_min: Duration,
    /// See `delay_min`.
    pub delay_max: Duration,
}

impl Faults {
    /// A perfect network with a fixed 10 ms delay.
    pub const NONE: Faults = Faults {
        loss_pct: 0,
        dup_pct: 0,
        delay_min: Duration::from_millis(10),
        delay_max: Duration::from_millis(10),
    };
}

#[derive(Clone, Debug)]
enum Dest {
    /// To the client of a stream.
    Client(StreamId),
    /// To the server, from the client of a stream.
    Server(StreamId),
}

#[derive(Clone, Debug)]
struct Packet {
    dest: Dest,
    /// The client connection it belongs to: packets of an old connection die with it.
    connection: u32,
    bytes: Vec<u8>,
}

/// One client: a receiver and what its application saw.
#[derive(Debug)]
pub struct Client {
    /// The authenticated user behind it.
    pub user: UserId,
    /// Its receiver.
    pub receiver: Receiver<Payload>,
    /// How it encodes frames.
    pub encoding: Encoding,
    /// Everything released to the application, in order.
    pub deliveries: Vec<Delivery<Payload>>,
    /// Whether its connection is up (a down one sends and receives nothing).
    pub connected: bool,
    /// Which connection is current (bumped on every reconnect).
    pub connection: u32,
}

/// A finished event, as the driver saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    /// How it ended.
    pub outcome: Outcome,
    /// When.
    pub at: Instant,
    /// The payload handed back.
    pub payload: Payload,
}

/// A submitted event, as the driver saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// Its stream.
    pub stream: StreamId,
    /// Its payload.
    pub payload: Payload,
    /// When.
    pub at: Instant,
    /// Its seq, once transmitted.
    pub seq: Option<Seq>,
}

/// The tracker, its clients and the network between them.
#[derive(Debug)]
pub struct Pair {
    /// Virtual time.
    pub now: Instant,
    /// The sender.
    pub tracker: Tracker<Payload>,
    /// One client per stream.
    pub clients: BTreeMap<StreamId, Client>,
    /// Every submitted event.
    pub submitted: BTreeMap<EventId, Submitted>,
    /// Every finished event; finishing twice panics.
    pub finished: BTreeMap<EventId, Finished>,
    /// Inputs the tracker or a receiver refused (a correct pair has none).
    pub errors: Vec<String>,
    /// Packets put on the wire, and lost.
    pub packets_sent: u64,
    /// Packets lost (faults and partitions).
    pub packets_lost: u64,
    faults: Faults,
    /// In flight, by arrival time then a tie-breaking counter.
    wire: BTreeMap<(Instant, u64), Packet>,
    wire_counter: u64,
    /// Streams cut off, until when.
    partitions: BTreeMap<StreamId, Instant>,
    rng: SplitMix,
    next_payload: Payload,
    receiver_config: ReceiverConfig,
}

impl Pair {
    /// A pair with a tracker built from `config` and no streams yet.
    pub fn new(config: Config, receiver_config: ReceiverConfig, faults: Faults, seed: u64) -> Self {
        Pair {
            now: Instant::ZERO,
            tracker: Tracker::new(config).expect("valid tracker config"),
            clients: BTreeMap::new(),
            submitted: BTreeMap::new(),
            finished: BTreeMap::new(),
            errors: Vec::new(),
            packets_sent: 0,
            packets_lost: 0,
            faults,
            wire: BTreeMap::new(),
            wire_counter: 0,
            partitions: BTreeMap::new(),
            rng: SplitMix(seed),
            next_payload: 0,
            receiver_config,
        }
    }

    /// Changes the network's behaviour from now on.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Opens a stream for `user` with a client that releases in `order` and
    /// speaks `encoding`.
    pub fn open(&mut self, user: UserId, order: DeliveryOrder, encoding: Encoding) -> StreamId {
        let stream = self.tracker.open_stream(self.now, user).expect("stream opened");
        let config = ReceiverConfig { order, ..self.receiver_config };
        let receiver = Receiver::new(stream, config).expect("valid receiver config");
        let client = Client {
            user,
            receiver,
            encoding,
            deliveries: Vec::new(),
            connected: true,
            connection: 0,
        };
        self.clients.insert(stream, client);
        self.drain_tracker();
        stream
    }

    /// Submits the next payload on `stream`; returns its event id.
    pub fn submit(&mut self, stream: StreamId, options: SubmitOptions) -> EventId {
        let payload = self.next_payload;
        self.next_payload += 1;
        let event =
            self.tracker.submit(self.now, stream, payload, options).expect("submit accepted");
        self.submitted.insert(event, Submitted { stream, payload, at: self.now, seq: None });
        self.drain_tracker();
        event
    }

    /// Cuts `stream` off the network (both ways) for `span` from now. The
    /// tracker is not told: to it, this is loss.
    pub fn partition(&mut self, stream: StreamId, span: Duration) {
        self.partitions.insert(stream, self.now.saturating_add(span));
    }

    /// The client's connection drops: the server learns of it at once
    /// (`handle_disconnect`); frames in flight to or from it are lost.
    pub fn disconnect(&mut self, stream: StreamId) {
        self.client_mut(stream).connected = false;
        if let Err(e) = self.tracker.handle_disconnect(self.now, stream) {
            self.errors.push(format!("disconnect: {e}"));
        }
        self.drain_tracker();
    }

    /// The client reconnects and sends its hello with its resume point. The
    /// server hands the resume point to `handle_connect` when the hello
    /// arrives. The hello is part of the handshake: random loss spares it
    /// (a partition does not).
    pub fn reconnect(&mut self, stream: StreamId) {
        let client = self.client_mut(stream);
        client.connected = true;
        client.connection += 1;
        let hello = Frame::<Payload>::Hello(client.receiver.hello());
        let encoding = client.encoding;
        self.transmit_with(Dest::Server(stream), encoding, &hello, true);
    }

    /// The client of `stream`.
    pub fn client(&self, stream: StreamId) -> &Client {
        &self.clients[&stream]
    }

    fn client_mut(&mut self, stream: StreamId) -> &mut Client {
        self.clients.get_mut(&stream).expect("known stream")
    }

    // ----- the run loop -------------------------------------------------------

    /// The earliest moment anything wants to happen.
    fn next_wakeup(&self) -> Option<Instant> {
        let tracker = self.tracker.poll_timeout();
        let receivers = self.clients.values().filter_map(|c| c.receiver.poll_timeout()).min();
        let wire = self.wire.keys().next().map(|&(at, _)| at);
        [tracker, receivers, wire].into_iter().flatten().min()
    }

    /// Advances to the next wake-up and handles everything due then. Returns
    /// false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_wakeup() else { return false };
        self.now = self.now.max(at);
        let now = self.now;
        while let Some(entry) = self.wire.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let packet = entry.remove();
            self.arrive(packet);
        }
        if self.tracker.poll_timeout().is_some_and(|t| t <= now) {
            self.tracker.handle_timeout(now);
            self.drain_tracker();
        }
        let due: Vec<StreamId> = self
            .clients
            .iter()
            .filter(|(_, c)| c.receiver.poll_timeout().is_some_and(|t| t <= now))
            .map(|(&s, _)| s)
            .collect();
        for stream in due {
            self.client_mut(stream).receiver.handle_timeout(now);
            self.flush_client(stream);
        }
        true
    }

    /// Steps until `done` holds or time passes `limit`; returns whether `done` held.
    pub fn run_until(&mut self, limit: Instant, mut done: impl FnMut(&Pair) -> bool) -> bool {
        // Bounded by `limit`: every step moves time forward or empties a queue.
        for _ in 0..50_000_000u64 {
            if done(self) {
                return true;
            }
            match self.next_wakeup() {
                Some(at) if at <= limit => {
                    self.step();
                }
                _ => return done(self),
            }
        }
        panic!("run_until: the pair did not settle (a busy loop?)");
    }

    /// Steps until virtual time reaches `until` (or nothing is left to do).
    pub fn run_for(&mut self, span: Duration) {
        let limit = self.now.saturating_add(span);
        self.run_until(limit, |_| false);
        self.now = self.now.max(limit);
    }

    /// Whether every submitted event has finished.
    pub fn all_finished(&self) -> bool {
        self.finished.len() == self.submitted.len()
    }

    // ----- the server side ------------------------------------------------------

    /// Drains the tracker's commands, turning transmissions into frames.
    fn drain_tracker(&mut self) {
        while let Some(command) = self.tracker.poll_command() {
            match command {
                Command::Send { stream, event, seq, attempt }
                | Command::Retry { stream, event, seq, attempt } => {
                    let payload =
                        *self.tracker.payload(event).expect("a pending event has a payload");
                    let floor = self.tracker.stream_floor(stream).expect("open stream");
                    let submitted = self.submitted.get_mut(&event).expect("submitted");
                    assert_eq!(*submitted.seq.get_or_insert(seq), seq, "a seq never changes");
                    let frame = Frame::Event(EventFrame { stream, seq, attempt, floor, payload });
                    self.send_to_client(stream, &frame);
                }
                Command::Skip { stream, seqs } => {
                    let floor = self.tracker.stream_floor(stream).expect("open stream");
                    let frame = Frame::Skip(SkipFrame { stream, seqs, floor });
                    self.send_to_client(stream, &frame);
                }
                Command::Finish { event, outcome, payload, .. } => {
                    let finished = Finished { outcome, at: self.now, payload };
                    let previous = self.finished.insert(event, finished);
                    assert!(previous.is_none(), "{event} finished twice");
                }
            }
        }
    }

    fn send_to_client(&mut self, stream: StreamId, frame: &Frame<Payload>) {
        let client = &self.clients[&stream];
        if !client.connected {
            // The tracker does not transmit on a disconnected stream; a skip
            // or a transmission racing the disconnect is simply lost.
            self.packets_lost += 1;
            return;
        }
        let encoding = client.encoding;
        self.transmit(Dest::Client(stream), encoding, frame);
    }

    /// A packet reaches its destination (unless cut off on the way).
    fn arrive(&mut self, packet: Packet) {
        let stream = match packet.dest {
            Dest::Client(s) | Dest::Server(s) => s,
        };
        let client = &self.clients[&stream];
        if self.cut_off(stream) || !client.connected || client.connection != packet.connection {
            self.packets_lost += 1;
            return;
        }
        let encoding = self.clients[&stream].encoding;
        let frame = match decode(encoding, &packet.bytes) {
            Ok(frame) => frame,
            Err(e) => {
                self.errors.push(format!("decode: {e}"));
                return;
            }
        };
        match packet.dest {
            Dest::Client(stream) => {
                let now = self.now;
                if let Err(e) = self.client_mut(stream).receiver.handle_frame(now, frame) {
                    self.errors.push(format!("receiver {stream}: {e}"));
                }
                self.flush_client(stream);
            }
            Dest::Server(stream) => {
                let user = self.clients[&stream].user;
                let result = match frame {
                    Frame::Ack(ack) => {
                        self.tracker.handle_ack(self.now, user, &ack).map_err(|e| e.to_string())
                    }
                    Frame::Hello(hello) => self
                        .tracker
                        .handle_connect(self.now, hello.stream, hello.resume)
                        .map_err(|e| e.to_string()),
                    other => Err(format!("unexpected {} frame at the server", other.kind())),
                };
                if let Err(e) = result {
                    self.errors.push(format!("tracker: {e}"));
                }
                self.drain_tracker();
            }
        }
    }

    // ----- the client side ------------------------------------------------------

    /// Drains a receiver: deliveries to its application, acks to the wire.
    fn flush_client(&mut self, stream: StreamId) {
        let client = self.client_mut(stream);
        while let Some(d) = client.receiver.poll_delivery() {
            client.deliveries.push(d);
        }
        let encoding = client.encoding;
        if let Some(ack) = client.receiver.poll_ack() {
            self.transmit(Dest::Server(stream), encoding, &Frame::Ack(ack));
        }
    }

    // ----- the network ----------------------------------------------------------

    fn cut_off(&self, stream: StreamId) -> bool {
        self.partitions.get(&stream).is_some_and(|&until| self.now < until)
    }

    fn transmit(&mut self, dest: Dest, encoding: Encoding, frame: &Frame<Payload>) {
        self.transmit_with(dest, encoding, frame, false);
    }

    fn transmit_with(
        &mut self,
        dest: Dest,
        encoding: Encoding,
        frame: &Frame<Payload>,
        handshake: bool,
    ) {
        let bytes = encode(encoding, frame);
        self.packets_sent += 1;
        let stream = frame.stream();
        let connection = self.clients[&stream].connection;
        if self.cut_off(stream) || (!handshake && self.rng.pct(self.faults.loss_pct)) {
            self.packets_lost += 1;
            return;
        }
        let copies = if self.rng.pct(self.faults.dup_pct) { 2 } else { 1 };
        for _ in 0..copies {
            let span =
                self.faults.delay_max.saturating_sub(self.faults.delay_min).as_micros() as u64;
            let jitter = if span == 0 { 0 } else { self.rng.next() % (span + 1) };
            let at = self
                .now
                .saturating_add(self.faults.delay_min)
                .saturating_add(Duration::from_micros(jitter));
            self.wire_counter += 1;
            let packet = Packet { dest: dest.clone(), connection, bytes: bytes.clone() };
            self.wire.insert((at, self.wire_counter), packet);
        }
    }

    // ----- checks -------------------------------------------------------------------

    /// The events of `stream` in submission order.
    pub fn events_of(&self, stream: StreamId) -> Vec<(EventId, Submitted)> {
        let mut events: Vec<_> = self
            .submitted
            .iter()
            .filter(|(_, s)| s.stream == stream)
            .map(|(&e, &s)| (e, s))
            .collect();
        events.sort_by_key(|(_, s)| s.payload);
        events
    }

    /// Seqs a client's application saw as events, and as skipped, each at
    /// most once (panics otherwise).
    pub fn seen_by(&self, stream: StreamId) -> (BTreeMap<Seq, Payload>, BTreeSet<Seq>) {
        let mut events = BTreeMap::new();
        let mut skipped = BTreeSet::new();
        for d in &self.clients[&stream].deliveries {
            match d {
                Delivery::Event { seq, payload } => {
                    assert!(
                        events.insert(*seq, *payload).is_none(),
                        "{stream}: {seq} released twice"
                    );
                    assert!(!skipped.contains(seq), "{stream}: {seq} skipped then released");
                }
                Delivery::Skipped { seqs } => {
                    for seq in seqs.iter() {
                        assert!(
                            !events.contains_key(&seq),
                            "{stream}: {seq} released then skipped"
                        );
                        assert!(skipped.insert(seq), "{stream}: {seq} skipped twice");
                    }
                }
            }
        }
        (events, skipped)
    }

    /// For an ordered client: the seqs it reported, in order, are exactly
    /// 0, 1, 2, … (events and skipped ranges interleaved).
    pub fn assert_in_order(&self, stream: StreamId) {
        let mut next = 0;
        for d in &self.clients[&stream].deliveries {
            let (start, end) = match d {
                Delivery::Event { seq, .. } => (seq.0, seq.0 + 1),
                Delivery::Skipped { seqs } => (seqs.start.0, seqs.end.0),
            };
            assert_eq!(start, next, "{stream}: out of order");
            next = end;
        }
    }
}

fn encode(encoding: Encoding, frame: &Frame<Payload>) -> Vec<u8> {
    match encoding {
        Encoding::Json => frame.to_json().expect("encodable").into_bytes(),
        Encoding::Binary => frame.to_binary().expect("encodable"),
    }
}

fn decode(encoding: Encoding, bytes: &[u8]) -> Result<Frame<Payload>, acktrack::DecodeError> {
    match encoding {
        Encoding::Json => Frame::from_json(bytes, DecodeLimits::default()),
        Encoding::Binary => Frame::from_binary(bytes, DecodeLimits::default()),
    }
}

/// SplitMix64: a tiny deterministic PRNG for the network's choices.
#[derive(Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u64) -> bool {
        pct > 0 && self.next() % 100 < pct
    }
}
