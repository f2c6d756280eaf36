//! Request/response scenarios: every outcome a call can have, on a real endpoint.
//!
//! Each scenario owns its endpoint (a local `Rpc`, handles by reference) and drives the
//! caller and the server inside one future with `join`, so nothing is spawned. Where a
//! request must reach the server before its caller can give up, it is sent with `try_*`
//! and taken with `try_recv` before anything is polled: the outcome then follows from the
//! order of events, not from how fast the executor runs.

use core::time::Duration;

use futures_util::future::{join, join4};
use rsvp::batch::ManyCall;
use rsvp::queue::TryRecvError;
use rsvp::rpc::With;
use rsvp::time::Clock as _;
use rsvp::{CallError, CloseMode, Promise, Rpc, TryCallError};

use crate::harness::{ensure, fail, yield_now, Failure, Harness};

/// The endpoint every call scenario uses: `u32` requests and replies, `N` slots.
pub(crate) type Endpoint<H, const N: usize> =
    Rpc<u32, u32, N, With<<H as Harness>::Mutex, <H as Harness>::Clock>>;

/// One call with a (long) timeout is answered: the reply arrives, the responder saw the
/// request and its deadline, and the stats count one `Replied`.
pub async fn basic_call<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "basic_call";
    let rpc: Endpoint<H, 4> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let calling = async move {
        let reply = caller.call_timeout(21, h.long()).await;
        // The last caller gone: the server's `recv` ends, which the server half checks.
        drop(caller);
        reply
    };
    let serving = async {
        let Some((req, responder)) = server.recv().await else {
            return Err(fail!("the server received nothing"));
        };
        ensure!(req == 21, "the server received another request");
        ensure!(
            responder.deadline().is_some(),
            "the responder does not see the caller's deadline"
        );
        ensure!(responder.reply(req * 2).is_ok(), "the reply was refused");
        ensure!(
            server.recv().await.is_none(),
            "recv did not end after the last caller left"
        );
        Ok(())
    };
    let (reply, served) = join(calling, serving).await;
    served?;
    ensure!(reply == Ok(42), "the caller did not get the reply 42");
    let stats = rpc.stats();
    ensure!(
        stats.replied == 1 && stats.total() == 1,
        "the stats do not count exactly one Replied"
    );
    ensure!(
        stats.queued == 0 && stats.in_flight == 0,
        "a finished call is still counted as queued or in flight"
    );
    Ok(())
}

/// Four calls are in flight at once (the server holds all four before answering any), the
/// server answers them in reverse order, and each caller gets its own reply.
pub async fn many_in_flight<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "many_in_flight";
    let rpc: Endpoint<H, 4> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let calling = async move {
        let replies = join4(
            caller.call(1),
            caller.call(2),
            caller.call(3),
            caller.call(4),
        )
        .await;
        drop(caller);
        replies
    };
    let serving = async {
        let (Some(a), Some(b), Some(c), Some(d)) = (
            server.recv().await,
            server.recv().await,
            server.recv().await,
            server.recv().await,
        ) else {
            return Err(fail!("the server received fewer than four requests"));
        };
        ensure!(
            rpc.stats().in_flight == 4,
            "four calls were not in progress at the same time"
        );
        for (req, responder) in [d, c, b, a] {
            ensure!(responder.reply(req + 100).is_ok(), "a reply was refused");
        }
        Ok(())
    };
    let (replies, served) = join(calling, serving).await;
    served?;
    ensure!(
        replies == (Ok(101), Ok(102), Ok(103), Ok(104)),
        "a caller did not get the reply to its own request"
    );
    ensure!(
        rpc.stats().replied == 4,
        "the stats do not count four Replied"
    );
    Ok(())
}

