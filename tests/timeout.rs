//! Timeouts at every stage of a call: waiting for a slot, queued, being worked on; and the
//! edges (a zero timeout, one too large for the clock, a reply racing the deadline).

use std::pin::{pin, Pin};

use rsvp::rpc::With;
use rsvp::stats::StatsSnapshot;
use rsvp::time::{Clock, ManualClock};
use rsvp::{CallError, CallFuture, Responder, Rpc};
use rsvp_tests::{ms, LocalRpc, Poller};

#[test]
fn timeout_while_waiting_for_a_slot() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut holder = pin!(caller.try_call(1).unwrap());
    let mut waiting = pin!(caller.call_timeout(2, ms(5)));
    p.pending(&mut waiting);
    clock.advance(ms(5));
    assert_eq!(p.ready(&mut waiting), Err(CallError::Timeout));

    // It never reached the queue: the server sees only the first request.
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 1);
    assert!(server.try_recv().is_err());
    responder.reply(10).unwrap();
    assert_eq!(p.ready(&mut holder), Ok(10));
    assert_eq!((rpc.stats().timeout, rpc.stats().replied), (1, 1));
}

#[test]
fn timeout_while_queued_skips_the_request() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut first = pin!(caller.call_timeout(1, ms(5)));
    p.pending(&mut first);
    let mut second = pin!(caller.try_call(2).unwrap());
    clock.advance(ms(5));
    assert_eq!(p.ready(&mut first), Err(CallError::Timeout));
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 2, "the timed-out request is skipped");
    responder.reply(20).unwrap();
    assert_eq!(p.ready(&mut second), Ok(20));
}

#[test]
fn timeout_while_worked_on_tells_the_responder() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let responder_side = Poller::new();

    let mut call = pin!(caller.call_timeout(1, ms(5)));
    p.pending(&mut call);
    let (_, responder) = server.try_recv().unwrap();
    let mut cancelled = Box::pin(responder.cancelled());
    responder_side.pending(&mut cancelled);
    assert!(!responder.is_cancelled());

    clock.advance(ms(5));
    // The responder learns only once the caller looks at its deadline: the call's own
    // future is what notices the time.
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    assert_eq!(responder_side.wakes(), 1);
    responder_side.ready(&mut cancelled);
    assert!(responder.is_cancelled());
    drop(cancelled);
    assert_eq!(responder.reply(7), Err(7), "the late reply comes back");
    let stats = rpc.stats();
    assert_eq!((stats.timeout, stats.lost, stats.total()), (1, 0, 1));
}

#[test]
fn zero_timeout_times_out_at_the_first_poll() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.call_timeout(1, ms(0)));
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    let mut call = pin!(caller.try_call_timeout(2, ms(0)).unwrap());
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    assert!(server.try_recv().is_err(), "both requests were skipped");
    assert_eq!(rpc.stats().timeout, 2);
}

#[test]
fn a_timeout_the_clock_cannot_represent_means_no_deadline() {
    let clock = ManualClock::new();
    clock.advance(ms(1));
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.call_timeout(1, std::time::Duration::MAX));
    assert_eq!(call.deadline(), None);
    p.pending(&mut call);
    let (_, responder) = server.try_recv().unwrap();
    assert_eq!((responder.deadline(), responder.time_left()), (None, None));
    responder.reply(2).unwrap();
    assert_eq!(p.ready(&mut call), Ok(2));
}

type Endpoint = LocalRpc<u32, u32, 2>;

/// A call of 1 with a 5 ms timeout, waiting, and the responder that took it, handed to
/// `then`; returns the endpoint's stats after it.
fn taken_with_a_5ms_timeout(
    then: impl FnOnce(&ManualClock, &Poller, &mut Pin<&mut CallFuture<&Endpoint>>, Responder<&Endpoint>),
) -> StatsSnapshot {
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut call = pin!(caller.call_timeout(1, ms(5)));
    p.pending(&mut call);
    let (_, responder) = server.try_recv().unwrap();
    then(&clock, &p, &mut call, responder);
    rpc.stats()
}

