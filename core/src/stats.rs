//! Monitoring: how every call ended, and how long the replies took.
//!
//! # Design
//!
//! [`Stats`] is a plain struct that lives inside an endpoint's state, under the same lock, so
//! it is built to be cheap there: no allocation, [`record`](Stats::record) is a few integer
//! operations (no loop), and the whole thing is under 300 bytes, small enough for a
//! Cortex-M0 with 16 KiB of RAM.
//!
//! - **Counters.** One per [`Outcome`]. Every call is recorded exactly once, when it ends, so
//!   the counters add up to the number of finished calls (rsvp's "exactly one outcome per
//!   call" promise, made visible). They saturate instead of wrapping.
//! - **Gauges are not stored.** How many calls are queued or in flight right now is known by
//!   the owner of the slots; it passes them to [`snapshot`](Stats::snapshot), so a gauge can
//!   never drift from the truth.
//! - **Latency histogram.** Only replies have a latency (a timeout's "latency" is its
//!   timeout). [`Histogram`] keeps 54 fixed log-linear buckets: each power of two of
//!   nanoseconds from 1.024 µs to 68.7 s is split into two linear halves, found with
//!   `leading_zeros` and a shift, plus one bucket below and one above. A percentile is the
//!   upper bound of the bucket holding that rank, capped at the largest latency recorded:
//!   never below the true value, and in the regular range at most 50 % above it. Two
//!   halves, not four, because four would double the buckets past the RAM budget.
//!
//! # Example
//!
//! ```
//! use core::time::Duration;
//! use rsvp::stats::{Outcome, Stats};
//!
//! let mut stats = Stats::new();
//! for ms in 1..=9 {
//!     stats.record(Outcome::Replied, Some(Duration::from_millis(ms)));
//! }
//! stats.record(Outcome::Timeout, None);
//!
//! // The owner knows its queue and its slots; here two calls are still waiting for a reply.
//! let snapshot = stats.snapshot(0, 2);
//! assert_eq!(snapshot.total(), 10);
//! assert_eq!(snapshot.count(Outcome::Timeout), 1);
//! assert_eq!(snapshot.success_rate(), Some(0.9));
//!
//! // The median reply took 5 ms; the histogram answers with its bucket's upper bound.
//! let p50 = snapshot.p50.unwrap();
//! assert!(Duration::from_millis(5) <= p50 && p50 <= Duration::from_micros(7_500));
//! // The top bucket's bound is capped at the slowest reply seen.
//! assert_eq!(snapshot.p99, Some(Duration::from_millis(9)));
//!
//! assert_eq!(
//!     snapshot.to_string(),
//!     "calls 10: replied 9, timeout 1 | queued 0, in flight 2 \
//!      | p50 6.3ms, p90 9.0ms, p99 9.0ms | success 90.0%",
//! );
//! ```

use core::fmt;
use core::time::Duration;

/// How one call ended. Every call ends in exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The responder replied.
    Replied,
    /// The queue was full, and the caller asked not to wait (`try_*` calls only).
    Full,
    /// The call's deadline passed before a reply arrived.
    Timeout,
    /// No server, or it shut down before taking the request.
    Closed,
    /// The responder dropped the reply handle, or panicked, without answering.
    Lost,
    /// The caller gave up by dropping its future (not a timeout).
    Cancelled,
}

impl Outcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Replied,
        Outcome::Full,
        Outcome::Timeout,
        Outcome::Closed,
        Outcome::Lost,
        Outcome::Cancelled,
    ];

    /// Whether the call succeeded; only [`Replied`](Outcome::Replied) does.
    pub const fn is_success(self) -> bool {
        matches!(self, Outcome::Replied)
    }

    /// The lower-case name, as [`Display`](fmt::Display) writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Replied => "replied",
            Outcome::Full => "full",
            Outcome::Timeout => "timeout",
            Outcome::Closed => "closed",
            Outcome::Lost => "lost",
            Outcome::Cancelled => "cancelled",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Linear sub-buckets per power of two, as a power of two: 2 halves, so a bucket is at most
