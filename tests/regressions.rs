//! Regression tests for bugs found in review: each failed before its fix.
//!
//! Thread interleavings between the endpoint's state lock and its queue lock are replayed
//! deterministically with [`HookQueue`]: a `Queue` whose `try_send` first runs a hook, i.e.
//! "another thread runs here, after the caller released the state lock and before it took
//! the queue lock".

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rsvp::lock::LocalMutex;
use rsvp::queue::{Envelope, MpscQueue, Queue, RequestQueue, TryRecvError, TrySendError};
use rsvp::rpc::With;
use rsvp::time::ManualClock;
use rsvp::{CallError, CloseMode, Promise, Rpc, TryCallError};
use rsvp_tests::{ms, LocalRpc, Poller};

type Hook = Rc<RefCell<Option<Box<dyn FnOnce()>>>>;

/// rsvp's own queue, with a hook run at the start of the next `try_send`.
struct HookQueue<T, const N: usize> {
    inner: Queue<LocalMutex, T, N>,
    before_send: Hook,
}

impl<T, const N: usize> RequestQueue<T> for HookQueue<T, N> {
    fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let hook = self.before_send.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.try_send(item)
    }
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }
    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_recv(cx)
    }
    fn try_recv(&self) -> Result<T, TryRecvError> {
        self.inner.try_recv()
    }
    fn remove(&self, matches: &mut dyn FnMut(&T) -> bool) -> Option<T> {
        self.inner.remove(matches)
    }
    fn close(&self) {
        self.inner.close();
    }
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
}

type Hooked = Rpc<u32, u32, 2, With<LocalMutex, ManualClock, HookQueue<Envelope<u32>, 2>>>;

fn hooked() -> (Rc<Hooked>, Hook) {
    let hook: Hook = Rc::default();
    let queue = HookQueue {
        inner: Queue::new(),
        before_send: hook.clone(),
    };
    (Rc::new(Rpc::with_queue(queue, ManualClock::new())), hook)
}

/// Arms the hook: `close(Fail)` runs between the caller's slot acquisition (state lock)
/// and its `try_send` (queue lock), as a second thread may.
fn close_before_next_send(rpc: &Rc<Hooked>, hook: &Hook) {
    let weak = Rc::downgrade(rpc);
    *hook.borrow_mut() = Some(Box::new(move || {
        let rpc = weak.upgrade().unwrap();
        assert_eq!(
            rpc.close(CloseMode::Fail),
            1,
            "close ends the acquired call"
        );
    }));
}

