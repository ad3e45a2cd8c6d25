//! Storm protection: under 100% loss on 10,000 streams for a minute,
//! retransmissions stay within the retry budget (per user and globally);
//! deferred retries are counted and never lost: once loss stops, every event
//! ends Confirmed or Expired by its deadline.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use core::time::Duration;

use acktrack::{Command, ExpiryReason, Instant, Jitter, Outcome, RetryBudget, StreamId, UserId};
use common::*;

const USERS: u64 = 100;
const STREAMS_PER_USER: u64 = 100;

#[test]
fn a_minute_of_total_loss_stays_within_budget_and_nothing_is_lost() {
    let user_budget = RetryBudget { ratio_percent: 50, burst: 5, refill_per_sec: 1 };
    let global_budget = RetryBudget { ratio_percent: 20, burst: 1000, refill_per_sec: 100 };
    let mut c = config();
    c.retry.initial_delay = Duration::from_millis(500);
    c.retry.delay_max = Duration::from_secs(30);
    c.retry.jitter = Jitter::Equal;
    c.retry.attempts_max = 100;
    c.retry.deadline = Duration::from_secs(300);
    c.user_retry_budget = Some(user_budget);
    c.global_retry_budget = Some(global_budget);
    let mut t = tracker(c);
    let mut owner: BTreeMap<StreamId, UserId> = BTreeMap::new();
    for u in 0..USERS {
        for _ in 0..STREAMS_PER_USER {
            let s = t.open_stream(Instant::ZERO, UserId(u)).unwrap();
            owner.insert(s, UserId(u));
            submit(&mut t, Instant::ZERO, s, 0);
        }
    }
    let sent = drain(&mut t).len() as u64;
    assert_eq!(sent, USERS * STREAMS_PER_USER);

    // Phase 1: everything is lost for a minute.
    let heal = Instant::from_secs(60);
    let mut retried_per_user: BTreeMap<UserId, u64> = BTreeMap::new();
    for (_, c) in run_until(&mut t, heal) {
        match c {
            Command::Retry { stream, .. } => {
                *retried_per_user.entry(owner[&stream]).or_default() += 1
            }
            Command::Send { .. } => panic!("nothing new was submitted"),
            _ => {}
        }
    }
    let secs = 60;
    let global_bound = u64::from(global_budget.burst)
        + u64::from(global_budget.ratio_percent) * sent / 100
        + u64::from(global_budget.refill_per_sec) * secs;
    let user_bound = u64::from(user_budget.burst)
        + u64::from(user_budget.ratio_percent) * STREAMS_PER_USER / 100
        + u64::from(user_budget.refill_per_sec) * secs;
    let m = t.metrics();
    assert!(m.retried <= global_bound, "{} retries > global budget {global_bound}", m.retried);
    // The budget, not the backoff, was the limit: without it each event
    // would have retried about 7 times in a minute.
    assert!(m.retried > global_bound / 2, "budget barely used: {}", m.retried);
    for (u, n) in &retried_per_user {
        assert!(*n <= user_bound, "{u}: {n} retries > user budget {user_bound}");
        assert_eq!(t.user_metrics(*u).unwrap().retried, *n);
    }
    assert!(m.deferred_retries > 0);
    assert_eq!(m.finished(), 0, "nothing expires or is dropped within the deadline");
    assert_eq!(m.pending(), sent);
    let per_user_deferred: u64 =
        (0..USERS).map(|u| t.user_metrics(UserId(u)).unwrap().deferred_retries).sum();
    assert_eq!(per_user_deferred, m.deferred_retries);

    // Phase 2: the network heals; every transmission is acked 20 ms later.
    let mut acks: BTreeMap<Instant, Vec<(StreamId, u32)>> = BTreeMap::new();
    let mut finished: BTreeSet<acktrack::EventId> = BTreeSet::new();
    let mut now = heal;
    for _ in 0..10_000_000 {
        let next_ack = acks.keys().next().copied();
        let next_timer = t.poll_timeout();
        let Some(at) = [next_ack, next_timer].into_iter().flatten().min() else { break };
        now = now.max(at);
        if next_ack == Some(at) {
            for (s, attempt) in acks.remove(&at).unwrap() {
                t.handle_ack(now, owner[&s], &ack(s, 1, 0, attempt)).unwrap();
            }
        } else {
            t.handle_timeout(now);
        }
        while let Some(c) = t.poll_command() {
            match c {
                Command::Retry { stream, attempt, .. } => {
                    acks.entry(now.saturating_add(Duration::from_millis(20)))
                        .or_default()
                        .push((stream, attempt));
                }
                Command::Finish { event, outcome, .. } => {
                    assert!(
                        matches!(
                            outcome,
                            Outcome::Confirmed { .. }
                                | Outcome::Expired { reason: ExpiryReason::Deadline }
                        ),
                        "{event}: {outcome:?}"
                    );
                    assert!(finished.insert(event), "{event} finished twice");
                }
                Command::Send { .. } => panic!("nothing new was submitted"),
                Command::Skip { .. } => {}
            }
        }
    }
    assert_eq!(finished.len() as u64, sent);
    assert_eq!(t.pending(), 0);
    let m = t.metrics();
    assert_eq!(m.confirmed + m.expired_deadline, sent);
    assert_eq!(m.expired_attempts, 0);
    assert!(now <= Instant::from_secs(300), "liveness: done by the deadline, at {now}");
}
