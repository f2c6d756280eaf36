//! The responding side: [`Server`] receives requests, each with a [`Responder`].

use core::fmt;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use super::{CloseMode, Endpoint, InstantOf, Role, TOKEN};
use crate::error::TryRecvError;
use crate::reply::{RequestInfo, Ticket};
use crate::stats::StatsSnapshot;
use crate::time::{Clock, Instant};
use crate::wait_list::WaitEntry;

/// A received request and its reply handle.
pub type Request<P> = (<<P as Deref>::Target as Endpoint>::Req, Responder<P>);

/// The responding end of an endpoint. Cheap to clone (several tasks may serve the same
/// endpoint); every clone is counted, and dropping the last one closes the endpoint.
pub struct Server<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    pub(super) rpc: P,
}

impl<P> Server<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    /// A server handle for the endpoint behind `endpoint`.
    pub fn new(endpoint: P) -> Self {
        endpoint.attach(TOKEN, Role::Server);
        Self { rpc: endpoint }
    }

    /// Waits for the next request. `None` once the endpoint is closed (after draining, with
    /// [`CloseMode::Drain`]) or every caller is gone and nothing is queued.
    ///
    /// Requests whose callers gave up while they were queued are skipped.
    ///
    /// # Cancellation
    ///
    /// Dropping the future takes nothing from the queue: no request is lost.
    // Always inlined, as `Caller::call`: the future (with its 40-byte place in line) is then
    // built where it is awaited, not built and copied there.
    #[inline(always)]
    pub fn recv(&self) -> RecvFuture<'_, P> {
        RecvFuture {
            server: self,
            // SAFETY: `RecvFuture`'s `Drop` takes it out of line.
            in_line: unsafe { InLine::new() },
        }
    }

    /// The next request if one is queued now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] or [`TryRecvError::Closed`].
    pub fn try_recv(&self) -> Result<Request<P>, TryRecvError> {
        let (req, ticket, info) = self.rpc.try_recv(TOKEN)?;
        Ok((req, self.responder(ticket, info)))
    }

    /// Polls for the next request, waiting with `in_line`.
    pub(super) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        in_line: Pin<&mut InLine>,
    ) -> Poll<Option<Request<P>>> {
        in_line
            .recv(&*self.rpc, cx)
            .map(|next| next.map(|(req, ticket, info)| (req, self.responder(ticket, info))))
    }

    fn responder(&self, ticket: Ticket, info: RequestInfo<InstantOf<P::Target>>) -> Responder<P> {
        Responder {
            rpc: self.rpc.clone(),
            ticket,
            info,
        }
    }

    /// Shuts the endpoint down; see [`Rpc::close`](crate::Rpc::close).
    pub fn close(&self, mode: CloseMode) -> usize {
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

impl<P> Clone for Server<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    fn clone(&self) -> Self {
        Self::new(self.rpc.clone())
    }
}

impl<P> Drop for Server<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn drop(&mut self) {
        self.rpc.detach(TOKEN, Role::Server);
    }
}

impl<P> fmt::Debug for Server<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// A server's place in line while it waits for a request, pinned inside the future that
/// waits (as a slot waiter's, see [`wait_list`](crate::wait_list)): any number of servers
/// can wait, allocating nothing, and one that stops waiting takes its place along.
pub(super) struct InLine {
    entry: WaitEntry,
    /// Whether `entry` may be in line: from a `Pending` poll to the next `Ready`.
    waiting: bool,
}

impl InLine {
    /// # Safety
    ///
    /// Its owner calls [`leave`](Self::leave) before dropping it, with the endpoint it
    /// waited on.
    pub(super) const unsafe fn new() -> Self {
        Self {
            entry: WaitEntry::new(),
            waiting: false,
        }
    }

    /// [`Endpoint::poll_recv`], in line with this entry.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    pub(super) fn recv<E: Endpoint + ?Sized>(
        self: Pin<&mut Self>,
        rpc: &E,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(E::Req, Ticket, RequestInfo<InstantOf<E>>)>> {
        // SAFETY: only the entry is pinned, and it is never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: pinned (above); the owner calls `leave` before dropping it (`new`).
        let polled = unsafe { rpc.poll_recv(TOKEN, cx, Pin::new_unchecked(&this.entry)) };
        this.waiting = polled.is_pending();
        polled
    }

