//! An embassy firmware built on rsvp-embassy, run under QEMU (`cargo run --release
//! --target thumbv7em-none-eabihf -p rsvp-firmware-example` from `cross/`), or on the host
//! (`cargo run -p rsvp-firmware-example`). It prints what happens and exits with failure if
//! anything did not go as expected:
//!
//! - one server task answers `Double(n)` at once and never answers `Slow`; it notices when
//!   `Slow`'s caller has given up and stops early;
//! - two caller tasks call with timeouts: `Double(21)` gets 42, `Slow` times out;
//! - a promise is set once and awaited by two tasks;
//! - a batch server gathers up to 4 items for 50 ms: three callers send one item each, so
//!   the batch is flushed by its window, not by its size.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

extern crate alloc;

use alloc::vec::Vec;
use core::convert::Infallible;
use core::time::Duration;

use embassy_executor::Spawner;
use embassy_time::{Instant, Timer};
use rsvp_cross::println;
use rsvp_embassy::rsvp::batch::{BatchConfig, BatchResult};
use rsvp_embassy::rsvp::{self, CallError};
use rsvp_embassy::{Caller, EmbassyTimer, Promise, Rpc, Server};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Request {
    Double(u32),
    Slow,
}

/// Up to 4 calls in flight.
static RPC: Rpc<Request, u32, 4> = Rpc::new(EmbassyTimer);
/// What each caller got; `main` checks them.
static OUTCOMES: [Promise<Result<u32, CallError>>; 2] = [Promise::new(), Promise::new()];
/// Set by the server when it noticed a caller give up: that request's id.
static NOTICED_CANCEL: Promise<u64> = Promise::new();

static SETTINGS: Promise<u32> = Promise::new();
static WAITED: [Promise<u32>; 2] = [Promise::new(), Promise::new()];

static BATCHER: Rpc<u32, BatchResult<u32, Infallible>, 4> = Rpc::new(EmbassyTimer);
const WINDOW: Duration = Duration::from_millis(50);

#[embassy_executor::task]
async fn server(server: Server<Request, u32, 4>) {
    while let Some((request, responder)) = server.recv().await {
        match request {
            Request::Double(n) => {
                let _ = responder.reply(n * 2);
            }
            Request::Slow => {
                // Real work would check `is_cancelled()` between steps; here the work is
                // simply waiting for the caller to stop waiting.
                responder.cancelled().await;
                println!(
                    "server: the caller of request #{} gave up at its deadline ({:?}); stopping early",
                    responder.id(),
                    responder.deadline(),
                );
                let _ = NOTICED_CANCEL.set(responder.id());
            }
        }
    }
}

#[embassy_executor::task(pool_size = 2)]
async fn caller(
    name: &'static str,
    caller: Caller<Request, u32, 4>,
    request: Request,
    timeout: Duration,
    outcome: &'static Promise<Result<u32, CallError>>,
) {
    let start = Instant::now();
    let result = caller.call_timeout(request, timeout).await;
    println!(
        "{name}: {request:?} with a {} ms timeout -> {result:?} after {} ms",
        timeout.as_millis(),
        start.elapsed().as_millis()
    );
    let _ = outcome.set(result);
}

#[embassy_executor::task(pool_size = 2)]
async fn waiter(name: &'static str, seen: &'static Promise<u32>) {
    let value = SETTINGS.wait().await.expect("the setter never abandons it");
    println!("{name}: the promise resolved to {value}");
    let _ = seen.set(value);
}

#[embassy_executor::task]
async fn batcher(server: Server<u32, BatchResult<u32, Infallible>, 4>) {
    let config = BatchConfig::new(4, WINDOW).expect("a valid batch config");
    let report = server
        .serve_batches(config, |items: Vec<u32>| async move {
            println!("batcher: a batch of {} items: {items:?}", items.len());
            items.into_iter().map(|n| Ok(n * 10)).collect()
        })
        .await;
    println!("batcher: {report}");
}

#[embassy_executor::task(pool_size = 3)]
async fn batch_item(
    caller: Caller<u32, BatchResult<u32, Infallible>, 4>,
    n: u32,
    out: &'static Promise<(u32, Instant)>,
) {
    let reply = caller.call_timeout(n, Duration::from_secs(5)).await;
    let _ = out.set((
        reply
            .expect("answered by the batch")
            .expect("no item error"),
        Instant::now(),
    ));
}

#[embassy_executor::task]
async fn run(spawner: Spawner) {
    println!("rsvp-embassy example firmware on {}", rsvp_cross::TARGET);
    let mut ok = true;
    let long = Duration::from_secs(5);

    // Request/response: one server, two callers with timeouts.
    let (calls, serves) = rsvp::Rpc::split(&RPC);
    spawner.spawn(server(serves).unwrap());
    spawner.spawn(
        caller(
            "caller-1",
            calls.clone(),
            Request::Double(21),
            Duration::from_millis(100),
            &OUTCOMES[0],
        )
        .unwrap(),
    );
    spawner.spawn(
        caller(
            "caller-2",
            calls,
            Request::Slow,
            Duration::from_millis(20),
            &OUTCOMES[1],
        )
        .unwrap(),
    );
    ok &= OUTCOMES[0].wait_timeout(&EmbassyTimer, long).await == Ok(Ok(42));
    ok &= OUTCOMES[1].wait_timeout(&EmbassyTimer, long).await == Ok(Err(CallError::Timeout));
    ok &= NOTICED_CANCEL
        .wait_timeout(&EmbassyTimer, long)
        .await
        .is_ok();
    let stats = RPC.stats();
    println!("rpc: {stats}");
    ok &= (stats.replied, stats.timeout) == (1, 1);

    // A promise awaited by two tasks.
    spawner.spawn(waiter("waiter-1", &WAITED[0]).unwrap());
    spawner.spawn(waiter("waiter-2", &WAITED[1]).unwrap());
    Timer::after_millis(10).await;
    SETTINGS.set(7).expect("set once");
    ok &= SETTINGS.set(8) == Err(8);
    for seen in &WAITED {
        ok &= seen.wait_timeout(&EmbassyTimer, long).await == Ok(7);
    }

    // A batch of three that only the window can flush (it holds up to four).
    static ITEMS: [Promise<(u32, Instant)>; 3] = [Promise::new(), Promise::new(), Promise::new()];
    let (items, batches) = rsvp::Rpc::split(&BATCHER);
    spawner.spawn(batcher(batches).unwrap());
    let sent = Instant::now();
    for (n, out) in (1..).zip(&ITEMS) {
        spawner.spawn(batch_item(items.clone(), n, out).unwrap());
    }
    drop(items);
    for (n, out) in (1..).zip(&ITEMS) {
        match out.wait_timeout(&EmbassyTimer, long).await {
            Ok((reply, at)) => {
                let waited = at.saturating_duration_since(sent);
                println!("batch item {n}: {reply} after {} ms", waited.as_millis());
                ok &= reply == n * 10 && Duration::from(waited) >= WINDOW;
            }
            Err(error) => {
                println!("batch item {n}: {error}");
                ok = false;
            }
        }
    }

    println!(
        "example firmware: {}",
        if ok {
            "every outcome as expected"
        } else {
            "UNEXPECTED OUTCOME"
        }
    );
    rsvp_cross::exit(ok)
}

#[cfg(target_os = "none")]
#[rsvp_cross::entry]
fn main() -> ! {
    rsvp_cross::start(|spawner| spawner.spawn(run(spawner).unwrap()))
}

#[cfg(not(target_os = "none"))]
fn main() {
    rsvp_cross::start(|spawner| spawner.spawn(run(spawner).unwrap()))
}
