//! acktrack embedded in a real runtime: a tokio + WebSocket server that streams
//! a simulated AI agent's events to browser tabs and confirms every one.
//!
//! This crate is the worked example of "Embed acktrack in your runtime" (see
//! `demo/README.md`). The shape of the embedding:
//!
//! - **Shards own trackers.** [`serve`] starts `shards` tasks; each owns one
//!   [`acktrack::Tracker`] outright (no lock, no `Arc`). Users are partitioned
//!   across shards (`user % shards`), so every stream of a user, and every ack
//!   about it, lands on the same shard. Everything else (WebSocket
//!   connections, HTTP handlers, agent runs) talks to a shard through its
//!   channel.
//! - **One loop per shard** (`shard.rs`): wait for an input *or* the tracker's
//!   single timeout (`poll_timeout`), feed it in with the clock converted to
//!   [`acktrack::Instant`], then drain `poll_command` and turn each command
//!   into a frame on the stream's socket, or a recorded outcome.
//! - **Connections are thin** (`conn.rs`): a connection is authenticated as one
//!   user by its token before the upgrade; it decodes client frames with
//!   [`acktrack::Frame::from_json`] under [`acktrack::DecodeLimits`] and
//!   forwards them tagged with *its* user, so the tracker's ownership check
//!   keeps users apart. Bad input closes the socket with a WebSocket close
//!   code and is counted for that user.
//!
//! HTTP surface (all on loopback):
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the page (plain JavaScript client of `PROTOCOL.md`) |
//! | `GET /ws?token=T` | the WebSocket: hello, event, skip, ack, nak, progress frames (JSON) |
//! | `POST /api/streams?token=T` | opens a stream for the token's user: `{"stream":"…"}` |
//! | `POST /api/runs?token=T&stream=S&steps=&thinking=&pace_ms=&conflate=` | starts an agent run on the stream |
//! | `GET /api/metrics?token=T&since=N` | global and this user's metrics, and outcomes recorded after `N` |
//! | `GET /metrics` | operator view: global, per shard and per user metrics |
//! | `POST /api/test/kill?token=T` | only with `test_hooks`: drops the user's sockets abruptly |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod clock;
mod conn;
mod http;
mod shard;
mod stats;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use acktrack::UserId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use agent::{AgentEvent, EventKind, RunSpec};

/// Everything [`serve`] needs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen. The demo refuses anything but a loopback address.
    pub addr: SocketAddr,
    /// Tracker shards (tasks each owning one `Tracker`), at least 1.
    pub shards: usize,
    /// Token → user: who may connect, and as whom.
    pub tokens: BTreeMap<String, UserId>,
    /// The tracker policy every shard uses (each shard's seed is offset by
    /// its index, so their jitter differs).
    pub tracker: acktrack::Config,
    /// Enables `POST /api/test/kill`, which drops a user's sockets abruptly
    /// (the browser test uses it). Off by default.
    pub test_hooks: bool,
}

impl ServerConfig {
    /// Loopback on `addr`, one shard per core, the demo's tracker policy
    /// ([`demo_tracker_config`]), no test hooks.
    pub fn new(addr: SocketAddr, tokens: BTreeMap<String, UserId>) -> Self {
        let shards = std::thread::available_parallelism().map_or(1, |n| n.get());
        ServerConfig { addr, shards, tokens, tracker: demo_tracker_config(), test_hooks: false }
    }
}

/// The demo's tracker policy: the defaults, with the RFC 6298 adaptive timeout
/// on (loopback round trips are short, so retries come quickly after a stall)
/// and a 30 s deadline.
pub fn demo_tracker_config() -> acktrack::Config {
    use std::time::Duration;
    let defaults = acktrack::Config::default();
    acktrack::Config {
        rto: Some(acktrack::RtoConfig {
            initial: Duration::from_millis(300),
            min: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }),
        retry: acktrack::RetryPolicy {
            delay_max: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
            attempts_max: 32,
            ..defaults.retry
        },
        ..defaults
    }
}

/// Why [`serve`] could not start.
#[derive(Debug)]
pub enum ServeError {
    /// The address is not a loopback address.
    NotLoopback(SocketAddr),
    /// `shards` is 0.
    NoShards,
    /// The tracker config is invalid.
    Config(acktrack::ConfigError),
    /// Binding the listener failed.
    Io(io::Error),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::NotLoopback(addr) => {
                write!(f, "{addr} is not a loopback address; the demo serves loopback only")
            }
            ServeError::NoShards => f.write_str("at least one shard is needed"),
            ServeError::Config(e) => write!(f, "{e}"),
            ServeError::Io(e) => write!(f, "cannot listen: {e}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// A running server. Dropping it leaves it running; call
/// [`Server::shutdown`] to stop accepting.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and serving requests. Connections
    /// already upgraded end when their peers go away or the runtime stops.
    pub fn shutdown(self) {
        self.task.abort();
    }

    /// Waits until the server stops (it does not, unless shut down or it fails).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// What every handler and connection shares: the shard channels, the token
/// map and a few counters that belong to no user. No tracker state is in here.
#[derive(Debug)]
struct Shared {
    shards: Vec<mpsc::Sender<shard::Input>>,
    tokens: BTreeMap<String, UserId>,
    test_hooks: bool,
    clock: clock::Clock,
    next_conn: AtomicU64,
    next_run: AtomicU64,
    /// Upgrade or API requests with an unknown token (no user to charge them to).
    auth_failures: AtomicU64,
}

impl Shared {
    fn user(&self, token: &str) -> Option<UserId> {
        let user = self.tokens.get(token).copied();
        if user.is_none() {
            self.auth_failures.fetch_add(1, Ordering::Relaxed);
        }
        user
    }

    /// The shard that owns `user`'s streams.
    fn shard(&self, user: UserId) -> &mpsc::Sender<shard::Input> {
        // `shards` is never empty (checked in `serve`).
        let n = self.shards.len() as u64;
        &self.shards[(user.0 % n) as usize]
    }
}

/// Inputs a shard's channel holds before senders wait.
const SHARD_QUEUE: usize = 4096;

/// Binds `config.addr`, starts the shards and serves until shut down.
pub async fn serve(config: ServerConfig) -> Result<Server, ServeError> {
    if !config.addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(config.addr));
    }
    if config.shards == 0 {
        return Err(ServeError::NoShards);
    }
    config.tracker.validate().map_err(ServeError::Config)?;
    let clock = clock::Clock::start();
    let mut shards = Vec::with_capacity(config.shards);
    for index in 0..config.shards {
        let mut tracker_config = config.tracker;
        tracker_config.seed = tracker_config.seed.wrapping_add(index as u64);
        let tracker = acktrack::Tracker::new(tracker_config).map_err(ServeError::Config)?;
        let (tx, rx) = mpsc::channel(SHARD_QUEUE);
        tokio::spawn(shard::Shard::new(tracker, clock).run(rx));
        shards.push(tx);
    }
    let shared = Arc::new(Shared {
        shards,
        tokens: config.tokens,
        test_hooks: config.test_hooks,
        clock,
        next_conn: AtomicU64::new(1),
        next_run: AtomicU64::new(1),
        auth_failures: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(ServeError::Io)?;
    let addr = listener.local_addr().map_err(ServeError::Io)?;
    let app = http::router(shared);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("acktrack-demo: server stopped: {e}");
        }
    });
    Ok(Server { addr, task })
}
