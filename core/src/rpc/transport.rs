//! Where an endpoint's requests wait between caller and server: in their reply slots,
//! inside the endpoint's lock ([`InlineQueue`]), or in any [`RequestQueue`] outside it.
//!
//! The difference lives here and nowhere else. The endpoint's state keeps a [`Ring`]: with
//! the inline queue, a request goes into its call's slot (the slots link the queued ones in
//! order) in the same lock that starts its call, and is taken in the same lock that marks
//! it taken; the outside queue's ring holds nothing and hands every request back
//! ([`Ring::hold`]), and the endpoint then moves it through the [`Transport`] after
//! unlocking. Each endpoint operation decides which way once, on a constant
//! ([`Ring::INSIDE`]).

use core::marker::PhantomData;
use core::pin::Pin;
use core::task::Waker;

use crate::queue::{Queue, RequestQueue};
use crate::reply::Ticket;
use crate::sync::RawMutex;
use crate::wait_list::{line, Line, WaitEntry};
use crate::waker_set::Wakes;

/// A request in transit: the request and the ticket of its reply slot.
///
/// Only rsvp reads it; a [`RequestQueue`] implementation just moves it.
pub struct Envelope<Req> {
    pub(super) req: Req,
    pub(super) ticket: Ticket,
}

impl<Req> Envelope<Req> {
    /// The request inside.
    pub fn request(&self) -> &Req {
        &self.req
    }
}

impl<Req> core::fmt::Debug for Envelope<Req> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Envelope")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

/// rsvp's own request queue inside the endpoint's lock: each queued request waits in its
/// call's reply slot, the slots linked in order (no memory of its own), and the default
/// queue of an [`Rpc`](crate::Rpc).
///
/// Starting a call then takes one lock (slot and queue together) instead of two, and a
/// server takes a request in one lock too. It never refuses a request for lack of room: it
/// has a place for every slot. Over a lock that threads contend for
/// ([`StdMutex`](crate::lock::StdMutex)), rsvp's separate [`Queue`] lets a caller queue a
/// request while a server replies on another thread; the thread-safe aliases of the
/// adapters use it.
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::queue::InlineQueue;
/// use rsvp::rpc::With;
/// use rsvp::time::NoClock;
/// use rsvp::Rpc;
///
/// // The default, named.
/// let _rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock, InlineQueue>> = Rpc::new(NoClock);
/// ```
#[derive(Clone, Copy, Default, Debug)]
pub struct InlineQueue;

/// What the endpoint's state keeps of its queue, inside its lock: with the inline queue,
/// each queued request sits in its call's reply slot (the slots link them in order), and
/// the ring keeps the servers that wait for one. rsvp's internals, and sealed: its methods
/// run under the endpoint's lock, where only rsvp's code may run.
#[doc(hidden)]
pub trait Ring<Req>: super::sealed::Sealed {
    /// Whether requests wait inside the lock, in their slots.
    const INSIDE: bool;
    /// What a queued call's slot holds of its request: the request, or `()` when it goes
    /// through the queue outside the lock.
    type Held;
    /// Splits `req` into what its slot holds and what goes outside the lock.
    fn hold(req: Req) -> (Self::Held, Option<Req>);
    /// The request [`hold`](Self::hold) split, whole again.
    fn give_back(held: Self::Held, rest: Option<Req>) -> Req;
    /// A request was queued: a waiting server is woken.
    fn request_came(&mut self, wakes: &mut Wakes);
    /// `waker`'s task waits for a request, with `entry` in line if it needs a place.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`leave`](Self::leave)) before it is dropped, unless the
    /// endpoint is never used again.
    unsafe fn register(&mut self, waker: &Waker, entry: Pin<&WaitEntry>, wakes: &mut Wakes);
    /// The server waiting with `entry` got what it waited for (a request, or the news that
    /// none will come): its entry goes.
    fn done_waiting(&mut self, entry: Pin<&WaitEntry>, wakes: &mut Wakes);
    /// The server waiting with `entry` stops (its future was dropped): its entry goes, and a
    /// wake-up it may have been given for a queued request (if `queued`) passes to another
    /// server.
    fn leave(&mut self, entry: Pin<&WaitEntry>, queued: bool, wakes: &mut Wakes);
    /// Wakes the tasks waiting for a request (shutdown, or a second round).
    fn wake_servers(&mut self, wakes: &mut Wakes);
    /// Takes back a server's waker that [`request_came`](Self::request_came) lent
    /// ([`Home::First`](crate::waker_set::Home::First)).
    fn put_back(&mut self, waker: Waker) -> Option<Waker>;
}

/// The ring of [`InlineQueue`]. rsvp's internals.
#[doc(hidden)]
pub struct InlineRing<Req, const N: usize> {
    /// The servers waiting for a request, each with its entry in its future; a request
    /// wakes one.
    servers: Line<{ line::REQUEST }>,
    _req: PhantomData<fn(Req) -> Req>,
}

