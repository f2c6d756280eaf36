//! `SmolTimer` without smol: async-io fires its timers from its own thread when no smol
//! runtime drives them.
//!
//! A file of its own so its tests run in a process where no smol executor thread (which
//! would also drive async-io's reactor) has ever been started.

use std::time::{Duration, Instant};

use rsvp::time::{Clock, Timer};
use rsvp::CallError;
use rsvp_smol::SmolTimer;

#[test]
fn sleep_completes_under_futures_executor() {
    let deadline = SmolTimer.now() + Duration::from_millis(5);
    futures_executor::block_on(SmolTimer.sleep_until(deadline));
    assert!(Instant::now() >= deadline);
}

#[test]
fn call_timeout_ends_under_futures_executor() {
    // The server exists but never takes the request: only the timer can end the call.
    let (caller, _server) = rsvp_smol::local_channel::<u32, u32, 2>();
    let result = futures_executor::block_on(caller.call_timeout(1, Duration::from_millis(10)));
    assert_eq!(result, Err(CallError::Timeout));
    assert_eq!(caller.stats().timeout, 1);
}
