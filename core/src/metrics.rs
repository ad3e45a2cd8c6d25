//! Counters, gauges and a latency histogram of bounded memory, global and per user.

use alloc::boxed::Box;
use alloc::vec;
#[cfg(feature = "serde")]
use alloc::vec::Vec;
use core::time::Duration;

/// Sub-buckets per power of two: values are kept within 12.5 %.
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two tracked, in microseconds: up to 2^40 µs (about 12.7 days).
const EXP_MAX: u32 = 40;
const BUCKETS: usize = SUB + (EXP_MAX as usize - SUB_BITS as usize + 1) * SUB;
/// The most values a merge leaves in a histogram, and the most a serialized
/// one may hold.
const COUNT_MAX: u64 = 1 << 63;

/// A log-linear latency histogram: values in microseconds, each bucket
/// within 12.5 % of its values, 312 buckets up to 2^41 µs (about 25 days).
///
/// It keeps counts only for the run of buckets its values fell in, plus a
/// power of two's worth of room on each side (a fresh one holds nothing and
/// allocates nothing): latencies cluster, so a user's histogram takes a few
/// hundred bytes rather than the 2.5 KB of all 312 counts. The run widens,
/// rarely, when a value falls outside it; at most 312 counts in all.
///
/// With `serde`, it is written as all 312 counts (`buckets`) with `count`,
/// `sum_micros` and `max_micros`, and read back from that form; any other
/// number of counts is refused with an error, as are counts that do not
/// sum to `count`, more than 2^63 values, and a maximum outside the
/// highest bucket with values or above the sum. A merge stops at 2^63
/// values (see [`merge`](Self::merge)).
#[derive(Clone, Debug, Default)]
pub struct LatencyHistogram {
    /// Counts of buckets `first..first + counts.len()`; every other bucket
    /// holds none.
    counts: Box<[u64]>,
    first: usize,
    count: u64,
    sum_micros: u64,
    max_micros: u64,
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    if exp > EXP_MAX {
        return BUCKETS - 1;
    }
    let sub = ((v >> (exp - SUB_BITS)) as usize) & (SUB - 1);
    SUB + (exp - SUB_BITS) as usize * SUB + sub
}

/// The largest value that falls in bucket `b`.
fn bucket_high(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let exp = (b - SUB) / SUB + SUB_BITS as usize;
    let sub = ((b - SUB) % SUB) as u64;
    let low = (1u64 << exp) + (sub << (exp - SUB_BITS as usize));
    low + (1u64 << (exp - SUB_BITS as usize)) - 1
}

impl LatencyHistogram {
    /// Records one value.
    pub fn record(&mut self, latency: Duration) {
        let v = crate::time::micros(latency);
        self.record_in_bucket(v, bucket_of(v));
    }

    /// Records one value, in µs, in two histograms (global and per user),
    /// finding its bucket once.
    #[inline]
    pub(crate) fn record_both(a: &mut Self, b: &mut Self, v: u64) {
        let bucket = bucket_of(v);
        a.record_in_bucket(v, bucket);
        b.record_in_bucket(v, bucket);
    }

    #[inline]
    fn record_in_bucket(&mut self, v: u64, bucket: usize) {
        // Cannot overflow: a merge or deserialization leaves at most
        // `COUNT_MAX` (2^63) values, and as many more take centuries to record.
        match self.counts.get_mut(bucket.wrapping_sub(self.first)) {
            Some(n) => *n += 1,
            None => self.widen_and_count(bucket),
        }
        self.count += 1;
        self.sum_micros = self.sum_micros.saturating_add(v);
        self.max_micros = self.max_micros.max(v);
    }

    /// Counts a value in `bucket`, outside the kept run.
    #[cold]
    #[inline(never)]
    fn widen_and_count(&mut self, bucket: usize) {
        self.widen(bucket, bucket + 1);
        self.counts[bucket - self.first] += 1;
    }

    /// Keeps counts for at least buckets `low..high` as well as the kept
    /// run, and a power of two's worth of buckets (`SUB`) past each side
    /// that grew, within `0..BUCKETS`.
    fn widen(&mut self, low: usize, high: usize) {
        debug_assert!(low < high && high <= BUCKETS);
        let (old_low, old_high) = (self.first, self.first + self.counts.len());
        if !self.counts.is_empty() && old_low <= low && high <= old_high {
            return;
        }
        let (mut new_low, mut new_high) = (low, high);
        if !self.counts.is_empty() {
            new_low = new_low.min(old_low);
            new_high = new_high.max(old_high);
        }
        if self.counts.is_empty() || new_low < old_low {
            new_low = new_low.saturating_sub(SUB);
        }
        if self.counts.is_empty() || new_high > old_high {
            new_high = (new_high + SUB).min(BUCKETS);
        }
        let mut counts = vec![0; new_high - new_low].into_boxed_slice();
        if !self.counts.is_empty() {
            counts[old_low - new_low..old_high - new_low].copy_from_slice(&self.counts);
        }
        self.counts = counts;
        self.first = new_low;
    }