#[test]
fn a_reply_after_the_deadline_is_refused_even_before_the_caller_looks() {
    let stats = taken_with_a_5ms_timeout(|clock, p, call, responder| {
        clock.advance(ms(4));
        assert!(!responder.is_cancelled(), "before the deadline");
        clock.advance(ms(1));
        let woken = p.wakes();
        // The deadline has passed and the caller has not looked yet: its deadline decides,
        // not when it is polled. The responder sees it, and its reply comes back to it.
        assert!(responder.is_cancelled(), "at the deadline");
        assert_eq!(responder.reply(11), Err(11));
        assert_eq!(p.wakes(), woken + 1, "the caller is woken for its outcome");
        assert_eq!(p.ready(call), Err(CallError::Timeout));
    });
    assert_eq!((stats.replied, stats.timeout), (0, 1));
}

#[test]
fn a_reply_just_before_the_deadline_lands() {
    let stats = taken_with_a_5ms_timeout(|clock, p, call, responder| {
        clock.advance(ms(4));
        responder.reply(11).unwrap();
        clock.advance(ms(10));
        assert_eq!(
            p.ready(call),
            Ok(11),
            "decided at the reply, before the deadline"
        );
    });
    assert_eq!((stats.replied, stats.timeout), (1, 0));
}

#[test]
fn a_responder_dropped_after_the_deadline_gives_timeout_not_lost() {
    let stats = taken_with_a_5ms_timeout(|clock, p, call, responder| {
        clock.advance(ms(6));
        drop(responder);
        assert_eq!(p.ready(call), Err(CallError::Timeout));
    });
    assert_eq!((stats.lost, stats.timeout), (0, 1));
}

#[test]
fn call_deadline_uses_the_absolute_instant() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let deadline = clock.after(ms(8));
    clock.advance(ms(3));
    let mut call = pin!(caller.call_deadline(1, deadline));
    assert_eq!(call.deadline(), Some(deadline));
    p.pending(&mut call);
    let (_, responder) = server.try_recv().unwrap();
    assert_eq!(responder.time_left(), Some(ms(5)));
    clock.advance(ms(4));
    p.pending(&mut call);
    clock.advance(ms(1));
    assert_eq!(clock.now(), deadline);
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    assert_eq!(responder.time_left(), Some(ms(0)));
}

/// A timer whose sleeps have always ended, as `core::future::Ready`, which panics if polled
/// again after it completed, as any finished future may.
#[derive(Clone, Copy)]
struct ElapsedTimer;

impl Clock for ElapsedTimer {
    type Instant = rsvp::time::NoInstant;
    type Sleep = core::future::Ready<()>;
    fn now(&self) -> rsvp::time::NoInstant {
        rsvp::time::NoInstant
    }
}

impl rsvp::time::Timer for ElapsedTimer {
    fn sleep_until(&self, _: rsvp::time::NoInstant) -> Self::Sleep {
        core::future::ready(())
    }
}

#[test]
fn a_sleep_that_fired_is_not_polled_again() {
    // The call is sent and waits in the same poll; both steps ask whether the deadline
    // passed, and the second must not poll the finished sleep.
    let rpc: Rpc<u32, u32, 1, With<rsvp::lock::LocalMutex, ElapsedTimer>> = Rpc::new(ElapsedTimer);
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut call = pin!(caller.call_timeout(1, ms(5)));
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    assert!(
        server.try_recv().is_err(),
        "the timed-out request left the queue"
    );
    assert_eq!(rpc.stats().timeout, 1);
}

#[test]
fn the_manual_clock_saturates_at_its_last_instant() {
    let clock = ManualClock::new();
    let end = clock.after(std::time::Duration::MAX);
    clock.advance(ms(5));
    assert_eq!(
        clock.after(std::time::Duration::MAX),
        end,
        "after() saturates"
    );
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, _server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut call = pin!(caller.call_deadline(1, end));
    p.pending(&mut call);
    clock.advance(std::time::Duration::MAX);
    clock.advance(std::time::Duration::MAX);
    assert_eq!(clock.now(), end, "advance() saturates");
    assert_eq!(
        p.ready(&mut call),
        Err(CallError::Timeout),
        "the last instant comes"
    );
}
