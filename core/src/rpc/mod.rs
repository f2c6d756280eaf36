//! The request/response endpoint: callers send requests that carry a reply slot, responders
//! take them and reply.
//!
//! # Design
//!
//! [`Rpc`] is the shared object: the reply [slots](crate::reply) and the
//! [stats](crate::Stats) in one [`Mutex`], and a request queue that carries each request
//! with its slot's ticket. Which queue is the lock's choice ([`RawMutex::Queue`]): over a
//! lock no other thread waits on, the ring of queued requests sits in the same `Mutex`
//! ([`InlineQueue`]), so that starting a call, taking a request and replying are one lock
//! each; over [`StdMutex`](crate::StdMutex), rsvp's [`Queue`] keeps its own lock, so that
//! threads contend less. Any other [`RequestQueue`] (an adapter's channel) works too.
//! Handles point at it through any `P: Deref<Target = Rpc<..>>`: `&'static Rpc` in
//! firmware, `Arc<Rpc>` across threads, `Rc<Rpc>` on one thread.
//!
//! - [`Caller`] starts calls; each call is a [`CallFuture`] that owns its slot until it ends.
//! - [`Server`] receives `(request, Responder)` pairs; the [`Responder`] is the reply handle.
//!
//! Every call ends in exactly one outcome, recorded once in the stats at the moment it is
//! decided (a reply when the responder sends it, even if its caller then drops the call
//! before reading it):
//!
//! | how it ends | the caller gets | counted as |
//! | --- | --- | --- |
//! | the responder replies | `Ok(reply)` | `Replied` |
//! | no slot or queue space, from `try_*` | `TryCallError::Full(req)` | `Full` |
//! | the deadline passes first | `CallError::Timeout` | `Timeout` |
//! | shut down, or the last server handle dropped, before it was taken | `CallError::Closed` | `Closed` |
//! | the responder dropped its handle | `CallError::Lost` | `Lost` |
//! | the caller dropped its future | nothing | `Cancelled` |
//!
//! Handles are counted. Dropping the last [`Server`] closes the endpoint (queued calls end
//! with `Closed`, calls being worked on finish); dropping the last [`Caller`] closes it with
//! [`CloseMode::Drain`], so the server's `recv` ends once the queue is drained. So make the handles once and clone them,
//! rather than making a new handle per call.

use core::marker::PhantomData;
use core::task::{Context, Poll};

use crate::error::{CallError, TryCallError, TryRecvError, TrySendError};
use crate::queue::{Queue, QueueState, RequestQueue};
use crate::reply::{Acquire, CallResult, Phase, RequestInfo, Slots, Ticket, Woken};
use crate::stats::{Outcome, Stats, StatsSnapshot};
use crate::sync::{Mutex, RawMutex};
use crate::time::{Clock, Instant};
use crate::waker_set::WakerSet;

#[cfg(feature = "alloc")]
mod batching;
mod caller;
mod many;
// `serve` wakes its handlers through `Arc`s and atomics: it needs pointer-sized atomics.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod serve;
mod server;

#[cfg(feature = "alloc")]
pub use batching::{
    BatchError, BatchFn, BatchHandler, BatchHandlerOf, BatchJob, BatchJobFn, BatchReport,
    BatchResult, BatchServeFuture,
};
pub use caller::{CallFuture, Caller, Permit, ReserveFuture, TimedCallFuture};
pub use many::{CallManyFuture, ManyCall};

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use serve::{ServeFuture, ServeReport};
pub use server::{CancelledFuture, RecvFuture, Request, Responder, Server};

/// A request in transit: the request and the ticket of its reply slot.
///
/// Only rsvp reads it; a [`RequestQueue`] implementation just moves it.
pub struct Envelope<Req> {
    req: Req,
    ticket: Ticket,
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

/// rsvp's own request queue inside the endpoint's lock: a ring of `N` requests kept beside
/// the reply slots. An [`Rpc`] uses it by default over a lock that no other thread waits on
/// ([`LocalMutex`](crate::LocalMutex), a critical section, embassy's locks; see
/// [`RawMutex::Queue`]).
///
/// Starting a call then takes one lock (slot and queue together) instead of two, and a
/// server takes a request in one lock too. It never refuses a request for lack of room: it
/// has a place for every slot.
///
/// ```
/// use rsvp::{InlineQueue, LocalMutex, NoClock, Rpc};
///
/// // The default for the single-thread lock, named.
/// let _rpc: Rpc<u32, u32, LocalMutex, NoClock, 4, InlineQueue> = Rpc::new(NoClock);
/// ```
#[derive(Clone, Copy, Default, Debug)]
pub struct InlineQueue;

/// The ring behind [`InlineQueue`], inside the endpoint's state. rsvp's internals.
#[doc(hidden)]
pub struct InlineRing<Req, const N: usize> {
    /// Holds the requests of calls that are queued, in order, plus, for a moment after a
    /// `CloseMode::Fail` shutdown, requests of calls it ended (skipped when taken).
    ring: QueueState<Envelope<Req>, N>,
    /// Servers waiting for a request.
    servers: WakerSet<2>,
}

impl<Req, const N: usize> InlineRing<Req, N> {
    const fn new() -> Self {
        Self {
            ring: QueueState::new(),
            servers: WakerSet::new(),
        }
    }

