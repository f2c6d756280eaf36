//! A clock whose sleep is `!Unpin`, as tokio's is: rsvp's futures keep the sleep pinned
//! inside themselves (no box), and time out, answer and clean up exactly as with the manual
//! clock's own `Unpin` sleep.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use rsvp::batch::{BatchConfig, BatchJob, BatchResult, CallManyFuture, ManyCall};
use rsvp::lock::LocalMutex;
use rsvp::promise::{WaitDeadlineFuture, WaitError};
use rsvp::rpc::{TimedCallFuture, With};
use rsvp::time::{Clock, ManualClock, ManualInstant, ManualSleep, Timer};
use rsvp::{CallError, CallFuture, CloseMode, Promise, Rpc};
use rsvp_tests::{ms, LocalRpc, Poller};

/// The manual clock, with a sleep that must not move once polled.
#[derive(Clone, Default)]
struct PinnedClock(ManualClock);

pin_project! {
    /// [`ManualSleep`], made `!Unpin`; it checks that it is never moved once polled.
    struct PinnedSleep {
        #[pin]
        sleep: ManualSleep,
        // Its address when first polled; 0 before.
        at: Cell<usize>,
        #[pin]
        pinned: PhantomPinned,
    }

    impl PinnedDrop for PinnedSleep {
        fn drop(this: Pin<&mut Self>) {
            stays(&this);
        }
    }
}

/// Panics if `sleep` was polled at another address.
fn stays(sleep: &PinnedSleep) {
    let here = std::ptr::from_ref(sleep).addr();
    match sleep.at.get() {
        0 => sleep.at.set(here),
        at => assert_eq!(at, here, "a pinned sleep moved"),
    }
}

impl Future for PinnedSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        stays(&self);
        self.project().sleep.poll(cx)
    }
}

impl Clock for PinnedClock {
    type Instant = ManualInstant;
    type Sleep = PinnedSleep;

    fn now(&self) -> ManualInstant {
        self.0.now()
    }
}

impl Timer for PinnedClock {
    fn sleep_until(&self, deadline: ManualInstant) -> PinnedSleep {
        PinnedSleep {
            sleep: self.0.sleep_until(deadline),
            at: Cell::new(0),
            pinned: PhantomPinned,
        }
    }
}

type PinnedRpc<Resp, const N: usize> = Rpc<u32, Resp, N, With<LocalMutex, PinnedClock>>;

#[test]
fn a_call_times_out_and_its_sleep_goes_with_the_outcome() {
    let clock = PinnedClock::default();
    let rpc: PinnedRpc<u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.call_timeout(1, ms(5)));
    p.pending(&mut call);
    assert_eq!(
        clock.0.sleepers(),
        1,
        "the sleep waits inside the call future"
    );
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 1);
    clock.0.advance(ms(4));
    assert_eq!(p.wakes(), 0);
    clock.0.advance(ms(1));
    assert_eq!(p.wakes(), 1, "woken by its sleep at the deadline");
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    assert_eq!(clock.0.sleepers(), 0, "gone before the future is dropped");
    assert_eq!(responder.reply(7), Err(7), "the late reply comes back");
    let stats = rpc.stats();
    assert_eq!((stats.timeout, stats.replied, stats.total()), (1, 0, 1));
}

#[test]
fn a_reply_before_the_deadline_wins_and_takes_the_sleep_along() {
    let clock = PinnedClock::default();
    let rpc: PinnedRpc<u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.call_timeout(3, ms(50)).timed());
    p.pending(&mut call);
    let (req, responder) = server.try_recv().unwrap();
    clock.0.advance(ms(20));
    responder.reply(req * 2).unwrap();
    let timed = p.ready(&mut call).unwrap();
    assert_eq!(timed.value, 6);
    assert_eq!(timed.completed_at, clock.now(), "timed by the pinned clock");
    assert_eq!(clock.0.sleepers(), 0);
    clock.0.advance(ms(30));
    assert_eq!(
        p.wakes(),
        1,
        "only the reply woke it; the deadline is forgotten"
    );
    assert_eq!(rpc.stats().replied, 1);
}

#[test]
fn a_dropped_call_frees_its_slot_and_its_sleep() {
    let clock = PinnedClock::default();
    let rpc: PinnedRpc<u32, 1> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    {
        let mut call = pin!(caller.call_timeout(1, ms(50)));
        p.pending(&mut call);
        assert_eq!(clock.0.sleepers(), 1);
    }
    assert_eq!(clock.0.sleepers(), 0, "the sleep is dropped in place");
    assert_eq!(rpc.stats().cancelled, 1);
    let mut again = pin!(caller.try_call(2).expect("the slot is free again"));
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 2, "the cancelled request is skipped");
    responder.reply(20).unwrap();
    assert_eq!(p.ready(&mut again), Ok(20));
}

