//! The client side of one connection: the real [`acktrack::Receiver`],
//! adapted to the simulator's virtual clock and released-event buffer.

use core::time::Duration;

use acktrack::{
    Ack, Delivery, DeliveryOrder, EventFrame, Instant, ReceiveError, Receiver, ReceiverConfig, Seq,
    SkipFrame, StreamId,
};

use crate::driver::Payload;
use crate::world_config::ClientConfig;

pub(crate) use acktrack::Arrival;

/// One receiver incarnation (a crash replaces it with a fresh one).
#[derive(Debug)]
pub(crate) struct Client {
    receiver: Receiver<Payload>,
    ordered: bool,
}

impl Client {
    /// A fresh receiver for a stream whose sender uses `window`.
    pub(crate) fn new(
        stream: StreamId,
        ordered: bool,
        config: ClientConfig,
        window: u32,
        ranges_max: u32,
    ) -> Self {
        let rc = ReceiverConfig {
            order: if ordered { DeliveryOrder::Ordered } else { DeliveryOrder::Unordered },
            window,
            reorder_buffer_max: config.reorder_buffer.min(window),
            ack_every: config.ack_every.clamp(1, window),
            ack_delay: Duration::from_micros(config.ack_delay_us),
            ack_ranges_max: ranges_max,
        };
        let receiver = Receiver::new(stream, rc).expect("receiver config within its bounds");
        Client { receiver, ordered }
    }

    /// Whether events are released in seq order.
    pub(crate) fn ordered(&self) -> bool {
        self.ordered
    }

    /// The resume point for a reconnect.
    pub(crate) fn resume_point(&self) -> Seq {
        self.receiver.resume()
    }

    /// When the receiver wants `handle_timeout` (virtual µs).
    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        self.receiver.poll_timeout().map(Instant::as_micros)
    }

    /// An event frame; releases go to `released` as (seq, payload).
    pub(crate) fn handle_event(
        &mut self,
        now: u64,
        frame: EventFrame<Payload>,
        released: &mut Vec<(u64, Payload)>,
    ) -> Result<(Arrival, Option<Ack>), ReceiveError> {
        let arrival = self.receiver.handle_event(Instant::from_micros(now), frame)?;
        self.collect(released);
        Ok((arrival, self.receiver.poll_ack()))
    }

    /// A skip frame.
    pub(crate) fn handle_skip(
        &mut self,
        frame: SkipFrame,
        released: &mut Vec<(u64, Payload)>,
    ) -> Result<Option<Ack>, ReceiveError> {
        self.receiver.handle_skip(frame)?;
        self.collect(released);
        Ok(self.receiver.poll_ack())
    }

    /// The coalescing delay ran out: the pending ack, if any.
    pub(crate) fn handle_timeout(&mut self, now: u64) -> Option<Ack> {
        self.receiver.handle_timeout(Instant::from_micros(now));
        self.receiver.poll_ack()
    }

    fn collect(&mut self, released: &mut Vec<(u64, Payload)>) {
        while let Some(d) = self.receiver.poll_delivery() {
            if let Delivery::Event { seq, payload } = d {
                released.push((seq.0, payload));
            }
        }
    }
}
