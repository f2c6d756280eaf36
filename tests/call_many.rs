//! `Caller::call_many`: many calls from one task, each with its own outcome, counted once;
//! a deadline for the set from a manual clock; dropping the set at each stage; a closed
//! endpoint; and one wake-up for a whole batch of replies.

use std::pin::pin;
use std::time::Duration;

use rsvp::batch::{BatchConfig, BatchJob, BatchResult, ManyCall};
use rsvp::stats::StatsSnapshot;
use rsvp::{CallError, CloseMode, Rpc};
use rsvp_tests::{ms, LocalRpc, Poller, Tracked, Tracker};

fn calls<Resp>(reqs: impl IntoIterator<Item = u32>) -> Vec<ManyCall<u32, Resp>> {
    reqs.into_iter().map(ManyCall::new).collect()
}

fn outcomes<Req, Resp>(calls: &mut [ManyCall<Req, Resp>]) -> Vec<Option<Result<Resp, CallError>>> {
    calls.iter_mut().map(ManyCall::take_outcome).collect()
}

/// Every outcome the stats count, and what is still queued or in flight.
fn counted(stats: StatsSnapshot) -> [u64; 8] {
    [
        stats.replied,
        stats.full,
        stats.timeout,
        stats.closed,
        stats.lost,
        stats.cancelled,
        stats.queued as u64,
        stats.in_flight as u64,
    ]
}

#[test]
fn each_call_gets_its_own_reply_and_the_set_is_woken_once() {
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut calls = calls([1, 2, 3]);

    let mut set = pin!(caller.call_many(&mut calls));
    p.pending(&mut set);
    assert_eq!(rpc.stats().queued, 3, "the whole set is sent in one poll");

    // Answered out of order, and the last one with a different value: each call gets its own.
    let taken: Vec<_> = (0..3).map(|_| server.try_recv().unwrap()).collect();
    let mut taken = taken.into_iter().rev();
    let (req, last) = taken.next().unwrap();
    last.reply(req * 100).unwrap();
    p.pending(&mut set);
    for (req, responder) in taken {
        responder.reply(req * 10).unwrap();
    }
    let wakes = p.wakes();
    let done = p.ready(&mut set);
    assert_eq!(outcomes(done), [Some(Ok(10)), Some(Ok(20)), Some(Ok(300))]);
    assert!(
        wakes <= 3,
        "one wake per reply at most, not per poll: {wakes}"
    );
    assert_eq!(counted(rpc.stats()), [3, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn a_set_bigger_than_the_slots_waits_for_slots_in_order() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut calls = calls(0..5);
    let mut set = pin!(caller.call_many(&mut calls));

    let mut served = Vec::new();
    loop {
        match p.poll(&mut set) {
            std::task::Poll::Ready(done) => {
                assert_eq!(
                    outcomes(done),
                    (0..5).map(|x| Some(Ok(x + 1))).collect::<Vec<_>>()
                );
                break;
            }
            std::task::Poll::Pending => {
                assert!(rpc.stats().queued <= 2);
                while let Ok((req, responder)) = server.try_recv() {
                    served.push(req);
                    responder.reply(req + 1).unwrap();
                }
            }
        }
    }
    assert_eq!(served, [0, 1, 2, 3, 4], "sent in buffer order");
    assert_eq!(rpc.stats().replied, 5);
}

#[test]
fn outcomes_differ_per_call_lost_and_replied() {
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut calls = calls([1, 2]);
    let mut set = pin!(caller.call_many(&mut calls));
    p.pending(&mut set);
    let (_, first) = server.try_recv().unwrap();
    let (req, second) = server.try_recv().unwrap();
    drop(first);
    second.reply(req).unwrap();
    assert_eq!(
        outcomes(p.ready(&mut set)),
        [Some(Err(CallError::Lost)), Some(Ok(2))]
    );
    assert_eq!(counted(rpc.stats()), [1, 0, 0, 0, 1, 0, 0, 0]);
}

#[test]
fn the_deadline_ends_every_open_call_and_a_reply_before_it_wins() {
    let clock = rsvp::time::ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    // Two slots for four calls: one replied, one worked on, one queued, one never sent.
    let mut calls = calls([1, 2, 3, 4]);
    let mut set = pin!(caller.call_many_timeout(&mut calls, ms(10)));
    p.pending(&mut set);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req * 10).unwrap();
    p.pending(&mut set);
    let (_, working) = server.try_recv().unwrap();
    assert_eq!(working.deadline(), Some(clock.after(ms(10))));
    assert_eq!(rpc.stats().queued, 1, "call 3 took the freed slot");

    clock.advance(ms(9));
    p.pending(&mut set);
    clock.advance(ms(1));
    let done = p.ready(&mut set);
    assert_eq!(
        outcomes(done),
        [
            Some(Ok(10)),
            Some(Err(CallError::Timeout)),
            Some(Err(CallError::Timeout)),
            Some(Err(CallError::Timeout)),
        ]
    );
    assert!(working.is_cancelled(), "the responder sees the timeout");
    assert_eq!(working.reply(20), Err(20));
    assert_eq!(counted(rpc.stats()), [1, 0, 3, 0, 0, 0, 0, 0]);
    assert_eq!(clock.sleepers(), 0, "the set's sleep is gone");
    assert!(server.try_recv().is_err(), "the queued call was taken back");
}

#[test]
fn a_reply_that_arrives_before_the_deadline_is_read_wins_over_it() {
    let clock = rsvp::time::ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut calls = calls([1, 2]);
    let mut set = pin!(caller.call_many_deadline(&mut calls, clock.after(ms(5))));
    p.pending(&mut set);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req * 10).unwrap();
    // The deadline passes before the set reads the reply.
    clock.advance(ms(5));
    assert_eq!(
        outcomes(p.ready(&mut set)),
        [Some(Ok(10)), Some(Err(CallError::Timeout))]
    );
    assert_eq!(counted(rpc.stats()), [1, 0, 1, 0, 0, 0, 0, 0]);
}

