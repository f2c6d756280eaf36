//! The request queue: a trait the endpoint runs over, and rsvp's own bounded queue.
//!
//! An endpoint's request queue is named in its [kind](crate::rpc::Kind) (the `Q` of
//! [`With<M, C, Q>`](crate::rpc::With)): by default [`InlineQueue`], a ring inside the
//! endpoint's own lock; or any [`RequestQueue`] of [`Envelope`]s, such as
//! rsvp's separate [`Queue`] (its own lock, which threads contend for less) or an
//! `MpscQueue` (feature `futures-channel`), given to
//! [`Rpc::with_queue`](crate::Rpc::with_queue).
//!
//! ```
//! use rsvp::lock::LocalMutex;
//! use rsvp::queue::{Envelope, Queue};
//! use rsvp::rpc::With;
//! use rsvp::time::NoClock;
//! use rsvp::Rpc;
//!
//! let rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock, Queue<LocalMutex, Envelope<u32>, 4>>> =
//!     Rpc::with_queue(Queue::new(), NoClock);
//! let (caller, server) = Rpc::split(&rpc);
//! let call = caller.try_call(20).unwrap();
//! let (req, responder) = server.try_recv().unwrap();
//! responder.reply(req + 1).unwrap();
//! assert_eq!(futures_executor::block_on(call), Ok(21));
//! ```
//!
//! # Design
//!
//! [`RequestQueue`] is poll-style and takes `&self`, so an adapter wraps any channel in a
//! few lines (a lock around a receiver that needs `&mut`). It only carries requests: reply
//! slots, deadlines and outcomes live in the endpoint, so a queue never has to know about
//! them. A request whose caller gives up while it waits is taken out at once through
//! [`RequestQueue::remove`]; a queue that cannot remove items (the default) keeps it as a
//! tombstone that the server skips.
//!
//! [`Queue`] is the default: a ring of `N` entries inside a [`Mutex`], no
//! allocation. Its state machine, `QueueState`, is a plain ring buffer:
//!
//! ```text
//!            push (len < N)                 pop (len > 0)
//!   senders ───────────────▶ [ ring of N ] ───────────────▶ receivers
//!      ▲  Full when len == N      │ remove: one item out of the middle, order kept
//!      │                          │ close: push -> Closed; pop drains what is left,
//!      └── woken by pop, remove ──┘        then reports Closed
//! ```
//!
//! Invariants: `len <= N`; items leave in the order they entered; after `close` nothing
//! enters, and the receiver still gets everything that entered before.
//!
//! An endpoint's servers wait for a request with their place in line kept in their own
//! futures (wait entries, as they do with [`InlineQueue`]): any number wait, allocating
//! nothing, an item wakes one of them, and one that gives up takes its place along.

use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::sync::{Mutex, RawMutex};
use crate::wait_list::{line, Line, WaitEntry, WaitList};
use crate::waker_set::{WakeRest, WakerSet, Wakes};

pub use crate::error::{TryRecvError, TrySendError};
#[cfg(feature = "futures-channel")]
pub use crate::mpsc::MpscQueue;
#[doc(hidden)]
pub use crate::rpc::transport::{DefaultQueue, InlineRing, Transport};
pub use crate::rpc::transport::{Envelope, InlineQueue};

/// A bounded queue of requests, in poll style.
///
/// Implemented by rsvp's [`Queue`]; an adapter implements it for a channel its users
/// already have. Wake-up contract: `poll_recv` returning `Pending` registers the receiver's
/// waker, which a later `try_send` or `close` wakes; `poll_ready` returning `Pending`
/// registers a sender's waker, which a later `poll_recv`/`try_recv` that frees room, or
/// `close`, wakes.
pub trait RequestQueue<T> {
    /// Adds `item` at the back now, or hands it back.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] at capacity, [`TrySendError::Closed`] after `close`.
    fn try_send(&self, item: T) -> Result<(), TrySendError<T>>;