/// half as wide as its lower bound.
const SUB_BITS: u32 = 1;
const SUBS: usize = 1 << SUB_BITS;
/// The first regular bucket starts at 2^10 ns (1.024 µs).
const MIN_EXP: u32 = 10;
/// The overflow bucket starts at 2^36 ns (68.7 s).
const MAX_EXP: u32 = 36;
const BUCKETS: usize = 2 + (MAX_EXP - MIN_EXP) as usize * SUBS;
const OVERFLOW: usize = BUCKETS - 1;

/// The bucket holding `nanos`.
fn bucket_of(nanos: u64) -> usize {
    if nanos < 1 << MIN_EXP {
        return 0;
    }
    if nanos >= 1 << MAX_EXP {
        return OVERFLOW;
    }
    // The position of the top bit picks the power of two; the bits just below it pick the
    // linear sub-bucket inside it.
    let exp = u64::BITS - 1 - nanos.leading_zeros();
    let sub = (nanos >> (exp - SUB_BITS)) as usize & (SUBS - 1);
    1 + (exp - MIN_EXP) as usize * SUBS + sub
}

/// The range `[lower, upper)` of bucket `index`, in nanoseconds; the overflow bucket's upper
/// bound is `u64::MAX`.
fn bucket_range(index: usize) -> (u64, u64) {
    match index {
        0 => (0, 1 << MIN_EXP),
        OVERFLOW => (1 << MAX_EXP, u64::MAX),
        _ => {
            let exp = MIN_EXP + ((index - 1) / SUBS) as u32;
            let sub = ((index - 1) % SUBS) as u64;
            let width = 1u64 << (exp - SUB_BITS);
            let lower = (1u64 << exp) + sub * width;
            (lower, lower + width)
        }
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The 1-based rank of percentile `p` among `n` values (nearest-rank method).
fn nearest_rank(p: f64, n: u64) -> u64 {
    // `!(p >= 0.0)` also catches NaN.
    let p = if p >= 0.0 { p.min(100.0) } else { 0.0 };
    // Multiply before dividing, so whole percentages of whole counts stay exact.
    let exact = p * n as f64 / 100.0;
    let truncated = exact as u64;
    // `f64::ceil` is not in `core`.
    let rank = if (truncated as f64) < exact {
        truncated + 1
    } else {
        truncated
    };
    rank.clamp(1, n)
}

/// A latency histogram in fixed log-linear buckets; it never allocates.
///
/// Each power of two of nanoseconds from 2^10 ns (1.024 µs) to 2^36 ns (68.7 s) is split
/// into two linear halves, with one bucket for everything faster and one for everything
/// slower, 54 buckets in all:
///
/// ```text
/// bucket 0          [0, 2^10 ns)                    underflow (below ~1 µs)
/// bucket 1 + 2k     [2^(10+k), 1.5 * 2^(10+k))     k = 0 ..= 25
/// bucket 2 + 2k     [1.5 * 2^(10+k), 2^(11+k))
/// bucket 53         [2^36 ns, ∞)                   overflow (above ~68.7 s)
/// ```
///
/// So a bucket is at most half as wide as its lower bound, and a
/// [`percentile`](Self::percentile) is at most 50 % above the true value. Recording is O(1);
/// bucket counters are `u32` and saturate.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use rsvp::stats::Histogram;
///
/// let mut h = Histogram::new();
/// h.record(Duration::from_micros(300));
/// h.record(Duration::from_micros(900));
/// assert_eq!(h.count(), 2);
/// let p50 = h.percentile(50.0).unwrap();
/// assert!(Duration::from_micros(300) <= p50 && p50 <= Duration::from_micros(450));
/// assert_eq!(h.percentile(100.0), Some(Duration::from_micros(900)));
/// ```
#[derive(Clone)]
pub struct Histogram {
    buckets: [u32; BUCKETS],
    /// Everything recorded, even after a bucket saturated.
    count: u64,
    /// The largest latency recorded: caps the percentiles, and gives the overflow bucket an
    /// upper bound.
    max_nanos: u64,
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        Self {
            buckets: [0; BUCKETS],
            count: 0,
            max_nanos: 0,
        }
    }

    /// Adds one latency.
    pub fn record(&mut self, latency: Duration) {
        self.record_nanos(saturating_nanos(latency));
    }

    /// Adds one latency, in nanoseconds.
    pub(crate) fn record_nanos(&mut self, nanos: u64) {
        let bucket = &mut self.buckets[bucket_of(nanos)];
        *bucket = bucket.saturating_add(1);
        self.count = self.count.saturating_add(1);
        self.max_nanos = self.max_nanos.max(nanos);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest latency recorded, or `None` if the histogram is empty.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.max_nanos))
    }

    /// An upper bound of the `p`-th percentile (`p` in `0.0..=100.0`), or `None` if the
    /// histogram is empty.
    ///
    /// The rank is the nearest rank (`ceil(p / 100 * count)`, at least 1); the answer is the
    /// upper bound of the bucket holding that rank, capped at the largest latency recorded.
    /// So it is never below the true value, and for latencies between 1.024 µs and 68.7 s at
    /// most 50 % above it; below that range it is at most 1.024 µs. `p` outside
    /// `0.0..=100.0` is clamped, and NaN counts as 0.
    ///
    /// If a bucket has saturated, ranks are taken among the counts the buckets kept.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let kept: u64 = self.buckets.iter().map(|&c| u64::from(c)).sum();
        if kept == 0 {
            return None;
        }
        let rank = nearest_rank(p, kept);
        let mut seen = 0u64;
        let index = self.buckets.iter().position(|&c| {
            seen += u64::from(c);
            seen >= rank
        })?;
        let (_, upper) = bucket_range(index);
        Some(Duration::from_nanos(upper.min(self.max_nanos)))
    }

    /// Forgets everything recorded.
    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the buckets that hold something, keyed by their upper bound: fifty zeros
        // help nobody.
        struct Buckets<'a>(&'a [u32; BUCKETS]);
        impl fmt::Debug for Buckets<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let filled = self.0.iter().enumerate().filter(|(_, &c)| c > 0);
                f.debug_map()
                    .entries(filled.map(|(i, c)| {
                        let (_, upper) = bucket_range(i);
                        (Compact(Duration::from_nanos(upper)), c)
                    }))
                    .finish()
            }
        }
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("max", &self.max())
            .field("buckets", &Buckets(&self.buckets))
            .finish()
    }
}

