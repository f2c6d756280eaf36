//! Serving in batches: the Go seed's `BatchProcessor`, over an ordinary endpoint.
//!
//! Callers use the usual [`Caller`](crate::Caller) (with timeouts, `try_call`,
//! cancellation); the server side gathers requests with the [`Batch`] state machine and
//! runs one handler per batch. Each caller gets its own result, or its own error.
//!
//! The serving future works on many requests at once: it takes as many queued requests as
//! the batch has room for under one lock, checks a whole batch for cancelled callers under
//! one lock, and sends a whole batch's replies under one lock (waking a task that waits for
//! several of them once). Between those steps it holds each call's ticket, not a
//! [`Responder`]: dropping the future ends those calls with `Lost`, as dropping their
//! responders would.
//!
//! # Memory
//!
//! The serving future keeps its buffers from one batch to the next: the batch being
//! gathered (recycled into the [`Batch`] machine), the tickets, the requests and
//! results of a [`BatchJob`], and the box the handler's future runs in (overwritten in
//! place). With [`serve_batch_jobs`](Server::serve_batch_jobs), whose handler hands its
//! [`BatchJob`] back, a steady stream of batches allocates nothing. With
//! [`serve_batches`](Server::serve_batches), the handler owns the `Vec` it is given and the
//! `Vec` it returns, so each batch allocates those two (or one, if the handler collects its
//! results in place).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::server::InLine;
#[cfg(doc)]
use super::server::Responder;
use super::{caught, Endpoint, InstantOf, Server, TOKEN};
use crate::batch::{Batch, BatchConfig, WrongResultCount};
use crate::reply::Ticket;
use crate::stats::StatsSnapshot;
use crate::time::{fired, Clock, Timer};

/// Why one item of a batch has no result.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BatchError<E> {
    /// The handler reported an error for this item.
    Item(E),
    /// The handler returned a different number of results than the batch had items, so no
    /// result can be matched to its caller; every caller of that batch gets this.
    WrongCount(WrongResultCount),
}

impl<E: fmt::Display> fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Item(error) => write!(f, "batch item failed: {error}"),
            Self::WrongCount(wrong) => wrong.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for BatchError<E> {}

/// The reply type of a batching endpoint.
pub type BatchResult<T, E> = Result<T, BatchError<E>>;

/// What a [`serve_batches`](Server::serve_batches) did, returned when it ends.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct BatchReport {
    /// Batches handed to the handler.
    pub batches: u64,
    /// Items in those batches.
    pub items: u64,
    /// Items dropped before their batch ran because their callers had stopped waiting.
    pub skipped: u64,
    /// Batches whose handler returned the wrong number of results.
    pub wrong_count: u64,
    /// Batches whose handler panicked (with `std`, which catches the panic): their callers
    /// got `Lost`, and serving went on.
    pub panicked: u64,
    /// The endpoint's stats at the end.
    pub stats: StatsSnapshot,
}

impl fmt::Display for BatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} batches, {} items ({} skipped, {} wrong-count batches, {} panicked); {}",
            self.batches, self.items, self.skipped, self.wrong_count, self.panicked, self.stats
        )
    }
}

/// One batch for a [`serve_batch_jobs`](Server::serve_batch_jobs) handler: the requests,
/// in arrival order, and room for one result per request, in the same order.
///
/// The handler reads (or drains) the requests, pushes the results, and hands the job back;
/// the server keeps both buffers for the next batch, so a batch allocates nothing once the
/// buffers have grown to the batch size. The results buffer comes empty, with room for one
/// result per request.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "std")]
/// # futures_executor::block_on(async {
/// use core::time::Duration;
/// use rsvp::batch::{BatchConfig, BatchJob, BatchResult};
/// use rsvp::lock::LocalMutex;
/// use rsvp::rpc::With;
/// use rsvp::time::ManualClock;
/// use rsvp::{CloseMode, Rpc};
///
/// type Doubler = Rpc<u64, BatchResult<u64, ()>, 8, With<LocalMutex, ManualClock>>;
/// let rpc = Doubler::new(ManualClock::new());
/// let (caller, server) = Rpc::split(&rpc);
/// let config = BatchConfig::new(2, Duration::from_millis(10)).unwrap();
/// let serving = server.serve_batch_jobs(config, |mut job: BatchJob<u64, u64, ()>| async move {
///     job.answer_each(|x| Ok(x * 2));
///     job
/// });
/// let (a, b) = (caller.try_call(1).unwrap(), caller.try_call(2).unwrap());
/// rpc.close(CloseMode::Drain); // serve what is queued, then end
/// let report = serving.await;
/// assert_eq!((a.await, b.await), (Ok(Ok(2)), Ok(Ok(4))));
/// assert_eq!((report.batches, report.items), (1, 2));
/// # });
/// ```
pub struct BatchJob<Req, T, E> {
    requests: Vec<Req>,
    results: Vec<Result<T, E>>,
}

