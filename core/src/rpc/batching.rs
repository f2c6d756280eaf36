//! Serving in batches: the Go seed's `BatchProcessor`, over an ordinary endpoint.
//!
//! Callers use the usual [`Caller`](crate::Caller) (with timeouts, `try_call`,
//! cancellation); the server side gathers requests with the [`Batch`] state machine and
//! runs one handler per batch. Each caller gets its own result, or its own error.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::server::Responder;
use super::{Endpoint, InstantOf, Server};
use crate::batch::{route, Batch, BatchConfig, Routed, WrongResultCount};
use crate::stats::StatsSnapshot;
use crate::time::{Clock, Timer};

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
    /// The endpoint's stats at the end.
    pub stats: StatsSnapshot,
}

impl fmt::Display for BatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} batches, {} items ({} skipped, {} wrong-count batches); {}",
            self.batches, self.items, self.skipped, self.wrong_count, self.stats
        )
    }
}

impl<P, T, E> Server<P>
where
    P: Deref + Clone,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    <P::Target as Endpoint>::Clock: Timer,
{
    /// Serves requests in batches: gathers them until `config.max_size()` are waiting, or
    /// until `config.max_wait()` has passed since the **first** request of the batch, then
    /// calls `handler` once with all of them.
    ///
    /// The handler returns one result per request, in order. Each caller gets its own
    /// result; a handler that returns the wrong number of results gives every caller in
    /// that batch [`BatchError::WrongCount`], so nothing is lost silently. Requests whose
    /// callers stopped waiting before their batch ran are left out of it.
    ///
    /// One batch runs at a time; requests arriving meanwhile wait in the queue
    /// (backpressure). On shutdown, what was gathered is flushed as a last batch before
    /// this returns its report. The future owns this server handle.
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
    ) -> BatchServeFuture<P, F, Fut>
    where
        F: FnMut(Vec<<P::Target as Endpoint>::Req>) -> Fut,
        Fut: Future<Output = Vec<Result<T, E>>>,
    {
        let stats = self.stats();
        BatchServeFuture {
            server: self,
            handler,
            batch: Batch::new(config),
            running: None,
            sleep: None,
            intake_ended: false,
            report: BatchReport {
                batches: 0,
                items: 0,
                skipped: 0,
                wrong_count: 0,
                stats,
            },
        }
    }
}

/// A batch whose handler is running, and the reply handles of its callers in batch order.
struct Running<P, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    handler: Pin<Box<Fut>>,
    responders: Vec<Responder<P>>,
}

type Item<P> = (<<P as Deref>::Target as Endpoint>::Req, Responder<P>);
type SleepOf<P> = <<<P as Deref>::Target as Endpoint>::Clock as Clock>::Sleep;

/// The future of [`Server::serve_batches`].
///
/// # Cancellation
///
/// See [`Server::serve_batches`].
#[must_use = "futures do nothing unless polled"]
pub struct BatchServeFuture<P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    server: Server<P>,
    handler: F,
    batch: Batch<Item<P>, InstantOf<P::Target>>,
    running: Option<Running<P, Fut>>,
    /// The sleep for the open batch's window, and the deadline it was made for.
    sleep: Option<(SleepOf<P>, InstantOf<P::Target>)>,
    intake_ended: bool,
    report: BatchReport,
}

// Only `Fut` is ever pinned, and it is boxed.
impl<P, F, Fut> Unpin for BatchServeFuture<P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
}

impl<P, F, Fut, T, E> BatchServeFuture<P, F, Fut>
where
    P: Deref + Clone,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    <P::Target as Endpoint>::Clock: Timer,
    F: FnMut(Vec<<P::Target as Endpoint>::Req>) -> Fut,
    Fut: Future<Output = Vec<Result<T, E>>>,
{
    fn start(&mut self, items: Vec<Item<P>>) {
        let mut requests = Vec::with_capacity(items.len());
        let mut responders = Vec::with_capacity(items.len());
        for (req, responder) in items {
            if responder.is_cancelled() {
                self.report.skipped += 1;
                continue;
            }
            requests.push(req);
            responders.push(responder);
        }
        if requests.is_empty() {
            return;
        }
        self.report.batches += 1;
        self.report.items += requests.len() as u64;
        self.running = Some(Running {
            handler: Box::pin((self.handler)(requests)),
            responders,
        });
    }

    fn finish(&mut self, responders: Vec<Responder<P>>, results: Vec<Result<T, E>>) {
        match route(responders, results) {
            Routed::Matched(pairs) => {
                for (responder, result) in pairs {
                    // A caller that gave up meanwhile just doesn't get it.
                    let _ = responder.reply(result.map_err(BatchError::Item));
                }
            }
            Routed::WrongCount {
                items,
                expected,
                got,
            } => {
                self.report.wrong_count += 1;
                let wrong = WrongResultCount { expected, got };
                for responder in items {
                    let _ = responder.reply(Err(BatchError::WrongCount(wrong)));
                }
            }
        }
    }

    /// Polls the window's sleep; true once the open batch's deadline has been reached.
    fn window_passed(&mut self, cx: &mut Context<'_>, deadline: InstantOf<P::Target>) -> bool {
        let clock = self.server.clock();
        if clock.now() >= deadline {
            self.sleep = None;
            return true;
        }
        let sleep = match &mut self.sleep {
            Some((sleep, made_for)) if *made_for == deadline => sleep,
            slot => &mut slot.insert((clock.sleep_until(deadline), deadline)).0,
        };
        if Pin::new(sleep).poll(cx).is_ready() {
            self.sleep = None;
            return true;
        }
        false
    }
}

impl<P, F, Fut, T, E> Future for BatchServeFuture<P, F, Fut>
where
    P: Deref + Clone,
    P::Target: Endpoint<Resp = BatchResult<T, E>>,
    <P::Target as Endpoint>::Clock: Timer,
    F: FnMut(Vec<<P::Target as Endpoint>::Req>) -> Fut,
    Fut: Future<Output = Vec<Result<T, E>>>,
{
    type Output = BatchReport;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BatchReport> {
        let this = self.get_mut();
        loop {
            if let Some(running) = &mut this.running {
                let results = core::task::ready!(running.handler.as_mut().poll(cx));
                let running = this.running.take().expect("checked above");
                this.finish(running.responders, results);
                continue;
            }
            if this.intake_ended {
                if let Some(items) = this.batch.flush() {
                    this.start(items);
                    continue;
                }
                this.report.stats = this.server.stats();
                return Poll::Ready(this.report);
            }
            if let Some(deadline) = this.batch.poll_timeout() {
                if this.window_passed(cx, deadline) {
                    if let Some(items) = this.batch.handle_timeout(deadline) {
                        this.start(items);
                    }
                    continue;
                }
            }
            match this.server.poll_recv(cx) {
                Poll::Ready(Some(item)) => {
                    let now = this.server.clock().now();
                    if let Some(items) = this.batch.push(item, now) {
                        this.sleep = None;
                        this.start(items);
                    }
                }
                Poll::Ready(None) => this.intake_ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<P, F, Fut> fmt::Debug for BatchServeFuture<P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchServeFuture")
            .field("gathered", &self.batch.len())
            .field("running", &self.running.is_some())
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}
