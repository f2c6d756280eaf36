//! "Batch Request/Response": a batch processor that hands out a batch when it holds
//! [`BATCH_SIZE`] (3) requests or [`WINDOW`] (100 ms) after the first one arrived, and
//! triples every number.
//!
//! rsvp batches per item: each item is one call to an endpoint served by
//! [`Server::serve_batches`](rsvp::Server::serve_batches), and each caller gets its own
//! result, or its own error. The seed's two batch requests, `batch1` with 5 items and
//! `batch2` with 3, are two callers that send all their items at once. The 8 items make
//! two full batches at once and a third batch of the 2 left over, handed out when its
//! window passes. The item -20 is invalid: the handler returns an error for it, and only
//! its caller sees that error.
//!
//! ```text
//! Processing batch of 3 requests: [1, 2, 3]
//! Processing batch of 3 requests: [4, 5, 10]
//! Batch 1 results:
//!   Item 0 result: 3
//!   ...
//!   Item 4 result: 15
//! Processing batch of 2 requests (the window passed): [-20, 30]
//! Batch 2 results:
//!   Item 0 result: 30
//!   Item 1 error: batch item failed: invalid item -20: negative numbers are refused
//!   Item 2 result: 90
//! ```

use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::join_all;
use rsvp::batch::{BatchConfig, BatchReport, BatchResult};
use rsvp::CallError;
use smol::future;

use crate::Log;

/// The most requests in a batch.
pub const BATCH_SIZE: usize = 3;

/// How long after its first request a batch is handed out, full or not.
pub const WINDOW: Duration = Duration::from_millis(100);

/// How long the handler works on a batch (the seed works 10 ms per item, and on the
/// requests of a batch in parallel).
pub const WORK: Duration = Duration::from_millis(10);

/// The seed's two batch requests, as the callers' items.
pub const CALLERS: [(&str, &[i64]); 2] =
    [("Batch 1", &[1, 2, 3, 4, 5]), ("Batch 2", &[10, -20, 30])];

/// Room for 16 calls in flight: all 8 items are sent at once.
const SLOTS: usize = 16;

/// Why the handler refused an item: the numbers must not be negative (the seed's
/// "invalid item type").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidItem(pub i64);

impl fmt::Display for InvalidItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid item {}: negative numbers are refused", self.0)
    }
}

impl Error for InvalidItem {}

/// What a caller gets for one item: the call's outcome and, inside it, the item's own
/// result (an invalid item is `Ok(Err(BatchError::Item(InvalidItem(n))))`, see
/// [`BatchError`](rsvp::batch::BatchError)).
pub type ItemResult = Result<BatchResult<i64, InvalidItem>, CallError>;

/// What the program did.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Each caller's items with what it got for them, in the order of [`CALLERS`].
    pub results: Vec<(&'static str, Vec<(i64, ItemResult)>)>,
    /// The size of each batch the handler got, in order.
    pub batch_sizes: Vec<usize>,
    /// What the batch server did, with the endpoint's stats.
    pub report: BatchReport,
}

/// Runs the program, writing its output to `log`.
pub async fn run(log: &Log) -> Summary {
    let (caller, server) = rsvp_smol::channel::<i64, BatchResult<i64, InvalidItem>, SLOTS>();
    let config = BatchConfig::new(BATCH_SIZE, WINDOW).expect("a size and a window above zero");

    let batch_sizes = Arc::new(Mutex::new(Vec::new()));
    let handler = {
        let (log, batch_sizes) = (log.clone(), batch_sizes.clone());
        move |items: Vec<i64>| {
            // Every caller waits for its items, so no batch is flushed by a shutdown here:
            // a batch that is not full was handed out because its window passed.
            let why = if items.len() < BATCH_SIZE {
                " (the window passed)"
            } else {
                ""
            };
            log.line(format_args!(
                "Processing batch of {} requests{why}: {items:?}",
                items.len()
            ));
            lock(&batch_sizes).push(items.len());
            async move {
                smol::Timer::after(WORK).await;
                items.into_iter().map(triple).collect::<Vec<_>>()
            }
        }
    };
    // bp.Start(): the future owns the server handle, so it is spawned as it is.
    let serving = smol::spawn(server.serve_batches(config, handler));

    // Two callers, each sending all its items at once. `zip` polls the first one first,
    // so its items are queued first and the batches hold the same items on every run.
    let [first, second] = CALLERS.map(|(name, items)| {
        let (caller, log) = (caller.clone(), log.clone());
        async move {
            let results = join_all(items.iter().map(|&n| caller.call(n))).await;
            log.line(format_args!("{name} results:"));
            for (index, result) in results.iter().enumerate() {
                match result {
                    Ok(Ok(tripled)) => log.line(format_args!("  Item {index} result: {tripled}")),
                    Ok(Err(error)) => log.line(format_args!("  Item {index} error: {error}")),
                    Err(error) => log.line(format_args!("  Item {index} failed: {error}")),
                }
            }
            (name, items.iter().copied().zip(results).collect())
        }
    });
    let (first, second) = future::zip(first, second).await;

    // bp.Stop(): the last caller gone, the server flushes what is left (nothing) and stops.
    drop(caller);
    let report = serving.await;
    let batch_sizes = std::mem::take(&mut *lock(&batch_sizes));
    Summary {
        results: vec![first, second],
        batch_sizes,
        report,
    }
}

fn triple(n: i64) -> Result<i64, InvalidItem> {
    if n < 0 {
        Err(InvalidItem(n))
    } else {
        Ok(n * 3)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