impl<Req, T, E> BatchJob<Req, T, E> {
    const fn new() -> Self {
        Self {
            requests: Vec::new(),
            results: Vec::new(),
        }
    }

    /// The batch's requests, in arrival order (fewer once some were drained).
    pub fn requests(&self) -> &[Req] {
        &self.requests
    }

    /// Takes the requests out, in arrival order, keeping the buffer for the next batch.
    pub fn drain_requests(&mut self) -> alloc::vec::Drain<'_, Req> {
        self.requests.drain(..)
    }

    /// Adds the result for the next request, in the requests' order.
    pub fn push(&mut self, result: Result<T, E>) {
        self.results.push(result);
    }

    /// Pushes `answer(request)` for each request, in order: a handler whose work is one
    /// function per request.
    pub fn answer_each(&mut self, answer: impl FnMut(&Req) -> Result<T, E>) {
        self.results.extend(self.requests.iter().map(answer));
    }

    /// The results pushed so far.
    pub fn results(&self) -> &[Result<T, E>] {
        &self.results
    }
}

/// Results are pushed in order, as by [`push`](BatchJob::push).
impl<Req, T, E> Extend<Result<T, E>> for BatchJob<Req, T, E> {
    fn extend<I: IntoIterator<Item = Result<T, E>>>(&mut self, iter: I) {
        self.results.extend(iter);
    }
}

impl<Req, T, E> fmt::Debug for BatchJob<Req, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchJob")
            .field("requests", &self.requests.len())
            .field("results", &self.results.len())
            .finish()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// How a batch handler takes a batch and gives its results back: implemented by
/// [`BatchFn`] (for [`serve_batches`](Server::serve_batches)) and [`BatchJobFn`] (for
/// [`serve_batch_jobs`](Server::serve_batch_jobs)); it only names the handler in
/// [`BatchServeFuture`]'s type.
pub trait BatchHandler<Req, T, E>: sealed::Sealed {
    /// The handler's future.
    type Future: Future;
    #[doc(hidden)]
    fn start(&mut self, job: &mut BatchJob<Req, T, E>) -> Self::Future;
    #[doc(hidden)]
    fn finish(output: <Self::Future as Future>::Output, job: &mut BatchJob<Req, T, E>);
}

/// A [`serve_batches`](Server::serve_batches) handler: takes the requests as a `Vec`,
/// returns the results as a `Vec`.
pub struct BatchFn<F>(F);

/// A [`serve_batch_jobs`](Server::serve_batch_jobs) handler: takes a [`BatchJob`] and hands
/// it back with the results.
pub struct BatchJobFn<F>(F);

impl<F> sealed::Sealed for BatchFn<F> {}
impl<F> sealed::Sealed for BatchJobFn<F> {}

impl<F, Fut, Req, T, E> BatchHandler<Req, T, E> for BatchFn<F>
where
    F: FnMut(Vec<Req>) -> Fut,
    Fut: Future<Output = Vec<Result<T, E>>>,
{
    type Future = Fut;
    fn start(&mut self, job: &mut BatchJob<Req, T, E>) -> Fut {
        // The handler owns this `Vec`: the next batch gathers its requests in a new one.
        (self.0)(core::mem::take(&mut job.requests))
    }
    fn finish(output: Vec<Result<T, E>>, job: &mut BatchJob<Req, T, E>) {
        job.results = output;
    }
}