/// Four calls from one task (`call_many_timeout`, over an array): the server
/// takes all four before answering, replies to three in reverse order and drops the
/// fourth's responder. Each call gets its own outcome (three replies and a `Lost`), each
/// counted once.
pub async fn call_many<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "call_many";
    let rpc: Endpoint<H, 4> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let mut calls = [1, 2, 3, 4].map(ManyCall::new);
    let calling = async {
        let mut done = caller
            .call_many_timeout(&mut calls, h.long())
            .await
            .iter_mut();
        let outcomes: [_; 4] =
            core::array::from_fn(|_| done.next().and_then(ManyCall::take_outcome));
        // The last caller gone: the server's `recv` ends, which the server half checks.
        drop(caller);
        outcomes
    };
    let serving = async {
        let (Some(a), Some(b), Some(c), Some(d)) = (
            server.recv().await,
            server.recv().await,
            server.recv().await,
            server.recv().await,
        ) else {
            return Err(fail!("the server received fewer than four requests"));
        };
        ensure!(
            [a.0, b.0, c.0, d.0] == [1, 2, 3, 4],
            "the requests did not arrive in the calls' order"
        );
        drop(d.1);
        for (req, responder) in [c, b, a] {
            ensure!(responder.reply(req * 10).is_ok(), "a reply was refused");
        }
        ensure!(
            server.recv().await.is_none(),
            "recv did not end after the last caller left"
        );
        Ok(())
    };
    let (outcomes, served) = join(calling, serving).await;
    served?;
    ensure!(
        outcomes
            == [
                Some(Ok(10)),
                Some(Ok(20)),
                Some(Ok(30)),
                Some(Err(CallError::Lost))
            ],
        "a call of the four did not get its own outcome"
    );
    let stats = rpc.stats();
    ensure!(
        stats.replied == 3 && stats.lost == 1 && stats.total() == 4,
        "the stats do not count three Replied and one Lost"
    );
    Ok(())
}

/// With both slots in use, `try_call` says `Full` and hands the request back, and
/// `try_reserve` says `Full`; once the calls are answered, the capacity is there again.
pub async fn try_call_full<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "try_call_full";
    let rpc: Endpoint<H, 2> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let (Ok(first), Ok(second)) = (caller.try_call(1), caller.try_call(2)) else {
        return Err(fail!("try_call failed with free slots"));
    };
    ensure!(
        matches!(caller.try_call(3), Err(TryCallError::Full(3))),
        "a third try_call on two slots did not say Full with its request"
    );
    ensure!(
        matches!(caller.try_reserve(), Err(TryCallError::Full(()))),
        "try_reserve with every slot in use did not say Full"
    );
    let serving = async {
        for _ in 0..2 {
            let Some((req, responder)) = server.recv().await else {
                return Err(fail!("the server received fewer than two requests"));
            };
            ensure!(responder.reply(req + 10).is_ok(), "a reply was refused");
        }
        Ok(())
    };
    let (replies, served) = join(join(first, second), serving).await;
    served?;
    ensure!(
        replies == (Ok(11), Ok(12)),
        "the accepted calls were not answered"
    );
    ensure!(
        caller.try_reserve().is_ok(),
        "the slots did not come back after the calls ended"
    );
    let stats = rpc.stats();
    ensure!(
        stats.full == 2 && stats.replied == 2,
        "the stats do not count two Full and two Replied"
    );
    Ok(())
}

/// A server that never takes the request: the call ends with `Timeout` by the harness's
/// timer, and its slot and queue space are free again.
pub async fn timeout_unanswered<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "timeout_unanswered";
    let rpc: Endpoint<H, 2> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let result = caller.call_timeout(1, h.short()).await;
    ensure!(
        result == Err(CallError::Timeout),
        "an unanswered call did not time out"
    );
    let stats = rpc.stats();
    ensure!(
        stats.timeout == 1 && stats.total() == 1,
        "the stats do not count exactly one Timeout"
    );
    ensure!(
        stats.queued == 0 && stats.in_flight == 0,
        "the timed-out call still holds its slot or queue space"
    );
    ensure!(
        server.try_recv().err() == Some(TryRecvError::Empty),
        "the timed-out request is still queued"
    );
    let (Ok(_a), Ok(_b)) = (caller.try_call(2), caller.try_call(3)) else {
        return Err(fail!("the capacity did not come back after the timeout"));
    };
    Ok(())
}