    /// The count of bucket `b`.
    fn bucket(&self, b: usize) -> u64 {
        self.counts.get(b.wrapping_sub(self.first)).copied().unwrap_or(0)
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded, exactly.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_micros)
    }

    /// The mean value, or zero if empty.
    pub fn mean(&self) -> Duration {
        Duration::from_micros(self.sum_micros.checked_div(self.count).unwrap_or(0))
    }

    /// The value at quantile `q` (0.0 to 1.0), rounded up to its bucket's upper
    /// edge (never above the maximum); zero if empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        // Rank of the wanted value, 1-based: ceil(q * count), at least 1.
        let rank = ((q * self.count as f64) as u64).clamp(1, self.count);
        let rank = if (rank as f64) < q * self.count as f64 { rank + 1 } else { rank };
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            // The counts sum to `count`, which cannot overflow.
            seen += n;
            if seen >= rank {
                return Duration::from_micros(bucket_high(self.first + i).min(self.max_micros));
            }
        }
        self.max()
    }

    /// p50, p90, p99 and max.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count,
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            max: self.max(),
        }
    }

    /// Adds another histogram's values to this one, up to 2^63 values in
    /// all. Past that, the other's lowest values are the ones left out, so
    /// that the bucket counts still sum to `count` and the maximum stays in
    /// the highest bucket with values: what is merged reads back. The sum
    /// takes all of the other's (saturating), so it stays at least the
    /// maximum.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        let take = other.count.min(COUNT_MAX.saturating_sub(self.count));
        if take == 0 {
            return;
        }
        if self.counts.is_empty() && take == other.count {
            // Into an empty one: the other's run as it is.
            self.counts = other.counts.clone();
            self.first = other.first;
        } else {
            self.widen(other.first, other.first + other.counts.len());
            let mine = &mut self.counts[other.first - self.first..][..other.counts.len()];
            let mut left = take;
            for (a, &b) in mine.iter_mut().zip(other.counts.iter()).rev() {
                let n = b.min(left);
                // Cannot overflow: the counts sum to `count`, and `count +
                // take` is at most 2^63.
                *a += n;
                left -= n;
            }
            debug_assert_eq!(left, 0, "the other's counts sum to its count");
        }
        self.count += take;
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
        self.max_micros = self.max_micros.max(other.max_micros);
    }
}

/// Equal when they hold the same values: the same count in every bucket
/// (whatever run each keeps), count, sum and maximum.
impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count
            && self.sum_micros == other.sum_micros
            && self.max_micros == other.max_micros
            && (0..BUCKETS).all(|b| self.bucket(b) == other.bucket(b))
    }
}

impl Eq for LatencyHistogram {}

/// The serialized form: all 312 counts, as before the run was kept alone.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename = "LatencyHistogram")]
struct DenseHistogram {
    buckets: Vec<u64>,
    count: u64,
    sum_micros: u64,
    max_micros: u64,
}

#[cfg(feature = "serde")]
impl serde::Serialize for LatencyHistogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let dense = DenseHistogram {
            buckets: (0..BUCKETS).map(|b| self.bucket(b)).collect(),
            count: self.count,
            sum_micros: self.sum_micros,
            max_micros: self.max_micros,
        };
        dense.serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let dense = DenseHistogram::deserialize(deserializer)?;
        if dense.buckets.len() != BUCKETS {
            return Err(serde::de::Error::invalid_length(
                dense.buckets.len(),
                &"312 bucket counts",
            ));
        }
        check_dense(&dense).map_err(serde::de::Error::custom)?;
        let mut h = LatencyHistogram {
            count: dense.count,
            sum_micros: dense.sum_micros,
            max_micros: dense.max_micros,
            ..LatencyHistogram::default()
        };
        let used = dense
            .buckets
            .iter()
            .position(|&n| n > 0)
            .zip(dense.buckets.iter().rposition(|&n| n > 0));
        if let Some((i, j)) = used {
            h.counts = dense.buckets[i..=j].into();
            h.first = i;
        }
        Ok(h)
    }
}

