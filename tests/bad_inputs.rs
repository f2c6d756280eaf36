//! Bad inputs: every invalid configuration or misuse in the "Bad inputs" table of `benches/README.md`,
//! one test per row, each checking what the user gets (an error at construction, a
//! compile error, or an outcome for the caller) and that nothing is lost or left waiting.
//!
//! The two rows that do not compile (zero reply slots, a zero-capacity queue) are
//! `compile_fail` doctests on `rsvp_tests::compile_errors`.

use std::num::NonZeroUsize;
use std::pin::pin;
use std::rc::Rc;

use futures_executor::LocalPool;
use futures_util::future::Either;
use futures_util::task::LocalSpawnExt;
use rsvp::batch::{BatchConfig, BatchConfigError, BatchError, WrongResultCount};
use rsvp::lock::LocalMutex;
use rsvp::promise::{PromiseService, TryGetError};
use rsvp::queue::TrySendError;
use rsvp::time::ManualClock;
use rsvp::{promise, CallError, CloseMode, Promise, Rpc, TryCallError};
use rsvp_scenarios::PanicsTwice;
use rsvp_tests::batch::BatchHarness;
use rsvp_tests::{ms, LocalRpc, Poller};

type Endpoint = LocalRpc<u32, u32, 1>;

#[test]
fn zero_batch_size_is_refused_at_construction() {
    assert_eq!(
        BatchConfig::new(0, ms(100)),
        Err(BatchConfigError::ZeroSize)
    );
}

#[test]
fn zero_batch_window_is_refused_at_construction() {
    assert_eq!(BatchConfig::new(3, ms(0)), Err(BatchConfigError::ZeroWait));
}

#[test]
fn batch_size_above_the_slot_count_runs_a_full_batch_at_once() {
    // 16 reply slots: no more than 16 requests can ever wait, so a batch of 16 is full.
    let mut h = BatchHarness::start(usize::MAX, rsvp_tests::batch::triple_or_reject_negatives);
    for n in 0..16 {
        h.call(n, None);
    }
    assert_eq!(
        h.batches(),
        [(0..16).collect::<Vec<_>>()],
        "one batch of every slot, before any time passed"
    );
    let (replies, report) = h.finish();
    assert_eq!(replies.len(), 16);
    for (n, reply) in replies {
        assert_eq!(reply, Ok(Ok(n * 3)));
    }
    assert_eq!((report.batches, report.items), (1, 16));
}

#[test]
fn batch_handler_returning_too_few_results_fails_every_caller_of_the_batch() {
    let mut h = BatchHarness::start(2, |items| vec![Ok(items[0])]);
    h.call(1, None);
    h.call(2, None);
    let (replies, report) = h.finish();
    let wrong = WrongResultCount {
        expected: 2,
        got: 1,
    };
    assert_eq!(replies.len(), 2, "each caller got exactly one outcome");
    for (_, reply) in replies {
        assert_eq!(reply, Ok(Err(BatchError::WrongCount(wrong))));
    }
    assert_eq!(report.items, 2);
}

#[test]
fn batch_handler_returning_too_many_results_fails_every_caller_of_the_batch() {
    let mut h = BatchHarness::start(1, |items| vec![Ok(items[0]), Ok(99)]);
    h.call(7, None);
    let (replies, _) = h.finish();
    let wrong = WrongResultCount {
        expected: 1,
        got: 2,
    };
    assert_eq!(replies, [(7, Ok(Err(BatchError::WrongCount(wrong))))]);
}

#[test]
fn second_set_of_a_promise_is_refused_and_handed_back() {
    let promise: Promise<u32, LocalMutex> = Promise::new();
    assert_eq!(promise.set(1), Ok(()));
    assert_eq!(promise.set(2), Err(2));
    assert_eq!(promise.try_get(), Ok(1), "the first value wins");
}

#[test]
fn set_after_every_setter_is_gone_is_refused() {
    let (setter, promise) = promise::<u32, rsvp::lock::StdMutex>();
    drop(setter);
    assert_eq!(promise.try_get(), Err(TryGetError::Abandoned));
    assert_eq!(
        promise.set(5),
        Err(5),
        "an abandoned promise takes no value"
    );
}

#[test]
fn reply_after_the_deadline_is_handed_back() {
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut call = pin!(caller.try_call_timeout(1, ms(10)).unwrap());
    let (_, responder) = server.try_recv().unwrap();
    clock.advance(ms(10));
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    assert!(responder.is_cancelled());
    assert_eq!(responder.reply(10), Err(10));
    let stats = caller.stats();
    assert_eq!((stats.timeout, stats.replied), (1, 0));
}

#[test]
fn reply_to_a_reused_slot_never_reaches_the_new_caller() {
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let first = caller.try_call(1).unwrap();
    let (_, stale) = server.try_recv().unwrap();
    drop(first); // the only slot is free again
    let mut second = pin!(caller.try_call(2).unwrap());
    assert_eq!(
        stale.reply(100),
        Err(100),
        "handed back to the stale responder"
    );
    p.pending(&mut second);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req * 10).unwrap();
    assert_eq!(p.ready(&mut second), Ok(20));
}

