//! Bad input reaches a responder: an undecodable payload, a missing or malformed budget
//! header, no reply subject, a reply subject nobody listens on, and a reply the caller
//! cannot decode. Each is a clear error to whoever can hear it, nothing is left in
//! progress, and the responder goes on serving.

mod support;

use std::time::Duration;

use rsvp_nats::async_nats::{Client, HeaderMap};
use rsvp_nats::wire::{BUDGET_HEADER, ERROR_CODE_HEADER, ERROR_HEADER, OUTCOME_HEADER};
use rsvp_nats::{Caller, Error};
use support::{bounded, connect, spawn_service, Ask, NatsServer};

const LONG: Duration = Duration::from_secs(10);

/// A raw NATS request (no rsvp caller): its reply's outcome header and error text.
async fn raw(
    client: &Client,
    headers: Option<HeaderMap>,
    payload: &'static str,
) -> (String, String) {
    let reply = match headers {
        Some(h) => bounded(client.request_with_headers("b.svc", h, payload.into())).await,
        None => bounded(client.request("b.svc", payload.into())).await,
    }
    .expect("a reply");
    let h = reply.headers.expect("a status reply has headers");
    assert_eq!(h.get(ERROR_CODE_HEADER).unwrap().as_str(), "400");
    (
        h.get(OUTCOME_HEADER).unwrap().as_str().to_owned(),
        h.get(ERROR_HEADER).unwrap().as_str().to_owned(),
    )
}

fn budget(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(BUDGET_HEADER, value);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_serving_goes_on() {
    let server = NatsServer::start();
    let (handle, serving, _seen) = spawn_service(connect(&server).await, "b.svc", |s| s).await;
    let client = connect(&server).await;
    let good = Caller::<Ask, u64>::new(client.clone(), "b.svc");

    // A payload that is not JSON, and JSON that is not an `Ask`.
    let (outcome, why) = raw(&client, Some(budget("1000000")), "not json").await;
    assert_eq!(outcome, "rejected");
    assert!(
        why.starts_with("undecodable request: json: expected value"),
        "{why}"
    );
    let wrong_type = Caller::<&str, u64>::new(client.clone(), "b.svc");
    match bounded(wrong_type.call_timeout("seven", LONG)).await {
        Err(Error::Rejected(why)) => {
            assert!(
                why.starts_with("undecodable request: json: unknown variant `seven`"),
                "{why}"
            )
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        bounded(good.call_timeout(Ask::Double(1), LONG)).await,
        Ok(2)
    );

    // No budget header (a plain request), then a malformed one.
    let (outcome, why) = raw(&client, None, r#"{"Double":2}"#).await;
    assert_eq!(outcome, "rejected");
    assert!(why.starts_with("missing Rsvp-Budget-Us header"), "{why}");
    let (outcome, why) = raw(&client, Some(budget("soon")), r#"{"Double":2}"#).await;
    assert_eq!(outcome, "rejected");
    assert!(
        why.starts_with(r#"malformed Rsvp-Budget-Us header "soon""#),
        "{why}"
    );
    assert_eq!(
        bounded(good.call_timeout(Ask::Double(3), LONG)).await,
        Ok(6)
    );

    // A reply the caller cannot decode: the caller's error, the responder replied.
    let wrong_reply = Caller::<Ask, String>::new(client.clone(), "b.svc");
    match bounded(wrong_reply.call_timeout(Ask::Double(4), LONG)).await {
        Err(Error::Decode(e)) => assert!(e.message().starts_with("json: invalid type"), "{e}"),
        other => panic!("expected Decode, got {other:?}"),
    }

    // No reply subject: nobody to tell; counted, nothing run.
    bounded(client.publish("b.svc", r#"{"Double":5}"#.into()))
        .await
        .unwrap();
    // A reply subject nobody listens on: the reply goes nowhere, and nothing is left over.
    let mut h = budget("1000000");
    h.insert("Rsvp-Call", "gone-1");
    bounded(client.publish_with_reply_and_headers(
        "b.svc",
        "_INBOX.gone.1",
        h,
        r#"{"Double":6}"#.into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        bounded(good.call_timeout(Ask::Double(7), LONG)).await,
        Ok(14)
    );

    handle.stop();
    let stats = bounded(serving).await.unwrap();
    assert_eq!((stats.rejected, stats.unanswerable), (4, 1), "{stats:?}");
    // 1, 3, 4 (undecodable reply), 6 (nobody listening) and 7 were run and replied.
    assert_eq!(stats.endpoint.replied, 5, "{stats:?}");
    assert_eq!((stats.received, stats.decided()), (10, 10), "{stats:?}");
    assert_eq!((stats.endpoint.in_flight, stats.endpoint.queued), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_budget_admits_plain_requests() {
    let server = NatsServer::start();
    let (handle, serving, _seen) = spawn_service(connect(&server).await, "b.svc", |s| {
        s.default_budget(Duration::from_secs(5))
    })
    .await;
    let client = connect(&server).await;
    let reply = bounded(client.request("b.svc", r#"{"Double":21}"#.into()))
        .await
        .unwrap();
    assert!(reply.headers.is_none());
    assert_eq!(&reply.payload[..], b"42");
    handle.stop();
    assert_eq!(bounded(serving).await.unwrap().endpoint.replied, 1);
}
