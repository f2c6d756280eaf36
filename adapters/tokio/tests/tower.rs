//! The `tower` feature keeps `rsvp_tokio::CallService` and its types: they are rsvp-tower's,
//! re-exported. `CallService` itself is tested in `adapters/tower/tests/tower.rs`.

use std::time::Duration;

use rsvp_tokio::{CallService, ResponseFuture, ServiceError};
use tower::{Service, ServiceExt};

#[tokio::test(start_paused = true)]
async fn the_reexported_service_calls_and_times_out() {
    let (caller, server) = rsvp_tokio::channel::<u64, u64, 2>();
    let serving =
        rsvp_tokio::spawn_server(server, std::num::NonZeroUsize::MIN, |n, r| async move {
            if n > 0 {
                let _ = r.reply(n * 2);
            } else {
                r.cancelled().await;
            }
        });
    let mut service: rsvp_tower::CallService<_> =
        CallService::new(caller).timeout(Duration::from_secs(1));
    assert_eq!(service.ready().await.unwrap().call(21).await, Ok(42));
    let silent: ResponseFuture<_> = service.ready().await.unwrap().call(0);
    assert_eq!(silent.await, Err(ServiceError::Timeout));
    drop(service);
    assert_eq!(serving.await.unwrap().stats.replied, 1);
}
