//! A batching server on a manual clock, with its callers spawned on one `LocalPool`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt;
use rsvp::batch::{BatchConfig, BatchReport, BatchResult};
use rsvp::time::ManualClock;
use rsvp::{CallError, Caller, CloseMode, Rpc};

use crate::{ms, LocalRpc};

/// What a batch caller gets.
pub type Reply = Result<BatchResult<i32, String>, CallError>;
type Endpoint = LocalRpc<i32, BatchResult<i32, String>, 16>;

/// `serve_batches` with `max_wait` 100 ms, the given `max_size` and handler.
pub struct BatchHarness {
    /// Runs the server and the callers.
    pub pool: LocalPool,
    /// The endpoint's clock.
    pub clock: ManualClock,
    /// A caller handle; each call gets a clone.
    pub caller: Caller<Rc<Endpoint>>,
    /// Each batch the handler was given, in order.
    pub batches: Rc<RefCell<Vec<Vec<i32>>>>,
    /// `(request, reply)` in the order the callers got them.
    pub replies: Rc<RefCell<Vec<(i32, Reply)>>>,
    /// The report, once `serve_batches` returned.
    pub report: Rc<RefCell<Option<BatchReport>>>,
}

impl BatchHarness {
    /// Spawns the server.
    pub fn start(
        max_size: usize,
        mut handler: impl FnMut(Vec<i32>) -> Vec<Result<i32, String>> + 'static,
    ) -> Self {
        let clock = ManualClock::new();
        let (caller, server) = Rpc::split(Rc::new(Endpoint::new(clock.clone())));
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
            batches,
            replies: Rc::new(RefCell::new(Vec::new())),
            report,
        }
    }

    /// Starts a call of `n` (with a timeout, if given) and runs until everything stalls.
    pub fn call(&mut self, n: i32, timeout: Option<Duration>) {
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

    /// Moves time and runs until everything stalls.
    pub fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
        self.pool.run_until_stalled();
    }

    /// The batches so far.
    pub fn batches(&self) -> Vec<Vec<i32>> {
        self.batches.borrow().clone()
    }

    /// Shuts down (draining) and returns every reply and the report.
    pub fn finish(mut self) -> (Vec<(i32, Reply)>, BatchReport) {
        self.caller.close(CloseMode::Drain);
        self.pool.run_until_stalled();
        let report = self.report.take().expect("serve_batches returned");
        (self.replies.take(), report)
    }
}

/// The seed's handler: items times 3; a negative item is invalid.
pub fn triple_or_reject_negatives(items: Vec<i32>) -> Vec<Result<i32, String>> {
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