    // Inlined so that the envelope is written once, in its ring entry: built by the caller
    // and copied in, its narrow stores made the wide copy stall (store forwarding).
    #[inline(always)]
    fn push(&mut self, req: Req, ticket: Ticket) {
        if self.ring.push(Envelope { req, ticket }).is_err() {
            // Each queued call holds one of the `N` slots, and the ring has `N` places.
            unreachable!("the inline queue has a place for every reply slot")
        }
        self.servers.wake_all();
    }

    fn remove(&mut self, ticket: Ticket) -> Option<Envelope<Req>> {
        self.ring.remove(&mut |env| env.ticket == ticket)
    }
}

/// Where an endpoint's requests wait: [`InlineQueue`], or any [`RequestQueue`] of
/// [`Envelope`]s. rsvp's internals: nothing to implement.
#[doc(hidden)]
pub trait Transport<Req, const N: usize> {
    /// What the transport keeps inside the endpoint's lock.
    type Inline;
    /// Its initial value.
    const INLINE: Self::Inline;
    /// The ring inside the lock, for [`InlineQueue`].
    fn inline(inline: &mut Self::Inline) -> Option<&mut InlineRing<Req, N>>;
    /// The queue outside the lock, for every other transport.
    fn external(&self) -> Option<&dyn RequestQueue<Envelope<Req>>>;
}

/// A [`Transport`] an endpoint can make by itself: what a lock's
/// [`RawMutex::Queue`] names. rsvp's internals.
#[doc(hidden)]
pub trait DefaultQueue<Req, const N: usize>: Transport<Req, N> {
    /// An empty queue.
    const NEW: Self;
}

impl<Req, const N: usize> DefaultQueue<Req, N> for InlineQueue {
    const NEW: Self = InlineQueue;
}

impl<M: RawMutex, Req, const N: usize> DefaultQueue<Req, N> for Queue<M, Envelope<Req>, N> {
    const NEW: Self = Queue::new();
}

impl<Req, const N: usize> Transport<Req, N> for InlineQueue {
    type Inline = InlineRing<Req, N>;
    const INLINE: Self::Inline = InlineRing::new();
    #[inline]
    fn inline(inline: &mut Self::Inline) -> Option<&mut InlineRing<Req, N>> {
        Some(inline)
    }
    #[inline]
    fn external(&self) -> Option<&dyn RequestQueue<Envelope<Req>>> {
        None
    }
}

impl<Req, const N: usize, Q: RequestQueue<Envelope<Req>>> Transport<Req, N> for Q {
    type Inline = ();
    const INLINE: Self::Inline = ();
    #[inline]
    fn inline((): &mut ()) -> Option<&mut InlineRing<Req, N>> {
        None
    }
    #[inline]
    fn external(&self) -> Option<&dyn RequestQueue<Envelope<Req>>> {
        Some(self)
    }
}

/// Keeps what it holds on cache lines of its own, so that a thread working on one part of
/// an endpoint (a caller queueing a request) does not take the cache line of another (the
/// slots, which a server is replying in) from the thread using it.
///
/// 128 bytes on x86-64 and AArch64, whose prefetchers fetch 64-byte lines in pairs; no
/// padding elsewhere (firmware: RAM is scarce, and one core is the rule). Measured with
/// `rsvp-bench` (S3mt, three alternating runs of each build): the thread-safe round trip
/// is 5-10 % cheaper with the slots and the queue apart; padding each slot as well bought
/// nothing.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
struct CacheLines<T>(T);

impl<T> core::ops::Deref for CacheLines<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What a shutdown does with requests that are queued but not yet taken.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseMode {
    /// End them now with [`CallError::Closed`].
    Fail,
    /// Let the server take and answer them; new calls are refused either way.
    Drain,
}

/// Who holds a handle.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Caller,
    Server,
}

/// How a caller gave up on a call.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GiveUp {
    Timeout,
    Dropped,
}

/// An endpoint's state inside its lock.
type Locked<M, Resp, I, const N: usize, R> = Mutex<M, State<Resp, I, N, R>>;

struct State<Resp, I, const N: usize, R> {
    slots: Slots<Resp, I, N>,
    /// The queued requests, with [`InlineQueue`]; `()` over another queue.
    inline: R,
    stats: Stats,
    next_id: u64,
    closed: bool,
    callers: usize,
    servers: usize,
    /// Calls waiting for a free slot.
    slot_waiters: WakerSet<4>,
}

impl<Resp, I: Instant, const N: usize, R> State<Resp, I, N, R> {
    /// Takes a free slot for a new call, with the next id; `None` when all are in use.
    #[inline]
    fn acquire(&mut self, now: I, deadline: Option<I>, how: Acquire<'_>) -> Option<Ticket> {
        let ticket = self.slots.acquire(self.next_id, now, deadline, how)?;
        self.next_id += 1;
        Some(ticket)
    }

    /// The responder's reply, counted; the value comes back if its caller is gone.
    #[inline]
    fn reply(
        &mut self,
        ticket: Ticket,
        value: Resp,
        now: I,
        measures_time: bool,
        woken: &mut Woken,
    ) -> Result<(), Resp> {
        let latency = self.slots.reply(ticket, value, now, woken)?;
        self.stats
            .record(Outcome::Replied, measures_time.then_some(latency));
        Ok(())
    }

