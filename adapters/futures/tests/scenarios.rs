//! rsvp's scenario suite (`rsvp-scenarios`) through rsvp-futures on every executor it
//! claims: one test per scenario and executor. None of these executors has a timer or a
//! reactor; [`FuturesTimer`]'s thread ends the timeouts under all of them.
//!
//! The thread-safe executors get the scenario spawned onto them (not run on the test's
//! thread), so the endpoint really is used from their worker threads.

use rsvp_futures::FuturesTimer;
use rsvp_scenarios::Harness;

/// Single-thread endpoints (`LocalMutex`).
struct Local;

impl Harness for Local {
    const NAME: &'static str = "rsvp-futures, LocalMutex";
    type Mutex = rsvp::lock::LocalMutex;
    type Clock = FuturesTimer;
    fn clock(&self) -> FuturesTimer {
        FuturesTimer
    }
}

/// Thread-safe endpoints (`StdMutex`).
struct Shared;

impl Harness for Shared {
    const NAME: &'static str = "rsvp-futures, StdMutex";
    type Mutex = rsvp::lock::StdMutex;
    type Clock = FuturesTimer;
    fn clock(&self) -> FuturesTimer {
        FuturesTimer
    }
}

mod local_pool {
    fn run<F: core::future::Future>(future: F) -> F::Output {
        futures_executor::LocalPool::new().run_until(future)
    }
    rsvp_scenarios::scenario_tests!(run, super::Local);
}

mod thread_pool {
    fn run<F>(future: F) -> F::Output
    where
        F: core::future::Future + Send + 'static,
        F::Output: Send,
    {
        let pool = futures_executor::ThreadPool::builder()
            .pool_size(2)
            .create()
            .expect("a thread pool");
        let (done, result) = std::sync::mpsc::channel();
        pool.spawn_ok(async move {
            let _ = done.send(future.await);
        });
        result
            .recv()
            .expect("the scenario task ended without a result")
    }
    rsvp_scenarios::scenario_tests!(run, super::Shared);
}

mod async_executor_local {
    fn run<F: core::future::Future>(future: F) -> F::Output {
        let executor = async_executor::LocalExecutor::new();
        futures_lite::future::block_on(executor.run(future))
    }
    rsvp_scenarios::scenario_tests!(run, super::Local);
}

mod async_executor_threads {
    use rsvp::lock::StdMutex;
    use rsvp::Promise;

    /// The scenario is a task of a two-thread `async_executor::Executor`: the test's
    /// thread and one helper both run the executor.
    fn run<F>(future: F) -> F::Output
    where
        F: core::future::Future + Send + 'static,
        F::Output: Send,
    {
        let executor = async_executor::Executor::new();
        let stop: Promise<(), StdMutex> = Promise::new();
        std::thread::scope(|s| {
            s.spawn(|| futures_lite::future::block_on(executor.run(stop.wait())));
            let task = executor.spawn(future);
            let output = futures_lite::future::block_on(executor.run(task));
            let _ = stop.set(());
            output
        })
    }
    rsvp_scenarios::scenario_tests!(run, super::Shared);
}

mod async_global_executor {
    fn run<F>(future: F) -> F::Output
    where
        F: core::future::Future + Send + 'static,
        F::Output: Send,
    {
        ::async_global_executor::block_on(::async_global_executor::spawn(future))
    }
    rsvp_scenarios::scenario_tests!(run, super::Shared);
}
