//! Time as a trait: the adapters own the clock and the sleeping, the core only does sums.
//!
//! The state machines never read a clock. They take `now` as an argument and say when they
//! next need attention; the wrappers ask a [`Clock`] for `now` and a [`Timer`] for a
//! [`Sleep`](Clock::Sleep) until that instant. An adapter implements these two traits in a
//! few lines (`rsvp-smol` uses `std::time::Instant` and async-io's timer). Tests use the
//! [`ManualClock`] (feature `std`), which only moves when told to, so
//! every timeout in a test is deterministic.
//!
//! Firmware that has no time driver uses [`NoClock`]: calls work, and asking for a timeout
//! is a compile error rather than a silent no-op, because `NoClock` is not a [`Timer`].
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() {
//! use core::time::Duration;
//! use rsvp::time::{Clock, ManualClock};
//!
//! let clock = ManualClock::new();
//! let deadline = clock.after(Duration::from_millis(50));
//! assert!(clock.now() < deadline);
//! clock.advance(Duration::from_millis(50)); // time moves only when told to
//! assert_eq!(clock.now(), deadline);
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```

use core::fmt::Debug;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use crate::stats::{Histogram, Latencies};

#[cfg(feature = "std")]
pub use crate::manual_clock::{ManualClock, ManualInstant, ManualSleep};

/// A point in time of some clock.
pub trait Instant: Copy + Ord + Debug {
    /// `self + duration`, or `None` if that is not representable.
    fn checked_add(self, duration: Duration) -> Option<Self>;

    /// How long after `earlier` this instant is; zero if it is not after it.
    fn saturating_duration_since(self, earlier: Self) -> Duration;

    /// [`saturating_duration_since`](Self::saturating_duration_since) in nanoseconds,
    /// saturating at `u64::MAX` (584 years): how the endpoint times each reply for its
    /// statistics. An instant that counts ticks can give it without the 64-bit division
    /// a `Duration` costs on a 32-bit target, as embassy-time's does.
    fn nanos_since(self, earlier: Self) -> u64 {
        u64::try_from(self.saturating_duration_since(earlier).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What an endpoint records of each call's times, named by its [kind](crate::rpc::Kind):
/// [`Stamped`] or [`Unstamped`].
///
/// [`Stamped`], the default of [`With`](crate::rpc::With), keeps three instants per call:
/// when it started, was taken by a server and was answered. They give the
/// [`Timed`](crate::Timed) result of `call(..).timed()`,
/// [`RequestInfo::started_at`](crate::RequestInfo::started_at), and the latency percentiles
/// of the endpoint's stats. [`Unstamped`] keeps none, for firmware that counts its RAM: a
/// reply slot is smaller (for `u32`/`u32` on a 32-bit target with embassy-time, 32 bytes
/// instead of 48), `timed()` is not available (a compile error, not zeros), `started_at` is
/// `None`, and no latency is recorded. Deadlines and timeouts work the same; the outcome
/// counts are kept either way. A batch window still runs from its first request's arrival
/// with the inline queue, which dates its requests by when it last began to fill (never
/// later than their arrival); with a queue outside the lock, from when it is taken.
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::queue::InlineQueue;
/// use rsvp::rpc::With;
/// use rsvp::time::{NoClock, Unstamped};
/// use rsvp::Rpc;
///
/// let rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock, InlineQueue, Unstamped>> =
///     Rpc::new(NoClock);
/// let (caller, server) = Rpc::split(&rpc);
/// let call = caller.try_call(20).unwrap();
/// let (req, responder) = server.try_recv().unwrap();
/// assert_eq!(responder.info().started_at, None);
/// responder.reply(req + 1).unwrap();
/// assert_eq!(futures_executor::block_on(call), Ok(21));
/// ```
///
/// Without stamps there is no timing to read (with [`Stamped`] this compiles):
///
/// ```compile_fail
/// use rsvp::lock::LocalMutex;
/// use rsvp::queue::InlineQueue;
/// use rsvp::rpc::With;
/// use rsvp::time::{NoClock, Unstamped};
/// use rsvp::Rpc;
///
/// let rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock, InlineQueue, Unstamped>> =
///     Rpc::new(NoClock);
/// let (caller, _server) = Rpc::split(&rpc);
/// let _timed = caller.try_call(20).unwrap().timed();
/// ```
///
/// ```
/// # use rsvp::lock::LocalMutex;
/// # use rsvp::queue::InlineQueue;
/// # use rsvp::rpc::With;
/// # use rsvp::time::{NoClock, Stamped};
/// # use rsvp::Rpc;
/// let rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock, InlineQueue, Stamped>> =
///     Rpc::new(NoClock);
/// let (caller, _server) = Rpc::split(&rpc);
/// let _timed = caller.try_call(20).unwrap().timed();
/// ```
pub trait Times: sealed::Sealed {
    /// What a reply slot keeps of an instant `I`. rsvp's internals.
    #[doc(hidden)]
    type Stamp<I: Instant>: Stamp<I>;
}

/// Keeps when each call started, was taken and was answered: see [`Times`].
#[derive(Debug, Clone, Copy)]
pub enum Stamped {}

/// Keeps no instants of a call but its deadline: see [`Times`].
#[derive(Debug, Clone, Copy)]
pub enum Unstamped {}

impl Times for Stamped {
    type Stamp<I: Instant> = I;
}

impl Times for Unstamped {
    type Stamp<I: Instant> = NoStamp;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Stamped {}
    impl Sealed for super::Unstamped {}
}

/// What a reply slot keeps of an instant `I`: the instant, or nothing ([`NoStamp`]).
/// rsvp's internals.
#[doc(hidden)]
pub trait Stamp<I>: Copy {
    /// What the endpoint's stats keep of its replies' latencies.
    type Latencies: Latencies;
    /// What the reply slots keep, beside each call's stamp, to date the requests of the
    /// inline queue: nothing when each call keeps its start (`()`), otherwise when the
    /// queue last went from empty to holding a request (`Option<I>`). No request in the
    /// queue arrived before that instant, so a batch window opened then never closes
    /// late; it is exact for a request that finds the queue empty.
    type Backlog: Copy;
    /// The backlog of an empty endpoint.
    const NO_BACKLOG: Self::Backlog;
    /// Stamps `now`.
    fn stamp(now: I) -> Self;
    /// The instant stamped, if one was kept.
    fn instant(self) -> Option<I>;
    /// A request joins the inline queue at `now`; the queue was empty before it if
    /// `was_empty`.
    fn queued(backlog: &mut Self::Backlog, was_empty: bool, now: I);
    /// An instant no later than the request's arrival: the call's start if kept, else the
    /// backlog's (`None` when neither is known).
    fn arrived_by(self, backlog: Self::Backlog) -> Option<I>;
}

impl<I: Instant> Stamp<I> for I {
    type Latencies = Histogram;
    type Backlog = ();
    const NO_BACKLOG: () = ();
    #[inline(always)]
    fn stamp(now: I) -> Self {
        now
    }
    #[inline(always)]
    fn instant(self) -> Option<I> {
        Some(self)
    }
    #[inline(always)]
    fn queued(_: &mut (), _: bool, _: I) {}
    #[inline(always)]
    fn arrived_by(self, _: ()) -> Option<I> {
        Some(self)
    }
}

/// The stamp of [`Unstamped`] endpoints: nothing. rsvp's internals.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoStamp;

impl<I: Copy> Stamp<I> for NoStamp {
    type Latencies = ();
    type Backlog = Option<I>;
    const NO_BACKLOG: Option<I> = None;
    #[inline(always)]
    fn stamp(_: I) -> Self {
        NoStamp
    }
    #[inline(always)]
    fn instant(self) -> Option<I> {
        None
    }
    #[inline(always)]
    fn queued(backlog: &mut Option<I>, was_empty: bool, now: I) {
        if was_empty {
            *backlog = Some(now);
        }
    }
    #[inline(always)]
    fn arrived_by(self, backlog: Option<I>) -> Option<I> {
        backlog
    }
}

/// Something that tells the time.
pub trait Clock {
    /// This clock's instants.
    type Instant: Instant;

    /// The future a [`Timer`] made from this clock returns. It need not be `Unpin`: rsvp's
    /// futures keep it pinned inside themselves, so a runtime's own timer entry (tokio's
    /// `Sleep`, say) serves as it is, without a box per call. A clock that cannot sleep
    /// names a future that never
    /// completes (such as [`Never`]); it is never created, because only
    /// [`Timer::sleep_until`] makes one.
    type Sleep: Future<Output = ()>;

    /// Whether this clock's instants measure time. `false` only for clocks whose instants are
    /// all equal, such as [`NoClock`]: rsvp then records no latencies, rather than zeros.
    const MEASURES_TIME: bool = true;

    /// The current time.
    fn now(&self) -> Self::Instant;
}

/// Polls a sleep that a future keeps pinned inside itself: whether it has fired. `None`
/// (no deadline, or the sleep is gone already) never fires.
pub(crate) fn fired<S: Future<Output = ()>>(
    sleep: Pin<&mut Option<S>>,
    cx: &mut Context<'_>,
) -> bool {
    sleep
        .as_pin_mut()
        .is_some_and(|sleep| sleep.poll(cx).is_ready())
}

/// A clock that can also sleep until an instant.
pub trait Timer: Clock {
    /// A future that completes once `deadline` has been reached.
    fn sleep_until(&self, deadline: Self::Instant) -> Self::Sleep;
}

/// No clock at all, for firmware without a time driver.
///
/// Replies carry no meaningful timing and the latency histogram stays empty; timeouts are
/// not available (it implements [`Clock`] but not [`Timer`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClock;

/// The only instant of [`NoClock`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoInstant;

impl Instant for NoInstant {
    fn checked_add(self, _: Duration) -> Option<Self> {
        Some(Self)
    }
    fn saturating_duration_since(self, _: Self) -> Duration {
        Duration::ZERO
    }
}

/// A future that never completes: the [`Sleep`](Clock::Sleep) of clocks that cannot sleep.
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "futures do nothing unless polled"]
pub struct Never;

impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Clock for NoClock {
    type Instant = NoInstant;
    type Sleep = Never;
    const MEASURES_TIME: bool = false;
    fn now(&self) -> NoInstant {
        NoInstant
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    type Instant = C::Instant;
    type Sleep = C::Sleep;
    const MEASURES_TIME: bool = C::MEASURES_TIME;
    fn now(&self) -> C::Instant {
        (**self).now()
    }
}

impl<T: Timer + ?Sized> Timer for &T {
    fn sleep_until(&self, deadline: T::Instant) -> T::Sleep {
        (**self).sleep_until(deadline)
    }
}

#[cfg(feature = "std")]
impl Instant for std::time::Instant {
    fn checked_add(self, duration: Duration) -> Option<Self> {
        std::time::Instant::checked_add(&self, duration)
    }
    fn saturating_duration_since(self, earlier: Self) -> Duration {
        std::time::Instant::saturating_duration_since(&self, earlier)
    }
}

/// The host's monotonic clock, `std::time::Instant::now()`. It cannot sleep by itself:
/// adapters pair it with their runtime's timer.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, Default)]
pub struct StdClock;

#[cfg(feature = "std")]
impl Clock for StdClock {
    type Instant = std::time::Instant;
    type Sleep = Never;
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

// embassy-time's instants count ticks in a `u64`, so they never wrap in practice; its
// durations have tick resolution, and converting rounds a timeout up to the next tick, so a
// deadline is never earlier than asked.
#[cfg(feature = "embassy-time")]
impl Instant for embassy_time::Instant {
    fn checked_add(self, duration: Duration) -> Option<Self> {
        // A timeout too large for a tick count is `None` ("never").
        let ticks = embassy_ticks::from_duration(duration)?;
        embassy_time::Instant::checked_add(&self, embassy_time::Duration::from_ticks(ticks))
    }
    fn saturating_duration_since(self, earlier: Self) -> Duration {
        embassy_time::Instant::saturating_duration_since(&self, earlier).into()
    }
    fn nanos_since(self, earlier: Self) -> u64 {
        embassy_ticks::to_nanos(self.as_ticks().saturating_sub(earlier.as_ticks()))
    }
}

/// Ticks of embassy-time and nanoseconds, converted with no 64-bit division at the usual
/// tick rates (those whose ratio to 1 GHz, reduced, fits in 32 bits, as 1 MHz, 32.768 kHz
/// or 1 kHz do): a 32-bit target would call a 64-bit division routine (0.9 KiB, and slow)
/// on every timed call and every reply.
#[cfg(feature = "embassy-time")]
mod embassy_ticks {
    use core::time::Duration;

    use embassy_time::TICK_HZ;

    /// `ticks` of embassy-time in nanoseconds, saturating.
    pub(super) fn to_nanos(ticks: u64) -> u64 {
        to_nanos_at::<TICK_HZ>(ticks)
    }

    /// The ticks of embassy-time in `d`, rounded up; `None` if they overflow a `u64`.
    pub(super) fn from_duration(d: Duration) -> Option<u64> {
        from_duration_at::<TICK_HZ>(d)
    }

    const NANOS_PER_SEC: u64 = 1_000_000_000;

    const fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }

    /// `(ticks, nanos)`: `HZ`'s ratio to 1 GHz, reduced.
    const fn ratio<const HZ: u64>() -> (u64, u64) {
        let g = gcd(NANOS_PER_SEC, HZ);
        (HZ / g, NANOS_PER_SEC / g)
    }

    /// Divides only by the reduced tick count: 1 at 1 MHz, 64 at 32.768 kHz (a shift).
    fn to_nanos_at<const HZ: u64>(ticks: u64) -> u64 {
        let (t, n) = const { ratio::<HZ>() };
        // Whole multiples of `t` first, so that only a product that truly overflows
        // saturates: `r * n < t * n`, which fits for any tick rate below 18 GHz.
        let (q, r) = (ticks / t, ticks % t);
        q.saturating_mul(n).saturating_add(r * n / t)
    }

    fn from_duration_at<const HZ: u64>(d: Duration) -> Option<u64> {
        let (t, n) = const { ratio::<HZ>() };
        let whole = d.as_secs().checked_mul(HZ)?;
        let sub = d.subsec_nanos();
        // `sub * t / n` rounded up, split at whole multiples of `n` so that each product
        // stays below `t * n`: in 32 bits when that fits.
        let part = if t * n <= u32::MAX as u64 {
            let (t, n) = (t as u32, n as u32);
            u64::from(sub / n * t + (sub % n * t).div_ceil(n))
        } else {
            (u64::from(sub) * t).div_ceil(n)
        };
        whole.checked_add(part)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn check<const HZ: u64>() {
            let hz = u128::from(HZ);
            let durations = [
                0u64,
                1,
                999,
                1_000,
                1_001,
                30_517,
                999_999_999,
                1_000_000_000,
            ];
            for nanos in durations.into_iter().chain([123_456_789_012, 1 << 50]) {
                let exact = (u128::from(nanos) * hz).div_ceil(1_000_000_000);
                let got = from_duration_at::<HZ>(Duration::from_nanos(nanos));
                assert_eq!(got.map(u128::from), Some(exact), "{nanos} ns at {HZ} Hz");
            }
            assert_eq!(from_duration_at::<HZ>(Duration::MAX), None, "{HZ} Hz");
            for ticks in [0u64, 1, 7, 32_768, 1_000_000, 1 << 40, 1 << 60, u64::MAX] {
                let exact = (u128::from(ticks) * 1_000_000_000 / hz).min(u128::from(u64::MAX));
                assert_eq!(
                    u128::from(to_nanos_at::<HZ>(ticks)),
                    exact,
                    "{ticks} at {HZ} Hz"
                );
            }
        }

        #[test]
        fn conversions_round_as_exact_arithmetic_does_at_every_tick_rate() {
            check::<1_000_000>();
            check::<32_768>();
            check::<1_000>();
            check::<1_000_000_000>();
            check::<48_000_000>();
            check::<3>(); // coprime with 10^9: the 64-bit path
            check::<TICK_HZ>();
        }
    }
}
