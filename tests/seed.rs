//! The Go seed's `TestRequestResponse`, with manual time instead of real sleeps.
//!
//! The seed's `TimedServer` starts one goroutine per request; each works for a while unless
//! the request's context is done first, then answers `data * 2`. Here `serve` runs the
//! handlers, the work is a 50 ms sleep on the manual clock (the seed's random 0–200 ms made
//! its own 10 ms timeout case flaky), and the handler races it against `cancelled()`.

use std::cell::{Cell, RefCell};
use std::num::NonZeroUsize;
use std::pin::pin;
use std::rc::Rc;

use futures_executor::LocalPool;
use futures_util::future::{select, Either};
use futures_util::task::LocalSpawnExt;
use rsvp::time::{ManualClock, Timer};
use rsvp::{CallError, CloseMode, Responder, Rpc};
use rsvp_tests::{ms, LocalRpc};

type Endpoint = LocalRpc<u32, u32, 10>;

const WORK: std::time::Duration = ms(50);

/// What the handlers did.
#[derive(Default)]
struct Work {
    replied: Cell<u32>,
    stopped_early: Cell<u32>,
}

/// The seed's `processTimedRequest`.
async fn process_timed_request(
    clock: ManualClock,
    num: u32,
    responder: Responder<Rc<Endpoint>>,
    work: Rc<Work>,
) {
    let finished = {
        let sleep = clock.sleep_until(clock.after(WORK));
        matches!(
            select(sleep, pin!(responder.cancelled())).await,
            Either::Left(_)
        )
    };
    if finished {
        responder.reply(num * 2).expect("the caller still waits");
        work.replied.set(work.replied.get() + 1);
    } else {
        work.stopped_early.set(work.stopped_early.get() + 1);
    }
}

#[test]
fn test_request_response() {
    let clock = ManualClock::new();
    let rpc = Rc::new(Endpoint::new(clock.clone()));
    let (caller, server) = Rpc::split(rpc.clone());
    let work = Rc::new(Work::default());
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();

    // server.Start()
    let report = Rc::new(RefCell::new(None));
    spawner
        .spawn_local({
            let (clock, work, report) = (clock.clone(), work.clone(), report.clone());
            async move {
                let served = server
                    .serve(NonZeroUsize::new(10).unwrap(), move |num, responder| {
                        process_timed_request(clock.clone(), num, responder, work.clone())
                    })
                    .await;
                *report.borrow_mut() = Some(served);
            }
        })
        .unwrap();

    // Test successful request: 42 within 200 ms gives 84.
    let result = Rc::new(RefCell::new(None));
    spawner
        .spawn_local({
            let (caller, result) = (caller.clone(), result.clone());
            async move {
                let reply = caller.call_timeout(42, ms(200)).timed().await;
                *result.borrow_mut() = Some(reply);
            }
        })
        .unwrap();
    pool.run_until_stalled();
    clock.advance(WORK - ms(1));
    pool.run_until_stalled();
    assert!(result.borrow().is_none(), "the work is not done yet");
    clock.advance(ms(1));
    pool.run_until_stalled();
    let reply = result.take().expect("answered").expect("no error");
    assert_eq!(reply.value, 84);
    // The seed prints "Request test1 completed in {Duration}".
    assert_eq!(reply.elapsed(), WORK);

    // Test timeout: 10 ms is shorter than the work.
    let result = Rc::new(RefCell::new(None));
    spawner
        .spawn_local({
            let (caller, result) = (caller.clone(), result.clone());
            async move {
                let reply = caller.call_timeout(42, ms(10)).await;
                *result.borrow_mut() = Some(reply);
            }
        })
        .unwrap();
    pool.run_until_stalled();
    clock.advance(ms(9));
    pool.run_until_stalled();
    assert!(result.borrow().is_none(), "not timed out yet");
    clock.advance(ms(1));
    pool.run_until_stalled();
    assert_eq!(result.take(), Some(Err(CallError::Timeout)));
    // The responder saw the caller give up (the seed's `ctx.Done()`) and stopped working.
    assert_eq!((work.replied.get(), work.stopped_early.get()), (1, 1));

    // defer server.Stop(): unlike the seed's, it ends the server instead of leaving it.
    assert_eq!(caller.close(CloseMode::Drain), 0);
    pool.run_until_stalled();
    let report = report.take().expect("serve returned");
    assert_eq!((report.received, report.finished), (2, 2));
    assert_eq!((report.stats.replied, report.stats.timeout), (1, 1));
    assert_eq!(report.stats.total(), 2);
}