/// Outcome counters and a latency histogram for one endpoint.
///
/// The endpoint records every call once, when it ends; [`snapshot`](Self::snapshot) turns
/// the counters into a report. It allocates nothing and [`record`](Self::record) is O(1), so
/// it can sit under the endpoint's lock, in a `static` on firmware.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use rsvp::stats::{Outcome, Stats};
///
/// let mut stats = Stats::new();
/// stats.record(Outcome::Replied, Some(Duration::from_micros(800)));
/// stats.record(Outcome::Lost, None);
/// let snapshot = stats.snapshot(1, 0);
/// assert_eq!(snapshot.success_rate(), Some(0.5));
/// // One timed reply: every percentile is capped at it.
/// assert_eq!(snapshot.p50, Some(Duration::from_micros(800)));
/// ```
///
/// An endpoint that keeps no start times of its calls ([`Unstamped`](crate::time::Unstamped))
/// keeps no histogram either (`L` is `()`): its snapshots count outcomes, without
/// percentiles.
#[derive(Clone, Debug, Default)]
pub struct Stats<L = Histogram> {
    counts: [u64; Outcome::ALL.len()],
    latency: L,
}

impl Stats {
    /// Empty statistics; `const`, so they can live in a `static`.
    pub const fn new() -> Self {
        Self::empty()
    }

