//! The calling side: [`Caller`], [`CallFuture`] and reservations ([`Permit`]).

use core::fmt;
use core::future::Future;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;

use super::many::{CallManyFuture, ManyCall};
use super::{Endpoint, GiveUp, InstantOf, Role, Started};
use crate::error::{CallError, TryCallError};
use crate::reply::{CallResult, Ticket};
use crate::stats::{Outcome, StatsSnapshot};
use crate::time::{fired, Clock, Instant as _, Timer};

type SleepOf<E> = <<E as Endpoint>::Clock as Clock>::Sleep;
/// The endpoint a handle `R` reaches.
type Of<R> = <R as Deref>::Target;
/// One call of a set, for an endpoint `E`.
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
    /// A caller handle for the endpoint behind `rpc`.
    pub fn new(rpc: P) -> Self {
        rpc.attach(Role::Caller);
        Self { rpc }
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
        let now = self.rpc.endpoint_clock().now();
        let ticket = self.rpc.try_start(req, now, None)?;
        Ok(CallFuture::sent(&*self.rpc, ticket, now, None, None))
    }

    /// Sends every unsent call of `calls`, in order, from this one task, and waits until
    /// each has its outcome; resolves to `calls`, where each [`ManyCall`] then holds its
    /// own reply or error.
    ///
    /// The calls are ordinary calls (a slot each, one outcome each, counted once), but they
    /// share the task: the set is woken once for however many replies have arrived, so the
    /// executor's cost is paid per set rather than per call. A call that finds no free
    /// slot waits for one and holds back the calls after it.
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
        self.rpc.close_endpoint(mode)
    }

    /// The endpoint's stats; see [`Rpc::stats`](crate::Rpc::stats).
    pub fn stats(&self) -> StatsSnapshot {
        self.rpc.endpoint_stats()
    }

    /// The endpoint's number of reply slots: the most calls outstanding at once.
    pub fn capacity(&self) -> usize {
        self.rpc.endpoint_capacity()
    }

    /// The endpoint's clock.
    pub fn clock(&self) -> &<P::Target as Endpoint>::Clock {
        self.rpc.endpoint_clock()
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
    pub fn call_timeout(
        &self,
        req: <P::Target as Endpoint>::Req,
        timeout: Duration,
    ) -> CallFuture<&'_ P::Target> {
        let clock = self.rpc.endpoint_clock();
        match clock.now().checked_add(timeout) {
            Some(deadline) => self.call_deadline(req, deadline),
            None => self.call(req),
        }
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
    pub fn call_deadline(
        &self,
        req: <P::Target as Endpoint>::Req,
        deadline: InstantOf<P::Target>,
    ) -> CallFuture<&'_ P::Target> {
        let sleep = self.rpc.endpoint_clock().sleep_until(deadline);
        CallFuture::start(&*self.rpc, req, None, Some(deadline), Some(sleep))
    }

    /// [`call_many`](Self::call_many) with one deadline for the whole set, `timeout` from
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
        match self.rpc.endpoint_clock().now().checked_add(timeout) {
            Some(deadline) => self.call_many_deadline(calls, deadline),
            None => self.call_many(calls),
        }
    }

    /// [`call_many`](Self::call_many) with one deadline for the whole set, the instant
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
        let sleep = self.rpc.endpoint_clock().sleep_until(deadline);
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
        let clock = self.rpc.endpoint_clock();
        let now = clock.now();
        let deadline = now.checked_add(timeout);
        let ticket = self.rpc.try_start(req, now, deadline)?;
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
        self.rpc.detach(Role::Caller);
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

