//! A promise: a value set once and awaited by any number of tasks (the Go seed's `Future`).
//!
//! ```
//! use rsvp::lock::LocalMutex;
//! # futures_executor::block_on(async {
//! let (setter, promise) = rsvp::promise::<u32, LocalMutex>();
//! assert!(!promise.is_ready());
//!
//! setter.set(42).unwrap();
//! assert_eq!(promise.wait().await, Ok(42));
//! assert!(promise.is_ready());
//! # });
//! ```
//!
//! # Design
//!
//! `PromiseState` holds the whole logic and is tested without an executor; [`Promise`]
//! only adds the lock and the waiters' wakers, and its timed futures add a
//! [`Timer`]'s sleep.
//!
//! ```text
//!                       set(v)
//!   Empty { setters } ──────────▶ Set(v)        final: every waiter gets a clone of v
//!         │
//!         │ abandon(), or drop_setter() of the last counted setter
//!         ▼
//!     Abandoned                                 final: every waiter gets `Abandoned`
//! ```
//!
//! Invariants:
//!
//! - `Set` and `Abandoned` are final. The first transition out of `Empty` wins, so a value
//!   once visible never changes, and a refused `set` hands its value back to the caller
//!   rather than dropping it.
//! - `setters` counts live [`Setter`] handles. Zero means "nobody is counted" (a `static`
//!   promise set through [`Promise::set`]), not "every setter is gone": only dropping the
//!   last *counted* setter abandons the promise.
//! - Every transition out of `Empty` takes every registered waiter's waker, under the lock,
//!   so a waiter that registered before the transition cannot miss it; they are woken once
//!   the lock is released.
//!
//! Waiters wait in a list whose entries live in their futures (`wait_list.rs`): any number
//! of them, with or without `alloc`, allocating nothing, and a waiter that gives up takes
//! its entry along.

use core::fmt;
use core::future::Future;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
use alloc::sync::Arc;

use crate::sync::{Mutex, RawMutex};
use crate::time::{Instant as _, Timer};
use crate::wait_list::{line, WaitEntry, WaitList};
use crate::waker_set::{WakeRest, Wakes};
use sealed::CountedSetters as _;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use crate::service::{PromiseService, RunFuture, RunReport, Service};

// ===== state machine =====

/// The promise's lifecycle, without locks or wakers.
pub(crate) enum PromiseState<T> {
    /// No outcome yet; `setters` live [`Setter`] handles may still set it.
    Empty { setters: usize },
    /// The first value set.
    Set(T),
    /// Every counted setter went away without a value, or [`Promise::abandon`] was called.
    Abandoned,
}

impl<T> PromiseState<T> {
    pub(crate) const fn new() -> Self {
        Self::Empty { setters: 0 }
    }

    /// Stores `value` if there is no outcome yet; otherwise hands it back.
    pub(crate) fn set(&mut self, value: T) -> Result<(), T> {
        match self {
            Self::Empty { .. } => {
                *self = Self::Set(value);
                Ok(())
            }
            Self::Set(_) | Self::Abandoned => Err(value),
        }
    }

    /// Counts one more setter. Once there is an outcome, setters no longer matter.
    ///
    /// # Panics
    ///
    /// Panics if the count would overflow `usize`, which takes leaking that many setters.
    pub(crate) fn add_setter(&mut self) {
        if let Self::Empty { setters } = self {
            *setters = setters
                .checked_add(1)
                .expect("promise setter count overflowed");
        }
    }

    /// Forgets one counted setter; returns whether that made the promise abandoned.
    pub(crate) fn drop_setter(&mut self) -> bool {
        match self {
            Self::Empty { setters: 1 } => {
                *self = Self::Abandoned;
                true
            }
            Self::Empty { setters } => {
                // A setter is only dropped after it was counted, so zero here is a bug; in
                // release builds keep the promise alive rather than wrap around.
                debug_assert!(
                    *setters > 0,
                    "dropped a promise setter that was never counted"
                );
                *setters = setters.saturating_sub(1);
                false
            }
            Self::Set(_) | Self::Abandoned => false,
        }
    }

    /// Abandons the promise if it has no outcome yet; returns whether it did.
    pub(crate) fn abandon(&mut self) -> bool {
        match self {
            Self::Empty { .. } => {
                *self = Self::Abandoned;
                true
            }
            Self::Set(_) | Self::Abandoned => false,
        }
    }

    /// The outcome, or `None` while there is none.
    pub(crate) fn get(&self) -> Option<Result<&T, Abandoned>> {
        match self {
            Self::Empty { .. } => None,
            Self::Set(value) => Some(Ok(value)),
            Self::Abandoned => Some(Err(Abandoned { _private: () })),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Empty { .. } => "empty",
            Self::Set(_) => "set",
            Self::Abandoned => "abandoned",
        }
    }
}

impl<T> fmt::Debug for PromiseState<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty { setters } => f.debug_struct("Empty").field("setters", setters).finish(),
            Self::Set(_) => f.write_str("Set(..)"),
            Self::Abandoned => f.write_str("Abandoned"),
        }
    }
}

// ===== Promise =====

struct Shared<T> {
    state: PromiseState<T>,
    waiters: WaitList<{ line::VALUE }>,
}

impl<T> WakeRest for Shared<T> {
    fn wake_rest(&mut self, wakes: &mut Wakes) {
        self.waiters.wake_all(wakes);
    }
}

