//! The request/response endpoint: callers send requests that carry a reply slot, responders
//! take them and reply.
//!
//! # Design
//!
//! [`Rpc`] is the shared object: one pure state machine (`state.rs`: the reply slots of
//! `reply.rs`, the queue's bookkeeping, the waiting tasks and the
//! [stats](crate::stats::Stats); its module docs have the transition table) inside one
//! lock, and a request queue that carries each request with its slot's ticket
//! (`transport.rs`). By default the ring of queued requests sits inside the same lock
//! ([`InlineQueue`](crate::queue::InlineQueue)), so that starting a call, taking a request
//! and replying are one lock each; rsvp's separate [`Queue`](crate::queue::Queue), with a
//! lock of its own, suits a lock that threads contend for, and any other
//! [`RequestQueue`](crate::queue::RequestQueue) (an adapter's channel) works too.
//! No waker is woken under the lock: each event collects what it must wake, and the endpoint
//! wakes it after unlocking. Handles point at it through any `P: Deref<Target = Rpc<..>>`:
//! `&'static Rpc` in firmware, `Arc<Rpc>` across threads, `Rc<Rpc>` on one thread.
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
//! [`CloseMode::Drain`], so the server's `recv` ends once the queue is drained. So make the
//! handles once and clone them, rather than making a new handle per call.

use core::pin::Pin;
use core::task::{Context, Poll};

use crate::error::{CallError, TryCallError, TryRecvError};
use crate::reply::ReplyAs;
use crate::stats::{Outcome, StatsSnapshot};
use crate::time::Clock;
use crate::wait_list::WaitEntry;

/// Runs a handler's code (a call, a poll, a drop); with `std`, a panic in it is caught
/// (`None`), so that one handler cannot end the server that runs it (`serve`, the batch
/// servers, `PromiseService::run`). Without `std` there is no unwinding to catch.
#[cfg(feature = "alloc")]
pub(crate) fn caught<R>(f: impl FnOnce() -> R) -> Option<R> {
    // AssertUnwindSafe: after a panic the handler's future is dropped, never polled again,
    // and rsvp's shared state is only touched under its lock, between whole steps.
    #[cfg(feature = "std")]
    return std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)).ok();
    #[cfg(not(feature = "std"))]
    return Some(f());
}

// `batching`, `many` and `transport` are public in `rsvp::batch` and `rsvp::queue`.
#[cfg(feature = "alloc")]
pub(crate) mod batching;
mod caller;
mod endpoint;
mod kind;
pub(crate) mod many;
// `serve` wakes its handlers through `Arc`s and atomics: it needs pointer-sized atomics.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod serve;
mod server;
mod state;
pub(crate) mod transport;

pub use crate::reply::{RequestInfo, Ticket, Timed};
pub use caller::{CallFuture, Caller, Permit, ReserveFuture, TimedCallFuture};
pub use endpoint::Rpc;
pub use kind::{Kind, With};
use many::ManyCall;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use serve::{ServeFuture, ServeReport};
pub use server::{CancelledFuture, RecvFuture, Request, Responder, Server};

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
    /// A permit dropped unused: no call was made, so nothing is counted (a `tower`
    /// readiness probe, say).
    Unused,
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

mod token {
    /// What every internal method of [`Endpoint`](super::Endpoint) takes first, so that only
    /// rsvp can call them: the type sits in a private module (no other crate can name it)
    /// and its field is private (no other crate can make one). Zero-sized: it costs
    /// nothing at run time.
    pub struct Token(());

    /// The token, for rsvp's own calls.
    pub(crate) const TOKEN: Token = Token(());
}

pub(crate) use token::{Token, TOKEN};

/// The operations handles and futures use; implemented by [`Rpc`] only.
///
/// It lets [`Caller`], [`Server`] and their futures name one type parameter instead of all
/// of `Rpc`'s, and other crates name the endpoint's types through it
/// (`<P::Target as Endpoint>::Req`). Its methods are rsvp's internals: each takes first a
/// token that only rsvp can make, so no other crate can call them (a forged ticket or
/// waiter key could otherwise leave a caller waiting forever or corrupt the endpoint's
/// bookkeeping). Use the handles.
///
/// ```compile_fail
/// use rsvp::lock::LocalMutex;
/// use rsvp::rpc::{Endpoint, With};
/// use rsvp::time::NoClock;
/// use rsvp::Rpc;
///
/// let rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
/// // Outside rsvp, no value of the token's type can be made.
/// let _ = Endpoint::try_reserve(&rpc, Default::default());
/// ```
pub trait Endpoint: sealed::Sealed {
    /// The request type.
    type Req;
    /// The reply type.
    type Resp;
    /// The clock.
    type Clock: Clock;
    /// What its reply slots keep of an instant ([`Times`](crate::time::Times)). rsvp's
    /// internals.
    #[doc(hidden)]
    type Stamp: Copy;

