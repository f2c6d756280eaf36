//! The clock and timer: tokio's clock for the time, tokio's timer for sleeping.
//!
//! Instants are `std::time::Instant`s read through `tokio::time::Instant::now()`, so a
//! runtime whose time is paused (`#[tokio::test(start_paused = true)]`,
//! `tokio::time::pause`) moves rsvp's deadlines too: timeouts in such tests are exact and
//! take no real time.

use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

/// The longest step a [`Sleep`] waits in: about 30 years, as tokio's own far future.
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// The clock and timer of rsvp endpoints under tokio.
///
/// A unit value, so an endpoint that uses it can live in a `static`:
///
/// ```
/// use rsvp_tokio::rsvp::{lock::StdMutex, rpc::With, Rpc};
/// use rsvp_tokio::TokioTimer;
///
/// static DOUBLER: Rpc<u64, u64, 16, With<StdMutex, TokioTimer>> = Rpc::new(TokioTimer);
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

pin_project! {
    /// Completes once its deadline has been reached on tokio's clock; made by
    /// [`TokioTimer::sleep_until`](rsvp::time::Timer::sleep_until).
    ///
    /// It holds tokio's timer entry in place (rsvp's futures keep their sleep pinned, so
    /// no box is needed): no allocation per call. The entry is made on the first poll, not
    /// before, so a sleep may be made outside a runtime. Like tokio's `Sleep` it is
    /// `!Unpin`: pin it to poll it by hand.
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
        #[pin]
        armed: Option<tokio::time::Sleep>,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let deadline = tokio::time::Instant::from_std(*this.deadline);
        loop {
            if this.armed.is_none() {
                // tokio's timer cannot count to an instant near the end of `Instant`'s range
                // (it panics adding its rounding to it): such a deadline is waited for in
                // steps of at most `FAR`, which is never in practice.
                let reachable = tokio::time::Instant::now()
                    .checked_add(FAR)
                    .map_or(deadline, |far| far.min(deadline));
                this.armed.set(Some(tokio::time::sleep_until(reachable)));
            }
            let armed = this.armed.as_mut().as_pin_mut().expect("armed just now");
            ready!(armed.poll(cx));
            if tokio::time::Instant::now() >= deadline {
                return Poll::Ready(());
            }
            this.armed.set(None);
        }
    }
}