    /// [`Endpoint::poll_recv_many`], in line with this entry.
    #[cfg(feature = "alloc")]
    #[allow(clippy::type_complexity)]
    pub(super) fn recv_many<E: Endpoint + ?Sized>(
        self: Pin<&mut Self>,
        rpc: &E,
        cx: &mut Context<'_>,
        limit: usize,
        take: &mut dyn FnMut(E::Req, Ticket, RequestInfo<InstantOf<E>>, InstantOf<E>),
    ) -> Poll<Option<usize>> {
        // SAFETY: only the entry is pinned, and it is never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: pinned (above); the owner calls `leave` before dropping it (`new`).
        let polled =
            unsafe { rpc.poll_recv_many(TOKEN, cx, Pin::new_unchecked(&this.entry), limit, take) };
        this.waiting = polled.is_pending();
        polled
    }

    /// Stops waiting, if it waits: its entry leaves the line of `rpc`.
    #[inline(always)]
    pub(super) fn leave<E: Endpoint + ?Sized>(self: Pin<&mut Self>, rpc: &E) {
        if self.waiting {
            self.stop(rpc);
        }
    }

    #[inline(never)]
    fn stop<E: Endpoint + ?Sized>(self: Pin<&mut Self>, rpc: &E) {
        // SAFETY: only the entry is pinned, and it is never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        this.waiting = false;
        // SAFETY: pinned (above).
        rpc.stop_receiving(TOKEN, unsafe { Pin::new_unchecked(&this.entry) });
    }
}

/// Waits for the next request; made by [`Server::recv`].
///
/// # Cancellation
///
/// Dropping it takes nothing from the queue, and its place in line goes with it. One kept
/// alive but not polled (left aside in a `select!` loop, say) may hold the wake-up of one
/// request until it is polled or dropped: another waiting server gets the next one.
///
/// It keeps that place inside itself (any number of servers can wait, allocating nothing):
/// it is `!Unpin`. `.await` it, or pin it to poll it by hand.
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, P>
where
    P: Deref,
    P::Target: Endpoint,
{
    server: &'a Server<P>,
    in_line: InLine,
}

impl<P> Future for RecvFuture<'_, P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    type Output = Option<Request<P>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: only `in_line` is pinned, and it is never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let in_line = unsafe { Pin::new_unchecked(&mut this.in_line) };
        this.server.poll_recv(cx, in_line)
    }
}

impl<P> Drop for RecvFuture<'_, P>
where
    P: Deref,
    P::Target: Endpoint,
{
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `in_line` is pinned structurally and is still in place here.
        let in_line = unsafe { Pin::new_unchecked(&mut self.in_line) };
        in_line.leave(&*self.server.rpc);
    }
}

impl<P> fmt::Debug for RecvFuture<'_, P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}

/// The reply handle of one request.
///
/// Replying is synchronous and never waits. Dropping the handle without replying (or a
/// panic that unwinds through it) gives the caller [`CallError::Lost`](crate::CallError::Lost),
/// so a caller never waits for a reply that will not come.
pub struct Responder<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    rpc: P,
    ticket: Ticket,
    info: RequestInfo<InstantOf<P::Target>>,
}

