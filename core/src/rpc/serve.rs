//! Serving with a concurrency limit, and the report a shutdown returns.

use core::fmt;
use core::future::Future;
use core::num::NonZeroUsize;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::server::{InLine, Responder};
use super::{Endpoint, Server};
use crate::limits::{guarded, Guarded, Pool};
use crate::stats::StatsSnapshot;
use alloc::boxed::Box;

/// What a [`serve`](Server::serve) did, returned when it ends.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ServeReport {
    /// Requests this serve took from the queue.
    pub received: u64,
    /// Handler runs that finished (every received request's handler finishes before serve
    /// returns, so this equals `received`).
    pub finished: u64,
    /// The endpoint's stats when serve returned: how every call ended, including the queued
    /// calls that a [`CloseMode::Fail`](super::CloseMode::Fail) shutdown ended with `Closed`.
    /// A snapshot: callers that try again after a shutdown (their `Closed`), or whose
    /// outcome is decided after serve returned, are counted in the endpoint's
    /// [`stats`](crate::Rpc::stats) but not here.
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
    /// once (they run concurrently inside this future; nothing is spawned). The future owns
    /// this server handle, so it can be spawned as it is; clone the handle first to keep one.
    ///
    /// The handler gets the request and its [`Responder`] and replies through it; a handler
    /// that drops the responder without replying gives its caller `Lost`. With `std`, a
    /// handler that panics (when called, when its future is polled or dropped) does the
    /// same: the panic is caught, unwinding drops its responder (so its caller gets `Lost`),
    /// and serve goes on with the other requests. Without `std` a panic is not caught: it
    /// ends the firmware as its panic handler decides.
    ///
    /// It returns once the endpoint is shut down ([`close`](Self::close), or every caller
    /// gone) and every handler in progress has finished: intake stops, work in progress
    /// finishes, queued calls end with `Closed` or are drained, per the
    /// [`CloseMode`](super::CloseMode).
    ///
    /// # Cancellation
    ///
    /// Dropping the future drops the handlers in progress; their callers get `Lost`. It
    /// also drops this server handle: queued requests stay queued for another server handle,
    /// or, if this was the last one, end with `Closed`.
    pub fn serve<F, Fut>(self, concurrency: NonZeroUsize, handler: F) -> ServeFuture<P, F, Fut>
    where
        F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut,
        Fut: Future<Output = ()>,
    {
        ServeFuture {
            server: self,
            handler,
            pool: Pool::new(concurrency),
            // SAFETY: `ServeFuture`'s `Drop` takes it out of line.
            in_line: Box::pin(unsafe { InLine::new() }),
        }
    }
}

/// The future of [`Server::serve`].
///
/// # Cancellation
///
/// See [`Server::serve`].
#[must_use = "futures do nothing unless polled"]
pub struct ServeFuture<P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    server: Server<P>,
    handler: F,
    pool: Pool<Guarded<Fut>>,
    /// Its place in line while it waits for a request, boxed (once per serve) so that the
    /// future stays `Unpin`.
    in_line: Pin<Box<InLine>>,
}

impl<P, F, Fut> Drop for ServeFuture<P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn drop(&mut self) {
        self.in_line.as_mut().leave(&*self.server.rpc);
    }
}

// The handler is only called through `&mut`, never pinned, and the pool pins the handlers'
// futures on the heap: moving a `ServeFuture` moves nothing that is pinned.
impl<P, F, Fut> Unpin for ServeFuture<P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
}

impl<P, F, Fut> Future for ServeFuture<P, F, Fut>
where
    P: Deref + Clone,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut,
    Fut: Future<Output = ()>,
{
    type Output = ServeReport;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ServeReport> {
        let this = self.get_mut();
        let (server, handler, in_line) = (&this.server, &mut this.handler, &mut this.in_line);
        core::task::ready!(this.pool.poll(
            cx,
            |cx| server.poll_recv(cx, in_line.as_mut()),
            |(req, responder)| guarded(|| handler(req, responder)),
        ));
        Poll::Ready(ServeReport {
            received: this.pool.received,
            finished: this.pool.finished,
            stats: this.server.stats(),
        })
    }
}

impl<P, F, Fut> fmt::Debug for ServeFuture<P, F, Fut>
where
    P: Deref,
    P::Target: Endpoint,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFuture")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}
