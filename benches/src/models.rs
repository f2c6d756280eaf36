//! Design models for rsvp's next designs (`--models`): not products, and not peers (the
//! target lines ignore them), but shapes rsvp could take, measured beside it. Each answers
//! one question about where rsvp's cost goes; none has timeouts or shutdown, so they bound
//! what a design can reach, they do not reach it. `benches/README.md` has
//! their numbers.
//!
//! Thread-safe, each handing the reply over through an atomic slot as floor-sync does (a
//! flag or state word, the value, an `AtomicWaker`):
//!
//! - `model-handoff`: one lock for taking a slot and queueing (the queue inside the lock,
//!   as rsvp's `InlineQueue`), the server pops under it, the reply is handed over through
//!   the slot's atomics, and the caller frees its slot under the lock again.
//! - `model-lockfree`: a lock-free bounded queue (concurrent-queue, as async-channel uses)
//!   and a fixed slot per caller: no lock at all.
//! - `model-lockfree+locks`: the same with a shared lock taken four times a round trip
//!   (twice by the caller, twice by the server), each for a few instructions: rsvp-sync's
//!   count of endpoint locks around a lock-free queue and handoff.
//! - `model-lockfree-pool`: `model-lockfree` with what rsvp's slots need on the hot path,
//!   in atomics: a shared pool, the generation checked when the server takes a request and
//!   when it replies, a request id and an outcome counter.
//!
//! Single-thread:
//!
//! - `model-local-pool`: the floor with the same slot mechanisms in `Cell`s, a closed flag,
//!   and a slot freed by the call's drop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use concurrent_queue::ConcurrentQueue;
use futures_util::task::AtomicWaker;

use crate::contenders::{register, Local, Shared, CAP};

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
    /// With `LOCKS`, taken four times a round trip, for a few instructions each.
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

/// A slot of `model-lockfree-pool`: phase and generation in one atomic word.
struct PoolSlot {
    /// `generation << 3 | phase`.
    state: AtomicU32,
    value: AtomicU64,
    waker: AtomicWaker,
}

const FREE: u32 = 0;
const QUEUED: u32 = 1;
const TAKEN: u32 = 2;
const WRITING: u32 = 3;
const DONE: u32 = 4;

fn word(generation: u32, phase: u32) -> u32 {
    generation << 3 | phase
}

pub(crate) struct PoolShared {
    queue: ConcurrentQueue<(u64, usize, u32)>,
    server: AtomicWaker,
    /// Bit `i` set: slot `i` is free.
    free: AtomicU64,
    slots: Box<[PoolSlot]>,
    next_id: AtomicU64,
    replied: AtomicU64,
}

/// `model-lockfree-pool`: `model-lockfree` with what rsvp's slots need on the way, done
/// with atomics: a shared pool (a bitmap of free slots), a generation checked by a
/// compare-and-swap when the server takes the request and when it replies (so a stale
/// ticket cannot reach a reused slot), a request id and an outcome counter.
pub(crate) struct LockFreePool;

impl LockFreePool {
    fn acquire(shared: &PoolShared) -> usize {
        let mut bits = shared.free.load(Ordering::Relaxed);
        loop {
            assert_ne!(bits, 0, "a slot per caller");
            let bit = 1 << bits.trailing_zeros();
            match shared.free.compare_exchange_weak(
                bits,
                bits & !bit,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return bits.trailing_zeros() as usize,
                Err(now) => bits = now,
            }
        }
    }
}

impl Shared for LockFreePool {
    const NAME: &'static str = "model-lockfree-pool";
    type Client = Arc<PoolShared>;
    type Server = Arc<PoolShared>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        assert_eq!(CAP, 64, "one bit per slot");
        let shared = Arc::new(PoolShared {
            queue: ConcurrentQueue::bounded(CAP),
            server: AtomicWaker::new(),
            free: AtomicU64::new(u64::MAX),
            slots: (0..CAP)
                .map(|_| PoolSlot {
                    state: AtomicU32::new(word(0, FREE)),
                    value: AtomicU64::new(0),
                    waker: AtomicWaker::new(),
                })
                .collect(),
            next_id: AtomicU64::new(0),
            replied: AtomicU64::new(0),
        });
        (vec![shared.clone(); callers], shared)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let index = Self::acquire(c);
        let slot = &c.slots[index];
        let generation = slot.state.load(Ordering::Relaxed) >> 3;
        slot.state
            .store(word(generation, QUEUED), Ordering::Release);
        c.next_id.fetch_add(1, Ordering::Relaxed);
        c.queue
            .push((x, index, generation))
            .expect("room: one request per slot");
        c.server.wake();
        let done = || {
            (slot.state.load(Ordering::Acquire) == word(generation, DONE))
                .then(|| slot.value.load(Ordering::Relaxed))
        };
        let value = poll_fn(|cx| {
            if let Some(v) = done() {
                return Poll::Ready(v);
            }
            slot.waker.register(cx.waker());
            done().map_or(Poll::Pending, Poll::Ready)
        })
        .await;
        // The caller owns a slot whose reply it has read: no one else writes it now.
        slot.state
            .store(word(generation.wrapping_add(1), FREE), Ordering::Relaxed);
        c.free.fetch_or(1 << index, Ordering::Release);
        value
    }
    async fn serve(s: Self::Server, total: u64) {
        let step = |slot: &PoolSlot, generation, from, to| {
            slot.state
                .compare_exchange(
                    word(generation, from),
                    word(generation, to),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        };
        let mut replied = 0;
        while replied < total {
            let (x, index, generation) =
                poll_fn(|cx| poll_pop(cx, &s.server, || s.queue.pop().ok())).await;
            let slot = &s.slots[index];
            if !step(slot, generation, QUEUED, TAKEN) {
                continue; // its caller gave up: a tombstone
            }
            if step(slot, generation, TAKEN, WRITING) {
                slot.value.store(x * 2, Ordering::Relaxed);
                slot.state.store(word(generation, DONE), Ordering::Release);
                s.replied.fetch_add(1, Ordering::Relaxed);
                slot.waker.wake();
            }
            replied += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The single-thread flavour

/// A slot of `model-local-pool`.
struct LocalSlot {
    /// `generation << 3 | phase`.
    state: Cell<u32>,
    value: Cell<u64>,
    /// The caller's waker, kept across calls; `armed` while the caller waits.
    waker: RefCell<Option<Waker>>,
    armed: Cell<bool>,
    /// The next free slot while this one is free.
    next: Cell<u16>,
}

pub(crate) struct LocalPoolShared {
    ring: RefCell<VecDeque<(u64, u16, u32)>>,
    server: RefCell<Option<Waker>>,
    server_armed: Cell<bool>,
    slots: Box<[LocalSlot]>,
    free: Cell<u16>,
    next_id: Cell<u64>,
    replied: Cell<u64>,
    cancelled: Cell<u64>,
    closed: Cell<bool>,
}

/// Frees the call's slot when the call ends, whichever way: the reply read, or the future
/// dropped (then the server finds the generation changed and drops the request).
struct LocalCall<'a> {
    shared: &'a LocalPoolShared,
    index: u16,
    generation: u32,
    read: bool,
}

impl Drop for LocalCall<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        let slot = &shared.slots[usize::from(self.index)];
        if !self.read {
            shared.cancelled.set(shared.cancelled.get() + 1);
        }
        slot.armed.set(false);
        slot.state.set(word(self.generation.wrapping_add(1), FREE));
        slot.next.set(shared.free.get());
        shared.free.set(self.index);
    }
}