impl<Req, const N: usize> super::sealed::Sealed for InlineRing<Req, N> {}

impl<Req, const N: usize> Ring<Req> for InlineRing<Req, N> {
    const INSIDE: bool = true;

    type Held = Req;

    #[inline(always)]
    fn hold(req: Req) -> (Req, Option<Req>) {
        (req, None)
    }

    #[inline(always)]
    fn give_back(held: Req, _: Option<Req>) -> Req {
        held
    }

    #[inline(always)]
    fn request_came(&mut self, wakes: &mut Wakes) {
        self.servers.wake_one(wakes);
    }

    #[inline]
    unsafe fn register(&mut self, waker: &Waker, entry: Pin<&WaitEntry>, wakes: &mut Wakes) {
        // SAFETY: the entry is taken out before it is dropped (this method's contract).
        unsafe { self.servers.register(entry, waker, wakes) }
    }

    #[inline(always)]
    fn done_waiting(&mut self, entry: Pin<&WaitEntry>, wakes: &mut Wakes) {
        self.servers.done_waiting(entry, wakes);
    }

    fn leave(&mut self, entry: Pin<&WaitEntry>, queued: bool, wakes: &mut Wakes) {
        // If it may have been woken for a queued request, another server takes over.
        self.servers.leave(entry, queued, wakes);
    }

    fn wake_servers(&mut self, wakes: &mut Wakes) {
        self.servers.wake_all(wakes);
    }

    fn put_back(&mut self, waker: Waker) -> Option<Waker> {
        self.servers.put_back(waker)
    }
}

/// The ring of a queue outside the lock: nothing inside. rsvp's internals.
#[doc(hidden)]
#[derive(Debug)]
pub struct Outside;

impl super::sealed::Sealed for Outside {}

impl<Req> Ring<Req> for Outside {
    const INSIDE: bool = false;

    type Held = ();

    #[inline(always)]
    fn hold(req: Req) -> ((), Option<Req>) {
        ((), Some(req))
    }

    #[inline(always)]
    fn give_back((): (), rest: Option<Req>) -> Req {
        rest.expect("a request outside the lock is held outside")
    }

    #[inline(always)]
    fn request_came(&mut self, _: &mut Wakes) {}

    unsafe fn register(&mut self, _: &Waker, _: Pin<&WaitEntry>, _: &mut Wakes) {}

    fn done_waiting(&mut self, _: Pin<&WaitEntry>, _: &mut Wakes) {}

    fn leave(&mut self, _: Pin<&WaitEntry>, _: bool, _: &mut Wakes) {}

    fn wake_servers(&mut self, _: &mut Wakes) {}

    fn put_back(&mut self, waker: Waker) -> Option<Waker> {
        Some(waker)
    }
}

/// How an endpoint's requests travel: [`InlineQueue`], or any [`RequestQueue`] of
/// [`Envelope`]s. rsvp's internals: nothing to implement.
#[doc(hidden)]
pub trait Transport<Req, const N: usize> {
    /// What the endpoint's state keeps of the queue, inside its lock.
    type Ring: Ring<Req>;
    /// An empty one.
    const RING: Self::Ring;
    /// The queue outside the lock, if any: [`Ring::INSIDE`] is false only when there is
    /// one.
    fn outside(&self) -> Option<&dyn RequestQueue<Envelope<Req>>>;
}

/// A [`Transport`] an endpoint can make by itself ([`Rpc::new`](crate::Rpc::new)).
/// rsvp's internals.
#[doc(hidden)]
pub trait DefaultQueue<Req, const N: usize>: Transport<Req, N> {
    /// An empty queue.
    const NEW: Self;
}

impl<Req, const N: usize> Transport<Req, N> for InlineQueue {
    type Ring = InlineRing<Req, N>;
    const RING: Self::Ring = InlineRing::new();
    #[inline]
    fn outside(&self) -> Option<&dyn RequestQueue<Envelope<Req>>> {
        None
    }
}

impl<Req, const N: usize, Q: RequestQueue<Envelope<Req>>> Transport<Req, N> for Q {
    type Ring = Outside;
    const RING: Outside = Outside;
    #[inline]
    fn outside(&self) -> Option<&dyn RequestQueue<Envelope<Req>>> {
        Some(self)
    }
}

impl<Req, const N: usize> DefaultQueue<Req, N> for InlineQueue {
    const NEW: Self = InlineQueue;
}

impl<M: RawMutex, Req, const N: usize> DefaultQueue<Req, N> for Queue<M, Envelope<Req>, N> {
    const NEW: Self = Queue::new();
}

impl<Req, const N: usize> InlineRing<Req, N> {
    pub(crate) const fn new() -> Self {
        Self {
            servers: Line::new(),
            _req: PhantomData,
        }
    }
}
