//! Calls to a responder that took them and never answers (a responder process that died
//! mid-call, as NATS sees it): each ends with `Timeout` at its deadline, and the caller
//! keeps nothing for it afterwards. Thousands of such calls leave the caller's memory
//! where it was; so do callers made and dropped (their reply subscriptions go with them).
//!
//! Memory is what this process has allocated and not freed, counted by a global allocator
//! that forwards to the system's. The tests take turns, as they share that count.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use futures_util::StreamExt;
use rsvp_nats::rsvp::CallError;
use rsvp_nats::{Caller, Error};
use support::{bounded, connect, round_trip, NatsServer};

/// Bytes allocated and not yet freed, by everything in this test process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Held by each test while it runs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `alloc` are passed on as they are.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `realloc` itself.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

/// `CALLS` calls at once, each to end at its 50 ms deadline.
async fn unanswered_calls(caller: &Caller<u64, u64>) {
    const CALLS: u64 = 200;
    let calls = (0..CALLS).map(|n| caller.call_timeout(n, Duration::from_millis(50)));
    for result in bounded(join_all(calls)).await {
        assert_eq!(result, Err(Error::Call(CallError::Timeout)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_nobody_answers_leave_nothing_behind_in_the_caller() {
    const ROUNDS: usize = 20;
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = NatsServer::start();
    // It takes every request and answers none (so the calls are not `Closed` at once).
    let silent = connect(&server).await;
    let mut requests = silent.subscribe("d.svc").await.unwrap();
    round_trip(&silent).await;
    let silent_responder = tokio::spawn(async move { while requests.next().await.is_some() {} });
    let caller = Caller::<u64, u64>::new(connect(&server).await, "d.svc");
    // A few rounds first, so that what grows to a working size (buffers, maps) has grown.
    for _ in 0..5 {
        unanswered_calls(&caller).await;
    }
    let before = quiet().await;
    for _ in 0..ROUNDS {
        unanswered_calls(&caller).await;
    }
    let grown = quiet().await - before;
    let calls = ROUNDS as isize * 200;
    eprintln!("{grown} bytes more after {calls} unanswered calls");
    // What a call left behind in async-nats' request map was about 320 bytes (its token,
    // a reply channel, the map's slot): 1.3 MB for these 4,000 calls. Buffers still
    // growing to their working size have been seen to add up to 90 KB, whatever the
    // number of calls: 50 bytes a call (200 KB) is well clear of both.
    assert!(
        grown < calls * 50,
        "{grown} bytes more after {calls} unanswered calls"
    );
    silent_responder.abort();
}

/// A caller's reply subscription, and the task that routes it, go with the caller's last
/// clone: callers made and dropped one after another leave nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_callers_leave_nothing_behind() {
    const CALLERS: isize = 200;
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = NatsServer::start();
    let client = connect(&server).await;
    // Nobody serves the subject: each call is `Closed` at once, after its caller has
    // subscribed to its replies.
    let one_caller = || async {
        let caller = Caller::<u64, u64>::new(client.clone(), "d.nobody");
        let result = bounded(caller.call_timeout(1, Duration::from_secs(10))).await;
        assert_eq!(result, Err(Error::Call(CallError::Closed)));
    };
    for _ in 0..20 {
        one_caller().await;
    }
    let before = quiet().await;
    for _ in 0..CALLERS {
        one_caller().await;
    }
    // A dropped caller's task ends soon after, on another thread: `quiet` waits for it.
    let grown = quiet().await - before;
    eprintln!("{grown} bytes more after {CALLERS} callers made and dropped");
    // One left behind would keep a task, a subscription and its channel: kilobytes each.
    assert!(
        grown < CALLERS * 50,
        "{grown} bytes more after {CALLERS} callers made and dropped"
    );
}

/// The bytes allocated once the count has stopped falling for 100 ms (what was dropped
/// has been freed, on whatever thread frees it), or after 5 s.
async fn quiet() -> isize {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut low = LIVE.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let live = LIVE.load(Ordering::Relaxed);
        if live >= low || tokio::time::Instant::now() >= give_up {
            return live.min(low);
        }
        low = live;
    }
}
