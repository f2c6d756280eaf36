//! nats-server restarts: a call in flight when it goes down and calls during the outage end
//! with `Disconnected` quickly (none waits for its deadline, none hangs), and calls succeed
//! again once the clients have reconnected; a responder stopped during an outage returns.

mod support;

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use rsvp_nats::async_nats::Event;
use rsvp_nats::{Caller, Error};
use support::{
    bounded, connect_with_events, event, round_trip, seen, spawn_service, Ask, NatsServer, Seen,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_calls_clearly_and_reconnecting_heals() {
    let mut server = NatsServer::start();
    let (service_client, mut service_events) = connect_with_events(&server).await;
    let (handle, serving, mut seen_rx) =
        spawn_service(service_client.clone(), "r.svc", |s| s).await;
    let (client, mut events) = connect_with_events(&server).await;
    let caller = Caller::<Ask, u64>::new(client.clone(), "r.svc");
    let long = Duration::from_secs(20);
    assert_eq!(
        bounded(caller.call_timeout(Ask::Double(1), long)).await,
        Ok(2)
    );

    // A call in flight (its handler holds it) when the server goes down.
    let in_flight = tokio::spawn({
        let caller = caller.clone();
        async move {
            let start = Instant::now();
            // 3 s: if its cancel is lost in the outage, the responder's deadline ends it.
            let held = caller.call_timeout(Ask::Hold, Duration::from_secs(3)).await;
            (held, start.elapsed())
        }
    });
    let Seen::Took(Ask::Double(1), _) = seen(&mut seen_rx).await else {
        panic!()
    };
    let Seen::Took(Ask::Hold, _) = seen(&mut seen_rx).await else {
        panic!("not held")
    };
    server.stop();
    let (result, elapsed) = bounded(in_flight).await.unwrap();
    assert_eq!(result, Err(Error::Disconnected));
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    // During the outage: at once, not at the deadline.
    // (Each client's first event is its first `Connected`.)
    event(&mut events, |e| matches!(e, Event::Disconnected)).await;
    event(&mut service_events, |e| matches!(e, Event::Disconnected)).await;
    for n in 0..5 {
        let start = Instant::now();
        let result = bounded(caller.call_timeout(Ask::Double(n), long)).await;
        assert_eq!(result, Err(Error::Disconnected));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    server.restart();
    event(&mut events, |e| matches!(e, Event::Connected)).await;
    event(&mut service_events, |e| matches!(e, Event::Connected)).await;
    // Both clients have re-sent their subscriptions, and the server has them.
    round_trip(&service_client).await;
    round_trip(&client).await;
    for n in 10..15 {
        assert_eq!(
            bounded(caller.call_timeout(Ask::Double(n), long)).await,
            Ok(n * 2)
        );
    }
    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!(stats.endpoint.replied, 6, "{stats:?}");
}

/// A call whose connection drops while the client's command queue is full still ends by
/// its deadline: its cancel is not waited for (the queue is not read until a reconnect,
/// and this outage lasts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_off_with_a_full_client_queue_ends_without_waiting_for_its_cancel() {
    let mut server = NatsServer::start();
    let (_handle, _serving, mut seen_rx) =
        spawn_service(support::connect(&server).await, "q.svc", |s| s).await;
    // A small command queue, which a busy application fills the same way as the default.
    let options = rsvp_nats::async_nats::ConnectOptions::new()
        .client_capacity(4)
        .reconnect_delay_callback(|_| Duration::from_millis(20));
    let client = rsvp_nats::async_nats::connect_with_options(server.url(), options)
        .await
        .unwrap();
    let caller = Caller::<Ask, u64>::new(client.clone(), "q.svc");
    let call = tokio::spawn(async move {
        let start = Instant::now();
        let result = caller
            .call_timeout(Ask::Hold, Duration::from_millis(500))
            .await;
        (result, start.elapsed())
    });
    let Seen::Took(Ask::Hold, _) = seen(&mut seen_rx).await else {
        panic!("not held")
    };
    server.stop();
    // The application goes on publishing during the outage: the client's queue fills.
    for _ in 0..8 {
        let client = client.clone();
        tokio::spawn(async move { drop(client.publish("x", "y".into()).await) });
    }
    let (result, elapsed) = bounded(call).await.unwrap();
    assert!(
        matches!(result, Err(Error::Disconnected | Error::Call(_))),
        "{result:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "waited {elapsed:?}");
}

/// Stopping a responder while nats-server is down returns, though the outcome of the call
/// it holds cannot be published: the client's command queue is full and is not read until
/// a reconnect, which never comes here. The outcome is dropped after a bounded wait and
/// counted as `publish_failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_responder_during_an_outage_returns() {
    let mut server = NatsServer::start();
    let (tx, mut service_events) = tokio::sync::mpsc::unbounded_channel();
    // A small command queue, so that the test can fill it; the default one fills the same
    // way when an application goes on publishing during an outage.
    let options = rsvp_nats::async_nats::ConnectOptions::new()
        .client_capacity(4)
        .reconnect_delay_callback(|_| Duration::from_millis(20))
        .event_callback(move |e| {
            let _ = tx.send(e);
            async {}
        });
    let service_client = rsvp_nats::async_nats::connect_with_options(server.url(), options)
        .await
        .unwrap();
    let (handle, serving, mut seen_rx) =
        spawn_service(service_client.clone(), "s.svc", |s| s).await;
    let caller = Caller::<Ask, u64>::new(support::connect(&server).await, "s.svc");
    // Held until its deadline, which comes after the queue is full: its outcome (`timeout`)
    // is then published into a full queue.
    let call =
        tokio::spawn(async move { caller.call_timeout(Ask::Hold, Duration::from_secs(3)).await });
    let Seen::Took(Ask::Hold, _) = seen(&mut seen_rx).await else {
        panic!("not held")
    };
    server.stop();
    // Once the client says it is disconnected it reads no commands until it reconnects.
    event(&mut service_events, |e| matches!(e, Event::Disconnected)).await;
    let mut queued = 0;
    while rsvp_nats::async_nats::Client::publish(&service_client, "x", "y".into())
        .now_or_never()
        .is_some()
    {
        queued += 1;
        assert!(queued <= 4, "the client's queue does not fill");
    }
    assert_eq!(bounded(call).await.unwrap(), Err(Error::Disconnected));

    let stopped = Instant::now();
    handle.stop();
    // Before the bound on publishing, this waited for the outage to end: here, forever
    // (`bounded` fails the test after 30 s). The stats are the observable outcome; the
    // time bound only says "promptly" generously: the held call's 3 s deadline, then at
    // most a second's wait to publish its outcome.
    let stats = bounded(serving).await.unwrap();
    let waited = stopped.elapsed();
    assert_eq!(
        (stats.endpoint.timeout, stats.publish_failed),
        (1, 1),
        "{stats:?}"
    );
    assert!(waited < Duration::from_secs(10), "stopping took {waited:?}");
}
