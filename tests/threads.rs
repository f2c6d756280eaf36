//! The thread-safe flavour (`StdMutex` behind an `Arc`): a server on one thread, callers on
//! others, every call gets its own reply.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread;

use futures_executor::block_on;
use rsvp::lock::StdMutex;
use rsvp::rpc::With;
use rsvp::time::{ManualClock, NoClock};
use rsvp::{CallFuture, Caller, Responder, Rpc, Server};
use rsvp_tests::{ms, SharedRpc};

const THREADS: u64 = 4;
const CALLS_PER_THREAD: u64 = 2_500;

#[allow(dead_code)]
fn handles_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    type Shared = Arc<Rpc<u64, u64, 4, With<StdMutex, NoClock>>>;
    send_sync::<Rpc<u64, u64, 4, With<StdMutex, NoClock>>>();
    send_sync::<SharedRpc<u64, u64, 4>>();
    send_sync::<Caller<Shared>>();
    send_sync::<Server<Shared>>();
    send::<Responder<Shared>>();
    send::<CallFuture<&'static Rpc<u64, u64, 4, With<StdMutex, NoClock>>>>();
}

#[test]
fn ten_thousand_calls_from_four_threads_each_get_their_own_reply() {
    // Two slots for four threads: callers also wait for slots across threads.
    let rpc = Arc::new(Rpc::<u64, u64, 2, With<StdMutex, NoClock>>::new(NoClock));
    let (caller, server) = Rpc::split(rpc.clone());

    let server_thread = thread::spawn(move || {
        block_on(async {
            let mut served = 0u64;
            while let Some((req, responder)) = server.recv().await {
                responder.reply(req * 2).unwrap();
                served += 1;
            }
            served
        })
    });
    let callers: Vec<_> = (0..THREADS)
        .map(|t| {
            let caller = caller.clone();
            thread::spawn(move || {
                block_on(async {
                    for i in t * CALLS_PER_THREAD..(t + 1) * CALLS_PER_THREAD {
                        assert_eq!(caller.call(i).await, Ok(i * 2), "call {i}");
                    }
                })
            })
        })
        .collect();
    drop(caller);
    for handle in callers {
        handle.join().unwrap();
    }
    // Every caller handle is gone, so the server's `recv` ends.
    let served = server_thread.join().unwrap();

    assert_eq!(served, THREADS * CALLS_PER_THREAD);
    let stats = rpc.stats();
    assert_eq!(stats.replied, 10_000);
    assert_eq!(stats.total(), 10_000, "nothing but replies");
    assert_eq!((stats.queued, stats.in_flight), (0, 0));
}

#[test]
fn serve_on_one_thread_with_timed_calls_from_others() {
    // The manual clock never moves, so the generous deadlines never pass; the calls go
    // through the timed path (a sleep registered with a shared clock) on every thread.
    let rpc = Arc::new(SharedRpc::<u64, u64, 8>::new(ManualClock::new()));
    let (caller, server) = Rpc::split(rpc.clone());

    let server_thread = thread::spawn(move || {
        block_on(
            server.serve(NonZeroUsize::new(3).unwrap(), |req, responder| async move {
                assert!(responder.deadline().is_some());
                responder.reply(req * 2).unwrap();
            }),
        )
    });
    let callers: Vec<_> = (0..THREADS)
        .map(|t| {
            let caller = caller.clone();
            thread::spawn(move || {
                block_on(async {
                    for i in t * CALLS_PER_THREAD..(t + 1) * CALLS_PER_THREAD {
                        let timed = caller.call_timeout(i, ms(1_000)).timed().await.unwrap();
                        assert_eq!(timed.value, i * 2, "call {i}");
                    }
                })
            })
        })
        .collect();
    drop(caller);
    for handle in callers {
        handle.join().unwrap();
    }
    let report = server_thread.join().unwrap();

    assert_eq!((report.received, report.finished), (10_000, 10_000));
    let stats = rpc.stats();
    assert_eq!((stats.replied, stats.total()), (10_000, 10_000));
    assert_eq!(rpc.clock().sleepers(), 0, "every call's sleep was removed");
}
