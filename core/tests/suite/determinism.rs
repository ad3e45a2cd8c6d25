//! Determinism: two trackers fed the same inputs emit identical commands,
//! errors, timeouts and metrics (jitter and budgets included).

use core::time::Duration;

use acktrack::{
    Ack, Config, Echo, EventId, Instant, Jitter, RetryBudget, RtoConfig, Seq, SeqRange, StreamId,
    SubmitOptions, Tracker, UserId,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Open(u8),
    Submit { stream: u8, key: Option<u8>, deadline_ms: Option<u16> },
    Ack { stream: u8, user: u8, cumulative: u8, ranges: Vec<(u8, u8)>, echo: u8, attempt: u8 },
    Cancel(u8),
    Advance(u16),
    Timeout,
    Close(u8),
    Disconnect(u8),
    Connect { stream: u8, resume: u8 },
    Nak { stream: u8, seq: u8, delay_ms: u8 },
    Progress { stream: u8, seq: u8 },
    TransmitFailed { stream: u8, seq: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..3).prop_map(Op::Open),
        4 => (any::<u8>(), proptest::option::of(0u8..3), proptest::option::of(1u16..3000))
            .prop_map(|(stream, key, deadline_ms)| Op::Submit { stream, key, deadline_ms }),
        4 => (any::<u8>(), 0u8..4, any::<u8>(), proptest::collection::vec((any::<u8>(), 0u8..4), 0..3), any::<u8>(), 0u8..5)
            .prop_map(|(stream, user, cumulative, ranges, echo, attempt)| Op::Ack { stream, user, cumulative, ranges, echo, attempt }),
        1 => any::<u8>().prop_map(Op::Cancel),
        3 => (0u16..2000).prop_map(Op::Advance),
        2 => Just(Op::Timeout),
        1 => any::<u8>().prop_map(Op::Close),
        1 => any::<u8>().prop_map(Op::Disconnect),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(stream, resume)| Op::Connect { stream, resume }),
        1 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(stream, seq, delay_ms)| Op::Nak { stream, seq, delay_ms }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(stream, seq)| Op::Progress { stream, seq }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(stream, seq)| Op::TransmitFailed { stream, seq }),
    ]
}

fn config(seed: u64) -> Config {
    let mut c = Config { seed, ..Config::default() };
    c.retry.jitter = Jitter::Decorrelated;
    c.retry.initial_delay = Duration::from_millis(50);
    c.retry.delay_max = Duration::from_secs(2);
    c.retry.attempts_max = 6;
    c.retry.deadline = Duration::from_secs(5);
    c.rto = Some(RtoConfig {
        initial: Duration::from_millis(200),
        min: Duration::from_millis(10),
        max: Duration::from_secs(5),
    });
    c.flow.window = 3;
    c.flow.queue_max = 4;
    c.flow.user_pending_max = 8;
    c.flow.global_pending_max = 12;
    c.user_retry_budget = Some(RetryBudget { ratio_percent: 50, burst: 3, refill_per_sec: 2 });
    c.global_retry_budget = Some(RetryBudget { ratio_percent: 50, burst: 5, refill_per_sec: 3 });
    c
}

