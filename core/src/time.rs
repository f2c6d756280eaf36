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

#[cfg(feature = "std")]
pub use crate::manual_clock::{ManualClock, ManualInstant, ManualSleep};

/// A point in time of some clock.
pub trait Instant: Copy + Ord + Debug {
    /// `self + duration`, or `None` if that is not representable.
    fn checked_add(self, duration: Duration) -> Option<Self>;

    /// How long after `earlier` this instant is; zero if it is not after it.
    fn saturating_duration_since(self, earlier: Self) -> Duration;
}

/// Something that tells the time.
pub trait Clock {
    /// This clock's instants.
    type Instant: Instant;

    /// The future a [`Timer`] made from this clock returns. It need not be `Unpin`: rsvp's
    /// futures keep it pinned inside themselves, so a runtime's own timer entry (tokio's
    /// `Sleep`, say) serves as it is, without a box per call. A future holding one is
    /// `Unpin` only if the sleep is. A clock that cannot sleep names a future that never
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
        // u128 so that a huge timeout becomes `None` ("never") instead of overflowing the
        // multiplication inside embassy-time's own conversion.
        let hz = u128::from(embassy_time::TICK_HZ);
        let ticks = (duration.as_nanos() * hz).div_ceil(1_000_000_000);
        let ticks = embassy_time::Duration::from_ticks(u64::try_from(ticks).ok()?);
        embassy_time::Instant::checked_add(&self, ticks)
    }
    fn saturating_duration_since(self, earlier: Self) -> Duration {
        embassy_time::Instant::saturating_duration_since(&self, earlier).into()
    }
}