impl<F, Fut, Req, T, E> BatchHandler<Req, T, E> for BatchJobFn<F>
where
    F: FnMut(BatchJob<Req, T, E>) -> Fut,
    Fut: Future<Output = BatchJob<Req, T, E>>,
{
    type Future = Fut;
    fn start(&mut self, job: &mut BatchJob<Req, T, E>) -> Fut {
        (self.0)(core::mem::replace(job, BatchJob::new()))
    }
    fn finish(output: BatchJob<Req, T, E>, job: &mut BatchJob<Req, T, E>) {
        *job = output;
    }
}

impl<F> fmt::Debug for BatchFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BatchFn")
    }
}

impl<F> fmt::Debug for BatchJobFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BatchJobFn")
    }
}

type ReqOf<P> = <<P as Deref>::Target as Endpoint>::Req;

impl<P, T, E> Server<P>
where
    P: Deref + Clone,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    <P::Target as Endpoint>::Clock: Timer,
{
    /// Serves requests in batches: gathers them until `config.max_size()` are waiting, or
    /// until `config.max_wait()` has passed since the **first** request of the batch
    /// arrived, then calls `handler` once with all of them.
    ///
    /// With `std`, a handler that panics (when called, or while its future is polled)
    /// ends only its batch: the panic is caught, that batch's callers get
    /// [`CallError::Lost`](crate::CallError::Lost), and serving goes on
    /// ([`BatchReport::panicked`] counts it). A panic in dropping the handler's future
    /// after it finished is caught too, and the batch's results stand. Without `std` a
    /// panic is not caught: it ends the firmware as its panic handler decides.
    ///
    /// The handler returns one result per request, in order. Each caller gets its own
    /// result; a handler that returns the wrong number of results gives every caller in
    /// that batch [`BatchError::WrongCount`], so nothing is lost silently. Requests whose
    /// callers stopped waiting while their batch was being gathered are left out of it
    /// (checked when the batch starts; a caller that stops later sees its result dropped).
    ///
    /// One batch runs at a time; requests arriving meanwhile wait in the queue
    /// (backpressure). On shutdown, what was gathered is flushed as a last batch before
    /// this returns its report. The future owns this server handle.
    ///
    /// A `max_size` above the endpoint's [`capacity`](Server::capacity) counts as the
    /// capacity: no more calls can be waiting, so a batch holding them all runs at once.
    ///
    /// The handler owns the `Vec`s it takes and returns, so each batch allocates them; use
    /// [`serve_batch_jobs`](Self::serve_batch_jobs) to allocate nothing per batch.
    ///
    /// # Cancellation
    ///
    /// Dropping the future drops the batch being gathered or run: those callers get `Lost`.
    /// It also drops this server handle: if it was the last one, queued calls end with
    /// `Closed`.
    pub fn serve_batches<F, Fut>(
        self,
        config: BatchConfig,
        handler: F,
    ) -> BatchServeFuture<P, BatchFn<F>>
    where
        F: FnMut(Vec<ReqOf<P>>) -> Fut,
        Fut: Future<Output = Vec<Result<T, E>>>,
    {
        BatchServeFuture::new(self, config, BatchFn(handler))
    }

    /// [`serve_batches`](Self::serve_batches) with a handler that reuses the server's
    /// buffers: it gets a [`BatchJob`] (the requests, and room for the results), pushes one
    /// result per request, and hands the job back. Once its buffers have grown to the batch
    /// size, serving allocates nothing per batch.
    ///
    /// A handler that returns a job with the wrong number of results gives every caller in
    /// that batch [`BatchError::WrongCount`], as for `serve_batches`.
    ///
    /// # Cancellation
    ///
    /// As [`serve_batches`](Self::serve_batches).
    pub fn serve_batch_jobs<F, Fut>(
        self,
        config: BatchConfig,
        handler: F,
    ) -> BatchServeFuture<P, BatchJobFn<F>>
    where
        F: FnMut(BatchJob<ReqOf<P>, T, E>) -> Fut,
        Fut: Future<Output = BatchJob<ReqOf<P>, T, E>>,
    {
        BatchServeFuture::new(self, config, BatchJobFn(handler))
    }
}

