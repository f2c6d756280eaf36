//! Shutdown never leaves a caller hanging: `close(Fail)` ends queued calls with `Closed` and
//! lets work in progress finish; `close(Drain)` answers everything; dropping the last
//! server ends what is queued; `serve` returns a report that adds up.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::rc::Rc;

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt;
use rsvp::rpc::ServeReport;
use rsvp::time::{ManualClock, Timer};
use rsvp::{CallError, Caller, CloseMode, Rpc, TryCallError};
use rsvp_tests::{ms, LocalRpc, Poller};

type Endpoint = LocalRpc<u32, u32, 8>;

/// Each call's request and outcome, in the order they ended.
type Results = Vec<(u32, Result<u32, CallError>)>;

/// How long each handler works.
const WORK: std::time::Duration = ms(10);

/// An endpoint served by `serve` on a `LocalPool`, with calls spawned as tasks.
struct Harness {
    clock: ManualClock,
    caller: Caller<Rc<Endpoint>>,
    pool: LocalPool,
    results: Rc<RefCell<Results>>,
    report: Rc<RefCell<Option<ServeReport>>>,
}

impl Harness {
    /// Serves with `concurrency` handlers that each work for `WORK` and answer `req * 2`.
    fn start(concurrency: usize) -> Self {
        let clock = ManualClock::new();
        let rpc = Rc::new(Endpoint::new(clock.clone()));
        let (caller, server) = Rpc::split(rpc);
        let pool = LocalPool::new();
        let report = Rc::new(RefCell::new(None));
        let handler_clock = clock.clone();
        let serve_report = report.clone();
        pool.spawner()
            .spawn_local(async move {
                let limit = NonZeroUsize::new(concurrency).unwrap();
                let served = server
                    .serve(limit, |req, responder| {
                        let sleep = handler_clock.sleep_until(handler_clock.after(WORK));
                        async move {
                            sleep.await;
                            let _ = responder.reply(req * 2);
                        }
                    })
                    .await;
                *serve_report.borrow_mut() = Some(served);
            })
            .unwrap();
        Self {
            clock,
            caller,
            pool,
            results: Rc::default(),
            report,
        }
    }

    fn spawn_call(&self, req: u32) {
        let caller = self.caller.clone();
        let results = self.results.clone();
        self.pool
            .spawner()
            .spawn_local(async move {
                let result = caller.call(req).await;
                results.borrow_mut().push((req, result));
            })
            .unwrap();
    }

    /// Moves time on by `by` and runs every task that can run.
    fn advance(&mut self, by: std::time::Duration) {
        self.clock.advance(by);
        self.pool.run_until_stalled();
    }

    /// The results, by request.
    fn results(&self) -> Results {
        let mut results = self.results.borrow().clone();
        results.sort_unstable_by_key(|(req, _)| *req);
        results
    }
}

#[test]
fn close_fail_ends_queued_calls_and_finishes_work_in_progress() {
    let mut h = Harness::start(2);
    for req in 1..=5 {
        h.spawn_call(req);
    }
    h.pool.run_until_stalled();
    let stats = h.caller.stats();
    assert_eq!((stats.in_flight, stats.queued), (2, 3));

    assert_eq!(h.caller.close(CloseMode::Fail), 3);
    h.pool.run_until_stalled();
    let closed = Err(CallError::Closed);
    assert_eq!(h.results(), [(3, closed), (4, closed), (5, closed)]);
    assert!(
        h.report.borrow().is_none(),
        "two handlers are still working"
    );

    h.advance(WORK);
    assert_eq!(
        h.results(),
        [
            (1, Ok(2)),
            (2, Ok(4)),
            (3, closed),
            (4, closed),
            (5, closed)
        ]
    );
    let report = h.report.take().expect("serve returned");
    assert_eq!((report.received, report.finished), (2, 2));
    let stats = h.caller.stats();
    assert_eq!((stats.replied, stats.closed, stats.total()), (2, 3, 5));
    assert_eq!((stats.queued, stats.in_flight), (0, 0));

    // After shutdown every new call is refused at once.
    assert!(matches!(h.caller.try_call(6), Err(TryCallError::Closed(6))));
    h.spawn_call(7);
    h.pool.run_until_stalled();
    assert_eq!(h.results().last(), Some(&(7, closed)));
    assert_eq!(h.caller.close(CloseMode::Fail), 0, "close is idempotent");
}

#[test]
fn close_drain_answers_every_queued_call() {
    let mut h = Harness::start(2);
    for req in 1..=5 {
        h.spawn_call(req);
    }
    h.pool.run_until_stalled();
    assert_eq!(h.caller.close(CloseMode::Drain), 0, "nothing ended");
    h.spawn_call(6);
    h.pool.run_until_stalled();
    assert_eq!(
        h.results(),
        [(6, Err(CallError::Closed))],
        "new calls are refused"
    );

    for _ in 0..3 {
        assert!(h.report.borrow().is_none());
        h.advance(WORK);
    }
    let replies: Vec<_> = (1..=5).map(|req| (req, Ok(req * 2))).collect();
    assert_eq!(h.results()[..5], replies[..]);
    let report = h.report.take().expect("serve returned once drained");
    assert_eq!((report.received, report.finished), (5, 5));
    let stats = h.caller.stats();
    assert_eq!((stats.replied, stats.closed), (5, 1));
}

