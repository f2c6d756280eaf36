//! `FuturesTimer` under an executor with no timer: its sleeps end at their deadline, not
//! before, and an unanswered call times out.

use std::future::Future;
use std::time::{Duration, Instant};

use rsvp::time::{Clock, Timer};
use rsvp::CallError;
use rsvp_futures::FuturesTimer;

#[test]
fn a_sleep_ends_at_its_deadline_not_before() {
    let deadline = FuturesTimer.now() + Duration::from_millis(5);
    futures_executor::block_on(FuturesTimer.sleep_until(deadline));
    assert!(Instant::now() >= deadline);
}

#[test]
fn a_sleep_whose_deadline_passed_is_ready_at_once() {
    let past = FuturesTimer.now();
    let mut sleep = FuturesTimer.sleep_until(past);
    let waker = std::task::Waker::noop();
    let ready = std::pin::Pin::new(&mut sleep).poll(&mut std::task::Context::from_waker(waker));
    assert!(ready.is_ready());
}

#[test]
fn an_unanswered_call_times_out_on_a_local_pool() {
    // The server exists but never takes the request: only the timer can end the call.
    let (caller, _server) = rsvp_futures::local_channel::<u32, u32, 2>();
    let mut pool = futures_executor::LocalPool::new();
    let result = pool.run_until(caller.call_timeout(1, Duration::from_millis(10)));
    assert_eq!(result, Err(CallError::Timeout));
    assert_eq!(caller.stats().timeout, 1);
}
