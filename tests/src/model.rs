//! Reference models of the endpoint and the promise, driven by a source of choices: a
//! seeded generator in the property tests (`tests/properties.rs`), the fuzzer's bytes in
//! `fuzz/`.
//!
//! - The endpoint (reply slots, queue, timeouts, shutdown): calls are started, polled and
//!   dropped, requests taken, answered, dropped, the clock advanced and the endpoint closed
//!   at random. After every step the model predicts each outcome, the stats, what a
//!   responder sees in `is_cancelled`, and that every call whose outcome was decided since
//!   it last waited has been woken.
//! - The promise: setters made, dropped and used, `set`, `abandon`, waiters with and
//!   without timeouts started, polled and dropped; the model predicts every result and
//!   every wake-up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use futures_util::FutureExt;
use rsvp::lock::LocalMutex;
use rsvp::promise::{Setter, WaitError};
use rsvp::stats::StatsSnapshot;
use rsvp::time::ManualClock;
use rsvp::{CallError, CallFuture, CloseMode, Promise, Responder, Rpc, TryCallError};

use crate::{ms, LocalRpc, Poller};

const SLOTS: usize = 3;
type Endpoint = LocalRpc<u32, u32, SLOTS>;

/// Where the models' choices come from.
pub trait Choices {
    /// A choice in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize;

    /// Whether the source has run out (a fuzzer's input is finite).
    fn exhausted(&self) -> bool {
        false
    }
}

/// xorshift64*: a deterministic generator per seed, with no dependencies.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Choices for Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A fuzzer's input: one byte per choice, then exhausted.
pub struct Bytes<'a>(pub &'a [u8]);

impl Choices for Bytes<'_> {
    fn below(&mut self, n: usize) -> usize {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                usize::from(b) % n
            }
            None => 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where a failure happened: the run's label and the step.
#[derive(Clone, Copy)]
struct At<'a>(&'a dyn fmt::Display, usize);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} step {}", self.0, self.1)
    }
}

// ---- the endpoint ---------------------------------------------------------------------

/// Where a call is, in the model.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Queued,
    Taken,
    Done(Result<u32, CallError>),
}

/// A live call: the real future (boxed: it is pinned and the calls move in their `Vec`),
/// its poller, and the model's view of it.
struct LiveCall<'a> {
    req: u32,
    fut: Pin<Box<CallFuture<&'a Endpoint>>>,
    poller: Poller,
    deadline: Option<u64>,
    phase: Phase,
    /// Polled and pending since its outcome was last unknown: must be woken when decided.
    waiting: bool,
    wakes_at_wait: usize,
}

/// Outcome counts the model expects in the stats.
#[derive(Default, Debug, PartialEq)]
struct Counts {
    replied: u64,
    full: u64,
    timeout: u64,
    closed: u64,
    lost: u64,
    cancelled: u64,
}

impl Counts {
    fn of(s: &StatsSnapshot) -> Self {
        Self {
            replied: s.replied,
            full: s.full,
            timeout: s.timeout,
            closed: s.closed,
            lost: s.lost,
            cancelled: s.cancelled,
        }
    }
}

