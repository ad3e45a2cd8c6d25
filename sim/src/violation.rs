//! What a failed check reports.

/// Which invariant failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Invariant {
    /// 1: every event finishes exactly once.
    FinishOnce,
    /// 1: nothing is sent after the event finished.
    SentAfterFinish,
    /// 2: only the owner's acks confirm; only real acks confirm.
    Isolation,
    /// 3: the application sees each event at most once per receiver incarnation.
    Delivery,
    /// 3: in order where ordering was asked for.
    Order,
    /// 4: attempts within `attempts_max`.
    Attempts,
    /// 4: no retry at or after the deadline; expiries when due.
    Deadline,
    /// 4: retry delays within the backoff policy.
    Backoff,
    /// 5: in-flight span within the window.
    Window,
    /// 5: pending and queued within the caps; backpressure exactly when over a cap.
    Caps,
    /// 6: metrics equal the reference model's; outcomes as the model predicts.
    Metrics,
    /// 7: after healing, everything finishes within the bound and probes confirm.
    Liveness,
    /// 8: the same seed gives the same trace.
    Determinism,
    /// A panic inside the tracker (or the simulator).
    Panic,
}

/// Every invariant, in order.
pub const ALL_INVARIANTS: [Invariant; 14] = [
    Invariant::FinishOnce,
    Invariant::SentAfterFinish,
    Invariant::Isolation,
    Invariant::Delivery,
    Invariant::Order,
    Invariant::Attempts,
    Invariant::Deadline,
    Invariant::Backoff,
    Invariant::Window,
    Invariant::Caps,
    Invariant::Metrics,
    Invariant::Liveness,
    Invariant::Determinism,
    Invariant::Panic,
];

impl Invariant {
    /// A stable name.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::FinishOnce => "finish-once",
            Invariant::SentAfterFinish => "sent-after-finish",
            Invariant::Isolation => "isolation",
            Invariant::Delivery => "delivery",
            Invariant::Order => "order",
            Invariant::Attempts => "attempts",
            Invariant::Deadline => "deadline",
            Invariant::Backoff => "backoff",
            Invariant::Window => "window",
            Invariant::Caps => "caps",
            Invariant::Metrics => "metrics",
            Invariant::Liveness => "liveness",
            Invariant::Determinism => "determinism",
            Invariant::Panic => "panic",
        }
    }
}

/// A failed check: where, what, and the last events of the trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Violation {
    /// The step it failed at.
    pub step: u64,
    /// Virtual time, µs.
    pub time_us: u64,
    /// The invariant.
    pub invariant: Invariant,
    /// What exactly.
    pub detail: String,
    /// The last trace records, oldest first, as JSON lines.
    pub trace_tail: Vec<String>,
}
