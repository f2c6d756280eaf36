//! Limits: how rsvp keeps every resource bounded.
//!
//! - **Queue space**: [`Queue`](crate::queue::Queue) holds `N` requests; a full queue makes
//!   `try_call` fail at once with `Full`, handing the request back, and makes `call` wait.
//! - **Reply slots**: an endpoint has `N`; a [`Permit`](crate::Permit) reserves one ahead of
//!   the request and gives it back when dropped unused, so a caller that reserves and never
//!   calls leaves no capacity behind.
//! - **Work in progress**: [`Pool`] runs at most `limit` items at once, taking the next only
//!   when one finishes. [`Server::serve`](crate::Server::serve) and
//!   [`PromiseService::run`](crate::promise::PromiseService::run) are built on it.
//!
//! # Design of `Pool`
//!
//! ```text
//!            next() while running < limit         work finishes
//!   source ───────────────────────────────▶ slot ────────────────▶ slot free again
//!                                            │ its waker marks the slot ready and
//!                                            ╰─ wakes the task polling the pool
//! ```
//!
//! Invariants: at most `limit` slots hold work; a slot's work is polled only after its
//! waker fired (or when it starts); the pool is done once the source has ended and no slot
//! holds work. Slots are allocated while the number of items in progress reaches a new
//! high, then reused, so a pool in steady state allocates nothing per item.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::rpc::caught;
use crate::sync::{AtomicBool, AtomicWaker, Ordering};

/// Runs work items with at most `limit` in progress, taking new ones as old ones finish:
/// the in-flight limit shared by [`Server::serve`](crate::Server::serve) and the promise
/// service.
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
                // `compare_exchange(true, false)` is `swap(false)` for a bool; it is written so
                // because loom (0.7, issue #254) lets a concurrent store slip inside a `swap`,
                // which made its model of this loop report a false lost wake-up.
                if slot
                    .flag
                    .ready
                    .compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
                {
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

pin_project_lite::pin_project! {
    /// A work item as the pool runs it: with `std`, a panic in it ends that one item (what
    /// it owns, a responder or a promise's setter, is dropped while unwinding: its caller
    /// gets `Lost`, its promise is abandoned) instead of the whole `serve` or `run`. The
    /// item's future is dropped as soon as it finishes or panics, here, where a panic in its
    /// own drop is caught too.
    pub(crate) struct Guarded<Fut> {
        #[pin]
        work: Option<Fut>,
    }
}

/// Starts a work item; with `std`, a panic in `call` (the item then ends at once), in any
/// poll of its future or in the future's drop is caught.
pub(crate) fn guarded<Fut>(call: impl FnOnce() -> Fut) -> Guarded<Fut> {
    Guarded { work: caught(call) }
}

impl<Fut: Future<Output = ()>> Future for Guarded<Fut> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut work = self.project().work;
        let Some(future) = work.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        if let Some(Poll::Pending) = caught(|| future.poll(cx)) {
            return Poll::Pending;
        }
        // Finished or panicked: dropped now, a panic in its drop caught as well.
        let _ = caught(|| work.set(None));
        Poll::Ready(())
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

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::Cell;
    use futures_util::task::noop_waker;
    use std::rc::Rc;
    use std::vec::Vec;

    /// Work that finishes once its gate opens, counting how many run at once.
    fn gated(
        gate: Rc<Cell<bool>>,
        running: Rc<Cell<usize>>,
        peak: Rc<Cell<usize>>,
    ) -> impl Future<Output = ()> {
        running.set(running.get() + 1);
        peak.set(peak.get().max(running.get()));
        core::future::poll_fn(move |cx| {
            if gate.get() {
                running.set(running.get() - 1);
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref(); // a busy item: always asks to be polled again
                Poll::Pending
            }
        })
    }

    #[test]
    fn never_runs_more_than_the_limit_and_finishes_everything() {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let (gate, running, peak) = (Rc::new(Cell::new(false)), Rc::default(), Rc::default());
        let mut items: Vec<u32> = (0..10).collect();
        let mut pool = Pool::new(NonZeroUsize::new(3).unwrap());
        let mut next = |_: &mut Context<'_>| Poll::Ready(items.pop());
        let start = |_| gated(gate.clone(), Rc::clone(&running), Rc::clone(&peak));

        assert!(pool.poll(&mut cx, &mut next, start).is_pending());
        assert_eq!(
            (running.get(), pool.received),
            (3, 3),
            "three taken, seven wait"
        );
        assert!(pool.poll(&mut cx, &mut next, start).is_pending());
        assert_eq!(pool.received, 3, "nothing more while all three run");

        gate.set(true);
        assert!(pool.poll(&mut cx, &mut next, start).is_ready());
        assert_eq!((pool.received, pool.finished, peak.get()), (10, 10, 3));
    }

    #[test]
    fn slots_are_reused_rather_than_made_per_item() {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut pool = Pool::new(NonZeroUsize::new(2).unwrap());
        let mut left = 100;
        let mut next = |_: &mut Context<'_>| {
            Poll::Ready((left > 0).then(|| {
                left -= 1;
            }))
        };
        assert!(pool
            .poll(&mut cx, &mut next, |()| core::future::ready(()))
            .is_ready());
        assert_eq!(pool.finished, 100);
        assert_eq!(
            pool.slots.len(),
            1,
            "work that finishes at once needs one slot"
        );
    }

    #[test]
    fn only_woken_work_is_polled() {
        let polls = Rc::new(Cell::new(0));
        let wakers: Rc<std::cell::RefCell<Vec<Waker>>> = Rc::default();
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut pool = Pool::new(NonZeroUsize::new(4).unwrap());
        let mut items = 2;
        let mut next = |_: &mut Context<'_>| {
            if items == 0 {
                return Poll::Pending;
            }
            items -= 1;
            Poll::Ready(Some(()))
        };
        let start = |()| {
            let (polls, wakers) = (polls.clone(), wakers.clone());
            core::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                wakers.borrow_mut().push(cx.waker().clone());
                Poll::<()>::Pending
            })
        };
        assert!(pool.poll(&mut cx, &mut next, start).is_pending());
        assert_eq!(polls.get(), 2, "each new item polled once");
        assert!(pool.poll(&mut cx, &mut next, start).is_pending());
        assert_eq!(polls.get(), 2, "nothing woke: nothing polled");
        let first = wakers.borrow()[0].clone();
        first.wake();
        assert!(pool.poll(&mut cx, &mut next, start).is_pending());
        assert_eq!(polls.get(), 3, "only the woken item");
    }
}
