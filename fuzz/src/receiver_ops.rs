//! `receiver_ops`: arbitrary frames (events, skips, frames a receiver does not
//! take, wrong streams, duplicates) and timeouts against one [`Receiver`].
//!
//! Checks after every input: each seq is reported at most once (as an event or
//! skipped), in order when ordered; only seqs that arrived are released, with
//! their payload; only seqs the sender abandoned (a skip or a floor) are
//! skipped; the reorder buffer and the tracked runs stay bounded; acks are well
//! formed and cover only resolved or received seqs; an error changes nothing.
//! At the end a frame carrying a high floor must resolve everything below it.

use std::collections::{BTreeMap, BTreeSet};

use acktrack::{
    Ack, Delivery, DeliveryOrder, Echo, EventFrame, Frame, HelloFrame, Instant, NakFrame,
    ProgressFrame, Receiver, ReceiverConfig, Seq, SeqRange, SkipFrame, StreamId,
};
use arbitrary::Arbitrary;
use core::time::Duration;

use crate::{SeqSel, Span};

/// Receiver policy knobs, mapped into valid values.
#[derive(Arbitrary, Debug)]
pub struct Knobs {
    ordered: bool,
    window: u8,
    reorder: u8,
    ack_every: u8,
    ack_delay: Span,
    ack_ranges_max: u8,
}

impl Knobs {
    /// A valid config.
    pub fn config(&self) -> ReceiverConfig {
        let window = u32::from(self.window % 32) + 1;
        ReceiverConfig {
            order: if self.ordered { DeliveryOrder::Ordered } else { DeliveryOrder::Unordered },
            window,
            reorder_buffer_max: u32::from(self.reorder) % (window + 1),
            ack_every: u32::from(self.ack_every) % window + 1,
            ack_delay: self.ack_delay.duration().min(Duration::from_secs(3600)),
            ack_ranges_max: u32::from(self.ack_ranges_max % 6),
        }
    }
}

/// One input.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// An event frame; seq relative to the cumulative ack, floor relative to the seq.
    Event { seq: SeqSel, attempt: u8, floor: SeqSel, wrong_stream: bool },
    /// A skip frame.
    Skip { start: SeqSel, len: u8, floor: SeqSel, wrong_stream: bool },
    /// A frame only a sender takes.
    Other { kind: u8, seq: u64 },
    /// A copy of the n-th frame sent before (counting back).
    Again(u8),
    /// Time passes, then `handle_timeout`.
    Timeout(Span),
    /// Later inputs carry an earlier `now`.
    Regress(Span),
}

/// The fuzz input.
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// The policy.
    pub knobs: Knobs,
    /// The inputs.
    pub ops: Vec<Op>,
}

const STREAM: StreamId = StreamId::from_bits(7);
const OTHER: StreamId = StreamId::from_bits(8);

