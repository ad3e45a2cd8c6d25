//! Scheduled faults: partitions, drops, crashes, clock jumps, malicious frames.

use acktrack::{Ack, DecodeLimits, Echo, Frame, Seq, SeqRange, StreamId};

use crate::driver::Payload;

use crate::client::Client;
use crate::driver::SimTracker;
use crate::trace::TraceEvent;
use crate::world::{Happening, World};
use crate::world_config::FaultKind;

/// Injects one fault of `kind` into the world.
pub(crate) fn inject<T: SimTracker>(w: &mut World<T>, kind: FaultKind) {
    let honest = w.config.workload.users;
    match kind {
        FaultKind::Partition | FaultKind::AsymmetricPartition => {
            let Some(conn) = pick_conn(w, |_| true) else { return };
            let until = w.now + w.c.range(1, w.config.rates.partition_max_us);
            let cn = &mut w.conns[conn as usize];
            if kind == FaultKind::Partition {
                cn.partition_until = until;
            } else {
                cn.asym_until = until;
            }
            fired(w, kind, conn);
        }
        FaultKind::ConnectionDrop | FaultKind::ClientCrash => {
            let Some(conn) = pick_conn(w, |c| c.up) else { return };
            let notice = w.c.range(0, 200_000);
            let back = w.c.range(1_000, w.config.rates.downtime_max_us.max(1_000));
            let config = w.config.client;
            let ranges_max = w.config.tracker.ack_ranges_max;
            let window = w.config.tracker.flow.window;
            let cn = &mut w.conns[conn as usize];
            cn.up = false;
            cn.epoch += 1;
            if kind == FaultKind::ClientCrash {
                // The receiver's state is gone: a new incarnation starts from zero.
                let ordered = cn.client.ordered();
                cn.client = Client::new(cn.stream, ordered, config, window, ranges_max);
                cn.incarnation += 1;
                cn.released_next = 0;
                cn.timer_at = u64::MAX;
            }
            let epoch = cn.epoch;
            w.schedule(w.now + notice, Happening::ServerNotice { conn, epoch });
            w.schedule(w.now + back, Happening::Reconnect { conn, epoch });
            fired(w, kind, conn);
        }
        FaultKind::ClockJump => {
            if w.c.chance(0.8) {
                w.offset += w.c.range(1, w.config.rates.clock_jump_max_us) as i64;
            } else {
                // A step back (an NTP correction): the tracker must clamp it.
                w.offset -= w.c.range(1, 50_000) as i64;
            }
            fired(w, kind, 0);
        }
        FaultKind::ForeignAck => {
            // An honest-looking user acks a stream of another user, naming
            // everything that stream sent so far.
            let Some(victim) = pick_conn(w, |c| c.user < honest) else { return };
            let owner = w.conns[victim as usize].user;
            let attacker = if owner + 1 < honest { owner + 1 } else { honest };
            let stream = w.conns[victim as usize].stream;
            let next = w.model.next_seq(victim);
            let ack = Ack {
                stream,
                cumulative: Seq(next),
                ranges: Vec::new(),
                echo: Some(Echo { seq: Seq(next.saturating_sub(1)), attempt: 1 }),
            };
            fired(w, kind, victim);
            w.stats.messages += 1;
            w.input_ack(None, attacker, &ack);
        }
        FaultKind::UnsentAck => {
            // A client acks seqs its stream never sent.
            let Some(conn) = pick_conn(w, |_| true) else { return };
            let cn = &w.conns[conn as usize];
            let (stream, user) = (cn.stream, cn.user);
            let next = w.model.next_seq(conn);
            let beyond = next + 1 + w.c.below(100);
            let ack = if w.c.chance(0.5) {
                Ack::cumulative(
                    stream,
                    Seq(beyond),
                    Echo { seq: Seq(next.saturating_sub(1)), attempt: 1 },
                )
            } else {
                Ack {
                    stream,
                    cumulative: Seq(0),
                    ranges: vec![SeqRange::new(beyond, beyond + 3)],
                    echo: Some(Echo { seq: Seq(beyond), attempt: 1 }),
                }
            };
            fired(w, kind, conn);
            w.stats.messages += 1;
            w.input_ack(None, user, &ack);
        }
        FaultKind::Garbage => {
            let Some(conn) = pick_conn(w, |_| true) else { return };
            fired(w, kind, conn);
            w.stats.messages += 1;
            garbage(w, conn);
        }
        // Per-message faults fire inside the network model.
        _ => {}
    }
}

