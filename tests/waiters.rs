//! Waiters are bounded by the live ones: a task that stops waiting for a free reply slot
//! (it timed out, or its future was dropped) takes its registration along, and a freed slot
//! wakes one waiting task, not every one (which would make each freed slot cost a poll of
//! every waiter). A woken task that leaves without using the slot passes the wake-up on.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rsvp::batch::ManyCall;
use rsvp::rpc::With;
use rsvp::time::ManualClock;
use rsvp::{CallError, Rpc};
use rsvp_tests::{ms, LocalRpc, Poller, SharedRpc};

/// A task's waker that counts its wake-ups; `Arc::strong_count` shows who holds it.
struct Task(AtomicUsize);

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn task() -> (Arc<Task>, Waker) {
    let task = Arc::new(Task(AtomicUsize::new(0)));
    (task.clone(), Waker::from(task))
}

fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

/// `poll`, with a `Poller`'s waker.
fn poll_with<F: Future + Unpin>(fut: &mut F, p: &Poller) -> Poll<F::Output> {
    poll(fut, p.waker())
}

fn woken(task: &Task) -> usize {
    task.0.load(Ordering::SeqCst)
}

#[test]
fn callers_that_give_up_waiting_for_a_slot_leave_nothing_registered() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(clock.clone());
    let (caller, _server) = Rpc::split(&rpc);
    let _held = caller.try_call(0).unwrap();
    for i in 0..10_000 {
        let (task, waker) = task();
        let mut call = Box::pin(caller.call_timeout(i, ms(10)));
        assert!(poll(&mut call, &waker).is_pending(), "no free slot");
        // The task, its waker, the endpoint's registration and the timer's.
        assert_eq!(Arc::strong_count(&task), 4);
        if i % 2 == 0 {
            clock.advance(ms(10));
            assert_eq!(
                poll(&mut call, &waker),
                Poll::Ready(Err(CallError::Timeout))
            );
        }
        drop(call);
        drop(waker);
        assert_eq!(
            Arc::strong_count(&task),
            1,
            "call {i} left a registration behind"
        );
    }
    let stats = rpc.stats();
    assert_eq!((stats.timeout, stats.cancelled), (5_000, 5_000));
}

#[test]
fn a_reservation_dropped_while_waiting_leaves_nothing_registered() {
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    let (caller, _server) = Rpc::split(&rpc);
    let _held = caller.try_reserve().unwrap();
    let (task, waker) = task();
    let mut reserve = Box::pin(caller.reserve());
    assert!(poll(&mut reserve, &waker).is_pending());
    drop(reserve);
    drop(waker);
    assert_eq!(Arc::strong_count(&task), 1);
}

/// 100 calls wait for the only slot; freeing it wakes one, and a woken call that is dropped
/// without taking the slot passes the wake-up to the next.
fn a_freed_slot_wakes_one_waiter<Q>(
    rpc: &Rpc<u32, u32, 1, With<rsvp::lock::StdMutex, ManualClock, Q>>,
) where
    Q: rsvp::queue::Transport<u32, 1>,
{
    let (caller, server) = Rpc::split(rpc);
    let mut held = pin!(caller.try_call(0).unwrap());
    let waiting: Vec<_> = (1..=100)
        .map(|i| {
            let (task, waker) = task();
            // Boxed: the call is pinned and moves into the `Vec`.
            let mut call = Box::pin(caller.call(i));
            assert!(poll(&mut call, &waker).is_pending());
            (task, waker, call)
        })
        .collect();
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req).unwrap();
    assert_eq!(
        Poller::new().ready(&mut held),
        Ok(0),
        "the slot is freed here"
    );
    let count = |w: &[(Arc<Task>, Waker, _)]| w.iter().filter(|(t, ..)| woken(t) > 0).count();
    assert_eq!(count(&waiting), 1, "one free slot, one waiter woken");

    // The woken call goes away without polling: the next one is woken instead.
    let mut waiting = waiting;
    let first = waiting.iter().position(|(t, ..)| woken(t) > 0).unwrap();
    drop(waiting.remove(first));
    assert_eq!(
        count(&waiting),
        1,
        "the unused wake-up went to another waiter"
    );

    // That one gets the slot.
    let next = waiting.iter().position(|(t, ..)| woken(t) > 0).unwrap();
    let (_, waker, call) = &mut waiting[next];
    assert!(
        poll(call, waker).is_pending(),
        "sent, waiting for its reply"
    );
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req + 1000).unwrap();
    assert_eq!(poll(call, waker), Poll::Ready(Ok(req + 1000)));
    assert_eq!(count(&waiting), 2, "its slot, freed, woke one more");
}

#[test]
fn a_freed_slot_wakes_one_waiting_caller_and_an_unused_wake_up_is_passed_on() {
    let inline: Rpc<u32, u32, 1, With<rsvp::lock::StdMutex, ManualClock>> =
        Rpc::new(ManualClock::new());
    a_freed_slot_wakes_one_waiter(&inline);
    let queued: SharedRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    a_freed_slot_wakes_one_waiter(&queued);
}

