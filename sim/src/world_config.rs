//! The world a seed draws: sizes, workload, network, faults and tracker policy.

use core::time::Duration;

use acktrack::{Config, FlowControl, Jitter, RetryBudget, RetryPolicy, RtoConfig};
use serde::Serialize;

use crate::choice::Choices;

/// Every kind of fault the simulator can inject. Swarm testing leaves a random
/// subset out of each world, so rare interactions are not drowned by noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum FaultKind {
    /// Latency from a wide distribution (uniform, exponential, heavy-tailed)
    /// instead of a constant.
    Jitter,
    /// Independent loss.
    Loss,
    /// Gilbert–Elliott bursty loss.
    BurstLoss,
    /// Messages delivered twice.
    Duplication,
    /// Messages delayed past later ones.
    Reordering,
    /// Link capacity: messages beyond it are dropped.
    Capacity,
    /// Both directions of a connection cut for a while.
    Partition,
    /// Events arrive but acks are lost.
    AsymmetricPartition,
    /// The connection drops; the client reconnects and resumes.
    ConnectionDrop,
    /// The client loses its receiver state (then reconnects from zero).
    ClientCrash,
    /// The server's clock jumps forward (a paused process) or steps back.
    ClockJump,
    /// A client acks other users' streams.
    ForeignAck,
    /// A client acks seqs that were never sent.
    UnsentAck,
    /// A client sends undecodable or malformed frames.
    Garbage,
}

impl FaultKind {
    /// All kinds, in a fixed order.
    pub const ALL: [FaultKind; 14] = [
        FaultKind::Jitter,
        FaultKind::Loss,
        FaultKind::BurstLoss,
        FaultKind::Duplication,
        FaultKind::Reordering,
        FaultKind::Capacity,
        FaultKind::Partition,
        FaultKind::AsymmetricPartition,
        FaultKind::ConnectionDrop,
        FaultKind::ClientCrash,
        FaultKind::ClockJump,
        FaultKind::ForeignAck,
        FaultKind::UnsentAck,
        FaultKind::Garbage,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Jitter => "jitter",
            FaultKind::Loss => "loss",
            FaultKind::BurstLoss => "burst-loss",
            FaultKind::Duplication => "duplication",
            FaultKind::Reordering => "reordering",
            FaultKind::Capacity => "capacity-drop",
            FaultKind::Partition => "partition",
            FaultKind::AsymmetricPartition => "asym-partition",
            FaultKind::ConnectionDrop => "conn-drop",
            FaultKind::ClientCrash => "client-crash",
            FaultKind::ClockJump => "clock-jump",
            FaultKind::ForeignAck => "foreign-ack",
            FaultKind::UnsentAck => "unsent-ack",
            FaultKind::Garbage => "garbage",
        }
    }
}

/// How one-way latency is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum LatencyModel {
    /// Always `base`.
    Constant,
    /// Uniform in `[base, base + spread]`.
    Uniform,
    /// `base` plus an exponential with mean `spread`.
    Exponential,
    /// `base` plus a Pareto (α = 1.5) with scale `spread / 3`, capped at 20 × spread.
    HeavyTailed,
}

/// The network between the server and every client.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct NetConfig {
    /// Latency distribution.
    pub latency: LatencyModel,
    /// Minimum one-way latency, µs.
    pub latency_base_us: u64,
    /// Scale of the variable part, µs.
    pub latency_spread_us: u64,
    /// Independent loss probability.
    pub loss: f64,
    /// Gilbert–Elliott: good → bad probability per message.
    pub ge_enter_bad: f64,
    /// Gilbert–Elliott: bad → good probability per message.
    pub ge_leave_bad: f64,
    /// Gilbert–Elliott: loss probability in the bad state.
    pub ge_loss_bad: f64,
    /// Duplication probability.
    pub duplicate: f64,
    /// Probability a message is held back by up to `reorder_delay_us`.
    pub reorder: f64,
    /// Maximum extra delay of a reordered message, µs.
    pub reorder_delay_us: u64,
    /// Messages a link carries at once; beyond that they are dropped (0: unlimited).
    pub capacity: u32,
}

