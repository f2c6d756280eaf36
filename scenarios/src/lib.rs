//! rsvp's behaviour scenarios, written once and run against every adapter.
//!
//! A scenario is `async fn name<H: Harness>(h: &H) -> Result<(), Failure>`: it builds its
//! own endpoint from the [`Harness`] (the adapter's lock and clock), runs the caller and the
//! server concurrently inside the one future (`join`, never a spawn), and returns a
//! [`Failure`] instead of panicking. So any executor can drive it, from a host test
//! runtime to an embassy executor on a Cortex-M0, and it needs no allocator.
//!
//! - [`run_all`] runs every scenario in [`SCENARIOS`] order and reports each to a
//!   callback; firmware prints the results and exits with the count of failures.
//! - [`scenario_tests!`] makes one `#[test]` per scenario in a host test file, so every
//!   scenario's pass or failure is its own line in the test runner's output.
//!
//! No scenario's outcome depends on timing: a timeout only ever races a server that
//! never answers, and a call that must be answered gets [`Harness::long`].
//!
//! # Features
//!
//! - `alloc`: the batching scenarios (rsvp's batch server needs a heap).
//! - `std`: the scenario of a panicking handler (rsvp catches a handler's panic only with
//!   `std`: firmware has no unwinding to catch).
#![no_std]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
mod batch;
mod call;
mod harness;
#[cfg(feature = "std")]
mod panics;
mod promise;

#[cfg(feature = "alloc")]
pub use batch::{batch_by_size, batch_by_window};
pub use call::{
    basic_call, call_many, closed_after_close, drain_serves_queued, far_deadlines,
    late_reply_handed_back, lost_responder, many_in_flight, responder_sees_cancel,
    timeout_unanswered, try_call_full,
};
pub use harness::{assert_passed, assert_passed_on, Failure, Harness};
#[cfg(feature = "std")]
pub use panics::{handler_panics, PanicsTwice};
pub use promise::{promise_timeout_abandon, promise_two_waiters};

/// Calls `$crate::$callback!` with the arguments and then the name of every scenario, so
/// the list lives in one place for [`SCENARIOS`], [`run_all`] and [`scenario_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_scenarios {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! {
            ($($args)*)
            basic_call,
            many_in_flight,
            call_many,
            try_call_full,
            timeout_unanswered,
            far_deadlines,
            responder_sees_cancel,
            late_reply_handed_back,
            lost_responder,
            closed_after_close,
            drain_serves_queued,
            promise_two_waiters,
            promise_timeout_abandon,
        }
        $crate::__if_alloc! {
            $crate::$callback! { ($($args)*) batch_by_size, batch_by_window, }
        }
        $crate::__if_std! {
            $crate::$callback! { ($($args)*) handler_panics, }
        }
    };
}

/// Expands to its input when this crate has the `std` feature, as [`__if_alloc!`].
#[cfg(feature = "std")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_std {
    ($($body:tt)*) => { $($body)* };
}

/// Expands to nothing: this crate was built without `std`.
#[cfg(not(feature = "std"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_std {
    ($($body:tt)*) => {};
}

/// Expands to its input when this crate has the `alloc` feature. A `#[cfg]` inside an
/// exported macro would test the *calling* crate's features instead.
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_alloc {
    ($($body:tt)*) => { $($body)* };
}

/// Expands to nothing: this crate was built without `alloc`.
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_alloc {
    ($($body:tt)*) => {};
}

/// The name of every scenario, in the order [`run_all`] runs them and [`scenario_tests!`]
/// names its tests.
pub const SCENARIOS: &[&str] = &[
    "basic_call",
    "many_in_flight",
    "call_many",
    "try_call_full",
    "timeout_unanswered",
    "far_deadlines",
    "responder_sees_cancel",
    "late_reply_handed_back",
    "lost_responder",
    "closed_after_close",
    "drain_serves_queued",
    "promise_two_waiters",
    "promise_timeout_abandon",
    #[cfg(feature = "alloc")]
    "batch_by_size",
    #[cfg(feature = "alloc")]
    "batch_by_window",
    #[cfg(feature = "std")]
    "handler_panics",
];

#[doc(hidden)]
#[macro_export]
macro_rules! __run_each {
    (($harness:ident, $report:ident, $passed:ident, $failed:ident) $($name:ident,)*) => {
        $(
            let result = $crate::$name($harness).await;
            match result {
                Ok(()) => $passed += 1,
                Err(_) => $failed += 1,
            }
            $report(stringify!($name), result);
        )*
    };
}

/// Runs every scenario against the harness `h`, one after the other, calling `report`
/// with each scenario's name and result as it ends. Returns `(passed, failed)`.
///
/// ```
/// # use core::time::Duration;
/// # #[derive(Clone, Copy)] struct MyTimer;
/// # impl rsvp::time::Clock for MyTimer {
/// #     type Instant = rsvp::time::NoInstant; type Sleep = core::future::Ready<()>;
/// #     fn now(&self) -> rsvp::time::NoInstant { rsvp::time::NoInstant }
/// # }
/// # impl rsvp::time::Timer for MyTimer {
/// #     fn sleep_until(&self, _: rsvp::time::NoInstant) -> Self::Sleep { core::future::ready(()) }
/// # }
/// // `MyTimer` is the adapter's `rsvp::time::Timer`. (Hidden above: one whose sleeps end
/// // at once, so here the scenarios that need a call to outlast a wait report failures.)
/// struct MyAdapter;
///
/// impl rsvp_scenarios::Harness for MyAdapter {
///     const NAME: &'static str = "my adapter";
///     type Mutex = rsvp::lock::LocalMutex;
///     type Clock = MyTimer;
///     fn clock(&self) -> MyTimer {
///         MyTimer
///     }
/// }
///
/// let (passed, failed) = futures_executor::block_on(rsvp_scenarios::run_all(&MyAdapter, |name, result| {
///     // e.g. defmt::info!("{}: {}", name, result.is_ok()) on firmware
///     let _ = (name, result);
/// }));
/// assert_eq!(passed + failed, rsvp_scenarios::SCENARIOS.len());
/// ```
pub async fn run_all<H: Harness>(
    h: &H,
    mut report: impl FnMut(&'static str, Result<(), Failure>),
) -> (usize, usize) {
    let mut passed = 0;
    let mut failed = 0;
    __with_scenarios!(__run_each!(h, report, passed, failed));
    (passed, failed)
}

/// One `#[test]` per scenario, named after it, each running the scenario against
/// `$harness` through `$run` (a function that drives a future to completion on the
/// runtime under test) and failing with the scenario's [`Failure`].
///
/// Put each runtime in a module of its own:
///
/// ```ignore
/// mod tokio_current_thread {
///     fn run<F: core::future::Future>(future: F) -> F::Output {
///         tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
///     }
///     rsvp_scenarios::scenario_tests!(run, super::TokioLocal);
/// }
/// ```
///
/// `$harness` is evaluated per test and borrowed for the scenario; a unit struct gives a
/// `&'static` borrow, which `$run` may spawn.
#[macro_export]
macro_rules! scenario_tests {
    ($run:path, $harness:expr) => {
        $crate::__with_scenarios!(__scenario_test!($run, $harness));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __scenario_test {
    (($run:path, $harness:expr) $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::assert_passed_on(&$harness, $run($crate::$name(&$harness)));
            }
        )*
    };
}
