//! `CallService` through tower's own API (`ServiceExt::ready` + `call`): capacity reserved
//! in `poll_ready` comes back when the service or the response is dropped, and every rsvp
//! outcome arrives as a `ServiceError` a tower user can match.
//!
//! Time is tokio's paused clock: a timeout that is meant to pass passes at once, and one
//! that must not (a wait for a wake-up) fails the test instead of hanging it. The last test
//! runs without tokio: a core-only endpoint on futures-executor's `LocalPool`, timed by
//! rsvp's manual clock.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rsvp::time::ManualClock;
use rsvp::CloseMode;
use rsvp_tower::{CallService, ServiceError};
use tower::{BoxError, Service, ServiceExt};

/// Fails the test if `future` is not done by then: under paused time, only when it is
/// stuck.
async fn soon<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("stuck: never woken")
}

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn ready_then_call_gets_the_reply() {
    let (caller, server) = rsvp_tokio::channel::<u64, u64, 4>();
    let serving =
        rsvp_tokio::spawn_server(server, std::num::NonZeroUsize::MIN, |n, r| async move {
            let _ = r.reply(n * 2);
        });
    let mut service = CallService::new(caller.clone()).timeout(Duration::from_secs(1));
    for n in 0..10 {
        assert_eq!(service.ready().await.unwrap().call(n).await, Ok(n * 2));
    }
    assert_eq!(service.clone().oneshot(50).await, Ok(100));
    drop((service, caller));
    let report = serving.await.unwrap();
    assert_eq!(report.stats.replied, 11);
}

#[tokio::test(start_paused = true)]
async fn readied_services_that_never_call_leave_no_capacity_behind() {
    let (caller, _server) = rsvp_tokio::channel::<u64, u64, 2>();
    let mut a = CallService::new(caller.clone());
    let mut b = a.clone();
    a.ready().await.unwrap();
    b.ready().await.unwrap();
    assert!(
        caller.try_call(1).unwrap_err().is_full(),
        "two readied services hold both slots"
    );

    // A third waits for a slot (backpressure, not an error) ...
    let mut c = a.clone();
    let mut waiting = pin!(c.ready());
    assert!(poll_once(waiting.as_mut()).is_pending());
    // ... and gets one the moment a readied service is dropped without calling.
    drop(a);
    soon(waiting).await.unwrap();
    drop((b, c));

    // Many services readied and dropped: nothing accumulates.
    for _ in 0..1000 {
        let mut service = CallService::new(caller.clone());
        service.ready().await.unwrap();
    }
    let stats = caller.stats();
    assert_eq!((stats.queued, stats.in_flight), (0, 0));
    let _one = caller.try_reserve().expect("first slot free");
    let _two = caller.try_reserve().expect("second slot free");
    assert_eq!(
        (stats.cancelled, stats.replied),
        (0, 0),
        "a readiness probe is not a call: nothing is counted"
    );
    assert_eq!(
        stats.full, 1,
        "only the try_call above: a probe that had to wait is not refused"
    );
}