#[test]
fn a_set_of_calls_times_out_together() {
    let clock = PinnedClock::default();
    let rpc: PinnedRpc<u32, 4> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut calls: Vec<ManyCall<u32, u32>> = [1, 2].into_iter().map(ManyCall::new).collect();

    let mut set = pin!(caller.call_many_timeout(&mut calls, ms(10)));
    p.pending(&mut set);
    let (first, answered) = server.try_recv().unwrap();
    let (_, unanswered) = server.try_recv().unwrap();
    answered.reply(first * 10).unwrap();
    p.pending(&mut set);
    clock.0.advance(ms(10));
    let done = p.ready(&mut set);
    let outcomes: Vec<_> = done.iter_mut().map(ManyCall::take_outcome).collect();
    assert_eq!(outcomes, [Some(Ok(10)), Some(Err(CallError::Timeout))]);
    assert_eq!(clock.0.sleepers(), 0);
    assert!(unanswered.is_cancelled());
    let stats = rpc.stats();
    assert_eq!((stats.replied, stats.timeout), (1, 1));
}

#[test]
fn a_batch_window_fires_on_a_pinned_sleep() {
    let clock = PinnedClock::default();
    let rpc: PinnedRpc<BatchResult<u32, Infallible>, 8> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let config = BatchConfig::new(4, ms(100)).unwrap();
    let mut serve = pin!(server.serve_batch_jobs(
        config,
        |mut job: BatchJob<u32, u32, Infallible>| {
            job.answer_each(|x| Ok(x * 3));
            std::future::ready(job)
        }
    ));

    let mut call = pin!(caller.call(1));
    p.pending(&mut call);
    p.pending(&mut serve);
    assert_eq!(
        clock.0.sleepers(),
        1,
        "the window's sleep waits inside the server"
    );
    clock.0.advance(ms(99));
    p.pending(&mut serve);
    p.pending(&mut call);
    clock.0.advance(ms(1));
    p.pending(&mut serve);
    assert_eq!(
        p.ready(&mut call),
        Ok(Ok(3)),
        "the window flushed a batch of one"
    );
    assert_eq!(clock.0.sleepers(), 0);

    caller.close(CloseMode::Drain);
    let report = p.ready(&mut serve);
    assert_eq!((report.batches, report.items), (1, 1));
}

#[test]
fn a_promise_wait_times_out_on_a_pinned_sleep() {
    let clock = PinnedClock::default();
    let promise: Promise<u32, LocalMutex> = Promise::new();
    let p = Poller::new();

    let mut late = pin!(promise.wait_timeout(&clock, ms(50)));
    p.pending(&mut late);
    clock.0.advance(ms(50));
    assert_eq!(p.ready(&mut late), Err(WaitError::Timeout));
    assert_eq!(clock.0.sleepers(), 0);

    let mut waiting = pin!(promise.wait_timeout(&clock, ms(50)));
    p.pending(&mut waiting);
    promise.set(5).unwrap();
    assert_eq!(p.ready(&mut waiting), Ok(5));
}

/// Whether `T` is `Unpin`, decided at compile time: the inherent method, bounded by
/// `Unpin`, is chosen over the trait's when it applies.
struct Probe<T>(std::marker::PhantomData<T>);

trait NotUnpin {
    fn is_unpin(&self) -> bool {
        false
    }
}

impl<T> NotUnpin for Probe<T> {}

impl<T: Unpin> Probe<T> {
    fn is_unpin(&self) -> bool {
        true
    }
}

#[test]
fn futures_that_wait_in_line_are_pinned_whatever_the_sleep() {
    // Each keeps its place in a wait list inside itself, so it must not move once polled,
    // even over the manual clock's `Unpin` sleep.
    type Local = LocalRpc<u32, u32, 2>;
    assert!(
        Probe::<ManualSleep>(std::marker::PhantomData).is_unpin(),
        "the probe works"
    );
    assert!(!Probe::<CallFuture<&Local>>(std::marker::PhantomData).is_unpin());
    assert!(!Probe::<TimedCallFuture<&Local>>(std::marker::PhantomData).is_unpin());
    assert!(!Probe::<CallManyFuture<'_, Local>>(std::marker::PhantomData).is_unpin());
    assert!(
        !Probe::<WaitDeadlineFuture<'_, u32, LocalMutex, ManualSleep>>(std::marker::PhantomData)
            .is_unpin()
    );
}
