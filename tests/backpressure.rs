//! Bounded by default: `try_call` says `Full` when the `N` slots (or the queue) are in use,
//! `call` waits for room and goes on when some frees, and permits reserve slots.

use std::pin::pin;

use rsvp::lock::LocalMutex;
use rsvp::queue::{Envelope, Queue};
use rsvp::rpc::With;
use rsvp::time::ManualClock;
use rsvp::{CallError, Rpc, TryCallError};
use rsvp_tests::{ms, LocalRpc, Poller};

#[test]
fn try_call_is_full_when_every_slot_is_in_use() {
    let rpc: LocalRpc<u32, u32, 3> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    assert_eq!(rpc.capacity(), 3);

    let mut calls: Vec<_> = (0..3)
        .map(|i| Box::pin(caller.try_call(i).unwrap()))
        .collect();
    assert!(matches!(caller.try_call(3), Err(TryCallError::Full(3))));
    // Taken requests still hold their slots.
    let taken: Vec<_> = (0..3).map(|_| server.try_recv().unwrap()).collect();
    assert!(caller.try_call(4).unwrap_err().is_full());
    // A reply frees its slot only once its caller has read it.
    let mut taken = taken.into_iter();
    let (req, responder) = taken.next().unwrap();
    responder.reply(req).unwrap();
    assert!(caller.try_call(5).unwrap_err().is_full());
    assert_eq!(p.ready(&mut calls[0]), Ok(0));
    let _now_fits = caller.try_call(6).unwrap();
    assert!(caller.try_call(7).unwrap_err().is_full());
    assert_eq!(rpc.stats().full, 4);
    drop((calls, taken));
}

#[test]
fn call_waits_for_a_slot_and_goes_on_when_one_frees() {
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let waiter = Poller::new();

    let mut first = pin!(caller.try_call(1).unwrap());
    let mut second = pin!(caller.call(2));
    waiter.pending(&mut second);
    let (req, responder) = server.try_recv().unwrap();
    assert!(
        server.try_recv().is_err(),
        "the second request waits outside the queue"
    );
    responder.reply(req * 10).unwrap();
    waiter.pending(&mut second);
    assert_eq!(
        waiter.wakes(),
        0,
        "the slot is still held until the reply is read"
    );

    assert_eq!(p.ready(&mut first), Ok(10));
    assert_eq!(
        waiter.wakes(),
        1,
        "reading the reply freed the slot and woke the waiter"
    );
    waiter.pending(&mut second);
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 2);
    responder.reply(req * 10).unwrap();
    assert_eq!(waiter.ready(&mut second), Ok(20));
    assert_eq!(rpc.stats().full, 0, "waiting is not Full");
}

#[test]
fn many_waiting_calls_all_get_through_one_slot() {
    // Ten waiters on one slot (more than a fixed waker set holds without `alloc`): none may
    // be forgotten. Like an executor, poll a call only when it was woken since its last poll.
    struct Task<F> {
        call: Option<F>,
        poller: Poller,
        wakes_seen: Option<usize>,
    }
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let mut tasks: Vec<_> = (0..10)
        .map(|i| Task {
            call: Some(Box::pin(caller.call(i))),
            poller: Poller::new(),
            wakes_seen: None,
        })
        .collect();
    let mut replies = Vec::new();

    while replies.len() < 10 {
        let mut progressed = false;
        for task in &mut tasks {
            let Some(call) = &mut task.call else { continue };
            let wakes = task.poller.wakes();
            if task.wakes_seen == Some(wakes) {
                continue;
            }
            task.wakes_seen = Some(wakes);
            if let std::task::Poll::Ready(result) = task.poller.poll(call) {
                replies.push(result.unwrap());
                task.call = None;
            }
            progressed = true;
        }
        if let Ok((req, responder)) = server.try_recv() {
            responder.reply(req + 100).unwrap();
            progressed = true;
        }
        assert!(progressed, "a call was left waiting without a wake-up");
    }
    replies.sort_unstable();
    assert_eq!(replies, (100..110).collect::<Vec<_>>());
}

#[test]
fn an_unused_dropped_permit_returns_its_slot() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let first = caller.try_reserve().unwrap();
    let second = caller.try_reserve().unwrap();
    assert!(
        caller.try_call(1).unwrap_err().is_full(),
        "permits hold slots"
    );
    assert!(matches!(caller.try_reserve(), Err(TryCallError::Full(()))));
    drop(first);
    let stats = rpc.stats();
    assert_eq!(
        (stats.cancelled, stats.in_flight),
        (0, 0),
        "an unused permit is no call: not counted, and its slot is free"
    );
    let mut call = pin!(caller.try_call(2).unwrap());

    let mut reserved = pin!(second.call(3));
    let (a, ra) = server.try_recv().unwrap();
    p.pending(&mut reserved);
    let (b, rb) = server.try_recv().unwrap();
    assert_eq!((a, b), (2, 3));
    ra.reply(20).unwrap();
    rb.reply(30).unwrap();
    assert_eq!(p.ready(&mut call), Ok(20));
    assert_eq!(p.ready(&mut reserved), Ok(30));
}

