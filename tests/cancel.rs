//! A caller that drops its call at each point of the call's life: the request and reply
//! values are dropped (counted), the slot comes back, the responder can tell, and the stats
//! say `cancelled`.

use rsvp::time::ManualClock;
use rsvp::Rpc;
use rsvp_tests::{LocalRpc, Poller, Tracked, Tracker};

type Endpoint<const N: usize> = LocalRpc<Tracked, Tracked, N>;

/// Checks that `free` more calls fit right now, then serves them, so that they leave
/// nothing in the queue (the stats count them: check those before).
#[track_caller]
fn assert_free_slots<const N: usize>(rpc: &Endpoint<N>, free: usize) {
    let (caller, server) = Rpc::split(rpc);
    let tracker = Tracker::new();
    let p = Poller::new();
    let mut calls: Vec<_> = (0..free)
        .map(|i| {
            Box::pin(
                caller
                    .try_call(tracker.make(i as u32))
                    .unwrap_or_else(|e| panic!("call {i} of {free} should fit: {e}")),
            )
        })
        .collect();
    assert!(
        caller.try_call(tracker.make(99)).unwrap_err().is_full(),
        "only {free} should fit"
    );
    for call in &mut calls {
        let (req, responder) = server.try_recv().expect("a queued request");
        responder.reply(req).unwrap();
        p.ready(call).unwrap();
    }
    drop(calls);
    assert_eq!(tracker.live(), 0);
}

#[test]
fn dropped_before_the_first_poll_sends_nothing() {
    let tracker = Tracker::new();
    let rpc: Endpoint<2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);

    drop(caller.call(tracker.make(1)));
    assert_eq!(tracker.live(), 0, "the request was dropped");
    assert!(server.try_recv().is_err(), "nothing was sent");
    assert_eq!(rpc.stats().total(), 0, "no call took place");
    assert_free_slots(&rpc, 2);
}

#[test]
fn dropped_while_waiting_for_a_slot() {
    let tracker = Tracker::new();
    let rpc: Endpoint<1> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut holder = Box::pin(caller.try_call(tracker.make(1)).unwrap());
    let mut waiting = Box::pin(caller.call(tracker.make(2)));
    p.pending(&mut waiting);
    drop(waiting);
    assert_eq!(tracker.live(), 1, "the waiting request was dropped");
    assert_eq!(rpc.stats().cancelled, 1);

    // The slot holder is unaffected, and the slot is free once it has its reply.
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req.value(), 1);
    assert!(
        server.try_recv().is_err(),
        "the dropped call never reached the queue"
    );
    responder.reply(tracker.make(10)).unwrap();
    assert_eq!(p.ready(&mut holder).unwrap().value(), 10);
    drop((req, holder));
    assert_eq!(tracker.live(), 0);
    assert_free_slots(&rpc, 1);
}

#[test]
fn dropped_while_queued_is_skipped_by_the_responder() {
    let tracker = Tracker::new();
    let rpc: Endpoint<4> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let cancelled = caller.try_call(tracker.make(1)).unwrap();
    let mut next = Box::pin(caller.try_call(tracker.make(2)).unwrap());
    drop(cancelled);
    assert_eq!(rpc.stats().cancelled, 1);
    assert_eq!(rpc.stats().queued, 1, "only the live call counts as queued");
    // The slot is free again at once.
    let extra = caller.try_call(tracker.make(3)).unwrap();

    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req.value(), 2, "the next request, not the cancelled one");
    // The cancelled request left the queue (and was dropped) when its call was dropped.
    assert_eq!(tracker.live(), 2, "requests 2 (taken) and 3 (queued)");
    responder.reply(tracker.make(20)).unwrap();
    assert_eq!(p.ready(&mut next).unwrap().value(), 20);
    drop((req, next, extra));
    assert_eq!(tracker.live(), 0, "request 3 left the queue with its call");
    assert_eq!(rpc.stats().cancelled, 2);
    assert!(server.try_recv().is_err(), "nothing is left to take");
    assert_free_slots(&rpc, 4);
}

/// The design promises that a caller who gives up frees "its reply slot and queue
/// capacity". Regression: a request cancelled while queued used to stay in the queue as a
/// tombstone until a server skipped it, so `try_call` said `Full` although a slot was free,
/// and the request value stayed alive.
#[test]
fn dropped_while_queued_frees_queue_capacity_at_once() {
    let tracker = Tracker::new();
    let rpc: Endpoint<2> = Rpc::new(ManualClock::new());
    let (caller, _server) = Rpc::split(&rpc);

    let first = caller.try_call(tracker.make(1)).unwrap();
    let second = caller.try_call(tracker.make(2)).unwrap();
    drop((first, second));
    let stats = rpc.stats();
    assert_eq!((stats.cancelled, stats.queued, stats.in_flight), (2, 0, 0));
    let live = tracker.live();
    assert_free_slots(&rpc, 2);
    assert_eq!(live, 0, "nothing is left behind");
}

