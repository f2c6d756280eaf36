//! "Request/Response with Timeout": requests with timeouts of 300, 150 and 50 ms to a
//! server whose work takes [`WORK`] (100 ms). "fast" and "medium" get their reply with its
//! timing (the seed's `TimedResponse`); "slow" times out, and its responder, which races
//! its work against [`Responder::cancelled`](rsvp::Responder::cancelled) (the seed's
//! `ctx.Done()`), notices that its caller gave up and stops early.
//!
//! The seed's work takes a random 0–200 ms, so any of its requests may time out; here the
//! fixed 100 ms gives the outcome its comments expect, with 50 ms to spare either way.
//!
//! ```text
//! Request fast: the responder worked 100.4ms; the reply came 100.6ms after the example started
//! Request fast result: 20
//! Request medium: the responder worked 100.3ms; the reply came 201.1ms after the example started
//! Request medium result: 40
//! Request slow failed: call timed out
//! Responder for slow: its caller gave up after 50.2ms, so it stopped its 100.0ms of work early
//! ```

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rsvp::stats::StatsSnapshot;
use rsvp::CallError;
use smol::future;

use crate::{Log, Millis};

/// How long the server works on each request.
pub const WORK: Duration = Duration::from_millis(100);

/// The requests the program sends, in order: id, data and timeout.
pub const REQUESTS: [(&str, u64, Duration); 3] = [
    ("fast", 10, Duration::from_millis(300)),
    ("medium", 20, Duration::from_millis(150)),
    ("slow", 30, Duration::from_millis(50)), // "This might timeout": here it always does
];

/// Room for 10 calls in flight, the seed's buffered `requests` channel.
const SLOTS: usize = 10;

/// The seed starts a goroutine per request; here up to 10 handlers run at once.
const HANDLERS: NonZeroUsize = NonZeroUsize::new(SLOTS).unwrap();

/// A request: the seed's `TimedRequest` without its reply channel and context, since rsvp
/// carries the reply slot and the deadline with every call.
#[derive(Clone, Copy, Debug)]
pub struct TimedRequest {
    /// The request's name, for the output.
    pub id: &'static str,
    /// The number to double.
    pub data: u64,
}

/// A responder that saw its caller give up and stopped working.
#[derive(Clone, Copy, Debug)]
pub struct StoppedEarly {
    /// The request's name.
    pub id: &'static str,
    /// How long it had worked when it noticed.
    pub after: Duration,
}

/// What the program did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Each request's outcome, in the order of [`REQUESTS`].
    pub results: Vec<(&'static str, Result<u64, CallError>)>,
    /// The responders that noticed their caller was gone and stopped early.
    pub stopped_early: Vec<StoppedEarly>,
    /// The endpoint's stats once the server stopped.
    pub stats: StatsSnapshot,
}

type Responder = rsvp_smol::Responder<TimedRequest, u64, SLOTS>;

/// Runs the program, writing its output to `log`.
pub async fn run(log: &Log) -> Summary {
    let start = Instant::now();
    let (caller, server) = rsvp_smol::channel::<TimedRequest, u64, SLOTS>();

    let stopped = Arc::new(Mutex::new(Vec::new()));
    let serving = rsvp_smol::spawn_server(server, HANDLERS, {
        let stopped = stopped.clone();
        move |req, responder| process_timed_request(req, responder, stopped.clone())
    });

    let mut results = Vec::new();
    for (id, data, timeout) in REQUESTS {
        // SendRequestWithTimeout; `timed()` adds the reply's timing, the seed's
        // `TimedResponse` (`elapsed()` is its `Duration`, `completed_at` its `Timestamp`).
        let result = caller
            .call_timeout(TimedRequest { id, data }, timeout)
            .timed()
            .await
            .map(|timed| {
                let replied_at = timed.completed_at.duration_since(start);
                log.line(format_args!(
                    "Request {id}: the responder worked {}; the reply came {} after the example started",
                    Millis(timed.elapsed()),
                    Millis(replied_at),
                ));
                timed.value
            });
        match result {
            Ok(doubled) => log.line(format_args!("Request {id} result: {doubled}")),
            Err(error) => log.line(format_args!("Request {id} failed: {error}")),
        }
        results.push((id, result));
    }

    // The server ends once the last caller is gone and its handlers are done, so every
    // responder has had its say before it is reported. (A responder writing to the log
    // itself would race with the caller's line: both happen at the moment of the timeout.)
    drop(caller);
    let report = serving.await;
    let stopped_early =
        std::mem::take(&mut *stopped.lock().unwrap_or_else(PoisonError::into_inner));
    for s in &stopped_early {
        log.line(format_args!(
            "Responder for {}: its caller gave up after {}, so it stopped its {} of work early",
            s.id,
            Millis(s.after),
            Millis(WORK),
        ));
    }
    Summary {
        results,
        stopped_early,
        stats: report.stats,
    }
}

/// The seed's `processTimedRequest`: works unless the caller stops waiting first.
async fn process_timed_request(
    req: TimedRequest,
    responder: Responder,
    stopped: Arc<Mutex<Vec<StoppedEarly>>>,
) {
    let taken = Instant::now();
    let work = async {
        smol::Timer::after(WORK).await;
        true
    };
    let caller_gone = async {
        responder.cancelled().await;
        false
    };
    if future::or(work, caller_gone).await {
        // The caller may still give up between the work and the reply; then the value
        // comes back here and nobody else gets it.
        let _ = responder.reply(req.data * 2);
    } else {
        // Dropping the responder unanswered is fine: its caller already has `Timeout`.
        let mut stopped = stopped.lock().unwrap_or_else(PoisonError::into_inner);
        stopped.push(StoppedEarly {
            id: req.id,
            after: taken.elapsed(),
        });
    }
}
