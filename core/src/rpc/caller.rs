//! The calling side: [`Caller`], [`CallFuture`] and reservations ([`Permit`]).

use core::fmt;
use core::future::Future;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::many::{CallManyFuture, ManyCall};
use super::{Endpoint, GiveUp, InstantOf, Role, Started, TOKEN};
use crate::error::{CallError, TryCallError};
use crate::reply::{CallResult, ReplyAs, Ticket, Value, WithTiming};
use crate::stats::{Outcome, StatsSnapshot};
use crate::time::{fired, Clock, Instant as _, Timer};
use crate::wait_list::WaitEntry;

type SleepOf<E> = <<E as Endpoint>::Clock as Clock>::Sleep;
/// The endpoint a handle `R` reaches.
type Of<R> = <R as Deref>::Target;
/// One call of a `call_many`, for an endpoint `E`.
type ManyOf<E> = ManyCall<<E as Endpoint>::Req, <E as Endpoint>::Resp>;

/// The calling end of an endpoint. Cheap to clone; every clone is counted (see
/// [`Rpc`](crate::Rpc) on what dropping the last one does).
pub struct Caller<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    rpc: P,
}

impl<P> Caller<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    /// A caller handle for the endpoint behind `endpoint`.
    pub fn new(endpoint: P) -> Self {
        endpoint.attach(TOKEN, Role::Caller);
        Self { rpc: endpoint }
    }

    /// Sends `req` and waits for the reply, with no deadline. Waits for a free slot first if
    /// all are in use.
    ///
    /// # Errors
    ///
    /// [`CallError::Closed`] or [`CallError::Lost`]; never `Timeout`.
    ///
    /// # Cancellation
    ///
    /// See [`CallFuture`].
    #[inline(always)]
    pub fn call(&self, req: <P::Target as Endpoint>::Req) -> CallFuture<&'_ P::Target> {
        CallFuture::start(&*self.rpc, req, None, None, None)
    }

    /// Starts a call now, without waiting: fails at once when every slot (or the queue) is
    /// in use. The returned future awaits the reply, so this is also how to send now and
    /// await later.
    ///
    /// # Errors
    ///
    /// [`TryCallError::Full`] (backpressure) or [`TryCallError::Closed`], with the request.
    ///
    /// # Cancellation
    ///
    /// The request is queued before this returns: dropping the returned future counts as
    /// `Cancelled` and frees the slot at once (see [`CallFuture`]).
    #[must_use = "the request is sent: dropping the returned future cancels the call"]
    pub fn try_call(
        &self,
        req: <P::Target as Endpoint>::Req,
    ) -> Result<CallFuture<&'_ P::Target>, TryCallError<<P::Target as Endpoint>::Req>> {
        let now = self.rpc.endpoint_clock(TOKEN).now();
        let ticket = self.rpc.try_start(TOKEN, req, now, None)?;
        Ok(CallFuture::sent(&*self.rpc, ticket, now, None, None))
    }

    /// Sends every unsent call of `calls`, in order, from this one task, and waits until
    /// each has its outcome; resolves to `calls`, where each [`ManyCall`] then holds its
    /// own reply or error.
    ///
    /// The calls are ordinary calls (a slot each, one outcome each, counted once), but they
    /// share the task: it is woken once for however many replies have arrived, so the
    /// executor's cost is paid once for many calls rather than once per call. A call that
    /// finds no free slot waits for one and holds back the calls after it.
    ///
    /// # Errors
    ///
    /// Per call, in its outcome: [`CallError::Closed`] or [`CallError::Lost`]; never
    /// `Timeout`.
    ///
    /// # Cancellation
    ///
    /// See [`CallManyFuture`].
    pub fn call_many<'a>(
        &'a self,
        calls: &'a mut [ManyOf<P::Target>],
    ) -> CallManyFuture<'a, P::Target> {
        CallManyFuture::new(&*self.rpc, calls, None, None)
    }

    /// Reserves a reply slot, waiting for one if all are in use. The [`Permit`] then sends
    /// one request without waiting; dropping it unused gives the slot back.
    ///
    /// # Errors
    ///
    /// The future resolves to [`CallError::Closed`] after shutdown.
    ///
    /// # Cancellation
    ///
    /// Dropping the future before it completes reserves nothing.
    pub fn reserve(&self) -> ReserveFuture<&'_ P::Target> {
        ReserveFuture::new(&*self.rpc)
    }

    /// Reserves a reply slot now, or says why not.
    ///
    /// # Errors
    ///
    /// [`TryCallError::Full`] when every slot is in use, [`TryCallError::Closed`] after
    /// shutdown.
    pub fn try_reserve(&self) -> Result<Permit<&'_ P::Target>, TryCallError<()>> {
        Permit::try_new(&*self.rpc)
    }

    /// Shuts the endpoint down; see [`Rpc::close`](crate::Rpc::close).
    pub fn close(&self, mode: super::CloseMode) -> usize {
        self.rpc.close_endpoint(TOKEN, mode)
    }

    /// The endpoint's stats; see [`Rpc::stats`](crate::Rpc::stats).
    pub fn stats(&self) -> StatsSnapshot {
        self.rpc.endpoint_stats(TOKEN)
    }

    /// The endpoint's number of reply slots: the most calls outstanding at once.
    pub fn capacity(&self) -> usize {
        self.rpc.endpoint_capacity(TOKEN)
    }

    /// The endpoint's clock.
    pub fn clock(&self) -> &<P::Target as Endpoint>::Clock {
        self.rpc.endpoint_clock(TOKEN)
    }
}