#[test]
fn dropping_the_set_midway_frees_every_slot_and_counts_each_call_once() {
    let rpc: LocalRpc<Tracked, u32, 2> = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let tracker = Tracker::default();
    let p = Poller::new();
    let mut calls: Vec<_> = (0..4).map(|i| ManyCall::new(tracker.make(i))).collect();
    let mut set = Box::pin(caller.call_many(&mut calls));
    p.pending(&mut set);
    // One replied but unread, one queued, two not sent (no slot).
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req.value()).unwrap();
    drop(req);
    assert_eq!(tracker.live(), 3);
    drop(set);

    assert_eq!(tracker.live(), 0, "every request was dropped");
    assert!(calls.iter().all(|call| call.outcome().is_none()));
    assert_eq!(counted(rpc.stats()), [1, 0, 0, 0, 0, 3, 0, 0]);
    // Both slots are free again.
    let _a = caller.try_call(tracker.make(8)).unwrap();
    let _b = caller.try_call(tracker.make(9)).unwrap();
    // A dropped set left nothing to send: another set over the same calls is done at once.
    assert_eq!(
        outcomes(p.ready(&mut pin!(caller.call_many(&mut calls)))),
        [None, None, None, None]
    );
}

#[test]
fn dropping_a_set_never_polled_makes_no_calls() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut calls = calls([1, 2]);
    drop(caller.call_many(&mut calls));
    assert!(calls.iter().all(ManyCall::is_unsent));
    assert_eq!(counted(rpc.stats()), [0; 8]);

    // The requests are still there for the next set.
    let mut set = pin!(caller.call_many(&mut calls));
    p.pending(&mut set);
    while let Ok((req, responder)) = server.try_recv() {
        responder.reply(req).unwrap();
    }
    assert_eq!(outcomes(p.ready(&mut set)), [Some(Ok(1)), Some(Ok(2))]);
}

#[test]
fn a_closed_endpoint_ends_every_call_with_closed() {
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    // Closed before the set: nothing is sent.
    let mut before = calls([1, 2]);
    let mut queued = calls([3, 4]);
    let mut set = pin!(caller.call_many(&mut queued));
    p.pending(&mut set);
    rpc.close(CloseMode::Fail);
    assert_eq!(
        outcomes(p.ready(&mut pin!(caller.call_many(&mut before)))),
        [Some(Err(CallError::Closed)), Some(Err(CallError::Closed))]
    );
    // Closed while queued: the calls end with `Closed`, the set is woken.
    assert!(p.wakes() >= 1);
    assert_eq!(
        outcomes(p.ready(&mut set)),
        [Some(Err(CallError::Closed)), Some(Err(CallError::Closed))]
    );
    assert!(server.try_recv().is_err());
    assert_eq!(counted(rpc.stats()), [0, 0, 0, 4, 0, 0, 0, 0]);
}

#[test]
fn sets_of_the_batch_size_fill_one_batch_each() {
    // A batching server answered by sets of its batch size: each set is one batch.
    type Batched = LocalRpc<u32, BatchResult<u32, ()>, 8>;
    let rpc: Batched = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let config = BatchConfig::new(4, Duration::from_secs(1)).unwrap();
    let serving = server.serve_batch_jobs(config, |mut job: BatchJob<u32, u32, ()>| {
        job.answer_each(|&x| if x % 5 == 0 { Err(()) } else { Ok(x + 1) });
        std::future::ready(job)
    });
    let calling = async {
        let mut calls = Vec::with_capacity(4);
        for set in 0..3u32 {
            calls.clear();
            calls.extend((set * 4..set * 4 + 4).map(ManyCall::new));
            let done = caller.call_many(&mut calls).await;
            for (x, call) in (set * 4..).zip(done) {
                let expected = if x % 5 == 0 {
                    Ok(Err(rsvp::batch::BatchError::Item(())))
                } else {
                    Ok(Ok(x + 1))
                };
                assert_eq!(call.take_outcome(), Some(expected), "call {x}");
            }
        }
        drop(caller);
    };
    let ((), report) = futures_executor::block_on(futures_util::future::join(calling, serving));
    assert_eq!((report.batches, report.items, report.skipped), (3, 12, 0));
    assert_eq!(report.stats.replied, 12);
}

