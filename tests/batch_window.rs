//! Batching flushes on size, or once `max_wait` has passed since the batch's FIRST item.

use rsvp::CloseMode;
use rsvp_tests::batch::{triple_or_reject_negatives, BatchHarness};
use rsvp_tests::ms;

#[test]
fn the_window_runs_from_the_first_item_not_the_last() {
    let mut h = BatchHarness::start(10, triple_or_reject_negatives);
    h.call(1, None);
    h.advance(ms(90));
    h.call(2, None); // a later item does not move the window
    h.advance(ms(9));
    assert!(
        h.batches().is_empty(),
        "99 ms after the first item: still open"
    );
    h.advance(ms(1));
    assert_eq!(h.batches(), [vec![1, 2]]);
    assert_eq!(
        *h.replies.borrow(),
        [(1, Ok(Ok(3))), (2, Ok(Ok(6)))],
        "each caller gets its own result"
    );
}

#[test]
fn a_full_batch_goes_at_once() {
    let mut h = BatchHarness::start(3, triple_or_reject_negatives);
    for n in 1..=4 {
        h.call(n, None);
    }
    assert_eq!(h.batches(), [vec![1, 2, 3]], "no time has passed");
    assert_eq!(h.replies.borrow().len(), 3);
    // The fourth item opened a new batch when it arrived: its window runs from then.
    h.advance(ms(99));
    assert_eq!(h.batches().len(), 1);
    h.advance(ms(1));
    assert_eq!(h.batches(), [vec![1, 2, 3], vec![4]]);
    assert_eq!(h.replies.borrow()[3], (4, Ok(Ok(12))));
}

#[test]
fn a_new_window_opens_with_the_next_item_after_a_flush() {
    let mut h = BatchHarness::start(10, triple_or_reject_negatives);
    h.call(1, None);
    h.advance(ms(100));
    assert_eq!(h.batches(), [vec![1]]);
    h.advance(ms(70));
    h.call(2, None);
    h.advance(ms(99));
    assert_eq!(h.batches().len(), 1, "the second window started at 170 ms");
    h.advance(ms(1));
    assert_eq!(h.batches(), [vec![1], vec![2]]);
}

#[test]
fn shutdown_flushes_what_was_gathered() {
    let mut h = BatchHarness::start(10, triple_or_reject_negatives);
    h.call(5, None);
    h.call(6, None);
    assert!(h.batches().is_empty());
    h.caller.close(CloseMode::Drain);
    h.pool.run_until_stalled();
    assert_eq!(
        h.batches(),
        [vec![5, 6]],
        "flushed without waiting for the window"
    );
    assert_eq!(*h.replies.borrow(), [(5, Ok(Ok(15))), (6, Ok(Ok(18)))]);
    let report = h.report.borrow().expect("serve_batches returned");
    assert_eq!((report.batches, report.items), (1, 2));
    assert_eq!(report.stats.replied, 2);
}