/// One run of the endpoint model: up to `steps` operations chosen by `src`; panics, naming
/// `label` and the step, at the first difference between rsvp and the model.
pub fn endpoint(src: &mut impl Choices, steps: usize, label: &dyn fmt::Display) {
    let rng = src;
    let clock = ManualClock::new();
    let rpc: Endpoint = Rpc::new(clock.clone());
    let (caller, server) = Rpc::split(&rpc);
    let mut now = 0u64;
    let mut calls: Vec<LiveCall<'_>> = Vec::new();
    // Responders with the request they answer; the model finds their call by `req`.
    let mut responders: Vec<(u32, Responder<&Endpoint>)> = Vec::new();
    let mut closed = false;
    let mut next_req = 0u32;
    let mut want = Counts::default();

    for step in 0..steps {
        if rng.exhausted() {
            break;
        }
        let at = At(label, step);
        match rng.below(11) {
            // Start a call, with a deadline half of the time.
            0 | 1 => {
                let req = next_req;
                next_req += 1;
                let timeout = (rng.below(2) == 0).then(|| rng.below(30) as u64);
                let started = match timeout {
                    Some(t) => caller.try_call_timeout(req, ms(t)),
                    None => caller.try_call(req),
                };
                match started {
                    Ok(fut) => {
                        assert!(!closed && calls.len() < SLOTS, "{at}: started");
                        calls.push(LiveCall {
                            req,
                            fut: Box::pin(fut),
                            poller: Poller::new(),
                            deadline: timeout.map(|t| now + t),
                            phase: Phase::Queued,
                            waiting: false,
                            wakes_at_wait: 0,
                        });
                    }
                    Err(TryCallError::Closed(r)) => {
                        assert!(closed && r == req, "{at}: Closed");
                        want.closed += 1;
                    }
                    Err(TryCallError::Full(r)) => {
                        assert!(!closed && calls.len() == SLOTS && r == req, "{at}: Full");
                        want.full += 1;
                    }
                }
            }
            // The server takes the oldest queued request.
            2 => {
                let oldest = calls
                    .iter_mut()
                    .filter(|c| c.phase == Phase::Queued)
                    .min_by_key(|c| c.req);
                match (server.try_recv(), oldest) {
                    (Ok((req, responder)), Some(call)) => {
                        assert_eq!(req, call.req, "{at}: FIFO");
                        call.phase = Phase::Taken;
                        responders.push((req, responder));
                    }
                    (Err(_), None) => {}
                    (got, expected) => panic!(
                        "{at}: took {:?}, model expected {:?}",
                        got.map(|(r, _)| r),
                        expected.map(|c| c.req)
                    ),
                }
            }
            // A responder replies, or drops its handle.
            3 | 4 if !responders.is_empty() => {
                let (req, responder) = responders.swap_remove(rng.below(responders.len()));
                let call = calls.iter_mut().find(|c| c.req == req);
                let live = call.as_ref().is_some_and(|c| c.phase == Phase::Taken);
                // The caller's deadline decides: an answer after it ends the call with
                // `Timeout`, whether or not the caller was polled since, and the responder
                // sees the call as cancelled.
                let late = live
                    && call
                        .as_ref()
                        .is_some_and(|c| c.deadline.is_some_and(|d| now >= d));
                let delivered = live && !late;
                assert_eq!(
                    responder.is_cancelled(),
                    !delivered,
                    "{at}: is_cancelled of {req}"
                );
                let outcome = if rng.below(2) == 0 {
                    let sent = responder.reply(req * 10 + 1);
                    assert_eq!(sent.is_ok(), delivered, "{at}: reply to {req} delivered");
                    want.replied += u64::from(delivered);
                    Ok(req * 10 + 1)
                } else {
                    drop(responder);
                    want.lost += u64::from(delivered);
                    Err(CallError::Lost)
                };
                want.timeout += u64::from(late);
                if let Some(call) = call.filter(|_| live) {
                    call.phase = Phase::Done(if late {
                        Err(CallError::Timeout)
                    } else {
                        outcome
                    });
                }
            }
            // A caller polls its call.
            5 | 6 if !calls.is_empty() => {
                let i = rng.below(calls.len());
                let call = &mut calls[i];
                let expected = match call.phase {
                    Phase::Done(outcome) => Some(outcome),
                    _ if call.deadline.is_some_and(|d| now >= d) => {
                        want.timeout += 1;
                        Some(Err(CallError::Timeout))
                    }
                    _ => None,
                };
                match (call.poller.poll(&mut call.fut), expected) {
                    (Poll::Ready(got), Some(expected)) => {
                        assert_eq!(got, expected, "{at}: call {}", call.req);
                        calls.swap_remove(i);
                    }
                    (Poll::Pending, None) => {
                        call.waiting = true;
                        call.wakes_at_wait = call.poller.wakes();
                    }
                    (got, expected) => {
                        panic!("{at}: call {} gave {got:?}, model {expected:?}", call.req)
                    }
                }
            }
            // A caller drops its call.
            7 if !calls.is_empty() => {
                let call = calls.swap_remove(rng.below(calls.len()));
                if !matches!(call.phase, Phase::Done(_)) {
                    want.cancelled += 1;
                }
            }
            // Time passes.
            8 | 9 => {
                let by = rng.below(15) as u64;
                now += by;
                clock.advance(ms(by));
            }
            // Shutdown, rarely.
            10 if rng.below(6) == 0 => {
                let mode = if rng.below(2) == 0 {
                    CloseMode::Fail
                } else {
                    CloseMode::Drain
                };
                let mut ended = 0;
                // Fail ends every queued call, even after an earlier Drain.
                if mode == CloseMode::Fail {
                    for call in calls.iter_mut().filter(|c| c.phase == Phase::Queued) {
                        call.phase = Phase::Done(Err(CallError::Closed));
                        ended += 1;
                    }
                }
                want.closed += ended as u64;
                assert_eq!(caller.close(mode), ended, "{at}: close({mode:?})");
                closed = true;
            }
            _ => {}
        }
        // Every call whose outcome is known (or whose deadline passed) and that waited
        // since has been woken: no lost wake-ups.
        for call in &calls {
            let decided =
                matches!(call.phase, Phase::Done(_)) || call.deadline.is_some_and(|d| now >= d);
            if call.waiting && decided {
                assert!(
                    call.poller.wakes() > call.wakes_at_wait,
                    "{at}: call {} was not woken",
                    call.req
                );
            }
        }
        assert_eq!(Counts::of(&caller.stats()), want, "{at}: stats");
    }
}

