//! rsvp on embassy, the same tests on the host and inside QEMU (see `rsvp-cross`).
//!
//! Each test owns its `static` endpoint, so tests cannot see each other's calls. Time comes
//! from embassy-time: tests assert on `Instant`s, never on wall-clock time, and no outcome
//! depends on how fast the target runs (a server that must be slow never answers at all).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

use core::time::Duration;

use embassy_executor::Spawner;
use embassy_time::Instant;
use futures_util::future::join4;
use rsvp_embassy::rsvp::promise::WaitError;
use rsvp_embassy::rsvp::{self, CallError, CloseMode, TryCallError};
use rsvp_embassy::{Caller, EmbassyTimer, Promise, Rpc, Server};

type Doubler = Rpc<u32, u32, 4>;

/// Doubles every request; 0 is never answered, its responder waits for the caller to give
/// up and then drops the reply handle.
#[embassy_executor::task(pool_size = 2)]
async fn doubler(server: Server<u32, u32, 4>) {
    while let Some((n, responder)) = server.recv().await {
        if n == 0 {
            responder.cancelled().await;
            continue;
        }
        let _ = responder.reply(n * 2);
    }
}

async fn four_calls_in_flight_are_answered(spawner: Spawner) {
    static RPC: Doubler = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&RPC);
    // All four are sent before the server task first runs: four slots in flight at once.
    let calls = [1, 2, 3, 4].map(|n| caller.try_call(n).expect("a slot is free"));
    assert_eq!(RPC.stats().queued, 4);
    spawner.spawn(doubler(server).unwrap());
    let [a, b, c, d] = calls;
    assert_eq!(join4(a, b, c, d).await, (Ok(2), Ok(4), Ok(6), Ok(8)));
    assert_eq!(RPC.stats().replied, 4);
}

async fn try_call_says_full_and_gives_the_request_back(_: Spawner) {
    static RPC: Rpc<u32, u32, 2> = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&RPC);
    let first = caller.try_call(1).unwrap();
    let second = caller.try_call(2).unwrap();
    assert!(matches!(caller.try_call(3), Err(TryCallError::Full(3))));
    // Giving up on a call frees its slot at once.
    drop(first);
    let third = caller
        .try_call(3)
        .expect("the dropped call's slot is free again");
    for _ in 0..2 {
        let (n, responder) = server.recv().await.unwrap();
        responder.reply(n + 100).unwrap();
    }
    assert_eq!((second.await, third.await), (Ok(102), Ok(103)));
    let stats = RPC.stats();
    assert_eq!((stats.full, stats.cancelled, stats.replied), (1, 1, 2));
}

async fn a_call_nobody_answers_times_out_at_its_deadline(spawner: Spawner) {
    static RPC: Doubler = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&RPC);
    spawner.spawn(doubler(server).unwrap());
    let start = Instant::now();
    let result = caller.call_timeout(0, Duration::from_millis(30)).await;
    assert_eq!(result, Err(CallError::Timeout));
    let waited = Instant::now() - start;
    assert!(
        waited.as_millis() >= 30,
        "timed out after {} ms",
        waited.as_millis()
    );
    // The same server still answers others.
    assert_eq!(caller.call_timeout(5, Duration::from_secs(5)).await, Ok(10));
}

async fn the_responder_sees_the_deadline_and_the_cancellation(_: Spawner) {
    static RPC: Rpc<u32, u32, 2> = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&RPC);
    let before = Instant::now();
    let call = caller.call_timeout(1, Duration::from_millis(20));
    let respond = async {
        let (_, responder) = server.recv().await.unwrap();
        let deadline = responder
            .deadline()
            .expect("a timed call carries its deadline");
        assert!(deadline >= before + embassy_time::Duration::from_millis(20));
        assert!(!responder.is_cancelled());
        responder.cancelled().await;
        assert!(Instant::now() >= deadline);
        // Too late: the reply comes back to the responder instead of being lost silently.
        assert_eq!(responder.reply(2), Err(2));
    };
    let (result, ()) = futures_util::future::join(call, respond).await;
    assert_eq!(result, Err(CallError::Timeout));
}

async fn a_dropped_responder_gives_lost(_: Spawner) {
    static RPC: Rpc<u32, u32, 2> = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&RPC);
    let call = caller.try_call(1).unwrap();
    let (_, responder) = server.recv().await.unwrap();
    drop(responder);
    assert_eq!(call.await, Err(CallError::Lost));
    assert_eq!(RPC.stats().lost, 1);
}

async fn closing_ends_queued_calls_and_refuses_new_ones(_: Spawner) {
    static RPC: Rpc<u32, u32, 2> = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&RPC);
    let queued = caller.try_call(1).unwrap();
    assert_eq!(server.close(CloseMode::Fail), 1);
    assert_eq!(queued.await, Err(CallError::Closed));
    assert!(matches!(caller.try_call(2), Err(TryCallError::Closed(2))));
    assert!(server.recv().await.is_none());
}