/// A value that is set once and awaited by any number of tasks: the Go seed's `Future`.
///
/// The first [`set`](Self::set) wins; a later one is refused and gets its value back. Any
/// number of tasks may [`wait`](Self::wait) (or [`wait_timeout`](Self::wait_timeout),
/// [`wait_deadline`](Self::wait_deadline)), and each receives its own clone of the value,
/// so reading needs `T: Clone`; share a large or non-`Clone` value as `Arc<T>`.
///
/// The lock `M` chooses the flavour ([`LocalMutex`](crate::lock::LocalMutex) for one
/// thread, `StdMutex` or `CriticalSectionMutex` across threads). [`new`](Self::new) is
/// `const` and allocates nothing, so a promise can be a `static` on firmware; on hosts,
/// [`promise()`] makes an `Arc`-shared one with a [`Setter`].
///
/// # Abandonment
///
/// A promise becomes [abandoned](Abandoned) when the last [`Setter`] handle is dropped
/// without setting a value, or when [`abandon`](Self::abandon) is called; its waiters then
/// get [`Abandoned`] instead of waiting forever. A promise for which no `Setter` was ever
/// made (a `static` set by calling [`set`](Self::set) directly) never abandons by itself:
/// call [`abandon`](Self::abandon) when whoever would set it gives up.
///
/// # Locking
///
/// `T::clone` runs while the promise's lock is held (the value cannot leave the lock any
/// other way without `unsafe`), so it must not touch the same promise, and under
/// `CriticalSectionMutex` it runs with interrupts masked: keep it cheap, for example by
/// storing an `Arc<T>`.
///
/// # Many waiters
///
/// Any number of tasks may wait quietly, with or without `alloc`: each keeps its place in
/// line inside its own future (which is therefore `!Unpin`: `.await` it, or pin it to poll
/// it by hand), and takes it along when it stops waiting.
///
/// # Examples
///
/// A promise set once and read afterwards:
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::Promise;
///
/// # futures_executor::block_on(async {
/// // `LocalMutex` keeps this example single-threaded; firmware would use
/// // `CriticalSectionMutex` in a `static`.
/// let answer: Promise<u32, LocalMutex> = Promise::new();
/// assert_eq!(answer.set(7), Ok(()));
/// assert_eq!(answer.set(8), Err(8)); // the first value wins
/// assert_eq!(answer.wait().await, Ok(7));
/// # });
/// ```
pub struct Promise<T, M> {
    shared: Mutex<M, Shared<T>>,
}

impl<T, M: RawMutex> Promise<T, M> {
    /// An empty promise with no counted setters.
    pub const fn new() -> Self {
        Self {
            shared: Mutex::new(Shared {
                state: PromiseState::new(),
                waiters: WaitList::new(),
            }),
        }
    }

    /// Sets the value and wakes every waiter, if the promise has no outcome yet.
    ///
    /// # Errors
    ///
    /// Returns `Err(value)`, handing the value back, if the promise was already set or
    /// abandoned.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsvp::lock::LocalMutex;
    /// use rsvp::Promise;
    ///
    /// let promise: Promise<&str, LocalMutex> = Promise::new();
    /// assert_eq!(promise.set("first"), Ok(()));
    /// assert_eq!(promise.set("second"), Err("second"));
    /// assert_eq!(promise.try_get(), Ok("first"));
    /// ```
    pub fn set(&self, value: T) -> Result<(), T> {
        self.shared.lock_wake(|shared, wakes| {
            shared.state.set(value)?;
            shared.waiters.wake_all(wakes);
            Ok(())
        })
    }

    /// Marks the promise abandoned if it has no outcome yet, and wakes every waiter; returns
    /// whether it did. Later [`set`](Self::set)s are refused.
    ///
    /// This is how a `static` promise without [`Setter`] handles says that no value will
    /// come.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsvp::lock::LocalMutex;
    /// use rsvp::promise::TryGetError;
    /// use rsvp::Promise;
    ///
    /// let promise: Promise<u32, LocalMutex> = Promise::new();
    /// assert!(promise.abandon());
    /// assert!(!promise.abandon());
    /// assert_eq!(promise.try_get(), Err(TryGetError::Abandoned));
    /// assert_eq!(promise.set(1), Err(1));
    /// ```
    pub fn abandon(&self) -> bool {
        self.shared.lock_wake(|shared, wakes| {
            let abandoned = shared.state.abandon();
            if abandoned {
                shared.waiters.wake_all(wakes);
            }
            abandoned
        })
    }

    /// Whether a value has been set (the seed's `IsReady`).
    pub fn is_ready(&self) -> bool {
        self.shared
            .lock(|shared| matches!(shared.state, PromiseState::Set(_)))
    }

    /// Whether the promise was abandoned without a value.
    pub fn is_abandoned(&self) -> bool {
        self.shared
            .lock(|shared| matches!(shared.state, PromiseState::Abandoned))
    }

    fn add_setter(&self) {
        self.shared.lock(|shared| shared.state.add_setter());
    }

    fn drop_setter(&self) {
        self.shared.lock_wake(|shared, wakes| {
            if shared.state.drop_setter() {
                shared.waiters.wake_all(wakes);
            }
        });
    }
}

