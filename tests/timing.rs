//! Reply timing (the seed's `TimedResponse`) and what the responder knows about time, all
//! from the endpoint's clock.

use std::pin::pin;
use std::time::Duration;

use rsvp::lock::LocalMutex;
use rsvp::rpc::With;
use rsvp::time::{ManualClock, NoClock};
use rsvp::Rpc;
use rsvp_tests::{ms, LocalRpc, Poller};

#[test]
fn timed_reply_carries_start_take_and_completion() {
    let clock = ManualClock::new();
    clock.advance(ms(5));
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut call = pin!(caller.try_call_timeout(1, ms(100)).unwrap().timed());
    clock.advance(ms(3)); // queued for 3 ms
    let (_, responder) = server.try_recv().unwrap();
    let info = responder.info();
    assert_eq!(info.id, responder.id());
    assert_eq!(info.started_at.map(|at| at.since_start()), Some(ms(5)));
    assert_eq!(responder.deadline().map(|d| d.since_start()), Some(ms(105)));
    assert_eq!(responder.time_left(), Some(ms(97)));
    clock.advance(ms(7)); // worked on for 7 ms
    assert_eq!(responder.time_left(), Some(ms(90)));
    responder.reply(2).unwrap();
    clock.advance(ms(50)); // the caller reads it later: not part of the timing

    let timed = p.ready(&mut call).unwrap();
    assert_eq!(timed.value, 2);
    assert_eq!(timed.id, info.id);
    assert_eq!(timed.started_at.since_start(), ms(5));
    assert_eq!(timed.taken_at.since_start(), ms(8));
    assert_eq!(timed.completed_at.since_start(), ms(15));
    assert_eq!(timed.queued(), ms(3));
    assert_eq!(timed.elapsed(), ms(7), "taken to replied");
    assert_eq!(timed.latency(), ms(10), "started to replied");
}

/// A call that waits 4 ms for the only slot, is taken 2 ms later and answered 1 ms after
/// that. Returns the reply's timing and the time the responder saw left.
fn call_that_waits_for_a_slot() -> (rsvp::Timed<u32, rsvp::time::ManualInstant>, Duration) {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut first = pin!(caller.try_call(1).unwrap());
    let mut second = pin!(caller.call_timeout(2, ms(100)).timed());
    p.pending(&mut second); // waiting for the slot from 0 ms
    clock.advance(ms(4));
    let (_, responder) = server.try_recv().unwrap();
    responder.reply(10).unwrap();
    assert_eq!(p.ready(&mut first), Ok(10));
    p.pending(&mut second); // gets the slot now, at 4 ms
    clock.advance(ms(2));
    let (_, responder) = server.try_recv().unwrap();
    let time_left = responder.time_left().unwrap();
    clock.advance(ms(1));
    responder.reply(20).unwrap();
    (p.ready(&mut second).unwrap(), time_left)
}

#[test]
fn a_call_that_waits_for_a_slot_keeps_its_deadline() {
    let (timed, time_left) = call_that_waits_for_a_slot();
    // The deadline counts from when the call was made; the waiting was part of it.
    assert_eq!(time_left, ms(94));
    assert_eq!(timed.taken_at.since_start(), ms(6));
    assert_eq!(timed.completed_at.since_start(), ms(7));
    assert_eq!(timed.elapsed(), ms(1));
}

/// `Timed::latency` is "the whole round trip as the caller saw it: start of the call to the
/// reply, queueing included", and `started_at` is "when the caller started the call". The
/// caller started at 0 ms and had its reply at 7 ms, but `started_at` is stamped when the
/// call gets a slot (4 ms), so the time spent waiting for a slot (backpressure, when
/// latency matters most) is missing from `latency()` and from the stats' percentiles.
#[test]
fn latency_includes_the_wait_for_a_slot() {
    let (timed, _) = call_that_waits_for_a_slot();
    assert_eq!(timed.started_at.since_start(), ms(0));
    assert_eq!(timed.latency(), ms(7));
}

/// The other side of the same stamp: a permit's call is stamped when the permit was
/// reserved, so the time the permit sat unused counts as the call's latency.
#[test]
fn a_permit_call_starts_when_it_is_sent() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 1> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let permit = caller.try_reserve().unwrap();
    clock.advance(ms(50));
    let mut call = pin!(permit.call(1).timed());
    p.pending(&mut call);
    let (req, responder) = server.try_recv().unwrap();
    clock.advance(ms(1));
    responder.reply(req).unwrap();
    let timed = p.ready(&mut call).unwrap();
    assert_eq!(timed.started_at.since_start(), ms(50));
    assert_eq!(timed.latency(), ms(1));
}