/// Why a serialized histogram of 312 counts does not hold what recording
/// could have produced: the counts sum to `count` (without overflowing),
/// at most 2^63, and the maximum lies in the highest bucket that has
/// values and within the sum (an empty histogram has neither).
#[cfg(feature = "serde")]
fn check_dense(dense: &DenseHistogram) -> Result<(), &'static str> {
    let mut total = 0u64;
    for &n in &dense.buckets {
        total = total.checked_add(n).ok_or("the bucket counts sum past u64::MAX")?;
    }
    if total != dense.count {
        return Err("count is not the sum of the bucket counts");
    }
    if total > COUNT_MAX {
        return Err("more than 2^63 values");
    }
    match dense.buckets.iter().rposition(|&n| n > 0) {
        None if dense.sum_micros != 0 || dense.max_micros != 0 => {
            Err("a histogram without values has a sum or maximum")
        }
        Some(top) if bucket_of(dense.max_micros) != top => {
            Err("max_micros is not in the highest bucket with values")
        }
        Some(_) if dense.sum_micros < dense.max_micros => Err("sum_micros is less than max_micros"),
        _ => Ok(()),
    }
}

/// Headline figures of a [`LatencyHistogram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LatencySummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

/// What a tracker (or one user of it) has done. Counters only grow; gauges
/// (`in_flight`, `queued`, `streams`) are current values.
///
/// The fields every event's lifecycle updates come first, in this order
/// (`repr(C)`), so that they share two cache lines of a user's record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(C)]
pub struct Metrics {
    /// Events accepted by `submit`.
    pub submitted: u64,
    /// First transmissions (`Command::Send`).
    pub sent: u64,
    /// Events finished `Confirmed`.
    pub confirmed: u64,
    /// Gauge: transmitted events not yet finished.
    pub in_flight: u64,
    /// Confirmation latency (submit to confirming ack).
    pub latency: LatencyHistogram,
    /// Retransmissions (`Command::Retry`).
    pub retried: u64,
    /// Events finished `Expired { reason: Deadline }`.
    pub expired_deadline: u64,
    /// Events finished `Expired { reason: AttemptsExhausted }`.
    pub expired_attempts: u64,
    /// Events finished `Cancelled`.
    pub cancelled: u64,
    /// Events finished `Superseded`.
    pub superseded: u64,
    /// Events finished `StreamClosed`.
    pub stream_closed: u64,
    /// Acks that confirmed nothing new.
    pub acks_duplicate: u64,
    /// Acks whose echo names an event that had already been given up on.
    pub acks_late: u64,
    /// Acks, naks and progress reports rejected as bad input. (A transmit-failure
    /// report for a seq never sent is the driver's error, not the peer's: it is
    /// rejected but not counted here.)
    pub acks_rejected: u64,
    /// Acks for attempt k that arrived after attempt k+1 was sent.
    pub spurious_retries: u64,
    /// Inputs whose `now` was earlier than a previous one (clamped).
    pub clock_regressions: u64,
    /// Retries deferred because the retry budget was empty.
    pub deferred_retries: u64,
    /// Submits refused because the stream queue was full.
    pub rejected_stream_queue: u64,
    /// Submits refused because the user's pending cap was reached.
    pub rejected_user_cap: u64,
    /// Submits refused because the global pending cap was reached.
    pub rejected_global_cap: u64,
    /// Submits that had to queue because the window was full.
    pub window_full_events: u64,
    /// Total time streams spent with a full window and a non-empty queue, µs.
    pub window_full_micros: u64,
    /// Reconnects with a resume point (`handle_connect` on a known stream).
    pub resumes: u64,
    /// Events confirmed by a resume point.
    pub confirmed_by_resume: u64,
    /// Events that expired while their stream was disconnected.
    pub expired_disconnected: u64,
    /// Negative acks accepted.
    pub naks: u64,
    /// Progress reports accepted.
    pub progress_reports: u64,
    /// Skips sent again because the client's acks showed it still waiting
    /// for a resolved seq.
    pub skips_resent: u64,
    /// Transmissions the driver reported as failed.
    pub transmit_failures: u64,
    /// Gauge: events waiting for the window (or a connection).
    pub queued: u64,
    /// Gauge: open streams.
    pub streams: u64,
}