impl<T: Clone, M: RawMutex> Promise<T, M> {
    /// A clone of the value, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`] if no value has been set yet, [`TryGetError::Abandoned`] if
    /// none ever will be.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        self.shared.lock(|shared| match shared.state.get() {
            Some(Ok(value)) => Ok(value.clone()),
            Some(Err(Abandoned { .. })) => Err(TryGetError::Abandoned),
            None => Err(TryGetError::Empty),
        })
    }

    /// Waits for the value (the seed's `Get`); each waiter receives its own clone.
    ///
    /// # Errors
    ///
    /// The future resolves to [`WaitError::Abandoned`] if the promise is abandoned without a
    /// value (never to `Timeout`).
    ///
    /// # Cancellation
    ///
    /// See [`WaitFuture`]: dropping it leaves the promise untouched.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsvp::lock::LocalMutex;
    ///
    /// # futures_executor::block_on(async {
    /// let (setter, promise) = rsvp::promise::<u32, LocalMutex>();
    /// let waiting = promise.wait();
    /// setter.set(5).unwrap();
    /// assert_eq!(waiting.await, Ok(5));
    /// # });
    /// ```
    pub fn wait(&self) -> WaitFuture<'_, T, M> {
        WaitFuture {
            promise: self,
            entry: WaitEntry::new(),
            waiting: false,
        }
    }

    /// Waits for the value until the `timer`'s clock reaches `deadline` (the seed's
    /// `GetWithContext` with a deadline).
    ///
    /// If the value is available when the future is polled, it is returned even if the
    /// deadline has passed too.
    ///
    /// # Errors
    ///
    /// The future resolves to [`WaitError::Timeout`] once `deadline` is reached without a
    /// value, and to [`WaitError::Abandoned`] if the promise is abandoned first.
    ///
    /// # Cancellation
    ///
    /// See [`WaitDeadlineFuture`]: dropping it leaves the promise untouched.
    pub fn wait_deadline<Tm: Timer>(
        &self,
        timer: &Tm,
        deadline: Tm::Instant,
    ) -> WaitDeadlineFuture<'_, T, M, Tm::Sleep> {
        WaitDeadlineFuture {
            promise: self,
            entry: WaitEntry::new(),
            waiting: false,
            deadline: Deadline::Sleeping {
                sleep: timer.sleep_until(deadline),
            },
        }
    }

    /// Waits for the value for at most `timeout` from now, by the `timer`'s clock (the
    /// seed's `GetWithTimeout`).
    ///
    /// A timeout so long that the deadline overflows the clock never expires.
    ///
    /// # Errors
    ///
    /// As for [`wait_deadline`](Self::wait_deadline).
    ///
    /// # Cancellation
    ///
    /// See [`WaitDeadlineFuture`]: dropping it leaves the promise untouched.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "std")] {
    /// use core::time::Duration;
    /// use rsvp::lock::LocalMutex;
    /// use rsvp::promise::WaitError;
    /// use rsvp::time::ManualClock;
    /// use rsvp::Promise;
    ///
    /// # futures_executor::block_on(async {
    /// let clock = ManualClock::new();
    /// let promise: Promise<u32, LocalMutex> = Promise::new();
    ///
    /// // Nobody sets it, and a zero timeout has expired as soon as it is polled.
    /// let result = promise.wait_timeout(&clock, Duration::ZERO).await;
    /// assert_eq!(result, Err(WaitError::Timeout));
    ///
    /// promise.set(3).unwrap();
    /// let result = promise.wait_timeout(&clock, Duration::from_secs(1)).await;
    /// assert_eq!(result, Ok(3));
    /// # });
    /// # }
    /// ```
    pub fn wait_timeout<Tm: Timer>(
        &self,
        timer: &Tm,
        timeout: Duration,
    ) -> WaitDeadlineFuture<'_, T, M, Tm::Sleep> {
        let deadline = match timer.now().checked_add(timeout) {
            Some(deadline) => Deadline::Sleeping {
                sleep: timer.sleep_until(deadline),
            },
            None => Deadline::Never,
        };
        WaitDeadlineFuture {
            promise: self,
            entry: WaitEntry::new(),
            waiting: false,
            deadline,
        }
    }

    /// Polls for the value for the waiter whose place in line is `entry`, putting it in
    /// line (woken by `cx`'s waker) while there is none; out of line once the value (or
    /// `Abandoned`) is read.
    ///
    /// # Safety
    ///
    /// `entry` is taken out of line ([`leave`](Self::leave)) before it is dropped.
    unsafe fn poll_wait(
        &self,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Result<T, Abandoned>> {
        self.shared
            .lock_wake(|shared, wakes| match shared.state.get() {
                Some(outcome) => {
                    shared.waiters.unregister(entry, wakes);
                    Poll::Ready(outcome.cloned())
                }
                None => {
                    // SAFETY: the caller takes `entry` out before dropping it (this
                    // function's contract).
                    unsafe { shared.waiters.register(entry, cx.waker(), wakes) };
                    Poll::Pending
                }
            })
    }
}

impl<T, M: RawMutex> Promise<T, M> {
    /// A waiter stops waiting: its entry leaves the line.
    fn leave(&self, entry: Pin<&WaitEntry>) {
        self.shared
            .lock_wake(|shared, wakes| shared.waiters.unregister(entry, wakes));
    }
}

impl<T, M: RawMutex> Default for Promise<T, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, M: RawMutex> fmt::Debug for Promise<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock(|shared| shared.state.name());
        f.debug_struct("Promise")
            .field("state", &format_args!("{state}"))
            .finish_non_exhaustive()
    }
}

// ===== Setter =====

mod sealed {
    /// What a [`Setter`](super::Setter) needs from the promise it points to; implemented
    /// only by [`Promise`](super::Promise), so that `Setter<P>` needs no more type
    /// parameters than the pointer `P`.
    pub trait CountedSetters {
        fn add_setter(&self);
        fn drop_setter(&self);
    }
}

impl<T, M: RawMutex> sealed::CountedSetters for Promise<T, M> {
    fn add_setter(&self) {
        Promise::add_setter(self);
    }
    fn drop_setter(&self) {
        Promise::drop_setter(self);
    }
}

/// A counted handle that may set a [`Promise`]: when the last `Setter` of a promise is
/// dropped without setting a value, the promise becomes [abandoned](Abandoned) and its
/// waiters are woken, so nobody waits forever for a value that cannot come.
///
/// `P` is any pointer to the promise: `&'static Promise<T, M>` for a `static` on firmware,
/// `Arc<Promise<T, M>>` on hosts (see [`promise()`]).
///
/// # Examples
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::promise::Setter;
/// use rsvp::Promise;
///
/// let promise: Promise<u32, LocalMutex> = Promise::new();
/// let setter = Setter::new(&promise);
/// let other = setter.clone();
/// drop(setter);
/// assert!(!promise.is_abandoned()); // `other` may still set it
/// drop(other);
/// assert!(promise.is_abandoned());
/// ```
pub struct Setter<P>
where
    P: Deref,
    P::Target: sealed::CountedSetters,
{
    promise: P,
}

