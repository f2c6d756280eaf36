//! The smol adapter end to end: endpoints served by spawned tasks, on one thread and across
//! threads, with async-io's timer behind `call_timeout`.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rsvp::rpc::With;
use rsvp::{CallError, CloseMode};
use rsvp_smol::{Caller, Responder, Server, Sleep, SmolTimer};
use smol::{Executor, LocalExecutor};

fn limit(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

#[test]
fn handles_and_timer_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    fn send_unpin<T: Send + Unpin>() {}
    send_sync::<Caller<u64, u64>>();
    send_sync::<Server<u64, u64>>();
    send_sync::<Responder<u64, u64>>();
    send_sync::<SmolTimer>();
    send_unpin::<Sleep>();
}

#[test]
fn round_trip_on_the_global_executor() {
    smol::block_on(async {
        let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
        let serving = rsvp_smol::spawn_server(server, limit(4), |n, responder| async move {
            let _ = responder.reply(n * 2);
        });
        for n in 0..10 {
            assert_eq!(caller.call(n).await, Ok(n * 2));
        }
        drop(caller);
        let report = serving.await;
        assert_eq!(report.received, 10);
        assert_eq!(report.stats.replied, 10);
    });
}

#[test]
fn round_trip_through_a_static_endpoint() {
    static DOUBLER: rsvp::Rpc<u64, u64, 4, With<rsvp::lock::StdMutex, SmolTimer>> =
        rsvp::Rpc::new(SmolTimer);
    smol::block_on(async {
        let (caller, server) = rsvp::Rpc::split(&DOUBLER);
        let serving = rsvp_smol::spawn_server(server, limit(2), |n, responder| async move {
            let _ = responder.reply(n * 2);
        });
        assert_eq!(
            caller.call_timeout(21, Duration::from_secs(60)).await,
            Ok(42)
        );
        drop(caller);
        assert_eq!(serving.await.received, 1);
    });
}

#[test]
fn round_trip_on_an_executor() {
    let executor = Executor::new();
    let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
    let serving =
        rsvp_smol::spawn_server_on(&executor, server, limit(4), |n, responder| async move {
            let _ = responder.reply(n + 1);
        });
    let report = smol::block_on(executor.run(async move {
        assert_eq!(caller.call(41).await, Ok(42));
        drop(caller);
        serving.await
    }));
    assert_eq!(report.received, 1);
}

#[test]
fn round_trip_on_a_local_executor() {
    let executor = LocalExecutor::new();
    let (caller, server) = rsvp_smol::local_channel::<String, usize, 4>();
    let serving =
        rsvp_smol::spawn_local_server(&executor, server, limit(2), |s, responder| async move {
            let _ = responder.reply(s.len());
        });
    let report = smol::block_on(executor.run(async move {
        assert_eq!(caller.call("four".to_owned()).await, Ok(4));
        drop(caller);
        serving.await
    }));
    assert_eq!(report.received, 1);
}

#[test]
fn server_thread_answers_64_caller_threads() {
    const CALLERS: u64 = 64;
    const CALLS_EACH: u64 = 16;
    // Fewer slots than callers, so callers also wait for each other's slots.
    let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
    let server_thread = std::thread::spawn(move || {
        smol::block_on(server.serve(limit(4), |n, responder| async move {
            let _ = responder.reply(n * 2);
        }))
    });
    let caller_threads: Vec<_> = (0..CALLERS)
        .map(|c| {
            let caller = caller.clone();
            std::thread::spawn(move || {
                smol::block_on(async {
                    for i in 0..CALLS_EACH {
                        let n = c * 1000 + i;
                        assert_eq!(caller.call(n).await, Ok(n * 2));
                    }
                })
            })
        })
        .collect();
    drop(caller);
    for thread in caller_threads {
        thread.join().unwrap();
    }
    // Every caller is gone, so serve returns once the queue is empty.
    let report = server_thread.join().unwrap();
    assert_eq!(report.received, CALLERS * CALLS_EACH);
    assert_eq!(report.stats.replied, CALLERS * CALLS_EACH);
    assert_eq!(report.stats.in_flight, 0);
}

#[test]
fn call_timeout_cancels_a_responder_that_never_replies() {
    // One real timer: it is what this crate adds. The outcome is asserted, not the time.
    let executor = LocalExecutor::new();
    let (caller, server) = rsvp_smol::local_channel::<u32, u32, 4>();
    let observed = Arc::new(AtomicBool::new(false));
    let seen = observed.clone();
    let serving =
        rsvp_smol::spawn_local_server(&executor, server, limit(1), move |_, responder| {
            let seen = seen.clone();
            async move {
                // Hold the responder, never reply: only the caller's deadline can end this.
                responder.cancelled().await;
                seen.store(responder.is_cancelled(), Ordering::SeqCst);
            }
        });
    let (result, report) = smol::block_on(executor.run(async move {
        let result = caller.call_timeout(1, Duration::from_millis(20)).await;
        drop(caller);
        (result, serving.await)
    }));
    assert_eq!(result, Err(CallError::Timeout));
    assert!(observed.load(Ordering::SeqCst));
    // The handler took the request before the deadline: it timed out while being worked on.
    assert_eq!(report.received, 1);
    assert_eq!(report.stats.timeout, 1);
    assert_eq!(report.stats.lost, 0);
}

#[test]
fn drain_close_serves_the_queued_calls_and_reports_them() {
    smol::block_on(async {
        let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
        let calls: Vec<_> = (0..5).map(|n| (n, caller.try_call(n).unwrap())).collect();
        assert_eq!(caller.close(CloseMode::Drain), 0);
        assert_eq!(caller.call(99).await, Err(CallError::Closed));

        // Served only now, after the close; the caller is still alive, so the close is what
        // ends the task.
        let serving = rsvp_smol::spawn_server(server, limit(2), |n, responder| async move {
            let _ = responder.reply(n * 2);
        });
        for (n, call) in calls {
            assert_eq!(call.await, Ok(n * 2));
        }
        let report = serving.await;
        assert_eq!(report.received, 5);
        assert_eq!(report.finished, 5);
        // A reply is counted when it is sent, so the report has them all.
        assert_eq!((report.stats.replied, report.stats.closed), (5, 1));
    });
}

#[test]
fn dropping_the_responder_loses_the_call() {
    smol::block_on(async {
        let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
        let serving = rsvp_smol::spawn_server(server, limit(1), |_, responder| async move {
            drop(responder);
        });
        assert_eq!(caller.call(1).await, Err(CallError::Lost));
        drop(caller);
        let report = serving.await;
        assert_eq!(report.received, 1);
        assert_eq!(report.stats.lost, 1);
    });
}

#[test]
fn dropping_the_task_stops_serving() {
    smol::block_on(async {
        let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
        let (started, handler_started) = smol::channel::bounded(1);
        let serving = rsvp_smol::spawn_server(server, limit(1), move |_, responder| {
            let started = started.clone();
            async move {
                started.send(()).await.unwrap();
                smol::future::pending::<()>().await;
                drop(responder);
            }
        });
        let call = caller.try_call(1).unwrap();
        handler_started.recv().await.unwrap();

        assert_eq!(serving.cancel().await, None, "serving ended by itself");
        // The handler in progress was dropped with its responder...
        assert_eq!(call.await, Err(CallError::Lost));
        // ...and so was the only server handle, which closes the endpoint.
        assert_eq!(caller.call(2).await, Err(CallError::Closed));
    });
}
