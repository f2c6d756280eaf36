//! The clock and timer: `std::time::Instant` for the time, async-io's timer for sleeping.
//!
//! async-io keeps its timers in a reactor. Under smol the executor threads drive that
//! reactor; when nothing does (a `futures_executor::block_on`, another runtime's worker
//! thread), async-io starts its own background thread, "async-io", the first time a timer
//! is polled. So a [`Sleep`] completes under any executor, and [`SmolTimer`] is the timer
//! to use on any std host, not only under smol.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::Instant;

/// The clock and timer of rsvp endpoints on std hosts: `now()` is
/// `std::time::Instant::now()` and sleeping is an [`async_io::Timer`].
///
/// It is a unit value, so an endpoint that uses it can live in a `static`:
///
/// ```
/// use rsvp_smol::rsvp::{lock::StdMutex, rpc::With, Rpc};
/// use rsvp_smol::SmolTimer;
///
/// static DOUBLER: Rpc<u64, u64, 16, With<StdMutex, SmolTimer>> = Rpc::new(SmolTimer);
/// # let _ = &DOUBLER;
/// ```
///
/// It works under any executor, not only smol's: async-io drives its timers from a thread
/// of its own when no smol runtime does (see the [crate docs](crate)).
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolTimer;

impl rsvp::time::Clock for SmolTimer {
    type Instant = Instant;
    type Sleep = Sleep;

    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl rsvp::time::Timer for SmolTimer {
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(async_io::Timer::at(deadline))
    }
}

/// Completes once its deadline has been reached; made by
/// [`SmolTimer::sleep_until`](rsvp::time::Timer::sleep_until).
///
/// # Cancellation
///
/// Dropping it unregisters the timer from async-io's reactor.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep(async_io::Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // async-io's timer yields the instant it fired at; rsvp only needs "it fired".
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}
