//! Every call ends in exactly one outcome (the table in `rpc`'s design note), and the stats
//! count exactly the outcomes the callers saw.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;

use rsvp::queue::TryRecvError;
use rsvp::stats::Outcome;
use rsvp::time::ManualClock;
use rsvp::{CallError, CloseMode, Rpc, TryCallError};
use rsvp_tests::{ms, LocalRpc, Poller, Tracker};

#[test]
fn replied() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.try_call(21).unwrap());
    p.pending(&mut call);
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 21);
    responder.reply(req * 2).unwrap();
    assert_eq!(p.wakes(), 1, "the reply wakes the caller");
    assert_eq!(p.ready(&mut call), Ok(42));
    assert_eq!(rpc.stats().replied, 1);
    assert_eq!(rpc.stats().total(), 1);
}

#[test]
fn full_hands_the_request_back_intact() {
    let rpc: LocalRpc<String, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, _server) = Rpc::split(&rpc);

    let _a = caller.try_call("a".to_owned()).unwrap();
    let _b = caller.try_call("b".to_owned()).unwrap();
    let refused = caller.try_call("the third request".to_owned()).unwrap_err();
    assert!(refused.is_full());
    assert!(matches!(&refused, TryCallError::Full(req) if req == "the third request"));
    assert_eq!(refused.into_inner(), "the third request");

    // The value itself comes back, not a copy: nothing was dropped.
    let tracker = Tracker::new();
    let rpc: LocalRpc<rsvp_tests::Tracked, u32, 1> = Rpc::new(ManualClock::new());
    let (caller, _server) = Rpc::split(&rpc);
    let _held = caller.try_call(tracker.make(1)).unwrap();
    let back = caller.try_call(tracker.make(2)).unwrap_err().into_inner();
    assert_eq!((back.value(), tracker.dropped()), (2, 0));

    let stats = rpc.stats();
    assert_eq!((stats.full, stats.total()), (1, 1));
}

#[test]
fn timeout() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, _server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.call_timeout(1, ms(10)));
    p.pending(&mut call);
    clock.advance(ms(9));
    p.pending(&mut call);
    assert_eq!(p.wakes(), 0, "nothing happened yet");
    clock.advance(ms(1));
    assert_eq!(p.wakes(), 1, "the deadline wakes the caller");
    assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
    assert_eq!(rpc.stats().timeout, 1);
    assert_eq!(rpc.stats().total(), 1);
}

#[test]
fn closed_after_close() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut queued = pin!(caller.try_call(1).unwrap());
    p.pending(&mut queued);
    assert_eq!(server.close(CloseMode::Fail), 1, "one queued call ended");
    assert!(rpc.is_closed());
    assert_eq!(p.wakes(), 1, "the queued caller is told at once");
    assert_eq!(p.ready(&mut queued), Err(CallError::Closed));

    assert!(matches!(caller.try_call(2), Err(TryCallError::Closed(2))));
    assert_eq!(p.ready(&mut pin!(caller.call(3))), Err(CallError::Closed));
    assert_eq!(server.try_recv().unwrap_err(), TryRecvError::Closed);

    let stats = rpc.stats();
    assert_eq!((stats.closed, stats.total()), (3, 3));
}

#[test]
fn closed_after_the_last_server_is_dropped() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut queued = pin!(caller.try_call(1).unwrap());
    p.pending(&mut queued);
    let other_server = server.clone();
    drop(server);
    assert!(!rpc.is_closed(), "a server handle is left");
    p.pending(&mut queued);
    drop(other_server);
    assert!(rpc.is_closed());
    assert_eq!(p.ready(&mut queued), Err(CallError::Closed));
    assert!(matches!(caller.try_call(2), Err(TryCallError::Closed(2))));
    assert_eq!(rpc.stats().closed, 2);
}

#[test]
fn lost_when_the_responder_is_dropped() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.try_call(1).unwrap());
    p.pending(&mut call);
    let (_, responder) = server.try_recv().unwrap();
    drop(responder);
    assert_eq!(p.wakes(), 1, "the drop wakes the caller");
    assert_eq!(p.ready(&mut call), Err(CallError::Lost));
    assert_eq!(rpc.stats().lost, 1);
}