type SleepOf<P> = <<<P as Deref>::Target as Endpoint>::Clock as Clock>::Sleep;

pin_project! {
    /// The future of [`Server::serve_batches`] and [`Server::serve_batch_jobs`]; `H` is the
    /// handler ([`BatchFn`] or [`BatchJobFn`]).
    ///
    /// It keeps the batch window's sleep pinned inside itself (no box per window), so it is
    /// `Unpin` only if the clock's sleep is.
    ///
    /// # Cancellation
    ///
    /// See [`Server::serve_batches`].
    #[must_use = "futures do nothing unless polled"]
    pub struct BatchServeFuture<P, H>
    where
        P: Deref,
        P::Target: Endpoint,
        H: BatchHandlerOf<P>,
    {
        // Everything but the sleep; it ends the calls it holds when dropped.
        serving: Serving<P, H>,
        // The sleep for the open batch's window (made for `serving.window`). The only
        // pinned field.
        #[pin]
        sleep: Option<SleepOf<P>>,
    }
}

/// A [`BatchServeFuture`] but its sleep: nothing in it is pinned.
struct Serving<P, H>
where
    P: Deref,
    P::Target: Endpoint,
    H: BatchHandlerOf<P>,
{
    server: Server<P>,
    handler: H,
    /// The calls of the batch being gathered; their requests wait in `job`.
    batch: Batch<Ticket, InstantOf<P::Target>>,
    /// The running batch's handler future, if one runs. The box is made once and
    /// overwritten in place for each batch, so running a batch allocates nothing.
    running: Pin<Box<Option<H::Future>>>,
    /// The running batch's calls, in batch order; empty between batches. The future answers
    /// them (or, if dropped, ends them with `Lost`).
    tickets: Vec<Ticket>,
    /// The buffers the handler borrows; between batches, `job.requests` gathers the
    /// requests of the open batch, in the order of `batch`.
    job: BatchJob<ReqOf<P>, H::T, H::E>,
    /// The deadline the window's sleep was made for, while there is one.
    window: Option<InstantOf<P::Target>>,
    intake_ended: bool,
    report: BatchReport,
    /// Its place in line while it waits for requests, boxed (once per serve) so that
    /// nothing here is pinned.
    in_line: Pin<Box<InLine>>,
}

/// [`BatchHandler`] for the request type of `P`'s endpoint, naming the result's `T` and
/// `E`.
pub trait BatchHandlerOf<P>: BatchHandler<ReqOf<P>, Self::T, Self::E>
where
    P: Deref,
    P::Target: Endpoint,
{
    /// The value type of each item's result.
    type T;
    /// The error type of each item's result.
    type E;
}

impl<P, H, T, E> BatchHandlerOf<P> for H
where
    P: Deref,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    H: BatchHandler<ReqOf<P>, T, E>,
{
    type T = T;
    type E = E;
}

impl<P, H, T, E> BatchServeFuture<P, H>
where
    P: Deref + Clone,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    <P::Target as Endpoint>::Clock: Timer,
    H: BatchHandlerOf<P, T = T, E = E>,
{
    fn new(server: Server<P>, config: BatchConfig, handler: H) -> Self {
        let stats = server.stats();
        // At most `capacity` calls are outstanding: a batch holding them all runs at once,
        // and its buffer is never reserved larger than that.
        let config = config.with_max_size_at_most(server.capacity());
        let serving = Serving {
            server,
            handler,
            batch: Batch::new(config),
            running: Box::pin(None),
            tickets: Vec::new(),
            job: BatchJob::new(),
            window: None,
            intake_ended: false,
            report: BatchReport {
                batches: 0,
                items: 0,
                skipped: 0,
                wrong_count: 0,
                panicked: 0,
                stats,
            },
            // SAFETY: `Serving`'s `Drop` takes it out of line.
            in_line: Box::pin(unsafe { InLine::new() }),
        };
        Self {
            serving,
            sleep: None,
        }
    }
}

