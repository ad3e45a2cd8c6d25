//! 50 users × 200 events through a proxy that kills, delays and stalls
//! connections: every event reaches its client exactly once and in order,
//! and every event finishes `Confirmed` on the server.
//!
//! The proxy's faults are seeded: `ACKTRACK_DEMO_SEED=N cargo test -p
//! acktrack-demo --test faulty_network` picks the seed (the test prints it).
//! Thread scheduling is not seeded, so a seed fixes the fault pattern per
//! connection, not the whole run.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use acktrack::Delivery;
use support::proxy::{Faults, Proxy};
use support::{counter, follow, metrics, open_stream, start_run, start_server};
use tokio::sync::watch;

const USERS: u64 = 50;
/// 2 + steps × (thinking + 2) with 66 steps and 1 thinking event per step.
const EVENTS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_users_get_two_hundred_events_each_exactly_once_in_order_through_a_faulty_network() {
    let seed = std::env::var("ACKTRACK_DEMO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_acc7_u64);
    eprintln!("faulty_network: seed {seed} (ACKTRACK_DEMO_SEED={seed} to choose it)");
    let began = tokio::time::Instant::now();
    let deadline = began + Duration::from_secs(50);

    let server = start_server(USERS, false).await;
    let faults =
        Faults { delay_max_ms: 3, stall_permille: 15, stall_ms: (100, 700), life_ms: (150, 1500) };
    let proxy = Proxy::start(server.addr(), seed, faults).await;
    let ws_url = |user: u64| format!("ws://{}/ws?token={}", proxy.addr, support::token(user));

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut clients = Vec::new();
    let mut streams = Vec::new();
    for user in 1..=USERS {
        let stream = open_stream(server.addr(), user).await;
        let progress = Arc::new(AtomicUsize::new(0));
        let task =
            tokio::spawn(follow(ws_url(user), stream, stop_rx.clone(), progress.clone(), deadline));
        clients.push((user, progress, task));
        streams.push(stream);
    }
    for (user, stream) in (1..=USERS).zip(&streams) {
        let events = start_run(server.addr(), user, *stream, 66, 1, 10).await;
        assert_eq!(events as usize, EVENTS);
    }

    // Faults for a while (the runs take about 2.5 s), then a healed network:
    // everything must converge.
    let heal_at = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut healed = false;
    let confirmed_all = loop {
        assert!(tokio::time::Instant::now() < deadline, "no convergence in time");
        if !healed && tokio::time::Instant::now() >= heal_at {
            proxy.heal();
            healed = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let delivered: usize = clients.iter().map(|(_, p, _)| p.load(Ordering::Relaxed)).sum();
        if delivered < USERS as usize * EVENTS {
            continue;
        }
        let m = metrics(server.addr()).await;
        if counter(&m, None, "tracker", "finished") == USERS * EVENTS as u64 {
            break m;
        }
    };
    stop_tx.send(true).unwrap();

    let mut connects = 0;
    let mut duplicates = 0;
    for (user, _, task) in clients {
        let seen = task.await.unwrap();
        connects += seen.connects;
        duplicates += seen.metrics.duplicates;
        assert_eq!(seen.refused, 0, "user {user}: the client refused frames");
        assert_eq!(
            seen.deliveries.len(),
            EVENTS,
            "user {user}: delivered {}",
            seen.deliveries.len()
        );
        let mut run = None;
        for (i, delivery) in seen.deliveries.iter().enumerate() {
            let Delivery::Event { seq, payload } = delivery else {
                panic!("user {user}: seq {i} was skipped: {delivery:?}");
            };
            assert_eq!(seq.0, i as u64, "user {user}: out of order");
            assert_eq!(payload.index as usize, i, "user {user}: wrong event at seq {i}");
            assert_eq!(*run.get_or_insert(payload.run), payload.run, "user {user}: mixed runs");
        }
        let m = &confirmed_all;
        assert_eq!(counter(m, Some(user), "tracker", "submitted"), EVENTS as u64);
        assert_eq!(counter(m, Some(user), "tracker", "confirmed"), EVENTS as u64, "user {user}");
        assert_eq!(counter(m, Some(user), "tracker", "finished"), EVENTS as u64, "user {user}");
    }
    let m = &confirmed_all;
    let global = |name| counter(m, None, "tracker", name);
    let stats = &proxy.stats;
    eprintln!(
        "faulty_network: {:.1}s, proxy: {} connections, {} killed, {} stalls; clients: {connects} \
         connects, {duplicates} duplicates dropped; tracker: sent {}, retried {}, resumes {}, \
         confirmed by resume {}, latency p50 {} ms p99 {} ms",
        began.elapsed().as_secs_f64(),
        stats.connections.load(Ordering::Relaxed),
        stats.kills.load(Ordering::Relaxed),
        stats.stalls.load(Ordering::Relaxed),
        global("sent"),
        global("retried"),
        global("resumes"),
        global("confirmed_by_resume"),
        m["global"]["tracker"]["latency_ms"]["p50"],
        m["global"]["tracker"]["latency_ms"]["p99"],
    );
    assert_eq!(global("confirmed"), USERS * EVENTS as u64);
    assert_eq!(global("expired_deadline") + global("expired_attempts"), 0);
    assert_eq!(counter(m, None, "driver", "frames_malformed"), 0);
    assert_eq!(global("acks_rejected"), 0, "honest clients' acks are never rejected");
    // The faults really happened: connections were killed and clients resumed.
    assert!(stats.kills.load(Ordering::Relaxed) >= USERS, "too few kills to mean anything");
    assert!(connects as u64 > USERS, "no client ever reconnected");
    assert!(global("resumes") > USERS, "no stream was resumed after a reconnect");
    server.shutdown();
}