impl<P, T, M> Setter<P>
where
    P: Deref<Target = Promise<T, M>>,
    M: RawMutex,
{
    /// A setter for `promise`, counted as one more live setter.
    ///
    /// # Panics
    ///
    /// Panics if the promise's setter count would overflow `usize`.
    pub fn new(promise: P) -> Self {
        promise.add_setter();
        Self { promise }
    }

    /// Sets the value and wakes every waiter, consuming this setter; the first value wins.
    ///
    /// # Errors
    ///
    /// Returns `Err(value)`, handing the value back, if the promise was already set (by
    /// another setter or [`Promise::set`]) or abandoned.
    pub fn set(self, value: T) -> Result<(), T> {
        // Once set, the promise ignores setter counts, so this setter's drop is a no-op.
        self.promise.set(value)
    }

    /// The promise this setter sets.
    pub fn promise(&self) -> &Promise<T, M> {
        &self.promise
    }
}

impl<P> Clone for Setter<P>
where
    P: Deref + Clone,
    P::Target: sealed::CountedSetters,
{
    /// Another setter of the same promise, counted separately.
    ///
    /// # Panics
    ///
    /// Panics if the promise's setter count would overflow `usize`.
    fn clone(&self) -> Self {
        // Clone the pointer first: if that panics, nothing was counted that no drop undoes.
        let promise = self.promise.clone();
        promise.add_setter();
        Self { promise }
    }
}

impl<P> Drop for Setter<P>
where
    P: Deref,
    P::Target: sealed::CountedSetters,
{
    fn drop(&mut self) {
        self.promise.drop_setter();
    }
}

impl<P> fmt::Debug for Setter<P>
where
    P: Deref,
    P::Target: sealed::CountedSetters + fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setter")
            .field("promise", &&*self.promise)
            .finish()
    }
}

/// A new empty promise shared through an `Arc`, with one counted [`Setter`]:
/// `(setting end, waiting end)`.
///
/// Clone the `Arc` for more waiters and the `Setter` for more setters; when every setter
/// is gone without a value, the promise is [abandoned](Abandoned).
///
/// # Examples
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::promise::WaitError;
///
/// # futures_executor::block_on(async {
/// let (setter, promise) = rsvp::promise::<u32, LocalMutex>();
/// let waiter = promise.clone();
/// drop(setter); // no value can come any more
/// assert_eq!(waiter.wait().await, Err(WaitError::Abandoned));
/// # });
/// ```
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
#[allow(
    clippy::type_complexity,
    reason = "the pair of handles is the point; an alias would hide what they are"
)]
pub fn promise<T, M: RawMutex>() -> (Setter<Arc<Promise<T, M>>>, Arc<Promise<T, M>>) {
    let promise = Arc::new(Promise::new());
    (Setter::new(Arc::clone(&promise)), promise)
}

// ===== futures =====

/// The future of [`Promise::wait`]: resolves to a clone of the value, or to [`Abandoned`].
///
/// # Cancellation
///
/// Dropping it at any point leaves the promise untouched: the value stays for other waiters
/// and later calls, and the waiter's place in line goes with it.
///
/// It keeps that place inside itself: it is `!Unpin`.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct WaitFuture<'a, T, M: RawMutex> {
    promise: &'a Promise<T, M>,
    /// This waiter's place in the promise's line, pinned (only ever lent pinned, from
    /// `poll`).
    entry: WaitEntry,
    /// Whether `entry` may be in line.
    waiting: bool,
}

// The same error type as `wait_deadline`'s, so that both are matched the same way; `wait`
// itself never times out.
impl<T: Clone, M: RawMutex> Future for WaitFuture<'_, T, M> {
    type Output = Result<T, WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: only the entry is pinned, and it is never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: the entry is pinned (above); `Drop` takes it out of line while `waiting`,
        // and the promise takes it out itself when it hands the value over.
        let value = unsafe { this.promise.poll_wait(cx, Pin::new_unchecked(&this.entry)) };
        this.waiting = value.is_pending();
        value.map(|value| value.map_err(WaitError::from))
    }
}

impl<T, M: RawMutex> Drop for WaitFuture<'_, T, M> {
    fn drop(&mut self) {
        if self.waiting {
            // SAFETY: the entry is pinned structurally and is still in place here.
            self.promise
                .leave(unsafe { Pin::new_unchecked(&self.entry) });
        }
    }
}

impl<T, M: RawMutex> fmt::Debug for WaitFuture<'_, T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFuture")
            .field("promise", self.promise)
            .finish()
    }
}

pin_project! {
    /// The future of [`Promise::wait_deadline`] and [`Promise::wait_timeout`]: resolves to a
    /// clone of the value, or to [`WaitError`]. `S` is the timer's sleep future, kept pinned
    /// inside.
    ///
    /// # Cancellation
    ///
    /// Dropping it at any point leaves the promise untouched and drops its sleep (cancelling
    /// the timer). The waiter's place in line goes with it, and with a timeout too, so
    /// waiters that give up leave nothing behind. It keeps that place inside itself: it is
    /// `!Unpin`.
    #[must_use = "futures do nothing unless you .await or poll them"]
    pub struct WaitDeadlineFuture<'a, T, M: RawMutex, S> {
        promise: &'a Promise<T, M>,
        // This waiter's place in the promise's line.
        #[pin]
        entry: WaitEntry,
        // Whether `entry` may be in line.
        waiting: bool,
        #[pin]
        deadline: Deadline<S>,
    }

    impl<T, M: RawMutex, S> PinnedDrop for WaitDeadlineFuture<'_, T, M, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.waiting {
                this.promise.leave(this.entry.as_ref());
            }
        }
    }
}

