//! The clock and timer: `std::time::Instant` for the time, futures-timer's timer thread for
//! sleeping.
//!
//! Why a timer thread rather than async-io's reactor (which `rsvp-smol` uses): an executor
//! without a reactor of its own (futures' `LocalPool` and `ThreadPool`, async-executor,
//! async-global-executor) needs the timer to fire from somewhere else. futures-timer keeps
//! one global thread with a heap of deadlines, started on first use, parked between them:
//! no I/O driver and no dependency on any executor. A sleep costs one small allocation,
//! paid only by calls that have a deadline.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Instant;

/// The clock and timer of rsvp endpoints on any executor: `now()` is
/// `std::time::Instant::now()` and sleeping is a [`futures_timer::Delay`].
///
/// A unit value, so an endpoint that uses it can live in a `static`:
///
/// ```
/// use rsvp::lock::StdMutex;
/// use rsvp::rpc::With;
/// use rsvp::Rpc;
/// use rsvp_futures::FuturesTimer;
///
/// static DOUBLER: Rpc<u64, u64, 16, With<StdMutex, FuturesTimer>> = Rpc::new(FuturesTimer);
/// # let _ = &DOUBLER;
/// ```
///
/// Any [`rsvp::time::Timer`] can stand in for it: [`channel_with`](crate::channel_with)
/// takes one.
#[derive(Debug, Clone, Copy, Default)]
pub struct FuturesTimer;

impl rsvp::time::Clock for FuturesTimer {
    type Instant = Instant;
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl rsvp::time::Timer for FuturesTimer {
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        // futures-timer counts from its own `now()`, read after ours: the sleep can only end
        // later than `deadline`, never earlier.
        let delay = futures_timer::Delay::new(deadline.saturating_duration_since(Instant::now()));
        Sleep { delay, deadline }
    }
}

/// Completes once its deadline has been reached; made by
/// [`FuturesTimer::sleep_until`](rsvp::time::Timer::sleep_until).
///
/// # Cancellation
///
/// Dropping it removes its entry from the timer thread's heap.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    delay: futures_timer::Delay,
    deadline: Instant,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A deadline already passed needs no round trip through the timer thread.
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        Pin::new(&mut self.delay).poll(cx)
    }
}
