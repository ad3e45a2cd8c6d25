//! A fault-injecting TCP proxy for loopback tests. Every accepted connection
//! is piped to the upstream address through two tasks (one per direction)
//! that delay chunks, sometimes stall for a while, and kill the whole
//! connection (both sockets dropped, no close handshake) after a random
//! lifetime. Randomness comes from a ChaCha RNG seeded per connection from
//! the proxy's seed and the connection's number. `heal` stops every fault
//! for connections old and new, so that a test can demand convergence.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does to connections.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Each chunk waits up to this long (uniform), milliseconds.
    pub delay_max_ms: u64,
    /// Chance per chunk of a stall, in thousandths.
    pub stall_permille: u64,
    /// A stall lasts this long (uniform in the range), milliseconds.
    pub stall_ms: (u64, u64),
    /// A connection is killed after this long (uniform in the range), milliseconds.
    pub life_ms: (u64, u64),
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicU64,
    pub kills: AtomicU64,
    pub stalls: AtomicU64,
    pub bytes: AtomicU64,
}

/// A running proxy. Dropping it stops it and drops every connection.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    pub stats: Arc<ProxyStats>,
    healed: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port, forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr, seed: u64, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ProxyStats::default());
        let healed = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            seed,
            faults,
            healed.clone(),
            stats.clone(),
        ));
        Proxy { addr, stats, healed, task }
    }

    /// Stops injecting faults, now and for every later connection.
    pub fn heal(&self) {
        self.healed.store(true, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn between(rng: &mut ChaCha8Rng, (low, high): (u64, u64)) -> u64 {
    low + rng.next_u64() % (high - low + 1)
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    seed: u64,
    faults: Faults,
    healed: Arc<AtomicBool>,
    stats: Arc<ProxyStats>,
) {
    // Owned here, so aborting this task aborts every connection.
    let mut connections = JoinSet::new();
    let mut number = 0u64;
    while let Ok((client, _)) = listener.accept().await {
        number += 1;
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let rng = ChaCha8Rng::seed_from_u64(seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        connections.spawn(pipe(client, upstream, rng, faults, healed.clone(), stats.clone()));
        while connections.try_join_next().is_some() {}
    }
}

async fn pipe(
    client: TcpStream,
    upstream: SocketAddr,
    mut rng: ChaCha8Rng,
    faults: Faults,
    healed: Arc<AtomicBool>,
    stats: Arc<ProxyStats>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let life = Duration::from_millis(between(&mut rng, faults.life_ms));
    let up_rng = ChaCha8Rng::seed_from_u64(rng.next_u64());
    let down_rng = ChaCha8Rng::seed_from_u64(rng.next_u64());
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = copy(client_read, server_write, up_rng, faults, healed.clone(), stats.clone());
    let down = copy(server_read, client_write, down_rng, faults, healed.clone(), stats.clone());
    let killer = async {
        tokio::time::sleep(life).await;
        if healed.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        () = killer => {
            stats.kills.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Returning drops all four halves: both sockets close, mid-frame or not.
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut rng: ChaCha8Rng,
    faults: Faults,
    healed: Arc<AtomicBool>,
    stats: Arc<ProxyStats>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    // Bounded by the connection: ends at EOF, on an error, or when killed.
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if !healed.load(Ordering::Relaxed) {
            let mut wait = between(&mut rng, (0, faults.delay_max_ms));
            if rng.next_u64() % 1000 < faults.stall_permille {
                stats.stalls.fetch_add(1, Ordering::Relaxed);
                wait += between(&mut rng, faults.stall_ms);
            }
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}