#[tokio::test(start_paused = true)]
async fn a_response_dropped_mid_call_frees_its_slot_and_the_responder_sees_it() {
    let (caller, server) = rsvp_tokio::channel::<u64, u64, 1>();
    let mut service = CallService::new(caller.clone());
    service.ready().await.unwrap();
    let mut response = Box::pin(service.call(7));
    assert!(poll_once(response.as_mut()).is_pending());
    let (req, responder) = server.try_recv().expect("the request was sent");
    assert_eq!(req, 7);
    assert!(!responder.is_cancelled());

    drop(response);
    assert!(responder.is_cancelled());
    assert_eq!(
        responder.reply(70),
        Err(70),
        "the late reply is handed back"
    );
    // The one slot is free again: the service is ready without waiting.
    assert!(poll_once(pin!(service.ready())).is_ready());
    assert_eq!(caller.stats().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn every_outcome_is_a_service_error_to_match() {
    fn boxed(error: ServiceError) -> BoxError {
        error.into()
    }

    // Timeout: the server never answers.
    let (caller, _server) = rsvp_tokio::channel::<u64, u64, 2>();
    let mut service = CallService::new(caller.clone()).timeout(Duration::from_millis(100));
    let error = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(error, ServiceError::Timeout);
    assert_eq!(boxed(error).downcast_ref(), Some(&ServiceError::Timeout));

    // Full: load shedding with the only slot taken.
    let (caller, server) = rsvp_tokio::channel::<u64, u64, 1>();
    let held = caller.try_call(1).unwrap();
    let mut shedding = CallService::new(caller.clone()).load_shed();
    let error = shedding.ready().await.unwrap().call(2).await.unwrap_err();
    assert_eq!(error, ServiceError::Full);
    drop(held);
    assert!(
        shedding.ready().await.is_ok(),
        "a shedding service recovers once a slot is free"
    );
    // It now holds the only slot for its next call: let it go.
    drop(shedding);

    // Lost: the responder drops the request.
    let mut service = CallService::new(caller.clone());
    let response = soon(service.ready()).await.unwrap().call(3);
    let served = async {
        let (_, responder) = server.recv().await.unwrap();
        drop(responder);
    };
    let (result, ()) = tokio::join!(response, served);
    assert_eq!(result, Err(ServiceError::Lost));

    // Closed: readiness fails once the endpoint is shut down.
    caller.close(CloseMode::Fail);
    let mut service = CallService::new(caller.clone());
    assert_eq!(service.ready().await.unwrap_err(), ServiceError::Closed);
}

/// A timeout given to the service ends the call with rsvp's own deadline: counted as
/// `Timeout`, and the responder sees it. A tower `Timeout` layer around the service only
/// drops the response future, which rsvp cannot tell from any other drop: `Cancelled`.
#[tokio::test(start_paused = true)]
async fn the_services_timeout_counts_as_timeout_a_layers_as_cancelled() {
    let (caller, server) = rsvp_tokio::channel::<u64, u64, 2>();

    // Each call is taken by a responder that holds it and never answers.
    let mut service = CallService::new(caller.clone()).timeout(Duration::from_millis(100));
    let call = service.ready().await.unwrap().call(1);
    let (result, (_, responder)) = tokio::join!(call, async { server.recv().await.unwrap() });
    assert_eq!(result, Err(ServiceError::Timeout));
    assert!(responder.is_cancelled());
    assert!(
        responder.deadline().is_some(),
        "the responder knew the deadline"
    );

    let mut layered =
        tower::timeout::Timeout::new(CallService::new(caller.clone()), Duration::from_millis(100));
    let call = layered.ready().await.unwrap().call(2);
    let (result, (_, responder)) = tokio::join!(call, async { server.recv().await.unwrap() });
    assert!(result.unwrap_err().is::<tower::timeout::error::Elapsed>());
    assert!(responder.is_cancelled());
    assert_eq!(
        responder.deadline(),
        None,
        "a layer's deadline never reaches rsvp"
    );

    let stats = caller.stats();
    assert_eq!((stats.timeout, stats.cancelled), (1, 1));
}

#[test]
fn the_same_service_without_tokio_on_a_local_pool() {
    let clock = ManualClock::new();
    let (caller, server) = rsvp::channel::local_channel_with::<u64, u64, 1, _>(clock.clone());
    let mut service = CallService::new(caller.clone()).timeout(Duration::from_millis(50));
    let mut pool = futures_executor::LocalPool::new();

    // A reply.
    let served = async {
        let (n, responder) = server.recv().await.unwrap();
        responder.reply(n * 2).unwrap();
    };
    let calling = async { service.ready().await.unwrap().call(21).await };
    let (reply, ()) = pool.run_until(futures_util::future::join(calling, served));
    assert_eq!(reply, Ok(42));

    // A readied service dropped without calling gives the one slot back.
    let mut readied = service.clone();
    pool.run_until(readied.ready()).unwrap();
    assert!(
        caller.try_reserve().is_err(),
        "the readied service holds the slot"
    );
    drop(readied);
    assert!(
        caller.try_reserve().is_ok(),
        "and gave it back when dropped"
    );

    // A call nobody answers: Timeout once the manual clock passes its deadline.
    let mut response = pin!(pool.run_until(service.ready()).unwrap().call(1));
    assert!(poll_once(response.as_mut()).is_pending());
    clock.advance(Duration::from_millis(50));
    assert_eq!(pool.run_until(response), Err(ServiceError::Timeout));
    assert_eq!((caller.stats().replied, caller.stats().timeout), (1, 1));
}