impl<P> Responder<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    /// Sends the reply to the caller.
    ///
    /// # Errors
    ///
    /// The value comes back when the caller is no longer waiting (it timed out or dropped
    /// its call), and when the call's deadline has passed, even if the caller has not
    /// noticed yet: the caller's deadline decides, and the caller gets
    /// [`CallError::Timeout`](crate::CallError::Timeout). Nothing is delivered to anyone
    /// else.
    pub fn reply(
        self,
        value: <P::Target as Endpoint>::Resp,
    ) -> Result<(), <P::Target as Endpoint>::Resp> {
        // Taken apart first: a replied call is not lost, so `Drop` is not to run, even if
        // replying unwinds (a waker's code panics); only the endpoint handle is dropped
        // then. (Kept whole, with a flag for `Drop`, the handle was written to memory for
        // the unwinding path: 9 stores per reply on x86-64.)
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is not used again and never dropped, so `rpc` is moved out of it
        // once, and nothing else of it needs dropping (`ticket` and `info` are `Copy`).
        let rpc = unsafe { core::ptr::read(&this.rpc) };
        rpc.reply(TOKEN, this.ticket, value)
    }

    /// The request's id (unique per endpoint).
    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// What is known about the request: id, start and deadline.
    pub fn info(&self) -> RequestInfo<InstantOf<P::Target>> {
        self.info
    }

    /// When the caller stops waiting, if it set a deadline.
    pub fn deadline(&self) -> Option<InstantOf<P::Target>> {
        self.info.deadline
    }

    /// Time left until the caller's deadline (zero once passed); `None` without a deadline.
    pub fn time_left(&self) -> Option<Duration> {
        let now = self.rpc.endpoint_clock(TOKEN).now();
        self.info
            .deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Whether the caller stopped waiting: it gave up or dropped its call, or its deadline
    /// has passed (even if the caller has not noticed yet). Work for it can stop: a reply
    /// would be handed back.
    pub fn is_cancelled(&self) -> bool {
        self.rpc.is_cancelled(TOKEN, self.ticket) || self.time_left() == Some(Duration::ZERO)
    }

    /// Completes when the caller stops waiting; race it against the work to stop early.
    /// A caller that times out is seen when its own timer fires: to stop at the deadline
    /// itself, race the work against a sleep until [`deadline`](Self::deadline) too.
    ///
    /// # Cancellation
    ///
    /// Dropping it changes nothing but its own registration, which goes with it.
    pub fn cancelled(&self) -> CancelledFuture<'_, P> {
        CancelledFuture {
            responder: self,
            entry: WaitEntry::new(),
            waiting: false,
        }
    }
}

impl<P> Drop for Responder<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    #[inline(always)]
    fn drop(&mut self) {
        // Not replied: `reply` takes the handle apart without dropping it.
        self.lose();
    }
}

impl<P> Responder<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    /// Dropped without a reply: the caller gets `Lost` (or `Timeout`, past its deadline).
    #[inline(never)]
    fn lose(&mut self) {
        self.rpc.lose(TOKEN, self.ticket);
    }
}

impl<P> fmt::Debug for Responder<P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("id", &self.info.id)
            .field("deadline", &self.info.deadline)
            .finish_non_exhaustive()
    }
}

/// Completes when the caller of a request stops waiting; made by
/// [`Responder::cancelled`].
///
/// # Cancellation
///
/// Dropping it changes nothing but its own place in line, which goes with it.
///
/// It keeps that place inside itself (any number of them can wait, allocating nothing): it
/// is `!Unpin`. `.await` it, or pin it to poll it by hand.
#[must_use = "futures do nothing unless polled"]
pub struct CancelledFuture<'a, P>
where
    P: Deref,
    P::Target: Endpoint,
{
    responder: &'a Responder<P>,
    /// Its place in line while it waits, pinned (only ever lent pinned, from `poll`).
    entry: WaitEntry,
    /// Whether `entry` may be in line.
    waiting: bool,
}

impl<P> Drop for CancelledFuture<'_, P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn drop(&mut self) {
        if self.waiting {
            // SAFETY: the entry is pinned structurally and is still in place here.
            let entry = unsafe { Pin::new_unchecked(&self.entry) };
            self.responder.rpc.stop_watching(TOKEN, entry);
        }
    }
}

impl<P> Future for CancelledFuture<'_, P>
where
    P: Deref,
    P::Target: Endpoint,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: only the entry is pinned, and it is never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        let responder = this.responder;
        // SAFETY: the entry is pinned (above), and `Drop` takes it out of line while
        // `waiting`; the endpoint takes it out itself when the call is cancelled.
        let cancelled = unsafe {
            let entry = Pin::new_unchecked(&this.entry);
            responder
                .rpc
                .poll_cancelled(TOKEN, responder.ticket, cx, entry)
        };
        this.waiting = cancelled.is_pending();
        cancelled
    }
}

impl<P> fmt::Debug for CancelledFuture<'_, P>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelledFuture").finish_non_exhaustive()
    }
}