/// The payload of seq `s` on the wire: derived from it, so a release can be checked.
fn payload(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct Harness {
    rx: Receiver<u64>,
    config: ReceiverConfig,
    now: Instant,
    /// Seqs of accepted event frames.
    arrived: BTreeSet<u64>,
    /// Seqs the sender abandoned: skipped ranges, and everything below an accepted floor.
    abandoned: Vec<SeqRange>,
    floor_max: u64,
    /// Seqs reported to the application, as disjoint `start -> end` runs.
    reported: BTreeMap<u64, u64>,
    released: BTreeSet<u64>,
    /// Ordered mode: the next seq to report.
    next: u64,
    history: Vec<Frame<u64>>,
    highest: Option<u64>,
}

/// Runs one input.
pub fn run(input: Input) {
    let config = input.knobs.config();
    let rx = Receiver::new(STREAM, config).expect("valid receiver config");
    let mut h = Harness {
        rx,
        config,
        now: Instant::ZERO,
        arrived: BTreeSet::new(),
        abandoned: Vec::new(),
        floor_max: 0,
        reported: BTreeMap::new(),
        released: BTreeSet::new(),
        next: 0,
        history: Vec::new(),
        highest: None,
    };
    for op in input.ops.into_iter().take(1024) {
        let frame = match op {
            Op::Event { seq, attempt, floor, wrong_stream } => {
                let seq = seq.pick(h.rx.resume().0);
                Frame::Event(EventFrame {
                    stream: if wrong_stream { OTHER } else { STREAM },
                    seq: Seq(seq),
                    attempt: u32::from(attempt % 4),
                    floor: Seq(floor.pick(seq)),
                    payload: payload(seq),
                })
            }
            Op::Skip { start, len, floor, wrong_stream } => {
                let start = start.pick(h.rx.resume().0);
                let end = start.saturating_add(u64::from(len % 16));
                Frame::Skip(SkipFrame {
                    stream: if wrong_stream { OTHER } else { STREAM },
                    seqs: SeqRange::new(start, end),
                    floor: Seq(floor.pick(start)),
                })
            }
            Op::Other { kind, seq } => match kind % 4 {
                0 => Frame::Hello(HelloFrame { stream: STREAM, resume: Seq(seq) }),
                1 => Frame::Nak(NakFrame { stream: STREAM, seq: Seq(seq), delay: Duration::ZERO }),
                2 => Frame::Progress(ProgressFrame { stream: STREAM, seq: Seq(seq) }),
                _ => Frame::Ack(Ack::cumulative(
                    STREAM,
                    Seq(seq),
                    Echo { seq: Seq(seq), attempt: 1 },
                )),
            },
            Op::Again(back) => {
                let n = h.history.len();
                if n == 0 {
                    continue;
                }
                h.history[n - 1 - usize::from(back) % n].clone()
            }
            Op::Timeout(span) => {
                h.now = h.now.saturating_add(span.duration());
                h.rx.handle_timeout(h.now);
                if let Some(t) = h.rx.poll_timeout() {
                    assert!(t > h.now, "ack timer {t:?} not after handle_timeout({:?})", h.now);
                }
                h.drain();
                continue;
            }
            Op::Regress(span) => {
                h.now = h.now.saturating_sub(span.duration());
                continue;
            }
        };
        h.history.push(frame.clone());
        h.input(frame);
    }
    h.settle();
}

impl Harness {
    fn input(&mut self, frame: Frame<u64>) {
        let before = self.rx.clone();
        let metrics = *self.rx.metrics();
        let accepted = match &frame {
            Frame::Event(f) => Some((f.seq.0, f.floor.0, None)),
            Frame::Skip(f) => Some((f.seqs.end.0.saturating_sub(1), f.floor.0, Some(f.seqs))),
            _ => None,
        };
        match self.rx.handle_frame(self.now, frame) {
            Ok(()) => {
                let (seq, floor, skip) = accepted.expect("only events and skips are accepted");
                self.floor_max = self.floor_max.max(floor);
                self.abandoned.push(SeqRange::new(0, floor));
                match skip {
                    Some(seqs) => self.abandoned.push(seqs),
                    None => {
                        self.arrived.insert(seq);
                    }
                }
                self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
                self.drain();
            }
            Err(_) => {
                let mut before = before;
                let after = *self.rx.metrics();
                assert_eq!(after.rejected, metrics.rejected + 1, "a rejection was not counted");
                let scrub = |mut m: acktrack::ReceiverMetrics| {
                    m.rejected = 0;
                    m.clock_regressions = 0;
                    m
                };
                assert_eq!(scrub(after), scrub(metrics), "an error changed the metrics");
                assert_eq!(self.rx.resume(), before.resume(), "an error moved the cumulative ack");
                assert_eq!(
                    self.rx.poll_timeout(),
                    before.poll_timeout(),
                    "an error moved the ack timer"
                );
                assert_eq!(self.rx.tracked_runs(), before.tracked_runs());
                assert_eq!(self.rx.pending_deliveries(), 0, "an error released something");
                assert_eq!(self.rx.poll_ack(), before.poll_ack(), "an error changed the next ack");
            }
        }
    }

    fn abandoned(&self, seq: u64) -> bool {
        self.abandoned.iter().any(|r| r.contains(Seq(seq)))
    }

    /// Drains deliveries and the ack, checking them and the memory bounds.
    fn drain(&mut self) {
        let ordered = self.config.order == DeliveryOrder::Ordered;
        while let Some(d) = self.rx.poll_delivery() {
            let (start, end) = match d {
                Delivery::Event { seq, payload: p } => {
                    assert!(self.arrived.contains(&seq.0), "released {seq}, which never arrived");
                    assert_eq!(p, payload(seq.0), "released {seq} with another payload");
                    self.released.insert(seq.0);
                    (seq.0, seq.0 + 1)
                }
                Delivery::Skipped { seqs } => {
                    assert!(!seqs.is_empty(), "empty Skipped");
                    // Bounded: checked span by span, not seq by seq, when large.
                    let covered =
                        self.abandoned.iter().any(|r| r.start <= seqs.start && seqs.end <= r.end)
                            || (seqs.len() <= 4096 && seqs.iter().all(|s| self.abandoned(s.0)));
                    assert!(covered, "skipped {seqs:?}, which the sender never abandoned");
                    (seqs.start.0, seqs.end.0)
                }
            };
            if ordered {
                assert_eq!(start, self.next, "ordered delivery out of order");
                self.next = end;
            }
            // At most once: no reported seq in start..end.
            if let Some((&s, &e)) = self.reported.range(..end).next_back() {
                assert!(e <= start, "seqs of {start}..{end} reported twice (already {s}..{e})");
            }
            self.reported.insert(start, end);
        }
        let m = *self.rx.metrics();
        assert!(
            m.buffered <= u64::from(self.config.reorder_buffer_max),
            "reorder buffer over its max"
        );
        assert!(
            self.rx.tracked_runs() <= self.config.window as usize,
            "tracked runs over the window"
        );
        assert_eq!(m.delivered, self.released.len() as u64, "delivered count");
        if ordered {
            assert_eq!(self.rx.resume().0, self.next, "resume is not the ordered cursor");
        }
        if let Some(ack) = self.rx.poll_ack() {
            self.check_ack(&ack);
        }
    }

    fn check_ack(&self, ack: &Ack) {
        assert_eq!(ack.stream, STREAM);
        assert_eq!(ack.cumulative, self.rx.resume(), "ack cumulative is not the resume point");
        assert!(ack.ranges.len() <= self.config.ack_ranges_max as usize, "too many ranges");
        assert!(ack.echo.is_none_or(|e| e.attempt >= 1), "echo attempt 0");
        let mut floor = ack.cumulative.0;
        for r in &ack.ranges {
            assert!(
                !r.is_empty() && r.start.0 > floor
                    || !r.is_empty() && r.start.0 == floor && floor > ack.cumulative.0,
                "malformed ranges {:?} above {}",
                ack.ranges,
                ack.cumulative
            );
            assert!(
                r.end.0 <= ack.cumulative.0.saturating_add(u64::from(self.config.window)),
                "range {r:?} beyond the window above {}",
                ack.cumulative
            );
            for s in r.iter().take(4096) {
                assert!(
                    self.arrived.contains(&s.0) || self.abandoned(s.0),
                    "ack range names {s}, neither received nor abandoned"
                );
            }
            floor = r.end.0;
        }
    }

    /// A skip of everything up to the highest seq seen, with that floor:
    /// afterwards every seq below it is resolved and nothing is held.
    fn settle(&mut self) {
        let Some(highest) = self.highest else { return };
        let resume = self.rx.resume().0;
        if resume == u64::MAX {
            // A hostile floor of u64::MAX resolved everything there is.
            assert_eq!(self.rx.metrics().buffered, 0, "payloads held below the floor");
            return;
        }
        let end = highest.saturating_add(1).max(resume + 1);
        let skip =
            SkipFrame { stream: STREAM, seqs: SeqRange::new(end - 1, end), floor: Seq(end - 1) };
        self.rx.handle_skip(skip).expect("a skip at the floor is in the window");
        self.abandoned.push(SeqRange::new(0, end));
        self.drain();
        assert_eq!(self.rx.resume().0, end, "a floor did not resolve everything below it");
        assert_eq!(self.rx.metrics().buffered, 0, "payloads still held below the floor");
        assert_eq!(self.rx.tracked_runs(), 0);
        for s in self.arrived.iter().copied().filter(|&s| s < end) {
            let reported = self.reported.range(..=s).next_back().is_some_and(|(_, &e)| e > s);
            assert!(reported, "arrived {s} never reported");
        }
    }
}
