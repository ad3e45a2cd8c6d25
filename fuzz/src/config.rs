//! `config`: arbitrary [`Config`]s and [`ReceiverConfig`]s, valid or not.
//!
//! `validate` must accept or reject each with a [`ConfigError`] naming a
//! field, `Tracker::new` / `Receiver::new` must agree with it, and a pair
//! built from accepted configs must run a short scripted exchange (its first
//! transmissions lost) to the end without panicking: every event finishes and
//! the receiver releases each seq at most once.

use std::collections::BTreeSet;

use acktrack::{
    Command, Config, ConfigError, Delivery, DeliveryOrder, EventFrame, FlowControl, Frame, Instant,
    Jitter, Receiver, ReceiverConfig, RetryBudget, RetryPolicy, RtoConfig, SkipFrame, StreamId,
    SubmitOptions, Tracker, UserId,
};
use arbitrary::{Arbitrary, Unstructured};
use core::time::Duration;

/// A duration biased towards the interesting: small, zero, huge, or any.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Dur {
    Millis(u16),
    Secs(u32),
    Zero,
    Max,
    Raw(u64, u32),
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Millis(n) => Duration::from_millis(u64::from(n)),
            Dur::Secs(n) => Duration::from_secs(u64::from(n)),
            Dur::Zero => Duration::ZERO,
            Dur::Max => Duration::MAX,
            Dur::Raw(s, n) => Duration::new(s, n % 1_000_000_000),
        }
    }
}

/// A u32 biased towards small values.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Num {
    Small(u8),
    Raw(u32),
}