// ---- the promise ----------------------------------------------------------------------

/// A waiter of either kind, with one result type.
type Waiter<'a> = Pin<Box<dyn Future<Output = Result<u32, WaitError>> + 'a>>;

/// One run of the promise model; see [`endpoint`].
pub fn promise(src: &mut impl Choices, steps: usize, label: &dyn fmt::Display) {
    let rng = src;
    let clock = ManualClock::new();
    let promise: Rc<Promise<u32, LocalMutex>> = Rc::new(Promise::new());
    let mut setters: Vec<Setter<Rc<Promise<u32, LocalMutex>>>> = Vec::new();
    // (future, poller, deadline, woken count when it last waited)
    let mut waiters = Vec::new();
    let mut outcome: Option<Option<u32>> = None; // Some(None): abandoned
    let mut now = 0u64;
    let mut next_value = 1u32;

    for step in 0..steps {
        if rng.exhausted() {
            break;
        }
        let at = At(label, step);
        match rng.below(9) {
            0 => setters.push(Setter::new(promise.clone())),
            1 if !setters.is_empty() => {
                drop(setters.swap_remove(rng.below(setters.len())));
                // `Setter::new` counted each one; the last one gone abandons an empty promise.
                if setters.is_empty() && outcome.is_none() {
                    outcome = Some(None);
                }
            }
            2 => {
                let value = next_value;
                next_value += 1;
                let result = match setters.is_empty() || rng.below(2) == 0 {
                    true => promise.set(value),
                    false => setters.swap_remove(rng.below(setters.len())).set(value),
                };
                assert_eq!(result.is_ok(), outcome.is_none(), "{at}: set");
                if outcome.is_none() {
                    outcome = Some(Some(value));
                }
                // A setter used after the outcome leaves the count, like a drop.
            }
            3 if rng.below(3) == 0 => {
                assert_eq!(promise.abandon(), outcome.is_none(), "{at}: abandon");
                outcome.get_or_insert(None);
            }
            4 | 5 => {
                let deadline = (rng.below(2) == 0).then(|| now + rng.below(20) as u64);
                let fut: Waiter<'_> = match deadline {
                    Some(d) => Box::pin(promise.wait_timeout(&clock, ms(d - now))),
                    None => Box::pin(
                        promise
                            .wait()
                            .map(|r| r.map_err(|_abandoned| WaitError::Abandoned)),
                    ),
                };
                waiters.push((fut, Poller::new(), deadline, None::<usize>));
            }
            6 if !waiters.is_empty() => {
                let i = rng.below(waiters.len());
                let (fut, poller, deadline, waited) = &mut waiters[i];
                let expected = match outcome {
                    Some(Some(v)) => Some(Ok(v)),
                    Some(None) => Some(Err(WaitError::Abandoned)),
                    None if deadline.is_some_and(|d| now >= d) => Some(Err(WaitError::Timeout)),
                    None => None,
                };
                match (poller.poll(fut), expected) {
                    (Poll::Ready(got), Some(expected)) => {
                        assert_eq!(got, expected, "{at}: waiter");
                        drop(waiters.swap_remove(i));
                    }
                    (Poll::Pending, None) => *waited = Some(poller.wakes()),
                    (got, expected) => panic!("{at}: waiter gave {got:?}, model {expected:?}"),
                }
            }
            7 if !waiters.is_empty() => drop(waiters.swap_remove(rng.below(waiters.len()))),
            8 => {
                let by = rng.below(10) as u64;
                now += by;
                clock.advance(ms(by));
            }
            _ => {}
        }
        assert_eq!(promise.is_ready(), matches!(outcome, Some(Some(_))), "{at}");
        assert_eq!(promise.is_abandoned(), outcome == Some(None), "{at}");
        for (_, poller, deadline, waited) in &waiters {
            let decided = outcome.is_some() || deadline.is_some_and(|d| now >= d);
            if let (Some(at_wait), true) = (waited, decided) {
                assert!(poller.wakes() > *at_wait, "{at}: a waiter was not woken");
            }
        }
    }
}
