//! rsvp's scenario suite (`rsvp-scenarios`) on smol, in both lock flavours, with
//! [`SmolTimer`] as the clock: one test per scenario and flavour.

use rsvp_scenarios::Harness;
use rsvp_smol::SmolTimer;

/// Single-thread endpoints (`LocalMutex`), driven by a `smol::LocalExecutor`.
struct Local;

impl Harness for Local {
    const NAME: &'static str = "smol LocalExecutor, LocalMutex";
    type Mutex = rsvp::lock::LocalMutex;
    type Clock = SmolTimer;
    fn clock(&self) -> SmolTimer {
        SmolTimer
    }
}

/// Thread-safe endpoints (`StdMutex`), the scenario spawned onto smol's global executor.
struct Shared;

impl Harness for Shared {
    const NAME: &'static str = "smol global executor, StdMutex";
    type Mutex = rsvp::lock::StdMutex;
    type Clock = SmolTimer;
    fn clock(&self) -> SmolTimer {
        SmolTimer
    }
}

mod local_executor {
    fn run<F: core::future::Future>(future: F) -> F::Output {
        let executor = smol::LocalExecutor::new();
        smol::block_on(executor.run(future))
    }
    rsvp_scenarios::scenario_tests!(run, super::Local);
}

mod global_executor {
    /// Spawned, so the scenario runs on smol's executor threads, not the test's.
    fn run<F>(future: F) -> F::Output
    where
        F: core::future::Future + Send + 'static,
        F::Output: Send,
    {
        smol::block_on(smol::spawn(future))
    }
    rsvp_scenarios::scenario_tests!(run, super::Shared);
}