#[test]
fn call_after_shutdown_is_closed() {
    let rpc: Endpoint = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    server.close(CloseMode::Fail);
    assert_eq!(caller.try_call(1).map(drop), Err(TryCallError::Closed(1)));
    let mut call = pin!(caller.call(2));
    assert_eq!(Poller::new().ready(&mut call), Err(CallError::Closed));
    assert_eq!(caller.stats().closed, 2);
}

#[test]
fn call_with_no_server_is_closed() {
    let rpc: Endpoint = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    drop(server);
    let mut call = pin!(caller.call(1));
    assert_eq!(Poller::new().ready(&mut call), Err(CallError::Closed));
}

#[test]
fn try_call_on_a_full_endpoint_hands_the_request_back() {
    let rpc: Endpoint = Rpc::new(ManualClock::new());
    let (caller, _server) = Rpc::split(&rpc);
    let _first = caller.try_call(1).unwrap();
    assert_eq!(caller.try_call(2).map(drop), Err(TryCallError::Full(2)));
    assert_eq!(caller.stats().full, 1);
}

#[test]
fn responder_dropped_without_replying_gives_lost() {
    let rpc: Endpoint = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let mut call = pin!(caller.try_call(1).unwrap());
    drop(server.try_recv().unwrap());
    assert_eq!(Poller::new().ready(&mut call), Err(CallError::Lost));
    assert_eq!(caller.stats().lost, 1);
}

/// A handler that panics (in the call, or in its future) gives its caller `Lost`, and
/// `serve` goes on serving the next request.
/// A handler that panics when called (1), whose future panics (2), or whose future panics
/// when polled and again when dropped (4): each gives its own caller `Lost`, and serve goes
/// on (3 and 5 are answered).
#[test]
fn panicking_handler_gives_lost_and_serve_keeps_serving() {
    let rpc = Rc::new(LocalRpc::<u32, u32, 8>::new(ManualClock::new()));
    let (caller, server) = Rpc::split(rpc);
    let mut pool = LocalPool::new();
    let report = Rc::new(std::cell::Cell::new(None));
    let out = report.clone();
    pool.spawner()
        .spawn_local(async move {
            let done = server
                .serve(NonZeroUsize::new(2).unwrap(), |n, responder| {
                    assert_ne!(n, 1, "handler call panics on 1");
                    if n == 4 {
                        return Either::Left(PanicsTwice::new(responder));
                    }
                    Either::Right(async move {
                        futures_util::future::ready(()).await;
                        assert_ne!(n, 2, "handler future panics on 2");
                        let _ = responder.reply(n * 10);
                    })
                })
                .await;
            out.set(Some(done));
        })
        .unwrap();
    let results = Rc::new(std::cell::RefCell::new(Vec::new()));
    for n in [1, 2, 3, 4, 5] {
        let (caller, results) = (caller.clone(), results.clone());
        pool.spawner()
            .spawn_local(async move {
                let reply = caller.call(n).await;
                results.borrow_mut().push((n, reply));
            })
            .unwrap();
    }
    // The panics are expected: keep the test output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    pool.run_until_stalled();
    std::panic::set_hook(hook);
    let mut got = results.take();
    got.sort_by_key(|(n, _)| *n);
    assert_eq!(
        got,
        [
            (1, Err(CallError::Lost)),
            (2, Err(CallError::Lost)),
            (3, Ok(30)),
            (4, Err(CallError::Lost)),
            (5, Ok(50)),
        ]
    );
    drop(caller);
    pool.run_until_stalled();
    let report = report.take().expect("serve returned");
    assert_eq!((report.received, report.finished), (5, 5));
    assert_eq!((report.stats.lost, report.stats.replied), (3, 2));
}

#[test]
fn submit_to_a_closed_promise_service_hands_the_request_back() {
    let service = PromiseService::<u32, u32, LocalMutex, 2>::new();
    service.close(CloseMode::Fail);
    assert!(matches!(service.submit(7), Err(TrySendError::Closed(7))));
}

/// A `PromiseService` job whose handler panics (in the call, in its future, or in its future
/// and again when it is dropped) abandons its own promise, and `run` goes on with the next
/// jobs.
#[test]
fn panicking_promise_service_job_abandons_its_promise_and_run_goes_on() {
    let service = Rc::new(PromiseService::<u32, u32, LocalMutex, 8>::new());
    let promises: Vec<_> = [1, 2, 3, 4, 5]
        .into_iter()
        .map(|n| service.submit(n).unwrap())
        .collect();
    service.close(CloseMode::Drain);
    let run = PromiseService::run(service.clone(), NonZeroUsize::new(2).unwrap(), |n| {
        assert_ne!(n, 1, "handler call panics on 1");
        if n == 4 {
            return Either::Left(PanicsTwice::new(()));
        }
        Either::Right(async move {
            futures_util::future::ready(()).await;
            assert_ne!(n, 2, "handler future panics on 2");
            n * 10
        })
    });
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let report = futures_executor::block_on(run);
    std::panic::set_hook(hook);
    let got: Vec<_> = promises.iter().map(|p| p.try_get()).collect();
    assert_eq!(
        got,
        [
            Err(TryGetError::Abandoned),
            Err(TryGetError::Abandoned),
            Ok(30),
            Err(TryGetError::Abandoned),
            Ok(50)
        ]
    );
    assert_eq!((report.received, report.finished), (5, 5));
}
