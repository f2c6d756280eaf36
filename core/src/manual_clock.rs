//! A clock that only moves when told to: deterministic timeouts and batch windows in tests.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use crate::sync::{Mutex, StdMutex};
use crate::time::{Clock, Instant, Timer};

/// A manual clock: [`now`](Clock::now) changes only through [`advance`](Self::advance), and
/// every [`sleep_until`](Timer::sleep_until) future whose deadline has been reached is woken
/// by that call.
///
/// Clones share the same time. Use it to test timeouts and batch windows without `sleep`:
///
/// ```
/// use core::time::Duration;
/// use rsvp::time::{Clock, ManualClock, Timer};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// let mut sleep = clock.sleep_until(clock.after(Duration::from_millis(5)));
/// # let waker = futures_util::task::noop_waker();
/// # let mut cx = core::task::Context::from_waker(&waker);
/// # use core::future::Future;
/// assert!(core::pin::Pin::new(&mut sleep).poll(&mut cx).is_pending());
/// clock.advance(Duration::from_millis(5));
/// assert!(core::pin::Pin::new(&mut sleep).poll(&mut cx).is_ready());
/// assert_eq!(clock.now().since_start() - start.since_start(), Duration::from_millis(5));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<Mutex<StdMutex, Inner>>,
}

#[derive(Default)]
struct Inner {
    now: Duration,
    next_id: u64,
    sleepers: Vec<(u64, ManualInstant, Waker)>,
}

/// An instant of a [`ManualClock`]: the time since the clock was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManualInstant(Duration);

impl ManualInstant {
    /// Time since the clock was created.
    pub fn since_start(self) -> Duration {
        self.0
    }
}

impl Instant for ManualInstant {
    fn checked_add(self, duration: Duration) -> Option<Self> {
        self.0.checked_add(duration).map(Self)
    }
    fn saturating_duration_since(self, earlier: Self) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    /// Moves time forward by `by` and wakes every sleeper whose deadline is now reached.
    /// Time stops at the clock's last instant rather than overflowing.
    pub fn advance(&self, by: Duration) {
        let due: Vec<Waker> = self.inner.lock(|inner| {
            inner.now = inner.now.saturating_add(by);
            let now = ManualInstant(inner.now);
            let mut due = Vec::new();
            inner.sleepers.retain(|(_, deadline, waker)| {
                let keep = *deadline > now;
                if !keep {
                    due.push(waker.clone());
                }
                keep
            });
            due
        });
        due.into_iter().for_each(Waker::wake);
    }

    /// The instant `after` from now, or the clock's last instant if that is later.
    pub fn after(&self, after: Duration) -> ManualInstant {
        ManualInstant(self.inner.lock(|inner| inner.now).saturating_add(after))
    }

    /// How many sleep futures are currently waiting on this clock. Tests use it to know that
    /// a task has reached the point where it waits for time.
    pub fn sleepers(&self) -> usize {
        self.inner.lock(|inner| inner.sleepers.len())
    }

    /// The earliest deadline any sleeper waits for.
    pub fn next_deadline(&self) -> Option<ManualInstant> {
        self.inner
            .lock(|inner| inner.sleepers.iter().map(|(_, d, _)| *d).min())
    }
}

impl Clock for ManualClock {
    type Instant = ManualInstant;
    type Sleep = ManualSleep;
    fn now(&self) -> ManualInstant {
        ManualInstant(self.inner.lock(|inner| inner.now))
    }
}

impl Timer for ManualClock {
    fn sleep_until(&self, deadline: ManualInstant) -> ManualSleep {
        let id = self.inner.lock(|inner| {
            inner.next_id += 1;
            inner.next_id
        });
        ManualSleep {
            clock: self.clone(),
            id,
            deadline,
        }
    }
}

/// The future of [`ManualClock`]'s [`sleep_until`](Timer::sleep_until).
///
/// # Cancellation
///
/// Dropping it removes it from the clock's sleepers.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct ManualSleep {
    clock: ManualClock,
    id: u64,
    deadline: ManualInstant,
}

impl Future for ManualSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (id, deadline) = (self.id, self.deadline);
        self.clock.inner.lock(|inner| {
            let position = inner.sleepers.iter().position(|(i, _, _)| *i == id);
            if ManualInstant(inner.now) >= deadline {
                if let Some(p) = position {
                    inner.sleepers.swap_remove(p);
                }
                return Poll::Ready(());
            }
            match position {
                Some(p) if inner.sleepers[p].2.will_wake(cx.waker()) => {}
                Some(p) => inner.sleepers[p].2 = cx.waker().clone(),
                None => inner.sleepers.push((id, deadline, cx.waker().clone())),
            }
            Poll::Pending
        })
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        let id = self.id;
        self.clock
            .inner
            .lock(|inner| inner.sleepers.retain(|(i, _, _)| *i != id));
    }
}

impl core::fmt::Debug for Inner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now)
            .field("sleepers", &self.sleepers.len())
            .finish()
    }
}