    /// `Ready` when a `try_send` may succeed (there is room, or the queue is closed and
    /// `try_send` will say so).
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()>;

    /// The next item; `Ready(None)` once the queue is closed and empty.
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>>;

    /// [`poll_recv`](Self::poll_recv) by a receiver that keeps its place in line in `entry`
    /// (an endpoint's server). rsvp's internals: the default ignores `entry`.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`leave_line`](Self::leave_line)) before it is dropped.
    #[doc(hidden)]
    unsafe fn poll_recv_in_line(
        &self,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Option<T>> {
        let _ = entry;
        self.poll_recv(cx)
    }

    /// [`poll_ready`](Self::poll_ready) by a sender that keeps its place in line in `entry`
    /// (an endpoint's caller). rsvp's internals: the default ignores `entry`.
    ///
    /// # Safety
    ///
    /// As [`poll_recv_in_line`](Self::poll_recv_in_line).
    #[doc(hidden)]
    unsafe fn poll_ready_in_line(&self, cx: &mut Context<'_>, entry: Pin<&WaitEntry>) -> Poll<()> {
        let _ = entry;
        self.poll_ready(cx)
    }

    /// The receiver or sender waiting in line with `entry` stops waiting. rsvp's internals.
    ///
    /// # Safety
    ///
    /// `entry` waits in this queue's lines, or in none: an entry of another list is read
    /// without that list's lock.
    #[doc(hidden)]
    unsafe fn leave_line(&self, entry: Pin<&WaitEntry>) {
        let _ = entry;
    }

    /// The next item if there is one now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is queued, [`TryRecvError::Closed`] if nothing is
    /// queued and the queue is closed.
    fn try_recv(&self) -> Result<T, TryRecvError>;

    /// Removes the first queued item for which `matches` is true and returns it. rsvp calls
    /// it when a caller gives up on a queued request, so that its queue space comes back at
    /// once. A queue that cannot remove items returns `None` (the default); the request
    /// then stays queued until the server skips it.
    fn remove(&self, matches: &mut dyn FnMut(&T) -> bool) -> Option<T> {
        let _ = matches;
        None
    }

    /// Stops accepting items; queued items can still be received.
    fn close(&self);

    /// Whether `close` was called.
    fn is_closed(&self) -> bool;

    /// Items queued now.
    fn len(&self) -> usize;

    /// Whether nothing is queued now.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The ring buffer behind [`Queue`]: pure, no wakers.
pub(crate) struct QueueState<T, const N: usize> {
    ring: [Option<T>; N],
    head: usize,
    len: usize,
    closed: bool,
}

impl<T, const N: usize> QueueState<T, N> {
    pub(crate) const fn new() -> Self {
        const { assert!(N > 0, "a queue needs a capacity of at least 1") };
        Self {
            ring: [const { None }; N],
            head: 0,
            len: 0,
            closed: false,
        }
    }

    pub(crate) fn push(&mut self, item: T) -> Result<(), TrySendError<T>> {
        if self.closed {
            return Err(TrySendError::Closed(item));
        }
        if self.len == N {
            return Err(TrySendError::Full(item));
        }
        let tail = (self.head + self.len) % N;
        self.ring[tail] = Some(item);
        self.len += 1;
        Ok(())
    }

    pub(crate) fn pop(&mut self) -> Result<T, TryRecvError> {
        if self.len == 0 {
            return Err(if self.closed {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            });
        }
        let item = self.ring[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Ok(item.expect("queue invariant: the first `len` entries from `head` are occupied"))
    }

    /// Removes the first item that `matches`, keeping the others in order. O(len).
    pub(crate) fn remove(&mut self, matches: &mut dyn FnMut(&T) -> bool) -> Option<T> {
        let found = (0..self.len).find(|&i| {
            let item = self.ring[(self.head + i) % N].as_ref();
            matches(
                item.expect("queue invariant: the first `len` entries from `head` are occupied"),
            )
        })?;
        let item = self.ring[(self.head + found) % N].take();
        for i in found..self.len - 1 {
            let next = self.ring[(self.head + i + 1) % N].take();
            self.ring[(self.head + i) % N] = next;
        }
        self.len -= 1;
        item
    }

    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }
}

/// The tasks waiting on a queue: receivers for an item, senders for room. Each waits in
/// line, with its entry in its future (an endpoint's servers and callers), or polls by hand
/// (a fixed set of wakers). An event wakes one task in line, and every task that polls by
/// hand; one in line that was woken and leaves passes its wake-up on (for an item, if one
/// is left).
pub(crate) struct Waiters {
    items: Line<{ line::ITEM }>,
    receivers: WakerSet<2>,
    room: WaitList<{ line::ROOM }>,
    senders: WakerSet<4>,
}

impl Waiters {
    pub(crate) const fn new() -> Self {
        Self {
            items: Line::new(),
            receivers: WakerSet::new(),
            room: WaitList::new(),
            senders: WakerSet::new(),
        }
    }

    /// An item came.
    #[inline(always)]
    pub(crate) fn item_came(&mut self, wakes: &mut Wakes) {
        self.items.wake_one_cloned(wakes);
        self.receivers.wake_all(wakes);
    }

    /// Room came.
    #[inline(always)]
    pub(crate) fn room_came(&mut self, wakes: &mut Wakes) {
        if self.room.is_waiting() {
            self.room.wake_one(wakes);
        }
        self.senders.wake_all(wakes);
    }

    /// The queue closed, or a second round ([`WakeRest`]): every waiting task.
    pub(crate) fn wake_all(&mut self, wakes: &mut Wakes) {
        self.items.wake_all(wakes);
        self.receivers.wake_all(wakes);
        self.room.wake_all(wakes);
        self.senders.wake_all(wakes);
    }

    /// A receiver waits for an item: in line with `entry`, or polling by hand.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`leave`](Self::leave)) before it is dropped.
    pub(crate) unsafe fn wait_for_item(
        &mut self,
        waker: &Waker,
        entry: Option<Pin<&WaitEntry>>,
        wakes: &mut Wakes,
    ) {
        match entry {
            // SAFETY: passed on from this method's contract.
            Some(entry) => unsafe { self.items.register(entry, waker, wakes) },
            None => self.receivers.register(waker, wakes),
        }
    }

    /// A sender waits for room: in line with `entry`, or polling by hand.
    ///
    /// # Safety
    ///
    /// As [`wait_for_item`](Self::wait_for_item).
    pub(crate) unsafe fn wait_for_room(
        &mut self,
        waker: &Waker,
        entry: Option<Pin<&WaitEntry>>,
        wakes: &mut Wakes,
    ) {
        match entry {
            // SAFETY: passed on from this method's contract.
            Some(entry) => unsafe { self.room.register(entry, waker, wakes) },
            None => self.senders.register(waker, wakes),
        }
    }

    /// The receiver waiting with `entry` got an item (or learnt none will come).
    #[inline(always)]
    pub(crate) fn got_item(&mut self, entry: Option<Pin<&WaitEntry>>, wakes: &mut Wakes) {
        if let Some(entry) = entry {
            self.items.done_waiting(entry, wakes);
        }
    }

    /// The sender waiting with `entry` finds room (or the queue closed). It leaves the line,
    /// but one woken for the room keeps its turn: if another sender takes the room first,
    /// it waits again at the front.
    #[inline(always)]
    pub(crate) fn found_room(&mut self, entry: Option<Pin<&WaitEntry>>, wakes: &mut Wakes) {
        if let Some(entry) = entry {
            self.room.leave_unless_woken(entry, wakes);
        }
    }

    /// The task waiting with `entry`, in either line, stops waiting: a wake-up it was
    /// given passes to the next in its line (for an item, if one is left: `items_left`).
    pub(crate) fn leave(&mut self, entry: Pin<&WaitEntry>, items_left: bool, wakes: &mut Wakes) {
        self.items.leave(entry, items_left, wakes);
        if self.room.unregister(entry, wakes) {
            self.room.wake_one(wakes);
        }
    }
}

struct Shared<T, const N: usize> {
    state: QueueState<T, N>,
    waiters: Waiters,
}

impl<T, const N: usize> WakeRest for Shared<T, N> {
    fn wake_rest(&mut self, wakes: &mut Wakes) {
        self.waiters.wake_all(wakes);
    }
}

/// rsvp's bounded, allocation-free request queue of capacity `N` (`N >= 1`, checked at
/// compile time).
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::queue::{Queue, RequestQueue, TrySendError};
///
/// let queue: Queue<LocalMutex, u32, 2> = Queue::new();
/// queue.try_send(1).unwrap();
/// queue.try_send(2).unwrap();
/// assert!(matches!(queue.try_send(3), Err(TrySendError::Full(3))));
/// assert_eq!(queue.try_recv(), Ok(1));
/// ```
pub struct Queue<M: RawMutex, T, const N: usize> {
    shared: Mutex<M, Shared<T, N>>,
}

impl<M: RawMutex, T, const N: usize> Queue<M, T, N> {
    /// An empty, open queue.
    pub const fn new() -> Self {
        Self {
            shared: Mutex::new(Shared {
                state: QueueState::new(),
                waiters: Waiters::new(),
            }),
        }
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<M: RawMutex, T, const N: usize> Default for Queue<M, T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: RawMutex, T, const N: usize> core::fmt::Debug for Queue<M, T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (len, closed) = self.shared.lock(|s| (s.state.len(), s.state.is_closed()));
        f.debug_struct("Queue")
            .field("len", &len)
            .field("capacity", &N)
            .field("closed", &closed)
            .finish()
    }
}

impl<M: RawMutex, T, const N: usize> Queue<M, T, N> {
    /// `poll_ready`, waiting in line with `entry` if given.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`RequestQueue::leave_line`]) before it is dropped.
    unsafe fn ready(&self, cx: &mut Context<'_>, entry: Option<Pin<&WaitEntry>>) -> Poll<()> {
        self.shared.lock_wake(|s, wakes| {
            if s.state.is_closed() || s.state.len() < N {
                s.waiters.found_room(entry, wakes);
                Poll::Ready(())
            } else {
                // SAFETY: passed on from this method's contract.
                unsafe { s.waiters.wait_for_room(cx.waker(), entry, wakes) };
                Poll::Pending
            }
        })
    }

    /// `poll_recv`, waiting in line with `entry` if given.
    ///
    /// # Safety
    ///
    /// As [`ready`](Self::ready).
    #[inline(always)]
    unsafe fn recv(&self, cx: &mut Context<'_>, entry: Option<Pin<&WaitEntry>>) -> Poll<Option<T>> {
        self.shared.lock_wake(|s, wakes| match s.state.pop() {
            Ok(item) => {
                s.waiters.got_item(entry, wakes);
                s.waiters.room_came(wakes);
                Poll::Ready(Some(item))
            }
            Err(TryRecvError::Closed) => {
                s.waiters.got_item(entry, wakes);
                Poll::Ready(None)
            }
            Err(TryRecvError::Empty) => {
                // SAFETY: passed on from this method's contract.
                unsafe { s.waiters.wait_for_item(cx.waker(), entry, wakes) };
                Poll::Pending
            }
        })
    }
}

impl<M: RawMutex, T, const N: usize> RequestQueue<T> for Queue<M, T, N> {
    #[inline]
    fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.shared.lock_wake(|s, wakes| {
            s.state.push(item)?;
            s.waiters.item_came(wakes);
            Ok(())
        })
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: no entry.
        unsafe { self.ready(cx, None) }
    }

    unsafe fn poll_ready_in_line(&self, cx: &mut Context<'_>, entry: Pin<&WaitEntry>) -> Poll<()> {
        // SAFETY: passed on from this method's contract.
        unsafe { self.ready(cx, Some(entry)) }
    }

    #[inline]
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: no entry.
        unsafe { self.recv(cx, None) }
    }

