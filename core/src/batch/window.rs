//! The batch state machine: gather items until the batch is full or its time window has
//! passed, then hand the whole batch out at once.
//!
//! [`Batch`] is sans-IO: it never reads a clock. [`push`](Batch::push) takes the instant the
//! item arrived, [`poll_timeout`](Batch::poll_timeout) says when the open batch must go, and
//! the owner calls [`handle_timeout`](Batch::handle_timeout) once that instant has come. A
//! batching service wraps it with a lock, a timer and, per item, the caller's reply handle;
//! after running its handler it pairs each item with its result through [`route`].
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() -> Result<(), rsvp::batch::BatchConfigError> {
//! use core::time::Duration;
//! use rsvp::batch::{route, Batch, BatchConfig, Routed};
//! use rsvp::time::{Clock, ManualClock};
//!
//! let clock = ManualClock::new();
//! let mut batch = Batch::new(BatchConfig::new(3, Duration::from_millis(100))?);
//!
//! // The window opens with the first item and is not moved by later ones.
//! assert_eq!(batch.push("a", clock.now()), None);
//! clock.advance(Duration::from_millis(90));
//! assert_eq!(batch.push("b", clock.now()), None);
//! assert_eq!(batch.poll_timeout(), Some(clock.after(Duration::from_millis(10))));
//!
//! clock.advance(Duration::from_millis(10));
//! let items = batch.handle_timeout(clock.now()).expect("the window has passed");
//! assert_eq!(items, ["a", "b"]);
//!
//! // The handler answers each item; `route` gives each caller its own result.
//! let results: Vec<usize> = items.iter().map(|item| item.len()).collect();
//! match route(items, results) {
//!     Routed::Matched(pairs) => {
//!         for (item, result) in pairs {
//!             assert_eq!(result, 1, "{item}");
//!         }
//!     }
//!     Routed::WrongCount { .. } => unreachable!("one result per item"),
//! }
//!
//! // A full batch goes at once, without waiting for its window.
//! assert_eq!(batch.push("c", clock.now()), None);
//! assert_eq!(batch.push("d", clock.now()), None);
//! assert_eq!(batch.push("e", clock.now()), Some(vec!["c", "d", "e"]));
//! assert!(batch.is_empty());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! # Design
//!
//! States (the buffer being empty or not is the state; `opened_at` is `Some` exactly when
//! it is not empty):
//!
//! ```text
//!                    push(item, now)
//!   +-------+  -----------------------------> +------------------------+
//!   | Empty |                                 | Open { opened_at, n }  | --+ push, n + 1 < max_size
//!   +-------+  <----------------------------- +------------------------+ <-+ (window unchanged)
//!               push that makes n == max_size
//!               handle_timeout(now >= opened_at + max_wait)
//!               flush()
//! ```
//!
//! - `push` on `Empty` opens a batch whose window starts at that push's `now`; a push on
//!   `Open` only adds the item, so a steady trickle of items cannot hold a batch back.
//! - Every way out of `Open` hands the items out in push order and returns to `Empty`; the
//!   next push opens a new window.
//!
//! Invariants:
//!
//! - `1 <= n <= max_size` while open; a batch never holds `max_size` items after a method
//!   returns, because the push that fills it hands it out.
//! - Each pushed item comes out exactly once, in one batch, in push order.
//! - Called at every [`poll_timeout`](Batch::poll_timeout), `handle_timeout` hands out each
//!   batch no later than its first item's instant plus `max_wait`.
//! - The open batch lives in one `Vec` reserved for `max_size` items when the batch opens:
//!   at most one allocation per batch, none per item. The `Vec` handed out is the caller's;
//!   given back emptied through [`recycle`](Batch::recycle), it holds the next batch, so a
//!   steady stream of batches allocates nothing. An empty machine holds no allocation
//!   unless one was recycled into it.
//!
//! The machine owns the items only while they wait; it owns no reply handles. The wrapper
//! keeps each caller's reply handle beside its item (for instance as the item itself,
//! `(request, reply)`), so a flushed batch carries everything needed to answer.

use alloc::vec::Vec;
use core::fmt;
use core::iter::{FusedIterator, Zip};
use core::time::Duration;

use crate::time::Instant;

/// How a [`Batch`] decides that a batch is complete: at `max_size` items, or `max_wait`
/// after its first item, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchConfig {
    max_size: usize,
    max_wait: Duration,
}