impl Metrics {
    /// Events that have finished, whatever the outcome. Saturating: a
    /// `Metrics` built or read back by the application may hold any counts.
    pub fn finished(&self) -> u64 {
        [
            self.expired_deadline,
            self.expired_attempts,
            self.cancelled,
            self.superseded,
            self.stream_closed,
        ]
        .into_iter()
        .fold(self.confirmed, u64::saturating_add)
    }

    /// Events submitted and not yet finished (saturating, as `finished`).
    pub fn pending(&self) -> u64 {
        self.in_flight.saturating_add(self.queued)
    }

    /// Confirmed / finished, or `None` before anything finished.
    pub fn confirmation_rate(&self) -> Option<f64> {
        let finished = self.finished();
        (finished > 0).then(|| self.confirmed as f64 / finished as f64)
    }

    /// Retransmissions per first transmission, or `None` before any send.
    pub fn retries_per_send(&self) -> Option<f64> {
        (self.sent > 0).then(|| self.retried as f64 / self.sent as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn buckets_are_monotonic_and_cover_their_values() {
        let mut last = 0;
        for v in (0..100_000u64).chain([1 << 30, (1 << 41) - 1]) {
            let b = bucket_of(v);
            assert!(b >= last || v >= 1 << 30);
            last = b;
            assert!(bucket_high(b) >= v || b == BUCKETS - 1, "v={v} b={b}");
            if b > 0 && b < BUCKETS - 1 {
                assert!(bucket_high(b - 1) < v, "v={v}");
            }
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).as_micros() as f64;
        assert!((50_000.0..=50_000.0 * 1.125).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).as_micros() as f64;
        assert!((99_000.0..=100_000.0).contains(&p99), "{p99}");
        assert_eq!(h.max(), Duration::from_millis(100));
        assert_eq!(h.count(), 100);
        assert_eq!(h.mean(), Duration::from_micros(50_500));
        assert_eq!(LatencyHistogram::default().quantile(0.5), Duration::ZERO);
    }

    #[test]
    fn the_histogram_is_312_buckets_up_to_2_pow_41_micros() {
        // 8 exact buckets below 8 µs, then 8 per power of two from 2^3 to 2^40:
        // within 12.5 % up to about 25 days.
        assert_eq!(BUCKETS, 312);
        assert_eq!(bucket_of((1 << 41) - 1), 311);
        assert_eq!(bucket_high(311), (1 << 41) - 1);
    }

    /// The histogram as all 312 counts, from its kept run.
    fn dense(h: &LatencyHistogram) -> Vec<u64> {
        (0..BUCKETS).map(|b| h.bucket(b)).collect()
    }

    #[test]
    fn a_histogram_keeps_only_the_run_its_values_fell_in() {
        let mut h = LatencyHistogram::default();
        assert_eq!((h.counts.len(), h.first), (0, 0), "a fresh one holds nothing");
        // 1 ms is bucket 8 + 6 * 8 + 7 = 63: kept with 8 buckets each side.
        h.record(Duration::from_millis(1));
        assert_eq!(bucket_of(1000), 63);
        assert_eq!((h.first, h.counts.len()), (55, 17));
        // Inside the run: nothing moves.
        h.record(Duration::from_micros(700));
        assert_eq!((h.first, h.counts.len()), (55, 17));
        // Above it (1 s is bucket 143): the run reaches it, 8 more past it.
        h.record(Duration::from_secs(1));
        assert_eq!(bucket_of(1_000_000), 143);
        assert_eq!((h.first, h.counts.len()), (55, 152 - 55));
        // Below it, near the bottom: clamped at bucket 0.
        h.record(Duration::from_micros(3));
        assert_eq!((h.first, h.counts.len()), (0, 152));
        // At the top: clamped at the last bucket.
        h.record(Duration::MAX);
        assert_eq!((h.first, h.counts.len()), (0, BUCKETS));
        let mut expected = vec![0; BUCKETS];
        for b in [63, bucket_of(700), 143, 3, BUCKETS - 1] {
            expected[b] += 1;
        }
        assert_eq!(dense(&h), expected);
        assert_eq!(h.count(), 5);
    }

    #[test]
    fn a_kept_run_counts_as_all_312_buckets_would() {
        // Against a plain array of 312 counts, for values spread over the
        // whole range in an order that widens the run both ways many times.
        let mut h = LatencyHistogram::default();
        let mut reference = vec![0u64; BUCKETS];
        let mut state = 7u64;
        for i in 0..5_000u32 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // Values around a centre that drifts up, then jumps about.
            let exp = if i < 2_000 { 10 + i / 200 } else { (state >> 58) as u32 % 42 };
            let v = (1u64 << exp) | ((state >> 40) % (1u64 << exp));
            h.record(Duration::from_micros(v));
            reference[bucket_of(v)] += 1;
            assert!(h.first + h.counts.len() <= BUCKETS);
        }
        assert_eq!(dense(&h), reference);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let rank = ((q * 5_000f64).ceil() as u64).max(1);
            let mut seen = 0;
            let b = reference.iter().position(|&n| {
                seen += n;
                seen >= rank
            });
            let want = bucket_high(b.expect("a bucket")).min(h.max_micros);
            assert_eq!(h.quantile(q), Duration::from_micros(want), "q={q}");
        }
    }