/// `ServeReport::stats` is "how every call ended": `serve` returns as soon as its last
/// handler has replied, before those callers have run, so the replies must count when
/// they are sent, not when they are read.
#[test]
fn serve_report_counts_the_replies_it_sent() {
    let mut h = Harness::start(2);
    for req in 1..=5 {
        h.spawn_call(req);
    }
    h.pool.run_until_stalled();
    h.caller.close(CloseMode::Fail);
    h.advance(WORK);
    let report = h.report.take().expect("serve returned");
    assert_eq!(report.received, 2);
    let stats = report.stats;
    assert_eq!((stats.replied, stats.closed, stats.total()), (2, 3, 5));
}

#[test]
fn serve_returns_once_every_caller_is_gone() {
    let mut h = Harness::start(3);
    for req in 1..=4 {
        h.spawn_call(req);
    }
    h.pool.run_until_stalled();
    // The spawned calls hold their own caller handles until they end.
    drop(h.caller);
    h.clock.advance(WORK);
    h.pool.run_until_stalled();
    assert_eq!(h.results.borrow().len(), 3);
    assert!(
        h.report.borrow().is_none(),
        "one request is still being served"
    );
    h.clock.advance(WORK);
    h.pool.run_until_stalled();
    assert_eq!(h.results.borrow().len(), 4);
    let report = h.report.take().expect("serve returned");
    assert_eq!((report.received, report.finished), (4, 4));
}

#[test]
fn dropping_the_last_server_ends_queued_and_waiting_calls() {
    let rpc: LocalRpc<u32, u32, 3> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut taken = pin!(caller.try_call(1).unwrap());
    let mut queued = [
        pin!(caller.try_call(2).unwrap()),
        pin!(caller.try_call(3).unwrap()),
    ];
    let mut waiting = pin!(caller.call(4));
    p.pending(&mut waiting);
    let (req, responder) = server.try_recv().unwrap();
    p.pending(&mut taken);

    drop(server);
    for call in &mut queued {
        assert_eq!(p.ready(call), Err(CallError::Closed));
    }
    assert_eq!(p.ready(&mut waiting), Err(CallError::Closed));
    // The request being worked on still gets its reply.
    p.pending(&mut taken);
    responder.reply(req * 2).unwrap();
    assert_eq!(p.ready(&mut taken), Ok(2));
    let stats = rpc.stats();
    assert_eq!((stats.replied, stats.closed, stats.total()), (1, 3, 4));
}

#[test]
fn every_way_to_call_is_refused_after_shutdown() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let permit = caller.try_reserve().unwrap();

    caller.close(CloseMode::Fail);
    let closed = Err(CallError::Closed);
    assert!(matches!(caller.try_call(1), Err(TryCallError::Closed(1))));
    assert!(matches!(
        caller.try_call_timeout(2, ms(5)),
        Err(TryCallError::Closed(2))
    ));
    assert!(matches!(
        caller.try_reserve(),
        Err(TryCallError::Closed(()))
    ));
    assert_eq!(p.ready(&mut pin!(caller.call(3))), closed);
    assert_eq!(p.ready(&mut pin!(caller.call_timeout(4, ms(5)))), closed);
    assert_eq!(
        p.ready(&mut pin!(caller.call_deadline(5, clock.after(ms(5))))),
        closed
    );
    assert!(matches!(
        p.ready(&mut pin!(caller.reserve())),
        Err(CallError::Closed)
    ));
    assert_eq!(
        p.ready(&mut pin!(permit.call(6))),
        closed,
        "a permit held across close"
    );
    assert!(p.ready(&mut pin!(server.recv())).is_none());
}

#[test]
fn dropping_serve_loses_work_in_progress_and_keeps_the_queue() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut calls: Vec<_> = (1..=3)
        .map(|req| Box::pin(caller.try_call(req).unwrap()))
        .collect();
    // `serve` owns a server handle; keep another for the next `recv`.
    let mut serve = server
        .clone()
        .serve(NonZeroUsize::new(1).unwrap(), |req, responder| {
            let sleep = clock.sleep_until(clock.after(WORK));
            async move {
                sleep.await;
                let _ = responder.reply(req * 2);
            }
        });
    p.pending(&mut serve);
    assert_eq!(rpc.stats().in_flight, 1);
    drop(serve);
    assert_eq!(p.ready(&mut calls[0]), Err(CallError::Lost));
    assert_eq!(rpc.stats().queued, 2, "the queued requests stay queued");

    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 2, "the next serve (or recv) takes them");
    responder.reply(req * 2).unwrap();
    assert_eq!(p.ready(&mut calls[1]), Ok(4));
}

/// A reserved slot that a shutdown ends is counted `Closed` only if a call held it: an
/// unused permit is no call (a tower readiness probe, say), before or after a shutdown.
#[test]
fn a_shutdown_counts_reserved_slots_only_for_the_calls_that_held_them() {
    let rpc: Endpoint = Rpc::new(ManualClock::new());
    let (caller, _server) = Rpc::split(&rpc);
    let p = Poller::new();
    let unused = caller.try_reserve().unwrap();
    let used_later = caller.try_reserve().unwrap();
    let made = caller.try_reserve().unwrap().call(3); // a call, not polled yet
    let mut queued = pin!(caller.try_call(4).unwrap());
    assert_eq!(caller.close(CloseMode::Fail), 1, "the queued call");
    assert_eq!(p.ready(&mut queued), Err(CallError::Closed));

    drop(unused);
    let mut sent_after = pin!(used_later.call(2));
    assert_eq!(p.ready(&mut sent_after), Err(CallError::Closed));
    drop(made);
    let stats = rpc.stats();
    assert_eq!(
        (stats.closed, stats.cancelled, stats.in_flight),
        (3, 0, 0),
        "the queued call, the call sent after the shutdown and the call that held its slot"
    );
}