pin_project! {
    /// One call: sends the request (waiting for a slot if needed), then waits for the reply
    /// or the deadline. Output: `Result<Resp, CallError>`; [`timed`](Self::timed) for the
    /// reply's timing too.
    ///
    /// It keeps its timer's sleep pinned inside itself (no box per call), so it is `Unpin`
    /// only if the clock's [`Sleep`](Clock::Sleep) is (tokio's is not): `.await` it, or pin
    /// it (`core::pin::pin!`, `Box::pin`) to poll it by hand or in a `select!`.
    ///
    /// # Cancellation
    ///
    /// Dropping it ends the call, counted as `Cancelled` unless its outcome was already
    /// decided (a reply that arrived but was not read yet counts as `Replied`):
    ///
    /// - a `call` future before it was first polled: nothing was sent, and nothing is
    ///   counted (a `try_call` or `Permit` future was sent, or holds a slot, from the start:
    ///   it counts as `Cancelled` like the cases below);
    /// - while waiting for a slot or queue room: the request is dropped, nothing was sent;
    /// - while queued: the slot is freed at once; the responder will skip the request;
    /// - while a responder works on it: the slot is freed at once, the responder's
    ///   `is_cancelled()` turns true and its `cancelled()` completes, and its reply, if it
    ///   still sends one, is handed back to it;
    /// - after the reply arrived but before it was read: the reply is dropped.
    ///
    /// In every case the slot returns to the pool and nothing is leaked.
    ///
    /// `R` is how it reaches the endpoint: `&'a Rpc<..>` for a call made by a [`Caller`],
    /// which it borrows, or an owned handle (`Arc<Rpc<..>>`, say) for a call made from an
    /// owned [`Permit`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<R>
    where
        R: Deref,
        R::Target: Endpoint,
    {
        // Everything but the sleep; it ends the call when dropped, before the sleep goes.
        call: Call<R>,
        // Fires at the deadline; gone once the call has finished. The only pinned field.
        #[pin]
        sleep: Option<SleepOf<Of<R>>>,
    }
}

/// A [`CallFuture`] but its sleep: nothing in it is pinned.
struct Call<R>
where
    R: Deref,
    R::Target: Endpoint,
{
    rpc: R,
    /// The request, until it is sent.
    req: Option<<Of<R> as Endpoint>::Req>,
    /// Its slot: reserved (by a permit, or while it waits for queue room), or sent.
    ticket: Option<Ticket>,
    /// Its registration while it waits for a free slot.
    waiting: Option<usize>,
    /// When the call was made.
    started_at: InstantOf<Of<R>>,
    deadline: Option<InstantOf<Of<R>>>,
    stage: Stage,
}

