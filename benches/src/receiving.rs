//! The receiver scenario: one stream's frames arriving at a
//! [`Receiver`], which deduplicates them, releases each event once (in seq
//! order) and builds the acks.

use core::time::Duration;

use acktrack::{
    Ack, Delivery, DeliveryOrder, EventFrame, Instant, Receiver, ReceiverConfig, Seq, StreamId,
};

/// How the frames arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrivals {
    /// Each seq once, in order.
    InOrder,
    /// In order, and every 10th frame is a retransmission of a seq already
    /// received (a duplicate the receiver must not release again).
    Duplicates,
    /// Each seq once, shuffled within blocks of 8: the reorder buffer holds
    /// early ones and the acks carry selective ranges.
    Reordered,
}

/// A fixed shuffle of a block of 8.
const BLOCK: [u64; 8] = [1, 0, 3, 6, 2, 4, 7, 5];

/// How far the sender's floor trails the newest seq (its events in flight).
const IN_FLIGHT: u64 = 32;

/// Feeds a receiver frame after frame; counts what comes out.
#[derive(Debug)]
pub struct ReceiverLoad {
    receiver: Receiver<()>,
    arrivals: Arrivals,
    now: Instant,
    /// Frames fed so far.
    pub frames: u64,
    /// The next new seq (in order and duplicates).
    next_seq: u64,
    /// Events released to the application.
    pub delivered: u64,
    /// Acks built.
    pub acks: u64,
    /// `Some`: acks are taken with `poll_ack_into` into this one `Ack`;
    /// `None`: with `poll_ack`.
    kept_ack: Option<Ack>,
}

impl ReceiverLoad {
    /// A fresh ordered receiver: window 4096, reorder buffer 64, an ack every
    /// 2 events or 25 ms, 32 ranges per ack.
    pub fn new(arrivals: Arrivals) -> Self {
        let config = ReceiverConfig {
            order: DeliveryOrder::Ordered,
            window: 4096,
            reorder_buffer_max: 64,
            ack_every: 2,
            ack_delay: Duration::from_millis(25),
            ack_ranges_max: 32,
        };
        ReceiverLoad {
            receiver: Receiver::new(StreamId::from_bits(0), config).expect("a valid config"),
            arrivals,
            now: Instant::ZERO,
            frames: 0,
            next_seq: 0,
            delivered: 0,
            acks: 0,
            kept_ack: None,
        }
    }

    /// As [`new`](Self::new), taking the acks with `Receiver::poll_ack_into`
    /// into one kept `Ack` instead of a new one each.
    pub fn reusing_ack(arrivals: Arrivals) -> Self {
        let mut load = Self::new(arrivals);
        let stream = load.receiver.stream();
        load.kept_ack = Some(Ack { stream, cumulative: Seq(0), ranges: Vec::new(), echo: None });
        load
    }

    /// The next frame's (seq, sender floor).
    fn next_frame(&mut self) -> (u64, u64) {
        let i = self.frames;
        self.frames += 1;
        match self.arrivals {
            Arrivals::InOrder => {
                let seq = self.next_seq;
                self.next_seq += 1;
                (seq, seq.saturating_sub(IN_FLIGHT))
            }
            Arrivals::Duplicates if i % 10 == 9 && self.next_seq >= 3 => {
                let seq = self.next_seq - 3;
                (seq, self.next_seq.saturating_sub(IN_FLIGHT))
            }
            Arrivals::Duplicates => {
                let seq = self.next_seq;
                self.next_seq += 1;
                (seq, seq.saturating_sub(IN_FLIGHT))
            }
            Arrivals::Reordered => {
                let block = i / 8 * 8;
                (block + BLOCK[(i % 8) as usize], block.saturating_sub(IN_FLIGHT))
            }
        }
    }

    /// One frame: `handle_event`, drain the deliveries, take the ack if due.
    #[inline]
    pub fn step(&mut self) {
        let (seq, floor) = self.next_frame();
        self.now = Instant::from_micros(self.now.as_micros() + 10);
        let frame = EventFrame {
            stream: self.receiver.stream(),
            seq: Seq(seq),
            attempt: 1,
            floor: Seq(floor),
            payload: (),
        };
        self.receiver.handle_event(self.now, frame).expect("a valid frame");
        while let Some(delivery) = self.receiver.poll_delivery() {
            if let Delivery::Event { .. } = delivery {
                self.delivered += 1;
            }
        }
        if self.receiver.poll_timeout().is_some_and(|at| at <= self.now) {
            self.receiver.handle_timeout(self.now);
        }
        match &mut self.kept_ack {
            Some(kept) => {
                if self.receiver.poll_ack_into(kept) {
                    self.acks += 1;
                    std::hint::black_box(&*kept);
                }
            }
            None => {
                if let Some(ack) = self.receiver.poll_ack() {
                    self.acks += 1;
                    std::hint::black_box(ack);
                }
            }
        }
    }

    /// The receiver's cumulative ack.
    pub fn resume(&self) -> Seq {
        self.receiver.resume()
    }
}
