//! Design models for the thread-safe flavour's next design (`--models`): not products, and not
//! peers (the targets ignore them), but the shapes rsvp-sync could take, measured beside it.
//!
//! Each answers one question about where rsvp-sync's S3mt cost goes. All three hand the
//! reply over through floor-sync's atomic slot (a flag, the value and an `AtomicWaker`) and
//! have no timeouts, cancellation or outcomes: they bound what a design can reach, they do
//! not reach it. The README's Performance section has their numbers.
//!
//! - `model-handoff`: one lock for taking a slot and queueing (the queue inside the lock,
//!   as rsvp's `InlineQueue`), the server pops under it, the reply is handed over through
//!   the slot's atomics, and the caller frees its slot under the lock again.
//! - `model-lockfree`: a lock-free bounded queue (concurrent-queue, as async-channel uses)
//!   and the atomic slot: no lock at all.
//! - `model-lockfree+locks`: the same with a shared lock taken four times a round trip
//!   (twice by the caller, twice by the server), each for a few instructions: rsvp-sync's
//!   count of endpoint locks around a lock-free queue and handoff.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use concurrent_queue::ConcurrentQueue;
use futures_util::task::AtomicWaker;

use crate::contenders::{Shared, CAP};

/// A reply slot whose value is handed over through atomics, as `floor-sync`'s.
struct AtomicSlot {
    ready: AtomicBool,
    value: AtomicU64,
    waker: AtomicWaker,
}

impl AtomicSlot {
    fn many(n: usize) -> Box<[Self]> {
        (0..n)
            .map(|_| Self {
                ready: AtomicBool::new(false),
                value: AtomicU64::new(0),
                waker: AtomicWaker::new(),
            })
            .collect()
    }

    fn answer(&self, value: u64) {
        self.value.store(value, Ordering::Relaxed);
        self.ready.store(true, Ordering::Release);
        self.waker.wake();
    }

    async fn reply(&self) -> u64 {
        let take = || {
            self.ready
                .swap(false, Ordering::Acquire)
                .then(|| self.value.load(Ordering::Relaxed))
        };
        poll_fn(|cx| {
            if let Some(v) = take() {
                return Poll::Ready(v);
            }
            self.waker.register(cx.waker());
            take().map_or(Poll::Pending, Poll::Ready)
        })
        .await
    }
}

/// Waits for `pop` to give an item, with the server's waker registered before the second look.
fn poll_pop<T>(cx: &mut Context<'_>, server: &AtomicWaker, pop: impl Fn() -> Option<T>) -> Poll<T> {
    if let Some(item) = pop() {
        return Poll::Ready(item);
    }
    server.register(cx.waker());
    pop().map_or(Poll::Pending, Poll::Ready)
}

/// The queue (request, slot index) and the free slots, under one lock.
type Endpoint = Mutex<(VecDeque<(u64, usize)>, Vec<usize>)>;

pub(crate) struct HandoffShared {
    endpoint: Endpoint,
    server: AtomicWaker,
    slots: Box<[AtomicSlot]>,
}

/// `model-handoff`: the lock at start, at pop and at free; the reply through atomics.
pub(crate) struct Handoff;

impl Shared for Handoff {
    const NAME: &'static str = "model-handoff";
    type Client = Arc<HandoffShared>;
    type Server = Arc<HandoffShared>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let shared = Arc::new(HandoffShared {
            endpoint: Mutex::new((VecDeque::with_capacity(CAP), (0..CAP).collect())),
            server: AtomicWaker::new(),
            slots: AtomicSlot::many(CAP),
        });
        (vec![shared.clone(); callers], shared)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let index = {
            let mut endpoint = c.endpoint.lock().unwrap();
            let index = endpoint.1.pop().expect("a slot per caller");
            endpoint.0.push_back((x, index));
            index
        };
        c.server.wake();
        let value = c.slots[index].reply().await;
        c.endpoint.lock().unwrap().1.push(index);
        value
    }
    async fn serve(s: Self::Server, total: u64) {
        for _ in 0..total {
            let (x, index) =
                poll_fn(|cx| poll_pop(cx, &s.server, || s.endpoint.lock().unwrap().0.pop_front()))
                    .await;
            s.slots[index].answer(x * 2);
        }
    }
}

pub(crate) struct LockFreeShared {
    queue: ConcurrentQueue<(u64, usize)>,
    server: AtomicWaker,
    slots: Box<[AtomicSlot]>,
    /// Taken `LOCKS` times a round trip, for a few instructions each.
    bookkeeping: Mutex<[u64; 4]>,
}

/// `model-lockfree` (`LOCKS = false`) and `model-lockfree+locks` (`LOCKS = true`).
pub(crate) struct LockFree<const LOCKS: bool>;

impl<const LOCKS: bool> LockFree<LOCKS> {
    fn count(shared: &LockFreeShared, step: usize) {
        if LOCKS {
            shared.bookkeeping.lock().unwrap()[step] += 1;
        }
    }
}

impl<const LOCKS: bool> Shared for LockFree<LOCKS> {
    const NAME: &'static str = if LOCKS {
        "model-lockfree+locks"
    } else {
        "model-lockfree"
    };
    type Client = (Arc<LockFreeShared>, usize);
    type Server = Arc<LockFreeShared>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let shared = Arc::new(LockFreeShared {
            queue: ConcurrentQueue::bounded(CAP),
            server: AtomicWaker::new(),
            slots: AtomicSlot::many(callers),
            bookkeeping: Mutex::new([0; 4]),
        });
        ((0..callers).map(|i| (shared.clone(), i)).collect(), shared)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let (shared, index) = (&*c.0, c.1);
        Self::count(shared, 0);
        shared
            .queue
            .push((x, index))
            .expect("room: one request per caller");
        shared.server.wake();
        let value = shared.slots[index].reply().await;
        Self::count(shared, 1);
        value
    }
    async fn serve(s: Self::Server, total: u64) {
        for _ in 0..total {
            let (x, index) = poll_fn(|cx| poll_pop(cx, &s.server, || s.queue.pop().ok())).await;
            Self::count(&s, 2);
            Self::count(&s, 3);
            s.slots[index].answer(x * 2);
        }
    }
}