impl<P> Caller<P>
where
    P: Deref,
    P::Target: Endpoint,
    <P::Target as Endpoint>::Clock: Timer,
{
    /// Sends `req` and waits for the reply for at most `timeout` (queueing included). The
    /// responder sees the deadline.
    ///
    /// # Errors
    ///
    /// [`CallError::Timeout`], [`CallError::Closed`] or [`CallError::Lost`].
    ///
    /// # Cancellation
    ///
    /// See [`CallFuture`].
    // Always inlined, as `call`: the future is built where it is awaited, not copied there.
    #[inline(always)]
    pub fn call_timeout(
        &self,
        req: <P::Target as Endpoint>::Req,
        timeout: Duration,
    ) -> CallFuture<&'_ P::Target> {
        let clock = self.rpc.endpoint_clock(TOKEN);
        // A deadline past the clock's range is none.
        let deadline = clock.now().checked_add(timeout);
        let sleep = deadline.map(|deadline| clock.sleep_until(deadline));
        CallFuture::start(&*self.rpc, req, None, deadline, sleep)
    }

    /// Sends `req` and waits for the reply until the instant `deadline`.
    ///
    /// # Errors
    ///
    /// [`CallError::Timeout`], [`CallError::Closed`] or [`CallError::Lost`].
    ///
    /// # Cancellation
    ///
    /// See [`CallFuture`].
    #[inline(always)]
    pub fn call_deadline(
        &self,
        req: <P::Target as Endpoint>::Req,
        deadline: InstantOf<P::Target>,
    ) -> CallFuture<&'_ P::Target> {
        let sleep = self.rpc.endpoint_clock(TOKEN).sleep_until(deadline);
        CallFuture::start(&*self.rpc, req, None, Some(deadline), Some(sleep))
    }

    /// [`call_many`](Self::call_many) with one deadline for all the calls, `timeout` from
    /// now: calls without an outcome by then end with [`CallError::Timeout`]. Responders
    /// see the deadline.
    ///
    /// # Errors
    ///
    /// Per call, in its outcome: [`CallError::Timeout`], [`CallError::Closed`] or
    /// [`CallError::Lost`].
    ///
    /// # Cancellation
    ///
    /// See [`CallManyFuture`].
    pub fn call_many_timeout<'a>(
        &'a self,
        calls: &'a mut [ManyOf<P::Target>],
        timeout: Duration,
    ) -> CallManyFuture<'a, P::Target> {
        match self.rpc.endpoint_clock(TOKEN).now().checked_add(timeout) {
            Some(deadline) => self.call_many_deadline(calls, deadline),
            None => self.call_many(calls),
        }
    }

    /// [`call_many`](Self::call_many) with one deadline for all the calls, the instant
    /// `deadline`.
    ///
    /// # Errors
    ///
    /// As [`call_many_timeout`](Self::call_many_timeout).
    ///
    /// # Cancellation
    ///
    /// See [`CallManyFuture`].
    pub fn call_many_deadline<'a>(
        &'a self,
        calls: &'a mut [ManyOf<P::Target>],
        deadline: InstantOf<P::Target>,
    ) -> CallManyFuture<'a, P::Target> {
        let sleep = self.rpc.endpoint_clock(TOKEN).sleep_until(deadline);
        CallManyFuture::new(&*self.rpc, calls, Some(deadline), Some(sleep))
    }

    /// [`try_call`](Self::try_call) with a timeout on the wait for the reply.
    ///
    /// # Errors
    ///
    /// As [`try_call`](Self::try_call).
    ///
    /// # Cancellation
    ///
    /// As [`try_call`](Self::try_call).
    #[must_use = "the request is sent: dropping the returned future cancels the call"]
    pub fn try_call_timeout(
        &self,
        req: <P::Target as Endpoint>::Req,
        timeout: Duration,
    ) -> Result<CallFuture<&'_ P::Target>, TryCallError<<P::Target as Endpoint>::Req>> {
        let clock = self.rpc.endpoint_clock(TOKEN);
        let now = clock.now();
        let deadline = now.checked_add(timeout);
        let ticket = self.rpc.try_start(TOKEN, req, now, deadline)?;
        let sleep = deadline.map(|d| clock.sleep_until(d));
        Ok(CallFuture::sent(&*self.rpc, ticket, now, deadline, sleep))
    }
}