/// Time at its limits: a deadline at the last instant the clock can count to arms the
/// adapter's timer that far, a timeout centuries long (or past what the clock's instants
/// can hold: no deadline) waits as long; each call waits for its reply, a promise's wait
/// until the last instant for its value, and nothing panics.
pub async fn far_deadlines<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "far_deadlines";
    let rpc: Endpoint<H, 2> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let last = last_instant(h.clock().now());
    let centuries = Duration::from_secs(u64::MAX / 4);
    let calling = async move {
        let replies = [
            caller.call_deadline(1, last).await,
            caller.call_timeout(2, centuries).await,
            caller.call_timeout(3, Duration::MAX).await,
        ];
        drop(caller);
        replies
    };
    let serving = async {
        while let Some((req, responder)) = server.recv().await {
            // The caller's sleep is armed before the reply comes.
            yield_now().await;
            ensure!(
                responder.time_left().is_none_or(|left| left > h.long()),
                "a far deadline reached the responder as a near one"
            );
            ensure!(responder.reply(req * 2).is_ok(), "the reply was refused");
        }
        Ok(())
    };
    let (replies, served) = join(calling, serving).await;
    served?;
    ensure!(
        replies == [Ok(2), Ok(4), Ok(6)],
        "a call with a far deadline was not answered"
    );
    let promise: Promise<u32, H::Mutex> = Promise::new();
    let clock = h.clock();
    let setting = async {
        yield_now().await;
        promise.set(8)
    };
    let (waited, set) = join(promise.wait_deadline(&clock, last), setting).await;
    ensure!(
        set.is_ok() && waited == Ok(8),
        "a promise's wait until the last instant did not get its value"
    );
    Ok(())
}

/// The last instant reachable from `from` by adding durations.
fn last_instant<I: rsvp::time::Instant>(from: I) -> I {
    let mut last = from;
    let mut step = Duration::from_secs(u64::MAX / 2);
    while step >= Duration::from_nanos(1) {
        match last.checked_add(step) {
            Some(later) if later > last => last = later,
            _ => step /= 2,
        }
    }
    last
}

/// The caller drops its call while the responder works on it: the responder's
/// `cancelled()` completes, `is_cancelled()` turns true, and its reply is handed back.
pub async fn responder_sees_cancel<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "responder_sees_cancel";
    let rpc: Endpoint<H, 2> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let Ok(call) = caller.try_call(7) else {
        return Err(fail!("try_call failed on an idle endpoint"));
    };
    let Ok((req, responder)) = server.try_recv() else {
        return Err(fail!("the sent request was not queued"));
    };
    ensure!(
        !responder.is_cancelled(),
        "the responder sees a cancel before the caller gave up"
    );
    let working = async {
        responder.cancelled().await;
        ensure!(
            responder.is_cancelled(),
            "cancelled() completed but is_cancelled() is false"
        );
        Ok(())
    };
    let giving_up = async move {
        // Let the responder wait first, so dropping the call has to wake it.
        yield_now().await;
        drop(call);
    };
    let (worked, ()) = join(working, giving_up).await;
    worked?;
    ensure!(
        responder.reply(req) == Err(7),
        "a reply to a dropped call was not handed back"
    );
    let stats = rpc.stats();
    ensure!(
        stats.cancelled == 1 && stats.total() == 1,
        "the stats do not count exactly one Cancelled"
    );
    ensure!(
        stats.in_flight == 0,
        "the dropped call still holds its slot"
    );
    Ok(())
}