impl BatchConfig {
    /// A configuration that hands a batch out when it holds `max_size` items or when
    /// `max_wait` has passed since its first item.
    ///
    /// `max_size` is also the buffer each open batch reserves, so it bounds the memory a
    /// batch holds; choose it with the item size in mind.
    ///
    /// # Errors
    ///
    /// [`BatchConfigError::ZeroSize`] if `max_size` is zero (a batch could never hold an
    /// item) and [`BatchConfigError::ZeroWait`] if `max_wait` is zero (every item would be
    /// late on arrival; use `max_size` 1 to process items one by one). A zero size is
    /// reported first.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use rsvp::batch::{BatchConfig, BatchConfigError};
    ///
    /// let config = BatchConfig::new(3, Duration::from_millis(100)).unwrap();
    /// assert_eq!(config.max_size(), 3);
    /// assert_eq!(BatchConfig::new(0, Duration::from_millis(100)), Err(BatchConfigError::ZeroSize));
    /// assert_eq!(BatchConfig::new(3, Duration::ZERO), Err(BatchConfigError::ZeroWait));
    /// ```
    pub const fn new(max_size: usize, max_wait: Duration) -> Result<Self, BatchConfigError> {
        if max_size == 0 {
            return Err(BatchConfigError::ZeroSize);
        }
        if max_wait.is_zero() {
            return Err(BatchConfigError::ZeroWait);
        }
        Ok(Self { max_size, max_wait })
    }

    /// The most items a batch holds; the push that reaches it hands the batch out.
    pub const fn max_size(&self) -> usize {
        self.max_size
    }

    /// How long after its first item a batch is handed out, full or not.
    pub const fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The same configuration with `max_size` at most `limit` (`limit >= 1`): for a source
    /// that never has more than `limit` items waiting at once, a batch of `limit` cannot
    /// grow, so waiting longer would only add latency.
    pub(crate) const fn with_max_size_at_most(self, limit: usize) -> Self {
        if self.max_size > limit {
            Self {
                max_size: limit,
                ..self
            }
        } else {
            self
        }
    }
}

/// Why [`BatchConfig::new`] refused a configuration: which field is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BatchConfigError {
    /// `max_size` was zero: a batch must be able to hold at least one item.
    ZeroSize,
    /// `max_wait` was zero: a batch must be allowed some time to gather items.
    ZeroWait,
}

impl fmt::Display for BatchConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroSize => "batch max_size must be at least 1",
            Self::ZeroWait => "batch max_wait must be longer than zero",
        })
    }
}

impl core::error::Error for BatchConfigError {}