    /// The latencies of the replies.
    pub fn latency(&self) -> &Histogram {
        &self.latency
    }
}

/// The latencies [`Stats`] keep of the replies: a [`Histogram`], or nothing (`()`).
/// rsvp's internals.
#[doc(hidden)]
pub trait Latencies {
    /// None recorded.
    const EMPTY: Self;
    /// Adds one, in nanoseconds.
    fn record_nanos(&mut self, nanos: u64);
    /// The latency at percentile `p`, if kept.
    fn percentile(&self, p: f64) -> Option<Duration>;
}

impl Latencies for Histogram {
    const EMPTY: Self = Histogram::new();
    #[inline(always)]
    fn record_nanos(&mut self, nanos: u64) {
        Histogram::record_nanos(self, nanos);
    }
    fn percentile(&self, p: f64) -> Option<Duration> {
        Histogram::percentile(self, p)
    }
}

impl Latencies for () {
    const EMPTY: Self = ();
    #[inline(always)]
    fn record_nanos(&mut self, _: u64) {}
    fn percentile(&self, _: f64) -> Option<Duration> {
        None
    }
}

impl<L: Latencies> Stats<L> {
    /// Empty statistics.
    pub(crate) const fn empty() -> Self {
        Self {
            counts: [0; Outcome::ALL.len()],
            latency: L::EMPTY,
        }
    }

    /// Counts one finished call.
    ///
    /// `latency` goes into the histogram only for [`Outcome::Replied`]: the other outcomes'
    /// durations say nothing about how fast the responder is (a timeout's is its timeout).
    /// A reply without a latency (no clock, see [`NoClock`](crate::time::NoClock)) is
    /// counted but not timed.
    pub fn record(&mut self, outcome: Outcome, latency: Option<Duration>) {
        self.record_nanos(outcome, latency.map(saturating_nanos));
    }

    /// [`record`](Self::record) with the latency in nanoseconds.
    pub(crate) fn record_nanos(&mut self, outcome: Outcome, latency: Option<u64>) {
        let count = &mut self.counts[outcome.index()];
        *count = count.saturating_add(1);
        if let (Outcome::Replied, Some(nanos)) = (outcome, latency) {
            self.latency.record_nanos(nanos);
        }
    }

    /// How many calls ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.counts[outcome.index()]
    }

    /// How many calls ended, whatever the outcome.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |sum, &c| sum.saturating_add(c))
    }

    /// The counts and latency percentiles now, with the gauges the owner supplies: `queued`
    /// requests not yet taken by a responder and `in_flight` requests a responder is working
    /// on.
    pub fn snapshot(&self, queued: usize, in_flight: usize) -> StatsSnapshot {
        let count = |o| self.count(o);
        StatsSnapshot {
            replied: count(Outcome::Replied),
            full: count(Outcome::Full),
            timeout: count(Outcome::Timeout),
            closed: count(Outcome::Closed),
            lost: count(Outcome::Lost),
            cancelled: count(Outcome::Cancelled),
            queued,
            in_flight,
            p50: self.latency.percentile(50.0),
            p90: self.latency.percentile(90.0),
            p99: self.latency.percentile(99.0),
        }
    }

    /// Forgets every count and latency, to start a new reporting period.
    pub fn clear(&mut self) {
        *self = Self::empty();
    }
}