/// The caller times out while the responder holds the request: the responder sees it, and
/// the reply it sends afterwards is handed back rather than delivered.
pub async fn late_reply_handed_back<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "late_reply_handed_back";
    let rpc: Endpoint<H, 2> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let Ok(call) = caller.try_call_timeout(5, h.short()) else {
        return Err(fail!("try_call_timeout failed on an idle endpoint"));
    };
    // Taken before the call is first polled, so the deadline cannot have removed it yet.
    let Ok((req, responder)) = server.try_recv() else {
        return Err(fail!("the sent request was not queued"));
    };
    let working = async {
        responder.cancelled().await;
        responder.reply(req * 3)
    };
    let (late, result) = join(working, call).await;
    ensure!(
        result == Err(CallError::Timeout),
        "the unanswered call did not time out"
    );
    ensure!(late == Err(15), "the late reply was not handed back");
    let stats = rpc.stats();
    ensure!(
        stats.timeout == 1 && stats.replied == 0,
        "the stats do not count one Timeout and no reply"
    );
    Ok(())
}

/// The responder drops its handle without replying: the caller gets `Lost`.
pub async fn lost_responder<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "lost_responder";
    let rpc: Endpoint<H, 2> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let Ok(call) = caller.try_call(1) else {
        return Err(fail!("try_call failed on an idle endpoint"));
    };
    let Ok((_, responder)) = server.try_recv() else {
        return Err(fail!("the sent request was not queued"));
    };
    let dropping = async move {
        // The caller waits first, so the drop has to wake it.
        yield_now().await;
        drop(responder);
    };
    let (result, ()) = join(call, dropping).await;
    ensure!(
        result == Err(CallError::Lost),
        "a dropped responder did not give Lost"
    );
    let stats = rpc.stats();
    ensure!(
        stats.lost == 1 && stats.total() == 1,
        "the stats do not count exactly one Lost"
    );
    Ok(())
}

/// `close(Fail)`: the queued call ends with `Closed`, and so does every later call; the
/// server's `recv` ends.
pub async fn closed_after_close<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "closed_after_close";
    let rpc: Endpoint<H, 4> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let Ok(queued) = caller.try_call(1) else {
        return Err(fail!("try_call failed on an idle endpoint"));
    };
    ensure!(
        server.close(CloseMode::Fail) == 1,
        "close(Fail) did not end the one queued call"
    );
    ensure!(rpc.is_closed(), "the endpoint does not say it is closed");
    ensure!(
        queued.await == Err(CallError::Closed),
        "the queued call did not end with Closed"
    );
    ensure!(
        matches!(caller.try_call(2), Err(TryCallError::Closed(2))),
        "try_call after close did not say Closed with its request"
    );
    ensure!(
        caller.call(3).await == Err(CallError::Closed),
        "call after close did not end with Closed"
    );
    ensure!(
        server.recv().await.is_none(),
        "recv did not end after close"
    );
    ensure!(
        rpc.stats().closed == 3,
        "the stats do not count three Closed"
    );
    Ok(())
}

/// `close(Drain)`: the queued call is still served, later calls are refused, then the
/// server's `recv` ends.
pub async fn drain_serves_queued<H: Harness>(h: &H) -> Result<(), Failure> {
    const SCENARIO: &str = "drain_serves_queued";
    let rpc: Endpoint<H, 4> = Rpc::new(h.clock());
    let (caller, server) = Rpc::split(&rpc);
    let Ok(queued) = caller.try_call(4) else {
        return Err(fail!("try_call failed on an idle endpoint"));
    };
    ensure!(
        caller.close(CloseMode::Drain) == 0,
        "close(Drain) ended a queued call"
    );
    ensure!(
        matches!(caller.try_call(5), Err(TryCallError::Closed(5))),
        "try_call after close did not say Closed"
    );
    let serving = async {
        let Some((req, responder)) = server.recv().await else {
            return Err(fail!(
                "the queued request was not served after close(Drain)"
            ));
        };
        ensure!(responder.reply(req * 2).is_ok(), "the reply was refused");
        ensure!(
            server.recv().await.is_none(),
            "recv did not end once the queue was drained"
        );
        Ok(())
    };
    let (result, served) = join(queued, serving).await;
    served?;
    ensure!(result == Ok(8), "the drained call did not get its reply");
    let stats = rpc.stats();
    ensure!(
        stats.replied == 1 && stats.closed == 1,
        "the stats do not count one Replied and one Closed"
    );
    Ok(())
}