impl Num {
    fn get(self) -> u32 {
        match self {
            Num::Small(n) => u32::from(n),
            Num::Raw(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Factor {
    Tenths(u8),
    Bits(u64),
}

fn budget(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<RetryBudget>> {
    Ok(if bool::arbitrary(u)? {
        Some(RetryBudget {
            ratio_percent: Num::arbitrary(u)?.get(),
            burst: Num::arbitrary(u)?.get(),
            refill_per_sec: Num::arbitrary(u)?.get(),
        })
    } else {
        None
    })
}

fn config(u: &mut Unstructured<'_>) -> arbitrary::Result<Config> {
    let factor = match Factor::arbitrary(u)? {
        Factor::Tenths(t) => f64::from(t) / 10.0,
        Factor::Bits(b) => f64::from_bits(b),
    };
    Ok(Config {
        retry: RetryPolicy {
            initial_delay: Dur::arbitrary(u)?.get(),
            backoff_factor: factor,
            delay_max: Dur::arbitrary(u)?.get(),
            jitter: [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated]
                [usize::from(u8::arbitrary(u)? % 4)],
            attempts_max: Num::arbitrary(u)?.get(),
            deadline: Dur::arbitrary(u)?.get(),
        },
        rto: if bool::arbitrary(u)? {
            Some(RtoConfig {
                initial: Dur::arbitrary(u)?.get(),
                min: Dur::arbitrary(u)?.get(),
                max: Dur::arbitrary(u)?.get(),
            })
        } else {
            None
        },
        flow: FlowControl {
            window: Num::arbitrary(u)?.get(),
            queue_max: Num::arbitrary(u)?.get(),
            user_pending_max: Num::arbitrary(u)?.get(),
            global_pending_max: Num::arbitrary(u)?.get(),
            streams_max: Num::arbitrary(u)?.get(),
        },
        user_retry_budget: budget(u)?,
        global_retry_budget: budget(u)?,
        ack_ranges_max: Num::arbitrary(u)?.get(),
        seed: u64::arbitrary(u)?,
    })
}

fn receiver_config(u: &mut Unstructured<'_>) -> arbitrary::Result<ReceiverConfig> {
    Ok(ReceiverConfig {
        order: if bool::arbitrary(u)? { DeliveryOrder::Ordered } else { DeliveryOrder::Unordered },
        window: Num::arbitrary(u)?.get(),
        reorder_buffer_max: Num::arbitrary(u)?.get(),
        ack_every: Num::arbitrary(u)?.get(),
        ack_delay: Dur::arbitrary(u)?.get(),
        ack_ranges_max: Num::arbitrary(u)?.get(),
    })
}

fn check_error(e: &ConfigError) {
    assert!(!e.field.is_empty() && !e.allowed.is_empty(), "an error names no field: {e:?}");
    let text = e.to_string();
    assert!(text.contains(e.field), "the message does not name the field: {text}");
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(config) = config(&mut u) else { return };
    let Ok(rx_config) = receiver_config(&mut u) else { return };
    let events = u8::arbitrary(&mut u).unwrap_or(3) % 6 + 1;

    let valid = config.validate();
    let tracker = Tracker::<u64>::new(config);
    assert_eq!(
        valid.clone().err(),
        tracker.as_ref().err().cloned(),
        "Tracker::new disagrees with validate"
    );
    if let Err(e) = &valid {
        check_error(e);
    }
    let rx_valid = rx_config.validate();
    let stream_for_rx = StreamId::from_bits(0);
    let rx = Receiver::<u64>::new(stream_for_rx, rx_config);
    assert_eq!(
        rx_valid.clone().err(),
        rx.as_ref().err().cloned(),
        "Receiver::new disagrees with validate"
    );
    if let Err(e) = &rx_valid {
        check_error(e);
    }
    let (Ok(tracker), Ok(_)) = (tracker, rx) else { return };
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{config:#?}\n{rx_config:#?}\nevents: {events}");
    }
    exchange(tracker, rx_config, events);
}

/// One stream, `events` events, every first transmission lost, everything
/// else delivered in order at once; then time runs to every timeout.
fn exchange(mut tracker: Tracker<u64>, rx_config: ReceiverConfig, events: u8) {
    let mut now = Instant::ZERO;
    let user = UserId(1);
    let stream = tracker.open_stream(now, user).expect("streams_max >= 1");
    let mut rx = Receiver::<u64>::new(stream, rx_config).expect("validated");
    let mut submitted = 0u64;
    for payload in 0..u64::from(events) {
        if tracker.submit(now, stream, payload, SubmitOptions::default()).is_ok() {
            submitted += 1;
        }
    }
    let mut finished = 0u64;
    let mut released = BTreeSet::new();
    // Bounded: each turn handles one timeout; a valid config ends every
    // event within attempts_max retries (at most 1000 each) or its deadline.
    let mut late_ack = None;
    for _ in 0..20_000 {
        let mut acks = Vec::new();
        while let Some(command) = tracker.poll_command() {
            if std::env::var_os("FUZZ_DEBUG").is_some() {
                eprintln!("{now:?} {command:?}");
            }
            match command {
                Command::Send { .. } => {} // lost
                Command::Retry { stream, event, seq, attempt } => {
                    let payload = *tracker.payload(event).expect("pending");
                    let floor = tracker.stream_floor(stream).expect("open");
                    let frame = Frame::Event(EventFrame { stream, seq, attempt, floor, payload });
                    let _ = rx.handle_frame(now, frame);
                }
                Command::Skip { stream, seqs } => {
                    let floor = tracker.stream_floor(stream).expect("open");
                    let _ = rx.handle_frame(now, Frame::Skip(SkipFrame { stream, seqs, floor }));
                }
                Command::Finish { .. } => finished += 1,
            }
            while let Some(d) = rx.poll_delivery() {
                if let Delivery::Event { seq, .. } = d {
                    assert!(released.insert(seq), "{seq} released twice");
                }
            }
            acks.extend(rx.poll_ack());
        }
        acks.extend(late_ack.take());
        if !acks.is_empty() {
            for ack in acks {
                let _ = tracker.handle_ack(now, user, &ack);
            }
            continue; // drain what the acks caused
        }
        if finished == submitted {
            return;
        }
        let next = [tracker.poll_timeout(), rx.poll_timeout()].into_iter().flatten().min();
        let Some(at) = next else {
            // Nothing left to wait for: every event must have finished.
            assert_eq!(finished, submitted, "events left unfinished with nothing left to wait for");
            return;
        };
        now = now.max(at);
        tracker.handle_timeout(now);
        // The tracker's commands are drained (top of the loop) before the
        // ack this timeout may release is handed to it.
        rx.handle_timeout(now);
        late_ack = rx.poll_ack();
    }
}