#[test]
fn dropped_while_worked_on_tells_the_responder() {
    let tracker = Tracker::new();
    let rpc: Endpoint<2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let responder_side = Poller::new();

    let mut call = Box::pin(caller.try_call(tracker.make(1)).unwrap());
    p.pending(&mut call);
    let (req, responder) = server.try_recv().unwrap();
    let mut cancelled = Box::pin(responder.cancelled());
    responder_side.pending(&mut cancelled);
    assert!(!responder.is_cancelled());

    drop(call);
    assert_eq!(responder_side.wakes(), 1, "cancelled() is woken");
    responder_side.ready(&mut cancelled);
    assert!(responder.is_cancelled());
    drop(cancelled);
    let stats = rpc.stats();
    assert_eq!((stats.cancelled, stats.in_flight, stats.total()), (1, 0, 1));
    // The slot is free while the responder still holds its handle.
    assert_free_slots(&rpc, 2);

    let before = rpc.stats();
    let back = responder.reply(tracker.make(10)).unwrap_err();
    assert_eq!(back.value(), 10, "the reply is handed back");
    drop((req, back));
    assert_eq!(tracker.live(), 0);
    assert_eq!(rpc.stats(), before, "the late reply is no outcome");
    assert_free_slots(&rpc, 2);
}

#[test]
fn dropped_after_the_reply_arrived_drops_the_reply() {
    let tracker = Tracker::new();
    let rpc: Endpoint<2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = Box::pin(caller.try_call(tracker.make(1)).unwrap());
    p.pending(&mut call);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(tracker.make(10)).unwrap();
    drop(req);
    assert_eq!(tracker.live(), 1, "the reply waits in the slot");
    drop(call);
    assert_eq!(tracker.live(), 0, "the unread reply was dropped");
    // The outcome was decided when the reply was sent: it counts as replied, not cancelled.
    let stats = rpc.stats();
    assert_eq!((stats.replied, stats.cancelled, stats.total()), (1, 0, 1));
    assert_free_slots(&rpc, 2);
}

#[test]
fn a_dropped_call_lets_a_waiting_call_in() {
    let tracker = Tracker::new();
    let rpc: Endpoint<1> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let waiter = Poller::new();

    let holder = caller.try_call(tracker.make(1)).unwrap();
    let (first, first_responder) = server.try_recv().unwrap();
    let mut waiting = Box::pin(caller.call(tracker.make(2)));
    waiter.pending(&mut waiting);
    drop(holder);
    assert_eq!(waiter.wakes(), 1, "the freed slot wakes the waiting call");
    waiter.pending(&mut waiting);
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req.value(), 2);
    responder.reply(tracker.make(20)).unwrap();
    assert_eq!(p.ready(&mut waiting).unwrap().value(), 20);
    assert!(first_responder.reply(tracker.make(10)).is_err());
    drop((first, req, waiting));
    assert_eq!(tracker.live(), 0);
}

#[test]
fn many_random_cancellations_leak_nothing() {
    // xorshift: a deterministic schedule of starts, takes, replies and drops.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let tracker = Tracker::new();
    let rpc: Endpoint<4> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut calls = Vec::new();
    let mut taken = Vec::new();
    let (mut started, mut full, mut delivered, mut read) = (0u64, 0u64, 0u64, 0u64);

    for step in 0..20_000u32 {
        match next() % 5 {
            0 => match caller.try_call(tracker.make(step)) {
                Ok(call) => {
                    calls.push(Box::pin(call));
                    started += 1;
                }
                Err(e) => {
                    assert!(e.is_full());
                    full += 1;
                }
            },
            1 => {
                if let Ok(pair) = server.try_recv() {
                    taken.push(pair);
                }
            }
            2 if !taken.is_empty() => {
                let (req, responder) = taken.swap_remove(next() as usize % taken.len());
                let value = req.value();
                if responder.reply(tracker.make(value)).is_ok() {
                    delivered += 1;
                }
            }
            3 if !calls.is_empty() => {
                let i = next() as usize % calls.len();
                match p.poll(&mut calls[i]) {
                    std::task::Poll::Ready(result) => {
                        assert!(result.is_ok(), "nothing but replies and cancellations");
                        read += 1;
                        drop(calls.swap_remove(i));
                    }
                    std::task::Poll::Pending => {}
                }
            }
            4 if !calls.is_empty() => drop(calls.swap_remove(next() as usize % calls.len())),
            _ => {}
        }
    }
    // The calls first, so the responders still held are stale and lose nothing.
    drop((calls, taken));
    while server.try_recv().is_ok() {}
    assert_eq!(tracker.live(), 0, "every request and reply was dropped");
    let stats = rpc.stats();
    assert!(stats.cancelled > 1000 && read > 100, "{stats}");
    assert_eq!(
        (stats.replied, stats.full, stats.lost),
        (delivered, full, 0)
    );
    assert!(read <= delivered, "some replies were dropped unread");
    assert_eq!(stats.total(), started + full, "one outcome per call");
    assert_eq!((stats.queued, stats.in_flight), (0, 0));
    assert_free_slots(&rpc, 4);
}
