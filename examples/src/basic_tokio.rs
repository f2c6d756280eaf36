//! "Basic Request/Response" on tokio, with [`rsvp_tokio`]: the program of
//! [`basic`](crate::basic), with the server spawned as a tokio task and its work timed by
//! tokio's timer. Same output.

use std::num::NonZeroUsize;

use crate::basic::{Summary, WORK};
use crate::Log;

/// Runs the program inside a tokio runtime, writing its output to `log`.
///
/// # Panics
///
/// Outside a tokio runtime with the time driver, or if the server task panics.
pub async fn run(log: &Log) -> Summary {
    // Room for 4 calls in flight; one request is in flight at a time here anyway.
    let (caller, server) = rsvp_tokio::channel::<u64, u64, 4>();

    // server.Start(): a tokio task that takes one request at a time.
    let serving = rsvp_tokio::spawn_server(server, NonZeroUsize::MIN, |n, responder| async move {
        tokio::time::sleep(WORK).await; // the seed's "processing time"
        let _ = responder.reply(n * 2);
    });

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
    let report = serving.await.expect("the server task panicked");
    Summary {
        results,
        stats: report.stats,
    }
}
