//! `acktrack-demo`: serve the demo on loopback and print where.
//!
//! ```text
//! acktrack-demo [--addr 127.0.0.1:8080] [--shards N] [--users N]
//!               [--tokens TOKEN:USER,...] [--test-hooks]
//! ```

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::process::ExitCode;

use acktrack::UserId;
use acktrack_demo::{ServerConfig, serve};

const USAGE: &str = "usage: acktrack-demo [--addr 127.0.0.1:8080] [--shards N] [--users N] \
                     [--tokens TOKEN:USER,...] [--test-hooks]

  --addr ADDR         loopback address to listen on (port 0: any free port)
  --shards N          tracker shards, one task each (default: one per core)
  --users N           without --tokens: generate tokens for users 1..=N (default 3)
  --tokens LIST       token:user pairs, comma separated (user is a number)
  --test-hooks        enable POST /api/test/kill (drops a user's sockets)";

struct Args {
    addr: SocketAddr,
    shards: Option<usize>,
    users: u64,
    tokens: Option<BTreeMap<String, UserId>>,
    test_hooks: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
        shards: None,
        users: 3,
        tokens: None,
        test_hooks: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--addr" => args.addr = value("--addr")?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--shards" => {
                args.shards =
                    Some(value("--shards")?.parse().map_err(|e| format!("--shards: {e}"))?)
            }
            "--users" => {
                args.users = value("--users")?.parse().map_err(|e| format!("--users: {e}"))?
            }
            "--tokens" => args.tokens = Some(parse_tokens(&value("--tokens")?)?),
            "--test-hooks" => args.test_hooks = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn parse_tokens(list: &str) -> Result<BTreeMap<String, UserId>, String> {
    let mut tokens = BTreeMap::new();
    for pair in list.split(',').filter(|p| !p.is_empty()) {
        let (token, user) =
            pair.split_once(':').ok_or(format!("--tokens: {pair:?} is not TOKEN:USER"))?;
        let user = user.parse().map_err(|e| format!("--tokens: user in {pair:?}: {e}"))?;
        if token.is_empty() || tokens.insert(token.to_string(), UserId(user)).is_some() {
            return Err(format!("--tokens: empty or repeated token in {pair:?}"));
        }
    }
    Ok(tokens)
}

/// A random token: 128 bits from the standard library's per-process random
/// hasher keys (no RNG dependency for a demo).
fn random_token() -> String {
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("acktrack-demo: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let tokens = args.tokens.unwrap_or_else(|| {
        (1..=args.users.max(1)).map(|user| (random_token(), UserId(user))).collect()
    });
    let mut config = ServerConfig::new(args.addr, tokens.clone());
    if let Some(shards) = args.shards {
        config.shards = shards;
    }
    config.test_hooks = args.test_hooks;
    let shards = config.shards;
    let server = match serve(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("acktrack-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("acktrack demo listening on {} ({shards} shards)", server.url());
    let mut by_user: Vec<_> = tokens.iter().collect();
    by_user.sort_by_key(|(_, user)| **user);
    for (token, user) in by_user {
        println!("  user {}: {}/?token={token}", user.0, server.url());
    }
    println!("  metrics: {}/metrics", server.url());
    if args.test_hooks {
        println!("  test hooks on: POST {}/api/test/kill?token=…", server.url());
    }
    server.wait().await;
    ExitCode::SUCCESS
}