#[test]
fn ids_count_up_per_endpoint_and_never_repeat() {
    let rpc: LocalRpc<u32, u32, 4> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let calls: Vec<_> = (0..3).map(|i| caller.try_call(i).unwrap()).collect();
    let taken: Vec<_> = (0..3).map(|_| server.try_recv().unwrap()).collect();
    let ids: Vec<_> = taken.iter().map(|(_, responder)| responder.id()).collect();
    assert_eq!(ids, [0, 1, 2], "fresh slots count up");
    drop(taken);
    drop(calls);

    // Reused slots, one call at a time and three at once: every id is new.
    let mut seen: std::collections::HashSet<u64> = ids.into_iter().collect();
    for round in 0..20 {
        let calls: Vec<_> = (0..1 + round % 3)
            .map(|i| caller.try_call(i).unwrap())
            .collect();
        while let Ok((_, responder)) = server.try_recv() {
            assert!(
                seen.insert(responder.id()),
                "id {} repeated",
                responder.id()
            );
        }
        drop(calls);
    }
    assert_eq!(seen.len(), 3 + (0..20).map(|r| 1 + r % 3).sum::<usize>());
}

#[test]
fn no_deadline_means_no_time_left() {
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(ManualClock::new());
    let (caller, server) = Rpc::split(&rpc);
    let _call = caller.try_call(1).unwrap();
    let (_, responder) = server.try_recv().unwrap();
    assert_eq!((responder.deadline(), responder.time_left()), (None, None));
}

#[test]
fn stats_latency_percentiles_come_from_the_replies() {
    let clock = ManualClock::new();
    let rpc: LocalRpc<u32, u32, 2> = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    assert_eq!(rpc.stats().p50, None, "no replies yet");

    // Latencies 1, 2, ..., 100 ms.
    for latency in 1..=100u64 {
        let mut call = pin!(caller.try_call(0).unwrap());
        let (_, responder) = server.try_recv().unwrap();
        clock.advance(ms(latency));
        responder.reply(0).unwrap();
        p.ready(&mut call).unwrap();
    }
    let stats = rpc.stats();
    // Percentiles are bucket upper bounds: at or above the truth, at most 50 % above.
    let within = |got: Option<Duration>, truth: Duration| {
        let got = got.expect("a percentile");
        assert!(
            truth <= got && got <= truth * 3 / 2,
            "{got:?} for {truth:?}"
        );
    };
    within(stats.p50, ms(50));
    within(stats.p90, ms(90));
    within(stats.p99, ms(99));
}

/// `NoClock`'s docs: "Replies carry no meaningful timing and the latency histogram stays
/// empty". Every reply is recorded with a latency of zero instead, so the percentiles say
/// 0 ns rather than "unknown".
#[test]
fn no_clock_leaves_the_latency_histogram_empty() {
    let rpc: Rpc<u32, u32, 2, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();
    let mut call = pin!(caller.try_call(1).unwrap());
    let (req, responder) = server.try_recv().unwrap();
    responder.reply(req).unwrap();
    assert_eq!(p.ready(&mut call), Ok(1));
    let stats = rpc.stats();
    assert_eq!(stats.replied, 1);
    assert_eq!((stats.p50, stats.p90, stats.p99), (None, None, None));
}

/// An endpoint that keeps no instants of its calls (`Unstamped`) still times them out at
/// their deadline and counts every outcome; the responder sees the deadline but no start,
/// and the stats have counts but no latency percentiles.
#[test]
fn an_unstamped_endpoint_keeps_deadlines_and_counts_but_no_instants() {
    use rsvp::queue::InlineQueue;
    use rsvp::time::Unstamped;
    use rsvp::CallError;

    let clock = ManualClock::new();
    let rpc: Rpc<u32, u32, 2, With<LocalMutex, ManualClock, InlineQueue, Unstamped>> =
        Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let p = Poller::new();

    let mut answered = pin!(caller.call_timeout(1, ms(100)));
    let mut late = pin!(caller.call_timeout(2, ms(50)));
    p.pending(&mut answered);
    p.pending(&mut late);
    let (req, responder) = server.try_recv().unwrap();
    assert_eq!(req, 1);
    assert_eq!(responder.info().started_at, None);
    assert_eq!(responder.deadline().map(|d| d.since_start()), Some(ms(100)));
    clock.advance(ms(10));
    responder.reply(req * 10).unwrap();
    assert_eq!(p.ready(&mut answered), Ok(10));

    clock.advance(ms(40)); // the second call's deadline
    assert_eq!(p.ready(&mut late), Err(CallError::Timeout));
    let stats = rpc.stats();
    assert_eq!((stats.replied, stats.timeout), (1, 1));
    assert_eq!((stats.p50, stats.p99), (None, None), "no latency is kept");
}
