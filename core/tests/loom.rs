//! loom models of every protocol in which threads meet: the reply slot (a reply racing its
//! caller's cancellation, then the slot reused), a timeout racing a reply, shutdown racing
//! a call (also one that reserved its slot first), each over both request queues (the
//! separate `Queue` and the `InlineQueue` inside the endpoint's lock), the queue itself, the
//! promise (racing setters and waiters, abandonment), and the ready flags of `serve`'s
//! in-flight pool.
//!
//! They run the real rsvp code: under `--cfg loom`, `StdMutex` and the pool's atomics are
//! loom's (see `core/src/sync.rs`), so loom explores every interleaving of their
//! operations and reports a lost wake-up as a deadlock.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p rsvp --features std --test loom --release
//! ```
#![cfg(loom)]

use std::future::{poll_fn, Future};
use std::num::NonZeroUsize;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use loom::future::block_on;
use loom::thread;
use rsvp::lock::StdMutex;
use rsvp::promise::TryGetError;
use rsvp::queue::{DefaultQueue, Envelope, InlineQueue, Queue, RequestQueue};
use rsvp::rpc::With;
use rsvp::time::{ManualClock, NoClock};
use rsvp::{promise, CallError, Caller, CloseMode, Rpc, TryCallError};

/// Preemption bound: LOOM_MAX_PREEMPTIONS when set, else 2 (enough for every race below,
/// and it keeps the run to seconds).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// The bounded queue: three items through one place, in order, then the close is seen.
#[test]
fn queue_hands_over_in_order_and_closes() {
    model(|| {
        let queue = Arc::new(Queue::<StdMutex, u32, 1>::new());
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                for i in 0..3 {
                    let mut item = Some(i);
                    block_on(poll_fn(|cx| {
                        if queue.poll_ready(cx).is_pending() {
                            return Poll::Pending;
                        }
                        match queue.try_send(item.take().unwrap()) {
                            Ok(()) => Poll::Ready(()),
                            Err(e) => {
                                item = Some(e.into_inner());
                                cx.waker().wake_by_ref();
                                Poll::Pending
                            }
                        }
                    }));
                }
                queue.close();
            })
        };
        let mut got = Vec::new();
        while let Some(item) = block_on(poll_fn(|cx| queue.poll_recv(cx))) {
            got.push(item);
        }
        producer.join().unwrap();
        assert_eq!(got, [0, 1, 2]);
    });
}

/// Two setters race and two waiters (one on each side) wait: exactly one set wins, and
/// every waiter gets its value.
#[test]
fn promise_racing_setters_and_waiters() {
    model(|| {
        let (setter, promise) = promise::<u32, StdMutex>();
        let other = setter.clone();
        let setter_thread = thread::spawn(move || other.set(1).is_ok());
        let waiter = {
            let promise = promise.clone();
            thread::spawn(move || block_on(promise.wait()))
        };
        let mine = setter.set(2).is_ok();
        let theirs = setter_thread.join().unwrap();
        assert!(mine ^ theirs, "exactly one set wins");
        let value = if mine { 2 } else { 1 };
        assert_eq!(waiter.join().unwrap(), Ok(value));
        assert_eq!(block_on(promise.wait()), Ok(value));
        assert_eq!(promise.try_get(), Ok(value));
    });
}

/// The last setter dropped on another thread wakes a waiter with `Abandoned`.
#[test]
fn promise_abandoned_wakes_waiter() {
    model(|| {
        let (setter, promise) = promise::<u32, StdMutex>();
        let dropper = thread::spawn(move || drop(setter));
        assert!(block_on(promise.wait()).is_err());
        dropper.join().unwrap();
        assert_eq!(promise.try_get(), Err(TryGetError::Abandoned));
    });
}

/// Two calls wait for room in a queue smaller than the endpoint (each holding its slot)
/// while room comes, and one of them gives up at the same time: the other still goes out
/// (a wake-up the one leaving was given is passed on), and every call is counted once.
#[test]
fn room_reaches_a_waiting_caller_while_another_gives_up() {
    type Small = Rpc<u32, u32, 3, With<StdMutex, NoClock, Queue<StdMutex, Envelope<u32>, 1>>>;
    model(|| one_waits_while_another_gives_up(Arc::new(Small::with_queue(Queue::new(), NoClock))));
}