/// The application driving the tracker.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct WorkloadConfig {
    /// Users (each with its own streams).
    pub users: u32,
    /// Streams per user at the start.
    pub streams_per_user: u32,
    /// Events submitted in the workload phase.
    pub events: u32,
    /// Mean time between arrivals (all users together), µs.
    pub arrival_mean_us: u64,
    /// Probability an arrival is a burst.
    pub burst: f64,
    /// Largest burst.
    pub burst_max: u32,
    /// Zipf exponent over users (0: uniform; higher: hotter hot users).
    pub zipf: f64,
    /// Probability an event is a conflatable progress event.
    pub progress: f64,
    /// Distinct conflation keys per stream.
    pub keys: u32,
    /// Probability an event carries its own deadline.
    pub deadline_override: f64,
    /// Probability an arrival also cancels a recent event.
    pub cancel: f64,
    /// Probability an arrival also closes a stream and opens a new one.
    pub reopen: f64,
    /// Probability a stream asks for ordered delivery.
    pub ordered: f64,
}

/// The clients' receiver settings.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ClientConfig {
    /// Ack after this many events.
    pub ack_every: u32,
    /// Or after this long, µs.
    pub ack_delay_us: u64,
    /// Reorder buffer of ordered receivers, events.
    pub reorder_buffer: u32,
    /// Probability the application naks a new event (asks for a redelivery).
    pub nak: f64,
    /// Longest redelivery delay a nak asks for, µs.
    pub nak_delay_max_us: u64,
    /// Probability the application reports progress on a new event.
    pub progress: f64,
}

/// Rates of the scheduled faults, per simulated second (0: never).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct FaultRates {
    /// Partitions (symmetric) per second, over all connections.
    pub partition: f64,
    /// Asymmetric partitions per second.
    pub asym_partition: f64,
    /// Longest partition, µs.
    pub partition_max_us: u64,
    /// Connection drops per second.
    pub conn_drop: f64,
    /// Longest time before a dropped client reconnects, µs.
    pub downtime_max_us: u64,
    /// Client crashes per second.
    pub crash: f64,
    /// Server clock jumps per second.
    pub clock_jump: f64,
    /// Largest forward jump, µs.
    pub clock_jump_max_us: u64,
    /// Malicious frames per second (of each malicious kind).
    pub malicious: f64,
}

