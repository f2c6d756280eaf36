//! Each caller of a batch gets its own result or its own error; a handler that miscounts
//! gives every caller of that batch an error; callers who gave up are left out.

use rsvp::batch::{BatchError, WrongResultCount};
use rsvp::CallError;
use rsvp_tests::batch::{triple_or_reject_negatives, BatchHarness};
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
