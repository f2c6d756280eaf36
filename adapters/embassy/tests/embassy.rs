//! The adapter on the host: embassy-time's std driver with its generic queue, under
//! `futures_executor`. Each test's outcome does not depend on how fast the machine is:
//! either nobody answers (so the call must time out) or the answer is immediate.

use core::time::Duration;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use rsvp::promise::WaitError;
use rsvp::time::Instant as _;
use rsvp::{CallError, TryCallError};
use rsvp_embassy::{EmbassyTimer, Promise, Rpc};

#[test]
fn instants_round_timeouts_up_to_whole_ticks() {
    let t0 = embassy_time::Instant::from_ticks(1_000);
    let tick = Duration::from_secs(1) / u32::try_from(embassy_time::TICK_HZ).unwrap();
    // A timeout shorter than one tick still moves the deadline, rather than expiring now.
    assert_eq!(
        t0.checked_add(tick / 2),
        Some(embassy_time::Instant::from_ticks(1_001))
    );
    assert_eq!(
        t0.checked_add(tick * 3),
        Some(embassy_time::Instant::from_ticks(1_003))
    );
    assert_eq!(
        t0.checked_add(Duration::MAX),
        None,
        "too far: never expires"
    );
    let later = embassy_time::Instant::from_ticks(1_003);
    assert_eq!(later.saturating_duration_since(t0), tick * 3);
    assert_eq!(t0.saturating_duration_since(later), Duration::ZERO);
}

#[test]
fn a_static_endpoint_gives_full_timeout_lost_and_replies() {
    static RPC: Rpc<u32, u32, 2> = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&RPC);
    futures_executor::block_on(async {
        // Two slots: two calls in flight, the third is refused with its request back.
        let a = caller.try_call(1).unwrap();
        let b = caller
            .try_call_timeout(2, Duration::from_millis(20))
            .unwrap();
        assert!(matches!(caller.try_call(3), Err(TryCallError::Full(3))));

        let (req, responder) = server.recv().await.unwrap();
        assert_eq!(req, 1);
        drop(responder);
        assert_eq!(a.await, Err(CallError::Lost));

        // Nobody takes 2: its deadline passes in the queue.
        assert_eq!(b.await, Err(CallError::Timeout));

        let call = caller.try_call(4).unwrap();
        let (req, responder) = server.recv().await.unwrap();
        assert!(responder.deadline().is_none());
        responder.reply(req * 10).unwrap();
        assert_eq!(call.await, Ok(40));
    });
    let stats = RPC.stats();
    assert_eq!(
        (stats.replied, stats.full, stats.timeout, stats.lost),
        (1, 1, 1, 1)
    );
}

#[test]
fn the_responder_sees_the_deadline_and_the_cancellation() {
    // A `NoopRawMutex` object is `!Sync`, so it cannot be a `static` (firmware puts it in a
    // `StaticCell`); a local one works the same.
    let rpc: Rpc<u32, u32, 2, NoopRawMutex> = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&rpc);
    futures_executor::block_on(async {
        let before = embassy_time::Instant::now();
        let call = caller.call_timeout(7, Duration::from_millis(20));
        let serve = async {
            let (_, responder) = server.recv().await.unwrap();
            let deadline = responder.deadline().expect("a timed call has a deadline");
            assert!(deadline >= before + embassy_time::Duration::from_millis(20));
            responder.cancelled().await;
            assert!(responder.is_cancelled());
            assert!(embassy_time::Instant::now() >= deadline);
        };
        let (result, ()) = futures_util::future::join(call, serve).await;
        assert_eq!(result, Err(CallError::Timeout));
    });
}

#[test]
fn a_promise_waits_with_an_embassy_timeout() {
    static PROMISE: Promise<u32> = Promise::new();
    futures_executor::block_on(async {
        let waited = PROMISE.wait_timeout(&EmbassyTimer, Duration::from_millis(10));
        assert_eq!(waited.await, Err(WaitError::Timeout));
        PROMISE.set(5).unwrap();
        assert_eq!(PROMISE.set(6), Err(6), "the first value wins");
        let waited = PROMISE.wait_timeout(&EmbassyTimer, Duration::from_secs(10));
        assert_eq!(waited.await, Ok(5));
    });
}
