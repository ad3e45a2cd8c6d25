//! Shared pieces of the end-to-end tests: a server on loopback, a tiny HTTP
//! client, a fault-injecting TCP proxy and a WebSocket client built on the
//! Rust `Receiver`.
#![allow(dead_code, unreachable_pub)]

pub mod proxy;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use acktrack::{
    DecodeLimits, Delivery, Frame, Receiver, ReceiverConfig, ReceiverMetrics, StreamId, UserId,
};
use acktrack_demo::{AgentEvent, Server, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The token of test user `user`.
pub fn token(user: u64) -> String {
    format!("token-{user}")
}

/// A server on a free loopback port with users `1..=users` (tokens `token-N`).
pub async fn start_server(users: u64, test_hooks: bool) -> Server {
    let tokens: BTreeMap<String, UserId> = (1..=users).map(|u| (token(u), UserId(u))).collect();
    let mut config = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), tokens);
    config.shards = 2;
    config.test_hooks = test_hooks;
    acktrack_demo::serve(config).await.expect("server starts")
}

/// One HTTP/1.1 request, straight to the server (no proxy): status and JSON body.
pub async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let text = String::from_utf8(response).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Opens a stream for `user`.
pub async fn open_stream(addr: SocketAddr, user: u64) -> StreamId {
    let (status, body) = http(addr, "POST", &format!("/api/streams?token={}", token(user))).await;
    assert_eq!(status, 200, "{body}");
    StreamId::from_bits(body["stream"].as_str().unwrap().parse().unwrap())
}

/// Starts an agent run; returns how many events it will submit.
pub async fn start_run(
    addr: SocketAddr,
    user: u64,
    stream: StreamId,
    steps: u32,
    thinking: u32,
    pace_ms: u64,
) -> u64 {
    let path = format!(
        "/api/runs?token={}&stream={}&steps={steps}&thinking={thinking}&pace_ms={pace_ms}&conflate=false",
        token(user),
        stream.to_bits()
    );
    let (status, body) = http(addr, "POST", &path).await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_u64().unwrap()
}

/// The operator metrics.
pub async fn metrics(addr: SocketAddr) -> Value {
    let (status, body) = http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    body
}

/// A counter from `/metrics` JSON: `user` (or global if `None`), `part`
/// ("tracker" or "driver"), `name`.
pub fn counter(m: &Value, user: Option<u64>, part: &str, name: &str) -> u64 {
    let scope = match user {
        Some(u) => &m["users"][u.to_string()],
        None => &m["global"],
    };
    scope[part][name].as_u64().unwrap_or(0)
}

/// What a following client saw.
#[derive(Debug)]
pub struct Followed {
    pub deliveries: Vec<Delivery<AgentEvent>>,
    pub connects: u32,
    pub refused: u64,
    pub metrics: ReceiverMetrics,
}

/// Follows `stream` over `ws_url` like a browser tab would: a `Receiver` that
/// lives across reconnects, hello with its resume point on every
/// connection, acks as the receiver asks. Reconnects (with a short backoff)
/// whenever the socket dies, until `stop` turns true or `deadline`.
/// `progress` holds the number of events released so far.
pub async fn follow(
    ws_url: String,
    stream: StreamId,
    mut stop: watch::Receiver<bool>,
    progress: Arc<AtomicUsize>,
    deadline: tokio::time::Instant,
) -> Followed {
    let start = tokio::time::Instant::now();
    let now =
        || acktrack::Instant::from_micros(u64::try_from(start.elapsed().as_micros()).unwrap());
    let mut rx: Receiver<AgentEvent> = Receiver::new(stream, ReceiverConfig::default()).unwrap();
    let mut out = Followed {
        deliveries: Vec::new(),
        connects: 0,
        refused: 0,
        metrics: ReceiverMetrics::default(),
    };
    let mut backoff = Duration::from_millis(20);
    // Bounded by `deadline`: every wait below also races it.
    'connect: while !*stop.borrow() && tokio::time::Instant::now() < deadline {
        let connecting = tokio_tungstenite::connect_async(ws_url.as_str());
        let mut ws = match tokio::time::timeout(Duration::from_secs(2), connecting).await {
            Ok(Ok((ws, _))) => ws,
            _ => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(400));
                continue;
            }
        };
        backoff = Duration::from_millis(20);
        out.connects += 1;
        let hello = Frame::<AgentEvent>::Hello(rx.hello()).to_json().unwrap();
        if ws.send(Message::Text(hello.into())).await.is_err() {
            continue;
        }
        loop {
            let ack_wake =
                rx.poll_timeout().map(|at| start + Duration::from_micros(at.as_micros()));
            tokio::select! {
                _ = stop.changed() => {
                    let bye = CloseFrame { code: CloseCode::Normal, reason: "done".into() };
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.send(Message::Close(Some(bye)))).await;
                    break 'connect;
                }
                () = tokio::time::sleep_until(deadline) => break 'connect,
                () = sleep_until(ack_wake) => rx.handle_timeout(now()),
                message = ws.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        match Frame::<AgentEvent>::from_json(text.as_bytes(), DecodeLimits::default()) {
                            Ok(frame) => {
                                if rx.handle_frame(now(), frame).is_err() {
                                    out.refused += 1;
                                }
                            }
                            Err(_) => out.refused += 1,
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => continue 'connect,
                    Some(Ok(_)) => {}
                },
            }
            while let Some(delivery) = rx.poll_delivery() {
                out.deliveries.push(delivery);
            }
            progress.store(rx.metrics().delivered as usize, Ordering::Relaxed);
            while let Some(ack) = rx.poll_ack() {
                let text = Frame::<AgentEvent>::Ack(ack).to_json().unwrap();
                if ws.send(Message::Text(text.into())).await.is_err() {
                    continue 'connect;
                }
            }
        }
    }
    out.metrics = *rx.metrics();
    out
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A raw WebSocket, straight to the server (no proxy).
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Connects as `user` (with its token), straight to the server.
pub async fn connect(addr: SocketAddr, user: u64) -> Socket {
    let url = format!("ws://{addr}/ws?token={}", token(user));
    tokio_tungstenite::connect_async(url).await.expect("websocket connects").0
}

/// Sends one text message.
pub async fn send_text(ws: &mut Socket, text: impl Into<String>) {
    ws.send(Message::Text(text.into().into())).await.expect("send");
}

/// Sends one frame as JSON.
pub async fn send_frame(ws: &mut Socket, frame: Frame<AgentEvent>) {
    send_text(ws, frame.to_json().unwrap()).await;
}

/// The next frame from the server, within 5 s.
pub async fn next_frame(ws: &mut Socket) -> Frame<AgentEvent> {
    // Bounded: at most a few control messages precede a frame.
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("socket ok");
        if let Message::Text(text) = message {
            return Frame::from_json(text.as_bytes(), DecodeLimits::default()).expect("a frame");
        }
    }
}

/// Reads until the server closes the socket; the close code, or `None` if
/// it just went away.
pub async fn close_code(ws: &mut Socket) -> Option<u16> {
    // Bounded by the timeout.
    let wait = async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(5), wait).await.expect("closed in time")
}

/// Polls `/metrics` until `done` holds (at most 10 s); returns the last metrics.
pub async fn wait_for(addr: SocketAddr, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = metrics(addr).await;
        if done(&m) {
            return m;
        }
        assert!(tokio::time::Instant::now() < deadline, "condition not met in time: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
