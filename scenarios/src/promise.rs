//! Promise scenarios: set once, awaited by many, with timeouts and abandonment.

use futures_util::future::{join, join3};
use rsvp::promise::WaitError;
use rsvp::Promise;

use crate::harness::{ensure, yield_now, Failure, Harness};

/// A promise set once and awaited by two tasks: both get the first value, the second
/// `set` is refused with its value.
pub async fn promise_two_waiters<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "promise_two_waiters";
    let _ = h;
    let promise: Promise<u32, H::Mutex> = Promise::new();
    let setting = async {
        // Both waiters register first, so the set has to wake them.
        yield_now().await;
        (promise.set(5), promise.set(6))
    };
    let (first, second, sets) = join3(promise.wait(), promise.wait(), setting).await;
    ensure!(sets == (Ok(()), Err(6)), "the second set was not refused");
    ensure!(
        first == Ok(5) && second == Ok(5),
        "a waiter did not get the value"
    );
    ensure!(
        promise.is_ready() && promise.try_get() == Ok(5),
        "the set promise does not report its value"
    );
    Ok(())
}

/// A promise nobody sets: a timed wait ends with `Timeout` by the harness's timer, and
/// after `abandon` every wait ends with `Abandoned`.
pub async fn promise_timeout_abandon<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "promise_timeout_abandon";
    let clock = h.clock();
    let promise: Promise<u32, H::Mutex> = Promise::new();
    ensure!(
        promise.wait_timeout(&clock, h.short()).await == Err(WaitError::Timeout),
        "a wait on an unset promise did not time out"
    );
    let abandoning = async {
        yield_now().await;
        promise.abandon()
    };
    let (waited, abandoned) = join(promise.wait(), abandoning).await;
    ensure!(abandoned, "abandon on an empty promise did nothing");
    ensure!(
        waited.is_err(),
        "a wait on an abandoned promise got a value"
    );
    ensure!(
        promise.set(1) == Err(1),
        "an abandoned promise accepted a value"
    );
    Ok(())
}
