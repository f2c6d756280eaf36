//! `serve` runs at most `concurrency` handlers at once, and serves every request.

use std::cell::{Cell, RefCell};
use std::num::NonZeroUsize;
use std::rc::Rc;

use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt;
use rsvp::time::{ManualClock, Timer};
use rsvp::Rpc;
use rsvp_tests::{ms, LocalRpc};

type Endpoint = LocalRpc<u32, u32, 16>;

/// Handlers running now, and the most that ever ran at once.
#[derive(Default)]
struct Gauge {
    running: Cell<usize>,
    peak: Cell<usize>,
}

impl Gauge {
    fn enter(&self) {
        self.running.set(self.running.get() + 1);
        self.peak.set(self.peak.get().max(self.running.get()));
    }

    fn leave(&self) {
        self.running.set(self.running.get() - 1);
    }
}

/// Serves 10 outstanding calls with `concurrency` handlers that each work 10 ms; returns
/// how many handlers ran in each 10 ms step, the gauge, and the sorted replies.
fn serve_ten(concurrency: usize) -> (Vec<usize>, Rc<Gauge>, Vec<u32>) {
    let clock = ManualClock::new();
    let rpc = Rc::new(Endpoint::new(clock.clone()));
    let (caller, server) = Rpc::split(rpc);
    let gauge = Rc::new(Gauge::default());
    let replies = Rc::new(RefCell::new(Vec::new()));
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();

    let served = Rc::new(Cell::new(None));
    let (handler_clock, handler_gauge, served_by) = (clock.clone(), gauge.clone(), served.clone());
    spawner
        .spawn_local(async move {
            let limit = NonZeroUsize::new(concurrency).unwrap();
            let served = served_by;
            let report = server
                .serve(limit, |req, responder| {
                    let sleep = handler_clock.sleep_until(handler_clock.after(ms(10)));
                    let gauge = handler_gauge.clone();
                    async move {
                        gauge.enter();
                        sleep.await;
                        gauge.leave();
                        responder.reply(req * 2).unwrap();
                    }
                })
                .await;
            served.set(Some(report.received));
        })
        .unwrap();
    for req in 0..10 {
        let (caller, replies) = (caller.clone(), replies.clone());
        spawner
            .spawn_local(async move {
                let reply = caller.call(req).await.unwrap();
                replies.borrow_mut().push(reply);
            })
            .unwrap();
    }
    drop(caller);

    let mut readings = Vec::new();
    pool.run_until_stalled();
    while replies.borrow().len() < 10 {
        readings.push(gauge.running.get());
        assert!(readings.len() <= 10, "stuck: {readings:?}");
        clock.advance(ms(10));
        pool.run_until_stalled();
    }
    assert_eq!(served.get(), Some(10), "serve took all ten and returned");
    let mut replies = replies.take();
    replies.sort_unstable();
    (readings, gauge, replies)
}

#[test]
fn never_more_than_three_handlers_at_once() {
    let (readings, gauge, replies) = serve_ten(3);
    assert_eq!(gauge.peak.get(), 3);
    assert_eq!(
        readings,
        [3, 3, 3, 1],
        "three at a time, in four rounds of 10 ms"
    );
    assert_eq!(replies, (0..10).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn concurrency_one_serves_in_turn() {
    let (readings, gauge, replies) = serve_ten(1);
    assert_eq!(gauge.peak.get(), 1);
    assert_eq!(readings, [1; 10]);
    assert_eq!(replies.len(), 10);
}

#[test]
fn concurrency_above_the_load_runs_everything_at_once() {
    let (readings, gauge, replies) = serve_ten(16);
    assert_eq!(gauge.peak.get(), 10);
    assert_eq!(readings, [10]);
    assert_eq!(replies.len(), 10);
}