/// A call's sleep, pinned in its [`CallFuture`].
type PinnedSleep<'a, E> = Pin<&'a mut Option<SleepOf<E>>>;

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> CallFuture<R> {
    /// A call of `req`, made now, in the slot `held` if it has one.
    fn start(
        rpc: R,
        req: E::Req,
        held: Option<Ticket>,
        deadline: Option<InstantOf<E>>,
        sleep: Option<SleepOf<E>>,
    ) -> Self {
        let started_at = rpc.endpoint_clock().now();
        let call = Call {
            rpc,
            req: Some(req),
            ticket: held,
            waiting: None,
            started_at,
            deadline,
            stage: Stage::Fresh,
        };
        Self { call, sleep }
    }

    /// A call sent already (`try_call`), at `started_at`.
    fn sent(
        rpc: R,
        ticket: Ticket,
        started_at: InstantOf<E>,
        deadline: Option<InstantOf<E>>,
        sleep: Option<SleepOf<E>>,
    ) -> Self {
        let call = Call {
            rpc,
            req: None,
            ticket: Some(ticket),
            waiting: None,
            started_at,
            deadline,
            stage: Stage::Sent,
        };
        Self { call, sleep }
    }

    /// The call's deadline, if it has one.
    pub fn deadline(&self) -> Option<InstantOf<E>> {
        self.call.deadline
    }

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
        let this = self.project();
        this.call.poll_timed(this.sleep, cx)
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Call<R> {
    /// Ends the call with `result`: no more polls, and the sleep (a timer entry on some
    /// runtimes) goes now rather than when the future is dropped.
    fn finish<T>(&mut self, mut sleep: PinnedSleep<'_, E>, result: T) -> Poll<T> {
        self.stage = Stage::Done;
        sleep.set(None);
        Poll::Ready(result)
    }

    /// Whether the deadline has passed. Asked at most once per poll: a sleep that has fired
    /// may panic if polled again, and the call then finishes in the same poll.
    fn deadline_passed(sleep: &mut PinnedSleep<'_, E>, cx: &mut Context<'_>) -> bool {
        fired(sleep.as_mut(), cx)
    }

    /// [`CallFuture::poll_timed`].
    #[allow(clippy::type_complexity)]
    fn poll_timed(
        &mut self,
        mut sleep: PinnedSleep<'_, E>,
        cx: &mut Context<'_>,
    ) -> Poll<CallResult<E::Resp, InstantOf<E>>> {
        if let Stage::Fresh | Stage::Start = self.stage {
            self.stage = Stage::Start;
            let started = self.rpc.poll_start(
                cx,
                &mut self.req,
                &mut self.ticket,
                &mut self.waiting,
                self.started_at,
                self.deadline,
            );
            match started {
                // Waiting: a reply cannot have come yet, and will wake us.
                Poll::Ready(Ok(Started::Waiting)) => {
                    self.stage = Stage::Sent;
                    if !Self::deadline_passed(&mut sleep, cx) {
                        return Poll::Pending;
                    }
                    let ticket = self.ticket.expect("a sent call holds a ticket");
                    return self.time_out(sleep, ticket);
                }
                Poll::Ready(Ok(Started::Decided)) => self.stage = Stage::Sent,
                Poll::Ready(Err(error)) => return self.finish(sleep, Err(error)),
                Poll::Pending => {
                    if !Self::deadline_passed(&mut sleep, cx) {
                        return Poll::Pending;
                    }
                    self.req = None;
                    let result = match self.ticket.take() {
                        Some(ticket) => self
                            .rpc
                            .give_up(ticket, GiveUp::Timeout)
                            .unwrap_or(Err(CallError::Timeout)),
                        None => {
                            self.rpc.leave(&mut self.waiting, Some(Outcome::Timeout));
                            Err(CallError::Timeout)
                        }
                    };
                    return self.finish(sleep, result);
                }
            }
        }
        let Stage::Sent = self.stage else {
            panic!("CallFuture polled after it completed");
        };
        let ticket = self.ticket.expect("a sent call holds a ticket");
        if let Poll::Ready(result) = self.rpc.poll_reply(ticket, cx) {
            return self.finish(sleep, result);
        }
        if !Self::deadline_passed(&mut sleep, cx) {
            return Poll::Pending;
        }
        self.time_out(sleep, ticket)
    }

    /// The deadline passed while the call was sent. A reply that raced with it wins.
    fn time_out(
        &mut self,
        sleep: PinnedSleep<'_, E>,
        ticket: Ticket,
    ) -> Poll<CallResult<E::Resp, InstantOf<E>>> {
        let result = self
            .rpc
            .give_up(ticket, GiveUp::Timeout)
            .unwrap_or(Err(CallError::Timeout));
        self.finish(sleep, result)
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Future for CallFuture<R> {
    type Output = Result<E::Resp, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_timed(cx)
            .map(|result| result.map(|timed| timed.value))
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Drop for Call<R> {
    #[inline(always)]
    fn drop(&mut self) {
        // Most calls are done when dropped: only the others have work to do.
        if !matches!(self.stage, Stage::Done) {
            self.end();
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Call<R> {
    /// Ends a call dropped before its outcome was read.
    #[inline(never)]
    fn end(&mut self) {
        match (&self.stage, self.ticket) {
            (Stage::Done, _) => {}
            (_, Some(ticket)) => drop(self.rpc.give_up(ticket, GiveUp::Dropped)),
            // Waiting for a slot: it takes its registration along.
            (Stage::Start, None) => {
                self.rpc.leave(&mut self.waiting, Some(Outcome::Cancelled));
            }
            (_, None) => {}
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> fmt::Debug for CallFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.call.stage {
            Stage::Fresh | Stage::Start => "start",
            Stage::Sent => "sent",
            Stage::Done => "done",
        };
        f.debug_struct("CallFuture")
            .field("stage", &stage)
            .field("deadline", &self.call.deadline)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A [`CallFuture`] that resolves to the reply with its timing; made by
    /// [`CallFuture::timed`]. `Unpin` when its `CallFuture` is.
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

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Future for TimedCallFuture<R> {
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
    /// Its registration while it waits for a free slot.
    waiting: Option<usize>,
}

// `ReserveFuture` never pins its handle.
impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Unpin for ReserveFuture<R> {}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> ReserveFuture<R> {
    fn new(rpc: R) -> Self {
        Self { rpc, waiting: None }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Drop for ReserveFuture<R> {
    fn drop(&mut self) {
        if self.waiting.is_some() {
            // Waiting for a slot: it takes its registration along.
            self.rpc.leave(&mut self.waiting, None);
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E> + Clone> Future for ReserveFuture<R> {
    type Output = Result<Permit<R>, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.rpc.poll_reserve(cx, &mut this.waiting).map(|result| {
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
        let ticket = rpc.try_reserve()?;
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
        let now = self.rpc.endpoint_clock().now();
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
        let sleep = self.rpc.endpoint_clock().sleep_until(deadline);
        let held = self.ticket.take();
        CallFuture::start(self.rpc.clone(), req, held, Some(deadline), Some(sleep))
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> Drop for Permit<R> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            drop(self.rpc.give_up(ticket, GiveUp::Unused));
        }
    }
}

impl<E: Endpoint + ?Sized, R: Deref<Target = E>> fmt::Debug for Permit<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}
