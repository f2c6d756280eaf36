//! A panicking `serve` handler ends only its own call, on smol: the server spawned with
//! [`rsvp_smol::spawn_server`] onto smol's global executor, each call from its own task.
//! The panicking calls' callers get `Lost`; every other call is answered.
//!
//! Another server handle stays alive while the calls run, so a serve task that died of a
//! panic would leave the later calls waiting (a hang the test runner ends), not `Closed`.

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
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
fn serve_loses_only_the_panicking_calls_on_the_global_executor() {
    // The panics are expected: keep the test output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (outcomes, report) = smol::block_on(async {
        let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
        let other_server = server.clone();
        let serving =
            rsvp_smol::spawn_server(server, NonZeroUsize::new(2).unwrap(), |n, responder| {
                assert_ne!(n, 1, "the handler fails when called with 1");
                async move {
                    smol::future::yield_now().await;
                    assert_ne!(n, 2, "the handler's future fails on 2");
                    if n == 3 {
                        PanicsTwice { _holds: responder }.await;
                    } else {
                        let _ = responder.reply(n * 10);
                    }
                }
            });
        let calls: Vec<_> = (1..=6)
            .map(|n| {
                let caller = caller.clone();
                smol::spawn(async move { (n, caller.call(n).await) })
            })
            .collect();
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(call.await);
        }
        // A later call, after every panic: still served.
        outcomes.push((7, caller.call(7).await));
        drop(caller);
        let report = serving.await;
        drop(other_server);
        (outcomes, report)
    });
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
    assert_eq!((report.received, report.finished), (7, 7));
    assert_eq!((report.stats.lost, report.stats.replied), (3, 4));
}
