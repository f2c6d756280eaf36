//! A reply (or a dropped reply handle) that comes after its caller gave up never reaches the
//! next call that uses the same reply slot. With one slot, the slot is certainly reused.

use std::pin::pin;

use rsvp::time::ManualClock;
use rsvp::{CallError, Caller, Responder, Rpc, Server};
use rsvp_tests::{ms, LocalRpc, Poller};

type Endpoint = LocalRpc<u32, u32, 1>;

/// A first call is taken by the responder and times out: returns that responder, which now
/// holds a stale ticket to the endpoint's only slot.
fn first_call_times_out<'a>(
    clock: &ManualClock,
    caller: &Caller<&'a Endpoint>,
    server: &Server<&'a Endpoint>,
) -> Responder<&'a Endpoint> {
    let mut first = pin!(caller.try_call_timeout(1, ms(10)).unwrap());
    let (_, late) = server.try_recv().unwrap();
    clock.advance(ms(10));
    assert_eq!(Poller::new().ready(&mut first), Err(CallError::Timeout));
    late
}

#[test]
fn late_reply_while_the_next_call_is_queued() {
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let late = first_call_times_out(&clock, &caller, &server);

    let mut second = pin!(caller.try_call(2).unwrap());
    p.pending(&mut second);
    assert!(late.is_cancelled());
    assert_eq!(late.reply(100), Err(100), "handed back, not delivered");
    p.pending(&mut second);

    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 2);
    assert_ne!(responder.id(), 0, "a new request id");
    responder.reply(200).unwrap();
    assert_eq!(p.ready(&mut second), Ok(200));
}

#[test]
fn late_reply_while_the_next_call_is_worked_on() {
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let late = first_call_times_out(&clock, &caller, &server);

    let mut second = pin!(caller.try_call(2).unwrap());
    let (_, responder) = server.try_recv().unwrap();
    assert!(late.is_cancelled());
    assert!(!responder.is_cancelled(), "the new call is live");
    assert_eq!(late.reply(100), Err(100));
    p.pending(&mut second);
    responder.reply(200).unwrap();
    assert_eq!(p.ready(&mut second), Ok(200));
}

#[test]
fn late_drop_of_a_reply_handle_does_not_lose_the_next_call() {
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let late = first_call_times_out(&clock, &caller, &server);

    let mut second = pin!(caller.try_call(2).unwrap());
    let (_, responder) = server.try_recv().unwrap();
    drop(late);
    p.pending(&mut second);
    assert_eq!(p.wakes(), 0, "the stale drop did not touch the new call");
    responder.reply(200).unwrap();
    assert_eq!(p.ready(&mut second), Ok(200));
    let stats = rpc.stats();
    assert_eq!((stats.timeout, stats.replied, stats.lost), (1, 1, 0));
}

#[test]
fn late_reply_after_a_dropped_call() {
    let rpc: Endpoint = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let first = caller.try_call(1).unwrap();
    let (_, late) = server.try_recv().unwrap();
    drop(first);
    let mut second = pin!(caller.try_call(2).unwrap());
    let (_, responder) = server.try_recv().unwrap();
    assert_eq!(late.reply(100), Err(100));
    responder.reply(200).unwrap();
    assert_eq!(p.ready(&mut second), Ok(200));
}

#[test]
fn every_reply_reaches_its_own_caller_over_many_reuses() {
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut late: Option<(u32, Responder<&Endpoint>)> = None;

    for i in 0..1_000u32 {
        let mut call = pin!(caller.try_call_timeout(i, ms(10)).unwrap());
        let (req, responder) = server.try_recv().unwrap();
        assert_eq!(req, i);
        // The previous call's responder answers now, with the previous request's reply.
        if let Some((previous, stale)) = late.take() {
            assert_eq!(stale.reply(previous * 10), Err(previous * 10));
        }
        if i % 2 == 0 {
            responder.reply(req * 10).unwrap();
            assert_eq!(p.ready(&mut call), Ok(i * 10));
        } else {
            clock.advance(ms(10));
            assert_eq!(p.ready(&mut call), Err(CallError::Timeout));
            late = Some((req, responder));
        }
    }
    let stats = rpc.stats();
    assert_eq!(
        (stats.replied, stats.timeout, stats.total()),
        (500, 500, 1000)
    );
}
