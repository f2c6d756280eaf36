//! The clock and timer: `std::time::Instant` for the time, futures-timer's timer thread for
//! sleeping.
//!
//! Why a timer thread rather than async-io's reactor (which `rsvp-smol` uses): an executor
//! without a reactor of its own (futures' `LocalPool` and `ThreadPool`, async-executor,
//! async-global-executor) needs the timer to fire from somewhere else. futures-timer keeps
//! one global thread with a heap of deadlines, started on first use, parked between them:
//! no I/O driver and no dependency on any executor.
//!
//! Each futures-timer `Delay` allocates its entry in that thread's heap. So that a timed
//! call allocates nothing, a sleep takes a spare entry from its thread when it arms and
//! gives it back when it is dropped, disarmed (far in the future, no task's waker kept);
//! `Delay::reset` moves a spare to the new deadline. Each thread keeps at most 64 of them
//! ([`SPARES`]): beyond 64 timed calls waiting at once on one thread, a sleep allocates.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::cell::RefCell;
use std::time::{Duration, Instant};

use futures_timer::Delay;

/// The most spare timer entries a thread keeps: as many as the default endpoint's calls
/// in flight (`channel`'s `N`).
const SPARES: usize = 64;

/// A disarmed entry never fires: 30 years, futures-timer's own far future.
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

thread_local! {
    /// Entries of dropped sleeps, disarmed, for the next sleeps armed on this thread.
    static SPARE: RefCell<Vec<Delay>> = const { RefCell::new(Vec::new()) };
}

/// A timer entry for `left` from now: a spare one of this thread's, or a new one.
fn arm(left: Duration) -> Delay {
    match SPARE.try_with(|spare| spare.borrow_mut().pop()) {
        Ok(Some(mut delay)) => {
            delay.reset(left);
            delay
        }
        _ => Delay::new(left),
    }
}

/// Keeps `delay` for this thread's next sleep, disarmed, unless the thread has enough
/// spares (or is exiting): then it is dropped, which takes it out of the timer's heap.
fn give_back(mut delay: Delay) {
    if std::thread::panicking() {
        // Unwinding, maybe from this entry's own poll (a timer thread that could not be
        // started): dropping it is all that is safe to do.
        return;
    }
    // Far in the future, so that it does not fire; the waker a poll registers replaces the
    // last task's, so that no task is kept alive (or woken) by a spare. The entry has been
    // polled before without panicking, so its timer thread (futures-timer's global one,
    // which never stops) is there: this poll cannot panic either.
    delay.reset(FAR);
    let _ = Pin::new(&mut delay).poll(&mut Context::from_waker(Waker::noop()));
    let mut delay = Some(delay);
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARES {
            spare.extend(delay.take());
        }
    });
}

/// The clock and timer of rsvp endpoints on any executor: `now()` is
/// `std::time::Instant::now()` and sleeping is a [`futures_timer::Delay`].
///
/// A unit value, so an endpoint that uses it can live in a `static`:
///
/// ```
/// use rsvp_futures::rsvp::{lock::StdMutex, rpc::With, Rpc};
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
        Sleep {
            deadline,
            delay: None,
        }
    }
}

/// Completes once its deadline has been reached; made by
/// [`FuturesTimer::sleep_until`](rsvp::time::Timer::sleep_until).
///
/// Its timer entry is armed on the first poll that finds the deadline ahead, from the
/// spare entries of the polling thread when there is one, so that a timed call allocates
/// nothing.
///
/// # Cancellation
///
/// Dropping it disarms its entry and keeps it for its thread's next sleep (or, when the
/// thread keeps 64 already, removes it from the timer thread's heap).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    delay: Option<Delay>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A deadline already passed needs no round trip through the timer thread.
        let now = Instant::now();
        if now >= self.deadline {
            return Poll::Ready(());
        }
        // futures-timer counts from its own `now()`, read after ours: the sleep can only end
        // later than `deadline`, never earlier.
        let left = self.deadline - now;
        let delay = self.delay.get_or_insert_with(|| arm(left));
        Pin::new(delay).poll(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(delay) = self.delay.take() {
            give_back(delay);
        }
    }
}