    fn close(&mut self, mode: CloseMode) -> usize {
        self.closed = true;
        self.slot_waiters.wake_all();
        let closed = match mode {
            CloseMode::Fail => self.slots.close_pending(),
            CloseMode::Drain => 0,
        };
        for _ in 0..closed {
            self.stats.record(Outcome::Closed, None);
        }
        closed
    }
}

/// A request/response endpoint with `N` reply slots: at most `N` calls are outstanding
/// (queued or being worked on) at once.
///
/// - `M` is the lock, which picks the flavour: [`LocalMutex`](crate::LocalMutex) for one
///   thread, [`StdMutex`](crate::StdMutex) or
///   [`CriticalSectionMutex`](crate::CriticalSectionMutex) across threads.
/// - `C` is the clock (and, for timeouts, the [`Timer`](crate::Timer)).
/// - `Q` is the request queue: by default rsvp's own, the one the lock picks
///   ([`RawMutex::Queue`]: [`InlineQueue`] inside the endpoint's lock, or a separate
///   [`Queue`] for [`StdMutex`](crate::StdMutex)); or any [`RequestQueue`] of [`Envelope`]s
///   ([`with_queue`](Self::with_queue)).
///
/// It allocates nothing per call and can live in a `static`. Without `alloc` it never
/// allocates; with `alloc`, its lists of waiting tasks grow once to the largest number of
/// tasks that waited at the same time, and are reused from then on.
///
/// ```
/// use rsvp::{LocalMutex, NoClock, Rpc};
///
/// let rpc: Rpc<u32, u32, LocalMutex, NoClock, 4> = Rpc::new(NoClock);
/// let (caller, server) = Rpc::split(&rpc);
/// # futures_executor::block_on(async {
/// let call = caller.try_call(21).unwrap();
/// let (req, responder) = server.recv().await.unwrap();
/// responder.reply(req * 2).unwrap();
/// assert_eq!(call.await, Ok(42));
/// # });
/// ```
pub struct Rpc<Req, Resp, M, C, const N: usize, Q = <M as RawMutex>::Queue<Req, N>>
where
    M: RawMutex,
    C: Clock,
    Q: Transport<Req, N>,
{
    state: CacheLines<Locked<M, Resp, C::Instant, N, Q::Inline>>,
    queue: CacheLines<Q>,
    clock: C,
    _req: PhantomData<fn(Req) -> Req>,
}

impl<Req, Resp, M: RawMutex, C: Clock, const N: usize> Rpc<Req, Resp, M, C, N> {
    /// An endpoint over rsvp's own queue (the one its lock picks, [`RawMutex::Queue`]),
    /// usable in a `static`.
    pub const fn new(clock: C) -> Self {
        Self::with_queue(<M::Queue<Req, N> as DefaultQueue<Req, N>>::NEW, clock)
    }
}

impl<Req, Resp, M: RawMutex, C: Clock, const N: usize, Q: Transport<Req, N>>
    Rpc<Req, Resp, M, C, N, Q>
{
    /// An endpoint over another [`RequestQueue`]. If the queue holds fewer than `N`
    /// requests, callers wait for room in it (and `try_call` says `Full`).
    pub const fn with_queue(queue: Q, clock: C) -> Self {
        Self {
            state: CacheLines(Mutex::new(State {
                slots: Slots::new(),
                inline: Q::INLINE,
                stats: Stats::new(),
                next_id: 0,
                closed: false,
                callers: 0,
                servers: 0,
                slot_waiters: WakerSet::new(),
            })),
            queue: CacheLines(queue),
            clock,
            _req: PhantomData,
        }
    }

    /// The clock the endpoint stamps calls with.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The number of reply slots, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Counts and latencies of every call so far, and the calls queued and in progress now.
    pub fn stats(&self) -> StatsSnapshot {
        self.state.lock(|s| {
            let o = s.slots.occupancy();
            s.stats.snapshot(o.queued, o.taken)
        })
    }

    /// Whether the endpoint refuses new calls.
    pub fn is_closed(&self) -> bool {
        self.state.lock(|s| s.closed)
    }
}