/// The batch state machine: holds the open batch and says when it must be handed out.
///
/// A batch is handed out when it reaches [`max_size`](BatchConfig::max_size) items, or
/// once [`max_wait`](BatchConfig::max_wait) has passed since its *first* item (later items
/// do not extend the window), or on [`flush`](Self::flush). `I` is the instant type of the
/// owner's clock; the machine only compares and adds instants, it never reads a clock.
///
/// # Examples
///
/// ```
/// use core::time::Duration;
/// use rsvp::batch::{Batch, BatchConfig};
/// use rsvp::time::Instant;
///
/// # #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
/// # struct Ms(u64);
/// # impl Instant for Ms {
/// #     fn checked_add(self, d: Duration) -> Option<Self> {
/// #         Some(Ms(self.0.checked_add(d.as_millis().try_into().ok()?)?))
/// #     }
/// #     fn saturating_duration_since(self, earlier: Self) -> Duration {
/// #         Duration::from_millis(self.0.saturating_sub(earlier.0))
/// #     }
/// # }
/// // `Ms` is a clock's instant in milliseconds.
/// let config = BatchConfig::new(3, Duration::from_millis(100)).expect("valid config");
/// let mut batch = Batch::new(config);
///
/// assert_eq!(batch.push(1, Ms(0)), None);
/// assert_eq!(batch.push(2, Ms(90)), None);
/// // The owner sleeps until `poll_timeout`, then calls `handle_timeout`.
/// assert_eq!(batch.poll_timeout(), Some(Ms(100)));
/// assert_eq!(batch.handle_timeout(Ms(99)), None);
/// assert_eq!(batch.handle_timeout(Ms(100)), Some(vec![1, 2]));
///
/// // On shutdown, whatever is open goes out.
/// assert_eq!(batch.push(3, Ms(150)), None);
/// assert_eq!(batch.flush(), Some(vec![3]));
/// assert_eq!(batch.flush(), None);
/// ```
pub struct Batch<T, I: Instant> {
    config: BatchConfig,
    items: Vec<T>,
    /// The `now` of the push that opened the batch; `Some` exactly when `items` is not empty.
    opened_at: Option<I>,
}

impl<T, I: Instant> Batch<T, I> {
    /// An empty machine. It allocates nothing until the first push.
    pub const fn new(config: BatchConfig) -> Self {
        Self {
            config,
            items: Vec::new(),
            opened_at: None,
        }
    }

    /// Adds `item`, which arrived at `arrived`, to the open batch, opening one (and starting
    /// its window at `arrived`) if there is none.
    ///
    /// Returns the whole batch, in push order, when this item makes it hold `max_size`
    /// items; the machine is then empty. Otherwise returns `None`.
    ///
    /// `push` does not look at the window: an item pushed after the open batch's deadline
    /// joins that batch, which [`handle_timeout`](Self::handle_timeout) then hands out. Call
    /// `handle_timeout` before `push` if a late batch should go without the new item.
    ///
    /// # Panics
    ///
    /// When it opens a batch, if a buffer of `max_size` items cannot be allocated (the same
    /// condition as [`Vec::with_capacity`]).
    pub fn push(&mut self, item: T, arrived: I) -> Option<Vec<T>> {
        if self.items.is_empty() {
            // Reserve the whole batch at once so that no later push reallocates; a recycled
            // buffer already has the room.
            self.items.reserve_exact(self.config.max_size);
            self.opened_at = Some(arrived);
        }
        self.items.push(item);
        if self.items.len() >= self.config.max_size {
            self.take()
        } else {
            None
        }
    }

    /// When the open batch must be handed out: its first item's instant plus `max_wait`.
    ///
    /// `None` if no batch is open, or if that sum does not fit the clock (the batch then
    /// waits until it is full or flushed).
    pub fn poll_timeout(&self) -> Option<I> {
        self.opened_at?.checked_add(self.config.max_wait)
    }

    /// Hands out the open batch if its deadline ([`poll_timeout`](Self::poll_timeout)) is at
    /// or before `now`; the machine is then empty. Otherwise returns `None` and changes
    /// nothing.
    pub fn handle_timeout(&mut self, now: I) -> Option<Vec<T>> {
        match self.poll_timeout() {
            Some(deadline) if deadline <= now => self.take(),
            _ => None,
        }
    }

    /// Hands out whatever is open, regardless of size and window, for shutdown; `None` if
    /// the machine is empty.
    pub fn flush(&mut self) -> Option<Vec<T>> {
        self.take()
    }