/// Runs the ops and returns a full trace: every command, every result, and
/// every wake-up time, as strings.
fn trace(seed: u64, ops: &[Op]) -> (Vec<String>, String) {
    let mut t: Tracker<u32> = Tracker::new(config(seed)).unwrap();
    let mut now = Instant::ZERO;
    let mut streams: Vec<(StreamId, UserId)> = Vec::new();
    let mut events: Vec<EventId> = Vec::new();
    let mut out = Vec::new();
    let pick = |streams: &[(StreamId, UserId)], i: u8| -> Option<(StreamId, UserId)> {
        (!streams.is_empty()).then(|| streams[i as usize % streams.len()])
    };
    for (n, op) in ops.iter().enumerate() {
        let r: String = match op {
            Op::Open(u) => {
                let r = t.open_stream(now, UserId(u64::from(*u)));
                if let Ok(s) = r {
                    streams.push((s, UserId(u64::from(*u))));
                }
                format!("{r:?}")
            }
            Op::Submit { stream, key, deadline_ms } => match pick(&streams, *stream) {
                None => continue,
                Some((s, _)) => {
                    let opts = SubmitOptions {
                        deadline: deadline_ms.map(|d| Duration::from_millis(u64::from(d))),
                        conflation_key: key.map(u64::from),
                    };
                    let r = t.submit(now, s, n as u32, opts);
                    if let Ok(e) = r {
                        events.push(e);
                    }
                    format!("{r:?}")
                }
            },
            Op::Ack { stream, user, cumulative, ranges, echo, attempt } => {
                match pick(&streams, *stream) {
                    None => continue,
                    Some((s, owner)) => {
                        let next = t.stream_info(s).map_or(0, |i| i.next_seq.0);
                        let user = if *user == 0 { UserId(99) } else { owner };
                        let cum = u64::from(*cumulative) % (next + 2);
                        let ranges = ranges
                            .iter()
                            .map(|&(a, len)| {
                                let a = cum + u64::from(a) % 4;
                                SeqRange::new(a, a + u64::from(len))
                            })
                            .collect();
                        let echo = Echo {
                            seq: Seq(u64::from(*echo) % (next + 1)),
                            attempt: u32::from(*attempt),
                        };
                        let a = Ack { stream: s, cumulative: Seq(cum), ranges, echo: Some(echo) };
                        format!("{:?}", t.handle_ack(now, user, &a))
                    }
                }
            }
            Op::Cancel(i) => match events.get(*i as usize % events.len().max(1)) {
                None => continue,
                Some(&e) => format!("{:?}", t.cancel(now, e)),
            },
            Op::Advance(d) => {
                now = now.saturating_add(Duration::from_millis(u64::from(*d)));
                continue;
            }
            Op::Timeout => {
                if let Some(at) = t.poll_timeout() {
                    now = now.max(at);
                }
                t.handle_timeout(now);
                String::new()
            }
            Op::Close(i) => match pick(&streams, *i) {
                None => continue,
                Some((s, _)) => format!("{:?}", t.close_stream(now, s)),
            },
            Op::Disconnect(i) => match pick(&streams, *i) {
                None => continue,
                Some((s, _)) => format!("{:?}", t.handle_disconnect(now, s)),
            },
            Op::Connect { stream, resume } => match pick(&streams, *stream) {
                None => continue,
                Some((s, _)) => {
                    format!("{:?}", t.handle_connect(now, s, Seq(u64::from(*resume) % 8)))
                }
            },
            Op::Nak { stream, seq, delay_ms } => match pick(&streams, *stream) {
                None => continue,
                Some((s, u)) => {
                    let d = Duration::from_millis(u64::from(*delay_ms));
                    format!("{:?}", t.handle_nak(now, u, s, Seq(u64::from(*seq) % 8), d))
                }
            },
            Op::Progress { stream, seq } => match pick(&streams, *stream) {
                None => continue,
                Some((s, u)) => {
                    format!("{:?}", t.handle_progress(now, u, s, Seq(u64::from(*seq) % 8)))
                }
            },
            Op::TransmitFailed { stream, seq } => match pick(&streams, *stream) {
                None => continue,
                Some((s, _)) => {
                    format!("{:?}", t.handle_transmit_failed(now, s, Seq(u64::from(*seq) % 8)))
                }
            },
        };
        out.push(format!("{n} {now} {r}"));
        while let Some(c) = t.poll_command() {
            out.push(format!("{c:?}"));
        }
        out.push(format!("wake {:?}", t.poll_timeout()));
    }
    (out, format!("{:?}", t.metrics()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::common::cases(128), ..ProptestConfig::default() })]

    #[test]
    fn same_inputs_same_commands(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..120)) {
        let a = trace(seed, &ops);
        let b = trace(seed, &ops);
        prop_assert_eq!(a, b);
    }
}

#[test]
fn the_trace_is_not_trivially_equal() {
    // Guard against a vacuous determinism test: a busy script produces
    // commands, and the jitter seed changes the trace.
    let mut ops = vec![Op::Open(1), Op::Open(2)];
    for i in 0..30u8 {
        ops.push(Op::Submit { stream: i, key: None, deadline_ms: None });
        ops.push(Op::Advance(37));
        ops.push(Op::Timeout);
    }
    for _ in 0..40 {
        ops.push(Op::Timeout);
    }
    let (a, _) = trace(1, &ops);
    let (b, _) = trace(2, &ops);
    assert!(a.iter().filter(|l| l.starts_with("Retry")).count() > 10);
    assert_ne!(a, b);
}