/// Reservations that own a clone of the handle (an `Arc`, say) instead of borrowing the
/// caller, for code that must store them: a `tower::Service` keeps the permit from
/// `poll_ready` until `call`, and its response future must be `'static`.
impl<P> Caller<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    /// [`reserve`](Self::reserve), with a future and a permit that own a clone of the
    /// handle.
    ///
    /// # Errors
    ///
    /// As [`reserve`](Self::reserve).
    ///
    /// # Cancellation
    ///
    /// As [`reserve`](Self::reserve).
    pub fn reserve_owned(&self) -> ReserveFuture<P> {
        ReserveFuture::new(self.rpc.clone())
    }

    /// [`try_reserve`](Self::try_reserve), with a permit that owns a clone of the handle.
    ///
    /// # Errors
    ///
    /// As [`try_reserve`](Self::try_reserve).
    pub fn try_reserve_owned(&self) -> Result<Permit<P>, TryCallError<()>> {
        Permit::try_new(self.rpc.clone())
    }
}

impl<P> Clone for Caller<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    fn clone(&self) -> Self {
        Self::new(self.rpc.clone())
    }
}

impl<P> Drop for Caller<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn drop(&mut self) {
        self.rpc.detach(TOKEN, Role::Caller);
    }
}

impl<P> fmt::Debug for Caller<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller").finish_non_exhaustive()
    }
}

enum Stage {
    /// Made, not polled yet: nothing happened (unless it holds a reserved slot).
    Fresh,
    /// Not sent yet: waiting for a slot or for room in the queue.
    Start,
    /// Sent: waiting for the reply.
    Sent,
    Done,
}