/// Garbage from a client: an ack frame, encoded in JSON or binary, then
/// mutated (bytes flipped, cut, extended) and fed to the real wire decoder.
/// Whatever still decodes is handed to the tracker as coming from the
/// malicious user, who owns no stream that ever sent anything, so every
/// decoded ack must be rejected.
fn garbage<T: SimTracker>(w: &mut World<T>, conn: u32) {
    let cn = &w.conns[conn as usize];
    let stream = if w.c.chance(0.2) { StreamId::from_bits(w.c.u64()) } else { cn.stream };
    let mut ranges = Vec::new();
    for _ in 0..w.c.below(6) {
        let a = w.c.below(1 << 10);
        ranges.push(SeqRange::new(a, a + w.c.below(4)));
    }
    let ack = Ack {
        stream,
        cumulative: Seq(w.c.below(1 << 12)),
        ranges,
        echo: Some(Echo { seq: Seq(w.c.below(1 << 12)), attempt: w.c.below(3) as u32 }),
    };
    let frame: Frame<Payload> = Frame::Ack(ack);
    let json = w.c.chance(0.5);
    let mut bytes = if json {
        frame.to_json().map(String::into_bytes).unwrap_or_default()
    } else {
        frame.to_binary().unwrap_or_default()
    };
    for _ in 0..w.c.range(1, 4) {
        match w.c.below(4) {
            0 if !bytes.is_empty() => {
                let at = w.c.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 << w.c.below(8);
            }
            1 if !bytes.is_empty() => {
                let keep = w.c.below(bytes.len() as u64) as usize;
                bytes.truncate(keep);
            }
            2 => bytes.push(w.c.below(256) as u8),
            _ => {
                let at = w.c.below(bytes.len() as u64 + 1) as usize;
                bytes.insert(at, w.c.below(256) as u8);
            }
        }
    }
    let limits = DecodeLimits {
        ranges_max: w.config.tracker.ack_ranges_max as usize,
        ..DecodeLimits::default()
    };
    let decoded = if json {
        Frame::<Payload>::from_json(&bytes, limits)
    } else {
        Frame::<Payload>::from_binary(&bytes, limits)
    };
    w.record(TraceEvent::Garbage { bytes: bytes.len() as u32 });
    match decoded {
        Ok(Frame::Ack(ack)) => {
            let mallory = w.config.workload.users;
            w.input_ack(None, mallory, &ack);
        }
        Ok(_) => w.stats.coverage.garbage_decoded += 1,
        Err(_) => w.stats.coverage.garbage_refused += 1,
    }
}

fn fired<T: SimTracker>(w: &mut World<T>, kind: FaultKind, conn: u32) {
    w.stats.coverage.fire(kind);
    let stream = w.conns.get(conn as usize).map_or(0, |c| c.stream.to_bits());
    w.record(TraceEvent::Fault { fault: kind.name(), stream });
}

/// A random open connection matching `filter`.
fn pick_conn<T: SimTracker>(
    w: &mut World<T>,
    filter: impl Fn(&crate::world::Conn) -> bool,
) -> Option<u32> {
    let candidates: Vec<u32> = (0..w.conns.len() as u32)
        .filter(|&i| w.conns[i as usize].open && filter(&w.conns[i as usize]))
        .collect();
    if candidates.is_empty() {
        w.c.u64();
        return None;
    }
    Some(candidates[w.c.below(candidates.len() as u64) as usize])
}