    /// Gives back a buffer that a batch was handed out in, so that the next batch is
    /// gathered in it instead of in a new allocation. Its items, if any are left, are
    /// dropped.
    ///
    /// The buffer is kept only while no batch is open, no other buffer is held, and it has
    /// room for a whole batch; otherwise it is dropped. So recycling never makes the machine
    /// hold more than one batch's worth of memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::time::Duration;
    /// use rsvp::batch::{Batch, BatchConfig};
    /// use rsvp::time::{Clock, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let mut batch = Batch::new(BatchConfig::new(2, Duration::from_millis(100)).unwrap());
    /// batch.push(1, clock.now());
    /// let mut items = batch.push(2, clock.now()).expect("full");
    /// let buffer = items.as_ptr();
    /// items.clear();
    /// batch.recycle(items);
    ///
    /// // The next batch is gathered in the same memory.
    /// batch.push(3, clock.now());
    /// let items = batch.push(4, clock.now()).expect("full");
    /// assert_eq!(items, [3, 4]);
    /// assert_eq!(items.as_ptr(), buffer);
    /// ```
    pub fn recycle(&mut self, mut buffer: Vec<T>) {
        buffer.clear();
        if self.items.is_empty()
            && self.items.capacity() == 0
            && buffer.capacity() >= self.config.max_size
        {
            self.items = buffer;
        }
    }

    /// How many items the open batch holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no batch is open.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The configuration this machine was made with.
    pub fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// When the open batch's first item arrived (the start of its window); `None` if no
    /// batch is open.
    pub fn opened_at(&self) -> Option<I> {
        self.opened_at
    }

    fn take(&mut self) -> Option<Vec<T>> {
        self.opened_at = None;
        if self.items.is_empty() {
            return None;
        }
        // `Vec::new` does not allocate: the next batch reserves its buffer when it opens,
        // unless the owner recycles this one first.
        Some(core::mem::take(&mut self.items))
    }
}

impl<T, I: Instant> fmt::Debug for Batch<T, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("config", &self.config)
            .field("len", &self.items.len())
            .field("opened_at", &self.opened_at)
            .finish_non_exhaustive()
    }
}

/// Pairs each item of a flushed batch with the batch handler's result for it.
///
/// The handler is expected to return one result per item, in the items' order. If it does,
/// item `i` gets result `i` ([`Routed::Matched`]). If it does not, no pairing can be
/// trusted: every item is handed back ([`Routed::WrongCount`]) so that each caller can be
/// answered with an error such as [`WrongResultCount`], and the results are dropped.
///
/// # Examples
///
/// ```
/// use rsvp::batch::{route, Routed, WrongResultCount};
///
/// match route(vec!["a", "b", "c"], vec![1, 2]) {
///     Routed::Matched(_) => unreachable!(),
///     Routed::WrongCount { items, expected, got } => {
///         let error = WrongResultCount { expected, got };
///         assert_eq!(items, ["a", "b", "c"]);
///         assert_eq!(error.to_string(), "batch handler returned 2 results for 3 items");
///     }
/// }
/// ```
pub fn route<T, R>(items: Vec<T>, results: Vec<R>) -> Routed<T, R> {
    if items.len() == results.len() {
        Routed::Matched(Pairs {
            inner: items.into_iter().zip(results),
        })
    } else {
        Routed::WrongCount {
            expected: items.len(),
            got: results.len(),
            items,
        }
    }
}

/// What [`route`] made of a batch and its results.
#[must_use = "every item carries a caller waiting for an answer"]
pub enum Routed<T, R> {
    /// One result per item: the pairs `(item, result)`, in batch order.
    Matched(Pairs<T, R>),
    /// The handler returned the wrong number of results. Every item is handed back, in batch
    /// order, so that each caller gets an error; none is dropped silently.
    WrongCount {
        /// The batch's items.
        items: Vec<T>,
        /// How many results there should have been (the number of items).
        expected: usize,
        /// How many results the handler returned.
        got: usize,
    },
}

impl<T, R> fmt::Debug for Routed<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Matched(pairs) => f.debug_tuple("Matched").field(pairs).finish(),
            Self::WrongCount {
                items,
                expected,
                got,
            } => f
                .debug_struct("WrongCount")
                .field("items", &items.len())
                .field("expected", expected)
                .field("got", got)
                .finish(),
        }
    }
}

