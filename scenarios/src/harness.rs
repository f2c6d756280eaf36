//! What an adapter provides to the scenarios, and how a scenario reports a failure.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

/// One adapter (a runtime and a lock flavour) as the scenarios see it.
///
/// Each scenario builds its own endpoint as a local,
/// `rsvp::Rpc::<_, _, N, rsvp::rpc::With<H::Mutex, H::Clock>>::new(h.clock())`, so a harness only names the
/// lock and hands out its clock; it never spawns, and any executor can drive a scenario.
///
/// The clock may be a real timer: no scenario's outcome depends on how fast the executor
/// runs. A timeout is only ever raced against a server that never answers, and a call
/// that must not time out gets [`long`](Self::long).
pub trait Harness {
    /// How the runtime is named in reports, e.g. `"tokio multi-thread, StdMutex"`.
    const NAME: &'static str;
    /// The endpoint's lock: the flavour under test.
    type Mutex: rsvp::lock::RawMutex;
    /// The adapter's clock and timer.
    type Clock: rsvp::time::Timer;

    /// A clock for one endpoint (or one promise wait).
    fn clock(&self) -> Self::Clock;

    /// The timeout of calls that are meant to time out: short, to keep the suite fast.
    fn short(&self) -> Duration {
        Duration::from_millis(10)
    }

    /// The timeout of calls that are meant to be answered: long enough that no scheduler
    /// delay reaches it.
    fn long(&self) -> Duration {
        Duration::from_secs(10)
    }
}

/// A scenario that did not see what it expected. Plain data, so firmware without an
/// allocator can report it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Failure {
    /// The scenario's name, as in [`SCENARIOS`](crate::SCENARIOS).
    pub scenario: &'static str,
    /// The line in the scenario's source that noticed.
    pub line: u32,
    /// What was expected and did not happen.
    pub message: &'static str,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scenario {} failed (line {}): {}",
            self.scenario, self.line, self.message
        )
    }
}

impl core::error::Error for Failure {}

/// Panics with the failure's text if the scenario failed: how a `#[test]` turns a
/// scenario's result into its own.
///
/// # Panics
///
/// On `Err`.
#[track_caller]
pub fn assert_passed(result: Result<(), Failure>) {
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// [`assert_passed`], naming the harness's runtime in the panic message; what
/// [`scenario_tests!`](crate::scenario_tests) calls.
#[doc(hidden)]
#[track_caller]
pub fn assert_passed_on<H: Harness>(_: &H, result: Result<(), Failure>) {
    if let Err(failure) = result {
        panic!("{failure} (on {})", H::NAME);
    }
}

/// Returns a [`Failure`] of the enclosing scenario (named by its `SCENARIO` constant).
macro_rules! fail {
    ($message:literal) => {
        $crate::Failure {
            scenario: SCENARIO,
            line: line!(),
            message: $message,
        }
    };
}

/// Ends the enclosing scenario with a [`Failure`] unless the condition holds.
macro_rules! ensure {
    ($condition:expr, $message:literal) => {
        if !$condition {
            return Err($crate::harness::fail!($message));
        }
    };
}

pub(crate) use {ensure, fail};

/// Gives the executor one turn: pending once, waking itself at once.
///
/// Scenarios use it to let the other half of a `join` reach its await point first, so
/// the wake-up path is the one tested rather than an already-decided outcome.
pub(crate) fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

pub(crate) struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
