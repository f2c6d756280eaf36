//! The suite can fail: against a harness whose timer fires at once, the scenarios that
//! need a call or a batch window to outlast a wait report failures, and every other
//! scenario still ends (none hangs on a broken adapter).

use core::future::{ready, Ready};

use rsvp::time::{NoInstant, Timer};
use rsvp_scenarios::{Failure, Harness, SCENARIOS};

/// A timer whose every sleep has already ended, on a clock that never moves.
#[derive(Clone, Copy)]
struct AtOnce;

impl rsvp::time::Clock for AtOnce {
    type Instant = NoInstant;
    type Sleep = Ready<()>;
    fn now(&self) -> NoInstant {
        NoInstant
    }
}

impl Timer for AtOnce {
    fn sleep_until(&self, _: NoInstant) -> Ready<()> {
        ready(())
    }
}

struct Broken;

impl Harness for Broken {
    const NAME: &'static str = "a timer that fires at once";
    type Mutex = rsvp::lock::LocalMutex;
    type Clock = AtOnce;
    fn clock(&self) -> AtOnce {
        AtOnce
    }
}

#[test]
fn a_timer_that_fires_at_once_fails_the_timing_scenarios() {
    let mut seen: Vec<(&str, Result<(), Failure>)> = Vec::new();
    let (passed, failed) =
        futures_executor::block_on(rsvp_scenarios::run_all(&Broken, |name, result| {
            seen.push((name, result));
        }));

    let names: Vec<&str> = seen.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names, SCENARIOS,
        "run_all runs every scenario, in SCENARIOS order"
    );
    let failures: Vec<Failure> = seen.iter().filter_map(|(_, r)| r.err()).collect();
    let failed_names: Vec<&str> = failures.iter().map(|f| f.scenario).collect();
    // The scenarios whose calls wait with `Harness::long()` or longer: a timer that fires
    // at once times them out before the server answers.
    let mut expected = vec!["basic_call", "call_many", "far_deadlines"];
    if SCENARIOS.contains(&"batch_by_size") {
        expected.push("batch_by_size");
    }
    if SCENARIOS.contains(&"handler_panics") {
        expected.push("handler_panics");
    }
    assert_eq!(failed_names, expected, "{failures:#?}");
    assert_eq!(
        (passed, failed),
        (SCENARIOS.len() - expected.len(), expected.len())
    );
    assert_eq!(
        failures[0].message, "the server received nothing",
        "the answered call timed out at once, so its request never reached the server"
    );
}
