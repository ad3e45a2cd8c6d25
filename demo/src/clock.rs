//! The one place the demo reads a clock: tokio's monotonic clock, converted to
//! the tracker's `Instant` (microseconds since the server started).

use std::time::Duration;

/// Microseconds since the server started, and the way back to tokio time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Clock { start: tokio::time::Instant::now() }
    }

    /// Now, as the tracker counts time.
    pub(crate) fn now(&self) -> acktrack::Instant {
        let micros = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        acktrack::Instant::from_micros(micros)
    }

    /// The tokio instant of a tracker instant; `None` if it is too far out to
    /// represent (treated as "never").
    pub(crate) fn to_tokio(self, at: acktrack::Instant) -> Option<tokio::time::Instant> {
        self.start.checked_add(Duration::from_micros(at.as_micros()))
    }
}