/// Call 1 holds what calls 2 and 3 need (the only slot, or the queue's only place); call 3
/// gives up after one poll while call 1 is answered: call 2 still goes out and is answered,
/// and every call is counted once (the third answered or cancelled, never both).
fn one_waits_while_another_gives_up<const N: usize, K>(rpc: Arc<Rpc<u32, u32, N, K>>)
where
    K: rsvp::rpc::Kind<u32, N> + 'static,
    Rpc<u32, u32, N, K>: Send + Sync,
{
    let (caller, server) = Rpc::split(rpc);
    let first = caller.try_call(1).unwrap();
    let waiter = {
        let caller = caller.clone();
        thread::spawn(move || block_on(caller.call(2)))
    };
    let leaver = {
        let caller = caller.clone();
        thread::spawn(move || {
            let mut call = pin!(caller.call(3));
            // One poll: it waits (or goes out), then gives up.
            block_on(poll_fn(|cx| {
                let _ = call.as_mut().poll(cx);
                Poll::Ready(())
            }));
        })
    };
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req * 10).unwrap();
    assert_eq!(block_on(first), Ok(10));
    // Serve until the waiting call has its reply.
    loop {
        match server.try_recv() {
            Ok((2, responder)) => {
                responder.reply(20).unwrap();
                break;
            }
            Ok((_, responder)) => drop(responder.reply(0)),
            Err(_) => thread::yield_now(),
        }
    }
    assert_eq!(waiter.join().unwrap(), Ok(20));
    leaver.join().unwrap();
    let stats = caller.stats();
    assert!(stats.replied >= 2, "{stats:?}");
    assert_eq!(stats.replied + stats.cancelled, 3, "{stats:?}");
}

/// `serve`'s pool: a handler waits for a promise set on a third thread, so the slot's
/// ready flag is raised off the serving thread. The call is answered and `serve` ends once
/// the last caller is gone.
#[test]
fn serve_pool_wakes_handler_from_another_thread() {
    model(|| {
        let rpc: Rpc<u32, u32, 1, With<StdMutex, NoClock>> = Rpc::new(NoClock);
        let (caller, server) = Rpc::split(Arc::new(rpc));
        let (gate_setter, gate) = promise::<u32, StdMutex>();
        let serving = thread::spawn(move || {
            block_on(
                server.serve(NonZeroUsize::new(1).unwrap(), move |req, responder| {
                    let gate = gate.clone();
                    async move {
                        let add = gate.wait().await.unwrap();
                        let _ = responder.reply(req + add);
                    }
                }),
            )
        });
        let opener = thread::spawn(move || gate_setter.set(100).unwrap());
        assert_eq!(block_on(caller.call(1)), Ok(101));
        drop(caller);
        let report = serving.join().unwrap();
        opener.join().unwrap();
        assert_eq!((report.received, report.finished), (1, 1));
        assert_eq!(report.stats.replied, 1);
    });
}

