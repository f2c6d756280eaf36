//! Each caller of a batch gets its own result or its own error; a handler that miscounts
//! gives every caller of that batch an error; callers who gave up are left out.

use std::cell::RefCell;
use std::rc::Rc;

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt;
use rsvp::{
    BatchConfig, BatchError, BatchReport, BatchResult, CallError, CloseMode, ManualClock, Rpc,
    WrongResultCount,
};
use rsvp_tests::{ms, LocalRpc};

type Reply = BatchResult<i32, String>;
type Endpoint = LocalRpc<i32, Reply, 16>;
type Handler = Box<dyn FnMut(Vec<i32>) -> Vec<Result<i32, String>>>;

struct Harness {
    pool: LocalPool,
    clock: ManualClock,
    caller: rsvp::Caller<Rc<Endpoint>>,
    replies: Rc<RefCell<Vec<(i32, Result<Reply, CallError>)>>>,
    report: Rc<RefCell<Option<BatchReport>>>,
}

impl Harness {
    fn start(max_size: usize, mut handler: Handler) -> Self {
        let clock = ManualClock::new();
        let (caller, server) = Rpc::split(Rc::new(Endpoint::new(clock.clone())));
        let pool = LocalPool::new();
        let report = Rc::new(RefCell::new(None));
        let out = report.clone();
        let config = BatchConfig::new(max_size, ms(100)).unwrap();
        pool.spawner()
            .spawn_local(async move {
                let done = server
                    .serve_batches(config, move |items| {
                        let results = handler(items);
                        async move { results }
                    })
                    .await;
                *out.borrow_mut() = Some(done);
            })
            .unwrap();
        Self {
            pool,
            clock,
            caller,
            replies: Rc::new(RefCell::new(Vec::new())),
            report,
        }
    }

    fn call(&mut self, n: i32, timeout: Option<std::time::Duration>) {
        let (caller, replies) = (self.caller.clone(), self.replies.clone());
        self.pool
            .spawner()
            .spawn_local(async move {
                let reply = match timeout {
                    Some(t) => caller.call_timeout(n, t).await,
                    None => caller.call(n).await,
                };
                replies.borrow_mut().push((n, reply));
            })
            .unwrap();
        self.pool.run_until_stalled();
    }

    fn finish(mut self) -> (Vec<(i32, Result<Reply, CallError>)>, BatchReport) {
        self.caller.close(CloseMode::Drain);
        self.pool.run_until_stalled();
        let report = self.report.take().expect("serve_batches returned");
        (self.replies.take(), report)
    }
}

fn triple_or_reject_negatives(items: Vec<i32>) -> Vec<Result<i32, String>> {
    items
        .into_iter()
        .map(|n| {
            if n < 0 {
                Err(format!("invalid item {n}"))
            } else {
                Ok(n * 3)
            }
        })
        .collect()
}

#[test]
fn a_failing_item_fails_only_its_own_caller() {
    let mut h = Harness::start(3, Box::new(triple_or_reject_negatives));
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
    let mut h = Harness::start(
        3,
        Box::new(move |items| {
            let mut results = triple_or_reject_negatives(items);
            results.resize(result_counts.next().unwrap(), Ok(0));
            results
        }),
    );
    for n in [1, 2, 3, 4, 5] {
        h.call(n, None);
    }
    h.clock.advance(ms(100)); // the second batch (4, 5) goes by its window
    h.pool.run_until_stalled();
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
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let mut h = Harness::start(
        10,
        Box::new(move |items| {
            log.borrow_mut().push(items.clone());
            triple_or_reject_negatives(items)
        }),
    );
    h.call(1, Some(ms(50)));
    h.call(2, None);
    h.clock.advance(ms(50));
    h.pool.run_until_stalled();
    assert_eq!(h.replies.borrow()[..], [(1, Err(CallError::Timeout))]);
    h.clock.advance(ms(50));
    h.pool.run_until_stalled();
    assert_eq!(
        *seen.borrow(),
        [vec![2]],
        "the timed-out item is not processed"
    );
    let (replies, report) = h.finish();
    assert_eq!(replies[1], (2, Ok(Ok(6))));
    assert_eq!((report.items, report.skipped), (1, 1));
    let stats = report.stats;
    assert_eq!((stats.replied, stats.timeout, stats.total()), (1, 1, 2));
}
