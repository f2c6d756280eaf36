//! [`Rpc`]: the endpoint's state behind its lock, its queue, and its clock.
//!
//! Every operation is the same three steps: one event of the [state](super::state) under
//! the lock, the wakers it collected woken once the lock is released, and what has to
//! happen outside the lock (a request through the outside queue, a user value dropped).

use core::pin::Pin;
use core::task::{Context, Poll};

use super::state::{Ended, EndpointState, Next, Refused, Start, Waiter};
use super::transport::{DefaultQueue, Envelope, Ring, Transport};
use super::{
    Caller, CloseMode, Endpoint, GiveUp, InstantOf, Kind, ManyCall, Role, Server, Started, Token,
};
use crate::error::{CallError, TryCallError, TryRecvError, TrySendError};
use crate::queue::RequestQueue;
use crate::reply::{Phase, ReplyAs, RequestInfo, Ticket, Value};
use crate::stats::{Outcome, StatsSnapshot};
use crate::sync::StateLock;
use crate::time::{Clock, Times};
use crate::wait_list::WaitEntry;

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

type State<Req, Resp, K, const N: usize> = EndpointState<
    Req,
    Resp,
    <<K as Kind<Req, N>>::Clock as Clock>::Instant,
    StampOf<K, Req, N>,
    <<K as Kind<Req, N>>::Queue as Transport<Req, N>>::Ring,
    N,
>;

/// What the slots of an endpoint of kind `K` keep of an instant.
type StampOf<K, Req, const N: usize> =
    <<K as Kind<Req, N>>::Times as Times>::Stamp<<<K as Kind<Req, N>>::Clock as Clock>::Instant>;

/// A request/response endpoint with `N` reply slots: at most `N` calls are outstanding
/// (queued or being worked on) at once.
///
/// `K` is its [`Kind`]: the lock, the clock and the request queue it is built from,
/// usually named as [`With<M, C, Q>`](super::With):
///
/// - `M` is the lock, which picks the flavour: [`LocalMutex`](crate::lock::LocalMutex) for
///   one thread, [`StdMutex`](crate::lock::StdMutex) or
///   [`CriticalSectionMutex`](crate::lock::CriticalSectionMutex) across threads.
/// - `C` is the clock (and, for timeouts, the [`Timer`](crate::time::Timer)).
/// - `Q` is the request queue: by default [`InlineQueue`](crate::queue::InlineQueue),
///   rsvp's ring inside the endpoint's lock; or any [`RequestQueue`] of [`Envelope`]s
///   ([`with_queue`](Self::with_queue)), such as rsvp's separate
///   [`Queue`](crate::queue::Queue), which suits a lock that threads contend for (see
///   [`InlineQueue`](crate::queue::InlineQueue)).
///
/// It never allocates and can live in a `static`: a task waiting for a free slot (or in
/// [`Responder::cancelled`](crate::Responder::cancelled)) keeps its place in line inside
/// its own future, so any number of tasks can wait, and a task that stops waiting leaves
/// nothing behind.
///
/// ```
/// use rsvp::lock::LocalMutex;
/// use rsvp::rpc::With;
/// use rsvp::time::NoClock;
/// use rsvp::Rpc;
///
/// let rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
/// let (caller, server) = Rpc::split(&rpc);
/// # futures_executor::block_on(async {
/// let call = caller.try_call(21).unwrap();
/// let (req, responder) = server.recv().await.unwrap();
/// responder.reply(req * 2).unwrap();
/// assert_eq!(call.await, Ok(42));
/// # });
/// ```
pub struct Rpc<Req, Resp, const N: usize, K>
where
    K: Kind<Req, N>,
{
    state: CacheLines<StateLock<K::Lock, State<Req, Resp, K, N>>>,
    queue: CacheLines<K::Queue>,
    clock: K::Clock,
}

impl<Req, Resp, const N: usize, K> Rpc<Req, Resp, N, K>
where
    K: Kind<Req, N>,
    K::Queue: DefaultQueue<Req, N>,
{
    /// An endpoint over rsvp's own queue ([`InlineQueue`](crate::queue::InlineQueue)
    /// unless the kind names rsvp's [`Queue`](crate::queue::Queue)), usable in a `static`.
    #[inline(always)]
    pub const fn new(clock: K::Clock) -> Self {
        Self::with_queue(<K::Queue as DefaultQueue<Req, N>>::NEW, clock)
    }
}

impl<Req, Resp, const N: usize, K: Kind<Req, N>> Rpc<Req, Resp, N, K> {
    /// An endpoint over another [`RequestQueue`]. If the queue holds fewer than `N`
    /// requests, callers wait for room in it (and `try_call` says `Full`).
    // Inlined, with the state made at compile time: built through a chain of calls at
    // run time, its copies cost kilobytes of stack (thumbv6m, opt-level "s").
    #[inline(always)]
    pub const fn with_queue(queue: K::Queue, clock: K::Clock) -> Self {
        Self {
            state: CacheLines(StateLock::new(
                const { EndpointState::new(<K::Queue as Transport<Req, N>>::RING) },
            )),
            queue: CacheLines(queue),
            clock,
        }
    }

    /// The clock the endpoint stamps calls with.
    pub fn clock(&self) -> &K::Clock {
        &self.clock
    }

    /// The number of reply slots, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Counts and latencies of every call so far, and the calls queued and in progress now.
    pub fn stats(&self) -> StatsSnapshot {
        self.state.lock(|s| s.snapshot())
    }

    /// Whether the endpoint refuses new calls.
    pub fn is_closed(&self) -> bool {
        self.state.lock(|s| s.is_closed())
    }

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
    /// nothing is left. Returns how many queued calls it ended with `Closed`; a reserved
    /// slot it ends counts as `Closed` once a call turns out to hold it (a call waiting for
    /// queue room, or made from a permit), and not at all for an unused permit, which is
    /// no call. Idempotent.
    pub fn close(&self, mode: CloseMode) -> usize {
        let closed = self.state.lock_wake(|s, wakes| s.close(mode, wakes));
        // Every request still queued now belongs to a call that just ended with `Closed`
        // (or had ended before): with `Fail` they are dropped now rather than kept until a
        // server that may never come skips them. One at a time, outside the lock: a
        // request's `Drop` may use this endpoint.
        if let Some(queue) = self.queue.outside() {
            queue.close();
            if mode == CloseMode::Fail {
                while queue.try_recv().is_ok() {}
            }
        } else if mode == CloseMode::Fail {
            while let Some(req) = self.state.lock(|s| s.drain_closed()) {
                drop(req);
            }
        }
        closed
    }

