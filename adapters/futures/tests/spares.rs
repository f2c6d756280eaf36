//! A sleep's futures-timer entry is reused by the next sleep of its thread: timed calls
//! allocate nothing once the thread has its spares, a reused entry still fires at its new
//! deadline (not before), and a spare never wakes the task that used it last.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_lite::future::zip;
use rsvp::time::{Clock, Timer};
use rsvp::CallError;
use rsvp_futures::FuturesTimer;

/// `System`, counting the allocations made on the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: a thread that is being torn down still allocates, uncounted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
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
static ALLOC: Counting = Counting;

#[test]
fn timed_calls_allocate_nothing_once_the_thread_has_spares() {
    let (caller, server) = rsvp_futures::local_channel::<u64, u64, 4>();
    let mut pool = futures_executor::LocalPool::new();
    let mut round_trip = |n: u64| {
        let call = caller.call_timeout(n, Duration::from_secs(60));
        let serve = async {
            let (x, responder) = server.recv().await.unwrap();
            responder.reply(x * 2).unwrap();
        };
        // The call is polled first: it waits for the reply, so its sleep arms every time.
        let (reply, ()) = pool.run_until(zip(call, serve));
        assert_eq!(reply, Ok(n * 2));
    };
    for n in 0..100 {
        round_trip(n);
    }
    let before = ALLOCATIONS.with(Cell::get);
    for n in 0..1_000 {
        round_trip(n);
    }
    assert_eq!(ALLOCATIONS.with(Cell::get) - before, 0);
    assert_eq!(caller.stats().replied, 1_100);
}

#[test]
fn a_reused_entry_fires_at_its_new_deadline_not_before() {
    let (caller, server) = rsvp_futures::local_channel::<u64, u64, 4>();
    let mut pool = futures_executor::LocalPool::new();
    // Answered: its sleep's entry becomes this thread's spare.
    let call = caller.call_timeout(1, Duration::from_secs(60));
    let serve = async {
        let (x, responder) = server.recv().await.unwrap();
        responder.reply(x).unwrap();
    };
    assert_eq!(pool.run_until(zip(call, serve)).0, Ok(1));

    // Never answered: the spare, reset to 10 ms from now, is what ends the call.
    let started = Instant::now();
    let result = pool.run_until(caller.call_timeout(2, Duration::from_millis(10)));
    assert_eq!(result, Err(CallError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(10));
    assert_eq!(caller.stats().timeout, 1);
}

struct WakeCount(AtomicUsize);

impl Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_spare_never_wakes_the_task_that_used_it() {
    let (caller, server) = rsvp_futures::local_channel::<u64, u64, 4>();
    let wakes = Arc::new(WakeCount(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut cx = Context::from_waker(&waker);
    {
        let mut call = pin!(caller.call_timeout(1, Duration::from_millis(5)));
        assert!(
            call.as_mut().poll(&mut cx).is_pending(),
            "its sleep is armed"
        );
        let (x, responder) = server.try_recv().unwrap();
        responder.reply(x).unwrap();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "woken by the reply");
        assert_eq!(call.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
    }
    // Well past the 5 ms the spare was armed for: the timer thread fires deadlines in
    // order, so it would have woken the task by the time this later sleep ends. On another
    // thread, so that it does not take this thread's spare.
    let later = FuturesTimer.now() + Duration::from_millis(30);
    std::thread::spawn(move || futures_executor::block_on(FuturesTimer.sleep_until(later)))
        .join()
        .unwrap();
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "no wake-up from the spare"
    );
}