pin_project! {
    #[project = DeadlineProj]
    enum Deadline<S> {
        // The deadline overflowed the clock: wait as long as it takes.
        Never,
        Sleeping {
            #[pin]
            sleep: S,
        },
        // The sleep completed; it is dropped so it is never polled again.
        Passed,
    }
}

impl<T, M, S> Future for WaitDeadlineFuture<'_, T, M, S>
where
    T: Clone,
    M: RawMutex,
    S: Future<Output = ()>,
{
    type Output = Result<T, WaitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // The value first: a value that is there is never reported as a timeout.
        // SAFETY: the entry is pinned; `PinnedDrop` and the timeout below take it out of
        // line while `waiting`, and the promise itself when it hands the value over.
        let value = unsafe { this.promise.poll_wait(cx, this.entry.as_ref()) };
        *this.waiting = value.is_pending();
        if let Poll::Ready(outcome) = value {
            return Poll::Ready(outcome.map_err(WaitError::from));
        }
        let passed = match this.deadline.as_mut().project() {
            DeadlineProj::Never => false,
            DeadlineProj::Sleeping { sleep } => sleep.poll(cx).is_ready(),
            DeadlineProj::Passed => true,
        };
        if !passed {
            return Poll::Pending;
        }
        this.deadline.set(Deadline::Passed);
        // It stops waiting: nothing of it stays with the promise.
        *this.waiting = false;
        this.promise.leave(this.entry.as_ref());
        Poll::Ready(Err(WaitError::Timeout))
    }
}

impl<T, M: RawMutex, S> fmt::Debug for WaitDeadlineFuture<'_, T, M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deadline = match self.deadline {
            Deadline::Never => "never",
            Deadline::Sleeping { .. } => "pending",
            Deadline::Passed => "passed",
        };
        f.debug_struct("WaitDeadlineFuture")
            .field("promise", self.promise)
            .field("deadline", &format_args!("{deadline}"))
            .finish()
    }
}

// ===== errors =====

/// The promise was abandoned: every [`Setter`] was dropped without setting a value, or
/// [`Promise::abandon`] was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Abandoned {
    _private: (),
}

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("promise abandoned without a value")
    }
}

impl core::error::Error for Abandoned {}

/// Why [`Promise::try_get`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TryGetError {
    /// No value yet; one may still be set.
    Empty,
    /// No value, and none will ever be set.
    Abandoned,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("promise has no value yet"),
            Self::Abandoned => Abandoned { _private: () }.fmt(f),
        }
    }
}

impl core::error::Error for TryGetError {}

impl From<Abandoned> for TryGetError {
    fn from(_: Abandoned) -> Self {
        Self::Abandoned
    }
}

/// Why [`Promise::wait_deadline`] or [`Promise::wait_timeout`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WaitError {
    /// The deadline passed before a value was set.
    Timeout,
    /// No value, and none will ever be set.
    Abandoned,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out waiting for the promise"),
            Self::Abandoned => Abandoned { _private: () }.fmt(f),
        }
    }
}

impl core::error::Error for WaitError {}

impl From<Abandoned> for WaitError {
    fn from(_: Abandoned) -> Self {
        Self::Abandoned
    }
}

#[cfg(test)]
mod state_tests {
    use super::*;

    const ABANDONED: Abandoned = Abandoned { _private: () };

    #[test]
    fn empty_has_no_outcome() {
        let state = PromiseState::<u32>::new();
        assert_eq!(state.get(), None);
    }

    #[test]
    fn first_set_wins_and_a_refused_value_comes_back() {
        let mut state = PromiseState::new();
        assert_eq!(state.set(1), Ok(()));
        assert_eq!(state.set(2), Err(2));
        assert_eq!(state.get(), Some(Ok(&1)));
    }

    #[test]
    fn only_the_last_counted_setter_abandons() {
        let mut state = PromiseState::<u32>::new();
        state.add_setter();
        state.add_setter();
        assert!(!state.drop_setter());
        assert_eq!(state.get(), None);
        assert!(state.drop_setter());
        assert_eq!(state.get(), Some(Err(ABANDONED)));
        assert_eq!(state.set(3), Err(3));
    }

    #[test]
    fn setters_no_longer_count_once_set() {
        let mut state = PromiseState::new();
        state.add_setter();
        assert_eq!(state.set(1), Ok(()));
        state.add_setter();
        assert!(!state.drop_setter());
        assert!(!state.drop_setter());
        assert_eq!(state.get(), Some(Ok(&1)));
    }

    #[test]
    fn abandon_only_leaves_empty() {
        let mut set = PromiseState::new();
        assert_eq!(set.set(1), Ok(()));
        assert!(!set.abandon());
        assert_eq!(set.get(), Some(Ok(&1)));

        let mut empty = PromiseState::<u32>::new();
        assert!(empty.abandon());
        assert!(!empty.abandon());
        assert_eq!(empty.set(2), Err(2));
        assert_eq!(empty.get(), Some(Err(ABANDONED)));
    }