    fn now(&self) -> <K::Clock as Clock>::Instant {
        self.clock.now()
    }

    /// The queue outside the lock, which the state hands requests to only if there is one.
    fn outside(&self) -> &dyn RequestQueue<Envelope<Req>> {
        self.queue
            .outside()
            .expect("only a queue outside the lock gets requests handed over")
    }

    /// Ends the call of `ticket` from the caller's side, counting `outcome` unless its
    /// outcome was decided before. Returns what was left of it, to drop outside the lock.
    fn end<A: ReplyAs<Resp, StampOf<K, Req, N>>>(
        &self,
        ticket: Ticket,
        outcome: Option<Outcome>,
        read: A,
    ) -> Option<Ended<Req, A::Out>> {
        let mut ended = self
            .state
            .lock_wake(|s, wakes| s.end(ticket, outcome, read, wakes))?;
        // A request still queued in its slot came out with it: dropped here, unlocked.
        drop(ended.removed.take());
        if ended.phase == Phase::Queued {
            if let Some(queue) = self.queue.outside() {
                // Give the queue space back now, rather than when a server skips it.
                drop(queue.remove(&mut |env| env.ticket == ticket));
            }
        }
        Some(ended)
    }

    /// Ends a call whose request the outside queue refused, counting `outcome`, unless a
    /// shutdown ended it (with `Closed`, already counted) in between. Returns the call's
    /// outcome.
    fn end_unsent(&self, ticket: Ticket, outcome: Outcome) -> Outcome {
        match self.end(ticket, Some(outcome), Value) {
            Some(Ended {
                phase: Phase::Done | Phase::Shut,
                ..
            }) => Outcome::Closed,
            _ => outcome,
        }
    }

    /// Takes up to `limit` (at least 1) queued requests, handing each to `take` with an
    /// instant no later than its arrival (see [`EndpointState::take_next`]): `Ready(n)`
    /// with `n >= 1`; `Ready(None)` once nothing more will come; `Pending` (with `cx`'s
    /// waker registered, and `entry` in line if needed, when given) when nothing is queued.
    ///
    /// # Safety
    ///
    /// `entry` is taken out ([`stop_receiving`](Endpoint::stop_receiving)) before it is
    /// dropped.
    unsafe fn recv_many<F>(
        &self,
        mut wait: Option<(&mut Context<'_>, Pin<&WaitEntry>)>,
        limit: usize,
        take: &mut F,
    ) -> Poll<Option<usize>>
    where
        F: FnMut(Req, Ticket, RequestInfo<InstantOf<Self>>, InstantOf<Self>),
    {
        let now = self.now();
        let limit = limit.max(1);
        let mut taken = 0;
        // Known at compile time: a queue outside the lock is read without locking first.
        if <<K::Queue as Transport<Req, N>>::Ring as Ring<Req>>::INSIDE {
            loop {
                // SAFETY: the entry is taken out before it is dropped (this method's
                // contract).
                let waiter = wait
                    .as_ref()
                    .map(|(cx, entry)| unsafe { Waiter::new(cx.waker(), *entry) });
                let next = self
                    .state
                    .lock_wake(|s, wakes| s.take_next(now, waiter, limit, &mut taken, take, wakes));
                match next {
                    Next::Done => return Poll::Ready(Some(taken)),
                    // Ended by a shutdown while queued: skipped, and dropped outside the lock.
                    Next::Stale(req) => drop(req),
                    Next::Empty => return Poll::Pending,
                    Next::Closed => return Poll::Ready(None),
                    Next::Outside => break,
                }
            }
        }
        // The queue outside the lock: each request is checked against its slot as it comes.
        let queue = self.outside();
        while taken < limit {
            let received = match wait.as_mut() {
                // SAFETY: the entry is taken out before it is dropped (this method's
                // contract).
                Some((cx, entry)) if taken == 0 => unsafe { queue.poll_recv_in_line(cx, *entry) }
                    .map(|env| env.ok_or(TryRecvError::Closed)),
                _ => Poll::Ready(queue.try_recv()),
            };
            let env = match received {
                Poll::Ready(Ok(env)) => env,
                _ if taken > 0 => break,
                Poll::Ready(Err(TryRecvError::Closed)) => return Poll::Ready(None),
                Poll::Ready(Err(TryRecvError::Empty)) | Poll::Pending => return Poll::Pending,
            };
            match self.state.lock(|s| s.take(env.ticket, now)) {
                Some(info) => {
                    take(env.req, env.ticket, info, info.started_at.unwrap_or(now));
                    taken += 1;
                }
                // Stale: its caller gave up, or it was closed, while queued. Skip it.
                None => drop(env),
            }
        }
        Poll::Ready(Some(taken))
    }
}

impl<Req, Resp, const N: usize, K: Kind<Req, N>> super::sealed::Sealed for Rpc<Req, Resp, N, K> {}

impl<Req, Resp, const N: usize, K: Kind<Req, N>> Endpoint for Rpc<Req, Resp, N, K> {
    type Req = Req;
    type Resp = Resp;
    type Clock = K::Clock;
    type Stamp = StampOf<K, Req, N>;

    fn endpoint_clock(&self, _: Token) -> &K::Clock {
        &self.clock
    }

    fn attach(&self, _: Token, role: Role) {
        self.state.lock(|s| s.attach(role));
    }

