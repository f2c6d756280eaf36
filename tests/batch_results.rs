//! Each caller of a batch gets its own result or its own error; a handler that miscounts
//! gives every caller of that batch an error; callers who gave up are left out.

use rsvp::batch::{BatchError, BatchReport, WrongResultCount};
use rsvp::CallError;
use rsvp_scenarios::PanicsTwice;
use rsvp_tests::batch::{triple_or_reject_negatives, BatchHarness, Reply};
use rsvp_tests::ms;

#[test]
fn a_failing_item_fails_only_its_own_caller() {
    let mut h = BatchHarness::start(3, triple_or_reject_negatives);
    for n in [1, -2, 3] {
        h.call(n, None);
    }
    let (replies, report) = h.finish();
    assert_eq!(
        replies,
        [
            (1, Ok(Ok(3))),
            (-2, Ok(Err(BatchError::Item("invalid item -2".to_string())))),
            (3, Ok(Ok(9))),
        ]
    );
    assert_eq!(
        (report.batches, report.items, report.wrong_count),
        (1, 3, 0)
    );
}

#[test]
fn a_handler_that_miscounts_gives_every_caller_of_that_batch_an_error() {
    // First batch (3 items): 2 results. Second batch (2 items): 3 results.
    let mut result_counts = vec![2, 3].into_iter();
    let mut h = BatchHarness::start(3, move |items| {
        let mut results = triple_or_reject_negatives(items);
        results.resize(result_counts.next().unwrap(), Ok(0));
        results
    });
    for n in [1, 2, 3, 4, 5] {
        h.call(n, None);
    }
    h.advance(ms(100)); // the second batch (4, 5) goes by its window
    let (replies, report) = h.finish();
    let wrong = |expected, got| {
        Ok(Err(BatchError::WrongCount(WrongResultCount {
            expected,
            got,
        })))
    };
    assert_eq!(
        replies,
        [
            (1, wrong(3, 2)),
            (2, wrong(3, 2)),
            (3, wrong(3, 2)),
            (4, wrong(2, 3)),
            (5, wrong(2, 3)),
        ],
        "nothing lost: every caller gets an error, none gets another's result"
    );
    assert_eq!((report.batches, report.wrong_count), (2, 2));
    assert_eq!(
        report.stats.replied, 5,
        "each caller got exactly one outcome"
    );
}

#[test]
fn a_caller_who_gave_up_is_left_out_of_its_batch() {
    let mut h = BatchHarness::start(10, triple_or_reject_negatives);
    h.call(1, Some(ms(50)));
    h.call(2, None);
    h.advance(ms(50));
    assert_eq!(h.replies.borrow()[..], [(1, Err(CallError::Timeout))]);
    h.advance(ms(50));
    assert_eq!(
        h.batches(),
        [vec![2]],
        "the timed-out item is not processed"
    );
    let (replies, report) = h.finish();
    assert_eq!(replies[1], (2, Ok(Ok(6))));
    assert_eq!((report.items, report.skipped), (1, 1));
    let stats = report.stats;
    assert_eq!((stats.replied, stats.timeout, stats.total()), (1, 1, 2));
}

#[test]
fn a_handler_that_panics_loses_its_batch_and_the_server_goes_on() {
    let mut h = BatchHarness::start(2, |items: Vec<i32>| {
        assert!(items[0] != 13, "the handler fails on 13");
        triple_or_reject_negatives(items)
    });
    for n in [13, 2, 4, 5] {
        h.call(n, None);
    }
    let (replies, report) = h.finish();
    assert_eq!(
        replies,
        [
            (13, Err(CallError::Lost)),
            (2, Err(CallError::Lost)),
            (4, Ok(Ok(12))),
            (5, Ok(Ok(15))),
        ],
        "the panicking batch's callers get Lost; the next batch is served"
    );
    assert_eq!((report.batches, report.panicked), (2, 1));
    assert_eq!((report.stats.lost, report.stats.replied), (2, 2));
}