    #[doc(hidden)]
    fn endpoint_clock(&self, token: Token) -> &Self::Clock;
    #[doc(hidden)]
    fn attach(&self, token: Token, role: Role);
    #[doc(hidden)]
    fn detach(&self, token: Token, role: Role);
    #[doc(hidden)]
    fn record(&self, token: Token, outcome: Outcome);
    #[doc(hidden)]
    fn try_start(
        &self,
        token: Token,
        req: Self::Req,
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
    ) -> Result<Ticket, TryCallError<Self::Req>>;
    #[doc(hidden)]
    fn try_reserve(&self, token: Token) -> Result<Ticket, TryCallError<()>>;
    /// Reserves a slot, or waits for one with `entry` in line.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`leave`](Self::leave)) before it is dropped.
    #[doc(hidden)]
    unsafe fn poll_reserve(
        &self,
        token: Token,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Result<Ticket, CallError>>;
    /// Starts a call, or waits with `entry` in line: for a slot (`Pending`, `ticket` unset),
    /// or for room in the queue (`Pending`, `ticket` set: see [`poll_room`](Self::poll_room)).
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`leave`](Self::leave), [`leave_room`](Self::leave_room))
    /// before it is dropped.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)] // seven, and the token
    unsafe fn poll_start(
        &self,
        token: Token,
        cx: &mut Context<'_>,
        req: &mut Option<Self::Req>,
        ticket: &mut Option<Ticket>,
        entry: Pin<&WaitEntry>,
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
    ) -> Poll<Result<Started, CallError>>;
    /// A task waiting for a slot stops (its entry goes, an unused wake-up is passed on),
    /// counting `outcome` if that ended a call.
    #[doc(hidden)]
    fn leave(&self, token: Token, entry: Pin<&WaitEntry>, outcome: Option<Outcome>);
    /// A call that [`poll_start`](Self::poll_start) left waiting for room in the queue
    /// (`Pending` with its ticket set), in line with `entry`: `Ready` once there may be room,
    /// with `entry` out of line; its next `poll_start` sends it then.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`leave_room`](Self::leave_room)) before it is dropped.
    #[doc(hidden)]
    unsafe fn poll_room(
        &self,
        token: Token,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<()>;
    /// A call waiting for room in the queue stops: its entry goes, an unused wake-up is
    /// passed on.
    #[doc(hidden)]
    fn leave_room(&self, token: Token, entry: Pin<&WaitEntry>);
    /// The call's result, read as `read` says, once it has come.
    #[doc(hidden)]
    fn poll_reply<A: ReplyAs<Self::Resp, Self::Stamp>>(
        &self,
        token: Token,
        ticket: Ticket,
        cx: &mut Context<'_>,
        read: A,
    ) -> Poll<Result<A::Out, CallError>>;
    /// The caller gives up on its call; a result that raced in comes back, read as `read`
    /// says.
    #[doc(hidden)]
    fn give_up<A: ReplyAs<Self::Resp, Self::Stamp>>(
        &self,
        token: Token,
        ticket: Ticket,
        why: GiveUp,
        read: A,
    ) -> Option<Result<A::Out, CallError>>;
    /// Takes the next request, or waits for one with `entry` in line.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`stop_receiving`](Self::stop_receiving)) before it is
    /// dropped.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    unsafe fn poll_recv(
        &self,
        token: Token,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Option<(Self::Req, Ticket, RequestInfo<InstantOf<Self>>)>>;
    /// A server waiting for a request stops: its entry goes, and a wake-up it was given
    /// passes to another server.
    #[doc(hidden)]
    fn stop_receiving(&self, token: Token, entry: Pin<&WaitEntry>);
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    fn try_recv(
        &self,
        token: Token,
    ) -> Result<(Self::Req, Ticket, RequestInfo<InstantOf<Self>>), TryRecvError>;
    /// Takes up to `limit` (at least 1) queued requests, handing each to `take` with an
    /// instant no later than its arrival (its call's start, or when the inline queue began
    /// to fill, or when it was taken); `Ready(n)` with `n >= 1`, or `Ready(None)` as
    /// `poll_recv`. With [`InlineQueue`], in one lock.
    ///
    /// # Safety
    ///
    /// As [`poll_recv`](Self::poll_recv).
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    unsafe fn poll_recv_many(
        &self,
        token: Token,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
        limit: usize,
        take: &mut dyn FnMut(Self::Req, Ticket, RequestInfo<InstantOf<Self>>, InstantOf<Self>),
    ) -> Poll<Option<usize>>;
    #[doc(hidden)]
    fn reply(&self, token: Token, ticket: Ticket, value: Self::Resp) -> Result<(), Self::Resp>;
    /// Sends the replies `replies` yields, in one lock, until one is refused (its caller is
    /// gone): that value comes back, to be dropped outside the lock, and the caller calls
    /// again for the rest. `None` once `replies` is exhausted.
    #[doc(hidden)]
    fn reply_many(
        &self,
        token: Token,
        replies: &mut dyn Iterator<Item = (Ticket, Self::Resp)>,
    ) -> Option<Self::Resp>;
    /// Replaces the ticket of every call whose caller stopped waiting by [`Ticket::NONE`],
    /// in one lock; returns how many it replaced.
    #[doc(hidden)]
    fn forget_cancelled(&self, token: Token, tickets: &mut [Ticket]) -> usize;
    /// Sends the unsent calls at the front of `calls` that can go at once (a free slot, no
    /// wait), registering `cx`'s waker in their slots; returns how many calls from the
    /// front it is done with; a call that waited with `entry` in line and gets its slot
    /// takes the entry out. With [`InlineQueue`], in one lock; otherwise it does nothing.
    #[doc(hidden)]
    fn start_many(
        &self,
        token: Token,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<Self::Req, Self::Resp>],
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
        entry: Pin<&WaitEntry>,
    ) -> usize;
    /// Reads the replies that have arrived for the sent calls of `calls`, in one lock,
    /// registering `cx`'s waker for the others; true if some still wait.
    #[doc(hidden)]
    fn collect_many(
        &self,
        token: Token,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<Self::Req, Self::Resp>],
    ) -> bool;
    #[doc(hidden)]
    fn lose(&self, token: Token, ticket: Ticket);
    #[doc(hidden)]
    fn is_cancelled(&self, token: Token, ticket: Ticket) -> bool;
    /// Whether the call of `ticket` was cancelled, with `entry` in line to be woken when it
    /// is.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`stop_watching`](Self::stop_watching)) before it is dropped.
    #[doc(hidden)]
    unsafe fn poll_cancelled(
        &self,
        token: Token,
        ticket: Ticket,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<()>;
    /// A `cancelled()` future stops waiting: its entry goes.
    #[doc(hidden)]
    fn stop_watching(&self, token: Token, entry: Pin<&WaitEntry>);
    #[doc(hidden)]
    fn close_endpoint(&self, token: Token, mode: CloseMode) -> usize;
    #[doc(hidden)]
    fn endpoint_stats(&self, token: Token) -> StatsSnapshot;
    #[doc(hidden)]
    fn endpoint_capacity(&self, token: Token) -> usize;
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

#[cfg(all(test, feature = "std"))]
mod tests {
    extern crate std;

    use super::transport::{Envelope, InlineQueue, Ring, Transport};
    use super::*;
    use crate::queue::Queue;
    use crate::sync::{LocalMutex, StdMutex};
    use crate::time::{NoClock, StdClock};
    use std::sync::Arc;

    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    /// Rsvp's separate queue of `u32` requests, behind the thread-safe lock.
    type SharedQueue<const N: usize> = Queue<StdMutex, Envelope<u32>, N>;

    #[test]
    fn flavours_have_the_right_auto_traits() {
        type Shared = Rpc<u32, u32, 4, With<StdMutex, StdClock>>;
        assert_sync::<Shared>();
        assert_send::<Caller<Arc<Shared>>>();
        assert_sync::<Caller<Arc<Shared>>>();
        assert_send::<Server<Arc<Shared>>>();
        assert_send::<Responder<Arc<Shared>>>();
        assert_send::<CallFuture<&'static Shared>>();
        // The single-thread flavour may move to another thread as a whole, but not be shared.
        assert_send::<Rpc<u32, u32, 4, With<LocalMutex, StdClock>>>();
    }

    #[test]
    fn the_default_queue_is_inline_and_rsvps_queue_can_be_named() {
        // Assignments that compile only if `new` makes the named queue.
        let _: Rpc<u32, u32, 4, With<StdMutex, NoClock, InlineQueue>> = Rpc::new(NoClock);
        let _: Rpc<u32, u32, 4, With<LocalMutex, NoClock, InlineQueue>> = Rpc::new(NoClock);
        let _: Rpc<u32, u32, 4, With<StdMutex, NoClock, SharedQueue<4>>> = Rpc::new(NoClock);
    }

    static STATIC_RPC: Rpc<u32, u32, 2, With<StdMutex, NoClock>> = Rpc::new(NoClock);
    static STATIC_QUEUED: Rpc<u32, u32, 2, With<StdMutex, NoClock, SharedQueue<2>>> =
        Rpc::new(NoClock);

    fn serve_from_another_thread<Q>(rpc: &'static Rpc<u32, u32, 2, With<StdMutex, NoClock, Q>>)
    where
        Q: Transport<u32, 2> + Sync,
        Q::Ring: Send,
        <Q::Ring as Ring<u32>>::Held: Send,
    {
        let (caller, server) = Rpc::split(rpc);
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
        assert_eq!(rpc.stats().replied, 100);
    }

    #[test]
    fn a_static_endpoint_serves_calls_from_other_threads() {
        serve_from_another_thread(&STATIC_RPC);
        serve_from_another_thread(&STATIC_QUEUED);
    }
}
