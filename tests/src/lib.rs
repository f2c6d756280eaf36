//! Shared helpers for rsvp's behaviour tests.
//!
//! Each file at the crate root (`outcomes.rs`, `cancel.rs`, ...) tests one behaviour of the
//! endpoint. Time comes only from [`ManualClock`]; futures are driven by hand with a
//! [`Poller`] (whose waker counts its wake-ups, so a test can assert that a task *was*
//! woken, not just that polling again happens to work) or by `futures_executor::LocalPool`.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rsvp::lock::{LocalMutex, StdMutex};
use rsvp::queue::{Envelope, Queue};
use rsvp::rpc::With;
use rsvp::time::ManualClock;
use rsvp::Rpc;

pub mod batch;
pub mod model;

/// A single-thread endpoint timed by a manual clock.
pub type LocalRpc<Req, Resp, const N: usize> = Rpc<Req, Resp, N, With<LocalMutex, ManualClock>>;

/// A thread-safe endpoint timed by a manual clock, its requests in rsvp's separate queue
/// (as the adapters make it).
pub type SharedRpc<Req, Resp, const N: usize> =
    Rpc<Req, Resp, N, With<StdMutex, ManualClock, Queue<StdMutex, Envelope<Req>, N>>>;

/// `n` milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls futures by hand with a waker that counts how often it was woken.
pub struct Poller {
    count: Arc<WakeCount>,
    waker: Waker,
}

impl Default for Poller {
    fn default() -> Self {
        Self::new()
    }
}

impl Poller {
    /// A poller whose waker has not been woken yet.
    pub fn new() -> Self {
        let count = Arc::new(WakeCount(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        Self { count, waker }
    }

    /// How many times the waker was woken so far.
    pub fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    /// The waker, for code that takes a `Context` directly.
    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Polls `fut` once.
    pub fn poll<F: Future + Unpin>(&self, fut: &mut F) -> Poll<F::Output> {
        Pin::new(fut).poll(&mut Context::from_waker(&self.waker))
    }

    /// Polls `fut` once and returns its output.
    ///
    /// # Panics
    ///
    /// If `fut` is pending.
    #[track_caller]
    pub fn ready<F: Future + Unpin>(&self, fut: &mut F) -> F::Output {
        match self.poll(fut) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }

    /// Polls `fut` once and checks that it is pending.
    ///
    /// # Panics
    ///
    /// If `fut` is ready.
    #[track_caller]
    pub fn pending<F: Future + Unpin>(&self, fut: &mut F)
    where
        F::Output: fmt::Debug,
    {
        if let Poll::Ready(output) = self.poll(fut) {
            panic!("expected the future to be pending, it gave {output:?}");
        }
    }
}

#[derive(Default)]
struct Counts {
    made: Cell<usize>,
    dropped: Cell<usize>,
}

/// Makes [`Tracked`] values and counts how many of them are still alive, to show that a
/// request or reply was dropped (not leaked, not kept) at a given point.
#[derive(Clone, Default)]
pub struct Tracker(Rc<Counts>);

impl Tracker {
    /// A tracker with no values made yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new tracked value.
    pub fn make(&self, value: u32) -> Tracked {
        self.0.made.set(self.0.made.get() + 1);
        Tracked {
            value,
            tracker: self.clone(),
        }
    }

    /// Values made and not yet dropped.
    pub fn live(&self) -> usize {
        self.0.made.get() - self.0.dropped.get()
    }

    /// Values dropped so far.
    pub fn dropped(&self) -> usize {
        self.0.dropped.get()
    }
}

/// A value whose drop its [`Tracker`] counts.
pub struct Tracked {
    value: u32,
    tracker: Tracker,
}

impl Tracked {
    /// The number it carries.
    pub fn value(&self) -> u32 {
        self.value
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let counts = &self.tracker.0;
        counts.dropped.set(counts.dropped.get() + 1);
    }
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tracked({})", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_counts_live_values() {
        let tracker = Tracker::new();
        let a = tracker.make(1);
        let b = tracker.make(2);
        assert_eq!((tracker.live(), a.value(), b.value()), (2, 1, 2));
        drop(a);
        assert_eq!((tracker.live(), tracker.dropped()), (1, 1));
        drop(b);
        assert_eq!(tracker.live(), 0);
    }

    #[test]
    fn poller_counts_wakes() {
        let poller = Poller::new();
        poller.waker().wake_by_ref();
        let owned = poller.waker().clone();
        owned.wake();
        assert_eq!(poller.wakes(), 2);
        assert_eq!(poller.ready(&mut std::future::ready(5)), 5);
        poller.pending(&mut std::future::pending::<()>());
    }
}

/// Misuse that does not compile: the rows of the "Bad inputs" table (`benches/README.md`) whose answer
/// is a compile error, checked here as `compile_fail` doctests.
///
/// An endpoint with zero reply slots:
///
/// ```compile_fail,E0080
/// use rsvp::lock::LocalMutex;
/// use rsvp::rpc::With;
/// use rsvp::time::NoClock;
/// use rsvp::Rpc;
/// let rpc: Rpc<u32, u32, 0, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
/// ```
///
/// A queue of capacity zero:
///
/// ```compile_fail,E0080
/// use rsvp::lock::LocalMutex;
/// use rsvp::queue::Queue;
/// let queue: Queue<LocalMutex, u32, 0> = Queue::new();
/// ```
///
/// The same two with a capacity of one compile, so the errors above are the capacities':
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::queue::Queue;
/// use rsvp::rpc::With;
/// use rsvp::time::NoClock;
/// use rsvp::Rpc;
/// let rpc: Rpc<u32, u32, 1, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
/// let queue: Queue<LocalMutex, u32, 1> = Queue::new();
/// ```
///
/// A serve with zero concurrency cannot be asked for: the limit is a `NonZeroUsize`.
///
/// ```compile_fail,E0308
/// use rsvp::lock::LocalMutex;
/// use rsvp::rpc::With;
/// use rsvp::time::NoClock;
/// use rsvp::Rpc;
/// let rpc: Rpc<u32, u32, 1, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
/// let (_caller, server) = Rpc::split(&rpc);
/// let _ = server.serve(0, |_, _| async {});
/// ```
pub mod compile_errors {}