    fn detach(&self, _: Token, role: Role) {
        let last = self.state.lock(|s| s.detach(role));
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

    fn record(&self, _: Token, outcome: Outcome) {
        self.state.lock(|s| s.record(outcome));
    }

    fn leave(&self, _: Token, entry: Pin<&WaitEntry>, outcome: Option<Outcome>) {
        self.state
            .lock_wake(|s, wakes| s.leave(entry, outcome, wakes));
    }

    unsafe fn poll_room(&self, _: Token, cx: &mut Context<'_>, entry: Pin<&WaitEntry>) -> Poll<()> {
        match self.queue.outside() {
            // SAFETY: passed on from this method's contract.
            Some(queue) => unsafe { queue.poll_ready_in_line(cx, entry) },
            None => Poll::Ready(()),
        }
    }

    fn leave_room(&self, _: Token, entry: Pin<&WaitEntry>) {
        if let Some(queue) = self.queue.outside() {
            // SAFETY: a call waits for room only in its endpoint's queue.
            unsafe { queue.leave_line(entry) };
        }
    }

    fn try_start(
        &self,
        _: Token,
        req: Req,
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
    ) -> Result<Ticket, TryCallError<Req>> {
        let started = self
            .state
            .lock_lend(|s, wakes| s.start(req, None, started_at, deadline, None, wakes));
        let env = match started {
            Start::Queued(ticket) => return Ok(ticket),
            Start::Deliver(env) => env,
            Start::Full(req) => return Err(TryCallError::Full(req)),
            Start::Closed(req) => return Err(TryCallError::Closed(req)),
            Start::Wait(_) | Start::Decided(_) => {
                unreachable!(
                    "a call without a waker or a reserved slot neither waits nor was decided"
                )
            }
        };
        let ticket = env.ticket;
        match self.outside().try_send(env) {
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

    fn try_reserve(&self, _: Token) -> Result<Ticket, TryCallError<()>> {
        let now = self.now();
        match self.state.lock_wake(|s, wakes| s.reserve(now, None, wakes)) {
            Ok(ticket) => Ok(ticket),
            Err(Refused::Closed) => Err(TryCallError::Closed(())),
            Err(Refused::Full | Refused::Wait) => Err(TryCallError::Full(())),
        }
    }

    unsafe fn poll_reserve(
        &self,
        _: Token,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Result<Ticket, CallError>> {
        let now = self.now();
        // SAFETY: the caller takes `entry` out before dropping it (this method's contract).
        let waiter = unsafe { Waiter::new(cx.waker(), entry) };
        match self
            .state
            .lock_wake(|s, wakes| s.reserve(now, Some(waiter), wakes))
        {
            Ok(ticket) => Poll::Ready(Ok(ticket)),
            Err(Refused::Wait) => Poll::Pending,
            Err(Refused::Closed | Refused::Full) => Poll::Ready(Err(CallError::Closed)),
        }
    }

    unsafe fn poll_start(
        &self,
        _: Token,
        cx: &mut Context<'_>,
        req: &mut Option<Req>,
        ticket: &mut Option<Ticket>,
        entry: Pin<&WaitEntry>,
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
    ) -> Poll<Result<Started, CallError>> {
        loop {
            let body = req.take().expect("CallFuture polled after it completed");
            let held = *ticket;
            // SAFETY: the caller takes `entry` out before dropping it (this method's
            // contract).
            let waiter = unsafe { Waiter::new(cx.waker(), entry) };
            let started = self.state.lock_lend(|s, wakes| {
                s.start(body, held, started_at, deadline, Some(waiter), wakes)
            });
            let env = match started {
                Start::Queued(queued) => {
                    *ticket = Some(queued);
                    return Poll::Ready(Ok(Started::Waiting));
                }
                Start::Deliver(env) => env,
                Start::Wait(body) => {
                    *req = Some(body);
                    return Poll::Pending;
                }
                Start::Closed(_) => return Poll::Ready(Err(CallError::Closed)),
                Start::Decided(_) => return Poll::Ready(Ok(Started::Decided)),
                Start::Full(_) => unreachable!("a call with a waker waits for a slot"),
            };
            // The queue outside the lock. The caller's waker was registered in the slot
            // before the request becomes visible to a server.
            let held = env.ticket;
            *ticket = Some(held);
            let queue = self.outside();
            match queue.try_send(env) {
                Ok(()) => return Poll::Ready(Ok(Started::Waiting)),
                Err(TrySendError::Full(env)) => {
                    *req = Some(env.req);
                    self.state.lock(|s| s.unsend(held));
                    // SAFETY: the caller takes `entry` out before dropping it (this method's
                    // contract).
                    if unsafe { queue.poll_ready_in_line(cx, entry) }.is_pending() {
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

    #[inline]
    fn poll_reply<A: ReplyAs<Resp, StampOf<K, Req, N>>>(
        &self,
        _: Token,
        ticket: Ticket,
        cx: &mut Context<'_>,
        read: A,
    ) -> Poll<Result<A::Out, CallError>> {
        self.state
            .lock_wake(|s, wakes| s.poll_reply(ticket, cx.waker(), read, wakes))
    }

    fn give_up<A: ReplyAs<Resp, StampOf<K, Req, N>>>(
        &self,
        _: Token,
        ticket: Ticket,
        why: GiveUp,
        read: A,
    ) -> Option<Result<A::Out, CallError>> {
        let outcome = match why {
            GiveUp::Timeout => Some(Outcome::Timeout),
            GiveUp::Dropped => Some(Outcome::Cancelled),
            GiveUp::Unused => None,
        };
        // A result that raced in goes to the caller, or is dropped there: outside the lock,
        // since its `Drop` may use this endpoint.
        self.end(ticket, outcome, read)?.result
    }

    unsafe fn poll_recv(
        &self,
        _: Token,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<Option<(Req, Ticket, RequestInfo<InstantOf<Self>>)>> {
        let mut next = None;
        // SAFETY: passed on from this method's contract.
        let taken = unsafe {
            self.recv_many(Some((cx, entry)), 1, &mut |req, ticket, info, _| {
                next = Some((req, ticket, info));
            })
        };
        taken.map(|taken| taken.and(next))
    }

    fn stop_receiving(&self, _: Token, entry: Pin<&WaitEntry>) {
        match self.queue.outside() {
            // SAFETY: with a queue outside the lock, servers wait only in its line.
            Some(queue) => unsafe { queue.leave_line(entry) },
            None => self
                .state
                .lock_wake(|s, wakes| s.stop_receiving(entry, wakes)),
        }
    }

    fn try_recv(
        &self,
        _: Token,
    ) -> Result<(Req, Ticket, RequestInfo<InstantOf<Self>>), TryRecvError> {
        let mut next = None;
        // SAFETY: no entry.
        let taken = unsafe {
            self.recv_many(None, 1, &mut |req, ticket, info, _| {
                next = Some((req, ticket, info));
            })
        };
        match taken {
            Poll::Ready(Some(_)) => Ok(next.expect("one request taken")),
            Poll::Ready(None) => Err(TryRecvError::Closed),
            Poll::Pending => Err(TryRecvError::Empty),
        }
    }

    unsafe fn poll_recv_many(
        &self,
        _: Token,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
        limit: usize,
        take: &mut dyn FnMut(Req, Ticket, RequestInfo<InstantOf<Self>>, InstantOf<Self>),
    ) -> Poll<Option<usize>> {
        // SAFETY: passed on from this method's contract.
        unsafe {
            self.recv_many(
                Some((cx, entry)),
                limit,
                &mut |req, ticket, info, arrived| take(req, ticket, info, arrived),
            )
        }
    }

    fn reply(&self, _: Token, ticket: Ticket, value: Resp) -> Result<(), Resp> {
        let now = self.now();
        self.state.lock_lend(|s, wakes| {
            s.reply(
                ticket,
                value,
                now,
                <K::Clock as Clock>::MEASURES_TIME,
                wakes,
            )
        })
    }

    fn reply_many(
        &self,
        _: Token,
        replies: &mut dyn Iterator<Item = (Ticket, Resp)>,
    ) -> Option<Resp> {
        let now = self.now();
        self.state.lock_lend(|s, wakes| {
            s.reply_many(replies, now, <K::Clock as Clock>::MEASURES_TIME, wakes)
        })
    }

    fn forget_cancelled(&self, _: Token, tickets: &mut [Ticket]) -> usize {
        self.state.lock(|s| s.forget_cancelled(tickets))
    }

    fn start_many(
        &self,
        _: Token,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<Req, Resp>],
        started_at: InstantOf<Self>,
        deadline: Option<InstantOf<Self>>,
        entry: Pin<&WaitEntry>,
    ) -> usize {
        self.state.lock_wake(|s, wakes| {
            s.start_many(calls, started_at, deadline, cx.waker(), entry, wakes)
        })
    }

    fn collect_many(
        &self,
        _: Token,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<Req, Resp>],
    ) -> bool {
        self.state
            .lock_wake(|s, wakes| s.collect_many(calls, cx.waker(), wakes))
    }

    fn lose(&self, _: Token, ticket: Ticket) {
        let now = self.now();
        self.state.lock_lend(|s, wakes| s.lose(ticket, now, wakes));
    }

    fn is_cancelled(&self, _: Token, ticket: Ticket) -> bool {
        self.state.lock(|s| s.is_cancelled(ticket))
    }

    unsafe fn poll_cancelled(
        &self,
        _: Token,
        ticket: Ticket,
        cx: &mut Context<'_>,
        entry: Pin<&WaitEntry>,
    ) -> Poll<()> {
        // SAFETY: the caller takes `entry` out before dropping it (this method's contract).
        let waiter = unsafe { Waiter::new(cx.waker(), entry) };
        self.state
            .lock_wake(|s, wakes| s.poll_cancelled(ticket, waiter, wakes))
    }

    fn stop_watching(&self, _: Token, entry: Pin<&WaitEntry>) {
        self.state
            .lock_wake(|s, wakes| s.stop_watching(entry, wakes));
    }

    fn close_endpoint(&self, _: Token, mode: CloseMode) -> usize {
        Rpc::close(self, mode)
    }

    fn endpoint_stats(&self, _: Token) -> StatsSnapshot {
        self.stats()
    }

    fn endpoint_capacity(&self, _: Token) -> usize {
        N
    }
}

impl<Req, Resp, const N: usize, K: Kind<Req, N>> core::fmt::Debug for Rpc<Req, Resp, N, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rpc")
            .field("capacity", &N)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Round trips through the endpoint's lock ([`StateLock`]), for miri: the core's other
/// unit tests drive the state machine without it.
#[cfg(test)]
mod tests {
    extern crate std;

    use core::future::Future;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::rpc::With;
    use crate::sync::{LocalMutex, RawMutex};
    use crate::test_support::{counter, woken};
    use crate::time::NoClock;

    fn round_trips<M: RawMutex>() {
        let rpc: Rpc<u32, u32, 2, With<M, NoClock>> = Rpc::new(NoClock);
        let (caller, server) = Rpc::split(&rpc);
        let (count, waker) = counter();
        let cx = &mut Context::from_waker(&waker);
        let noop = &mut Context::from_waker(Waker::noop());
        for round in 0..3 {
            let mut call = core::pin::pin!(caller.call(round));
            assert!(call.as_mut().poll(noop).is_pending());
            // Moved to another task: the slot's waker is replaced (and the old one dropped
            // after unlocking).
            assert!(call.as_mut().poll(cx).is_pending());
            let (req, responder) = match core::pin::pin!(server.recv()).poll(noop) {
                Poll::Ready(Some(next)) => next,
                _ => panic!("a request"),
            };
            responder.reply(req + 10).unwrap();
            assert_eq!(call.as_mut().poll(cx), Poll::Ready(Ok(round + 10)));
            assert!(core::pin::pin!(server.recv()).poll(noop).is_pending());
        }
        assert_eq!(woken(&count), 3, "the caller woken once per reply");
        assert_eq!(rpc.stats().replied, 3);
        assert_eq!(rpc.close(CloseMode::Fail), 0);
    }

    #[test]
    fn round_trips_through_the_single_thread_lock() {
        round_trips::<LocalMutex>();
    }

    #[cfg(feature = "std")]
    #[test]
    fn round_trips_through_the_thread_safe_lock() {
        round_trips::<crate::sync::StdMutex>();
    }

    /// A reply whose waking of the caller panics is still delivered, once: the responder,
    /// taken apart by `reply`, does not also end the call with `Lost` as it unwinds.
    #[cfg(feature = "std")]
    fn a_reply_whose_wake_panics_is_the_one_outcome<M: RawMutex>() {
        struct Panics;
        impl std::task::Wake for Panics {
            fn wake(self: std::sync::Arc<Self>) {
                panic!("a waker that panics");
            }
        }
        let rpc: Rpc<u32, u32, 1, With<M, NoClock>> = Rpc::new(NoClock);
        let (caller, server) = Rpc::split(&rpc);
        let waker = Waker::from(std::sync::Arc::new(Panics));
        let mut call = core::pin::pin!(caller.call(20));
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let (req, responder) = server.try_recv().unwrap();
        let replied =
            std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| responder.reply(req + 1)));
        assert!(replied.is_err(), "the waker panicked");
        let noop = &mut Context::from_waker(Waker::noop());
        assert_eq!(call.as_mut().poll(noop), Poll::Ready(Ok(21)));
        let stats = rpc.stats();
        assert_eq!((stats.replied, stats.lost), (1, 0));
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_reply_whose_wake_panics_is_the_one_outcome_single_thread() {
        a_reply_whose_wake_panics_is_the_one_outcome::<LocalMutex>();
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_reply_whose_wake_panics_is_the_one_outcome_thread_safe() {
        a_reply_whose_wake_panics_is_the_one_outcome::<crate::sync::StdMutex>();
    }

    /// Callers that give up waiting for a slot take their place in line along: after
    /// 10,000 of them timed out, the endpoint holds none of their wakers.
    #[cfg(feature = "std")]
    #[test]
    fn callers_that_time_out_waiting_for_a_slot_leave_nothing_behind() {
        use crate::time::ManualClock;
        let clock = ManualClock::new();
        let rpc: Rpc<u32, u32, 1, With<LocalMutex, ManualClock>> = Rpc::new(clock.clone());
        let (caller, _server) = Rpc::split(&rpc);
        let _held = caller.try_call(0).unwrap();
        let (count, waker) = counter();
        let cx = &mut Context::from_waker(&waker);
        let base = std::sync::Arc::strong_count(&count);
        // Scaled down under miri, which interprets every step, not skipped.
        let (rounds, per_round) = if cfg!(miri) { (2, 20) } else { (10, 1_000) };
        for round in 0..rounds {
            let mut calls: std::vec::Vec<_> = (0..per_round)
                .map(|i| {
                    let timeout = core::time::Duration::from_millis(1);
                    std::boxed::Box::pin(caller.call_timeout(i, timeout))
                })
                .collect();
            for call in &mut calls {
                assert!(call.as_mut().poll(cx).is_pending());
            }
            assert!(
                std::sync::Arc::strong_count(&count) >= base + per_round as usize,
                "each waiting caller is in line with its waker"
            );
            clock.advance(core::time::Duration::from_millis(1));
            for call in &mut calls {
                assert_eq!(call.as_mut().poll(cx), Poll::Ready(Err(CallError::Timeout)));
            }
            drop(calls);
            assert_eq!(
                std::sync::Arc::strong_count(&count),
                base,
                "round {round}: nothing left"
            );
        }
        assert_eq!(rpc.stats().timeout, (rounds * per_round) as u64);
    }

    /// Any number of callers wait for a free slot, each asleep until it is its turn: a
    /// freed slot wakes exactly one, the one that waited longest, with or without `alloc`
    /// (a fixed set of wakers would wake displaced waiters in a loop).
    #[test]
    fn callers_waiting_for_a_slot_sleep_and_are_served_in_order() {
        const WAITERS: usize = 20;
        let rpc: Rpc<u32, u32, 1, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
        let (caller, server) = Rpc::split(&rpc);
        let noop = &mut Context::from_waker(Waker::noop());
        let held = caller.try_call(0).unwrap();
        let (counts, wakers): (std::vec::Vec<_>, std::vec::Vec<_>) =
            (0..WAITERS).map(|_| counter()).unzip();
        let mut calls: std::vec::Vec<_> = (1..=WAITERS as u32)
            .map(|i| std::boxed::Box::pin(caller.call(i)))
            .collect();
        for _ in 0..2 {
            for (call, waker) in calls.iter_mut().zip(&wakers) {
                let cx = &mut Context::from_waker(waker);
                assert!(call.as_mut().poll(cx).is_pending());
            }
        }
        assert!(counts.iter().all(|c| woken(c) == 0), "nobody woken yet");

        // Each slot freed wakes the next caller in line, and only it.
        let mut sent = std::boxed::Box::pin(held);
        for (turn, waker) in wakers.iter().enumerate() {
            let (req, responder) = server.try_recv().unwrap();
            responder.reply(req * 10).unwrap();
            // Reading the reply frees the slot.
            assert_eq!(sent.as_mut().poll(noop), Poll::Ready(Ok(req * 10)));
            let now: std::vec::Vec<_> = counts.iter().map(|c| woken(c)).collect();
            // Those served before were woken twice (their slot, their reply); the next in
            // line once; the rest not at all.
            let expected: std::vec::Vec<_> = (0..WAITERS)
                .map(|i| usize::from(i <= turn) + usize::from(i < turn))
                .collect();
            assert_eq!(now, expected, "turn {turn}");
            sent = calls.remove(0);
            let cx = &mut Context::from_waker(waker);
            assert!(
                sent.as_mut().poll(cx).is_pending(),
                "sent, waiting for its reply"
            );
        }
        let (req, responder) = server.try_recv().unwrap();
        assert_eq!(req, WAITERS as u32, "served in the order they came");
        drop(responder);
        assert_eq!(sent.as_mut().poll(noop), Poll::Ready(Err(CallError::Lost)));
    }

    /// Any number of servers wait for a request, each asleep until a request is its: a
    /// request wakes exactly one, with or without `alloc` (a fixed set of wakers would
    /// wake displaced servers in a loop). The first server keeps its place across waits;
    /// the others are served in the order they came.
    fn servers_waiting_for_a_request_sleep_and_each_request_wakes_one<Q: Queued>() {
        const SERVERS: usize = 20;
        let rpc = queued::<Q>();
        let (caller, server) = Rpc::split(&rpc);
        let (counts, wakers): (std::vec::Vec<_>, std::vec::Vec<_>) =
            (0..SERVERS).map(|_| counter()).unzip();
        let mut recvs: std::vec::Vec<_> = (0..SERVERS)
            .map(|_| std::boxed::Box::pin(server.recv()))
            .collect();
        for _ in 0..2 {
            for (recv, waker) in recvs.iter_mut().zip(&wakers) {
                let cx = &mut Context::from_waker(waker);
                assert!(recv.as_mut().poll(cx).is_pending());
            }
        }
        assert!(counts.iter().all(|c| woken(c) == 0), "nobody woken yet");

        let mut calls = std::vec::Vec::new();
        for turn in 0..SERVERS {
            calls.push(std::boxed::Box::pin(caller.try_call(turn as u32).unwrap()));
            let now: std::vec::Vec<_> = counts.iter().map(|c| woken(c)).collect();
            let expected: std::vec::Vec<_> = (0..SERVERS).map(|i| usize::from(i <= turn)).collect();
            assert_eq!(now, expected, "request {turn} wakes server {turn} only");
        }
        // Each woken server takes the request it was woken for.
        for (turn, (recv, waker)) in recvs.iter_mut().zip(&wakers).enumerate() {
            let cx = &mut Context::from_waker(waker);
            match recv.as_mut().poll(cx) {
                Poll::Ready(Some((req, responder))) => {
                    assert_eq!(req, turn as u32, "requests taken in order");
                    responder.reply(req).unwrap();
                }
                _ => panic!("server {turn} finds its request"),
            }
        }
        let noop = &mut Context::from_waker(Waker::noop());
        for (i, call) in calls.iter_mut().enumerate() {
            assert_eq!(call.as_mut().poll(noop), Poll::Ready(Ok(i as u32)));
        }
    }

    /// A server that starts waiting while others wait in line goes behind them, even when
    /// the first server's place is free (its server was woken, and beaten to its request):
    /// the next request wakes the one that waited longest.
    fn a_server_that_comes_later_waits_behind_those_in_line<Q: Queued>() {
        let rpc = queued::<Q>();
        let (caller, server) = Rpc::split(&rpc);
        let (counts, wakers): (std::vec::Vec<_>, std::vec::Vec<_>) =
            (0..3).map(|_| counter()).unzip();
        let mut recvs: std::vec::Vec<_> = (0..3)
            .map(|_| std::boxed::Box::pin(server.recv()))
            .collect();
        let mut wait = |i: usize| {
            let cx = &mut Context::from_waker(&wakers[i]);
            assert!(recvs[i].as_mut().poll(cx).is_pending());
        };
        // 0 takes the first place, 1 waits in line; a request wakes 0.
        wait(0);
        wait(1);
        let first = caller.try_call(10).unwrap();
        assert_eq!(woken(&counts[0]), 1);
        // Before 0 runs, a server that does not wait takes the request.
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req).unwrap();
        // 2 comes while 0's place is free, and 1 still waits.
        wait(2);
        let second = caller.try_call(11).unwrap();
        let now: std::vec::Vec<_> = counts.iter().map(|c| woken(c)).collect();
        assert_eq!(
            now,
            [1, 1, 0],
            "the second request wakes 1, who waited longer than 2"
        );
        drop((first, second));
    }

    /// A receive made where an earlier one ended (at the same address, as in a loop of
    /// `recv`s) is a newcomer: it waits behind the servers already in line.
    fn a_receive_made_where_one_ended_waits_behind_those_in_line<Q: Queued>() {
        let rpc = queued::<Q>();
        let (caller, server) = Rpc::split(&rpc);
        let ((a_count, a_waker), (b_count, b_waker)) = (counter(), counter());
        let a_cx = &mut Context::from_waker(&a_waker);
        let mut place = std::boxed::Box::pin(Some(server.recv()));
        let mut b = std::boxed::Box::pin(server.recv());
        assert!(place.as_mut().as_pin_mut().unwrap().poll(a_cx).is_pending());
        assert!(b
            .as_mut()
            .poll(&mut Context::from_waker(&b_waker))
            .is_pending());
        let first = caller.try_call(1).unwrap();
        match place.as_mut().as_pin_mut().unwrap().poll(a_cx) {
            Poll::Ready(Some((req, responder))) => responder.reply(req).unwrap(),
            _ => panic!("the first server takes the first request"),
        }
        // The same task receives again, in the same place.
        place.set(Some(server.recv()));
        assert!(place.as_mut().as_pin_mut().unwrap().poll(a_cx).is_pending());
        let second = caller.try_call(2).unwrap();
        assert_eq!(
            (woken(&a_count), woken(&b_count)),
            (1, 1),
            "the second request wakes b, who waited longer"
        );
        drop((first, second));
    }

    /// A server woken for a request that stops waiting before taking it (its `recv` was
    /// dropped, say by a timeout) passes the request on to another waiting server.
    fn a_woken_server_that_leaves_passes_its_request_on<Q: Queued>() {
        let rpc = queued::<Q>();
        let (caller, server) = Rpc::split(&rpc);
        let (counts, wakers): (std::vec::Vec<_>, std::vec::Vec<_>) =
            (0..3).map(|_| counter()).unzip();
        let mut recvs: std::vec::Vec<_> = (0..3)
            .map(|_| Some(std::boxed::Box::pin(server.recv())))
            .collect();
        for (recv, waker) in recvs.iter_mut().zip(&wakers) {
            let cx = &mut Context::from_waker(waker);
            assert!(recv.as_mut().unwrap().as_mut().poll(cx).is_pending());
        }
        let _call = caller.try_call(7).unwrap();
        let woken_now = || {
            counts
                .iter()
                .map(|c| woken(c))
                .collect::<std::vec::Vec<_>>()
        };
        assert_eq!(woken_now(), [1, 0, 0]);
        // The first server leaves without taking it: the next one is woken instead.
        recvs[0] = None;
        assert_eq!(woken_now(), [1, 1, 0]);
        // So does the second, woken from the line.
        recvs[1] = None;
        assert_eq!(woken_now(), [1, 1, 1]);
        let cx = &mut Context::from_waker(&wakers[2]);
        match recvs[2].as_mut().unwrap().as_mut().poll(cx) {
            Poll::Ready(Some((req, _responder))) => assert_eq!(req, 7),
            _ => panic!("the last server takes the request"),
        };
    }

    /// Two receives in one task (same waker), one of which gives up: the other still gets
    /// the next request's wake-up (the one leaving does not take the first server's place
    /// away from it).
    #[test]
    fn a_receive_that_leaves_does_not_disarm_another_of_the_same_task() {
        let rpc: Rpc<u32, u32, 4, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
        let (caller, server) = Rpc::split(&rpc);
        let (count, waker) = counter();
        let cx = &mut Context::from_waker(&waker);
        let mut staying = std::boxed::Box::pin(server.recv());
        let mut leaving = std::boxed::Box::pin(server.recv());
        assert!(staying.as_mut().poll(cx).is_pending());
        assert!(leaving.as_mut().poll(cx).is_pending());
        drop(leaving);
        let _call = caller.try_call(3).unwrap();
        assert_eq!(woken(&count), 1, "the staying receive is woken");
        match staying.as_mut().poll(cx) {
            Poll::Ready(Some((req, _responder))) => assert_eq!(req, 3),
            _ => panic!("the staying receive takes the request"),
        };
    }

    /// 10,000 servers that stop waiting for a request (their `recv` dropped) leave no
    /// waker behind (but the first server's place keeps one, the last taker's).
    fn servers_that_stop_waiting_leave_nothing_behind<Q: Queued>() {
        let rpc = queued::<Q>();
        let (caller, server) = Rpc::split(&rpc);
        // Scaled down under miri, which interprets every step, not skipped.
        let (rounds, per_round) = if cfg!(miri) { (2, 20) } else { (10, 1_000) };
        let mut first_before = None;
        for round in 0..rounds {
            // Each waits in a task of its own.
            let (counts, wakers): (std::vec::Vec<_>, std::vec::Vec<_>) =
                (0..per_round).map(|_| counter()).unzip();
            let mut recvs: std::vec::Vec<_> = (0..per_round)
                .map(|_| std::boxed::Box::pin(server.recv()))
                .collect();
            for (recv, waker) in recvs.iter_mut().zip(&wakers) {
                let cx = &mut Context::from_waker(waker);
                assert!(recv.as_mut().poll(cx).is_pending());
            }
            assert!(
                counts.iter().all(|c| std::sync::Arc::strong_count(c) == 3),
                "round {round}: each waiting server is in line with its waker"
            );
            drop(recvs);
            drop(wakers);
            for (i, count) in counts.iter().enumerate() {
                // The round's first server took the first server's place, free since the
                // round before left: its waker stays there, for the next server (one
                // waker, replaced by the next round's first).
                let kept = usize::from(i == 0);
                assert_eq!(
                    std::sync::Arc::strong_count(count),
                    1 + kept,
                    "round {round}: server {i}'s waker is gone"
                );
            }
            if let Some(first) = first_before.replace(counts[0].clone()) {
                assert_eq!(
                    std::sync::Arc::strong_count(&first),
                    1,
                    "round {round}: the round before's first server's waker was replaced"
                );
            }
        }
        // And the endpoint still serves.
        let noop = &mut Context::from_waker(Waker::noop());
        let mut call = core::pin::pin!(caller.call(5));
        assert!(call.as_mut().poll(noop).is_pending());
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req + 1).unwrap();
        assert_eq!(call.as_mut().poll(noop), Poll::Ready(Ok(6)));
    }

    /// The queues servers wait on, for the tests above: slots enough for every test.
    trait Queued: DefaultQueue<u32, 64> {}

    impl Queued for crate::queue::InlineQueue {}

    type Separate = crate::queue::Queue<LocalMutex, Envelope<u32>, 64>;

    impl Queued for Separate {}

    fn queued<Q: Queued>() -> Rpc<u32, u32, 64, With<LocalMutex, NoClock, Q>> {
        Rpc::with_queue(Q::NEW, NoClock)
    }

    /// Each scenario above once per queue: `<scenario>::inline` and
    /// `<scenario>::separate_queue`.
    macro_rules! on_both_queues {
        ($($scenario:ident),* $(,)?) => {$(
            mod $scenario {
                #[test]
                fn inline() {
                    super::$scenario::<crate::queue::InlineQueue>();
                }

                #[test]
                fn separate_queue() {
                    super::$scenario::<super::Separate>();
                }
            }
        )*};
    }

    on_both_queues!(
        servers_waiting_for_a_request_sleep_and_each_request_wakes_one,
        a_server_that_comes_later_waits_behind_those_in_line,
        a_receive_made_where_one_ended_waits_behind_those_in_line,
        a_woken_server_that_leaves_passes_its_request_on,
        servers_that_stop_waiting_leave_nothing_behind,
    );

    /// Callers waiting for room in a queue smaller than the endpoint (each holding its
    /// slot) sleep until it is their turn: each request a server takes wakes one, the one
    /// that waited longest.
    fn callers_waiting_for_room_sleep_and_are_served_in_order<Q>(queue: Q)
    where
        Q: crate::queue::RequestQueue<Envelope<u32>>,
    {
        const WAITERS: usize = 5;
        let rpc: Rpc<u32, u32, 8, With<LocalMutex, NoClock, Q>> = Rpc::with_queue(queue, NoClock);
        let (caller, server) = Rpc::split(&rpc);
        let noop = &mut Context::from_waker(Waker::noop());
        let mut sent = std::vec![std::boxed::Box::pin(caller.try_call(0).unwrap())];
        while let Ok(call) = caller.try_call(sent.len() as u32) {
            sent.push(std::boxed::Box::pin(call));
        }
        let full = sent.len();
        let (counts, wakers): (std::vec::Vec<_>, std::vec::Vec<_>) =
            (0..WAITERS).map(|_| counter()).unzip();
        let mut calls: std::vec::Vec<_> = (0..WAITERS)
            .map(|i| std::boxed::Box::pin(caller.call(100 + i as u32)))
            .collect();
        for _ in 0..2 {
            for (call, waker) in calls.iter_mut().zip(&wakers) {
                let cx = &mut Context::from_waker(waker);
                assert!(call.as_mut().poll(cx).is_pending());
            }
        }
        assert!(counts.iter().all(|c| woken(c) == 0), "nobody woken yet");
        let mut answered = std::vec::Vec::new();
        for turn in 0..WAITERS {
            let (req, responder) = server.try_recv().unwrap();
            answered.push(req);
            responder.reply(req).unwrap();
            let now: std::vec::Vec<_> = counts.iter().map(|c| woken(c)).collect();
            // Those before had room, then their reply (the server takes their requests in
            // turn); the next in line has room now; the rest nothing.
            let expected: std::vec::Vec<_> = (0..WAITERS)
                .map(|i| usize::from(i <= turn) + usize::from(i < turn))
                .collect();
            assert_eq!(now, expected, "turn {turn}: room for the next in line only");
            let cx = &mut Context::from_waker(&wakers[turn]);
            assert!(calls[turn].as_mut().poll(cx).is_pending(), "sent now");
        }
        // Everything is answered, in the order sent.
        while let Ok((req, responder)) = server.try_recv() {
            answered.push(req);
            responder.reply(req).unwrap();
        }
        let expected: std::vec::Vec<_> =
            (0..full as u32).chain(100..100 + WAITERS as u32).collect();
        assert_eq!(answered, expected);
        for (i, call) in calls.iter_mut().enumerate() {
            assert_eq!(call.as_mut().poll(noop), Poll::Ready(Ok(100 + i as u32)));
        }
        for (i, call) in sent.iter_mut().enumerate() {
            assert_eq!(call.as_mut().poll(noop), Poll::Ready(Ok(i as u32)));
        }
    }

    #[test]
    fn callers_waiting_for_room_in_a_separate_queue_sleep_and_are_served_in_order() {
        callers_waiting_for_room_sleep_and_are_served_in_order(crate::queue::Queue::<
            LocalMutex,
            Envelope<u32>,
            1,
        >::new());
    }

    #[cfg(feature = "futures-channel")]
    #[test]
    fn callers_waiting_for_room_in_an_mpsc_queue_sleep_and_are_served_in_order() {
        callers_waiting_for_room_sleep_and_are_served_in_order(crate::queue::MpscQueue::new(0));
    }

    /// Callers that time out, or are dropped, while waiting for room in the queue leave no
    /// waker behind (but in the slots they held, which keep their last caller's waker for
    /// the next: the next round's callers replace them), and their slots come back.
    #[cfg(feature = "std")]
    fn callers_that_give_up_waiting_for_room_leave_nothing_behind<Q>(queue: Q)
    where
        Q: crate::queue::RequestQueue<Envelope<u32>>,
    {
        use crate::time::ManualClock;
        let clock = ManualClock::new();
        let rpc: Rpc<u32, u32, 64, With<LocalMutex, ManualClock, Q>> =
            Rpc::with_queue(queue, clock.clone());
        let (caller, server) = Rpc::split(&rpc);
        let held = caller.try_call(0).unwrap();
        let rounds = if cfg!(miri) { 2 } else { 10 };
        let mut before: std::vec::Vec<std::sync::Arc<_>> = std::vec::Vec::new();
        for round in 0..rounds {
            let (counts, wakers): (std::vec::Vec<_>, std::vec::Vec<_>) =
                (0..63).map(|_| counter()).unzip();
            let mut calls: std::vec::Vec<_> = (0..63)
                .map(|i| {
                    let timeout = core::time::Duration::from_millis(1);
                    std::boxed::Box::pin(caller.call_timeout(i, timeout))
                })
                .collect();
            for (call, waker) in calls.iter_mut().zip(&wakers) {
                let cx = &mut Context::from_waker(waker);
                assert!(call.as_mut().poll(cx).is_pending());
            }
            assert!(
                caller.try_reserve().is_err(),
                "round {round}: every slot held"
            );
            clock.advance(core::time::Duration::from_millis(1));
            // Half time out, half are dropped.
            for (i, (call, waker)) in calls.iter_mut().zip(&wakers).enumerate().skip(32) {
                let cx = &mut Context::from_waker(waker);
                assert_eq!(
                    call.as_mut().poll(cx),
                    Poll::Ready(Err(CallError::Timeout)),
                    "call {i}"
                );
            }
            drop(calls);
            drop(wakers);
            for (i, count) in before.iter().enumerate() {
                assert_eq!(
                    std::sync::Arc::strong_count(count),
                    1,
                    "round {round}: call {i} of the round before left nothing"
                );
            }
            before = counts;
            let permits: std::vec::Vec<_> = (0..63).map(|_| caller.try_reserve()).collect();
            assert!(
                permits.iter().all(Result::is_ok),
                "round {round}: their slots are back"
            );
        }
        let stats = rpc.stats();
        assert_eq!((stats.timeout, stats.cancelled), (31 * rounds, 32 * rounds));
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req + 1).unwrap();
        let noop = &mut Context::from_waker(Waker::noop());
        assert_eq!(
            std::boxed::Box::pin(held).as_mut().poll(noop),
            Poll::Ready(Ok(1))
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn callers_that_give_up_waiting_for_room_in_a_separate_queue_leave_nothing_behind() {
        callers_that_give_up_waiting_for_room_leave_nothing_behind(crate::queue::Queue::<
            LocalMutex,
            Envelope<u32>,
            1,
        >::new());
    }

    #[cfg(feature = "futures-channel")]
    #[test]
    fn callers_that_give_up_waiting_for_room_in_an_mpsc_queue_leave_nothing_behind() {
        callers_that_give_up_waiting_for_room_leave_nothing_behind(crate::queue::MpscQueue::new(0));
    }
}