/// Serves batches of 2 with `handler` (`serve_batches`), calls each of `calls` from its own
/// task, then drains: each call's reply in the order they ended, and the report.
fn serve_and_call<F, Fut>(handler: F, calls: &[i32]) -> (Vec<(i32, Reply)>, BatchReport)
where
    F: FnMut(Vec<i32>) -> Fut + 'static,
    Fut: std::future::Future<Output = Vec<Result<i32, String>>> + 'static,
{
    use std::cell::RefCell;
    use std::rc::Rc;

    use futures_executor::LocalPool;
    use futures_util::task::LocalSpawnExt;
    use rsvp::batch::{BatchConfig, BatchResult};
    use rsvp::time::ManualClock;
    use rsvp::{CloseMode, Rpc};
    use rsvp_tests::LocalRpc;

    type Endpoint = LocalRpc<i32, BatchResult<i32, String>, 8>;
    let (caller, server) = Rpc::split(Rc::new(Endpoint::new(ManualClock::new())));
    let mut pool = LocalPool::new();
    let report = Rc::new(RefCell::new(None));
    let out = report.clone();
    pool.spawner()
        .spawn_local(async move {
            let config = BatchConfig::new(2, ms(100)).unwrap();
            *out.borrow_mut() = Some(server.serve_batches(config, handler).await);
        })
        .unwrap();
    let replies = Rc::new(RefCell::new(Vec::new()));
    for &n in calls {
        let (caller, replies) = (caller.clone(), replies.clone());
        pool.spawner()
            .spawn_local(async move {
                let reply = caller.call(n).await;
                replies.borrow_mut().push((n, reply));
            })
            .unwrap();
    }
    pool.run_until_stalled();
    caller.close(CloseMode::Drain);
    pool.run_until_stalled();
    let report = report.borrow_mut().take().expect("serve_batches returned");
    (replies.take(), report)
}

#[test]
fn a_handler_future_that_panics_when_polled_loses_only_its_batch() {
    let (replies, report) = serve_and_call(
        |items: Vec<i32>| async move {
            futures_util::future::ready(()).await;
            assert!(!items.contains(&13), "the handler's future fails on 13");
            items.into_iter().map(|n| Ok(n * 2)).collect()
        },
        &[1, 13, 3, 4],
    );
    assert_eq!(
        replies,
        [
            (1, Err(CallError::Lost)),
            (13, Err(CallError::Lost)),
            (3, Ok(Ok(6))),
            (4, Ok(Ok(8))),
        ]
    );
    assert_eq!((report.batches, report.panicked), (2, 1));
}

#[test]
fn a_handler_future_whose_drop_panics_too_loses_only_its_batch() {
    use futures_util::future::Either;

    let mut first = true;
    let (replies, report) = serve_and_call(
        move |items: Vec<i32>| {
            if std::mem::replace(&mut first, false) {
                Either::Left(PanicsTwice::new(()))
            } else {
                Either::Right(async move { items.into_iter().map(Ok).collect() })
            }
        },
        &[1, 2, 3, 4],
    );
    assert_eq!(
        replies,
        [
            (1, Err(CallError::Lost)),
            (2, Err(CallError::Lost)),
            (3, Ok(Ok(3))),
            (4, Ok(Ok(4))),
        ]
    );
    assert_eq!((report.batches, report.panicked), (2, 1));
}

/// A handler future that finishes with its batch's results, and panics when dropped.
struct PanicsWhenDropped(Vec<i32>);

impl std::future::Future for PanicsWhenDropped {
    type Output = Vec<Result<i32, String>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(self.0.drain(..).map(|n| Ok(n * 2)).collect())
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("the handler's future fails when dropped");
    }
}

#[test]
fn a_handler_future_that_panics_when_dropped_after_finishing_keeps_its_results() {
    use futures_util::future::Either;

    let mut first = true;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (replies, report) = serve_and_call(
        move |items: Vec<i32>| {
            if std::mem::replace(&mut first, false) {
                Either::Left(PanicsWhenDropped(items))
            } else {
                Either::Right(async move { items.into_iter().map(Ok).collect() })
            }
        },
        &[1, 2, 3, 4],
    );
    std::panic::set_hook(hook);
    assert_eq!(
        replies,
        [
            (1, Ok(Ok(2))),
            (2, Ok(Ok(4))),
            (3, Ok(Ok(3))),
            (4, Ok(Ok(4))),
        ],
        "the first batch's results stand; the next batch is served"
    );
    assert_eq!((report.batches, report.panicked), (2, 0));
}