/// The `(item, result)` pairs of a batch whose handler returned one result per item, in
/// batch order. Made by [`route`].
pub struct Pairs<T, R> {
    inner: Zip<alloc::vec::IntoIter<T>, alloc::vec::IntoIter<R>>,
}

impl<T, R> Iterator for Pairs<T, R> {
    type Item = (T, R);

    fn next(&mut self) -> Option<(T, R)> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T, R> DoubleEndedIterator for Pairs<T, R> {
    fn next_back(&mut self) -> Option<(T, R)> {
        self.inner.next_back()
    }
}

impl<T, R> ExactSizeIterator for Pairs<T, R> {}

impl<T, R> FusedIterator for Pairs<T, R> {}

impl<T, R> fmt::Debug for Pairs<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pairs")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The error for each caller of a batch whose handler returned the wrong number of results
/// (see [`Routed::WrongCount`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WrongResultCount {
    /// How many results there should have been (the number of items in the batch).
    pub expected: usize,
    /// How many results the handler returned.
    pub got: usize,
}

impl fmt::Display for WrongResultCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        write!(
            f,
            "batch handler returned {} result{} for {} item{}",
            self.got,
            plural(self.got),
            self.expected,
            plural(self.expected),
        )
    }
}

impl core::error::Error for WrongResultCount {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    /// Milliseconds since some start: time comes from the tests' arguments only.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct At(u64);