impl<Req, Resp, M, C, const N: usize, Q> Rpc<Req, Resp, M, C, N, Q>
where
    M: RawMutex,
    C: Clock,
    Q: Transport<Req, N>,
{
    /// Makes the first caller and server handles for an endpoint behind `this`
    /// (`&Rpc`, `&'static Rpc`, `Arc<Rpc>`, `Rc<Rpc>`, ...).
    pub fn split<P>(this: P) -> (Caller<P>, Server<P>)
    where
        P: core::ops::Deref<Target = Self> + Clone,
    {
        (Caller::new(this.clone()), Server::new(this))
    }

    /// Shuts the endpoint down: new calls fail with [`CallError::Closed`]; calls being worked
    /// on finish; queued calls end with `Closed` ([`CloseMode::Fail`]) or are still served
    /// ([`CloseMode::Drain`]). A running [`serve`](Server::serve) returns its report once
    /// nothing is left. Returns how many calls it ended with `Closed` (queued ones, and
    /// ones holding a slot that had not sent yet: unused permits, calls waiting for queue
    /// room). Idempotent.
    pub fn close(&self, mode: CloseMode) -> usize {
        let closed = self.state.lock(|s| {
            if let Some(inline) = Q::inline(&mut s.inline) {
                inline.servers.wake_all();
            }
            s.close(mode)
        });
        let queue = self.queue.external();
        if let Some(queue) = queue {
            queue.close();
        }
        if mode == CloseMode::Fail {
            // Every request still queued now belongs to a call that just ended with
            // `Closed` (or had ended before): drop them instead of keeping them until a
            // server that may never come skips them. One at a time, outside the lock: a
            // request's `Drop` may use this endpoint.
            match queue {
                Some(queue) => while queue.try_recv().is_ok() {},
                None => {
                    while let Some(env) = self
                        .state
                        .lock(|s| Q::inline(&mut s.inline).and_then(|i| i.ring.pop().ok()))
                    {
                        drop(env);
                    }
                }
            }
        }
        closed
    }

    fn now(&self) -> C::Instant {
        self.clock.now()
    }
}

mod sealed {
    pub trait Sealed {}
}

impl<Req, Resp, M: RawMutex, C: Clock, const N: usize, Q: Transport<Req, N>> sealed::Sealed
    for Rpc<Req, Resp, M, C, N, Q>
{
}

/// The operations handles and futures use; implemented by [`Rpc`] only.
///
/// It lets [`Caller`], [`Server`] and their futures name one type parameter instead of all
/// of `Rpc`'s. Its methods are rsvp's internals; use the handles.
pub trait Endpoint: sealed::Sealed {
    /// The request type.
    type Req;
    /// The reply type.
    type Resp;
    /// The clock.
    type Clock: Clock;

    #[doc(hidden)]
    fn endpoint_clock(&self) -> &Self::Clock;
    #[doc(hidden)]
    fn attach(&self, role: Role);
    #[doc(hidden)]
    fn detach(&self, role: Role);
    #[doc(hidden)]
    fn record(&self, outcome: Outcome);
    #[doc(hidden)]
    fn try_start(
        &self,
        req: Self::Req,
        deadline: Option<InstantOf<Self>>,
    ) -> Result<Ticket, TryCallError<Self::Req>>;
    #[doc(hidden)]
    fn try_reserve(&self) -> Result<Ticket, TryCallError<()>>;
    #[doc(hidden)]
    fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<Ticket, CallError>>;
    #[doc(hidden)]
    fn poll_start(
        &self,
        cx: &mut Context<'_>,
        req: &mut Option<Self::Req>,
        ticket: &mut Option<Ticket>,
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
    ) -> Poll<Result<Started, CallError>>;
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn poll_reply(
        &self,
        ticket: Ticket,
        cx: &mut Context<'_>,
    ) -> Poll<CallResult<Self::Resp, InstantOf<Self>>>;
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn give_up(
        &self,
        ticket: Ticket,
        why: GiveUp,
    ) -> Option<CallResult<Self::Resp, InstantOf<Self>>>;
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(Self::Req, Ticket, RequestInfo<InstantOf<Self>>)>>;
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn try_recv(&self) -> Result<(Self::Req, Ticket, RequestInfo<InstantOf<Self>>), TryRecvError>;
    /// Takes up to `limit` (at least 1) queued requests, handing each to `take`; `Ready(n)`
    /// with `n >= 1`, or `Ready(None)` as `poll_recv`. With [`InlineQueue`], in one lock.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn poll_recv_set(
        &self,
        cx: &mut Context<'_>,
        limit: usize,
        take: &mut dyn FnMut(Self::Req, Ticket, RequestInfo<InstantOf<Self>>),
    ) -> Poll<Option<usize>>;
    #[doc(hidden)]
    fn reply(&self, ticket: Ticket, value: Self::Resp) -> Result<(), Self::Resp>;
    /// Sends the replies `replies` yields, in one lock, until one is refused (its caller is
    /// gone): that value comes back, to be dropped outside the lock, and the caller calls
    /// again for the rest. `None` once `replies` is exhausted.
    #[doc(hidden)]
    fn reply_set(
        &self,
        replies: &mut dyn Iterator<Item = (Ticket, Self::Resp)>,
    ) -> Option<Self::Resp>;
    /// Replaces the ticket of every call whose caller stopped waiting by [`Ticket::NONE`],
    /// in one lock; returns how many it replaced.
    #[doc(hidden)]
    fn forget_cancelled(&self, tickets: &mut [Ticket]) -> usize;
    /// Sends the unsent calls at the front of `calls` that can go at once (a free slot, no
    /// wait), registering `cx`'s waker in their slots; returns how many calls from the
    /// front it is done with. With [`InlineQueue`], in one lock; otherwise it does nothing.
    #[doc(hidden)]
    fn start_set(
        &self,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<Self::Req, Self::Resp>],
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
    ) -> usize;
    /// Reads the replies that have arrived for the sent calls of `calls`, in one lock,
    /// registering `cx`'s waker for the others; true if some still wait.
    #[doc(hidden)]
    fn collect_set(
        &self,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<Self::Req, Self::Resp>],
    ) -> bool;
    #[doc(hidden)]
    fn lose(&self, ticket: Ticket);
    #[doc(hidden)]
    fn is_cancelled(&self, ticket: Ticket) -> bool;
    #[doc(hidden)]
    fn poll_cancelled(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<()>;
    #[doc(hidden)]
    fn close_endpoint(&self, mode: CloseMode) -> usize;
    #[doc(hidden)]
    fn endpoint_stats(&self) -> StatsSnapshot;
    #[doc(hidden)]
    fn endpoint_capacity(&self) -> usize;
}

