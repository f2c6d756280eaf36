//! Serving with a concurrency limit, and the report a shutdown returns.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::num::NonZeroUsize;
use core::ops::Deref;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;

use super::server::Responder;
use super::{Endpoint, Server};
use crate::stats::StatsSnapshot;

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
    /// once (they run concurrently inside this future; nothing is spawned). The future owns
    /// this server handle, so it can be spawned as it is; clone the handle first to keep one.
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
    pool: Pool<Fut>,
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
        let (server, handler) = (&this.server, &mut this.handler);
        core::task::ready!(this.pool.poll(
            cx,
            |cx| server.poll_recv(cx),
            |(req, responder)| handler(req, responder),
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

/// Runs work items with at most `limit` in progress, taking new ones as old ones finish:
/// the in-flight limit shared by [`Server::serve`] and the promise service.
///
/// Each running item lives in a slot: a pinned box and a waker that marks the slot ready
/// and wakes the pool's task. Slots are made as the number of items in progress first
/// reaches a new high, and reused from then on (`Pin::set` replaces a finished item in
/// place), so a pool in steady state allocates nothing per item, unlike a
/// `FuturesUnordered`, which allocates a task per future. A wake-up polls only the slots
/// marked ready.
pub(crate) struct Pool<Fut> {
    slots: Vec<Slot<Fut>>,
    /// The task that polls the pool, woken by any slot's waker.
    parent: Arc<AtomicWaker>,
    running: usize,
    limit: usize,
    intake_ended: bool,
    pub(crate) received: u64,
    pub(crate) finished: u64,
}

struct Slot<Fut> {
    /// `None` while the slot is free.
    work: Pin<Box<Option<Fut>>>,
    flag: Arc<ReadyFlag>,
    waker: Waker,
}

/// A slot's waker: marks the slot for polling and wakes the pool's task.
struct ReadyFlag {
    ready: AtomicBool,
    parent: Arc<AtomicWaker>,
}

impl Wake for ReadyFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release: the pool's `swap` (Acquire) that sees the flag also sees what the waker
        // of this work published before waking it.
        self.ready.store(true, Ordering::Release);
        self.parent.wake();
    }
}

impl<Fut: Future<Output = ()>> Pool<Fut> {
    pub(crate) fn new(limit: NonZeroUsize) -> Self {
        Self {
            slots: Vec::new(),
            parent: Arc::new(AtomicWaker::new()),
            running: 0,
            limit: limit.get(),
            intake_ended: false,
            received: 0,
            finished: 0,
        }
    }

    /// Drives the work in progress and takes more from `next` while under the limit.
    /// `Ready` once `next` has ended and everything taken has finished.
    pub(crate) fn poll<X>(
        &mut self,
        cx: &mut Context<'_>,
        mut next: impl FnMut(&mut Context<'_>) -> Poll<Option<X>>,
        mut start: impl FnMut(X) -> Fut,
    ) -> Poll<()> {
        self.parent.register(cx.waker());
        loop {
            for slot in &mut self.slots {
                if !slot.flag.ready.swap(false, Ordering::Acquire) {
                    continue;
                }
                let Some(work) = slot.work.as_mut().as_pin_mut() else {
                    continue; // a late wake of work that has finished
                };
                if work.poll(&mut Context::from_waker(&slot.waker)).is_ready() {
                    slot.work.set(None);
                    self.running -= 1;
                    self.finished += 1;
                }
            }
            if !self.intake_ended && self.running < self.limit {
                match next(cx) {
                    Poll::Ready(Some(item)) => {
                        self.received += 1;
                        self.running += 1;
                        let slot = self.free_slot();
                        slot.work.set(Some(start(item)));
                        slot.flag.ready.store(true, Ordering::Relaxed);
                        continue; // poll the new work, and look for more
                    }
                    Poll::Ready(None) => self.intake_ended = true,
                    Poll::Pending => {}
                }
            }
            return if self.intake_ended && self.running == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
    }

    /// A free slot, made if every slot is busy (only while the high water mark rises).
    fn free_slot(&mut self) -> &mut Slot<Fut> {
        let index = match self.slots.iter().position(|slot| slot.work.is_none()) {
            Some(index) => index,
            None => {
                let flag = Arc::new(ReadyFlag {
                    ready: AtomicBool::new(false),
                    parent: Arc::clone(&self.parent),
                });
                self.slots.push(Slot {
                    work: Box::pin(None),
                    waker: Waker::from(Arc::clone(&flag)),
                    flag,
                });
                self.slots.len() - 1
            }
        };
        &mut self.slots[index]
    }
}

impl<Fut> fmt::Debug for Pool<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("running", &self.running)
            .field("limit", &self.limit)
            .field("received", &self.received)
            .field("finished", &self.finished)
            .finish()
    }
}