/// One call: sends the request (waiting for a slot if needed), then waits for the reply or
/// the deadline. Output: `Result<Resp, CallError>`; [`timed`](Self::timed) for the reply's
/// timing too.
///
/// It keeps its timer's sleep, and its place in line while it waits for a free slot (or, with
/// a queue outside the endpoint, for room in it), pinned inside itself (no allocation per call, and no limit on how many calls wait): it is
/// `!Unpin`. `.await` it, or pin it (`core::pin::pin!`, `Box::pin`) to poll it by hand or
/// in a `select!`.
///
/// # Cancellation
///
/// Dropping it ends the call, counted as `Cancelled` unless its outcome was already decided
/// (a reply that arrived but was not read yet counts as `Replied`):
///
/// - a `call` future before it was first polled: nothing was sent, and nothing is counted
///   (a `try_call` or `Permit` future was sent, or holds a slot, from the start: it counts
///   as `Cancelled` like the cases below);
/// - while waiting for a slot or queue room: the request is dropped, nothing was sent;
/// - while queued: the slot is freed at once; the responder will skip the request;
/// - while a responder works on it: the slot is freed at once, the responder's
///   `is_cancelled()` turns true and its `cancelled()` completes, and its reply, if it still
///   sends one, is handed back to it;
/// - after the reply arrived but before it was read: the reply is dropped.
///
/// In every case the slot returns to the pool and nothing is leaked.
///
/// `R` is how it reaches the endpoint: `&'a Rpc<..>` for a call made by a [`Caller`], which
/// it borrows, or an owned handle (`Arc<Rpc<..>>`, say) for a call made from an owned
/// [`Permit`].
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<R>
where
    R: Deref,
    R::Target: Endpoint,
{
    rpc: R,
    /// The request, until it is sent.
    req: Option<<Of<R> as Endpoint>::Req>,
    /// Its slot: reserved (by a permit, or while it waits for queue room), or sent.
    ticket: Option<Ticket>,
    /// Its place in line while it waits for a free slot, or for room in the queue.
    entry: WaitEntry,
    /// When the call was made.
    started_at: InstantOf<Of<R>>,
    deadline: Option<InstantOf<Of<R>>>,
    /// Fires at the deadline; gone once the call has finished.
    sleep: Option<SleepOf<Of<R>>>,
    stage: Stage,
}

