//! The clock and timer: embassy-time's `Instant::now()` and `Timer::at`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_time::Instant;

/// The clock and timer of rsvp objects on embassy: `now()` is
/// [`embassy_time::Instant::now`] and sleeping is an [`embassy_time::Timer`].
///
/// It is a unit value, so an endpoint that uses it can live in a `static`. The firmware
/// provides the time driver (a HAL's `time-driver-*` feature, or its own) and picks the tick
/// rate; this crate enables no embassy-time feature.
///
/// Timeouts given to rsvp are `core::time::Duration`s; they are rounded up to whole ticks,
/// so a deadline is never earlier than asked. To pass an `embassy_time::Duration`, convert
/// it with `.into()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyTimer;

impl rsvp::time::Clock for EmbassyTimer {
    type Instant = Instant;
    type Sleep = Sleep;

    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl rsvp::time::Timer for EmbassyTimer {
    #[inline]
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(embassy_time::Timer::at(deadline))
    }
}

/// Completes once its deadline has been reached; made by
/// [`EmbassyTimer::sleep_until`](rsvp::time::Timer::sleep_until).
///
/// # Cancellation
///
/// Dropping it is always fine. embassy-time cannot unregister a timer, so the task that
/// polled it may be woken once, spuriously, when the dropped deadline passes.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep(embassy_time::Timer);

impl Future for Sleep {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}
