//! The application: arrivals (Poisson, bursts, Zipf-hot users), submits of
//! critical and conflatable events, cancels, streams closing and opening.

use core::time::Duration;

use acktrack::SubmitOptions;

use crate::driver::SimTracker;
use crate::net;
use crate::trace::TraceEvent;
use crate::world::{Happening, Invariant, Phase, World};

impl<T: SimTracker> World<T> {
    pub(crate) fn arrival(&mut self) {
        if self.phase != Phase::Workload {
            return;
        }
        let burst = if self.c.chance(self.config.workload.burst) {
            self.c.range(2, u64::from(self.config.workload.burst_max)) as u32
        } else {
            1
        };
        let user = self.c.weighted(&self.user_weights) as u32;
        for _ in 0..burst {
            if self.arrivals >= self.config.workload.events {
                break;
            }
            self.arrivals += 1;
            self.submit_one(user);
            if self.violation.is_some() {
                return;
            }
        }
        if self.c.chance(self.config.workload.cancel) {
            self.cancel_recent();
        }
        if self.c.chance(self.config.workload.reopen) {
            self.reopen(user);
        }
        if self.arrivals >= self.config.workload.events {
            self.heal();
        } else {
            let gap =
                net::exp_interval(1e6 / self.config.workload.arrival_mean_us as f64, &mut self.c);
            self.schedule(self.now + gap, Happening::Arrival);
        }
    }

    pub(crate) fn submit_one(&mut self, user: u32) {
        if self.model.forgotten[user as usize] {
            // A user forgotten after its last stream closed comes back.
            self.open_conn(user);
        }
        let conns = &self.user_conns[user as usize];
        if conns.is_empty() {
            return;
        }
        let conn = conns[self.c.below(conns.len() as u64) as usize];
        let w = self.config.workload;
        let key = self.c.chance(w.progress).then(|| self.c.below(u64::from(w.keys)));
        let deadline = self
            .c
            .chance(w.deadline_override)
            .then(|| Duration::from_millis(self.c.range(50, 10_000)));
        self.submit_on(conn, SubmitOptions { deadline, conflation_key: key }, false);
    }

    pub(crate) fn submit_on(&mut self, conn: u32, options: SubmitOptions, probe: bool) -> bool {
        let now = self.server_now();
        let stream = self.conns[conn as usize].stream;
        let user = self.conns[conn as usize].user;
        let id = self.model.next_id();
        let deadline = options.deadline.unwrap_or(self.config.tracker.retry.deadline);
        let predicted =
            self.model.submit_prediction(conn, options.conflation_key, &self.config.tracker);
        // Prefetched first, alone and as a batch of one: hints that must
        // change nothing (as for acks, `World::input_ack`).
        self.tracker.prefetch_submit(stream);
        self.tracker.prefetch_submits(core::slice::from_ref(&stream));
        let result = self.tracker.submit(now, stream, id, options);
        self.record(TraceEvent::Submit {
            stream: stream.to_bits(),
            id,
            key: options.conflation_key,
            accepted: result.is_ok(),
        });
        let accepted = match result {
            Ok(event) => {
                if let Err(why) = &predicted {
                    let why = *why;
                    self.fail(Invariant::Caps, format!("submit on {stream} accepted but {why}"));
                }
                let deadline_at = self.tracker_now.saturating_add(deadline.as_micros() as u64);
                let _ = probe;
                self.model.on_submit(id, event, conn, user, self.tracker_now, deadline_at, options);
                true
            }
            Err(rejected) => {
                self.stats.coverage.backpressure += 1;
                if predicted.is_ok() {
                    self.fail(
                        Invariant::Caps,
                        format!("submit on {stream} rejected ({}) under every cap", rejected.error),
                    );
                }
                self.model.on_rejected_submit(user, rejected.error);
                false
            }
        };
        self.drain(crate::model::Ctx::Submit { conn, key: options.conflation_key });
        self.check_step(Some(user));
        accepted
    }

    pub(crate) fn cancel_recent(&mut self) {
        let Some((id, event)) = self.model.recent_event(&mut self.c) else { return };
        let now = self.server_now();
        let expected_ok = !self.model.is_finished(id);
        let result = self.tracker.cancel(now, event);
        self.record(TraceEvent::Cancel { event: event.to_bits(), ok: result.is_ok() });
        if result.is_ok() != expected_ok {
            self.fail(
                Invariant::Metrics,
                format!(
                    "cancel of event {id} returned {result:?}, model expected ok={expected_ok}"
                ),
            );
        }
        self.drain(crate::model::Ctx::Cancel { id });
        let user = self.model.user_of(id);
        self.check_step(Some(user));
    }

    pub(crate) fn reopen(&mut self, user: u32) {
        let conns = &self.user_conns[user as usize];
        if conns.is_empty() {
            return;
        }
        let pick = self.c.below(conns.len() as u64) as usize;
        let conn = conns[pick];
        self.user_conns[user as usize].remove(pick);
        let stream = self.conns[conn as usize].stream;
        let now = self.server_now();
        let result = self.tracker.close_stream(now, stream);
        self.record(TraceEvent::Close { stream: stream.to_bits() });
        if let Err(e) = result {
            self.fail(Invariant::Metrics, format!("close of open stream {stream} failed: {e}"));
        }
        self.conns[conn as usize].open = false;
        self.model.on_close(conn);
        self.drain(crate::model::Ctx::Close { conn });
        self.check_step(Some(user));
        if self.user_conns[user as usize].is_empty() && self.c.chance(0.5) {
            // Its last stream: the user leaves, and comes back with its next
            // arrival. Meanwhile the tracker has no record of it.
            self.forget(user);
        } else {
            self.open_conn(user);
        }
    }

    fn forget(&mut self, user: u32) {
        let returned = self.tracker.forget_user(crate::world::user_id(user));
        self.record(TraceEvent::Forget {
            user: crate::world::user_id(user).0,
            ok: returned.is_some(),
        });
        self.check_forgotten(user, returned.as_ref());
        self.model.on_forget(user);
        self.stats.coverage.forgotten_user += 1;
        if let Some(command) = self.tracker.poll_command() {
            self.fail(Invariant::Metrics, format!("forget emitted {command:?}"));
        }
        self.check_step(Some(user));
    }
}
