//! Registered as a NATS service (feature `micro`): NATS tooling's `$SRV` requests find the
//! service, its endpoint and queue group, and read its stats, with rsvp's outcome counts.

mod support;

use std::time::Duration;

use rsvp_nats::async_nats::{self, Client};
use rsvp_nats::rsvp::CallError;
use rsvp_nats::{Caller, Error};
use serde_json::Value;
use support::{bounded, connect, spawn_service, Ask, NatsServer};

async fn srv(client: &Client, verb: &str) -> Value {
    let subject = format!("$SRV.{verb}.doubler");
    let reply = bounded(client.request(subject, "".into()))
        .await
        .expect(verb);
    serde_json::from_slice(&reply.payload).expect("$SRV replies are JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_tooling_finds_the_service_and_reads_rsvp_counts() {
    let server = NatsServer::start();
    let (handle, serving, _seen) = spawn_service(connect(&server).await, "m.svc", |s| {
        s.register("doubler", "1.0.0")
    })
    .await;
    let client = connect(&server).await;
    let caller = Caller::<Ask, u64>::new(client.clone(), "m.svc");
    let long = Duration::from_secs(10);
    assert_eq!(
        bounded(caller.call_timeout(Ask::Double(1), long)).await,
        Ok(2)
    );
    assert_eq!(
        bounded(caller.call_timeout(Ask::Double(2), long)).await,
        Ok(4)
    );
    assert_eq!(
        bounded(caller.call_timeout(Ask::Drop, long)).await,
        Err(Error::Call(CallError::Lost))
    );

    assert_eq!(srv(&client, "PING").await["name"], "doubler");
    let info = srv(&client, "INFO").await;
    assert_eq!(info["version"], "1.0.0");
    assert_eq!(info["endpoints"][0]["subject"], "m.svc");
    assert_eq!(info["endpoints"][0]["queue_group"], "rsvp");
    let stats = srv(&client, "STATS").await;
    let endpoint = &stats["endpoints"][0];
    assert_eq!(endpoint["num_requests"], 3, "{stats}");
    assert_eq!(endpoint["num_errors"], 1, "{stats}");
    assert_eq!(endpoint["data"]["replied"], 2, "{stats}");
    assert_eq!(endpoint["data"]["lost"], 1, "{stats}");
    assert_eq!(endpoint["data"]["received"], 3, "{stats}");

    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!((stats.received, stats.endpoint.replied), (3, 2));
    // Unregistered: nobody answers the service protocol any more (no responders, or, while
    // the server still holds the stopped handler's subscription, silence).
    let ping = async_nats::Request::new().timeout(Some(Duration::from_secs(2)));
    let ping = bounded(client.send_request("$SRV.PING.doubler", ping)).await;
    assert!(ping.is_err(), "{ping:?}");
}