#[test]
fn sets_from_one_thread_served_on_another_each_get_their_own_replies() {
    let rpc: std::sync::Arc<rsvp_tests::SharedRpc<u32, u32, 8>> =
        std::sync::Arc::new(Rpc::new(rsvp::time::ManualClock::new()));
    let (caller, server) = Rpc::split(rpc.clone());
    let responder = std::thread::spawn(move || {
        futures_executor::block_on(async {
            let mut served = 0u64;
            while let Some((req, responder)) = server.recv().await {
                responder.reply(req * 3).unwrap();
                served += 1;
            }
            served
        })
    });
    let mut calls = Vec::with_capacity(16);
    for set in 0..200u32 {
        calls.clear();
        calls.extend((set * 16..set * 16 + 16).map(ManyCall::new));
        let done = futures_executor::block_on(caller.call_many(&mut calls));
        for (x, call) in (set * 16..).zip(done) {
            assert_eq!(call.take_outcome(), Some(Ok(x * 3)));
        }
    }
    drop(caller);
    assert_eq!(responder.join().unwrap(), 3200);
    assert_eq!(counted(rpc.stats()), [3200, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn a_batchs_replies_wake_the_set_waiting_for_them_once() {
    type Batched = LocalRpc<u32, BatchResult<u32, ()>, 8>;
    let rpc: Batched = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let config = BatchConfig::new(4, Duration::from_secs(1)).unwrap();
    let mut serving = server.serve_batch_jobs(config, |mut job: BatchJob<u32, u32, ()>| {
        job.answer_each(|&x| Ok(x * 2));
        std::future::ready(job)
    });
    let (p, q) = (Poller::new(), Poller::new());
    let mut calls = calls([1, 2, 3, 4]);
    let mut set = pin!(caller.call_many(&mut calls));
    p.pending(&mut set);

    // One poll of the server takes the four, runs the batch and sends its four replies.
    q.pending(&mut serving);
    assert_eq!(
        p.wakes(),
        1,
        "four replies to one task under one lock wake it once"
    );
    let done = p.ready(&mut set);
    assert_eq!(
        outcomes(done),
        [
            Some(Ok(Ok(2))),
            Some(Ok(Ok(4))),
            Some(Ok(Ok(6))),
            Some(Ok(Ok(8)))
        ]
    );
    assert_eq!(counted(rpc.stats()), [4, 0, 0, 0, 0, 0, 0, 0]);
}

/// What [`drop_the_batch_server_after`] saw: each call's outcome, the counts, and how many
/// requests are still alive.
type AfterDrop = (
    Vec<Result<BatchResult<u32, ()>, CallError>>,
    [u64; 8],
    usize,
);

/// Drops a batch server (batch size 4, a handler that never finishes) after `n` calls
/// reached it.
fn drop_the_batch_server_after(n: u32) -> AfterDrop {
    type Batched = LocalRpc<Tracked, BatchResult<u32, ()>, 8>;
    let rpc: Batched = Rpc::new(rsvp::time::ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let tracker = Tracker::default();
    let config = BatchConfig::new(4, Duration::from_secs(1)).unwrap();
    let mut serving = server.serve_batch_jobs(config, |job: BatchJob<Tracked, u32, ()>| async {
        std::future::pending::<()>().await;
        job
    });
    let p = Poller::new();
    let mut calls: Vec<_> = (0..n)
        .map(|i| Box::pin(caller.try_call(tracker.make(i)).unwrap()))
        .collect();
    for call in &mut calls {
        p.pending(call);
    }
    p.pending(&mut serving);
    assert_eq!(
        rpc.stats().in_flight,
        n as usize,
        "the server took them all"
    );
    drop(serving);
    let outcomes = calls.iter_mut().map(|call| p.ready(call)).collect();
    (outcomes, counted(rpc.stats()), tracker.live())
}

#[test]
fn dropping_the_batch_server_loses_the_running_batch() {
    let (outcomes, counts, live) = drop_the_batch_server_after(4);
    assert_eq!(outcomes, [Err(CallError::Lost); 4]);
    assert_eq!(counts, [0, 0, 0, 0, 4, 0, 0, 0]);
    assert_eq!(live, 0, "every request was dropped");
}

#[test]
fn dropping_the_batch_server_loses_the_gathered_calls() {
    // Two of four: the batch waits for its window, which the manual clock never reaches.
    let (outcomes, counts, live) = drop_the_batch_server_after(2);
    assert_eq!(outcomes, [Err(CallError::Lost); 2]);
    assert_eq!(counts, [0, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(live, 0, "every request was dropped");
}