/// `model-local-pool`: the single-thread floor with what rsvp's slots need on the hot path:
/// a shared pool (a free list), the generation checked when the server takes the request
/// and when it replies, a closed flag, a request id, outcome counters, and a slot freed by
/// the call's drop, so that a dropped call is seen by the server. No `RefCell` around the
/// whole state, no `Option`s for the request, no instants.
pub(crate) struct LocalPool;

impl Local for LocalPool {
    const NAME: &'static str = "model-local-pool";
    type Client = Rc<LocalPoolShared>;
    type Server = Rc<LocalPoolShared>;
    fn pair(callers: usize) -> (Vec<Self::Client>, Self::Server) {
        let shared = Rc::new(LocalPoolShared {
            ring: RefCell::new(VecDeque::with_capacity(CAP)),
            server: RefCell::new(None),
            server_armed: Cell::new(false),
            slots: (0..CAP)
                .map(|i| LocalSlot {
                    state: Cell::new(word(0, FREE)),
                    value: Cell::new(0),
                    waker: RefCell::new(None),
                    armed: Cell::new(false),
                    next: Cell::new(if i + 1 < CAP { i as u16 + 1 } else { u16::MAX }),
                })
                .collect(),
            free: Cell::new(0),
            next_id: Cell::new(0),
            replied: Cell::new(0),
            cancelled: Cell::new(0),
            closed: Cell::new(false),
        });
        (vec![shared.clone(); callers], shared)
    }
    async fn call(c: &mut Self::Client, x: u64) -> u64 {
        let shared = &**c;
        assert!(!shared.closed.get(), "an open endpoint");
        let index = shared.free.get();
        let slot = &shared.slots[usize::from(index)];
        shared.free.set(slot.next.get());
        let generation = slot.state.get() >> 3;
        let mut call = LocalCall {
            shared,
            index,
            generation,
            read: false,
        };
        slot.state.set(word(generation, QUEUED));
        shared.next_id.set(shared.next_id.get() + 1);
        shared.ring.borrow_mut().push_back((x, index, generation));
        if shared.server_armed.replace(false) {
            if let Some(w) = &*shared.server.borrow() {
                w.wake_by_ref();
            }
        }
        let value = poll_fn(|cx| {
            if slot.state.get() == word(generation, DONE) {
                return Poll::Ready(slot.value.get());
            }
            register(&mut slot.waker.borrow_mut(), cx.waker());
            slot.armed.set(true);
            Poll::Pending
        })
        .await;
        call.read = true;
        value
    }
    async fn serve(s: Self::Server, total: u64) {
        let mut replied = 0;
        while replied < total {
            let (x, index, generation) = poll_fn(|cx| {
                if let Some(next) = s.ring.borrow_mut().pop_front() {
                    return Poll::Ready(next);
                }
                register(&mut s.server.borrow_mut(), cx.waker());
                s.server_armed.set(true);
                Poll::Pending
            })
            .await;
            let slot = &s.slots[usize::from(index)];
            if slot.state.get() != word(generation, QUEUED) {
                continue; // its caller gave up
            }
            slot.state.set(word(generation, TAKEN));
            // rsvp's reply checks again (the caller may have gone while the handler ran):
            // kept from being folded into the check above.
            if std::hint::black_box(slot.state.get()) == word(generation, TAKEN) {
                slot.value.set(x * 2);
                slot.state.set(word(generation, DONE));
                s.replied.set(s.replied.get() + 1);
                if slot.armed.replace(false) {
                    if let Some(w) = &*slot.waker.borrow() {
                        w.wake_by_ref();
                    }
                }
            }
            replied += 1;
        }
    }
}