#[test]
fn a_cancelled_future_dropped_while_waiting_leaves_nothing_registered() {
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let mut call = Box::pin(caller.try_call(1).unwrap());
    let (_, responder) = server.try_recv().unwrap();
    for _ in 0..1_000 {
        let (task, waker) = task();
        let mut cancelled = Box::pin(responder.cancelled());
        assert!(
            poll(&mut cancelled, &waker).is_pending(),
            "the caller still waits"
        );
        drop(cancelled);
        drop(waker);
        assert_eq!(
            Arc::strong_count(&task),
            1,
            "a registration was left behind"
        );
    }
    // One that stays is woken when the caller gives up.
    let (task, waker) = task();
    let mut cancelled = pin!(responder.cancelled());
    assert!(poll(&mut cancelled, &waker).is_pending());
    assert!(Poller::new().poll(&mut call).is_pending());
    drop(call);
    assert_eq!(woken(&task), 1);
    assert_eq!(poll(&mut cancelled, &waker), Poll::Ready(()));
}

/// A `call_many` set whose waiting call gets its slot (sent together with others) gives its
/// entry back: the next freed slot wakes a caller that really waits, not the set.
#[test]
fn a_set_that_got_its_slot_gives_its_entry_back() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);

    // Both slots held.
    let (pa, pb) = (Poller::new(), Poller::new());
    let mut a = pin!(caller.try_call(1).unwrap());
    let mut b = pin!(caller.try_call(2).unwrap());

    // Three tasks wait for a slot, registered in this order (entries 0, 1, 2).
    let (pw, ps, py) = (Poller::new(), Poller::new(), Poller::new());
    let mut w = pin!(caller.call(10));
    assert!(poll_with(&mut w, &pw).is_pending());
    let mut calls = [ManyCall::new(20)];
    let mut s = pin!(caller.call_many(&mut calls));
    assert!(poll_with(&mut s, &ps).is_pending());
    let mut y = pin!(caller.call(30));
    assert!(poll_with(&mut y, &py).is_pending());

    // `a` ends: its slot is freed and the first waiter, `w`, is woken.
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req).unwrap();
    assert_eq!(poll_with(&mut a, &pa), Poll::Ready(Ok(1)));
    assert_eq!((pw.wakes(), ps.wakes(), py.wakes()), (1, 0, 0));

    // The set is polled before `w` (say it shares its task with other futures, `join!`):
    // `start_many` takes the free slot; the set's entry is left registered and unwoken.
    assert!(poll_with(&mut s, &ps).is_pending());
    // `w` finds no slot and waits again.
    assert!(poll_with(&mut w, &pw).is_pending());

    // `b` ends: `w` is woken and takes that slot.
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 2);
    responder.reply(req).unwrap();
    assert_eq!(poll_with(&mut b, &pb), Poll::Ready(Ok(2)));
    assert_eq!(pw.wakes(), 2);
    assert!(
        poll_with(&mut w, &pw).is_pending(),
        "w sent, waits for its reply"
    );

    // The set's request is being worked on (its reply takes a while); `w` is answered.
    let (req20, _slow) = server.try_recv().unwrap();
    assert_eq!(req20, 20);
    let (req10, responder) = server.try_recv().unwrap();
    assert_eq!(req10, 10);
    responder.reply(req10).unwrap();
    assert_eq!(poll_with(&mut w, &pw), Poll::Ready(Ok(10)));

    // A slot is free now, and `y` is the only caller waiting for one...
    assert_eq!(rpc.stats().in_flight, 1, "one slot in use, one free");
    // ...and polling the set (which the wake-up went to) passes nothing on.
    assert!(poll_with(&mut s, &ps).is_pending());
    assert!(
        py.wakes() >= 1,
        "y waits for a slot while one is free (the set woken {} times)",
        ps.wakes()
    );
    // What a correct endpoint would let `y` do once woken.
    assert!(poll_with(&mut y, &py).is_pending(), "y sent");
}

/// A freed slot wakes the caller that has waited longest: under steady load, with new
/// callers starting to wait all the time, a long waiter is not skipped.
#[test]
fn a_freed_slot_wakes_the_longest_waiter_first() {
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    // Boxed: each call is pinned and moves from `next` to `current`.
    let mut current = (Box::pin(caller.try_call(0).unwrap()), Poller::new());
    // A short-lived waiter takes entry 0, then the long waiter entry 1.
    let mut next = (Box::pin(caller.call(1)), Poller::new());
    assert!(poll_with(&mut next.0, &next.1).is_pending());
    let pl = Poller::new();
    let mut long = pin!(caller.call(999));
    assert!(poll_with(&mut long, &pl).is_pending());
    for round in 2..100u32 {
        // The call in the slot ends: the freed slot wakes one waiter.
        let (req, responder) = server.try_recv().unwrap();
        responder.reply(req).unwrap();
        assert!(current.1.ready(&mut current.0).is_ok());
        if pl.wakes() > 0 {
            return; // the long waiter got its turn
        }
        // The woken waiter takes the slot, and a new caller starts waiting.
        assert!(next.1.wakes() > 0);
        assert!(poll_with(&mut next.0, &next.1).is_pending());
        current = next;
        next = (Box::pin(caller.call(round)), Poller::new());
        assert!(poll_with(&mut next.0, &next.1).is_pending());
    }
    panic!("98 slots were freed and the caller waiting longest was never woken");
}
