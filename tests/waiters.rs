//! Waiters are bounded by the live ones: a task that stops waiting for a free reply slot
//! (it timed out, or its future was dropped) takes its registration along, and a freed slot
//! wakes one waiting task, not every one (which would make each freed slot cost a poll of
//! every waiter). A woken task that leaves without using the slot passes the wake-up on.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rsvp::{CallError, ManualClock, Rpc};
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
        let mut call = caller.call_timeout(i, ms(10));
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
    let mut reserve = caller.reserve();
    assert!(poll(&mut reserve, &waker).is_pending());
    drop(reserve);
    drop(waker);
    assert_eq!(Arc::strong_count(&task), 1);
}

/// 100 calls wait for the only slot; freeing it wakes one, and a woken call that is dropped
/// without taking the slot passes the wake-up to the next.
fn a_freed_slot_wakes_one_waiter<Q>(rpc: &Rpc<u32, u32, rsvp::StdMutex, ManualClock, 1, Q>)
where
    Q: rsvp::Transport<u32, 1>,
{
    let (caller, server) = Rpc::split(rpc);
    let mut held = caller.try_call(0).unwrap();
    let waiting: Vec<_> = (1..=100)
        .map(|i| {
            let (task, waker) = task();
            let mut call = caller.call(i);
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
    let inline: Rpc<u32, u32, rsvp::StdMutex, ManualClock, 1> = Rpc::new(ManualClock::new());
    a_freed_slot_wakes_one_waiter(&inline);
    let queued: SharedRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    a_freed_slot_wakes_one_waiter(&queued);
}

#[test]
fn a_cancelled_future_dropped_while_waiting_leaves_nothing_registered() {
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let mut call = caller.try_call(1).unwrap();
    let (_, responder) = server.try_recv().unwrap();
    for _ in 0..1_000 {
        let (task, waker) = task();
        let mut cancelled = responder.cancelled();
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
    let mut cancelled = responder.cancelled();
    assert!(poll(&mut cancelled, &waker).is_pending());
    assert!(Poller::new().poll(&mut call).is_pending());
    drop(call);
    assert_eq!(woken(&task), 1);
    assert_eq!(poll(&mut cancelled, &waker), Poll::Ready(()));
}
