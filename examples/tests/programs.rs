//! The four programs as users run them: on smol, in real time. Only outcomes are checked,
//! never durations; each program's fixed work times leave tens of milliseconds to spare
//! around the timeouts and windows that decide them.

use rsvp::batch::BatchError;
use rsvp::promise::WaitError;
use rsvp::CallError;
use rsvp_examples::batch::InvalidItem;
use rsvp_examples::{basic, batch, promise, timeout, Log};

#[test]
fn basic_doubles_each_request() {
    let log = Log::quiet();
    let summary = smol::block_on(basic::run(&log));
    assert_eq!(summary.results, [20, 40, 60, 80, 100].map(Ok));
    assert_eq!(
        log.lines(),
        (1..=5)
            .map(|i| format!("Request {i} result: {}", i * 20))
            .collect::<Vec<_>>()
    );
    assert_eq!((summary.stats.replied, summary.stats.total()), (5, 5));
}

#[test]
fn timeout_answers_fast_and_medium_and_the_slow_responder_stops_early() {
    let log = Log::quiet();
    let summary = smol::block_on(timeout::run(&log));
    assert_eq!(
        summary.results,
        [
            ("fast", Ok(20)),
            ("medium", Ok(40)),
            ("slow", Err(CallError::Timeout)),
        ]
    );
    let stopped: Vec<_> = summary.stopped_early.iter().map(|s| s.id).collect();
    assert_eq!(
        stopped,
        ["slow"],
        "the slow request's responder saw its caller go"
    );
    assert_eq!(
        (
            summary.stats.replied,
            summary.stats.timeout,
            summary.stats.lost
        ),
        (2, 1, 0),
        "the responder that stopped early is not counted again as lost"
    );
    let lines = log.lines();
    assert!(lines.contains(&"Request slow failed: call timed out".to_owned()));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("Request fast: the responder worked ")));
}

#[test]
fn promise_squares_and_the_short_wait_times_out() {
    let log = Log::quiet();
    let summary = smol::block_on(promise::run(&log));
    assert_eq!(summary.results, [100, 400, 900, 1600, 2500].map(Ok));
    assert_eq!(summary.timeout_case, Err(WaitError::Timeout));
    assert_eq!(
        summary.timeout_job,
        Ok(10_000),
        "the job outlives the wait that gave up on it"
    );
    assert_eq!((summary.report.received, summary.report.finished), (6, 6));
    assert!(log
        .lines()
        .contains(&"Timeout example failed: timed out waiting for the promise".to_owned()));
}

#[test]
fn batch_triples_each_item_and_only_the_invalid_one_fails() {
    let log = Log::quiet();
    let summary = smol::block_on(batch::run(&log));

    let expected = |n: i64| {
        if n < 0 {
            Ok(Err(BatchError::Item(InvalidItem(n))))
        } else {
            Ok(Ok(n * 3))
        }
    };
    let names: Vec<_> = summary.results.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["Batch 1", "Batch 2"]);
    for ((_, got), (_, sent)) in summary.results.iter().zip(batch::CALLERS) {
        let items: Vec<i64> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(items, sent);
        for (n, result) in got {
            assert_eq!(*result, expected(*n), "item {n}");
        }
    }
    let errors: Vec<_> = summary
        .results
        .iter()
        .flat_map(|(_, items)| items)
        .filter(|(_, result)| !matches!(result, Ok(Ok(_))))
        .collect();
    assert_eq!(errors.len(), 1, "only the invalid item fails: {errors:?}");

    // The split: a batch handed out full, and one handed out by its window before it
    // filled (no batch can be a shutdown flush: every caller waits for all its items).
    let sizes = &summary.batch_sizes;
    assert_eq!(sizes.iter().sum::<usize>(), 8);
    assert_eq!(sizes.first(), Some(&batch::BATCH_SIZE), "{sizes:?}");
    assert!(sizes.iter().any(|&s| s < batch::BATCH_SIZE), "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= batch::BATCH_SIZE), "{sizes:?}");
    assert_eq!(summary.report.batches, sizes.len() as u64);
    assert_eq!(summary.report.stats.replied, 8);
}

/// The basic program's lines and outcomes, the same on every runtime.
fn assert_basic(log: &Log, summary: &basic::Summary) {
    assert_eq!(summary.results, [20, 40, 60, 80, 100].map(Ok));
    assert_eq!(
        log.lines(),
        (1..=5)
            .map(|i| format!("Request {i} result: {}", i * 20))
            .collect::<Vec<_>>()
    );
    assert_eq!((summary.stats.replied, summary.stats.total()), (5, 5));
}

#[test]
fn basic_on_tokio_doubles_each_request() {
    let log = Log::quiet();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let summary = runtime.block_on(rsvp_examples::basic_tokio::run(&log));
    assert_basic(&log, &summary);
}

#[test]
fn basic_on_async_executor_doubles_each_request() {
    let log = Log::quiet();
    let executor = async_executor::Executor::new();
    let summary = futures_lite::future::block_on(
        executor.run(rsvp_examples::basic_futures::run(&executor, &log)),
    );
    assert_basic(&log, &summary);
}
