//! Batching flushes on size, or once `max_wait` has passed since the batch's FIRST item.

use std::cell::RefCell;
use std::rc::Rc;

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt;
use rsvp::{BatchConfig, BatchReport, BatchResult, CloseMode, ManualClock, Rpc};
use rsvp_tests::{ms, LocalRpc};

type Reply = BatchResult<i32, &'static str>;
type Endpoint = LocalRpc<i32, Reply, 16>;

/// A batching server on a manual clock, with callers spawned on one pool.
struct Harness {
    pool: LocalPool,
    clock: ManualClock,
    caller: rsvp::Caller<Rc<Endpoint>>,
    /// Each batch the handler saw, in order.
    batches: Rc<RefCell<Vec<Vec<i32>>>>,
    /// `(request, reply)` as each caller got it.
    replies: Rc<RefCell<Vec<(i32, Result<Reply, rsvp::CallError>)>>>,
    report: Rc<RefCell<Option<BatchReport>>>,
}

impl Harness {
    fn start(max_size: usize) -> Self {
        let clock = ManualClock::new();
        let rpc = Rc::new(Endpoint::new(clock.clone()));
        let (caller, server) = Rpc::split(rpc);
        let pool = LocalPool::new();
        let batches = Rc::new(RefCell::new(Vec::new()));
        let report = Rc::new(RefCell::new(None));
        let (seen, out) = (batches.clone(), report.clone());
        let config = BatchConfig::new(max_size, ms(100)).unwrap();
        pool.spawner()
            .spawn_local(async move {
                let done = server
                    .serve_batches(config, move |items: Vec<i32>| {
                        seen.borrow_mut().push(items.clone());
                        async move { items.into_iter().map(|n| Ok(n * 3)).collect() }
                    })
                    .await;
                *out.borrow_mut() = Some(done);
            })
            .unwrap();
        Self {
            pool,
            clock,
            caller,
            batches,
            replies: Rc::new(RefCell::new(Vec::new())),
            report,
        }
    }

    fn call(&mut self, n: i32) {
        let (caller, replies) = (self.caller.clone(), self.replies.clone());
        self.pool
            .spawner()
            .spawn_local(async move {
                let reply = caller.call(n).await;
                replies.borrow_mut().push((n, reply));
            })
            .unwrap();
        self.pool.run_until_stalled();
    }

    fn advance(&mut self, by: std::time::Duration) {
        self.clock.advance(by);
        self.pool.run_until_stalled();
    }

    fn batches(&self) -> Vec<Vec<i32>> {
        self.batches.borrow().clone()
    }
}

#[test]
fn the_window_runs_from_the_first_item_not_the_last() {
    let mut h = Harness::start(10);
    h.call(1);
    h.advance(ms(90));
    h.call(2); // a later item does not move the window
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
    let mut h = Harness::start(3);
    for n in 1..=4 {
        h.call(n);
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
    let mut h = Harness::start(10);
    h.call(1);
    h.advance(ms(100));
    assert_eq!(h.batches(), [vec![1]]);
    h.advance(ms(70));
    h.call(2);
    h.advance(ms(99));
    assert_eq!(h.batches().len(), 1, "the second window started at 170 ms");
    h.advance(ms(1));
    assert_eq!(h.batches(), [vec![1], vec![2]]);
}

#[test]
fn shutdown_flushes_what_was_gathered() {
    let mut h = Harness::start(10);
    h.call(5);
    h.call(6);
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
