//! Zero allocations per call in steady state, measured by a counting global allocator.
//!
//! Each test warms up with 1,000 calls (so buffers that grow once, such as the manual
//! clock's list of sleepers, have grown), then counts the allocations of 10,000 more made
//! on the test's own thread. Futures are polled by hand: no executor allocates behind the
//! measurement's back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::task::Poll;

use rsvp::lock::{LocalMutex, RawMutex, StdMutex};
use rsvp::rpc::With;
use rsvp::time::{ManualClock, NoClock};
use rsvp::{CallError, Rpc};
use rsvp_tests::{ms, LocalRpc, Poller};

/// `System`, counting every allocation made on the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: a thread that is being torn down still allocates, uncounted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made on this thread so far.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every method forwards its arguments unchanged to `System`, so `System`'s
// guarantees are this allocator's; the counting only touches a const-initialised
// thread-local `Cell` without a destructor, which neither allocates nor panics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: u64 = 1_000;
const MEASURED: u64 = 10_000;

/// Runs `call(i)` for the warm-up, then returns the allocations of the measured calls.
fn allocations_of(mut call: impl FnMut(u64)) -> u64 {
    for i in 0..WARM_UP {
        call(i);
    }
    let before = allocations();
    for i in WARM_UP..WARM_UP + MEASURED {
        call(i);
    }
    allocations() - before
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let boxed = std::hint::black_box(Box::new(7u64));
    assert_eq!(allocations() - before, 1);
    drop(boxed);
}

/// Allocations of `try_call` + `recv` + `reply` + awaiting the reply, in flavour `M`.
fn round_trip_allocations<M: RawMutex>() -> u64 {
    let rpc: Rpc<u64, u64, 4, With<M, ManualClock>> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let allocated = allocations_of(|i| {
        let mut call = pin!(caller.try_call(i).unwrap());
        assert!(p.poll(&mut call).is_pending());
        let (req, responder) = p.ready(&mut pin!(server.recv())).unwrap();
        responder.reply(req * 2).unwrap();
        assert_eq!(p.ready(&mut call), Ok(i * 2));
    });
    assert_eq!(rpc.stats().replied, WARM_UP + MEASURED);
    allocated
}

#[test]
fn try_call_recv_reply_await_allocates_nothing() {
    assert_eq!(round_trip_allocations::<LocalMutex>(), 0);
}

#[test]
fn waiting_call_allocates_nothing_without_a_clock() {
    let rpc: Rpc<u64, u64, 1, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    // Two calls on one slot: the second waits for the slot every time.
    let allocated = allocations_of(|i| {
        let mut first = pin!(caller.call(i));
        let mut second = pin!(caller.call(i + 1));
        assert!(p.poll(&mut first).is_pending());
        assert!(p.poll(&mut second).is_pending());
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req).unwrap();
        assert_eq!(p.ready(&mut first), Ok(i));
        assert!(p.poll(&mut second).is_pending());
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req).unwrap();
        assert_eq!(p.ready(&mut second), Ok(i + 1));
    });
    assert_eq!(allocated, 0);
}

#[test]
fn timed_call_that_is_answered_allocates_nothing() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u64, u64, 4> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let allocated = allocations_of(|i| {
        let mut call = pin!(caller.call_timeout(i, ms(100)).timed());
        assert!(p.poll(&mut call).is_pending());
        let (req, responder) = p.ready(&mut pin!(server.recv())).unwrap();
        responder.reply(req * 2).unwrap();
        assert_eq!(p.ready(&mut call).map(|t| t.value), Ok(i * 2));
    });
    // The manual clock registers the call's sleep in a `Vec` that keeps its capacity.
    assert_eq!(allocated, 0);
    assert_eq!(clock.sleepers(), 0);
}

#[test]
fn timed_out_call_allocates_nothing_but_the_clock_does() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u64, u64, 4> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let clock_allocations = Cell::new(0);

    let allocated = allocations_of(|i| {
        let mut call = pin!(caller.call_timeout(i, ms(10)));
        assert!(p.poll(&mut call).is_pending());
        let (req, responder) = server.try_recv().unwrap();
        // `ManualClock::advance` collects the due wakers in a new `Vec`: test machinery,
        // not rsvp. Leave it out of the count.
        let before = allocations();
        clock.advance(ms(10));
        if i >= WARM_UP {
            clock_allocations.set(clock_allocations.get() + allocations() - before);
        }
        assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
        assert_eq!(responder.reply(req), Err(req));
    });
    let by_clock = clock_allocations.get();
    assert_eq!(allocated - by_clock, 0, "rsvp allocated");
    // Measured: one allocation per `advance` that wakes a sleeper.
    assert_eq!(by_clock, MEASURED);
}