#[embassy_executor::task(pool_size = 2)]
async fn wait_for(promise: &'static Promise<u32>, seen: &'static Promise<u32>) {
    let value = promise.wait().await.unwrap();
    let _ = seen.set(value);
}

async fn a_promise_is_set_once_and_awaited_by_two_tasks(spawner: Spawner) {
    static PROMISE: Promise<u32> = Promise::new();
    static SEEN: [Promise<u32>; 2] = [Promise::new(), Promise::new()];
    for seen in &SEEN {
        spawner.spawn(wait_for(&PROMISE, seen).unwrap());
    }
    let early = PROMISE
        .wait_timeout(&EmbassyTimer, Duration::from_millis(10))
        .await;
    assert_eq!(early, Err(WaitError::Timeout));
    PROMISE.set(7).unwrap();
    assert_eq!(PROMISE.set(8), Err(8), "the first value wins");
    for seen in &SEEN {
        assert_eq!(
            seen.wait_timeout(&EmbassyTimer, Duration::from_secs(5))
                .await,
            Ok(7)
        );
    }
}

async fn handles_made_once_can_be_shared_by_tasks(spawner: Spawner) {
    static RPC: Doubler = Rpc::new(EmbassyTimer);
    static RESULTS: [Promise<Result<u32, CallError>>; 2] = [Promise::new(), Promise::new()];

    #[embassy_executor::task(pool_size = 2)]
    async fn ask(
        caller: Caller<u32, u32, 4>,
        n: u32,
        timeout_ms: u64,
        out: &'static Promise<Result<u32, CallError>>,
    ) {
        let _ = out.set(
            caller
                .call_timeout(n, Duration::from_millis(timeout_ms))
                .await,
        );
    }

    let (caller, server) = rsvp::Rpc::split(&RPC);
    spawner.spawn(doubler(server).unwrap());
    // One server answers in order: if it takes 0 first, 21 waits until 0 times out, so 21's
    // own timeout is long.
    spawner.spawn(ask(caller.clone(), 21, 5_000, &RESULTS[0]).unwrap());
    spawner.spawn(ask(caller, 0, 50, &RESULTS[1]).unwrap());
    let timeout = Duration::from_secs(5);
    assert_eq!(
        RESULTS[0].wait_timeout(&EmbassyTimer, timeout).await,
        Ok(Ok(42))
    );
    assert_eq!(
        RESULTS[1].wait_timeout(&EmbassyTimer, timeout).await,
        Ok(Err(CallError::Timeout))
    );
}

/// The shared scenarios (`rsvp-scenarios`) on rsvp-embassy, with the lock named `M`.
struct Embassy<M>(core::marker::PhantomData<M>);

impl<M: embassy_sync::blocking_mutex::raw::RawMutex> rsvp_scenarios::Harness for Embassy<M> {
    const NAME: &'static str = "embassy";
    type Mutex = rsvp_embassy::EmbassyMutex<M>;
    type Clock = EmbassyTimer;
    fn clock(&self) -> EmbassyTimer {
        EmbassyTimer
    }
}

/// Runs every scenario; each is reported as a test of its own, and this test fails if any
/// of them did.
async fn run_scenarios<M: embassy_sync::blocking_mutex::raw::RawMutex>(flavour: &str) {
    let harness = Embassy::<M>(core::marker::PhantomData);
    let (passed, failed) = rsvp_scenarios::run_all(&harness, |name, result| {
        rsvp_cross::report(Named(flavour, name), result);
    })
    .await;
    assert_eq!(
        failed,
        0,
        "{failed} of {} scenarios failed",
        passed + failed
    );
    assert_eq!(passed, rsvp_scenarios::SCENARIOS.len());
}

/// `scenario <name> (<flavour>)`.
struct Named<'a>(&'a str, &'static str);

impl core::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "scenario {} ({})", self.1, self.0)
    }
}

async fn scenarios_with_critical_section_lock(_: Spawner) {
    run_scenarios::<embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex>(
        "CriticalSectionRawMutex",
    )
    .await;
}

async fn scenarios_with_noop_lock(_: Spawner) {
    run_scenarios::<embassy_sync::blocking_mutex::raw::NoopRawMutex>("NoopRawMutex").await;
}

rsvp_cross::suite!(
    scenarios_with_critical_section_lock,
    scenarios_with_noop_lock,
    four_calls_in_flight_are_answered,
    try_call_says_full_and_gives_the_request_back,
    a_call_nobody_answers_times_out_at_its_deadline,
    the_responder_sees_the_deadline_and_the_cancellation,
    a_dropped_responder_gives_lost,
    closing_ends_queued_calls_and_refuses_new_ones,
    a_promise_is_set_once_and_awaited_by_two_tasks,
    handles_made_once_can_be_shared_by_tasks,
);
