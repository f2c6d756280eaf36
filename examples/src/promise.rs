//! "Future/Promise": an async service with 3 workers squares the numbers 10 to 50, handing
//! out a promise for each; the main task waits for them in order. Then "Testing
//! timeout...": a wait of [`WAIT`] (50 ms) on a job that takes [`WORK`] (100 ms) gives up.
//!
//! The seed's `AsyncService` is [`rsvp::promise::PromiseService`]: `submit` is
//! `ProcessAsync`, and [`PromiseService::run`] is the workers, with at most 3 jobs in
//! progress. The seed's jobs take a random 100–300 ms; these take 100 ms each, so the first
//! three finish together and the last two 100 ms later.
//!
//! ```text
//! Starting async operation 1
//! ...
//! Starting async operation 5
//!
//! Waiting for results...
//! Operation 1 result: 100
//! ...
//! Operation 5 result: 2500
//!
//! Testing timeout...
//! Timeout example failed: timed out waiting for the promise
//! The job itself still finished, and set its promise to 10000
//! ```

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use rsvp::lock::StdMutex;
use rsvp::promise::{PromiseService, RunReport, WaitError};
use rsvp::CloseMode;
use rsvp_smol::SmolTimer;

use crate::Log;

/// How long each job works.
pub const WORK: Duration = Duration::from_millis(100);

/// How long the timeout example waits for its promise.
pub const WAIT: Duration = Duration::from_millis(50);

/// The seed's `NewAsyncService(3)`.
const WORKERS: NonZeroUsize = NonZeroUsize::new(3).unwrap();

/// Room for 8 waiting requests; the program submits 6 in all, so `submit` never says
/// `Full` here.
type Service = PromiseService<u64, u64, StdMutex, 8>;

/// What the program did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Each operation's result, operation 1 first.
    pub results: Vec<Result<u64, WaitError>>,
    /// What the timed wait of the timeout example got.
    pub timeout_case: Result<u64, WaitError>,
    /// What the timeout example's job set its promise to, in the end.
    pub timeout_job: Result<u64, WaitError>,
    /// What the workers did.
    pub report: RunReport,
}

/// Runs the program, writing its output to `log`.
pub async fn run(log: &Log) -> Summary {
    let service = Arc::new(Service::new());

    // The workers: a task that runs jobs, at most 3 at once, and sets each job's promise.
    let workers = smol::spawn(PromiseService::run(
        service.clone(),
        WORKERS,
        |n| async move {
            smol::Timer::after(WORK).await; // the seed's "processing"
            n * n
        },
    ));

    let mut promises = Vec::new();
    for i in 1..=5 {
        log.line(format_args!("Starting async operation {i}"));
        let promise = service.submit(i * 10).expect("8 places for 6 requests");
        promises.push(promise);
    }

    log.line("");
    log.line("Waiting for results...");
    let mut results = Vec::new();
    for (i, promise) in (1..).zip(&promises) {
        let result = promise.wait().await;
        match result {
            Ok(square) => log.line(format_args!("Operation {i} result: {square}")),
            Err(error) => log.line(format_args!("Operation {i} failed: {error}")),
        }
        results.push(result);
    }

    log.line("");
    log.line("Testing timeout...");
    let promise = service.submit(100).expect("8 places for 6 requests");
    let timeout_case = promise.wait_timeout(&SmolTimer, WAIT).await;
    match timeout_case {
        Ok(square) => log.line(format_args!("Timeout example result: {square}")),
        Err(error) => log.line(format_args!("Timeout example failed: {error}")),
    }

    // Giving up on a wait stops nothing: the job finishes and sets its promise, which
    // anyone else waiting on it would get. Drain lets the workers finish what was taken.
    service.close(CloseMode::Drain);
    let report = workers.await;
    let timeout_job = promise.wait().await;
    match timeout_job {
        Ok(square) => log.line(format_args!(
            "The job itself still finished, and set its promise to {square}"
        )),
        Err(error) => log.line(format_args!("The job itself failed: {error}")),
    }

    Summary {
        results,
        timeout_case,
        timeout_job,
        report,
    }
}