#[test]
fn every_other_outcome_allocates_nothing() {
    let rpc: LocalRpc<u64, u64, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let allocated = allocations_of(|i| {
        // Lost.
        let mut lost = pin!(caller.try_call(i).unwrap());
        drop(server.try_recv().unwrap());
        assert_eq!(p.ready(&mut lost), Err(CallError::Lost));
        // Cancelled while worked on, the late reply handed back.
        let cancelled = caller.try_call(i).unwrap();
        let (req, responder) = server.try_recv().unwrap();
        drop(cancelled);
        assert_eq!(responder.reply(req), Err(req));
        // Cancelled while queued, then skipped; Full; and Lost again, decided while the
        // caller still holds its call.
        let queued = caller.try_call(i).unwrap();
        let _other = caller.try_call(i + 1).unwrap();
        assert!(caller.try_call(i + 2).unwrap_err().is_full());
        drop(queued);
        let (req, responder) = server.try_recv().unwrap();
        assert_eq!(req, i + 1);
        drop(responder);
    });
    assert_eq!(allocated, 0);
    let stats = rpc.stats();
    let calls = WARM_UP + MEASURED;
    assert_eq!(
        (stats.lost, stats.full, stats.cancelled),
        (2 * calls, calls, 2 * calls)
    );
}

#[test]
fn a_poll_that_finds_nothing_allocates_nothing() {
    let rpc: LocalRpc<u64, u64, 2> = Rpc::new(ManualClock::new());
    let (_caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let allocated = allocations_of(|_| {
        assert!(matches!(p.poll(&mut pin!(server.recv())), Poll::Pending));
    });
    assert_eq!(allocated, 0);
}

#[test]
fn serve_allocates_nothing_per_call() {
    let rpc: LocalRpc<u64, u64, 4> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut serving = server.serve(NonZeroUsize::new(2).unwrap(), |n, responder| async move {
        let _ = responder.reply(n * 2);
    });
    let allocated = allocations_of(|i| {
        let mut call = pin!(caller.try_call(i).unwrap());
        assert!(p.poll(&mut serving).is_pending());
        assert_eq!(p.ready(&mut call), Ok(i * 2));
    });
    assert_eq!(
        allocated, 0,
        "handler slots are reused, not allocated per request"
    );
    assert_eq!(rpc.stats().replied, WARM_UP + MEASURED);
}

#[test]
fn the_thread_safe_flavour_allocates_nothing_per_call() {
    assert_eq!(round_trip_allocations::<StdMutex>(), 0);
}

/// A batching endpoint (batching needs a timer for its window).
type BatchRpc = LocalRpc<u64, rsvp::batch::BatchResult<u64, ()>, 8>;

#[test]
fn serve_batch_jobs_and_call_many_allocate_nothing_per_batch() {
    let rpc: BatchRpc = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let config = rsvp::batch::BatchConfig::new(4, std::time::Duration::from_secs(1)).unwrap();
    let mut serving =
        server.serve_batch_jobs(config, |mut job: rsvp::batch::BatchJob<u64, u64, ()>| {
            job.answer_each(|x| Ok(x * 2));
            std::future::ready(job)
        });
    let mut calls = Vec::with_capacity(4);
    // Each step is one batch of four calls, made as one set.
    let allocated = allocations_of(|i| {
        calls.clear();
        calls.extend((4 * i..4 * i + 4).map(rsvp::batch::ManyCall::new));
        let mut set = pin!(caller.call_many(&mut calls));
        assert!(p.poll(&mut set).is_pending());
        assert!(p.poll(&mut serving).is_pending());
        for (x, call) in (4 * i..).zip(p.ready(&mut set)) {
            assert_eq!(call.take_outcome(), Some(Ok(Ok(x * 2))));
        }
    });
    assert_eq!(
        allocated, 0,
        "the batch buffers are reused, not allocated per batch"
    );
    assert_eq!(rpc.stats().replied, 4 * (WARM_UP + MEASURED));
}

#[test]
fn serve_batches_allocates_only_the_vecs_its_handler_owns() {
    let rpc: BatchRpc = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let config = rsvp::batch::BatchConfig::new(4, std::time::Duration::from_secs(1)).unwrap();
    // The results are collected into a new `Vec` (`Result<u64, ()>` is larger than `u64`,
    // so not in place): two allocations per batch, that `Vec` and the one handed over.
    let mut serving = server.serve_batches(config, |reqs: Vec<u64>| {
        std::future::ready(reqs.iter().map(|x| Ok(x * 2)).collect::<Vec<_>>())
    });
    let allocated = allocations_of(|i| {
        let [a, b, c, d] = std::array::from_fn(|j| caller.try_call(4 * i + j as u64).unwrap());
        // Pinned where they are, not boxed: a box would be counted.
        let mut calls = [pin!(a), pin!(b), pin!(c), pin!(d)];
        assert!(p.poll(&mut serving).is_pending());
        for (j, call) in calls.iter_mut().enumerate() {
            assert_eq!(p.ready(call), Ok(Ok((4 * i + j as u64) * 2)));
        }
    });
    assert_eq!(allocated, 2 * MEASURED);
}
