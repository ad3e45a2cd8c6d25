//! The network model: one link per direction per connection.

use crate::choice::Choices;
use crate::world_config::{LatencyModel, NetConfig};

/// One direction of one connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Link {
    /// Messages on the wire now.
    pub(crate) in_transit: u32,
    /// Latest delivery time scheduled in FIFO order, µs.
    pub(crate) last_at: u64,
    /// Gilbert–Elliott state.
    pub(crate) bad: bool,
}

/// Why a message did not make it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drop {
    /// Independent loss.
    Loss,
    /// Bursty loss.
    Burst,
    /// Over capacity.
    Capacity,
}

/// Decides the fate of one message on `link`: `Err` if dropped, otherwise
/// `(delivery time, reordered, duplicate delivery time)`.
#[inline]
pub(crate) fn route(
    net: &NetConfig,
    healed: bool,
    link: &mut Link,
    now: u64,
    c: &mut Choices,
) -> Result<(u64, bool, Option<u64>), Drop> {
    if healed {
        let at = (now + net.latency_base_us).max(link.last_at);
        link.last_at = at;
        return Ok((at, false, None));
    }
    if net.capacity > 0 && link.in_transit >= net.capacity {
        return Err(Drop::Capacity);
    }
    if net.ge_enter_bad > 0.0 {
        if link.bad {
            if c.chance(net.ge_leave_bad) {
                link.bad = false;
            }
        } else if c.chance(net.ge_enter_bad) {
            link.bad = true;
        }
        if link.bad && c.chance(net.ge_loss_bad) {
            return Err(Drop::Burst);
        }
    }
    if net.loss > 0.0 && c.chance(net.loss) {
        return Err(Drop::Loss);
    }
    let mut at = now + latency(net, c);
    let reordered = net.reorder > 0.0 && c.chance(net.reorder);
    if reordered {
        at += c.below(net.reorder_delay_us);
    } else {
        at = at.max(link.last_at);
        link.last_at = at;
    }
    let dup = (net.duplicate > 0.0 && c.chance(net.duplicate)).then(|| at + latency(net, c) / 4);
    Ok((at, reordered, dup))
}

/// One draw of one-way latency, µs.
#[inline]
pub(crate) fn latency(net: &NetConfig, c: &mut Choices) -> u64 {
    let base = net.latency_base_us;
    let spread = net.latency_spread_us as f64;
    let extra = match net.latency {
        LatencyModel::Constant => 0.0,
        LatencyModel::Uniform => c.unit() * spread,
        LatencyModel::Exponential => -(1.0 - c.unit()).ln() * spread,
        LatencyModel::HeavyTailed => {
            let scale = spread / 3.0;
            (scale / (1.0 - c.unit()).powf(1.0 / 1.5) - scale).min(20.0 * spread)
        }
    };
    base + extra as u64
}

/// Time to the next occurrence of a Poisson process with `rate_per_sec`, µs.
#[inline]
pub(crate) fn exp_interval(rate_per_sec: f64, c: &mut Choices) -> u64 {
    let mean_us = 1e6 / rate_per_sec;
    (-(1.0 - c.unit()).ln() * mean_us) as u64 + 1
}