impl<P, H, T, E> Serving<P, H>
where
    P: Deref + Clone,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    <P::Target as Endpoint>::Clock: Timer,
    H: BatchHandlerOf<P, T = T, E = E>,
{
    /// Runs the batch of `tickets` (whose requests are in `job.requests`). The first
    /// `waited` of them were gathered in earlier polls: their callers may have stopped
    /// waiting since, so they are checked, in one lock, and left out if so. The others were
    /// taken just now.
    fn start(&mut self, tickets: Vec<Ticket>, waited: usize) {
        // It takes no request while the batch runs: its place in line goes (a wake-up it was
        // given for a queued request passes to another server).
        self.in_line.as_mut().leave(&*self.server.rpc);
        // The tickets' buffer becomes the running batch's; the previous one gathers the next.
        let previous = core::mem::replace(&mut self.tickets, tickets);
        self.batch.recycle(previous);
        let skipped = self
            .server
            .rpc
            .forget_cancelled(TOKEN, &mut self.tickets[..waited]);
        if skipped > 0 {
            // Their callers stopped waiting: left out, and their requests dropped.
            self.report.skipped += skipped as u64;
            let mut tickets = self.tickets.iter();
            self.job
                .requests
                .retain(|_| tickets.next() != Some(&Ticket::NONE));
            self.tickets.retain(|ticket| *ticket != Ticket::NONE);
        }
        if self.tickets.is_empty() {
            return;
        }
        // Room for all results at once: a buffer that a handler took (`serve_batches`)
        // comes back empty, and growing it push by push would reallocate several times.
        self.job.results.reserve(self.tickets.len());
        self.report.batches += 1;
        self.report.items += self.tickets.len() as u64;
        let (handler, job) = (&mut self.handler, &mut self.job);
        match caught(|| handler.start(job)) {
            Some(handler) => self.running.set(Some(handler)),
            None => self.panicked(),
        }
    }

    /// The running batch's handler panicked: its callers get `Lost`, as if their
    /// responders were dropped, and the server goes on with the next batch.
    fn panicked(&mut self) {
        self.report.panicked += 1;
        let rpc = &*self.server.rpc;
        for ticket in self.tickets.drain(..) {
            rpc.lose(TOKEN, ticket);
        }
        self.job.requests.clear();
        self.job.results.clear();
    }

    fn finish(&mut self, output: <H::Future as Future>::Output) {
        H::finish(output, &mut self.job);
        let results = &mut self.job.results;
        let rpc = &*self.server.rpc;
        if results.len() == self.tickets.len() {
            let mut replies = self.tickets.drain(..).zip(
                results
                    .drain(..)
                    .map(|result| result.map_err(BatchError::Item)),
            );
            // A caller that gave up meanwhile just doesn't get it: its result is dropped
            // here, outside the endpoint's lock.
            while let Some(refused) = rpc.reply_many(TOKEN, &mut replies) {
                drop(refused);
            }
        } else {
            // No result can be matched to its caller: every caller gets the error.
            self.report.wrong_count += 1;
            let wrong = WrongResultCount {
                expected: self.tickets.len(),
                got: results.len(),
            };
            results.clear();
            let mut replies =
                (self.tickets.drain(..)).map(|ticket| (ticket, Err(BatchError::WrongCount(wrong))));
            while rpc.reply_many(TOKEN, &mut replies).is_some() {}
        }
        self.job.requests.clear();
    }

    /// Polls the window's sleep (made now unless it is there for `deadline`); true once the
    /// open batch's deadline has been reached.
    fn window_passed(
        &mut self,
        mut sleep: Pin<&mut Option<SleepOf<P>>>,
        cx: &mut Context<'_>,
        deadline: InstantOf<P::Target>,
    ) -> bool {
        let clock = self.server.clock();
        if clock.now() >= deadline {
            sleep.set(None);
            return true;
        }
        if sleep.is_none() || self.window != Some(deadline) {
            sleep.set(Some(clock.sleep_until(deadline)));
            self.window = Some(deadline);
        }
        if fired(sleep.as_mut(), cx) {
            sleep.set(None);
            return true;
        }
        false
    }
}