    #[inline]
    unsafe fn poll_recv_in_line(
        &self,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Option<T>> {
        // SAFETY: passed on from this method's contract.
        unsafe { self.recv(cx, Some(entry)) }
    }

    unsafe fn leave_line(&self, entry: Pin<&WaitEntry>) {
        self.shared
            .lock_wake(|s, wakes| s.waiters.leave(entry, s.state.len() > 0, wakes));
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        self.shared.lock_wake(|s, wakes| {
            let item = s.state.pop()?;
            s.waiters.room_came(wakes);
            Ok(item)
        })
    }

    fn remove(&self, matches: &mut dyn FnMut(&T) -> bool) -> Option<T> {
        self.shared.lock_wake(|s, wakes| {
            let item = s.state.remove(matches)?;
            s.waiters.room_came(wakes);
            Some(item)
        })
    }

    fn close(&self) {
        self.shared.lock_wake(|s, wakes| {
            s.state.close();
            s.waiters.wake_all(wakes);
        });
    }

    fn is_closed(&self) -> bool {
        self.shared.lock(|s| s.state.is_closed())
    }

    fn len(&self) -> usize {
        self.shared.lock(|s| s.state.len())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn ring_keeps_order_across_wraparound() {
        let mut q = QueueState::<u32, 3>::new();
        for round in 0..5u32 {
            q.push(round * 10).unwrap();
            q.push(round * 10 + 1).unwrap();
            assert_eq!(q.pop(), Ok(round * 10));
            assert_eq!(q.pop(), Ok(round * 10 + 1));
        }
        assert_eq!(q.pop(), Err(TryRecvError::Empty));
    }

    #[test]
    fn remove_takes_one_item_out_of_the_middle_and_keeps_the_order() {
        let mut q = QueueState::<u32, 4>::new();
        q.push(0).unwrap();
        assert_eq!(q.pop(), Ok(0)); // move `head` so the ring wraps
        for i in 1..=4 {
            q.push(i).unwrap();
        }
        assert_eq!(q.remove(&mut |&i| i == 2), Some(2));
        assert_eq!(q.remove(&mut |&i| i == 9), None);
        q.push(5).unwrap();
        let drained: std::vec::Vec<u32> = core::iter::from_fn(|| q.pop().ok()).collect();
        assert_eq!(drained, [1, 3, 4, 5]);
    }

    #[test]
    fn full_and_closed_hand_the_item_back() {
        let mut q = QueueState::<&str, 1>::new();
        q.push("a").unwrap();
        assert!(matches!(q.push("b"), Err(TrySendError::Full("b"))));
        q.close();
        assert!(matches!(q.push("c"), Err(TrySendError::Closed("c"))));
        assert_eq!(q.pop(), Ok("a"), "close keeps what was queued");
        assert_eq!(q.pop(), Err(TryRecvError::Closed));
    }

    #[cfg(feature = "std")]
    #[test]
    fn receiver_is_woken_by_send_and_close() {
        use futures_util::task::{waker_ref, ArcWake};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Count(AtomicUsize);
        impl ArcWake for Count {
            fn wake_by_ref(arc_self: &Arc<Self>) {
                arc_self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = waker_ref(&count);
        let mut cx = Context::from_waker(&waker);
        let q: Queue<crate::sync::LocalMutex, u8, 1> = Queue::new();
        assert!(q.poll_recv(&mut cx).is_pending());
        q.try_send(7).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(
            q.poll_ready(&mut cx).is_pending(),
            "full queue is not ready"
        );
        assert_eq!(q.poll_recv(&mut cx), Poll::Ready(Some(7)));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "a pop wakes waiting senders"
        );
        assert!(q.poll_recv(&mut cx).is_pending());
        q.close();
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        assert_eq!(q.poll_recv(&mut cx), Poll::Ready(None));
    }
}
