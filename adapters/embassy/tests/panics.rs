//! A panicking batch handler ends only its own batch on rsvp-embassy, on the host, where
//! rsvp's `std` feature (on for the tests, through rsvp-scenarios') catches the panic:
//! that batch's callers get `Lost`, and the batch server goes on with the next batch.
//! embassy-time's std driver under `futures_executor`, as in `embassy.rs`; every batch
//! runs when full, so no timer decides the outcome.

use core::time::Duration;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use futures_util::future::join;
use rsvp::batch::{BatchConfig, BatchResult};
use rsvp::{CallError, CloseMode};
use rsvp_embassy::{EmbassyTimer, Rpc};
use rsvp_scenarios::PanicsTwice;

type Reply = BatchResult<i32, ()>;

#[test]
fn a_panicking_batch_handler_loses_only_its_batch() {
    let rpc: Rpc<i32, Reply, 4, NoopRawMutex> = Rpc::new(EmbassyTimer);
    let (caller, server) = rsvp::Rpc::split(&rpc);
    // Batches of 2: each pair below is called at once, so it fills a batch; the window
    // (an hour) never decides.
    let config = BatchConfig::new(2, Duration::from_secs(3600)).unwrap();
    let serving = server.serve_batches(config, |items: Vec<i32>| {
        assert!(
            !items.contains(&13),
            "the handler fails when called with 13"
        );
        let fails_when_polled = items.contains(&26);
        let panics_twice = items.contains(&39);
        async move {
            futures_util::future::ready(()).await;
            assert!(!fails_when_polled, "the handler's future fails on 26");
            if panics_twice {
                PanicsTwice::<(), Vec<Result<i32, ()>>>::new(()).await
            } else {
                items.iter().map(|n| Ok(n * 3)).collect()
            }
        }
    });
    let calling = async {
        let mut replies = Vec::new();
        for (a, b) in [(13, 1), (2, 3), (26, 4), (5, 6), (39, 7), (8, 9)] {
            let (ra, rb) = join(caller.call(a), caller.call(b)).await;
            replies.extend([(a, ra), (b, rb)]);
        }
        caller.close(CloseMode::Drain);
        replies
    };
    // The panics are expected: keep the test output readable.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (replies, report) = futures_executor::block_on(join(calling, serving));
    std::panic::set_hook(hook);
    assert_eq!(
        replies,
        [
            (13, Err(CallError::Lost)),
            (1, Err(CallError::Lost)),
            (2, Ok(Ok(6))),
            (3, Ok(Ok(9))),
            (26, Err(CallError::Lost)),
            (4, Err(CallError::Lost)),
            (5, Ok(Ok(15))),
            (6, Ok(Ok(18))),
            (39, Err(CallError::Lost)),
            (7, Err(CallError::Lost)),
            (8, Ok(Ok(24))),
            (9, Ok(Ok(27))),
        ],
        "each panicking batch's callers get Lost; the next batch is served"
    );
    assert_eq!((report.batches, report.items, report.panicked), (6, 12, 3));
    assert_eq!((report.stats.lost, report.stats.replied), (6, 6));
}