/// A copy of an endpoint's [`Stats`] at one moment, with its gauges.
///
/// Its [`Display`](fmt::Display) is one readable line, with the outcomes that never happened
/// left out:
///
/// ```text
/// calls 12: replied 10, timeout 1, lost 1 | queued 0, in flight 0 | p50 1.5ms, p90 3.0ms, p99 3.1ms | success 83.3%
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatsSnapshot {
    /// Calls that got their reply.
    pub replied: u64,
    /// `try_*` calls and reservations refused because every slot (or the queue) was full.
    pub full: u64,
    /// Calls whose deadline passed.
    pub timeout: u64,
    /// Calls (and reservations) that found the endpoint shut down, or whose request was
    /// still queued when it shut down or lost its last server handle.
    pub closed: u64,
    /// Calls whose responder dropped the reply handle without answering.
    pub lost: u64,
    /// Calls whose caller dropped its future.
    pub cancelled: u64,
    /// Requests waiting in the queue for a responder, when the snapshot was taken.
    pub queued: usize,
    /// Requests a responder has taken and not yet answered, when the snapshot was taken.
    pub in_flight: usize,
    /// Median reply latency (an upper bound, see [`Histogram::percentile`]); `None` before
    /// the first timed reply.
    pub p50: Option<Duration>,
    /// 90th percentile reply latency.
    pub p90: Option<Duration>,
    /// 99th percentile reply latency.
    pub p99: Option<Duration>,
}

impl StatsSnapshot {
    /// How many calls ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> u64 {
        match outcome {
            Outcome::Replied => self.replied,
            Outcome::Full => self.full,
            Outcome::Timeout => self.timeout,
            Outcome::Closed => self.closed,
            Outcome::Lost => self.lost,
            Outcome::Cancelled => self.cancelled,
        }
    }

    /// How many calls ended, whatever the outcome.
    pub fn total(&self) -> u64 {
        Outcome::ALL
            .iter()
            .fold(0, |sum, &o| sum.saturating_add(self.count(o)))
    }

    /// The share of calls that got their reply (`replied / total`, from 0.0 to 1.0), or
    /// `None` before any call has ended. Every other outcome, including a caller's own
    /// cancellation, counts as a failure.
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.replied as f64 / total as f64)
    }
}

impl fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "calls {}: replied {}", self.total(), self.replied)?;
        for outcome in &Outcome::ALL[1..] {
            let n = self.count(*outcome);
            if n > 0 {
                write!(f, ", {outcome} {n}")?;
            }
        }
        write!(
            f,
            " | queued {}, in flight {} | p50 {}, p90 {}, p99 {} | success ",
            self.queued,
            self.in_flight,
            MaybeCompact(self.p50),
            MaybeCompact(self.p90),
            MaybeCompact(self.p99),
        )?;
        match self.success_rate() {
            Some(rate) => write!(f, "{:.1}%", rate * 100.0),
            None => f.write_str("-"),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for StatsSnapshot {
    fn format(&self, f: defmt::Formatter<'_>) {
        // defmt has no `Duration`; microseconds are precise enough for bucket bounds.
        let us = |d: Option<Duration>| d.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        defmt::write!(
            f,
            "calls {=u64}: replied {=u64}, full {=u64}, timeout {=u64}, closed {=u64}, lost {=u64}, cancelled {=u64} | queued {=usize}, in flight {=usize} | p50 {}us, p90 {}us, p99 {}us",
            self.total(),
            self.replied,
            self.full,
            self.timeout,
            self.closed,
            self.lost,
            self.cancelled,
            self.queued,
            self.in_flight,
            us(self.p50),
            us(self.p90),
            us(self.p99),
        )
    }
}

/// A duration in the largest unit that keeps it at or above 1, with one decimal.
struct Compact(Duration);

impl fmt::Display for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        let x = nanos as f64;
        // The thresholds sit where rounding to one decimal would print "1000.0" of a unit.
        if x < 999.5 {
            write!(f, "{nanos}ns")
        } else if x < 999_950.0 {
            write!(f, "{:.1}us", x / 1e3)
        } else if x < 999_950_000.0 {
            write!(f, "{:.1}ms", x / 1e6)
        } else {
            write!(f, "{:.1}s", x / 1e9)
        }
    }
}

impl fmt::Debug for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

struct MaybeCompact(Option<Duration>);

