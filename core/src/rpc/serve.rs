//! Serving with a concurrency limit, and the report a shutdown returns.

use core::fmt;
use core::future::Future;
use core::num::NonZeroUsize;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::server::Responder;
use super::{Endpoint, Server};
use crate::stats::StatsSnapshot;

/// What a [`serve`](Server::serve) did, returned when it ends.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServeReport {
    /// Requests this serve took from the queue.
    pub received: u64,
    /// Handler runs that finished (every received request's handler finishes before serve
    /// returns, so this equals `received`).
    pub finished: u64,
    /// The endpoint's stats at the end: how every call ended, including the queued calls
    /// that a [`CloseMode::Fail`](super::CloseMode::Fail) shutdown ended with `Closed`.
    pub stats: StatsSnapshot,
}

impl fmt::Display for ServeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "served {} requests ({} finished); {}",
            self.received, self.finished, self.stats
        )
    }
}

impl<P> Server<P>
where
    P: Deref + Clone,
    P::Target: Endpoint,
{
    /// Runs `handler` on every request, with at most `concurrency` handlers in progress at
    /// once (they run concurrently inside this future; nothing is spawned).
    ///
    /// The handler gets the request and its [`Responder`] and replies through it; a handler
    /// that drops the responder without replying gives its caller `Lost`.
    ///
    /// It returns once the endpoint is shut down ([`close`](Self::close), or every caller
    /// gone) and every handler in progress has finished: intake stops, work in progress
    /// finishes, queued calls end with `Closed` or are drained, per the
    /// [`CloseMode`](super::CloseMode).
    ///
    /// # Cancellation
    ///
    /// Dropping the future drops the handlers in progress; their callers get `Lost`. Queued
    /// requests stay queued for the next `recv` or `serve`.
    pub fn serve<F, Fut>(&self, concurrency: NonZeroUsize, handler: F) -> ServeFuture<'_, P, F, Fut>
    where
        F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut,
        Fut: Future<Output = ()>,
    {
        ServeFuture {
            server: self,
            handler,
            running: FuturesUnordered::new(),
            limit: concurrency.get(),
            intake_ended: false,
            received: 0,
            finished: 0,
        }
    }
}

/// The future of [`Server::serve`].
///
/// # Cancellation
///
/// See [`Server::serve`].
#[must_use = "futures do nothing unless polled"]
pub struct ServeFuture<'a, P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    server: &'a Server<P>,
    handler: F,
    running: FuturesUnordered<Fut>,
    limit: usize,
    intake_ended: bool,
    received: u64,
    finished: u64,
}

// The handler is only called through `&mut`, never pinned, and `FuturesUnordered` pins
// its futures on the heap: moving a `ServeFuture` moves nothing that is pinned.
impl<P, F, Fut> Unpin for ServeFuture<'_, P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
}

impl<P, F, Fut> Future for ServeFuture<'_, P, F, Fut>
where
    P: Deref + Clone,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut,
    Fut: Future<Output = ()>,
{
    type Output = ServeReport;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ServeReport> {
        let this = self.get_mut();
        loop {
            while let Poll::Ready(Some(())) = this.running.poll_next_unpin(cx) {
                this.finished += 1;
            }
            if !this.intake_ended && this.running.len() < this.limit {
                match this.server.poll_recv(cx) {
                    Poll::Ready(Some((req, responder))) => {
                        this.received += 1;
                        this.running.push((this.handler)(req, responder));
                        continue; // poll the new handler, and look for more work
                    }
                    Poll::Ready(None) => this.intake_ended = true,
                    Poll::Pending => {}
                }
            }
            if this.intake_ended && this.running.is_empty() {
                return Poll::Ready(ServeReport {
                    received: this.received,
                    finished: this.finished,
                    stats: this.server.stats(),
                });
            }
            return Poll::Pending;
        }
    }
}

impl<P, F, Fut> fmt::Debug for ServeFuture<'_, P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFuture")
            .field("running", &self.running.len())
            .field("limit", &self.limit)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}