/// Everything a seed decides.
#[derive(Clone, Debug, Serialize)]
pub struct WorldConfig {
    /// Which fault kinds this world may use.
    pub faults: Vec<FaultKind>,
    /// The application.
    pub workload: WorkloadConfig,
    /// The clients.
    pub client: ClientConfig,
    /// The network.
    pub net: NetConfig,
    /// Scheduled faults.
    pub rates: FaultRates,
    /// The tracker's policy.
    #[serde(skip)]
    pub tracker: Config,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl WorldConfig {
    /// Whether the world may inject `kind`.
    pub fn has(&self, kind: FaultKind) -> bool {
        self.faults.contains(&kind)
    }

    /// Draws a world. `scale` multiplies the event count (1 for the swarm).
    pub fn draw(c: &mut Choices) -> WorldConfig {
        // Swarm testing: each kind is in with probability 1/2 (a zero tape: none).
        let faults: Vec<FaultKind> = FaultKind::ALL.into_iter().filter(|_| c.chance(0.5)).collect();
        let has = |k| faults.contains(&k);

        let workload = WorkloadConfig {
            users: c.range(1, 6) as u32,
            streams_per_user: c.range(1, 3) as u32,
            events: c.range(20, 1200) as u32,
            arrival_mean_us: c.range(1_000, 40_000),
            burst: if c.chance(0.5) { 0.1 } else { 0.0 },
            burst_max: c.range(2, 12) as u32,
            zipf: c.range(0, 20) as f64 / 10.0,
            progress: c.range(0, 5) as f64 / 10.0,
            keys: c.range(1, 3) as u32,
            deadline_override: if c.chance(0.5) { 0.2 } else { 0.0 },
            cancel: if c.chance(0.5) { 0.05 } else { 0.0 },
            reopen: if c.chance(0.5) { 0.01 } else { 0.0 },
            ordered: c.range(0, 10) as f64 / 10.0,
        };
        let client = ClientConfig {
            ack_every: c.range(1, 4) as u32,
            ack_delay_us: c.range(0, 20) * 1000,
            reorder_buffer: c.range(1, 64) as u32,
            nak: 0.0,
            nak_delay_max_us: 0,
            progress: 0.0,
        };
        let latency = if has(FaultKind::Jitter) {
            [LatencyModel::Uniform, LatencyModel::Exponential, LatencyModel::HeavyTailed]
                [c.below(3) as usize]
        } else {
            c.u64();
            LatencyModel::Constant
        };
        let p = |c: &mut Choices, on: bool, max_percent: u64| {
            let v = c.range(1, max_percent) as f64 / 100.0;
            if on { v } else { 0.0 }
        };
        let net = NetConfig {
            latency,
            latency_base_us: c.range(1, 80) * 1000,
            latency_spread_us: c.range(1, 100) * 1000,
            loss: p(c, has(FaultKind::Loss), 40),
            ge_enter_bad: p(c, has(FaultKind::BurstLoss), 10),
            ge_leave_bad: c.range(10, 50) as f64 / 100.0,
            ge_loss_bad: c.range(50, 100) as f64 / 100.0,
            duplicate: p(c, has(FaultKind::Duplication), 20),
            reorder: p(c, has(FaultKind::Reordering), 30),
            reorder_delay_us: c.range(1, 200) * 1000,
            capacity: if has(FaultKind::Capacity) { c.range(1, 32) as u32 } else { 0 },
        };
        let rate = |c: &mut Choices, on: bool, max_tenths: u64| {
            let v = c.range(1, max_tenths) as f64 / 10.0;
            if on { v } else { 0.0 }
        };
        let rates = FaultRates {
            partition: rate(c, has(FaultKind::Partition), 20),
            asym_partition: rate(c, has(FaultKind::AsymmetricPartition), 20),
            partition_max_us: c.range(50, 5_000) * 1000,
            conn_drop: rate(c, has(FaultKind::ConnectionDrop), 20),
            downtime_max_us: c.range(1, 3_000) * 1000,
            crash: rate(c, has(FaultKind::ClientCrash), 10),
            clock_jump: rate(c, has(FaultKind::ClockJump), 10),
            clock_jump_max_us: c.range(10, 10_000) * 1000,
            malicious: c.range(1, 20) as f64,
        };
        let tracker = draw_tracker_config(c);
        let client = ClientConfig {
            nak: if c.chance(0.3) { c.range(1, 10) as f64 / 100.0 } else { 0.0 },
            nak_delay_max_us: c.range(0, 500) * 1000,
            progress: if c.chance(0.3) { c.range(1, 10) as f64 / 100.0 } else { 0.0 },
            ..client
        };
        WorldConfig { faults, workload, client, net, rates, tracker }
    }
}

fn draw_tracker_config(c: &mut Choices) -> Config {
    let initial = ms(c.range(20, 1000));
    let jitter =
        [Jitter::Equal, Jitter::None, Jitter::Full, Jitter::Decorrelated][c.below(4) as usize];
    let retry = RetryPolicy {
        initial_delay: initial,
        backoff_factor: c.range(10, 30) as f64 / 10.0,
        delay_max: initial + ms(c.range(0, 5000)),
        jitter,
        attempts_max: c.range(2, 12) as u32,
        deadline: ms(c.range(500, 30_000)),
    };
    let rto = if c.chance(0.5) {
        let min = ms(c.range(10, 300));
        Some(RtoConfig {
            initial: min + ms(c.range(0, 1000)),
            min,
            max: min + ms(c.range(1000, 10_000)),
        })
    } else {
        None
    };
    let tight = c.chance(0.3);
    let flow = FlowControl {
        window: c.range(1, 64) as u32,
        queue_max: c.range(0, 256) as u32,
        user_pending_max: if tight { c.range(1, 64) as u32 } else { c.range(64, 10_000) as u32 },
        global_pending_max: if tight { c.range(1, 128) as u32 } else { 1_000_000 },
        streams_max: 1_000_000,
    };
    let budget = |c: &mut Choices| {
        let on = c.chance(0.6);
        let b = RetryBudget {
            ratio_percent: c.range(0, 100) as u32,
            burst: c.range(1, 64) as u32,
            refill_per_sec: c.range(0, 50) as u32,
        };
        on.then_some(b)
    };
    let user_retry_budget = budget(c);
    let global_retry_budget = budget(c);
    Config {
        retry,
        rto,
        flow,
        user_retry_budget,
        global_retry_budget,
        ack_ranges_max: c.range(0, 32) as u32,
        seed: c.u64(),
    }
}
