//! A caller's replies come on one subscription of its own, read by its waiting calls
//! themselves (no task between them): a call that leaves while it is the one reading hands
//! the reading on, and a subscription that ends ends every waiting call.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use rsvp_nats::{Caller, Error};
use support::{bounded, connect, round_trip, NatsServer};

/// Many callers' clones wait at once; the first ones to read give up (are dropped) while
/// the others still wait; the others all get their own replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_leave_hand_the_reading_on() {
    let server = NatsServer::start();
    let responder = connect(&server).await;
    let mut requests = responder.subscribe("r.gated").await.unwrap();
    round_trip(&responder).await;
    let caller = Caller::<u64, u64>::new(connect(&server).await, "r.gated");

    // Eight calls that will be answered, and then eight that never will.
    let answered: Vec<_> = (0..8u64)
        .map(|n| {
            let caller = caller.clone();
            tokio::spawn(async move { caller.call_timeout(n, Duration::from_secs(20)).await })
        })
        .collect();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(bounded(requests.next()).await.expect("a request"));
    }
    let leaving: Vec<_> = (100..108u64)
        .map(|n| {
            let caller = caller.clone();
            tokio::spawn(async move { caller.call_timeout(n, Duration::from_secs(20)).await })
        })
        .collect();
    // Every leaving call has published (and so waits, reading in its turn) ...
    for _ in 0..8 {
        let request = bounded(requests.next()).await.expect("a request");
        assert!(request.payload.starts_with(b"10"), "{:?}", request.payload);
    }
    // ... and then they all leave, the one reading last among them.
    for call in leaving {
        call.abort();
        assert!(bounded(call).await.unwrap_err().is_cancelled());
    }
    // Only now the held requests are answered: each reply reaches its own call.
    for request in held {
        let n: u64 = serde_json::from_slice(&request.payload).unwrap();
        let reply = serde_json::to_vec(&(n * 10)).unwrap();
        responder
            .publish(request.reply.unwrap(), reply.into())
            .await
            .unwrap();
    }
    for (n, call) in answered.into_iter().enumerate() {
        assert_eq!(bounded(call).await.unwrap(), Ok(n as u64 * 10));
    }
    // The caller goes on: a late reply to a call that left is dropped, and a new call
    // finds its own.
    let next = caller.call_timeout(7, Duration::from_secs(20));
    let answer = async {
        let request = bounded(requests.next()).await.expect("a request");
        assert_eq!(&request.payload[..], b"7");
        responder
            .publish(request.reply.unwrap(), "70".into())
            .await
            .unwrap();
    };
    let (reply, ()) = bounded(async { tokio::join!(next, answer) }).await;
    assert_eq!(reply, Ok(70));
}

/// A client drained while its calls wait ends them `Disconnected`, not at their deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_client_ends_the_waiting_calls() {
    let server = NatsServer::start();
    let responder = connect(&server).await;
    let mut requests = responder.subscribe("r.drained").await.unwrap();
    round_trip(&responder).await;
    let client = connect(&server).await;
    let caller = Caller::<u64, u64>::new(client.clone(), "r.drained");
    let calls: Vec<_> = (0..4u64)
        .map(|n| {
            let caller = caller.clone();
            tokio::spawn(async move { caller.call_timeout(n, Duration::from_secs(20)).await })
        })
        .collect();
    for _ in 0..4 {
        bounded(requests.next()).await.expect("a request");
    }
    bounded(client.drain()).await.unwrap();
    for call in calls {
        assert_eq!(bounded(call).await.unwrap(), Err(Error::Disconnected));
    }
    // And a new call on the drained client fails at once, with no deadline to wait for.
    let late = bounded(caller.call_timeout(9, Duration::from_secs(20))).await;
    assert_eq!(late, Err(Error::Disconnected));
}
