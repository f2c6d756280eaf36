//! `TokioTimer` follows tokio's clock: under paused time a timeout ends exactly at its
//! deadline and takes no real time; its sleep can be made outside a runtime.

use std::time::Duration;

use rsvp::time::{Clock, Timer};
use rsvp::CallError;
use rsvp_tokio::TokioTimer;

#[tokio::test(start_paused = true)]
async fn a_timeout_ends_at_its_deadline_on_tokios_paused_clock() {
    let (caller, _server) = rsvp_tokio::local_channel::<u32, u32, 2>();
    let started = tokio::time::Instant::now();
    let real_start = std::time::Instant::now();

    let result = caller.call_timeout(1, Duration::from_secs(3600)).await;

    assert_eq!(result, Err(CallError::Timeout));
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3600),
        "tokio's clock moved by the timeout"
    );
    assert!(
        real_start.elapsed() < Duration::from_secs(60),
        "an hour's timeout on paused time takes no real hour"
    );
}

#[tokio::test(start_paused = true)]
async fn the_clock_is_tokios() {
    let before = TokioTimer.now();
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(TokioTimer.now() - before, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_pinned_timed_call_keeps_its_timer_across_a_select() {
    // tokio's timer entry lives inside the call future, so the future is `!Unpin`: pinned
    // once, it is raced in `select!` and awaited afterwards, its deadline still armed.
    let (caller, server) = rsvp_tokio::local_channel::<u32, u32, 2>();
    let started = tokio::time::Instant::now();
    let mut call = std::pin::pin!(caller.call_timeout(1, Duration::from_secs(10)));
    tokio::select! {
        result = &mut call => panic!("no reply was sent, yet the call ended: {result:?}"),
        () = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    let (req, responder) = server.recv().await.unwrap();
    assert_eq!(req, 1, "the first poll sent the request");
    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(call.await, Err(CallError::Timeout));
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(responder.reply(2), Err(2), "too late: the caller timed out");
}

#[test]
fn a_sleep_can_be_made_outside_a_runtime_and_polled_inside_one() {
    // Made here, with no runtime: the tokio timer entry only comes with the first poll.
    let sleep = TokioTimer.sleep_until(TokioTimer.now() + Duration::from_millis(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(sleep);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_near_the_end_of_time_is_never_rather_than_a_panic() {
    let (caller, server) = rsvp_tokio::local_channel::<u32, u32, 2>();
    // As late as `Instant` goes, within a few seconds: tokio's timer cannot count so far.
    let mut far = TokioTimer.now();
    let mut step = Duration::from_secs(u64::MAX / 2);
    while step >= Duration::from_nanos(1) {
        if let Some(later) = far.checked_add(step) {
            far = later;
        } else {
            step /= 2;
        }
    }
    let call = caller.call_deadline(7, far);
    let serve = async {
        let (req, responder) = server.recv().await.unwrap();
        tokio::time::advance(Duration::from_secs(3600 * 24 * 365)).await;
        responder.reply(req + 1).unwrap();
    };
    let (reply, ()) = tokio::join!(call, serve);
    assert_eq!(reply, Ok(8), "a year later, the deadline is still ahead");
}