// Pinning: `sleep` and `entry` are the fields that `CallFuture` pins (structurally: they
// are pinned whenever the future is; `entry`'s `PhantomPinned` makes the future `!Unpin`).
// No code moves them out of a pinned future: the sleep is polled only through
// `deadline_passed`, which pins it in place, and replaced only in place by `finish`
// (dropping the old sleep where it lies); the entry is only lent, pinned, to the endpoint,
// which links it into its list of slot waiters (or its queue's of room waiters), and `Drop`
// takes it out of that list (`end`) before it goes. The request and the rest are never pinned.

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> CallFuture<R> {
    /// A call of `req`, made now, in the slot `held` if it has one. Always inlined, as
    /// `Caller::call`: the future is then built where it is awaited rather than built and
    /// copied there (it is large: its place in line is 40 bytes), 25 instructions per call.
    #[inline(always)]
    fn start(
        rpc: R,
        req: E::Req,
        held: Option<Ticket>,
        deadline: Option<InstantOf<E>>,
        sleep: Option<SleepOf<E>>,
    ) -> Self {
        let started_at = rpc.endpoint_clock(TOKEN).now();
        Self {
            rpc,
            req: Some(req),
            ticket: held,
            entry: WaitEntry::new(),
            started_at,
            deadline,
            sleep,
            stage: Stage::Fresh,
        }
    }

    /// A call sent already (`try_call`), at `started_at`.
    fn sent(
        rpc: R,
        ticket: Ticket,
        started_at: InstantOf<E>,
        deadline: Option<InstantOf<E>>,
        sleep: Option<SleepOf<E>>,
    ) -> Self {
        Self {
            rpc,
            req: None,
            ticket: Some(ticket),
            entry: WaitEntry::new(),
            started_at,
            deadline,
            sleep,
            stage: Stage::Sent,
        }
    }

    /// The call's deadline, if it has one.
    pub fn deadline(&self) -> Option<InstantOf<E>> {
        self.deadline
    }

    /// Ends the call with `result`: no more polls, and the sleep (a timer entry on some
    /// runtimes) goes now rather than when the future is dropped.
    fn finish<T>(&mut self, result: T) -> Poll<T> {
        self.stage = Stage::Done;
        self.sleep = None;
        Poll::Ready(result)
    }

    /// Whether the deadline has passed. Asked at most once per poll: a sleep that has fired
    /// may panic if polled again, and the call then finishes in the same poll.
    ///
    /// # Safety
    ///
    /// `self` is pinned (see the pinning note after `CallFuture`).
    unsafe fn deadline_passed(&mut self, cx: &mut Context<'_>) -> bool {
        // SAFETY: `self` is pinned (this function's contract), so its sleep is: the sleep
        // is pinned structurally and never moved out of the future.
        let sleep = unsafe { Pin::new_unchecked(&mut self.sleep) };
        fired(sleep, cx)
    }

    /// Drives the call, its reply read as `read` says.
    ///
    /// # Safety
    ///
    /// `self` is pinned.
    unsafe fn poll_pinned<A: ReplyAs<E::Resp, E::Stamp>>(
        &mut self,
        cx: &mut Context<'_>,
        read: A,
    ) -> Poll<Result<A::Out, CallError>> {
        if let Stage::Fresh | Stage::Start = self.stage {
            if let (Stage::Start, Some(_)) = (&self.stage, self.ticket) {
                // Waiting for room in the queue: until there may be some.
                // SAFETY: as for `poll_start` below.
                if unsafe { self.rpc.poll_room(TOKEN, cx, self.entry()) }.is_pending() {
                    // SAFETY: `self` is pinned (this function's contract).
                    if !unsafe { self.deadline_passed(cx) } {
                        return Poll::Pending;
                    }
                    return self.give_up_waiting(read);
                }
            }
            self.stage = Stage::Start;
            // SAFETY: `self` is pinned (this function's contract), and so is its entry; the
            // entry is taken out of the endpoint before the future ends (`leave` on a
            // timeout here, in `end` when dropped; the endpoint takes it out when the call
            // starts or fails).
            let started = unsafe {
                self.rpc.poll_start(
                    TOKEN,
                    cx,
                    &mut self.req,
                    &mut self.ticket,
                    Pin::new_unchecked(&self.entry),
                    self.started_at,
                    self.deadline,
                )
            };
            match started {
                // Waiting: a reply cannot have come yet, and will wake us.
                Poll::Ready(Ok(Started::Waiting)) => {
                    self.stage = Stage::Sent;
                    // SAFETY: `self` is pinned (this function's contract).
                    if !unsafe { self.deadline_passed(cx) } {
                        return Poll::Pending;
                    }
                    let ticket = self.ticket.expect("a sent call holds a ticket");
                    return self.time_out(ticket, read);
                }
                Poll::Ready(Ok(Started::Decided)) => self.stage = Stage::Sent,
                Poll::Ready(Err(error)) => return self.finish(Err(error)),
                Poll::Pending => {
                    // SAFETY: `self` is pinned (this function's contract).
                    if !unsafe { self.deadline_passed(cx) } {
                        return Poll::Pending;
                    }
                    return self.give_up_waiting(read);
                }
            }
        }
        let Stage::Sent = self.stage else {
            panic!("CallFuture polled after it completed");
        };
        let ticket = self.ticket.expect("a sent call holds a ticket");
        if let Poll::Ready(result) = self.rpc.poll_reply(TOKEN, ticket, cx, read) {
            return self.finish(result);
        }
        // SAFETY: `self` is pinned (this function's contract).
        if !unsafe { self.deadline_passed(cx) } {
            return Poll::Pending;
        }
        self.time_out(ticket, read)
    }

    /// The deadline passed while the call waited for a slot, or for room in the queue (with
    /// its slot).
    fn give_up_waiting<A: ReplyAs<E::Resp, E::Stamp>>(
        &mut self,
        read: A,
    ) -> Poll<Result<A::Out, CallError>> {
        self.req = None;
        let result = match self.ticket.take() {
            Some(ticket) => {
                self.rpc.leave_room(TOKEN, self.entry());
                self.rpc
                    .give_up(TOKEN, ticket, GiveUp::Timeout, read)
                    .unwrap_or(Err(CallError::Timeout))
            }
            None => {
                self.leave(Outcome::Timeout);
                Err(CallError::Timeout)
            }
        };
        self.finish(result)
    }

    /// The deadline passed while the call was sent. A reply that raced with it wins.
    fn time_out<A: ReplyAs<E::Resp, E::Stamp>>(
        &mut self,
        ticket: Ticket,
        read: A,
    ) -> Poll<Result<A::Out, CallError>> {
        let result = self
            .rpc
            .give_up(TOKEN, ticket, GiveUp::Timeout, read)
            .unwrap_or(Err(CallError::Timeout));
        self.finish(result)
    }
}

