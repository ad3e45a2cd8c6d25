//! Coverage marks: how often each fault fired and each tracker path ran.

use serde::Serialize;

use crate::world_config::FaultKind;

/// Counts per fault kind and per tracker path. Paths are read from the
/// tracker's own metrics where it has a counter for them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Coverage {
    /// Per [`FaultKind::ALL`] index.
    pub faults: [u64; FaultKind::ALL.len()],
    /// Retransmissions.
    pub retry: u64,
    /// Expiries by deadline.
    pub expiry_deadline: u64,
    /// Expiries by attempts.
    pub expiry_attempts: u64,
    /// Duplicate acks.
    pub duplicate_ack: u64,
    /// Late acks.
    pub late_ack: u64,
    /// Spurious retries.
    pub spurious_retry: u64,
    /// Superseded events.
    pub superseded: u64,
    /// Resumes (connects).
    pub resume: u64,
    /// Events confirmed by a resume point.
    pub confirmed_by_resume: u64,
    /// Submits refused by a cap.
    pub backpressure: u64,
    /// Deferred retries.
    pub deferred_retry: u64,
    /// Acks rejected because the user does not own the stream (seen by the simulator).
    pub rejected_cross_user: u64,
    /// Clock regressions.
    pub time_regression: u64,
    /// handle_timeout calls that left their own timer due (repeated wake-ups).
    pub timeout_repeats: u64,
    /// Naks accepted.
    pub nak: u64,
    /// Progress reports accepted.
    pub progress: u64,
    /// Failed writes reported to the tracker.
    pub transmit_failure: u64,
    /// Garbage frames the wire decoder refused.
    pub garbage_refused: u64,
    /// Garbage frames that decoded to something other than an ack.
    pub garbage_decoded: u64,
    /// Users forgotten after closing their last stream (seen by the simulator).
    pub forgotten_user: u64,
}

impl Coverage {
    /// A fault of `kind` fired.
    #[inline]
    pub fn fire(&mut self, kind: FaultKind) {
        self.faults[kind as usize] += 1;
    }

    /// Reads the tracker's counters at the end of a run.
    pub fn read_metrics(&mut self, m: &acktrack::Metrics) {
        self.retry = m.retried;
        self.expiry_deadline = m.expired_deadline;
        self.expiry_attempts = m.expired_attempts;
        self.duplicate_ack = m.acks_duplicate;
        self.late_ack = m.acks_late;
        self.spurious_retry = m.spurious_retries;
        self.superseded = m.superseded;
        self.resume = m.resumes;
        self.confirmed_by_resume = m.confirmed_by_resume;
        self.deferred_retry = m.deferred_retries;
        self.time_regression = m.clock_regressions;
        self.transmit_failure = m.transmit_failures;
        self.nak = m.naks;
        self.progress = m.progress_reports;
        let rejected = m.rejected_stream_queue + m.rejected_user_cap + m.rejected_global_cap;
        self.backpressure = self.backpressure.max(rejected);
    }

    /// Adds another run's marks.
    pub fn merge(&mut self, o: &Coverage) {
        for (a, b) in self.faults.iter_mut().zip(o.faults) {
            *a += b;
        }
        self.retry += o.retry;
        self.expiry_deadline += o.expiry_deadline;
        self.expiry_attempts += o.expiry_attempts;
        self.duplicate_ack += o.duplicate_ack;
        self.late_ack += o.late_ack;
        self.spurious_retry += o.spurious_retry;
        self.superseded += o.superseded;
        self.resume += o.resume;
        self.confirmed_by_resume += o.confirmed_by_resume;
        self.backpressure += o.backpressure;
        self.deferred_retry += o.deferred_retry;
        self.rejected_cross_user += o.rejected_cross_user;
        self.time_regression += o.time_regression;
        self.garbage_refused += o.garbage_refused;
        self.transmit_failure += o.transmit_failure;
        self.nak += o.nak;
        self.timeout_repeats += o.timeout_repeats;
        self.progress += o.progress;
        self.garbage_decoded += o.garbage_decoded;
        self.forgotten_user += o.forgotten_user;
    }

    /// Every mark with its name: faults first, then tracker paths.
    pub fn marks(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = FaultKind::ALL
            .iter()
            .map(|k| (format!("fault {}", k.name()), self.faults[*k as usize]))
            .collect();
        let paths = [
            ("retry", self.retry),
            ("expiry by deadline", self.expiry_deadline),
            ("expiry by attempts", self.expiry_attempts),
            ("duplicate ack", self.duplicate_ack),
            ("late ack", self.late_ack),
            ("spurious retry", self.spurious_retry),
            ("superseded", self.superseded),
            ("resume", self.resume),
            ("confirmed by resume", self.confirmed_by_resume),
            ("backpressure rejection", self.backpressure),
            ("deferred retry", self.deferred_retry),
            ("rejected cross-user ack", self.rejected_cross_user),
            ("time regression", self.time_regression),
            ("garbage refused by the decoder", self.garbage_refused),
            ("transmit failure", self.transmit_failure),
            ("nak", self.nak),
            ("progress report", self.progress),
            ("user forgotten and back", self.forgotten_user),
        ];
        v.extend(paths.iter().map(|(n, c)| (format!("path {n}"), *c)));
        v
    }
}