#[test]
fn lost_when_the_handler_panics() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.try_call(1).unwrap());
    let (req, responder) = server.try_recv().unwrap();
    let panicked = catch_unwind(AssertUnwindSafe(move || {
        let _responder = responder;
        assert_eq!(req, 0, "a handler bug");
    }));
    assert!(panicked.is_err());
    assert_eq!(p.ready(&mut call), Err(CallError::Lost));
    // The endpoint still works after the panic.
    let mut next = pin!(caller.try_call(2).unwrap());
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req).unwrap();
    assert_eq!(p.ready(&mut next), Ok(2));
}

#[test]
fn stats_match_the_outcomes_of_a_mixed_run() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut replied = pin!(caller.try_call(1).unwrap());
    let mut lost = pin!(caller.try_call(2).unwrap());
    let mut timed_out = pin!(caller.try_call_timeout(3, ms(10)).unwrap());
    let cancelled = caller.try_call(4).unwrap();
    assert!(caller.try_call(5).unwrap_err().is_full());
    assert!(caller.try_call(6).unwrap_err().is_full());
    let stats = rpc.stats();
    assert_eq!((stats.queued, stats.in_flight, stats.full), (4, 0, 2));

    let (one, r1) = server.try_recv().unwrap();
    let (two, r2) = server.try_recv().unwrap();
    assert_eq!((one, two), (1, 2));
    let stats = rpc.stats();
    assert_eq!(
        (stats.queued, stats.in_flight),
        (2, 2),
        "two taken, two queued"
    );

    r1.reply(one * 10).unwrap();
    drop(r2);
    assert_eq!(p.ready(&mut replied), Ok(10));
    assert_eq!(p.ready(&mut lost), Err(CallError::Lost));
    p.pending(&mut timed_out);
    clock.advance(ms(10));
    assert_eq!(p.ready(&mut timed_out), Err(CallError::Timeout));
    drop(cancelled);
    let stats = rpc.stats();
    assert_eq!((stats.queued, stats.in_flight), (0, 0), "all four ended");

    // The two stale requests (3 and 4) are skipped; 7 and 8 are answered.
    for req in [7, 8] {
        let mut call = pin!(caller.try_call(req).unwrap());
        let (got, responder) = server.try_recv().unwrap();
        assert_eq!(got, req);
        responder.reply(got * 10).unwrap();
        assert_eq!(p.ready(&mut call), Ok(req * 10));
    }

    let mut closed = pin!(caller.try_call(9).unwrap());
    assert_eq!(caller.close(CloseMode::Fail), 1);
    assert_eq!(p.ready(&mut closed), Err(CallError::Closed));
    assert!(matches!(caller.try_call(10), Err(TryCallError::Closed(10))));

    let stats = rpc.stats();
    let counts = Outcome::ALL.map(|o| stats.count(o));
    // replied, full, timeout, closed, lost, cancelled
    assert_eq!(counts, [3, 2, 1, 2, 1, 1]);
    assert_eq!(stats.total(), 10, "one outcome per call, ten calls");
    assert_eq!((stats.queued, stats.in_flight), (0, 0));
    assert_eq!(stats.success_rate(), Some(0.3));
}

#[test]
fn outcomes_count_when_decided_and_only_once() {
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut replied = pin!(caller.try_call(1).unwrap());
    let mut lost = pin!(caller.try_call(2).unwrap());
    let mut closed = pin!(caller.try_call(3).unwrap());
    let (_, r1) = server.try_recv().unwrap();
    let (_, r2) = server.try_recv().unwrap();
    r1.reply(10).unwrap();
    drop(r2);
    caller.close(CloseMode::Fail);
    // No caller has looked yet; the stats already know.
    let decided = rpc.stats();
    assert_eq!((decided.replied, decided.lost, decided.closed), (1, 1, 1));

    assert_eq!(p.ready(&mut replied), Ok(10));
    assert_eq!(p.ready(&mut lost), Err(CallError::Lost));
    assert_eq!(p.ready(&mut closed), Err(CallError::Closed));
    assert_eq!(
        rpc.stats(),
        decided,
        "reading an outcome does not count it again"
    );
}