/// The reply with its timing, from an endpoint that stamps its calls' times
/// ([`Stamped`](crate::time::Stamped), the default).
impl<E, R> CallFuture<R>
where
    E: Endpoint<Stamp = InstantOf<E>> + ?Sized,
    R: Deref<Target = E>,
{
    /// The same call, resolving to the reply with its timing ([`Timed`](crate::Timed)): the
    /// Go seed's `TimedResponse`.
    ///
    /// # Cancellation
    ///
    /// As [`CallFuture`].
    pub fn timed(self) -> TimedCallFuture<R> {
        TimedCallFuture { inner: self }
    }

    /// Drives the call, for hand-written futures: the reply with its timing, or the
    /// [`CallError`] as for [`Caller::call_timeout`]. Both futures are built on it.
    ///
    /// # Panics
    ///
    /// If polled again after it returned `Ready`.
    #[allow(clippy::type_complexity)]
    pub fn poll_timed(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<CallResult<E::Resp, InstantOf<E>>> {
        // SAFETY: only the sleep and the entry are pinned, and `poll_pinned` keeps them in
        // place (see the pinning note after `CallFuture`); nothing else of it is pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came pinned.
        unsafe { this.poll_pinned(cx, WithTiming) }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Future for CallFuture<R> {
    type Output = Result<E::Resp, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as in `poll_timed`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came pinned.
        unsafe { this.poll_pinned(cx, Value) }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Drop for CallFuture<R> {
    #[inline(always)]
    fn drop(&mut self) {
        // Most calls are done when dropped: only the others have work to do.
        if !matches!(self.stage, Stage::Done) {
            self.end();
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> CallFuture<R> {
    /// Ends a call dropped before its outcome was read.
    #[inline(never)]
    fn end(&mut self) {
        match (&self.stage, self.ticket) {
            (Stage::Done, _) => {}
            // Waiting for room in the queue, with its slot: its place in line goes too.
            (Stage::Start, Some(ticket)) => {
                self.rpc.leave_room(TOKEN, self.entry());
                drop(self.rpc.give_up(TOKEN, ticket, GiveUp::Dropped, Value));
            }
            (_, Some(ticket)) => drop(self.rpc.give_up(TOKEN, ticket, GiveUp::Dropped, Value)),
            // Waiting for a slot: it takes its place in line along.
            (Stage::Start, None) => self.leave(Outcome::Cancelled),
            (_, None) => {}
        }
    }

    /// The call stops waiting for a slot, ended with `outcome`.
    fn leave(&mut self, outcome: Outcome) {
        self.rpc.leave(TOKEN, self.entry(), Some(outcome));
    }

    fn entry(&self) -> Pin<&WaitEntry> {
        // SAFETY: the entry is pinned structurally, and stays where it is until the future
        // is dropped (see the pinning note after `CallFuture`); an entry of a future never
        // polled (never pinned) is in no list, and taking it out does nothing.
        unsafe { Pin::new_unchecked(&self.entry) }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> fmt::Debug for CallFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Fresh | Stage::Start => "start",
            Stage::Sent => "sent",
            Stage::Done => "done",
        };
        f.debug_struct("CallFuture")
            .field("stage", &stage)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A [`CallFuture`] that resolves to the reply with its timing; made by
    /// [`CallFuture::timed`]. `!Unpin`, as its `CallFuture`.
    ///
    /// # Cancellation
    ///
    /// As [`CallFuture`].
    #[must_use = "futures do nothing unless polled"]
    pub struct TimedCallFuture<R>
    where
        R: Deref,
        R::Target: Endpoint,
    {
        #[pin]
        inner: CallFuture<R>,
    }
}

impl<E, R> Future for TimedCallFuture<R>
where
    E: Endpoint<Stamp = InstantOf<E>> + ?Sized,
    R: Deref<Target = E>,
{
    type Output = CallResult<E::Resp, InstantOf<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll_timed(cx)
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> fmt::Debug for TimedCallFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// Waits for a free reply slot; made by [`Caller::reserve`].
///
/// # Cancellation
///
/// Dropping it reserves nothing.
///
/// `R` is how it reaches the endpoint, as for [`CallFuture`].
#[must_use = "futures do nothing unless polled"]
pub struct ReserveFuture<R>
where
    R: Deref,
    R::Target: Endpoint,
{
    rpc: R,
    /// Its place in line while it waits for a free slot (pinned: it makes the future
    /// `!Unpin`).
    entry: WaitEntry,
    /// Whether `entry` may be in line.
    waiting: bool,
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> ReserveFuture<R> {
    fn new(rpc: R) -> Self {
        Self {
            rpc,
            entry: WaitEntry::new(),
            waiting: false,
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Drop for ReserveFuture<R> {
    fn drop(&mut self) {
        if self.waiting {
            // SAFETY: the entry is pinned structurally (it is only ever lent pinned, from
            // `poll`), and is still in place here.
            let entry = unsafe { Pin::new_unchecked(&self.entry) };
            // Waiting for a slot: it takes its place in line along.
            self.rpc.leave(TOKEN, entry, None);
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E> + Clone> Future for ReserveFuture<R> {
    type Output = Result<Permit<R>, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: only the entry is pinned, and it is never moved: it is lent pinned to the
        // endpoint and taken out in `Drop`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: the entry is pinned (above), and `Drop` takes it out of the endpoint's
        // line while `waiting`; the endpoint takes it out itself when it gives a slot.
        let reserved = unsafe {
            this.rpc
                .poll_reserve(TOKEN, cx, Pin::new_unchecked(&this.entry))
        };
        this.waiting = reserved.is_pending();
        reserved.map(|result| {
            result.map(|ticket| Permit {
                rpc: this.rpc.clone(),
                ticket: Some(ticket),
            })
        })
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> fmt::Debug for ReserveFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveFuture").finish_non_exhaustive()
    }
}

/// A reserved reply slot: the next request goes out without waiting for one.
///
/// Dropping an unused permit returns the slot to the pool at once, so a caller that
/// reserves and never calls leaves no capacity behind. No call was made, so nothing is
/// counted (a `tower` readiness probe is not a call), also if a shutdown came meanwhile.
///
/// `R` is how it reaches the endpoint, as for [`CallFuture`]; an owned permit (from
/// [`Caller::reserve_owned`]) makes owned call futures.
#[must_use = "a permit holds a reply slot until it is used or dropped"]
pub struct Permit<R>
where
    R: Deref,
    R::Target: Endpoint,
{
    rpc: R,
    ticket: Option<Ticket>,
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Permit<R> {
    fn try_new(rpc: R) -> Result<Self, TryCallError<()>> {
        let ticket = rpc.try_reserve(TOKEN)?;
        Ok(Self {
            rpc,
            ticket: Some(ticket),
        })
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E> + Clone> Permit<R> {
    /// Sends `req` in the reserved slot and waits for the reply.
    ///
    /// # Errors
    ///
    /// As [`Caller::call`].
    ///
    /// # Cancellation
    ///
    /// See [`CallFuture`]; the slot is held from the start, so dropping the future even
    /// before its first poll counts as `Cancelled` and frees the slot.
    pub fn call(mut self, req: E::Req) -> CallFuture<R> {
        CallFuture::start(self.rpc.clone(), req, self.ticket.take(), None, None)
    }
}

impl<E, R> Permit<R>
where
    E: Endpoint + ?Sized,
    E::Clock: Timer,
    R: Deref<Target = E> + Clone,
{
    /// Sends `req` in the reserved slot and waits for the reply for at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Caller::call_timeout`].
    ///
    /// # Cancellation
    ///
    /// As [`call`](Self::call).
    pub fn call_timeout(self, req: E::Req, timeout: Duration) -> CallFuture<R> {
        let now = self.rpc.endpoint_clock(TOKEN).now();
        match now.checked_add(timeout) {
            Some(deadline) => self.call_deadline(req, deadline),
            None => self.call(req),
        }
    }

    /// Sends `req` in the reserved slot and waits for the reply until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`Caller::call_timeout`].
    ///
    /// # Cancellation
    ///
    /// As [`call`](Self::call).
    pub fn call_deadline(mut self, req: E::Req, deadline: InstantOf<E>) -> CallFuture<R> {
        let sleep = self.rpc.endpoint_clock(TOKEN).sleep_until(deadline);
        let held = self.ticket.take();
        CallFuture::start(self.rpc.clone(), req, held, Some(deadline), Some(sleep))
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Drop for Permit<R> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            drop(self.rpc.give_up(TOKEN, ticket, GiveUp::Unused, Value));
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> fmt::Debug for Permit<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    //! The call future's pinned sleep, under miri too: a sleep that must not move, and
    //! checks that it is never moved once polled, times calls out and is dropped in place.

    use core::cell::Cell;
    use core::marker::PhantomPinned;
    use core::pin::pin;
    use core::task::Waker;

    use pin_project_lite::pin_project;

    use super::*;
    use crate::lock::LocalMutex;
    use crate::rpc::With;
    use crate::time::{ManualClock, ManualInstant, ManualSleep};
    use crate::Rpc;

    pin_project! {
        /// The manual clock's sleep, `!Unpin`.
        struct StaySleep {
            #[pin]
            sleep: ManualSleep,
            // Its address when first polled; 0 before.
            at: Cell<usize>,
            #[pin]
            pinned: PhantomPinned,
        }

        impl PinnedDrop for StaySleep {
            fn drop(this: Pin<&mut Self>) {
                stays(&this);
            }
        }
    }

    /// Panics if `sleep` was polled at another address.
    fn stays(sleep: &StaySleep) {
        let here = core::ptr::from_ref(sleep).addr();
        match sleep.at.get() {
            0 => sleep.at.set(here),
            at => assert_eq!(at, here, "a pinned sleep moved"),
        }
    }

    impl Future for StaySleep {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            stays(&self);
            self.project().sleep.poll(cx)
        }
    }

    #[derive(Clone, Default)]
    struct StayClock(ManualClock);

    impl Clock for StayClock {
        type Instant = ManualInstant;
        type Sleep = StaySleep;

        fn now(&self) -> ManualInstant {
            self.0.now()
        }
    }

    impl Timer for StayClock {
        fn sleep_until(&self, deadline: ManualInstant) -> StaySleep {
            StaySleep {
                sleep: self.0.sleep_until(deadline),
                at: Cell::new(0),
                pinned: PhantomPinned,
            }
        }
    }

    type Stay = Rpc<u32, u32, 2, With<LocalMutex, StayClock>>;

    fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_pinned_sleep_times_a_call_out_and_goes_with_the_outcome() {
        let clock = StayClock::default();
        let rpc = Stay::new(clock.clone());
        let (caller, server) = Rpc::split(&rpc);
        let mut call = pin!(caller.call_timeout(1, Duration::from_millis(5)));
        assert!(poll(call.as_mut()).is_pending());
        assert_eq!(clock.0.sleepers(), 1);
        let (req, responder) = server.try_recv().unwrap();
        assert_eq!(req, 1);
        clock.0.advance(Duration::from_millis(4));
        assert!(poll(call.as_mut()).is_pending());
        clock.0.advance(Duration::from_millis(1));
        assert_eq!(poll(call.as_mut()), Poll::Ready(Err(CallError::Timeout)));
        assert_eq!(clock.0.sleepers(), 0, "dropped in place at the outcome");
        assert_eq!(responder.reply(2), Err(2));
        assert_eq!(rpc.stats().timeout, 1);
    }

    #[test]
    fn a_pinned_sleep_goes_with_a_reply_and_with_a_dropped_call() {
        let clock = StayClock::default();
        let rpc = Stay::new(clock.clone());
        let (caller, server) = Rpc::split(&rpc);
        let mut call = pin!(caller.call_timeout(3, Duration::from_millis(50)).timed());
        assert!(poll(call.as_mut()).is_pending());
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req * 2).unwrap();
        let Poll::Ready(Ok(timed)) = poll(call.as_mut()) else {
            panic!("the reply was sent");
        };
        assert_eq!(timed.value, 6);
        assert_eq!(clock.0.sleepers(), 0);

        {
            let mut dropped =
                pin!(caller.call_deadline(4, clock.0.after(Duration::from_millis(50))));
            assert!(poll(dropped.as_mut()).is_pending());
            assert!(poll(dropped.as_mut()).is_pending());
            assert_eq!(clock.0.sleepers(), 1);
        }
        assert_eq!(clock.0.sleepers(), 0, "dropped in place with the call");
        let stats = rpc.stats();
        assert_eq!((stats.replied, stats.cancelled), (1, 1));
    }
}