#[test]
fn reserve_waits_for_a_slot() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let waiter = Poller::new();

    let mut holder = pin!(caller.try_call(1).unwrap());
    let mut reserve = pin!(caller.reserve());
    waiter.pending(&mut reserve);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req).unwrap();
    assert_eq!(p.ready(&mut holder), Ok(1));
    assert_eq!(waiter.wakes(), 1);
    let permit = waiter.ready(&mut reserve).unwrap();
    assert!(
        caller.try_call(2).unwrap_err().is_full(),
        "the permit holds the slot"
    );

    let mut call = pin!(permit.call_timeout(3, ms(5)));
    p.pending(&mut call);
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 3);
    assert_eq!(
        responder.time_left(),
        Some(ms(5)),
        "the permit's call has its deadline"
    );
    clock.advance(ms(5));
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
}

type SmallQueue = Queue<LocalMutex, Envelope<u32>, 1>;
type SmallQueueRpc = Rpc<u32, u32, 4, With<LocalMutex, ManualClock, SmallQueue>>;

#[test]
fn a_queue_smaller_than_the_slots_is_the_limit() {
    let rpc = SmallQueueRpc::with_queue(Queue::new(), ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let waiter = Poller::new();

    let mut first = pin!(caller.try_call(1).unwrap());
    assert!(
        matches!(caller.try_call(2), Err(TryCallError::Full(2))),
        "the queue is full although slots are free"
    );
    let mut waiting = pin!(caller.call(3));
    waiter.pending(&mut waiting);
    let stats = rpc.stats();
    assert_eq!((stats.full, stats.queued), (1, 1));

    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 1);
    assert_eq!(
        waiter.wakes(),
        1,
        "room in the queue wakes the waiting call"
    );
    waiter.pending(&mut waiting);
    let (req, second) = server.try_recv().unwrap();
    assert_eq!(req, 3);
    responder.reply(10).unwrap();
    second.reply(30).unwrap();
    assert_eq!(p.ready(&mut first), Ok(10));
    assert_eq!(waiter.ready(&mut waiting), Ok(30));
}

#[test]
fn a_call_waiting_for_queue_room_times_out_and_frees_its_slot() {
    let clock = ManualClock::new();
    let rpc = SmallQueueRpc::with_queue(Queue::new(), clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let _first = caller.try_call(1).unwrap();
    let mut waiting = pin!(caller.call_timeout(2, ms(5)));
    p.pending(&mut waiting);
    let mut dropped = Box::pin(caller.call(3));
    p.pending(&mut dropped);
    drop(dropped);
    clock.advance(ms(5));
    assert_eq!(p.ready(&mut waiting), Err(CallError::Timeout));
    let stats = rpc.stats();
    assert_eq!((stats.timeout, stats.cancelled), (1, 1));

    // Neither reached the queue, and both slots are free again: three calls fit once the
    // queue has room (only the first call holds a slot).
    assert_eq!(server.try_recv().unwrap().0, 1);
    assert!(server.try_recv().is_err());
    let _calls: Vec<_> = (0..3)
        .map(|i| {
            let call = caller.try_call(i).unwrap();
            server.try_recv().unwrap().1.reply(i).unwrap();
            call
        })
        .collect();
    assert!(
        caller.try_call(9).unwrap_err().is_full(),
        "four slots in use"
    );
}

#[test]
fn owned_permits_and_calls_outlive_the_borrow_and_return_their_slots() {
    // An owned permit holds a clone of the handle, so it can be stored next to the caller
    // (as a `tower::Service` does between `poll_ready` and `call`) and its call future is
    // `'static`.
    fn assert_static<T: 'static>(_: &T) {}
    let rpc: std::rc::Rc<LocalRpc<u32, u32, 1>> = std::rc::Rc::new(Rpc::new(ManualClock::new()));
    let (caller, server) = Rpc::split(rpc.clone());
    let p = Poller::new();

    let permit = caller.try_reserve_owned().unwrap();
    assert_static(&permit);
    assert!(caller.try_call(1).unwrap_err().is_full());
    drop(permit);
    let stats = rpc.stats();
    assert_eq!(
        (stats.cancelled, stats.in_flight),
        (0, 0),
        "an unused owned permit is no call, and its slot is free"
    );

    let mut reserving = pin!(caller.reserve_owned());
    let permit = p.ready(&mut reserving).unwrap();
    let mut call = Box::pin(permit.call(2));
    assert_static(&call);
    p.pending(&mut call);
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req * 10).unwrap();
    assert_eq!(p.ready(&mut call), Ok(20));
    let _slot_is_free_again = caller.try_call(3).unwrap();
}
