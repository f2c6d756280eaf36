//! A panicking `serve` handler ends only its own call, under rsvp-futures: the server and
//! each call a task of a `futures_executor::ThreadPool`. The panicking calls' callers get
//! `Lost`; every other call is answered.
//!
//! Another server handle stays alive while the calls run, so a serve task that died of a
//! panic would leave the later calls waiting (a hang the test runner ends), not `Closed`.

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};

use rsvp::CallError;

/// A handler's future that panics when polled, and again when dropped; it holds `T` (the
/// call's responder).
struct PanicsTwice<T> {
    _holds: T,
}

impl<T> Future for PanicsTwice<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        panic!("the handler's future fails when polled");
    }
}

impl<T> Drop for PanicsTwice<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("and again when dropped");
        }
    }
}

#[test]
fn serve_loses_only_the_panicking_calls_on_a_thread_pool() {
    let pool = futures_executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    let (caller, server) = rsvp_futures::channel::<u64, u64, 8>();
    let other_server = server.clone();
    // The panics are expected: keep the test output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (served, report) = mpsc::channel();
    let serving = server.serve(NonZeroUsize::new(2).unwrap(), |n, responder| {
        assert_ne!(n, 1, "the handler fails when called with 1");
        async move {
            futures_lite::future::yield_now().await;
            assert_ne!(n, 2, "the handler's future fails on 2");
            if n == 3 {
                PanicsTwice { _holds: responder }.await;
            } else {
                let _ = responder.reply(n * 10);
            }
        }
    });
    pool.spawn_ok(async move {
        let _ = served.send(serving.await);
    });
    let (done, replies) = mpsc::channel();
    for n in 1..=6 {
        let (caller, done) = (caller.clone(), done.clone());
        pool.spawn_ok(async move {
            let _ = done.send((n, caller.call(n).await));
        });
    }
    drop(done);
    // Every calling task sends its outcome (a task that panicked would drop its sender).
    let mut outcomes: Vec<_> = replies.iter().collect();
    outcomes.sort_by_key(|(n, _)| *n);
    // A later call, after every panic: still served.
    outcomes.push((7, futures_executor::block_on(caller.call(7))));
    drop(caller);
    let report = report.recv();
    drop(other_server);
    std::panic::set_hook(hook);
    assert_eq!(
        outcomes,
        [
            (1, Err(CallError::Lost)),
            (2, Err(CallError::Lost)),
            (3, Err(CallError::Lost)),
            (4, Ok(40)),
            (5, Ok(50)),
            (6, Ok(60)),
            (7, Ok(70)),
        ]
    );
    let report = report.expect("the serve task ended without its report (it panicked)");
    assert_eq!((report.received, report.finished), (7, 7));
    assert_eq!((report.stats.lost, report.stats.replied), (3, 4));
}
