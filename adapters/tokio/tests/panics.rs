//! A panicking handler ends only its own call or batch, on tokio: `serve` through
//! [`rsvp_tokio::spawn_server`], and the batch servers on a thread-safe endpoint, with the
//! handlers run on a multi-thread runtime's workers. The panicking calls' callers get
//! `Lost`; every other call is answered, and the server's report counts what happened.
//!
//! Another server handle stays alive while the calls run, so a serve task that died of a
//! panic would leave the later calls waiting (a hang the test runner ends), not `Closed`.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rsvp::batch::{BatchConfig, BatchJob, BatchReport, BatchResult};
use rsvp::CallError;
use rsvp_scenarios::PanicsTwice;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a multi-thread runtime")
}

/// Runs `f` with the panic hook silenced: the handlers' panics are expected. The hook is
/// back before the caller asserts, so a failing assertion still prints its message.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let out = f();
    std::panic::set_hook(hook);
    out
}

#[tokio::test(start_paused = true)]
async fn spawn_server_serves_on_after_a_handler_future_that_panics_when_polled_and_dropped() {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (caller, server) = rsvp_tokio::channel::<u64, u64, 4>();
    let other_server = server.clone();
    let serving = rsvp_tokio::spawn_server(server, NonZeroUsize::MIN, |n, responder| async move {
        if n == 1 {
            PanicsTwice::<_>::new(responder).await;
        } else {
            let _ = responder.reply(n * 2);
        }
    });
    let first = caller.call(1).await;
    // On paused time, a serve task that died would let the clock run to this timeout at
    // once (nothing else to wait for), rather than hang.
    let second = tokio::time::timeout(Duration::from_secs(3600), caller.call(2)).await;
    drop(caller);
    let report = serving.await;
    drop(other_server);
    std::panic::set_hook(hook);

    assert_eq!(first, Err(CallError::Lost));
    assert_eq!(second, Ok(Ok(4)), "call 2 is served after the panics");
    let report = report.expect("the serve task itself panicked");
    assert_eq!((report.stats.lost, report.stats.replied), (1, 1));
}

type BatchServer = rsvp_tokio::Server<i32, BatchResult<i32, String>, 16>;

/// Batches of 2, whose window (an hour) never closes during the test: every batch runs
/// when full.
fn batches_of_two() -> BatchConfig {
    BatchConfig::new(2, Duration::from_secs(3600)).unwrap()
}

/// Calls 1..=8 but with 13 in place of 4, each from its own task on a multi-thread
/// runtime, then 9 and 10 together once those have ended, against the batch server that
/// `serve` spawns (it records each batch it is given in `seen`, and its handler fails on
/// the batch holding 13). Asserts that only the callers of that batch got `Lost`, the
/// others their tripled number (the last batch too), and the report.
fn only_the_panicking_batch_is_lost(
    serve: impl FnOnce(BatchServer, Arc<Mutex<Vec<Vec<i32>>>>) -> JoinHandle<BatchReport>,
) {
    let runtime = multi_thread();
    let seen: Arc<Mutex<Vec<Vec<i32>>>> = Arc::default();
    let recorded = seen.clone();
    let (outcomes, report) = quietly(|| {
        runtime.block_on(async move {
            let (caller, server) = rsvp_tokio::channel::<i32, BatchResult<i32, String>, 16>();
            let other_server = server.clone();
            let serving = serve(server, recorded);
            let calls: Vec<JoinHandle<_>> = [1, 2, 3, 13, 5, 6, 7, 8]
                .into_iter()
                .map(|n| {
                    let caller = caller.clone();
                    tokio::spawn(async move { (n, caller.call(n).await) })
                })
                .collect();
            let mut outcomes = Vec::new();
            for call in calls {
                outcomes.push(call.await.ok());
            }
            // A batch after every other has ended, the panicking one too: still served.
            let (nine, ten) = tokio::join!(caller.call(9), caller.call(10));
            outcomes.extend([Some((9, nine)), Some((10, ten))]);
            drop(caller);
            let report = serving.await;
            drop(other_server);
            (outcomes, report)
        })
    });
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "5 full batches: {seen:?}");
    assert_eq!(seen[4], [9, 10], "the last batch");
    let failed = seen.iter().find(|batch| batch.contains(&13)).unwrap();
    assert_eq!(failed.len(), 2, "{seen:?}");
    for outcome in outcomes {
        let (n, outcome) = outcome.expect("a calling task panicked");
        if failed.contains(&n) {
            assert_eq!(outcome, Err(CallError::Lost), "{n} was in {failed:?}");
        } else {
            assert_eq!(outcome, Ok(Ok(n * 3)), "{n} was not in {failed:?}");
        }
    }
    let report = report.expect("the batch server's task itself panicked");
    assert_eq!((report.batches, report.items, report.panicked), (5, 10, 1));
    assert_eq!((report.stats.lost, report.stats.replied), (2, 8));
}

fn triple(items: &[i32]) -> Vec<Result<i32, String>> {
    items.iter().map(|n| Ok(n * 3)).collect()
}

#[test]
fn serve_batches_handler_panic_loses_only_its_batch_on_a_multi_thread_runtime() {
    only_the_panicking_batch_is_lost(|server, seen| {
        tokio::spawn(
            server.serve_batches(batches_of_two(), move |items: Vec<i32>| {
                seen.lock().unwrap().push(items.clone());
                assert!(
                    !items.contains(&13),
                    "the handler fails when called with 13"
                );
                async move { triple(&items) }
            }),
        )
    });
}

#[test]
fn serve_batches_future_panic_loses_only_its_batch_on_a_multi_thread_runtime() {
    only_the_panicking_batch_is_lost(|server, seen| {
        tokio::spawn(
            server.serve_batches(batches_of_two(), move |items: Vec<i32>| {
                seen.lock().unwrap().push(items.clone());
                async move {
                    tokio::task::yield_now().await;
                    assert!(!items.contains(&13), "the handler's future fails on 13");
                    triple(&items)
                }
            }),
        )
    });
}

#[test]
fn serve_batch_jobs_handler_panic_loses_only_its_batch_on_a_multi_thread_runtime() {
    only_the_panicking_batch_is_lost(|server, seen| {
        tokio::spawn(server.serve_batch_jobs(
            batches_of_two(),
            move |mut job: BatchJob<i32, i32, String>| {
                seen.lock().unwrap().push(job.requests().to_vec());
                assert!(
                    !job.requests().contains(&13),
                    "the handler fails when called with 13"
                );
                async move {
                    job.answer_each(|n| Ok(n * 3));
                    job
                }
            },
        ))
    });
}

#[test]
fn serve_batch_jobs_future_panic_loses_only_its_batch_on_a_multi_thread_runtime() {
    only_the_panicking_batch_is_lost(|server, seen| {
        tokio::spawn(server.serve_batch_jobs(
            batches_of_two(),
            move |mut job: BatchJob<i32, i32, String>| {
                seen.lock().unwrap().push(job.requests().to_vec());
                async move {
                    tokio::task::yield_now().await;
                    assert!(
                        !job.requests().contains(&13),
                        "the handler's future fails on 13"
                    );
                    job.answer_each(|n| Ok(n * 3));
                    job
                }
            },
        ))
    });
}
