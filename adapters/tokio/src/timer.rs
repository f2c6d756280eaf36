//! The clock and timer: tokio's clock for the time, tokio's timer for sleeping.
//!
//! Instants are `std::time::Instant`s read through `tokio::time::Instant::now()`, so a
//! runtime whose time is paused (`#[tokio::test(start_paused = true)]`,
//! `tokio::time::pause`) moves rsvp's deadlines too: timeouts in such tests are exact and
//! take no real time.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Instant;

/// The clock and timer of rsvp endpoints under tokio.
///
/// A unit value, so an endpoint that uses it can live in a `static`:
///
/// ```
/// use rsvp::lock::StdMutex;
/// use rsvp::Rpc;
/// use rsvp_tokio::TokioTimer;
///
/// static DOUBLER: Rpc<u64, u64, StdMutex, TokioTimer, 16> = Rpc::new(TokioTimer);
/// # let _ = &DOUBLER;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioTimer;

impl rsvp::time::Clock for TokioTimer {
    type Instant = Instant;
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

impl rsvp::time::Timer for TokioTimer {
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            armed: None,
        }
    }
}

/// Completes once its deadline has been reached on tokio's clock; made by
/// [`TokioTimer::sleep_until`](rsvp::time::Timer::sleep_until).
///
/// The tokio timer entry (boxed, because rsvp needs an `Unpin` sleep) is made on the first
/// poll, not before: a call answered before its first wait for the reply allocates
/// nothing, and a sleep may be made outside a runtime.
///
/// # Panics
///
/// When polled outside a tokio runtime with the time driver enabled.
///
/// # Cancellation
///
/// Dropping it removes its entry from tokio's timer.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    armed: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        self.armed
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)))
            .as_mut()
            .poll(cx)
    }
}
