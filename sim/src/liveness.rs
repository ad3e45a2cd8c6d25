//! The liveness phase: every fault heals, every client reconnects, every
//! pending event must finish by a bound computed from the policy, then a
//! probe per stream must be confirmed within a round trip and leave its
//! receiver waiting for nothing.

use core::time::Duration;

use acktrack::SubmitOptions;

use crate::driver::SimTracker;
use crate::trace::TraceEvent;
use crate::world::{Happening, Invariant, Phase, World};

impl<T: SimTracker> World<T> {
    /// The liveness phase begins: every fault heals and every client reconnects.
    pub(crate) fn heal(&mut self) {
        self.healed = true;
        self.phase = Phase::Draining;
        self.heal_at = self.now;
        self.record(TraceEvent::Heal);
        for conn in 0..self.conns.len() as u32 {
            if self.conns[conn as usize].open {
                self.reconnect(conn);
                if self.violation.is_some() {
                    return;
                }
            }
        }
        // Every pending event finishes by its deadline at the latest: when the
        // server's clock reads it, at virtual time `deadline - offset`. After
        // a step back that the tracker clamped, the server's clock lags the
        // tracker's (`tracker_now`) until it catches up, so the bound is not
        // `deadline - tracker_now`.
        let latest = self.model.latest_pending_deadline() as i64;
        let bound = (latest - self.offset - self.now as i64).max(0) as u64;
        self.stats.liveness_bound_us = bound;
        self.schedule(self.now + bound + 1, Happening::LivenessCheck);
        self.maybe_next_phase();
    }

    /// Moves from draining to probing, and from probe to probe.
    pub(crate) fn maybe_next_phase(&mut self) {
        if self.violation.is_some() {
            return;
        }
        if self.phase == Phase::Draining && self.model.pending() == 0 {
            self.stats.liveness_observed_us = self.now - self.heal_at;
            self.phase = Phase::Probing;
            self.probe_conns = (0..self.conns.len() as u32)
                .filter(|&i| self.conns[i as usize].open)
                .rev()
                .collect();
            let c = self.config.client;
            // One probe at a time on an idle, healed stream: one round trip
            // plus the receiver's ack delay, and a millisecond of slack.
            self.stats.probe_bound_us =
                2 * self.config.net.latency_base_us + c.ack_delay_us + 1_000;
            self.next_probe();
            return;
        }
        if self.phase == Phase::Probing {
            if let Some(id) = self.probe_id {
                if self.model.is_finished(id) {
                    let took = self.now - self.probe_sent_at;
                    let conn = self.probe_conns.pop().expect("probing a conn");
                    if self.model.events[id as usize].confirmed {
                        self.stats.probe_observed_us = self.stats.probe_observed_us.max(took);
                        self.check_caught_up(conn);
                    } else if self.probe_must_confirm() {
                        let stream = self.conns[conn as usize].stream;
                        return self.fail(
                            Invariant::Liveness,
                            format!("probe on healed stream {stream} finished unconfirmed after {took} µs although its retry policy waits longer than a round trip"),
                        );
                    }
                    self.probe_id = None;
                    self.next_probe();
                }
            }
        }
    }

    pub(crate) fn next_probe(&mut self) {
        let Some(&conn) = self.probe_conns.last() else {
            self.phase = Phase::Done;
            return;
        };
        let id = self.model.next_id();
        self.probe_id = Some(id);
        self.probe_sent_at = self.now;
        let options = SubmitOptions::with_deadline(Duration::from_secs(3600));
        if !self.submit_on(conn, options, true) {
            self.fail(Invariant::Liveness, format!("probe on idle conn {conn} rejected"));
            return;
        }
        let at = self.now + self.stats.probe_bound_us;
        self.schedule(at, Happening::ProbeCheck { conn });
    }

    /// Whether the retry policy waits long enough for a healed round trip
    /// before giving up, so that an expired probe is a bug. A policy whose
    /// every timeout is shorter than the round trip can only expire.
    pub(crate) fn probe_must_confirm(&self) -> bool {
        let cfg = self.config.tracker;
        let base = cfg.rto.map_or(cfg.retry.initial_delay, |r| r.min);
        let total: u64 = (1..=cfg.retry.attempts_max)
            .map(|a| cfg.retry.delay_bounds(base, a).0.as_micros() as u64)
            .sum();
        total > self.stats.probe_bound_us
    }

    /// After its probe: the receiver is waiting for nothing the sender abandoned.
    pub(crate) fn check_caught_up(&mut self, conn: u32) {
        let cn = &self.conns[conn as usize];
        let Some(info) = self.tracker.stream_info(cn.stream) else { return };
        let resume = cn.client.resume_point();
        if resume != info.next_seq {
            let stream = cn.stream;
            self.fail(
                Invariant::Liveness,
                format!(
                    "after healing, receiver of {stream} expects {resume} but the sender's next seq is {}",
                    info.next_seq
                ),
            );
        }
    }
}