impl<P, H, T, E> Future for BatchServeFuture<P, H>
where
    P: Deref + Clone,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    <P::Target as Endpoint>::Clock: Timer,
    H: BatchHandlerOf<P, T = T, E = E>,
{
    type Output = BatchReport;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BatchReport> {
        let projected = self.project();
        let (this, mut sleep) = (projected.serving, projected.sleep);
        loop {
            if let Some(handler) = this.running.as_mut().as_pin_mut() {
                let polled = caught(|| handler.poll(cx));
                let Some(polled) = polled else {
                    // The panicked future's own drop may panic too: caught as well.
                    let running = &mut this.running;
                    let _ = caught(|| running.set(None));
                    this.panicked();
                    continue;
                };
                let output = core::task::ready!(polled);
                // Drop the finished future now; its box stays for the next batch. A panic
                // in its drop is caught: the batch's results stand.
                let running = &mut this.running;
                let _ = caught(|| running.set(None));
                this.finish(output);
                continue;
            }
            if this.intake_ended {
                if let Some(tickets) = this.batch.flush() {
                    let waited = tickets.len();
                    this.start(tickets, waited);
                    continue;
                }
                this.report.stats = this.server.stats();
                return Poll::Ready(this.report);
            }
            if let Some(deadline) = this.batch.poll_timeout() {
                if this.window_passed(sleep.as_mut(), cx, deadline) {
                    if let Some(tickets) = this.batch.handle_timeout(deadline) {
                        let waited = tickets.len();
                        this.start(tickets, waited);
                    }
                    continue;
                }
            }
            // As many requests as the open batch has room for, in one lock.
            let waited = this.batch.len();
            let room = this.batch.config().max_size() - waited;
            let (rpc, batch, requests) =
                (&*this.server.rpc, &mut this.batch, &mut this.job.requests);
            if waited == 0 {
                // Room for the whole batch at once (a buffer a handler took comes back empty).
                requests.reserve(room);
            }
            let mut full = None;
            // The window runs from the first item's arrival (when its call started), as
            // in the seed, not from when this server got to it: an item waits at most
            // `max_wait` plus the handler that was running. An endpoint that keeps no
            // start times ([`Unstamped`](crate::time::Unstamped)) dates an item of its
            // inline queue by when the queue began to fill (never later than its arrival:
            // a window may close early, never late), and one of a queue outside the lock by
            // when it was taken.
            let taken =
                this.in_line
                    .as_mut()
                    .recv_many(rpc, cx, room, &mut |req, ticket, _, arrived| {
                        requests.push(req);
                        full = batch.push(ticket, arrived);
                    });
            match taken {
                Poll::Ready(Some(_)) => {
                    if let Some(tickets) = full {
                        sleep.set(None);
                        this.start(tickets, waited);
                    }
                }
                Poll::Ready(None) => this.intake_ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<P, H> Drop for Serving<P, H>
where
    P: Deref,
    P::Target: Endpoint,
    H: BatchHandlerOf<P>,
{
    fn drop(&mut self) {
        // The calls gathered or running get `Lost`, as if their responders were dropped;
        // their requests go after, outside the endpoint's lock.
        let rpc = &*self.server.rpc;
        self.in_line.as_mut().leave(rpc);
        for ticket in self.tickets.drain(..) {
            rpc.lose(TOKEN, ticket);
        }
        if let Some(gathered) = self.batch.flush() {
            for ticket in gathered {
                rpc.lose(TOKEN, ticket);
            }
        }
    }
}

impl<P, H> fmt::Debug for BatchServeFuture<P, H>
where
    P: Deref,
    P::Target: Endpoint,
    H: BatchHandlerOf<P>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchServeFuture")
            .field("gathered", &self.serving.batch.len())
            .field("running", &self.serving.running.is_some())
            .field("report", &self.serving.report)
            .finish_non_exhaustive()
    }
}
