//! rsvp's scenario suite (`rsvp-scenarios`) on tokio's runtimes, with [`TokioTimer`] as
//! the clock: one test per scenario and runtime.
//!
//! The thread-safe flavour's scenario is spawned as a tokio task, so on the multi-thread
//! runtime it runs on a worker thread. The paused runtime runs the suite with tokio's
//! clock auto-advancing: the same outcomes, with every timeout taking no real time.

use rsvp_scenarios::Harness;
use rsvp_tokio::TokioTimer;

/// Single-thread endpoints (`LocalMutex`).
struct Local;

impl Harness for Local {
    const NAME: &'static str = "tokio, LocalMutex";
    type Mutex = rsvp::lock::LocalMutex;
    type Clock = TokioTimer;
    fn clock(&self) -> TokioTimer {
        TokioTimer
    }
}

/// Thread-safe endpoints (`StdMutex`).
struct Shared;

impl Harness for Shared {
    const NAME: &'static str = "tokio, StdMutex";
    type Mutex = rsvp::lock::StdMutex;
    type Clock = TokioTimer;
    fn clock(&self) -> TokioTimer {
        TokioTimer
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}

/// Spawns `future` as a task of `runtime` and waits for its output.
fn spawned<F>(runtime: tokio::runtime::Runtime, future: F) -> F::Output
where
    F: core::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime
        .block_on(runtime.spawn(future))
        .expect("the scenario task panicked")
}

mod current_thread_local {
    fn run<F: core::future::Future>(future: F) -> F::Output {
        tokio::task::LocalSet::new().block_on(&super::current_thread(), future)
    }
    rsvp_scenarios::scenario_tests!(run, super::Local);
}

mod current_thread_shared {
    fn run<F>(future: F) -> F::Output
    where
        F: core::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        super::spawned(super::current_thread(), future)
    }
    rsvp_scenarios::scenario_tests!(run, super::Shared);
}

mod multi_thread {
    fn run<F>(future: F) -> F::Output
    where
        F: core::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a multi-thread runtime");
        super::spawned(runtime, future)
    }
    rsvp_scenarios::scenario_tests!(run, super::Shared);
}

mod current_thread_paused {
    fn run<F: core::future::Future>(future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a paused current-thread runtime");
        tokio::task::LocalSet::new().block_on(&runtime, future)
    }
    rsvp_scenarios::scenario_tests!(run, super::Local);
}