impl fmt::Display for MaybeCompact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => Compact(d).fmt(f),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    /// xorshift64: deterministic, good enough to spread latencies.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Log-uniform-ish nanoseconds from 0 to 2^40 (past the overflow bucket).
        fn nanos(&mut self) -> u64 {
            let bits = 1 + self.next() % 40;
            self.next() & ((1 << bits) - 1)
        }
    }

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn stats_fit_a_small_microcontroller() {
        assert!(
            core::mem::size_of::<Stats>() <= 320,
            "Stats is {} bytes",
            core::mem::size_of::<Stats>()
        );
    }

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        assert_eq!(bucket_range(0).0, 0);
        for i in 0..OVERFLOW {
            let (lower, upper) = bucket_range(i);
            assert!(lower < upper, "bucket {i}");
            assert_eq!(upper, bucket_range(i + 1).0, "gap after bucket {i}");
            assert_eq!(bucket_of(lower), i, "lower bound of bucket {i}");
            assert_eq!(bucket_of(upper - 1), i, "last value of bucket {i}");
            assert_eq!(bucket_of(upper), i + 1, "upper bound of bucket {i}");
        }
        assert_eq!(bucket_range(OVERFLOW).1, u64::MAX);
        assert_eq!(bucket_of(u64::MAX), OVERFLOW);
    }

    #[test]
    fn buckets_cover_a_microsecond_to_a_minute_within_half_their_lower_bound() {
        // The first regular bucket starts near 1 µs, the overflow bucket after a minute.
        assert!(bucket_range(1).0 <= 1_100);
        assert!(bucket_range(OVERFLOW).0 >= 60_000_000_000);
        for i in 1..OVERFLOW {
            let (lower, upper) = bucket_range(i);
            assert!((upper - lower) * 2 <= lower, "bucket {i} is too wide");
        }
    }

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        // Scaled down under miri, which interprets every step (~100x slower), not skipped.
        for _ in 0..if cfg!(miri) { 1_000 } else { 100_000 } {
            let v = rng.nanos();
            let (lower, upper) = bucket_range(bucket_of(v));
            assert!(lower <= v && v < upper, "{v} in [{lower}, {upper})");
        }
    }

    #[test]
    fn percentile_of_one_value_bounds_it_within_half() {
        let mut rng = Rng(7);
        // Scaled down under miri, which interprets every step (~100x slower), not skipped.
        for _ in 0..if cfg!(miri) { 300 } else { 10_000 } {
            let v = rng.nanos() | 1 << MIN_EXP;
            let v = v.min((1 << MAX_EXP) - 1);
            let mut h = Histogram::new();
            h.record(ns(v));
            // Another value in a higher bucket, so the cap at the maximum does not hide
            // the bucket bound.
            h.record(ns(1 << MAX_EXP));
            let got = saturating_nanos(h.percentile(50.0).unwrap());
            assert!(v <= got && got * 2 <= v * 3, "{v} reported as {got}");
            assert_eq!(got, bucket_range(bucket_of(v)).1);
        }
    }

    #[test]
    fn percentiles_match_a_sorted_reference() {
        let mut rng = Rng(0xDEAD_BEEF);
        // The two large sizes only outside miri, which interprets every step.
        let sizes: &[u64] = if cfg!(miri) {
            &[1, 2, 3, 10, 99, 100]
        } else {
            &[1, 2, 3, 10, 99, 100, 1234, 20_000]
        };
        for &n in sizes {
            let mut h = Histogram::new();
            let mut values: Vec<u64> = (0..n).map(|_| rng.nanos()).collect();
            for &v in &values {
                h.record(ns(v));
            }
            values.sort_unstable();
            let max = *values.last().unwrap();
            // (percent, per mille) so the reference rank is pure integer arithmetic.
            for (p, per_mille) in [
                (0.0, 0),
                (1.0, 10),
                (25.0, 250),
                (50.0, 500),
                (75.0, 750),
                (90.0, 900),
                (99.0, 990),
                (99.9, 999),
                (100.0, 1000),
            ] {
                let rank = (per_mille * n).div_ceil(1000).max(1);
                let truth = values[rank as usize - 1];
                let got = saturating_nanos(h.percentile(p).unwrap());
                let (_, upper) = bucket_range(bucket_of(truth));
                assert_eq!(got, upper.min(max), "p{p} of {n}: truth {truth}");
                assert!(got >= truth, "p{p} of {n}: {got} < {truth}");
                if bucket_of(truth) == 0 {
                    assert!(got <= 1 << MIN_EXP);
                } else if bucket_of(truth) < OVERFLOW {
                    assert!(got * 2 <= truth * 3, "p{p} of {n}: {got} vs {truth}");
                } else {
                    assert_eq!(got, max);
                }
            }
        }
    }

    #[test]
    fn percentile_edge_cases() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(50.0), None);
        assert_eq!(h.max(), None);

        h.record(Duration::ZERO);
        assert_eq!(h.percentile(50.0), Some(Duration::ZERO));

        // Huge latencies land in the overflow bucket and are reported as the maximum; the
        // underflow bucket's bound is no longer capped by it.
        h.record(Duration::MAX);
        assert_eq!(h.percentile(100.0), Some(ns(u64::MAX)));
        assert_eq!(h.percentile(50.0), Some(ns(1 << MIN_EXP)));

        // Out-of-range and NaN percentiles are clamped instead of panicking.
        assert_eq!(h.percentile(-5.0), Some(ns(1 << MIN_EXP)));
        assert_eq!(h.percentile(f64::NAN), Some(ns(1 << MIN_EXP)));
        assert_eq!(h.percentile(250.0), Some(ns(u64::MAX)));

        h.clear();
        assert_eq!(h.count(), 0);
        assert_eq!(h.percentile(0.0), None);
    }

    #[test]
    fn nearest_rank_is_exact_for_whole_percentages() {
        // Every size up to 1000, or up to 60 under miri, which interprets every step.
        for n in 1..=if cfg!(miri) { 60 } else { 1000u64 } {
            for p in 0..=100u64 {
                let want = (p * n).div_ceil(100).max(1);
                assert_eq!(nearest_rank(p as f64, n), want, "p{p} of {n}");
            }
        }
    }

    #[test]
    fn bucket_counters_saturate() {
        let mut h = Histogram::new();
        let i = bucket_of(5_000);
        h.buckets[i] = u32::MAX - 1;
        h.count = u64::from(u32::MAX - 1);
        h.record(ns(5_000));
        h.record(ns(5_000));
        assert_eq!(h.buckets[i], u32::MAX);
        assert_eq!(h.count(), u64::from(u32::MAX) + 1);
        // Ranks are taken among what the buckets kept, so the answer stays meaningful.
        h.record(ns(1 << 30));
        assert_eq!(h.percentile(99.0), Some(ns(bucket_range(i).1)));
        assert_eq!(h.percentile(100.0), Some(ns(1 << 30)));
    }

    #[test]
    fn outcome_counters_saturate() {
        let mut stats = Stats::new();
        stats.counts[Outcome::Lost.index()] = u64::MAX - 1;
        stats.record(Outcome::Lost, None);
        stats.record(Outcome::Lost, None);
        assert_eq!(stats.count(Outcome::Lost), u64::MAX);
        stats.record(Outcome::Replied, None);
        assert_eq!(stats.total(), u64::MAX);
        assert_eq!(stats.snapshot(0, 0).total(), u64::MAX);
    }

    #[test]
    fn counts_each_outcome_separately() {
        let mut stats = Stats::new();
        for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                stats.record(outcome, Some(Duration::from_millis(1)));
            }
        }
        let snapshot = stats.snapshot(3, 4);
        for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(stats.count(outcome), i as u64 + 1, "{outcome}");
            assert_eq!(snapshot.count(outcome), i as u64 + 1, "{outcome}");
        }
        assert_eq!(stats.total(), 21);
        assert_eq!(snapshot.total(), 21);
        assert_eq!((snapshot.queued, snapshot.in_flight), (3, 4));
        // Only the one reply was timed; the others' durations were ignored.
        assert_eq!(stats.latency().count(), 1);
    }

    #[test]
    fn only_replies_are_timed() {
        let mut stats = Stats::new();
        stats.record(Outcome::Replied, Some(Duration::from_millis(2)));
        stats.record(Outcome::Timeout, Some(Duration::from_secs(30)));
        stats.record(Outcome::Cancelled, Some(Duration::from_secs(10)));
        stats.record(Outcome::Replied, None);
        let snapshot = stats.snapshot(0, 0);
        assert_eq!(stats.latency().count(), 1);
        assert_eq!(snapshot.p99, Some(Duration::from_millis(2)));
        assert_eq!(snapshot.replied, 2);
    }

    #[test]
    fn success_rate_is_replies_over_all_outcomes() {
        let mut stats = Stats::new();
        assert_eq!(stats.snapshot(0, 0).success_rate(), None);
        stats.record(Outcome::Full, None);
        assert_eq!(stats.snapshot(0, 0).success_rate(), Some(0.0));
        for _ in 0..3 {
            stats.record(Outcome::Replied, None);
        }
        assert_eq!(stats.snapshot(0, 0).success_rate(), Some(0.75));
        stats.record(Outcome::Cancelled, None);
        assert_eq!(stats.snapshot(0, 0).success_rate(), Some(0.6));
        stats.clear();
        assert_eq!(stats.snapshot(0, 0).success_rate(), None);
        assert_eq!(stats.total(), 0);
    }

    #[test]
    fn outcomes() {
        assert!(Outcome::Replied.is_success());
        assert_eq!(Outcome::ALL.iter().filter(|o| o.is_success()).count(), 1);
        let names: Vec<_> = Outcome::ALL.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            names,
            ["replied", "full", "timeout", "closed", "lost", "cancelled"]
        );
        for (i, o) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(o.index(), i);
        }
    }

    #[test]
    fn snapshot_display_is_one_readable_line() {
        let snapshot = StatsSnapshot {
            replied: 10,
            full: 0,
            timeout: 1,
            closed: 0,
            lost: 1,
            cancelled: 0,
            queued: 2,
            in_flight: 3,
            p50: Some(Duration::from_micros(1_536)),
            p90: Some(Duration::from_micros(750)),
            p99: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            snapshot.to_string(),
            "calls 12: replied 10, timeout 1, lost 1 | queued 2, in flight 3 \
             | p50 1.5ms, p90 750.0us, p99 3.0s | success 83.3%"
        );

        let empty = Stats::new().snapshot(0, 0);
        assert_eq!(
            empty.to_string(),
            "calls 0: replied 0 | queued 0, in flight 0 | p50 -, p90 -, p99 - | success -"
        );
    }

    #[test]
    fn compact_durations_pick_a_unit_without_printing_1000() {
        let cases = [
            (ns(0), "0ns"),
            (ns(999), "999ns"),
            (ns(1_000), "1.0us"),
            (ns(999_949), "999.9us"),
            (ns(999_950), "1.0ms"),
            (ns(1_572_864), "1.6ms"),
            (ns(999_950_000), "1.0s"),
            (Duration::from_secs(90), "90.0s"),
        ];
        for (d, want) in cases {
            assert_eq!(Compact(d).to_string(), want);
        }
    }

    #[test]
    fn debug_lists_only_filled_buckets() {
        let mut h = Histogram::new();
        h.record(ns(1_100));
        h.record(ns(1_200));
        assert_eq!(
            std::format!("{h:?}"),
            "Histogram { count: 2, max: Some(1.2µs), buckets: {1.5us: 2} }"
        );
    }
}
