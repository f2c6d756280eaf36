//! Batching scenarios (feature `alloc`: rsvp's batch server keeps its batch in a `Vec`).
//!
//! The handler answers each item with `item * 10 + batch length`, so every caller's reply
//! also says how big the batch that carried it was, without state shared with the handler.

use alloc::vec::Vec;
use core::time::Duration;

use futures_util::future::{join, join3, ready, Ready};
use rsvp::batch::{BatchConfig, BatchResult};
use rsvp::rpc::With;
use rsvp::Rpc;

use crate::harness::{ensure, fail, yield_now, Failure, Harness};

type BatchEndpoint<H> =
    Rpc<u32, BatchResult<u32, ()>, 8, With<<H as Harness>::Mutex, <H as Harness>::Clock>>;

fn handler(items: Vec<u32>) -> Ready<Vec<Result<u32, ()>>> {
    let len = items.len() as u32;
    ready(items.into_iter().map(|item| Ok(item * 10 + len)).collect())
}

/// Three callers and a batch size of three, the last two coming after the server has
/// opened the batch: one batch of three, flushed by size long before its (long) window
/// ends.
pub async fn batch_by_size<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "batch_by_size";
    let Ok(config) = BatchConfig::new(3, h.long()) else {
        return Err(fail!("a valid batch config was refused"));
    };
    let rpc: BatchEndpoint<H> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let calling = async move {
        // The first call opens the batch; the others come once the server has taken it, so
        // the batch waits for them, within its window.
        let later = |req| {
            let caller = &caller;
            async move {
                yield_now().await;
                caller.call(req).await
            }
        };
        let replies = join3(caller.call(1), later(2), later(3)).await;
        // The last caller gone: the batch server reports and ends.
        drop(caller);
        replies
    };
    let (replies, report) = join(calling, server.serve_batches(config, handler)).await;
    ensure!(
        replies == (Ok(Ok(13)), Ok(Ok(23)), Ok(Ok(33))),
        "the three calls were not answered by one batch of three"
    );
    ensure!(
        report.batches == 1 && report.items == 3,
        "the report does not say one batch of three items"
    );
    Ok(())
}

/// One caller and a batch size of three: no more items ever come, so only the window can
/// flush the batch (the caller stays, so shutdown cannot flush it).
pub async fn batch_by_window<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "batch_by_window";
    let window = h.short().max(Duration::from_millis(1));
    let Ok(config) = BatchConfig::new(3, window) else {
        return Err(fail!("a valid batch config was refused"));
    };
    let rpc: BatchEndpoint<H> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let calling = async move {
        let reply = caller.call(4).await;
        drop(caller);
        reply
    };
    let (reply, report) = join(calling, server.serve_batches(config, handler)).await;
    ensure!(
        reply == Ok(Ok(41)),
        "the lone call was not answered by a batch of one"
    );
    ensure!(
        report.batches == 1 && report.items == 1,
        "the report does not say one batch of one item"
    );
    Ok(())
}
