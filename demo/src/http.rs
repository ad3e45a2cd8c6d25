//! The HTTP surface: the page, the WebSocket upgrade, the application API
//! (open a stream, start an agent run), metrics, and the test hook.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use acktrack::{Metrics, StreamId, UserId};
use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::Shared;
use crate::agent::{self, RunSpec};
use crate::conn::{self, WS_MESSAGE_MAX};
use crate::shard::{Input, ShardSnapshot};
use crate::stats::{DriverCounters, add_metrics, metrics_json};

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const RECEIVER_JS: &str = include_str!("../static/receiver.js");

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(|| async { static_file("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { static_file("text/javascript", APP_JS) }))
        .route("/receiver.js", get(|| async { static_file("text/javascript", RECEIVER_JS) }))
        .route("/ws", get(upgrade))
        .route("/api/streams", post(open_stream))
        .route("/api/runs", post(start_run))
        .route("/api/metrics", get(user_metrics))
        .route("/metrics", get(all_metrics))
        .route("/api/test/kill", post(kill))
        .with_state(shared)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "unknown token")
}

/// Sends `make(reply)` to `user`'s shard and waits for the answer.
async fn ask<T>(
    shared: &Shared,
    user: UserId,
    make: impl FnOnce(oneshot::Sender<T>) -> Input,
) -> Option<T> {
    let (reply, answer) = oneshot::channel();
    shared.shard(user).send(make(reply)).await.ok()?;
    answer.await.ok()
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    // Authenticate before the upgrade: a socket belongs to one user for life.
    let Some(user) = shared.user(&q.token) else { return unauthorized() };
    ws.max_message_size(WS_MESSAGE_MAX)
        .max_frame_size(WS_MESSAGE_MAX)
        .on_upgrade(move |socket| conn::serve(socket, user, shared))
}

async fn open_stream(State(shared): State<Arc<Shared>>, Query(q): Query<TokenQuery>) -> Response {
    let Some(user) = shared.user(&q.token) else { return unauthorized() };
    match ask(&shared, user, |reply| Input::OpenStream { user, reply }).await {
        Some(Ok(stream)) => json_response(
            StatusCode::OK,
            json!({ "stream": stream.to_bits().to_string(), "user": user.0 }),
        ),
        Some(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
    }
}

#[derive(Deserialize)]
struct RunQuery {
    token: String,
    stream: String,
    steps: Option<u32>,
    thinking: Option<u32>,
    pace_ms: Option<u64>,
    conflate: Option<bool>,
}

async fn start_run(State(shared): State<Arc<Shared>>, Query(q): Query<RunQuery>) -> Response {
    let Some(user) = shared.user(&q.token) else { return unauthorized() };
    let Ok(bits) = q.stream.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "stream is not a stream id");
    };
    let stream = StreamId::from_bits(bits);
    let spec = RunSpec {
        steps: q.steps.unwrap_or(4),
        thinking: q.thinking.unwrap_or(3),
        pace_ms: q.pace_ms.unwrap_or(300).min(60_000),
        conflate: q.conflate.unwrap_or(true),
    };
    if spec.events() > RunSpec::EVENTS_MAX {
        return error(StatusCode::BAD_REQUEST, "too many events for one run");
    }
    let owned = ask(&shared, user, |reply| Input::CheckStream { user, stream, reply }).await;
    if owned != Some(true) {
        // Unknown, closed and foreign streams look the same.
        return error(StatusCode::NOT_FOUND, "unknown stream");
    }
    let run = shared.next_run.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(agent::run(shared.shard(user).clone(), user, stream, run, spec));
    json_response(StatusCode::OK, json!({ "run": run, "events": spec.events() }))
}

#[derive(Deserialize)]
struct MetricsQuery {
    token: String,
    since: Option<u64>,
}

/// Every shard's snapshot (`user`: one user's, with outcomes after `since`).
async fn snapshots(shared: &Shared, user: Option<UserId>, since: u64) -> Vec<ShardSnapshot> {
    let mut out = Vec::with_capacity(shared.shards.len());
    for shard in &shared.shards {
        let (reply, answer) = oneshot::channel();
        if shard.send(Input::Snapshot { user, since, reply }).await.is_ok() {
            if let Ok(snapshot) = answer.await {
                out.push(snapshot);
            }
        }
    }
    out
}

fn global_json(shared: &Shared, shards: &[ShardSnapshot]) -> Value {
    let mut metrics = Metrics::default();
    let mut counters = DriverCounters::default();
    for s in shards {
        add_metrics(&mut metrics, &s.metrics);
        counters.add(&s.counters);
    }
    json!({
        "tracker": metrics_json(&metrics),
        "driver": counters,
        "auth_failures": shared.auth_failures.load(Ordering::Relaxed),
    })
}

async fn user_metrics(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<MetricsQuery>,
) -> Response {
    let Some(user) = shared.user(&q.token) else { return unauthorized() };
    let shards = snapshots(&shared, Some(user), q.since.unwrap_or(0)).await;
    let mine = shards.iter().flat_map(|s| &s.users).find(|u| u.user == user);
    let (tracker, driver, outcomes) = match mine {
        Some(u) => (metrics_json(&u.metrics), json!(u.counters), json!(u.outcomes)),
        None => (metrics_json(&Metrics::default()), json!(DriverCounters::default()), json!([])),
    };
    json_response(
        StatusCode::OK,
        json!({
            "uptime_s": shared.clock.now().as_micros() as f64 / 1e6,
            "test_hooks": shared.test_hooks,
            "global": global_json(&shared, &shards),
            "user": { "id": user.0, "tracker": tracker, "driver": driver },
            "outcomes": outcomes,
        }),
    )
}

async fn all_metrics(State(shared): State<Arc<Shared>>) -> Response {
    let shards = snapshots(&shared, None, 0).await;
    let mut users = serde_json::Map::new();
    for u in shards.iter().flat_map(|s| &s.users) {
        users.insert(
            u.user.0.to_string(),
            json!({ "tracker": metrics_json(&u.metrics), "driver": u.counters }),
        );
    }
    let per_shard: Vec<Value> = shards.iter().map(|s| metrics_json(&s.metrics)).collect();
    json_response(
        StatusCode::OK,
        json!({
            "uptime_s": shared.clock.now().as_micros() as f64 / 1e6,
            "global": global_json(&shared, &shards),
            "shards": per_shard,
            "users": users,
        }),
    )
}

async fn kill(State(shared): State<Arc<Shared>>, Query(q): Query<TokenQuery>) -> Response {
    if !shared.test_hooks {
        return error(StatusCode::NOT_FOUND, "test hooks are off");
    }
    let Some(user) = shared.user(&q.token) else { return unauthorized() };
    match ask(&shared, user, |reply| Input::Kill { user, reply }).await {
        Some(killed) => json_response(StatusCode::OK, json!({ "killed": killed })),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
    }
}