/// How a call's start ended, when it did not fail.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Started {
    /// The request is queued and the caller's waker is registered for the reply: the call
    /// can wait without asking for its result first.
    Waiting,
    /// The slot already holds the call's result (closed while it held a reserved slot).
    Decided,
}

/// The instant type of an endpoint's clock.
pub type InstantOf<E> = <<E as Endpoint>::Clock as Clock>::Instant;

impl<Req, Resp, M, C, const N: usize, Q> Endpoint for Rpc<Req, Resp, M, C, N, Q>
where
    M: RawMutex,
    C: Clock,
    Q: Transport<Req, N>,
{
    type Req = Req;
    type Resp = Resp;
    type Clock = C;

    fn endpoint_clock(&self) -> &C {
        &self.clock
    }

    fn attach(&self, role: Role) {
        self.state.lock(|s| match role {
            Role::Caller => s.callers += 1,
            Role::Server => s.servers += 1,
        });
    }

    fn detach(&self, role: Role) {
        let last = self.state.lock(|s| {
            let count = match role {
                Role::Caller => &mut s.callers,
                Role::Server => &mut s.servers,
            };
            *count -= 1;
            *count == 0
        });
        match (last, role) {
            // Nobody will take what is queued: end those calls instead of leaving their
            // callers waiting (the seed's `Stop()` leaves them blocked forever).
            (true, Role::Server) => drop(self.close(CloseMode::Fail)),
            // Nothing more will arrive: the server answers what is queued, then its `recv`
            // ends.
            (true, Role::Caller) => drop(self.close(CloseMode::Drain)),
            (false, _) => {}
        }
    }

    fn record(&self, outcome: Outcome) {
        self.state.lock(|s| s.stats.record(outcome, None));
    }

    fn try_start(
        &self,
        req: Req,
        deadline: Option<C::Instant>,
    ) -> Result<Ticket, TryCallError<Req>> {
        let now = self.now();
        let mut req = Some(req);
        let acquired = self.state.lock(|s| {
            if s.closed {
                s.stats.record(Outcome::Closed, None);
                return Err(false);
            }
            let Some(ticket) = s.acquire(now, deadline, Acquire::Send(None)) else {
                s.stats.record(Outcome::Full, None);
                return Err(true);
            };
            if let Some(inline) = Q::inline(&mut s.inline) {
                inline.push(req.take().expect("not queued yet"), ticket);
            }
            Ok(ticket)
        });
        let (ticket, req) = match (acquired, req) {
            // Queued in the same lock, by the inline queue.
            (Ok(ticket), None) => return Ok(ticket),
            (Ok(ticket), Some(req)) => (ticket, req),
            (Err(true), Some(req)) => return Err(TryCallError::Full(req)),
            (Err(false), Some(req)) => return Err(TryCallError::Closed(req)),
            (Err(_), None) => unreachable!("a refused call keeps its request"),
        };
        let queue = self.queue.external().expect("not queued inline");
        match queue.try_send(Envelope { req, ticket }) {
            Ok(()) => Ok(ticket),
            Err(TrySendError::Full(env)) => match self.end_unsent(ticket, Outcome::Full) {
                Outcome::Full => Err(TryCallError::Full(env.req)),
                _ => Err(TryCallError::Closed(env.req)),
            },
            Err(TrySendError::Closed(env)) => {
                self.end_unsent(ticket, Outcome::Closed);
                Err(TryCallError::Closed(env.req))
            }
        }
    }

    fn try_reserve(&self) -> Result<Ticket, TryCallError<()>> {
        let now = self.now();
        self.state.lock(|s| {
            if s.closed {
                s.stats.record(Outcome::Closed, None);
                return Err(TryCallError::Closed(()));
            }
            match s.acquire(now, None, Acquire::Reserve) {
                Some(ticket) => Ok(ticket),
                None => {
                    s.stats.record(Outcome::Full, None);
                    Err(TryCallError::Full(()))
                }
            }
        })
    }

    fn poll_reserve(&self, cx: &mut Context<'_>) -> Poll<Result<Ticket, CallError>> {
        let now = self.now();
        self.state.lock(|s| {
            if s.closed {
                s.stats.record(Outcome::Closed, None);
                return Poll::Ready(Err(CallError::Closed));
            }
            match s.acquire(now, None, Acquire::Reserve) {
                Some(ticket) => Poll::Ready(Ok(ticket)),
                None => {
                    s.slot_waiters.register(cx.waker());
                    Poll::Pending
                }
            }
        })
    }

    fn poll_start(
        &self,
        cx: &mut Context<'_>,
        req: &mut Option<Req>,
        ticket: &mut Option<Ticket>,
        started_at: C::Instant,
        deadline: Option<C::Instant>,
    ) -> Poll<Result<Started, CallError>> {
        let Some(queue) = self.queue.external() else {
            return self.start_inline(cx, req, ticket, started_at, deadline);
        };
        loop {
            // The caller's waker is registered in the same lock that marks the slot as
            // queued, before the request becomes visible to a responder: a reply cannot
            // come before it, so the call then waits without locking again to look.
            let held = match *ticket {
                // A reserved slot (a permit, or a call that waited for queue room).
                Some(held) => {
                    let sent = self.state.lock(|s| {
                        let sent = s.slots.send(held, started_at, deadline);
                        if sent {
                            s.slots.watch(held, cx.waker());
                        }
                        sent
                    });
                    if !sent {
                        // Closed while reserved: the slot already holds the `Closed` result.
                        *req = None;
                        return Poll::Ready(Ok(Started::Decided));
                    }
                    held
                }
                None => {
                    let acquired = self.state.lock(|s| {
                        if s.closed {
                            s.stats.record(Outcome::Closed, None);
                            return Err(());
                        }
                        let acquired =
                            s.acquire(started_at, deadline, Acquire::Send(Some(cx.waker())));
                        if acquired.is_none() {
                            s.slot_waiters.register(cx.waker());
                        }
                        Ok(acquired)
                    });
                    match acquired {
                        Err(()) => return Poll::Ready(Err(CallError::Closed)),
                        Ok(None) => return Poll::Pending,
                        Ok(Some(new)) => *ticket = Some(new),
                    }
                    ticket.expect("just set")
                }
            };
            let body = req.take().expect("CallFuture polled after it completed");
            match queue.try_send(Envelope {
                req: body,
                ticket: held,
            }) {
                Ok(()) => return Poll::Ready(Ok(Started::Waiting)),
                Err(TrySendError::Full(env)) => {
                    *req = Some(env.req);
                    self.state.lock(|s| s.slots.unsend(held));
                    if queue.poll_ready(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Err(TrySendError::Closed(env)) => {
                    drop(env);
                    self.end_unsent(held, Outcome::Closed);
                    *ticket = None;
                    return Poll::Ready(Err(CallError::Closed));
                }
            }
        }
    }

    fn poll_reply(
        &self,
        ticket: Ticket,
        cx: &mut Context<'_>,
    ) -> Poll<CallResult<Resp, C::Instant>> {
        self.state.lock(|s| {
            let result = core::task::ready!(s.slots.poll_reply(ticket, cx.waker()));
            s.slot_waiters.wake_all();
            Poll::Ready(result)
        })
    }

    fn give_up(&self, ticket: Ticket, why: GiveUp) -> Option<CallResult<Resp, C::Instant>> {
        let outcome = match why {
            GiveUp::Timeout => Outcome::Timeout,
            GiveUp::Dropped => Outcome::Cancelled,
        };
        let (phase, result, removed) = self.end_call(ticket, outcome)?;
        drop(removed);
        if let (Phase::Queued, Some(queue)) = (phase, self.queue.external()) {
            // Give the queue space back now, rather than when a server skips the request.
            drop(queue.remove(&mut |env| env.ticket == ticket));
        }
        // A result that raced in goes to the caller, or is dropped there: outside the lock,
        // since its `Drop` may use this endpoint.
        result
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(Req, Ticket, RequestInfo<C::Instant>)>> {
        let Some(queue) = self.queue.external() else {
            return match self.recv_inline(Some(cx.waker())) {
                Ok(next) => Poll::Ready(Some(next)),
                Err(TryRecvError::Closed) => Poll::Ready(None),
                Err(TryRecvError::Empty) => Poll::Pending,
            };
        };
        loop {
            let Some(env) = core::task::ready!(queue.poll_recv(cx)) else {
                return Poll::Ready(None);
            };
            if let Some(info) = self.take(env.ticket) {
                return Poll::Ready(Some((env.req, env.ticket, info)));
            }
            // Stale: its caller gave up, or it was closed, while queued. Skip it.
        }
    }

    fn try_recv(&self) -> Result<(Req, Ticket, RequestInfo<C::Instant>), TryRecvError> {
        let Some(queue) = self.queue.external() else {
            return self.recv_inline(None);
        };
        loop {
            let env = queue.try_recv()?;
            if let Some(info) = self.take(env.ticket) {
                return Ok((env.req, env.ticket, info));
            }
        }
    }

    fn poll_recv_set(
        &self,
        cx: &mut Context<'_>,
        limit: usize,
        take: &mut dyn FnMut(Req, Ticket, RequestInfo<C::Instant>),
    ) -> Poll<Option<usize>> {
        if self.queue.external().is_none() {
            return match self.recv_set_inline(Some(cx.waker()), limit, take) {
                Ok(taken) => Poll::Ready(Some(taken)),
                Err(TryRecvError::Closed) => Poll::Ready(None),
                Err(TryRecvError::Empty) => Poll::Pending,
            };
        }
        let Some((req, ticket, info)) = core::task::ready!(self.poll_recv(cx)) else {
            return Poll::Ready(None);
        };
        take(req, ticket, info);
        let mut taken = 1;
        while taken < limit {
            let Ok((req, ticket, info)) = self.try_recv() else {
                break;
            };
            take(req, ticket, info);
            taken += 1;
        }
        Poll::Ready(Some(taken))
    }

    fn reply(&self, ticket: Ticket, value: Resp) -> Result<(), Resp> {
        let now = self.now();
        self.state
            .lock(|s| s.reply(ticket, value, now, C::MEASURES_TIME, &mut Woken::default()))
    }

    fn reply_set(&self, replies: &mut dyn Iterator<Item = (Ticket, Resp)>) -> Option<Resp> {
        let now = self.now();
        self.state.lock(|s| {
            let mut woken = Woken::default();
            for (ticket, value) in replies {
                if let Err(refused) = s.reply(ticket, value, now, C::MEASURES_TIME, &mut woken) {
                    return Some(refused);
                }
            }
            None
        })
    }

    fn forget_cancelled(&self, tickets: &mut [Ticket]) -> usize {
        self.state.lock(|s| {
            let mut forgotten = 0;
            for ticket in tickets.iter_mut() {
                if s.slots.is_cancelled(*ticket) {
                    *ticket = Ticket::NONE;
                    forgotten += 1;
                }
            }
            forgotten
        })
    }

    fn start_set(
        &self,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<Req, Resp>],
        started_at: C::Instant,
        deadline: Option<C::Instant>,
    ) -> usize {
        self.start_many(cx, calls, started_at, deadline)
    }

    fn collect_set(&self, cx: &mut Context<'_>, calls: &mut [ManyCall<Req, Resp>]) -> bool {
        self.collect_many(cx, calls)
    }

    fn lose(&self, ticket: Ticket) {
        self.state.lock(|s| {
            if s.slots.lose(ticket) {
                s.stats.record(Outcome::Lost, None);
            }
        });
    }

    fn is_cancelled(&self, ticket: Ticket) -> bool {
        self.state.lock(|s| s.slots.is_cancelled(ticket))
    }

    fn poll_cancelled(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<()> {
        self.state
            .lock(|s| s.slots.poll_cancelled(ticket, cx.waker()))
    }

    fn close_endpoint(&self, mode: CloseMode) -> usize {
        Rpc::close(self, mode)
    }

    fn endpoint_stats(&self) -> StatsSnapshot {
        self.stats()
    }

    fn endpoint_capacity(&self) -> usize {
        N
    }
}

impl<Req, Resp, M, C, const N: usize, Q> Rpc<Req, Resp, M, C, N, Q>
where
    M: RawMutex,
    C: Clock,
    Q: Transport<Req, N>,
{
    /// Ends the call holding `ticket` from the caller's side: frees its slot and counts
    /// `outcome`, unless its outcome was decided before (a reply, `Lost`, `Closed`: already
    /// counted). Returns the phase it was in and the result that had arrived, if any.
    ///
    /// The inline queue gives a queued call's request back in the same lock, for the caller
    /// to drop outside it.
    #[allow(clippy::type_complexity)]
    fn end_call(
        &self,
        ticket: Ticket,
        outcome: Outcome,
    ) -> Option<(
        Phase,
        Option<CallResult<Resp, C::Instant>>,
        Option<Envelope<Req>>,
    )> {
        self.state.lock(|s| {
            let (phase, result) = s.slots.cancel(ticket)?;
            s.slot_waiters.wake_all();
            if phase != Phase::Done {
                s.stats.record(outcome, None);
            }
            let removed = match (phase, Q::inline(&mut s.inline)) {
                (Phase::Queued, Some(inline)) => inline.remove(ticket),
                _ => None,
            };
            Some((phase, result, removed))
        })
    }

    /// Ends a call whose request the queue refused, counting `outcome`, unless a shutdown
    /// ended it (with `Closed`, already counted) in between. Returns the call's outcome.
    fn end_unsent(&self, ticket: Ticket, outcome: Outcome) -> Outcome {
        match self.end_call(ticket, outcome) {
            Some((Phase::Done, ..)) => Outcome::Closed,
            _ => outcome,
        }
    }

    /// [`InlineQueue`]'s start of a call: takes a slot (or sends a reserved one), queues the
    /// request and registers the caller's waker, all in one lock.
    // Out of line: inlined, it made the call future's poll spill its registers on every
    // poll (S1 on `mini`: 706 instructions per round trip against 626).
    #[inline(never)]
    fn start_inline(
        &self,
        cx: &mut Context<'_>,
        req: &mut Option<Req>,
        ticket: &mut Option<Ticket>,
        started_at: C::Instant,
        deadline: Option<C::Instant>,
    ) -> Poll<Result<Started, CallError>> {
        let started = self.state.lock(|s| {
            let held = match *ticket {
                Some(held) => {
                    if s.closed {
                        // Shut down while it held a reserved slot: with `Fail` the slot
                        // holds its `Closed` result already; with `Drain`, end it so.
                        if s.slots.close_reserved(held) {
                            s.stats.record(Outcome::Closed, None);
                        }
                        return Poll::Ready(Ok(Started::Decided));
                    }
                    if !s.slots.send(held, started_at, deadline) {
                        return Poll::Ready(Ok(Started::Decided));
                    }
                    s.slots.watch(held, cx.waker());
                    held
                }
                None => {
                    if s.closed {
                        s.stats.record(Outcome::Closed, None);
                        return Poll::Ready(Err(CallError::Closed));
                    }
                    let Some(new) =
                        s.acquire(started_at, deadline, Acquire::Send(Some(cx.waker())))
                    else {
                        s.slot_waiters.register(cx.waker());
                        return Poll::Pending;
                    };
                    *ticket = Some(new);
                    new
                }
            };
            // The caller's waker was registered above, before the request becomes visible
            // to a server: a reply cannot come before it, so the call then waits without
            // locking again to look.
            let inline = Q::inline(&mut s.inline).expect("an inline transport");
            inline.push(
                req.take().expect("CallFuture polled after it completed"),
                held,
            );
            Poll::Ready(Ok(Started::Waiting))
        });
        if started.is_ready() {
            // A request that was not queued goes now, outside the lock.
            *req = None;
        }
        started
    }

    /// [`InlineQueue`]'s receive: the next queued request with its ticket, taken in one
    /// lock. Registers `waker` (if any) for the next request when there is none.
    #[allow(clippy::type_complexity)]
    fn recv_inline(
        &self,
        waker: Option<&core::task::Waker>,
    ) -> Result<(Req, Ticket, RequestInfo<C::Instant>), TryRecvError> {
        let mut next = None;
        self.recv_set_inline(waker, 1, |req, ticket, info| {
            next = Some((req, ticket, info));
        })?;
        Ok(next.expect("one request taken"))
    }

    /// [`InlineQueue`]'s receive of up to `limit` (at least 1) requests, in one lock: hands
    /// each to `take` and returns how many. Registers `waker` (if any) for the next request
    /// when there is none.
    fn recv_set_inline(
        &self,
        waker: Option<&core::task::Waker>,
        limit: usize,
        mut take: impl FnMut(Req, Ticket, RequestInfo<C::Instant>),
    ) -> Result<usize, TryRecvError> {
        let now = self.now();
        let mut taken = 0;
        loop {
            let stale = self.state.lock(|s| {
                let inline = Q::inline(&mut s.inline).expect("an inline transport");
                while taken < limit.max(1) {
                    let Ok(env) = inline.ring.pop() else {
                        if taken > 0 {
                            break;
                        }
                        if s.closed {
                            return Err(TryRecvError::Closed);
                        }
                        if let Some(waker) = waker {
                            inline.servers.register(waker);
                        }
                        return Err(TryRecvError::Empty);
                    };
                    let Some(info) = s.slots.take(env.ticket, now) else {
                        return Ok(Some(env));
                    };
                    take(env.req, env.ticket, info);
                    taken += 1;
                }
                Ok(None)
            })?;
            match stale {
                // Ended by a shutdown while queued: skipped, and dropped outside the lock.
                Some(stale) => drop(stale),
                None => return Ok(taken),
            }
        }
    }

    fn take(&self, ticket: Ticket) -> Option<RequestInfo<C::Instant>> {
        let now = self.now();
        self.state.lock(|s| s.slots.take(ticket, now))
    }
}

impl<Req, Resp, M: RawMutex, C: Clock, const N: usize, Q: Transport<Req, N>> core::fmt::Debug
    for Rpc<Req, Resp, M, C, N, Q>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rpc")
            .field("capacity", &N)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    extern crate std;

    use super::*;
    use crate::sync::{LocalMutex, StdMutex};
    use crate::time::{NoClock, StdClock};
    use std::sync::Arc;

    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn flavours_have_the_right_auto_traits() {
        type Shared = Rpc<u32, u32, StdMutex, StdClock, 4>;
        assert_sync::<Shared>();
        assert_send::<Caller<Arc<Shared>>>();
        assert_sync::<Caller<Arc<Shared>>>();
        assert_send::<Server<Arc<Shared>>>();
        assert_send::<Responder<Arc<Shared>>>();
        assert_send::<CallFuture<'static, Shared>>();
        // The single-thread flavour may move to another thread as a whole, but not be shared.
        assert_send::<Rpc<u32, u32, LocalMutex, StdClock, 4>>();
    }

    #[test]
    fn each_lock_picks_its_queue() {
        // Assignments that compile only if `new`'s default queue is the named one.
        let _: Rpc<u32, u32, LocalMutex, NoClock, 4, InlineQueue> = Rpc::new(NoClock);
        let _: Rpc<u32, u32, StdMutex, NoClock, 4, Queue<StdMutex, Envelope<u32>, 4>> =
            Rpc::new(NoClock);
    }

    static STATIC_RPC: Rpc<u32, u32, StdMutex, NoClock, 2> = Rpc::new(NoClock);

    #[test]
    fn a_static_endpoint_serves_calls_from_other_threads() {
        let (caller, server) = Rpc::split(&STATIC_RPC);
        let responder = std::thread::spawn(move || {
            futures_executor::block_on(async {
                let mut served = 0;
                while let Some((req, responder)) = server.recv().await {
                    responder.reply(req + 1).unwrap();
                    served += 1;
                }
                served
            })
        });
        futures_executor::block_on(async {
            for i in 0..100 {
                assert_eq!(caller.call(i).await, Ok(i + 1));
            }
        });
        drop(caller);
        assert_eq!(responder.join().unwrap(), 100);
        assert_eq!(STATIC_RPC.stats().replied, 100);
    }
}
