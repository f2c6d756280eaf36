//! The scenario suite's outcome accounting, over NATS: many calls at once with every kind
//! of ending; each call ends exactly once, and what the callers observed is what the
//! responder counted in its rsvp endpoint stats: replies and `Lost` one for one, and the
//! calls whose callers gave up as the responder's `timeout`, `cancelled` or `full`.

mod support;

use std::time::Duration;

use futures_util::future::join_all;
use rsvp_nats::rsvp::CallError;
use rsvp_nats::{Caller, Error};
use support::{bounded, connect, spawn_service, Ask, NatsServer};

#[derive(Default, Debug)]
struct Observed {
    replied: u64,
    lost: u64,
    timeout: u64,
    full: u64,
    /// Calls whose future the caller dropped: they observe nothing.
    dropped: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_has_one_outcome_counted_alike_on_both_sides() {
    const CALLS: u64 = 300;
    let server = NatsServer::start();
    let (handle, serving, _seen) = spawn_service(connect(&server).await, "a.mixed", |s| {
        s.concurrency(std::num::NonZeroUsize::new(32).unwrap())
            .capacity(64)
    })
    .await;
    let caller = Caller::<Ask, u64>::new(connect(&server).await, "a.mixed");
    let calls = (0..CALLS).map(|i| {
        let caller = caller.clone();
        async move {
            let long = Duration::from_secs(10);
            let short = Duration::from_millis(100);
            let result = match i % 6 {
                0 | 1 => caller.call_timeout(Ask::Double(i), long).await,
                2 => caller.call_timeout(Ask::Drop, long).await,
                3 if i % 12 == 3 => caller.call_timeout(Ask::Panic, long).await,
                3 | 4 => caller.call_timeout(Ask::Hold, short).await,
                // The caller gives up by dropping its call.
                _ => {
                    match tokio::time::timeout(short, caller.call_timeout(Ask::Hold, long)).await {
                        Ok(result) => result,
                        Err(_) => return None,
                    }
                }
            };
            Some((i, result))
        }
    });
    let results = bounded(join_all(calls)).await;
    let mut seen = Observed::default();
    for result in &results {
        match result {
            None => seen.dropped += 1,
            Some((i, Ok(reply))) => {
                assert_eq!(*reply, i * 2, "a reply reached the wrong caller");
                seen.replied += 1;
            }
            Some((_, Err(Error::Call(CallError::Lost)))) => seen.lost += 1,
            Some((_, Err(Error::Call(CallError::Timeout)))) => seen.timeout += 1,
            Some((_, Err(Error::Full))) => seen.full += 1,
            Some((i, Err(e))) => panic!("call {i} ended with {e:?}"),
        }
    }
    eprintln!("callers observed {seen:?}");
    // Every call ended exactly once (join_all has one result per call).
    assert_eq!(results.len() as u64, CALLS);
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    let e = &stats.endpoint;
    assert_eq!(stats.received, CALLS, "{stats:?}");
    assert_eq!(stats.decided(), stats.received, "{stats:?}");
    assert_eq!((e.queued, e.in_flight), (0, 0), "{stats:?}");
    assert_eq!(seen.replied, e.replied, "{seen:?} {stats:?}");
    assert_eq!(seen.lost, e.lost, "{seen:?} {stats:?}");
    // A caller that gave up (timed out, or dropped its call) sends a cancel, which races the
    // responder's own deadline (the same budget, from arrival): the responder counts
    // `timeout` or `cancelled`, or `full` if it refused the call before the caller left.
    assert!(seen.full <= stats.full, "{seen:?} {stats:?}");
    assert_eq!(
        seen.full + seen.timeout + seen.dropped,
        stats.full + e.timeout + e.cancelled,
        "{seen:?} {stats:?}"
    );
    assert_eq!((stats.rejected, stats.unanswerable, e.closed), (0, 0, 0));
    // Each kind happened, or the test would prove less than it says.
    assert!(
        seen.replied > 0 && seen.lost > 0 && seen.timeout > 0 && seen.dropped > 0,
        "{seen:?}"
    );
}