/// The one call ended with `Closed`, counted once.
fn assert_closed_once(rpc: &Hooked) {
    let stats = rpc.stats();
    assert_eq!(
        (stats.closed, stats.total()),
        (1, 1),
        "one call, one outcome: {stats:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 1. close(Fail) racing a call between acquire and try_send: one call, two `Closed`.

#[test]
fn close_racing_call_between_acquire_and_send_counts_closed_once() {
    let (rpc, hook) = hooked();
    let (caller, _server) = Rpc::split(rpc.clone());
    let p = Poller::new();

    close_before_next_send(&rpc, &hook);
    let mut call = pin!(caller.call(1));
    assert_eq!(p.ready(&mut call), Err(CallError::Closed));

    assert_closed_once(&rpc);
}

#[test]
fn close_racing_try_call_between_acquire_and_send_counts_closed_once() {
    let (rpc, hook) = hooked();
    let (caller, _server) = Rpc::split(rpc.clone());

    close_before_next_send(&rpc, &hook);
    assert!(matches!(caller.try_call(1), Err(TryCallError::Closed(1))));

    assert_closed_once(&rpc);
}

#[test]
fn close_racing_a_permit_between_send_and_try_send_counts_closed_once() {
    let (rpc, hook) = hooked();
    let (caller, _server) = Rpc::split(rpc.clone());
    let p = Poller::new();

    let permit = caller.try_reserve().unwrap();
    let mut call = pin!(permit.call(1));
    // The permit's `send` (Reserved -> Queued) is done under the state lock; close runs
    // right after it, before the queue lock.
    close_before_next_send(&rpc, &hook);
    assert_eq!(p.ready(&mut call), Err(CallError::Closed));

    assert_closed_once(&rpc);
}

// ---------------------------------------------------------------------------------------
// 2. MpscQueue: close does not wake a server waiting in recv.

type MpscRpc = Rpc<u32, u32, 4, With<LocalMutex, ManualClock, MpscQueue<Envelope<u32>>>>;

#[test]
fn mpsc_close_wakes_a_waiting_server() {
    let rpc: MpscRpc = Rpc::with_queue(MpscQueue::new(4), ManualClock::new());
    let (_caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut recv = pin!(server.recv());
    p.pending(&mut recv);
    rpc.close(CloseMode::Drain);
    // The recv can now end...
    let woken = p.wakes();
    assert!(p.ready(&mut recv).is_none());
    // ...but nothing told its task so: a server in `recv().await` sleeps forever.
    assert_eq!(
        woken, 1,
        "close must wake the waiting server (contract of RequestQueue)"
    );
}

#[test]
fn mpsc_serve_ends_when_the_last_caller_goes() {
    let rpc: MpscRpc = Rpc::with_queue(MpscQueue::new(4), ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut serve = server.serve(
        std::num::NonZeroUsize::new(2).unwrap(),
        |req, r| async move {
            let _ = r.reply(req);
        },
    );
    p.pending(&mut serve);
    drop(caller); // closes the queue: serve should end
    assert_eq!(p.wakes(), 1, "serve must be woken to see that intake ended");
}

// ---------------------------------------------------------------------------------------
// 3. Queue: one receiver waker although several servers may wait ("Cheap to clone
//    (several tasks may serve the same endpoint)").

#[test]
fn close_wakes_every_waiting_server() {
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(ManualClock::new());
    let (_caller, server_a) = Rpc::split(&rpc);
    let server_b = server_a.clone();
    let (pa, pb) = (Poller::new(), Poller::new());

    let mut recv_a = pin!(server_a.recv());
    let mut recv_b = pin!(server_b.recv());
    pa.pending(&mut recv_a);
    pb.pending(&mut recv_b);
    rpc.close(CloseMode::Drain);

    let (wakes_a, wakes_b) = (pa.wakes(), pb.wakes());
    assert!(pa.ready(&mut recv_a).is_none(), "A's recv can end");
    assert_eq!(
        (wakes_a, wakes_b),
        (1, 1),
        "server A is never woken: its serve loop never ends"
    );
}

#[test]
fn a_request_wakes_an_idle_server_not_only_the_last_registered() {
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(ManualClock::new());
    let (caller, server_a) = Rpc::split(&rpc);
    let server_b = server_a.clone();
    let (pa, pb) = (Poller::new(), Poller::new());

    let mut recv_a = pin!(server_a.recv());
    let mut recv_b = pin!(server_b.recv());
    pa.pending(&mut recv_a);
    pb.pending(&mut recv_b);
    // B gets the first request and works on it (does not poll recv meanwhile).
    let _first = caller.try_call(1).unwrap();
    let (_req, _busy) = pb.ready(&mut recv_b).unwrap();
    // A second request arrives while A is idle in recv.
    let _second = caller.try_call(2).unwrap();
    let wakes_a = pa.wakes();
    assert_eq!(pa.ready(&mut recv_a).unwrap().0, 2, "A could take it");
    assert_eq!(
        wakes_a, 1,
        "idle server A was not woken for the second request"
    );
}

// ---------------------------------------------------------------------------------------
// 4. Responder::cancelled: one waker per slot, so with two waiters only the last learns.

#[test]
fn every_cancelled_future_is_woken() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let (pa, pb, pc) = (Poller::new(), Poller::new(), Poller::new());

    let mut call = Box::pin(caller.try_call(1).unwrap());
    pc.pending(&mut call);
    let (_req, responder) = server.try_recv().unwrap();
    // Two pieces of work of this request (say two sub-tasks in a FuturesUnordered, each
    // with its own waker) each race against `cancelled()`.
    let mut cancelled_a = pin!(responder.cancelled());
    let mut cancelled_b = pin!(responder.cancelled());
    pa.pending(&mut cancelled_a);
    pb.pending(&mut cancelled_b);

    drop(call);
    let (wakes_a, wakes_b) = (pa.wakes(), pb.wakes());
    pa.ready(&mut cancelled_a);
    assert_eq!(
        (wakes_a, wakes_b),
        (1, 1),
        "A could complete but was not woken"
    );
}

// ---------------------------------------------------------------------------------------
// 5. Promise waiters that time out leave their wakers behind, unboundedly.

struct Nop;
impl Wake for Nop {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn timed_out_promise_waiters_leave_nothing_behind() {
    let clock = ManualClock::new();
    let promise: Promise<u32, LocalMutex> = Promise::new();
    let task = Arc::new(Nop);
    // A task (say a health check spawned every tick) waits with a timeout, gives up, ends.
    for _ in 0..1000 {
        let waker = Waker::from(Arc::new(Nop));
        let mut wait = pin!(promise.wait_timeout(&clock, ms(1)));
        let mut cx = Context::from_waker(&waker);
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        clock.advance(ms(1));
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }
    let waker = Waker::from(task.clone());
    let mut wait = Box::pin(promise.wait_timeout(&clock, ms(1)));
    assert!(wait
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    clock.advance(ms(1));
    assert!(wait
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_ready());
    drop((wait, waker));
    assert_eq!(
        Arc::strong_count(&task),
        1,
        "the promise keeps the waker of a task that stopped waiting (and 1000 others)"
    );
}
