//! Each outcome of a call over NATS, against a real nats-server on loopback: the reply, and
//! `Closed`, `Lost`, `Timeout`, `Full`, with what the responder's handler saw.

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use rsvp_nats::rsvp::CallError;
use rsvp_nats::{Caller, Error};
use support::{bounded, connect, seen, spawn_service, Ask, NatsServer, Seen};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_and_its_deadline_reach_the_caller_and_the_handler() {
    let server = NatsServer::start();
    let (handle, serving, mut seen_rx) =
        spawn_service(connect(&server).await, "o.reply", |s| s).await;
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "o.reply");
    let reply = bounded(caller.call_timeout(Ask::Double(21), Duration::from_secs(5))).await;
    assert_eq!(reply, Ok(42));
    // The budget travelled: the handler's deadline is the caller's, less the transit.
    let Seen::Took(Ask::Double(21), Some(left)) = seen(&mut seen_rx).await else {
        panic!("the handler did not see the request with a deadline");
    };
    assert!(
        left <= Duration::from_secs(5) && left > Duration::from_secs(4),
        "{left:?}"
    );
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!(
        (stats.received, stats.endpoint.replied, stats.decided()),
        (1, 1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_responder_is_closed_at_once() {
    let server = NatsServer::start();
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "o.nobody");
    let start = Instant::now();
    let reply = bounded(caller.call_timeout(Ask::Double(1), Duration::from_secs(20))).await;
    assert_eq!(reply, Err(Error::Call(CallError::Closed)));
    // "At once": the server's no-responders status, not the 20 s deadline.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_responder_or_a_panic_is_lost_and_serving_goes_on() {
    let server = NatsServer::start();
    let (handle, serving, _seen) = spawn_service(connect(&server).await, "o.lost", |s| s).await;
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "o.lost");
    let long = Duration::from_secs(10);
    assert_eq!(
        bounded(caller.call_timeout(Ask::Drop, long)).await,
        Err(Error::Call(CallError::Lost))
    );
    assert_eq!(
        bounded(caller.call_timeout(Ask::Panic, long)).await,
        Err(Error::Call(CallError::Lost))
    );
    assert_eq!(
        bounded(caller.call_timeout(Ask::Double(4), long)).await,
        Ok(8)
    );
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!((stats.endpoint.lost, stats.endpoint.replied), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_cancels_the_handler_and_refuses_its_reply() {
    let server = NatsServer::start();
    let (handle, serving, mut seen_rx) =
        spawn_service(connect(&server).await, "o.timeout", |s| s).await;
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "o.timeout");
    let start = Instant::now();
    let reply = bounded(caller.call_timeout(Ask::Hold, Duration::from_millis(200))).await;
    assert_eq!(reply, Err(Error::Call(CallError::Timeout)));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert!(matches!(
        seen(&mut seen_rx).await,
        Seen::Took(Ask::Hold, Some(_))
    ));
    // The handler learns it (the cancel message, or its own deadline), and may not reply.
    assert!(matches!(
        seen(&mut seen_rx).await,
        Seen::Cancelled {
            reply_refused: true
        }
    ));
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!(stats.endpoint.timeout + stats.endpoint.cancelled, 1);
    assert_eq!(stats.endpoint.replied, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_call_cancels_the_handler() {
    let server = NatsServer::start();
    let (handle, serving, mut seen_rx) =
        spawn_service(connect(&server).await, "o.drop", |s| s).await;
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "o.drop");
    let call = caller.call_timeout(Ask::Hold, Duration::from_secs(20));
    // Poll the call until the handler has the request, then drop it: the caller gives up.
    tokio::select! {
        _ = call => panic!("a held call finished"),
        taken = seen(&mut seen_rx) => assert!(matches!(taken, Seen::Took(Ask::Hold, _))),
    }
    assert!(matches!(
        seen(&mut seen_rx).await,
        Seen::Cancelled {
            reply_refused: true
        }
    ));
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!(stats.endpoint.cancelled, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_once_the_capacity_is_taken() {
    let server = NatsServer::start();
    let (handle, serving, mut seen_rx) =
        spawn_service(connect(&server).await, "o.full", |s| s.capacity(1)).await;
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "o.full");
    let held = caller.call_timeout(Ask::Hold, Duration::from_secs(20));
    let second = async {
        let Seen::Took(Ask::Hold, _) = seen(&mut seen_rx).await else {
            panic!("the held call did not arrive first");
        };
        caller
            .call_timeout(Ask::Double(1), Duration::from_secs(10))
            .await
    };
    tokio::select! {
        _ = held => panic!("a held call finished"),
        refused = bounded(second) => assert_eq!(refused, Err(Error::Full)),
    }
    // The held call was dropped: its capacity comes back.
    assert!(matches!(seen(&mut seen_rx).await, Seen::Cancelled { .. }));
    let again = bounded(caller.call_timeout(Ask::Double(2), Duration::from_secs(10))).await;
    assert_eq!(again, Ok(4));
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!(
        (stats.full, stats.endpoint.replied, stats.received),
        (1, 1, 3)
    );
}

/// A cancel can reach a responder before it takes the call's request (a responder behind
/// on its intake: here, one not yet polled). The call is still cancelled: it is dropped
/// before any handler takes it, rather than held until its deadline for a caller that has
/// left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_read_before_its_request_still_cancels_the_call() {
    cancel_read_before_its_request(false).await;
}

/// The same, when the responder reads the cancel in a poll that has used tokio's budget
/// by then: its intake answers `Pending` though the request is there, which must not be
/// taken for "no such request here".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_read_before_its_request_by_a_busy_responder_still_cancels_the_call() {
    cancel_read_before_its_request(true).await;
}

async fn cancel_read_before_its_request(busy: bool) {
    let server = NatsServer::start();
    let service_client = connect(&server).await;
    let (tx, mut took) = tokio::sync::mpsc::unbounded_channel();
    let mut serving = bounded(
        rsvp_nats::Service::<Ask, u64>::new(service_client.clone(), "o.overtaken").serve(
            move |ask, responder| {
                let _ = tx.send(ask);
                async move {
                    match ask {
                        Ask::Double(n) => drop(responder.reply(n * 2)),
                        _ => responder.cancelled().await,
                    }
                }
            },
        ),
    )
    .await
    .expect("serve");
    let handle = serving.handle();
    let caller_client = connect(&server).await;
    let caller = Caller::<Ask, u64>::new(caller_client.clone(), "o.overtaken");
    {
        // Sent (one poll publishes the request), then given up (dropping it publishes the
        // cancel), while nobody polls the serving future.
        let mut call = std::pin::pin!(caller.call_timeout(Ask::Hold, Duration::from_secs(20)));
        assert!(futures_util::FutureExt::now_or_never(&mut call).is_none());
    }
    // The server has both messages, and has passed them to the responder's client: its
    // own echo, sent after, has come back.
    support::round_trip(&caller_client).await;
    support::round_trip(&service_client).await;
    if busy {
        // The serving future's first poll has one unit of the task's budget left: enough
        // to read the cancel, none to read the request after it.
        let budget = budget_of_a_poll().await;
        tokio::task::yield_now().await; // a fresh poll, with a whole budget
        std::future::poll_fn(|cx| {
            use_budget(cx, budget - 1);
            let _ = std::pin::Pin::new(&mut serving).poll(cx);
            std::task::Poll::Ready(())
        })
        .await;
    }
    let serving = tokio::spawn(serving);
    // Once this reply is back, the responder has taken the held request (it came first).
    let reply = bounded(caller.call_timeout(Ask::Double(5), Duration::from_secs(10))).await;
    assert_eq!(reply, Ok(10));
    let stats = handle.stats();
    assert_eq!(
        (
            stats.endpoint.cancelled,
            stats.endpoint.in_flight,
            stats.endpoint.queued
        ),
        (1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(bounded(took.recv()).await, Some(Ask::Double(5)));
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!((stats.endpoint.cancelled, stats.endpoint.replied), (1, 1));
}

/// How many operations tokio lets a task do in one poll (its cooperative budget): the
/// receives from a channel that holds more than that, in a fresh poll.
async fn budget_of_a_poll() -> usize {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..10_000 {
        tx.send(()).unwrap();
    }
    tokio::task::yield_now().await;
    let budget =
        std::future::poll_fn(|cx| std::task::Poll::Ready(use_budget_of(cx, &mut rx, usize::MAX)))
            .await;
    assert!(budget > 1 && budget < 10_000, "tokio's budget: {budget}");
    budget
}

/// Uses up to `n` units of the task's budget.
fn use_budget(cx: &mut std::task::Context<'_>, n: usize) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..n {
        tx.send(()).unwrap();
    }
    assert_eq!(use_budget_of(cx, &mut rx, n), n);
}

/// Receives from `rx` until it is empty, the budget is out or `n` were received; how many.
fn use_budget_of(
    cx: &mut std::task::Context<'_>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
    n: usize,
) -> usize {
    let mut received = 0;
    while received < n && rx.poll_recv(cx).is_ready() {
        received += 1;
    }
    received
}

/// A call given up by a task that has used its tokio budget (a task polling many calls at
/// once, as `join_all` does) still sends its cancel: the handler learns it from the
/// cancel, not from its own deadline later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dropped_by_a_busy_task_still_cancels_its_handler() {
    let server = NatsServer::start();
    let (handle, serving, mut seen_rx) =
        spawn_service(connect(&server).await, "o.busy", |s| s).await;
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "o.busy");
    let mut call = Some(Box::pin(
        caller.call_timeout(Ask::Hold, Duration::from_secs(10)),
    ));
    tokio::select! {
        _ = call.as_mut().unwrap() => panic!("a held call finished"),
        taken = seen(&mut seen_rx) => assert!(matches!(taken, Seen::Took(Ask::Hold, _))),
    }
    // In one poll: use up the task's budget (tokio's is 128 operations), then give up.
    let (tx, mut busy) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..1000 {
        tx.send(()).unwrap();
    }
    std::future::poll_fn(|cx| {
        let mut received = 0;
        while busy.poll_recv(cx).is_ready() {
            received += 1;
        }
        assert!(received < 1000, "no budget ran out");
        drop(call.take());
        std::task::Poll::Ready(())
    })
    .await;
    assert!(matches!(
        seen(&mut seen_rx).await,
        Seen::Cancelled {
            reply_refused: true
        }
    ));
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    // `cancelled`: the cancel arrived; `timeout` would mean the 10 s deadline ended it.
    assert_eq!(
        (stats.endpoint.cancelled, stats.endpoint.timeout),
        (1, 0),
        "{stats:?}"
    );
}