/// The endpoint's models, once per request queue: rsvp's separate `Queue` (what the
/// adapters' thread-safe endpoints use) and `InlineQueue` (the queue inside the endpoint's
/// lock, the default, which critical sections and embassy's locks also run across threads
/// and interrupts).
macro_rules! endpoint_models {
    ($kind:ident, $q:ty) => {
        mod $kind {
            use super::*;

            type Endpoint = Rpc<u32, u32, 1, With<StdMutex, NoClock, $q>>;

            fn endpoint() -> Arc<Endpoint> {
                Arc::new(Rpc::with_queue(<$q as DefaultQueue<u32, 1>>::NEW, NoClock))
            }

            fn timed_endpoint(
                clock: &ManualClock,
            ) -> Arc<Rpc<u32, u32, 1, With<StdMutex, ManualClock, $q>>> {
                Arc::new(Rpc::with_queue(
                    <$q as DefaultQueue<u32, 1>>::NEW,
                    clock.clone(),
                ))
            }

            /// A call and its reply on two threads: the caller gets exactly the reply, counted
            /// once.
            #[test]
            fn call_meets_reply() {
                model(|| {
                    let (caller, server) = Rpc::split(endpoint());
                    let responder = thread::spawn(move || {
                        let (req, responder) = block_on(server.recv()).unwrap();
                        responder.reply(req * 10).unwrap();
                    });
                    assert_eq!(block_on(caller.call(4)), Ok(40));
                    responder.join().unwrap();
                    let stats = caller.stats();
                    assert_eq!((stats.replied, stats.in_flight, stats.queued), (1, 0, 0));
                });
            }

            /// The caller drops its call while the responder replies, then reuses the only slot:
            /// the late reply is refused or counted for the first call, never delivered to the
            /// second.
            #[test]
            fn cancel_races_reply_and_the_slot_is_reused() {
                model(|| {
                    let (caller, server) = Rpc::split(endpoint());
                    let first = caller.try_call(1).unwrap();
                    let responder = thread::spawn(move || {
                        let mut late = Vec::new();
                        while let Some((req, responder)) = block_on(server.recv()) {
                            late.push((req, responder.reply(req * 10).is_ok()));
                        }
                        late
                    });
                    drop(first);
                    let second = loop {
                        // The slot is free as soon as `first` is dropped; the queue may
                        // still hold its request until the responder skips it.
                        match caller.try_call(2) {
                            Ok(call) => break call,
                            Err(TryCallError::Full(_)) => thread::yield_now(),
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    };
                    assert_eq!(block_on(second), Ok(20));
                    let stats = caller.stats();
                    drop(caller); // closes for draining: the responder's loop ends
                    let served = responder.join().unwrap();
                    assert!(served.contains(&(2, true)));
                    assert_eq!(stats.replied + stats.cancelled, 2, "{stats:?}");
                });
            }

            /// A deadline passing (the clock advanced on another thread) races the reply: the
            /// caller sees exactly one of them, and the responder learns whether its reply was
            /// taken.
            #[test]
            fn timeout_races_reply() {
                model(|| {
                    let clock = ManualClock::new();
                    let (caller, server) = Rpc::split(timed_endpoint(&clock));
                    let responder = thread::spawn(move || match block_on(server.recv()) {
                        Some((req, responder)) => responder.reply(req).is_ok(),
                        None => false, // the call timed out while queued, and the caller closed
                    });
                    let ticker = thread::spawn(move || clock.advance(Duration::from_millis(10)));
                    let outcome = block_on(caller.call_timeout(7, Duration::from_millis(10)));
                    let stats = caller.stats();
                    drop(caller);
                    let delivered = responder.join().unwrap();
                    ticker.join().unwrap();
                    match outcome {
                        Ok(v) => {
                            assert_eq!(v, 7);
                            assert!(delivered);
                            assert_eq!((stats.replied, stats.timeout), (1, 0));
                        }
                        Err(CallError::Timeout) => {
                            assert!(!delivered);
                            assert_eq!((stats.replied, stats.timeout), (0, 1));
                        }
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                });
            }

            /// A shutdown races the call `call` makes while a responder serves: the call is
            /// answered or `Closed`, never left waiting, counted once, and the responder's loop
            /// ends.
            fn shutdown_races(call: fn(&Caller<Arc<Endpoint>>) -> Result<u32, CallError>) {
                model(move || {
                    let (caller, server) = Rpc::split(endpoint());
                    let closer = server.clone();
                    let responder = thread::spawn(move || {
                        while let Some((req, responder)) = block_on(server.recv()) {
                            let _ = responder.reply(req + 1);
                        }
                    });
                    let shutdown = thread::spawn(move || closer.close(CloseMode::Fail));
                    let outcome = call(&caller);
                    assert!(
                        matches!(outcome, Ok(2) | Err(CallError::Closed)),
                        "{outcome:?}"
                    );
                    shutdown.join().unwrap();
                    responder.join().unwrap();
                    let stats = caller.stats();
                    assert_eq!(stats.replied + stats.closed, 1, "{stats:?}");
                });
            }

            /// Two calls wait for the only slot while it is freed, and one of them gives up at
            /// the same time: the other still gets the slot (a wake-up the one leaving was
            /// given is passed on), and every call is counted once.
            #[test]
            fn a_freed_slot_reaches_a_waiter_while_another_gives_up() {
                model(|| one_waits_while_another_gives_up(endpoint()));
            }

            /// Two servers wait for a request while one of them gives up at the same time: the
            /// request still reaches a server (a wake-up the one leaving was given passes on),
            /// and the call is answered once.
            #[test]
            fn a_request_reaches_a_server_while_another_gives_up() {
                model(|| {
                    let (caller, server) = Rpc::split(endpoint());
                    let waiter = {
                        let server = server.clone();
                        thread::spawn(move || match block_on(server.recv()) {
                            Some((req, responder)) => responder.reply(req * 10).is_ok(),
                            None => false,
                        })
                    };
                    let leaver = thread::spawn(move || {
                        let mut recv = pin!(server.recv());
                        // One poll: it takes the request or waits for one, then gives up.
                        block_on(poll_fn(|cx| {
                            Poll::Ready(match recv.as_mut().poll(cx) {
                                Poll::Ready(Some((req, responder))) => {
                                    responder.reply(req * 10).is_ok()
                                }
                                _ => false,
                            })
                        }))
                    });
                    assert_eq!(block_on(caller.call(1)), Ok(10));
                    let left_answered = leaver.join().unwrap();
                    assert_eq!(caller.stats().replied, 1);
                    drop(caller); // closes: a waiting server's `recv` ends
                    let waiter_answered = waiter.join().unwrap();
                    assert!(left_answered != waiter_answered, "answered exactly once");
                });
            }

            /// A shutdown races a call while a responder serves.
            #[test]
            fn shutdown_races_call() {
                shutdown_races(|caller| block_on(caller.call(1)));
            }

            /// The last server handle dropped while a call waits: the call ends with `Closed`.
            #[test]
            fn dropping_the_server_ends_a_waiting_call() {
                model(|| {
                    let (caller, server) = Rpc::split(endpoint());
                    let dropper = thread::spawn(move || drop(server));
                    assert_eq!(block_on(caller.call(1)), Err(CallError::Closed));
                    dropper.join().unwrap();
                });
            }

            /// A shutdown races a call that reserved its slot first: the permit's call is answered
            /// or `Closed` (the slot may be closed while only reserved), never left waiting.
            #[test]
            fn shutdown_races_a_reserved_call() {
                shutdown_races(|caller| match block_on(caller.reserve()) {
                    Ok(permit) => block_on(permit.call(1)),
                    Err(e) => Err(e),
                });
            }
        }
    };
}

endpoint_models!(separate_queue, Queue<StdMutex, Envelope<u32>, 1>);
endpoint_models!(inline_queue, InlineQueue);