    impl Instant for At {
        fn checked_add(self, duration: Duration) -> Option<Self> {
            let ms = u64::try_from(duration.as_millis()).ok()?;
            self.0.checked_add(ms).map(At)
        }
        fn saturating_duration_since(self, earlier: Self) -> Duration {
            Duration::from_millis(self.0.saturating_sub(earlier.0))
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn batch<T>(max_size: usize, max_wait_ms: u64) -> Batch<T, At> {
        Batch::new(BatchConfig::new(max_size, ms(max_wait_ms)).unwrap())
    }

    #[test]
    fn a_recycled_buffer_holds_the_next_batch_and_nothing_more() {
        let mut b = batch(2, 100);
        assert_eq!(b.push(1, At(0)), None);
        let mut first = b.push(2, At(0)).expect("full");
        let memory = first.as_ptr();
        first.truncate(1);
        b.recycle(first);
        assert!(b.is_empty(), "recycling opens no batch");
        assert_eq!(b.poll_timeout(), None);
        assert_eq!(b.push(3, At(5)), None);
        // Refused while a batch is open: the machine keeps one buffer.
        b.recycle(Vec::with_capacity(8));
        let second = b.push(4, At(6)).expect("full");
        assert_eq!(second, [3, 4], "the left-over item was dropped");
        assert_eq!(second.as_ptr(), memory);
        // Too small for a batch: dropped rather than grown later.
        b.recycle(Vec::with_capacity(1));
        assert_eq!(b.push(5, At(7)), None);
        assert_eq!(b.flush(), Some(vec![5]));
    }

    #[test]
    fn full_batch_goes_on_the_push_that_fills_it() {
        let mut b = batch(3, 100);
        assert_eq!(b.push(1, At(0)), None);
        assert_eq!(b.push(2, At(1)), None);
        assert_eq!(b.len(), 2);
        assert_eq!(b.push(3, At(2)), Some(vec![1, 2, 3]));
        assert!(b.is_empty());
        assert_eq!(b.opened_at(), None);
        assert_eq!(b.poll_timeout(), None);
        assert_eq!(b.flush(), None);
    }

    #[test]
    fn max_size_one_hands_out_every_item_alone() {
        let mut b = batch(1, 100);
        assert_eq!(b.push('a', At(0)), Some(vec!['a']));
        assert_eq!(b.push('b', At(0)), Some(vec!['b']));
        assert!(b.is_empty());
    }

    #[test]
    fn window_runs_from_the_first_item_not_the_last() {
        let mut b = batch(10, 100);
        assert_eq!(b.push("a", At(0)), None);
        assert_eq!(b.push("b", At(90)), None);
        assert_eq!(b.opened_at(), Some(At(0)));
        assert_eq!(b.poll_timeout(), Some(At(100)));
        assert_eq!(b.handle_timeout(At(99)), None);
        assert_eq!(b.len(), 2, "an early handle_timeout changes nothing");
        assert_eq!(b.handle_timeout(At(100)), Some(vec!["a", "b"]));
        assert!(b.is_empty());
        assert_eq!(b.handle_timeout(At(200)), None);
    }

    #[test]
    fn a_late_handle_timeout_still_hands_the_batch_out() {
        let mut b = batch(10, 100);
        b.push(1, At(5));
        assert_eq!(b.handle_timeout(At(1_000)), Some(vec![1]));
    }

    #[test]
    fn each_flush_opens_a_new_window_at_the_next_push() {
        let mut b = batch(2, 100);

        b.push(1, At(0));
        assert_eq!(b.handle_timeout(At(100)), Some(vec![1]));
        b.push(2, At(150));
        assert_eq!(b.opened_at(), Some(At(150)));
        assert_eq!(b.poll_timeout(), Some(At(250)));
        assert_eq!(b.handle_timeout(At(249)), None);

        assert_eq!(b.push(3, At(160)), Some(vec![2, 3]));
        b.push(4, At(300));
        assert_eq!(b.poll_timeout(), Some(At(400)));

        assert_eq!(b.flush(), Some(vec![4]));
        b.push(5, At(310));
        assert_eq!(b.poll_timeout(), Some(At(410)));
    }

    #[test]
    fn flush_on_close_returns_the_rest_then_nothing() {
        let mut b = batch(5, 100);
        b.push(1, At(0));
        b.push(2, At(10));
        assert_eq!(b.flush(), Some(vec![1, 2]));
        assert_eq!(b.flush(), None);
        assert!(b.is_empty());
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn empty_machine_has_no_deadline_and_nothing_to_hand_out() {
        let mut b = batch::<u8>(3, 100);
        assert_eq!(b.poll_timeout(), None);
        assert_eq!(b.opened_at(), None);
        assert_eq!(b.handle_timeout(At(u64::MAX)), None);
        assert_eq!(b.flush(), None);
        assert_eq!(b.len(), 0);
        assert_eq!(b.config().max_size(), 3);
        assert_eq!(b.config().max_wait(), ms(100));
    }

    #[test]
    fn deadline_past_the_end_of_the_clock_never_fires() {
        let mut b = batch(3, 100);
        b.push(1, At(u64::MAX - 50));
        assert_eq!(b.poll_timeout(), None);
        assert_eq!(b.handle_timeout(At(u64::MAX)), None);
        assert_eq!(b.push(2, At(u64::MAX)), None);
        assert_eq!(b.flush(), Some(vec![1, 2]));
    }

    #[test]
    fn open_batch_is_reserved_once_and_never_reallocated() {
        // Larger than `Vec`'s first growth step, so a missing reservation shows.
        const SIZE: usize = 16;
        let mut b = batch(SIZE, 100);
        assert_eq!(b.items.capacity(), 0, "an empty machine holds no buffer");
        b.push(0u64, At(0));
        let buffer = b.items.as_ptr();
        assert!(b.items.capacity() >= SIZE);
        for i in 1..SIZE as u64 - 1 {
            assert_eq!(b.push(i, At(i)), None);
            assert_eq!(b.items.as_ptr(), buffer, "push {i} reallocated");
        }
        let out = b.push(SIZE as u64 - 1, At(SIZE as u64)).unwrap();
        assert_eq!(out.as_ptr(), buffer, "the caller gets the same buffer");
        assert_eq!(out.len(), SIZE);
        assert_eq!(b.items.capacity(), 0);
    }

    #[test]
    fn debug_does_not_need_item_debug() {
        struct Opaque;
        let mut b = batch(3, 100);
        b.push(Opaque, At(7));
        let text = format!("{b:?}");
        assert!(text.contains("len: 1"), "{text}");
        assert!(text.contains("At(7)"), "{text}");
    }

    #[test]
    fn route_pairs_item_i_with_result_i() {
        let Routed::Matched(pairs) = route(vec!["a", "b", "c"], vec![1, 2, 3]) else {
            panic!("same count must match");
        };
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs.collect::<Vec<_>>(), [("a", 1), ("b", 2), ("c", 3)]);
    }

    #[test]
    fn route_hands_every_item_back_on_too_few_results() {
        match route(vec!["a", "b", "c"], vec![1, 2]) {
            Routed::WrongCount {
                items,
                expected,
                got,
            } => {
                assert_eq!(items, ["a", "b", "c"]);
                assert_eq!((expected, got), (3, 2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn route_hands_every_item_back_on_too_many_results() {
        match route(vec!["a", "b"], vec![1, 2, 3, 4]) {
            Routed::WrongCount {
                items,
                expected,
                got,
            } => {
                assert_eq!(items, ["a", "b"]);
                assert_eq!((expected, got), (2, 4));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn route_of_nothing_is_an_empty_match() {
        let routed = route(Vec::<u8>::new(), Vec::<u8>::new());
        assert!(matches!(routed, Routed::Matched(ref p) if p.len() == 0));
    }

    #[test]
    fn wrong_result_count_reads_well() {
        let e = WrongResultCount {
            expected: 3,
            got: 2,
        };
        assert_eq!(
            e.to_string(),
            "batch handler returned 2 results for 3 items"
        );
        let e = WrongResultCount {
            expected: 1,
            got: 0,
        };
        assert_eq!(e.to_string(), "batch handler returned 0 results for 1 item");
        let e = WrongResultCount {
            expected: 2,
            got: 1,
        };
        assert_eq!(e.to_string(), "batch handler returned 1 result for 2 items");
    }

    #[test]
    fn config_refuses_zero_size_and_zero_wait() {
        assert_eq!(BatchConfig::new(0, ms(1)), Err(BatchConfigError::ZeroSize));
        assert_eq!(BatchConfig::new(1, ms(0)), Err(BatchConfigError::ZeroWait));
        assert_eq!(
            BatchConfig::new(0, Duration::ZERO),
            Err(BatchConfigError::ZeroSize)
        );
        let c = BatchConfig::new(1, Duration::from_nanos(1)).unwrap();
        assert_eq!((c.max_size(), c.max_wait()), (1, Duration::from_nanos(1)));
        assert_eq!(
            BatchConfigError::ZeroSize.to_string(),
            "batch max_size must be at least 1"
        );
        assert_eq!(
            BatchConfigError::ZeroWait.to_string(),
            "batch max_wait must be longer than zero"
        );
    }

    #[test]
    fn config_can_be_made_in_a_const() {
        const CONFIG: BatchConfig = match BatchConfig::new(8, Duration::from_millis(5)) {
            Ok(c) => c,
            Err(_) => panic!("valid"),
        };
        let b: Batch<u8, At> = Batch::new(CONFIG);
        assert_eq!(*b.config(), CONFIG);
    }

    /// xorshift64*: deterministic, no dependencies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The naive reading of the rules, to check the machine against.
    struct Model {
        max_size: usize,
        max_wait: u64,
        open: Vec<u32>,
        opened_at: u64,
    }

    impl Model {
        fn push(&mut self, item: u32, now: u64) -> Option<Vec<u32>> {
            if self.open.is_empty() {
                self.opened_at = now;
            }
            self.open.push(item);
            (self.open.len() == self.max_size).then(|| core::mem::take(&mut self.open))
        }
        fn handle_timeout(&mut self, now: u64) -> Option<Vec<u32>> {
            let due = !self.open.is_empty() && self.opened_at + self.max_wait <= now;
            due.then(|| core::mem::take(&mut self.open))
        }
        fn flush(&mut self) -> Option<Vec<u32>> {
            (!self.open.is_empty()).then(|| core::mem::take(&mut self.open))
        }
    }

    #[test]
    fn random_runs_match_the_model_and_keep_the_invariants() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Scaled down under miri, which interprets every step (~100x slower), not skipped.
        for _run in 0..if cfg!(miri) { 8 } else { 500 } {
            let max_size = 1 + rng.below(8) as usize;
            let max_wait = 1 + rng.below(50);
            let mut b = batch::<u32>(max_size, max_wait);
            let mut model = Model {
                max_size,
                max_wait,
                open: Vec::new(),
                opened_at: 0,
            };
            let mut now = 0u64;
            let mut next_item = 0u32;
            let mut pushed_at = Vec::new();
            let mut out: Vec<u32> = Vec::new();

            // Checks a batch handed out at `at`, records its items, and gives its buffer
            // back to be recycled (or not: both must hand out the same batches).
            let emit = |batch: Option<Vec<u32>>,
                        expected: Option<Vec<u32>>,
                        at: u64,
                        pushed_at: &[u64],
                        out: &mut Vec<u32>|
             -> Option<Vec<u32>> {
                assert_eq!(batch, expected, "machine and model disagree at {at}");
                let batch = batch?;
                assert!(!batch.is_empty() && batch.len() <= max_size);
                // Items come out in push order, so the first one has waited longest.
                assert!(batch.windows(2).all(|w| w[0] < w[1]));
                let first = pushed_at[batch[0] as usize];
                assert!(
                    at - first <= max_wait,
                    "item {} waited {}ms, past its batch's window of {max_wait}ms",
                    batch[0],
                    at - first
                );
                out.extend_from_slice(&batch);
                Some(batch)
            };
            let recycle = |b: &mut Batch<u32, At>, buffer: Option<Vec<u32>>, rng: &mut Rng| {
                if let Some(buffer) = buffer.filter(|_| rng.below(2) == 0) {
                    b.recycle(buffer);
                }
            };

            for _step in 0..if cfg!(miri) { 60 } else { 200 } {
                // Serve the window exactly when the machine asks, as a wrapper's timer does.
                let next = now + rng.below(max_wait * 2);
                if let Some(deadline) = b.poll_timeout() {
                    assert_eq!(deadline, At(model.opened_at + max_wait));
                    if deadline.0 <= next {
                        assert_eq!(b.handle_timeout(At(deadline.0 - 1)), None);
                        let got = b.handle_timeout(deadline);
                        assert!(got.is_some(), "a due batch must go at its deadline");
                        let buffer = emit(
                            got,
                            model.handle_timeout(deadline.0),
                            deadline.0,
                            &pushed_at,
                            &mut out,
                        );
                        recycle(&mut b, buffer, &mut rng);
                    }
                } else {
                    assert!(model.open.is_empty());
                }
                now = next;

                match rng.below(10) {
                    0 => {
                        let got = b.flush();
                        let buffer = emit(got, model.flush(), now, &pushed_at, &mut out);
                        recycle(&mut b, buffer, &mut rng);
                    }
                    1 | 2 => {
                        // A timeout that may or may not be due, as a spurious timer wake-up.
                        let got = b.handle_timeout(At(now));
                        let buffer =
                            emit(got, model.handle_timeout(now), now, &pushed_at, &mut out);
                        recycle(&mut b, buffer, &mut rng);
                    }
                    _ => {
                        let item = next_item;
                        next_item += 1;
                        pushed_at.push(now);
                        let got = b.push(item, At(now));
                        let buffer = emit(got, model.push(item, now), now, &pushed_at, &mut out);
                        recycle(&mut b, buffer, &mut rng);
                    }
                }
                assert_eq!(b.len(), model.open.len());
                assert!(b.len() < max_size);
                assert_eq!(b.is_empty(), b.opened_at().is_none());
            }
            let rest = b.flush();
            let _ = emit(rest, model.flush(), now, &pushed_at, &mut out);
            assert!(b.is_empty());

            let all: Vec<u32> = (0..next_item).collect();
            assert_eq!(out, all, "every item exactly once, in push order");
        }
    }
}