    /// Random sequences of events against a model that counts every setter handle, including
    /// those made after the outcome, which the state machine no longer tracks.
    #[test]
    fn random_event_sequences_match_the_model() {
        let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // Scaled down under miri, which interprets every step (~100x slower), not skipped.
        for _ in 0..if cfg!(miri) { 60 } else { 2000 } {
            let mut state = PromiseState::<u64>::new();
            let mut live_setters = 0_usize;
            let mut outcome: Option<Result<u64, Abandoned>> = None;
            for _ in 0..24 {
                match next() % 4 {
                    0 => {
                        let value = next();
                        let expected = if outcome.is_none() {
                            outcome = Some(Ok(value));
                            Ok(())
                        } else {
                            Err(value)
                        };
                        assert_eq!(state.set(value), expected);
                    }
                    1 => {
                        live_setters += 1;
                        state.add_setter();
                    }
                    2 if live_setters > 0 => {
                        live_setters -= 1;
                        let abandons = outcome.is_none() && live_setters == 0;
                        if abandons {
                            outcome = Some(Err(ABANDONED));
                        }
                        assert_eq!(state.drop_setter(), abandons);
                    }
                    2 => {}
                    _ => {
                        let abandons = outcome.is_none();
                        if abandons {
                            outcome = Some(Err(ABANDONED));
                        }
                        assert_eq!(state.abandon(), abandons);
                    }
                }
                let expected = outcome.as_ref().map(|o| o.as_ref().map_err(|&e| e));
                assert_eq!(state.get(), expected);
            }
        }
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::sync::LocalMutex;
    use alloc::boxed::Box;
    use alloc::rc::Rc;
    use alloc::string::{String, ToString};
    use alloc::task::Wake;
    use alloc::vec::Vec;
    use core::cell::{Cell, RefCell};
    use core::sync::atomic::{AtomicUsize, Ordering};
    use core::task::Waker;
    use futures_executor::LocalPool;
    use futures_util::task::LocalSpawnExt;

    type LocalPromise<T> = Promise<T, LocalMutex>;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<CountingWaker>, Waker) {
        let count = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    fn wakes(count: &CountingWaker) -> usize {
        count.0.load(Ordering::SeqCst)
    }

    fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    /// The seed's `TestFuture`: not ready at first, set from another task, the waiter gets
    /// the value, ready afterwards.
    #[test]
    fn seed_test_future() {
        let mut pool = LocalPool::new();
        let (setter, promise) = super::promise::<&str, LocalMutex>();
        assert!(!promise.is_ready());

        let got = Rc::new(RefCell::new(None));
        let (waiter, slot) = (promise.clone(), got.clone());
        pool.spawner()
            .spawn_local(async move { *slot.borrow_mut() = Some(waiter.wait().await) })
            .unwrap();
        pool.run_until_stalled();
        assert_eq!(*got.borrow(), None, "the waiter must wait for the value");

        pool.spawner()
            .spawn_local(async move { setter.set("test result").unwrap() })
            .unwrap();
        pool.run_until_stalled();
        assert_eq!(*got.borrow(), Some(Ok("test result")));
        assert!(promise.is_ready());
    }

    #[test]
    fn first_set_wins_and_the_second_gets_its_value_back() {
        let (setter, promise) = super::promise::<u32, LocalMutex>();
        assert_eq!(promise.set(1), Ok(()));
        assert_eq!(setter.clone().set(2), Err(2));
        assert_eq!(promise.set(3), Err(3));
        assert_eq!(setter.set(4), Err(4));
        assert_eq!(promise.try_get(), Ok(1));
    }

    #[test]
    fn try_get_does_not_wait() {
        let promise = LocalPromise::new();
        assert_eq!(promise.try_get(), Err(TryGetError::Empty));
        promise.set(String::from("v")).unwrap();
        assert_eq!(promise.try_get().as_deref(), Ok("v"));
        // Reading clones: the value stays for everyone else.
        assert_eq!(promise.try_get().as_deref(), Ok("v"));
    }

    #[test]
    fn set_wakes_every_registered_waiter_once() {
        let promise = LocalPromise::new();
        let waiters: Vec<_> = (0..4).map(|_| counting_waker()).collect();
        let mut futures: Vec<_> = waiters.iter().map(|_| Box::pin(promise.wait())).collect();
        for (future, (_, waker)) in futures.iter_mut().zip(&waiters) {
            assert!(poll(future, waker).is_pending());
            // Polling again with the same waker must not register it twice.
            assert!(poll(future, waker).is_pending());
        }
        assert!(waiters.iter().all(|(count, _)| wakes(count) == 0));

        promise.set(7_u32).unwrap();
        for (future, (count, waker)) in futures.iter_mut().zip(&waiters) {
            assert_eq!(wakes(count), 1);
            assert_eq!(poll(future, waker), Poll::Ready(Ok(7)));
        }
    }

    /// Many waiters wait quietly (no task is woken before the value exists), and every one
    /// of them ends with the value.
    #[test]
    fn many_waiters_on_a_local_pool_all_get_the_value() {
        const WAITERS: usize = 10;
        let mut pool = LocalPool::new();
        let spawner = pool.spawner();
        let promise = Rc::new(LocalPromise::new());
        let polls = Rc::new(Cell::new(0));
        let got = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..WAITERS {
            let (promise, polls, got) = (promise.clone(), polls.clone(), got.clone());
            spawner
                .spawn_local(async move {
                    let mut wait = core::pin::pin!(promise.wait());
                    let value = core::future::poll_fn(|cx| {
                        polls.set(polls.get() + 1);
                        wait.as_mut().poll(cx)
                    })
                    .await;
                    got.borrow_mut().push(value);
                })
                .unwrap();
        }
        // `run_until_stalled` returns only because no waiter keeps another busy.
        pool.run_until_stalled();
        assert_eq!(polls.get(), WAITERS, "each waiter polled once, then slept");
        assert!(got.borrow().is_empty());
        promise.set(99_u32).unwrap();
        pool.run_until_stalled();
        assert_eq!(*got.borrow(), [Ok(99); WAITERS]);
        assert_eq!(
            promise.shared.lock(|s| s.waiters.len()),
            0,
            "every waiter left"
        );
    }

    #[test]
    fn abandoned_when_the_last_of_two_cloned_setters_drops() {
        let (first, promise) = super::promise::<u32, LocalMutex>();
        let second = first.clone();
        let (count, waker) = counting_waker();
        let mut waiting = Box::pin(promise.wait());
        assert!(poll(&mut waiting, &waker).is_pending());

        drop(first);
        assert_eq!(wakes(&count), 0);
        assert!(!promise.is_abandoned());
        assert!(poll(&mut waiting, &waker).is_pending());

        drop(second);
        assert_eq!(wakes(&count), 1);
        assert!(promise.is_abandoned());
        assert!(!promise.is_ready());
        assert_eq!(
            poll(&mut waiting, &waker),
            Poll::Ready(Err(WaitError::Abandoned))
        );
        assert_eq!(promise.try_get(), Err(TryGetError::Abandoned));
        assert_eq!(promise.set(3), Err(3), "a set after abandonment is refused");
    }

    #[test]
    fn a_value_set_by_one_setter_survives_the_others_dropping() {
        let (first, promise) = super::promise::<u32, LocalMutex>();
        let second = first.clone();
        first.set(1).unwrap();
        drop(second);
        assert!(!promise.is_abandoned());
        assert_eq!(promise.try_get(), Ok(1));
    }

    #[test]
    fn setters_over_a_borrowed_promise_abandon_it_too() {
        let promise = LocalPromise::<u32>::new();
        let setter = Setter::new(&promise);
        assert!(core::ptr::eq(setter.promise(), &promise));
        drop(setter);
        assert!(promise.is_abandoned());
    }

    #[test]
    fn a_promise_without_setters_waits_until_set_or_abandoned() {
        let promise = LocalPromise::new();
        let (count, waker) = counting_waker();
        let mut waiting = Box::pin(promise.wait());
        assert!(poll(&mut waiting, &waker).is_pending());
        assert!(!promise.is_abandoned());

        assert!(promise.abandon());
        assert_eq!(wakes(&count), 1);
        assert_eq!(
            poll(&mut waiting, &waker),
            Poll::Ready(Err(WaitError::Abandoned))
        );
        assert!(!promise.abandon());
        assert_eq!(promise.set(5_u32), Err(5));
    }

    #[test]
    fn abandon_after_set_keeps_the_value() {
        let promise = LocalPromise::new();
        promise.set(5_u32).unwrap();
        assert!(!promise.abandon());
        assert_eq!(promise.try_get(), Ok(5));
    }

    #[test]
    fn dropping_a_waiter_mid_wait_then_setting_still_wakes_the_others() {
        let promise = LocalPromise::new();
        let (dropped_count, dropped_waker) = counting_waker();
        let (kept_count, kept_waker) = counting_waker();
        let mut dropped = Box::pin(promise.wait());
        let mut kept = Box::pin(promise.wait());
        assert!(poll(&mut dropped, &dropped_waker).is_pending());
        assert!(poll(&mut kept, &kept_waker).is_pending());
        drop(dropped);

        promise.set(9_u32).unwrap();
        assert_eq!(wakes(&kept_count), 1);
        assert_eq!(poll(&mut kept, &kept_waker), Poll::Ready(Ok(9)));
        // The documented cost of cancellation: at most one stale wake-up.
        assert!(wakes(&dropped_count) <= 1);
        assert_eq!(
            promise.try_get(),
            Ok(9),
            "cancellation leaves the value in place"
        );
    }

    #[test]
    fn debug_does_not_need_debug_values() {
        #[derive(Clone)]
        struct Opaque;
        let (setter, promise) = super::promise::<Opaque, LocalMutex>();
        assert_eq!(
            alloc::format!("{promise:?}"),
            "Promise { state: empty, .. }"
        );
        assert!(alloc::format!("{setter:?}").starts_with("Setter { promise: Promise"));
        assert!(setter.set(Opaque).is_ok());
        assert_eq!(alloc::format!("{promise:?}"), "Promise { state: set, .. }");
        assert!(alloc::format!("{:?}", Box::pin(promise.wait())).contains("set"));
    }

    #[test]
    fn errors_read_as_lower_case_messages() {
        let abandoned = Abandoned { _private: () };
        assert_eq!(abandoned.to_string(), "promise abandoned without a value");
        assert_eq!(TryGetError::Empty.to_string(), "promise has no value yet");
        assert_eq!(
            TryGetError::from(abandoned).to_string(),
            "promise abandoned without a value"
        );
        assert_eq!(
            WaitError::Timeout.to_string(),
            "timed out waiting for the promise"
        );
        assert_eq!(WaitError::from(abandoned), WaitError::Abandoned);
    }

    #[cfg(feature = "std")]
    mod with_std {
        use super::*;
        use crate::manual_clock::{ManualClock, ManualSleep};
        use crate::time::Clock;

        const NS: Duration = Duration::from_nanos(1);
        const MS: Duration = Duration::from_millis(1);

        #[test]
        fn wait_timeout_expires_exactly_at_the_deadline() {
            let clock = ManualClock::new();
            let promise = LocalPromise::<u32>::new();
            let (count, waker) = counting_waker();
            let mut waiting = Box::pin(promise.wait_timeout(&clock, 10 * MS));
            assert!(poll(&mut waiting, &waker).is_pending());

            clock.advance(10 * MS - NS);
            assert_eq!(wakes(&count), 0);
            assert!(poll(&mut waiting, &waker).is_pending());

            clock.advance(NS);
            assert_eq!(wakes(&count), 1);
            assert_eq!(
                poll(&mut waiting, &waker),
                Poll::Ready(Err(WaitError::Timeout))
            );
            assert_eq!(clock.sleepers(), 0);

            // A waiter timing out leaves the promise open.
            assert!(!promise.is_abandoned());
            assert_eq!(promise.set(1), Ok(()));
        }

        #[test]
        fn wait_timeout_returns_a_value_set_before_the_deadline() {
            let clock = ManualClock::new();
            let promise = LocalPromise::new();
            let (count, waker) = counting_waker();
            let mut waiting = Box::pin(promise.wait_timeout(&clock, 10 * MS));
            assert!(poll(&mut waiting, &waker).is_pending());
            clock.advance(5 * MS);
            promise.set(4_u32).unwrap();
            assert_eq!(wakes(&count), 1);
            assert_eq!(poll(&mut waiting, &waker), Poll::Ready(Ok(4)));
        }

        #[test]
        fn a_value_already_there_wins_over_a_passed_deadline() {
            let clock = ManualClock::new();
            let promise = LocalPromise::new();
            promise.set(1_u32).unwrap();
            clock.advance(MS);
            let (_, waker) = counting_waker();
            let mut waiting = Box::pin(promise.wait_deadline(&clock, clock.now()));
            assert_eq!(poll(&mut waiting, &waker), Poll::Ready(Ok(1)));
        }

        #[test]
        fn wait_deadline_counts_from_the_given_instant() {
            let clock = ManualClock::new();
            let promise = LocalPromise::<u32>::new();
            let deadline = clock.after(3 * MS);
            clock.advance(MS);
            let (_, waker) = counting_waker();
            let mut waiting = Box::pin(promise.wait_deadline(&clock, deadline));
            assert!(poll(&mut waiting, &waker).is_pending());
            clock.advance(2 * MS - NS);
            assert!(poll(&mut waiting, &waker).is_pending());
            clock.advance(NS);
            assert_eq!(
                poll(&mut waiting, &waker),
                Poll::Ready(Err(WaitError::Timeout))
            );
        }

        #[test]
        fn a_timeout_that_overflows_the_clock_never_expires() {
            let clock = ManualClock::new();
            clock.advance(NS);
            let promise = LocalPromise::new();
            let (_, waker) = counting_waker();
            let mut waiting = Box::pin(promise.wait_timeout(&clock, Duration::MAX));
            assert!(poll(&mut waiting, &waker).is_pending());
            assert_eq!(clock.sleepers(), 0, "no deadline, so no sleep");
            clock.advance(Duration::from_secs(3600));
            assert!(poll(&mut waiting, &waker).is_pending());
            promise.set(2_u32).unwrap();
            assert_eq!(poll(&mut waiting, &waker), Poll::Ready(Ok(2)));
        }

        #[test]
        fn abandonment_during_a_timed_wait_is_reported_as_such() {
            let clock = ManualClock::new();
            let (setter, promise) = super::super::promise::<u32, LocalMutex>();
            let (count, waker) = counting_waker();
            let mut waiting = Box::pin(promise.wait_timeout(&clock, MS));
            assert!(poll(&mut waiting, &waker).is_pending());
            drop(setter);
            assert_eq!(wakes(&count), 1);
            assert_eq!(
                poll(&mut waiting, &waker),
                Poll::Ready(Err(WaitError::Abandoned))
            );
        }

        #[test]
        fn dropping_a_timed_waiter_cancels_its_sleep_and_keeps_the_promise() {
            let clock = ManualClock::new();
            let promise = LocalPromise::new();
            let (_, waker) = counting_waker();
            let mut waiting = Box::pin(promise.wait_timeout(&clock, MS));
            assert!(poll(&mut waiting, &waker).is_pending());
            assert_eq!(clock.sleepers(), 1);
            drop(waiting);
            assert_eq!(clock.sleepers(), 0);
            promise.set(3_u32).unwrap();
            assert_eq!(promise.try_get(), Ok(3));
        }

        #[test]
        fn the_thread_safe_flavour_is_send_and_sync() {
            use crate::sync::StdMutex;
            fn send_sync<T: Send + Sync>() {}
            fn send<T: Send>() {}
            fn error<E: core::error::Error + Send + Sync + 'static>() {}
            send_sync::<Promise<u32, StdMutex>>();
            send_sync::<Setter<Arc<Promise<u32, StdMutex>>>>();
            send_sync::<Setter<&'static Promise<u32, StdMutex>>>();
            send::<WaitFuture<'static, u32, StdMutex>>();
            send::<WaitDeadlineFuture<'static, u32, StdMutex, ManualSleep>>();
            error::<Abandoned>();
            error::<TryGetError>();
            error::<WaitError>();
        }

        #[test]
        fn a_static_promise_is_set_from_one_thread_and_awaited_on_others() {
            use crate::sync::StdMutex;
            static PROMISE: Promise<u32, StdMutex> = Promise::new();
            let setter = Setter::new(&PROMISE);
            let results: Vec<_> = std::thread::scope(|scope| {
                let waiters: Vec<_> = (0..4)
                    .map(|_| scope.spawn(|| futures_executor::block_on(PROMISE.wait())))
                    .collect();
                scope.spawn(move || setter.set(42).unwrap());
                waiters.into_iter().map(|w| w.join().unwrap()).collect()
            });
            assert_eq!(results, [Ok(42); 4]);
            assert!(PROMISE.is_ready());
        }

        #[test]
        fn a_static_promise_is_abandoned_when_its_setter_thread_gives_up() {
            use crate::sync::StdMutex;
            static PROMISE: Promise<u32, StdMutex> = Promise::new();
            let setter = Setter::new(&PROMISE);
            let result = std::thread::scope(|scope| {
                let waiter = scope.spawn(|| futures_executor::block_on(PROMISE.wait()));
                scope.spawn(move || drop(setter));
                waiter.join().unwrap()
            });
            assert_eq!(result, Err(WaitError::Abandoned));
        }
    }
}