    #[test]
    fn histograms_with_the_same_values_are_equal_whatever_run_they_keep() {
        let (mut a, mut b) = (LatencyHistogram::default(), LatencyHistogram::default());
        for v in [5u64, 1_000, 3_000_000] {
            a.record(Duration::from_micros(v));
        }
        for v in [3_000_000u64, 1_000, 5] {
            b.record(Duration::from_micros(v));
        }
        assert_eq!(a, b, "recorded in another order");
        b.widen(0, BUCKETS);
        assert_ne!((a.first, a.counts.len()), (b.first, b.counts.len()));
        assert_eq!(a, b, "all 312 kept");
        b.record(Duration::from_micros(6));
        assert_ne!(a, b, "one more value");
        let mut c = a.clone();
        c.max_micros += 1;
        assert_ne!(a, c, "another maximum");
        assert_eq!(LatencyHistogram::default(), LatencyHistogram::default());
        // The same count, sum and maximum, in other buckets.
        let of = |values: [u64; 3]| {
            let mut h = LatencyHistogram::default();
            values.iter().for_each(|&v| h.record(Duration::from_micros(v)));
            h
        };
        assert_ne!(of([1, 4, 4]), of([2, 3, 4]));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn it_serializes_as_all_312_counts_and_reads_them_back() {
        let mut h = LatencyHistogram::default();
        for v in [2u64, 40_000, 40_001, 9_000_000] {
            h.record(Duration::from_micros(v));
        }
        let json = serde_json::to_value(&h).expect("serializes");
        let buckets = json["buckets"].as_array().expect("a buckets array");
        assert_eq!(buckets.len(), BUCKETS);
        assert_eq!(buckets[2], 1);
        assert_eq!(buckets[bucket_of(40_000)], 2);
        assert_eq!(json["count"], 4);
        assert_eq!(json["max_micros"], 9_000_000);
        let back: LatencyHistogram = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, h);
        assert_eq!((back.first, back.counts.len()), (2, bucket_of(9_000_000) - 1));
        assert_eq!(back.quantile(0.5), h.quantile(0.5));
        let empty: LatencyHistogram =
            serde_json::from_value(serde_json::to_value(LatencyHistogram::default()).unwrap())
                .expect("an empty one reads back");
        assert_eq!((empty.counts.len(), empty.count()), (0, 0));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn a_serialized_histogram_with_another_number_of_counts_is_refused() {
        for n in [0, 5, BUCKETS - 1, BUCKETS + 1] {
            let json = serde_json::json!({
                "buckets": vec![1u64; n], "count": n, "sum_micros": 0, "max_micros": 0,
            });
            let err = serde_json::from_value::<LatencyHistogram>(json).expect_err("refused");
            assert!(alloc::format!("{err}").contains("312 bucket counts"), "{n}: {err}");
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn a_serialized_histogram_recording_could_not_produce_is_refused() {
        let top = bucket_of(40_000);
        let dense = |counts: &[(usize, u64)], count: u64, sum: u64, max: u64| {
            let mut buckets = vec![0u64; BUCKETS];
            for &(b, n) in counts {
                buckets[b] = n;
            }
            serde_json::json!({
                "buckets": buckets, "count": count, "sum_micros": sum, "max_micros": max,
            })
        };
        let refused = [
            (dense(&[(2, 1), (top, 1)], 3, 40_002, 40_000), "count is not the sum"),
            (dense(&[(2, 1), (top, 1)], 1, 40_002, 40_000), "count is not the sum"),
            (dense(&[(2, u64::MAX), (top, 1)], 0, 40_002, 40_000), "sum past u64::MAX"),
            (dense(&[(2, 1), (top, COUNT_MAX)], COUNT_MAX + 1, u64::MAX, 40_000), "than 2^63"),
            (dense(&[], 0, 0, 7), "without values has a sum or maximum"),
            (dense(&[], 0, 7, 0), "without values has a sum or maximum"),
            (dense(&[(2, 1), (top, 1)], 2, 40_002, 2), "not in the highest bucket"),
            (dense(&[(2, 1), (top, 1)], 2, 40_002, 9_000_000), "not in the highest bucket"),
            (dense(&[(2, 1), (top, 1)], 2, 39_999, 40_000), "less than max_micros"),
        ];
        for (json, why) in refused {
            let err =
                serde_json::from_value::<LatencyHistogram>(json.clone()).expect_err("refused");
            assert!(alloc::format!("{err}").contains(why), "{json}: {err}");
        }
        // The same shapes, consistent, are read.
        let read = serde_json::from_value::<LatencyHistogram>(dense(
            &[(2, 1), (top, 1)],
            2,
            40_002,
            40_000,
        ))
        .expect("consistent");
        assert_eq!((read.count(), read.max()), (2, Duration::from_micros(40_000)));
        // One value: its sum is its maximum.
        let one = dense(&[(top, 1)], 1, 40_000, 40_000);
        serde_json::from_value::<LatencyHistogram>(one).expect("one value");
        let full = dense(&[(top, COUNT_MAX)], COUNT_MAX, u64::MAX, 40_000);
        serde_json::from_value::<LatencyHistogram>(full).expect("2^63 values in one bucket");
    }

    #[cfg(feature = "serde")]
    mod read_back {
        use super::*;
        use proptest::prelude::*;

        /// A count: small, or near the caps.
        fn count() -> impl Strategy<Value = u64> {
            prop_oneof![0..4u64, (COUNT_MAX - 2)..=(COUNT_MAX + 2), Just(u64::MAX)]
        }

        /// Values as recording sees them: small, around bucket edges, huge.
        fn value() -> impl Strategy<Value = u64> {
            prop_oneof![0..20u64, 0..5_000_000u64, Just(1 << 41), Just(u64::MAX)]
        }

        proptest! {
            /// Whatever is read back, merging it (with itself, again and
            /// again), recording into it and its quantiles do not panic; a
            /// read histogram's counts sum to its count, and every merge
            /// reads back equal.
            #[test]
            fn nothing_read_back_breaks_merges_records_or_quantiles(
                counts in proptest::collection::vec((0..BUCKETS, count()), 0..4),
                count in count(),
                sum in value(),
                max in value(),
                consistent in any::<bool>(),
            ) {
                let mut buckets = vec![0u64; BUCKETS];
                for &(b, n) in &counts {
                    buckets[b] = n;
                }
                // Half the cases made consistent where that is possible, so
                // that many are read rather than refused.
                let total = buckets.iter().try_fold(0u64, |t, &n| t.checked_add(n));
                let top = buckets.iter().rposition(|&n| n > 0);
                let (count, sum, max) = match (consistent, total, top) {
                    (true, Some(t), Some(top)) => (t, u64::MAX, bucket_high(top)),
                    (true, Some(0), None) => (0, 0, 0),
                    _ => (count, sum, max),
                };
                let json = serde_json::json!({
                    "buckets": buckets, "count": count, "sum_micros": sum, "max_micros": max,
                });
                let Ok(h) = serde_json::from_value::<LatencyHistogram>(json) else {
                    return Ok(());
                };
                let read: u64 = (0..BUCKETS).map(|b| h.bucket(b)).sum();
                prop_assert_eq!(read, h.count());
                prop_assert!(h.count() <= COUNT_MAX);
                let mut m = h.clone();
                for _ in 0..3 {
                    let (again, before) = (m.clone(), m.count());
                    m.merge(&again);
                    m.merge(&h);
                    // Up to 2^63 values, and none added past them (recording
                    // below can take it past).
                    prop_assert!(m.count() <= COUNT_MAX.max(before));
                    prop_assert!(m.count() >= before);
                    // What a merge leaves reads back: its counts sum to
                    // its count, and its maximum is in its highest bucket.
                    let sum = (0..BUCKETS).try_fold(0u64, |t, b| t.checked_add(m.bucket(b)));
                    prop_assert_eq!(sum, Some(m.count()));
                    if m.count() <= COUNT_MAX {
                        let json = serde_json::to_value(&m).expect("serializes");
                        let back: LatencyHistogram =
                            serde_json::from_value(json).expect("a merge reads back");
                        prop_assert_eq!(&back, &m);
                    }
                    m.record(Duration::from_micros(max));
                    m.record(Duration::from_micros(3));
                    for q in [0.0, 0.5, 0.99, 1.0] {
                        let _ = m.quantile(q);
                    }
                    let _ = m.summary();
                }
            }

            /// Everything recording produces is read back, equal.
            #[test]
            fn every_recorded_histogram_reads_back_equal(
                values in proptest::collection::vec(value(), 0..40),
            ) {
                let mut h = LatencyHistogram::default();
                for &v in &values {
                    h.record_in_bucket(v, bucket_of(v));
                }
                let json = serde_json::to_value(&h).expect("serializes");
                let back: LatencyHistogram = serde_json::from_value(json).expect("reads back");
                prop_assert_eq!(back, h);
            }
        }
    }

    #[test]
    fn a_merge_stops_at_2_pow_63_values_and_recording_goes_on() {
        let b = bucket_of(40_000);
        let full = LatencyHistogram {
            counts: vec![COUNT_MAX].into_boxed_slice(),
            first: b,
            count: COUNT_MAX,
            sum_micros: u64::MAX,
            max_micros: 40_000,
        };
        let mut h = full.clone();
        h.merge(&full);
        assert_eq!(h, full, "nothing added at the cap");
        h.record(Duration::from_micros(40_000));
        assert_eq!((h.count(), h.bucket(b)), (COUNT_MAX + 1, COUNT_MAX + 1));
        assert_eq!(h.quantile(0.5), Duration::from_micros(40_000));
        // Past the cap (by recording), a merge adds nothing and takes
        // nothing away.
        let mut past = h.clone();
        past.merge(&h);
        assert_eq!(past, h);
        // A value in another bucket widens the run and counts there.
        h.record(Duration::from_micros(3));
        assert_eq!((h.count(), h.bucket(3), h.bucket(b)), (COUNT_MAX + 2, 1, COUNT_MAX + 1));
        // Into a histogram with one value: all but one of the other's.
        let mut into = LatencyHistogram::default();
        into.record(Duration::from_micros(40_000));
        into.merge(&full);
        assert_eq!((into.count(), into.bucket(b)), (COUNT_MAX, COUNT_MAX));
        // The other's lowest values are the ones left out: its maximum
        // stays in the highest bucket with values, and the merge reads back.
        let mut low = LatencyHistogram::default();
        low.record(Duration::from_micros(3));
        let mut two = LatencyHistogram::default();
        two.merge(&full);
        two.count -= 2;
        two.counts[0] -= 2;
        two.record(Duration::from_micros(3));
        two.record(Duration::from_micros(3));
        two.record(Duration::from_micros(50_000));
        assert_eq!(two.count(), COUNT_MAX + 1);
        low.merge(&two);
        let top = bucket_of(50_000);
        assert_eq!(low.count(), COUNT_MAX);
        assert_eq!((low.bucket(3), low.bucket(b), low.bucket(top)), (1, COUNT_MAX - 2, 1));
        assert_eq!(low.max(), Duration::from_micros(50_000));
        assert_eq!(low.quantile(0.0), Duration::from_micros(3));
        assert_eq!(low.quantile(1.0), Duration::from_micros(50_000));
        #[cfg(feature = "serde")]
        {
            let json = serde_json::to_value(&low).expect("serializes");
            let back: LatencyHistogram = serde_json::from_value(json).expect("a merge reads back");
            assert_eq!(back, low);
        }
    }

    #[test]
    fn the_top_power_of_two_keeps_its_precision() {
        let mut h = LatencyHistogram::default();
        let low = 1u64 << 40;
        h.record(Duration::from_micros(low));
        h.record(Duration::from_micros((1 << 41) - 1));
        let p50 = h.quantile(0.5).as_micros() as u64;
        assert!(low <= p50 && p50 <= low + low / 8, "{p50}");
    }

    #[test]
    fn values_beyond_the_range_are_clamped_to_the_top_bucket() {
        let mut h = LatencyHistogram::default();
        h.record(Duration::from_micros(1 << 45));
        h.record(Duration::from_micros(u64::MAX / 2));
        h.record(Duration::MAX);
        assert_eq!(h.count(), 3);
        assert_eq!(h.quantile(0.5), Duration::from_micros((1 << 41) - 1));
        assert_eq!(h.max(), Duration::from_micros(u64::MAX));
        assert_eq!(h.summary().p99, Duration::from_micros((1 << 41) - 1));
    }

    #[test]
    fn quantiles_take_the_value_at_the_rounded_up_rank() {
        // Values below 8 µs have exact buckets, so ranks show directly.
        let of = |values: &[u64], q: f64| {
            let mut h = LatencyHistogram::default();
            values.iter().for_each(|&v| h.record(Duration::from_micros(v)));
            h.quantile(q).as_micros()
        };
        let seven = [1, 2, 3, 4, 5, 6, 7];
        assert_eq!(of(&seven, 0.5), 4, "rank ceil(3.5) = 4");
        assert_eq!(of(&seven, 0.3), 3, "rank ceil(2.1) = 3");
        assert_eq!(of(&seven, 0.0), 1, "rank at least 1");
        assert_eq!(of(&seven, 1.0), 7);
        assert_eq!(of(&seven, f64::NAN), 7, "NaN reads as the maximum");
        assert_eq!(of(&[1, 2, 3, 4], 0.5), 2, "an exact rank is not rounded up");
        assert_eq!(of(&[1, 2, 3, 4], 0.75), 3);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) =
            (LatencyHistogram::default(), LatencyHistogram::default(), LatencyHistogram::default());
        for v in [3u64, 900, 70_000] {
            a.record(Duration::from_micros(v));
            all.record(Duration::from_micros(v));
        }
        for v in [900u64, 5, 2_000_000, 2_000_000] {
            b.record(Duration::from_micros(v));
            all.record(Duration::from_micros(v));
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.count(), 7);
        assert_eq!(a.max(), Duration::from_secs(2));
        assert_eq!(a.quantile(0.5), all.quantile(0.5));
    }

    #[test]
    fn a_merge_widens_the_run_only_past_its_ends() {
        let of = |micros: u64| {
            let mut h = LatencyHistogram::default();
            h.record(Duration::from_micros(micros));
            h
        };
        let mut a = of(1_000);
        assert_eq!((a.first, a.counts.len()), (55, 17));
        let buffer = a.counts.as_ptr();
        a.merge(&a.clone());
        assert_eq!((a.first, a.counts.len()), (55, 17), "the same run: kept");
        assert_eq!(a.counts.as_ptr(), buffer, "and not reallocated");
        assert_eq!(a.bucket(63), 2);
        a.merge(&LatencyHistogram::default());
        assert_eq!((a.first, a.counts.len(), a.count()), (55, 17, 2), "an empty one adds nothing");
        // 1 s keeps buckets 135..152: the run reaches them, 8 more past.
        a.merge(&of(1_000_000));
        assert_eq!((a.first, a.counts.len()), (55, 160 - 55));
        // 3 µs keeps 0..12: down to 0.
        a.merge(&of(3));
        assert_eq!((a.first, a.counts.len()), (0, 160));
        let mut expected = vec![0; BUCKETS];
        expected[63] = 2;
        expected[143] = 1;
        expected[3] = 1;
        assert_eq!(dense(&a), expected);
        // Into an empty one: the other's run.
        let mut e = LatencyHistogram::default();
        e.merge(&of(1_000));
        assert_eq!((e.first, e.counts.len(), e.count()), (55, 17, 1));
    }

    #[test]
    fn sums_of_counters_saturate_whatever_the_counts() {
        let m = Metrics {
            confirmed: u64::MAX - 1,
            stream_closed: 5,
            in_flight: u64::MAX,
            queued: 1,
            ..Metrics::default()
        };
        assert_eq!(m.finished(), u64::MAX);
        assert_eq!(m.pending(), u64::MAX);
        assert!(m.confirmation_rate().is_some_and(|r| r > 0.99));
        let small =
            Metrics { confirmed: 3, expired_attempts: 1, cancelled: 2, ..Metrics::default() };
        assert_eq!(small.finished(), 6);
    }

    #[test]
    fn pending_and_retries_per_send() {
        let m = Metrics { in_flight: 5, queued: 3, sent: 4, retried: 2, ..Metrics::default() };
        assert_eq!(m.pending(), 8);
        assert_eq!(m.retries_per_send(), Some(0.5));
        assert_eq!(Metrics::default().retries_per_send(), None);
        let once = Metrics { sent: 1, ..Metrics::default() };
        assert_eq!(once.retries_per_send(), Some(0.0));
    }

    #[test]
    fn confirmation_rate_is_confirmed_over_finished() {
        let m = Metrics { confirmed: 3, expired_deadline: 1, ..Metrics::default() };
        assert_eq!(m.confirmation_rate(), Some(0.75));
        assert_eq!(Metrics::default().confirmation_rate(), None);
    }
}
