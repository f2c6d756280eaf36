//! "Basic Request/Response" on async-executor, with [`rsvp_futures`]: the program of
//! [`basic`](crate::basic) on an executor that has no timer of its own. rsvp-futures
//! never spawns; the program spawns the server future on the executor it is given, and
//! the server's work is timed by [`FuturesTimer`]. Same output.

use std::num::NonZeroUsize;

use rsvp::time::{Clock, Timer};
use rsvp_futures::FuturesTimer;

use crate::basic::{Summary, WORK};
use crate::Log;

/// Runs the program, spawning its server on `executor`, writing its output to `log`.
/// Something must run `executor` meanwhile (e.g. `executor.run(run(&executor, log))`).
pub async fn run(executor: &async_executor::Executor<'_>, log: &Log) -> Summary {
    // Room for 4 calls in flight; one request is in flight at a time here anyway.
    let (caller, server) = rsvp_futures::channel::<u64, u64, 4>();

    // server.Start(): the serve future, spawned where this program chooses.
    let serving = executor.spawn(server.serve(NonZeroUsize::MIN, |n, responder| async move {
        FuturesTimer.sleep_until(FuturesTimer.now() + WORK).await; // the seed's "processing time"
        let _ = responder.reply(n * 2);
    }));

    let mut results = Vec::new();
    for i in 1..=5 {
        let result = caller.call(i * 10).await; // SendRequest(fmt.Sprintf("req-%d", i), i*10)
        match result {
            Ok(doubled) => log.line(format_args!("Request {i} result: {doubled}")),
            Err(error) => log.line(format_args!("Request {i} failed: {error}")),
        }
        results.push(result);
    }

    // server.Stop(): with the last caller gone, the server finishes and reports.
    drop(caller);
    let report = serving.await;
    Summary {
        results,
        stats: report.stats,
    }
}
