//! "Basic Request/Response": a server doubles numbers; the main task sends five requests,
//! `req-1` to `req-5` with the data 10 to 50, one after the other, and prints each result.
//!
//! The seed's `Request` carries a reply channel made for each call; here the request is
//! just the number, and rsvp gives each call a reusable reply slot. The seed's server
//! works a random 0–100 ms per request; this one works [`WORK`] on each.
//!
//! ```text
//! Request 1 result: 20
//! Request 2 result: 40
//! Request 3 result: 60
//! Request 4 result: 80
//! Request 5 result: 100
//! ```

use std::num::NonZeroUsize;
use std::time::Duration;

use rsvp::stats::StatsSnapshot;
use rsvp::CallError;

use crate::Log;

/// How long the server works on each request.
pub const WORK: Duration = Duration::from_millis(20);

/// What the program did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Each request's outcome, `req-1` first.
    pub results: Vec<Result<u64, CallError>>,
    /// The endpoint's stats once the server stopped.
    pub stats: StatsSnapshot,
}

/// Runs the program, writing its output to `log`.
pub async fn run(log: &Log) -> Summary {
    // Room for 4 calls in flight; one request is in flight at a time here anyway.
    let (caller, server) = rsvp_smol::channel::<u64, u64, 4>();

    // server.Start(): like the seed's loop, it takes one request at a time.
    let serving = rsvp_smol::spawn_server(server, NonZeroUsize::MIN, |n, responder| async move {
        smol::Timer::after(WORK).await; // the seed's "processing time"
                                        // `reply` hands the value back only if the caller stopped waiting; nobody here does.
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
    let report = serving.await;
    Summary {
        results,
        stats: report.stats,
    }
}
