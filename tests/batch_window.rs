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

/// An item that arrives while the handler runs waits at most `max_wait` from its arrival
/// (plus the running handler), not `max_wait` from when the server gets back to it.
#[test]
fn the_window_runs_from_the_first_items_arrival_even_while_the_handler_runs() {
    window_from_arrival::<rsvp::time::Stamped>();
}

/// The same on an endpoint that keeps no start per call (rsvp-embassy's default): its
/// inline queue dates a request that finds it empty.
#[test]
fn the_window_runs_from_the_first_items_arrival_on_an_unstamped_endpoint_too() {
    window_from_arrival::<rsvp::time::Unstamped>();
}

fn window_from_arrival<T: rsvp::time::Times + 'static>() {
    use std::cell::RefCell;
    use std::rc::Rc;

    use futures_executor::LocalPool;
    use futures_util::task::LocalSpawnExt;
    use rsvp::batch::{BatchConfig, BatchResult};
    use rsvp::lock::LocalMutex;
    use rsvp::queue::InlineQueue;
    use rsvp::rpc::With;
    use rsvp::time::{Clock, ManualClock, Timer};
    use rsvp::Rpc;

    type Endpoint<T> =
        Rpc<i32, BatchResult<i32, String>, 8, With<LocalMutex, ManualClock, InlineQueue, T>>;
    let clock = ManualClock::new();
    let (caller, server) = Rpc::split(Rc::new(Endpoint::<T>::new(clock.clone())));
    let mut pool = LocalPool::new();
    let batches = Rc::new(RefCell::new(Vec::new()));
    let (seen, handler_clock) = (batches.clone(), clock.clone());
    pool.spawner()
        .spawn_local(async move {
            let config = BatchConfig::new(10, ms(100)).unwrap();
            server
                .serve_batches(config, move |items: Vec<i32>| {
                    seen.borrow_mut().push((handler_clock.now(), items.clone()));
                    // The handler works for 250 ms.
                    let done = handler_clock.sleep_until(handler_clock.after(ms(250)));
                    async move {
                        done.await;
                        items.into_iter().map(Ok).collect()
                    }
                })
                .await;
        })
        .unwrap();
    let spawner = pool.spawner();
    let call = |n: i32| {
        let caller = caller.clone();
        spawner
            .spawn_local(async move {
                caller.call(n).await.unwrap().unwrap();
            })
            .unwrap();
    };
    call(1);
    pool.run_until_stalled();
    clock.advance(ms(100));
    pool.run_until_stalled();
    assert_eq!(
        batches.borrow().len(),
        1,
        "the first window closed at 100 ms"
    );
    clock.advance(ms(10));
    call(2); // arrives at 110 ms, while the handler runs until 350 ms
    pool.run_until_stalled();
    clock.advance(ms(240));
    pool.run_until_stalled();
    let at_350 = batches.borrow().clone();
    assert_eq!(
        at_350.len(),
        2,
        "item 2's window (110 + 100 ms) had passed at 350 ms"
    );
    assert_eq!(at_350[1].1, [2]);
    assert_eq!(
        at_350[1].0,
        clock.after(ms(0)),
        "handed out as soon as it was taken"
    );
}

/// A batch server whose handler runs takes no request meanwhile: it gives its place in line
/// up when the batch starts, so a request that comes then wakes another waiting server
/// rather than the busy one.
#[test]
fn a_batch_server_whose_handler_runs_leaves_the_line_to_other_servers() {
    use std::pin::pin;

    use rsvp::batch::{BatchConfig, BatchError};
    use rsvp::lock::LocalMutex;
    use rsvp::rpc::With;
    use rsvp::time::ManualClock;
    use rsvp::Rpc;
    use rsvp_tests::Poller;

    let clock = ManualClock::new();
    type Reply = Result<u32, BatchError<()>>;
    let rpc: Rpc<u32, Reply, 4, With<LocalMutex, ManualClock>> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let config = BatchConfig::new(10, ms(100)).unwrap();
    // A handler that never finishes: the batch server stays busy once a batch starts.
    let handler = |_: Vec<u32>| std::future::pending::<Vec<Result<u32, ()>>>();
    let (batcher, other) = (Poller::new(), Poller::new());
    let mut batching = pin!(server.clone().serve_batches(config, handler));
    let mut recv = pin!(server.recv());

    batcher.pending(&mut batching); // waits first: the first server's place
    other.pending(&mut recv); // waits in line
    let _first = caller.try_call(1).unwrap();
    assert_eq!((batcher.wakes(), other.wakes()), (1, 0));
    batcher.pending(&mut batching); // takes it; the window opens
    clock.advance(ms(100));
    batcher.pending(&mut batching); // the window ends: the batch starts, and runs
    let _second = caller.try_call(2).unwrap();
    assert_eq!(
        other.wakes(),
        1,
        "the idle server is woken, not the busy one"
    );
    match other.poll(&mut recv) {
        std::task::Poll::Ready(Some((req, _responder))) => assert_eq!(req, 2),
        _ => panic!("the idle server takes the request"),
    };
}
