//! The endpoint's state machine: reply slots, the queue's bookkeeping, handle counts,
//! waiting tasks and stats, with no lock, no clock and no I/O.
//!
//! # Design
//!
//! [`EndpointState`] is what an [`Rpc`](crate::Rpc) keeps inside its lock. Its `&mut self`
//! methods are the events of the request/response protocol; each is written once, takes
//! the time as an argument (`now`, `started_at`), and returns what happened. Wakers an
//! event must wake go into a [`Wakes`]: the wrapper wakes them after unlocking, so no
//! waker is woken under the lock; so do the wakers it replaces, to be dropped then.
//! Requests and results that leave the state are handed back to the wrapper, which drops
//! them (user code) outside the lock. What code of others still runs under the lock (a
//! waker's clone, an instant's comparison) cannot use the endpoint again: the lock
//! ([`StateLock`](crate::sync::StateLock)) is marked busy meanwhile.
//!
//! A call's slot moves through the phases of [`reply`](crate::reply) (`Free`, `Reserved`,
//! `Queued`, `Taken`, `Done`); the events are:
//!
//! | event | slot | outcome counted | wakes |
//! | --- | --- | --- | --- |
//! | [`start`](EndpointState::start), a free slot | `Free → Queued` | | a server waiting for a request |
//! | `start` of a reserved slot ([`Permit`](crate::Permit)) | `Reserved → Queued` | | a server |
//! | `start`, no free slot, may wait | | | (registers the caller as a slot waiter) |
//! | `start`, no free slot, may not wait (`try_*`) | | `Full` | |
//! | `start` after [`close`](EndpointState::close) | | `Closed` | |
//! | `start` of a reserved slot after `close` | `Reserved → Done(Closed)` (if not already) | `Closed`, once | |
//! | [`start_many`](EndpointState::start_many): the calls of a `call_many` that can go at once | `Free → Queued` each | | a server each |
//! | [`reserve`](EndpointState::reserve) | `Free → Reserved` | (`Full`, `Closed` as `start`) | |
//! | [`unsend`](EndpointState::unsend) (the outside queue is full) | `Queued → Reserved` | | |
//! | [`take_next`](EndpointState::take_next) / [`take`](EndpointState::take) | `Queued → Taken` | | |
//! | `take_next`, nothing queued | | | (registers the server as waiting for a request) |
//! | [`stop_receiving`](EndpointState::stop_receiving) (a waiting server gives up) | | | another server, if it may have been woken (first in line, or woken in line) and requests are queued |
//! | [`reply`](EndpointState::reply) | `Taken → Done(Ok)` | `Replied` | the caller |
//! | [`lose`](EndpointState::lose) (the responder's handle dropped) | `Taken → Done(Lost)` | `Lost` | the caller |
//! | `reply` or `lose` at or after the call's deadline | `Taken → Done(Timeout)` (the value goes back) | `Timeout` | the caller |
//! | [`poll_reply`](EndpointState::poll_reply) / [`collect_many`](EndpointState::collect_many), result there | `Done → Free` | | a slot waiter |
//! | [`end`](EndpointState::end) (the caller gives up: timeout, drop) | any `→ Free` | `Timeout` / `Cancelled`, unless `Done` | a slot waiter; from `Taken`, responders in `cancelled()` |
//! | [`leave`](EndpointState::leave) (a slot waiter gives up) | | `Timeout` / `Cancelled`, if it ended a call | the next slot waiter, if it had been woken |
//! | `close(Fail)` | `Queued → Done(Closed)`, `Reserved → Shut` | `Closed` for each queued call | their callers, slot waiters, servers |
//! | `start` or `end` of a `Shut` slot (a call held it) | `Shut → Done(Closed)` / `→ Free` | `Closed`, once | |
//! | `end` of a `Shut` slot by an unused permit | `Shut → Free` | nothing: no call | |
//! | `close(Drain)` | | | slot waiters, servers |
//!
//! "A slot waiter" is the one that waited longest. "A server" is the first server that
//! waited, which keeps its place (and its waker) across waits, if it waits; otherwise the
//! server that waited longest.
//!
//! Invariants:
//!
//! - An outcome is counted once, when it is decided: a call that reached `Done` is not
//!   counted again when its caller gives up.
//! - With the inline queue a request waits in its slot, linked in the queue, while its slot
//!   is `Queued`, or after a `Fail` shutdown ended its call there (`Closing`, then `Stale`
//!   once its caller has read its `Closed`): [`take_next`](EndpointState::take_next) and
//!   [`drain_closed`](EndpointState::drain_closed) hand such a request back, to be dropped
//!   outside the lock (a caller that gives up takes its request out of the queue itself).
//! - Servers are told the endpoint is closed only once the queue is empty: with
//!   [`CloseMode::Drain`] they still take what was queued.

use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Poll, Waker};

use super::many::ManyCall;
use super::transport::{Envelope, Ring};
use super::{CloseMode, Role};
use crate::error::CallError;
use crate::reply::{Acquire, Answer, Dequeued, Phase, ReplyAs, RequestInfo, Slots, Ticket, Value};
use crate::stats::{Outcome, Stats, StatsSnapshot};
use crate::time::{Instant, Stamp};
use crate::wait_list::{line, WaitEntry, WaitList};
use crate::waker_set::{Home, WakeRest, Wakes};

/// A task that may wait (for a free slot, in `cancelled()`, or a server for a request): its
/// waker, and its entry in the list of waiting tasks, pinned in its future. The state takes
/// the entry out when the task gets what it waited for or finds the endpoint closed, and
/// [`EndpointState::leave`] / [`stop_watching`](EndpointState::stop_watching) /
/// [`stop_receiving`](EndpointState::stop_receiving) when it gives up.
#[derive(Clone, Copy)]
pub(super) struct Waiter<'a> {
    waker: &'a Waker,
    entry: Pin<&'a WaitEntry>,
}

impl<'a> Waiter<'a> {
    /// # Safety
    ///
    /// `entry` is taken out of this endpoint's lists ([`EndpointState::leave`],
    /// [`stop_watching`](EndpointState::stop_watching)) before it is dropped, unless the
    /// endpoint is never used again (its lock poisoned by a panic).
    pub(super) unsafe fn new(waker: &'a Waker, entry: Pin<&'a WaitEntry>) -> Self {
        Self { waker, entry }
    }
}

/// What [`EndpointState::start`] did with a call.
pub(super) enum Start<Req> {
    /// Queued inside the lock, with the caller's waker registered for its result.
    Queued(Ticket),
    /// The slot is held and marked queued; the request goes through the queue outside the
    /// lock.
    Deliver(Envelope<Req>),
    /// No free slot: the caller's waker waits for one.
    Wait(Req),
    /// No free slot, and the caller may not wait: counted as `Full`.
    Full(Req),
    /// The endpoint is closed: counted as `Closed`.
    Closed(Req),
    /// The call's reserved slot already holds its result (closed while reserved).
    Decided(Req),
}

/// Why [`EndpointState::reserve`] gave no slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Refused {
    /// No free slot, and the caller may not wait: counted as `Full`.
    Full,
    /// No free slot: the caller's waker waits for one.
    Wait,
    /// The endpoint is closed: counted as `Closed`.
    Closed,
}

/// What [`EndpointState::take_next`] found.
pub(super) enum Next<Req> {
    /// It took as many requests as it was asked for, or all that were queued (at least one).
    Done,
    /// The next request's call had ended while it was queued: drop it outside the lock
    /// and ask again.
    Stale(Req),
    /// Nothing queued: the server's waker (if any) waits for a request.
    Empty,
    /// Nothing queued, and nothing will come.
    Closed,
    /// The requests wait in the queue outside the lock.
    Outside,
}

/// A call its caller ended ([`EndpointState::end`]), its result read as `T`.
pub(super) struct Ended<Req, T> {
    /// Where it was.
    pub(super) phase: Phase,
    /// The result that had arrived, if any (it was counted when it arrived).
    pub(super) result: Option<Result<T, CallError>>,
    /// Its request, if it was still in the inline queue.
    pub(super) removed: Option<Req>,
}

/// The endpoint's state: see the [module docs](self).
pub(super) struct EndpointState<Req, Resp, I, S: Stamp<I>, R: Ring<Req>, const N: usize> {
    slots: Slots<Resp, I, S, R::Held, N>,
    /// The queued requests, with [`InlineQueue`](crate::queue::InlineQueue); nothing
    /// otherwise.
    ring: R,
    stats: Stats<S::Latencies>,
    closed: bool,
    callers: usize,
    servers: usize,
    /// Calls waiting for a free slot, each with its entry in its future: one that gives
    /// up takes its entry with it, and a freed slot wakes the one that waited longest.
    slot_waiters: WaitList<{ line::SLOT }>,
    /// Freed slots whose waiter could not be woken yet (the event's `Wakes` was full).
    owed_slot_wakes: usize,
    /// Responders waiting in `cancelled()`, woken whenever a taken call's caller gives up
    /// (each checks its own call): one list for the endpoint rather than one per slot, so
    /// that it costs nothing while nobody waits in `cancelled()`.
    cancel_waiters: WaitList<{ line::CANCEL }>,
    _req: PhantomData<fn(Req) -> Req>,
}

impl<Req, Resp, I: Instant, S: Stamp<I>, R: Ring<Req>, const N: usize>
    EndpointState<Req, Resp, I, S, R, N>
{
    pub(super) const fn new(ring: R) -> Self {
        Self {
            slots: Slots::new(),
            ring,
            stats: Stats::empty(),
            closed: false,
            callers: 0,
            servers: 0,
            slot_waiters: WaitList::new(),
            owed_slot_wakes: 0,
            cancel_waiters: WaitList::new(),
            _req: PhantomData,
        }
    }

    /// A handle was made.
    pub(super) fn attach(&mut self, role: Role) {
        match role {
            Role::Caller => self.callers += 1,
            Role::Server => self.servers += 1,
        }
    }

    /// A handle was dropped; true if it was the last of its role.
    pub(super) fn detach(&mut self, role: Role) -> bool {
        let count = match role {
            Role::Caller => &mut self.callers,
            Role::Server => &mut self.servers,
        };
        *count -= 1;
        *count == 0
    }

    /// Counts an outcome decided outside the state (a call that never got a slot).
    pub(super) fn record(&mut self, outcome: Outcome) {
        self.stats.record(outcome, None);
    }

    pub(super) fn snapshot(&self) -> StatsSnapshot {
        let o = self.slots.occupancy();
        self.stats.snapshot(o.queued, o.taken)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Starts a call of `req`: in the slot `held` (reserved by a permit, or by a call that
    /// waited for room in the outside queue), or in a free one. With a `waiter`, the caller
    /// waits: for its result once the request is queued, for a slot if none is free.
    /// Without one (`try_call`), no free slot is `Full`.
    #[inline]
    pub(super) fn start(
        &mut self,
        req: Req,
        held: Option<Ticket>,
        started_at: I,
        deadline: Option<I>,
        waiter: Option<Waiter<'_>>,
        wakes: &mut Wakes,
    ) -> Start<Req> {
        let waker = waiter.as_ref().map(|w| w.waker);
        // With the inline queue the request goes into its slot; otherwise it goes through
        // the queue outside the lock.
        let (req, outside) = R::hold(req);
        let ticket = match held {
            Some(held) => {
                if self.closed {
                    // With `Fail` the slot holds its `Closed` result already; with `Drain`,
                    // end it so: a closed endpoint queues nothing new.
                    if self.slots.close_reserved(held) {
                        self.stats.record(Outcome::Closed, None);
                    }
                    return Start::Decided(R::give_back(req, outside));
                }
                if let Err(req) = self.slots.send(held, req, started_at, deadline) {
                    return Start::Decided(R::give_back(req, outside));
                }
                if let Some(waker) = waker {
                    self.slots.watch(held, waker, wakes);
                }
                held
            }
            None => {
                if self.closed {
                    if let Some(waiter) = waiter {
                        self.slot_waiters.unregister(waiter.entry, wakes);
                    }
                    self.stats.record(Outcome::Closed, None);
                    return Start::Closed(R::give_back(req, outside));
                }
                // The caller's waker is registered in the slot before the request becomes
                // visible to a server: a reply cannot come before it, so the call then
                // waits without asking for its result first.
                let how = Acquire::Send(waker, req);
                let ticket = match self.slots.acquire(started_at, deadline, how, wakes) {
                    Ok(ticket) => ticket,
                    Err(how) => {
                        let Acquire::Send(_, req) = how else {
                            unreachable!("the request comes back")
                        };
                        let req = R::give_back(req, outside);
                        return match waiter {
                            Some(waiter) => {
                                self.wait_for_slot(waiter, wakes);
                                Start::Wait(req)
                            }
                            None => {
                                self.stats.record(Outcome::Full, None);
                                Start::Full(req)
                            }
                        };
                    }
                };
                if let Some(waiter) = waiter {
                    // It waited and got its slot: the wake-up was used.
                    self.slot_waiters.unregister(waiter.entry, wakes);
                }
                ticket
            }
        };
        match outside {
            None => {
                self.slots.enqueue(ticket.slot(), started_at);
                self.ring.request_came(wakes);
                Start::Queued(ticket)
            }
            Some(req) => Start::Deliver(Envelope { req, ticket }),
        }
    }

    /// Reserves a free slot for a call to come ([`Permit`](crate::Permit)).
    pub(super) fn reserve(
        &mut self,
        now: I,
        waiter: Option<Waiter<'_>>,
        wakes: &mut Wakes,
    ) -> Result<Ticket, Refused> {
        let acquired = match self.closed {
            true => Err(Refused::Closed),
            false => self
                .slots
                .acquire(now, None, Acquire::Reserve, wakes)
                .map_err(|_| Refused::Wait),
        };
        if acquired != Err(Refused::Wait) {
            if let Some(waiter) = waiter {
                self.slot_waiters.unregister(waiter.entry, wakes);
            }
            if acquired.is_err() {
                self.stats.record(Outcome::Closed, None);
            }
            return acquired;
        }
        match waiter {
            Some(waiter) => {
                self.wait_for_slot(waiter, wakes);
                Err(Refused::Wait)
            }
            None => {
                self.stats.record(Outcome::Full, None);
                Err(Refused::Full)
            }
        }
    }

    /// A task stops waiting for a slot (it timed out, or its future was dropped), counting
    /// `outcome` if it ended a call: it takes its entry along, and passes on a wake-up it
    /// was given and did not use.
    pub(super) fn leave(
        &mut self,
        entry: Pin<&WaitEntry>,
        outcome: Option<Outcome>,
        wakes: &mut Wakes,
    ) {
        if self.slot_waiters.unregister(entry, wakes) {
            self.slots_freed(1, wakes);
        }
        if let Some(outcome) = outcome {
            self.stats.record(outcome, None);
        }
    }

    /// `waiter` waits for a free slot.
    fn wait_for_slot(&mut self, waiter: Waiter<'_>, wakes: &mut Wakes) {
        // SAFETY: the entry is taken out before it is dropped (`Waiter::new`'s contract).
        unsafe {
            self.slot_waiters
                .register(waiter.entry, waiter.waker, wakes)
        }
    }

    /// `n` slots came free: each wakes one task waiting for a slot, now or, if `wakes` is
    /// full, in the next round ([`WakeRest`]).
    #[inline(always)]
    fn slots_freed(&mut self, n: usize, wakes: &mut Wakes) {
        if n == 0 && self.owed_slot_wakes == 0 || !self.slot_waiters.is_waiting() {
            self.owed_slot_wakes = 0;
            return;
        }
        self.wake_slot_waiters(n, wakes);
    }

    #[inline(never)]
    fn wake_slot_waiters(&mut self, n: usize, wakes: &mut Wakes) {
        self.owed_slot_wakes += n;
        while self.owed_slot_wakes > 0 {
            if !self.slot_waiters.is_waiting() {
                self.owed_slot_wakes = 0;
                return;
            }
            if !self.slot_waiters.wake_one(wakes) {
                return;
            }
            self.owed_slot_wakes -= 1;
        }
    }

    /// The outside queue refused the request [`start`](Self::start) handed over: the call
    /// keeps its slot, reserved, while it waits for room.
    pub(super) fn unsend(&mut self, ticket: Ticket) {
        // Only a queue outside the lock refuses: an inline slot holds its request, linked.
        debug_assert!(!R::INSIDE, "the inline queue refuses no request");
        self.slots.unsend(ticket);
    }

    /// Ends the call of `ticket` from the caller's side (it gave up, or its request could
    /// not be queued): frees its slot and counts `outcome` (if any: an unused permit is no
    /// call), unless its outcome was decided before. `None` if the call had ended already.
    pub(super) fn end<A: ReplyAs<Resp, S>>(
        &mut self,
        ticket: Ticket,
        outcome: Option<Outcome>,
        read: A,
        wakes: &mut Wakes,
    ) -> Option<Ended<Req, A::Out>> {
        let (phase, result, removed) = self.slots.cancel(ticket, read)?;
        self.slots_freed(1, wakes);
        if phase == Phase::Taken {
            self.cancel_waiters.wake_all(wakes);
        }
        match (phase, outcome) {
            // Decided, and counted, before; or no call.
            (Phase::Done, _) | (_, None) => {}
            // A shutdown decided it: a call held the slot, so it counts as `Closed`.
            (Phase::Shut, Some(_)) => self.stats.record(Outcome::Closed, None),
            (_, Some(outcome)) => self.stats.record(outcome, None),
        }
        // With the inline queue, a request still queued came out of its slot.
        let removed = match R::INSIDE {
            true => removed.map(|req| R::give_back(req, None)),
            false => None,
        };
        Some(Ended {
            phase,
            result,
            removed,
        })
    }

    /// Takes queued requests from the inline queue, up to `limit` in all, handing each to `take`
    /// (with an instant no later than its arrival: its call's start, or what the slots know,
    /// or `now`) and counting it in `taken`. With a `waiter`, a server finding nothing waits for the
    /// next request, and one that finds a request or the end stops waiting.
    #[inline]
    pub(super) fn take_next<F>(
        &mut self,
        now: I,
        waiter: Option<Waiter<'_>>,
        limit: usize,
        taken: &mut usize,
        take: &mut F,
        wakes: &mut Wakes,
    ) -> Next<Req>
    where
        F: FnMut(Req, Ticket, RequestInfo<I>, I),
    {
        if !R::INSIDE {
            return Next::Outside;
        }
        while *taken < limit {
            match self.slots.dequeue(now) {
                Dequeued::Request(req, ticket, info, arrived) => {
                    take(
                        R::give_back(req, None),
                        ticket,
                        info,
                        arrived.unwrap_or(now),
                    );
                    *taken += 1;
                }
                Dequeued::Stale(req) => return Next::Stale(R::give_back(req, None)),
                Dequeued::Empty if *taken > 0 => break,
                Dequeued::Empty if self.closed => {
                    if let Some(waiter) = waiter {
                        self.ring.done_waiting(waiter.entry, wakes);
                    }
                    return Next::Closed;
                }
                Dequeued::Empty => {
                    if let Some(waiter) = waiter {
                        // SAFETY: the entry is taken out before it is dropped
                        // (`Waiter::new`'s contract).
                        unsafe { self.ring.register(waiter.waker, waiter.entry, wakes) };
                    }
                    return Next::Empty;
                }
            }
        }
        if let Some(waiter) = waiter {
            self.ring.done_waiting(waiter.entry, wakes);
        }
        Next::Done
    }

    /// A server stops waiting for a request (its future was dropped): its entry goes, and a
    /// wake-up it was given for a queued request passes to another server.
    pub(super) fn stop_receiving(&mut self, entry: Pin<&WaitEntry>, wakes: &mut Wakes) {
        self.ring.leave(entry, self.slots.has_queued(), wakes);
    }

    /// A server took the request of `ticket` from the outside queue: `None` if it is stale
    /// (its call ended while it was queued).
    pub(super) fn take(&mut self, ticket: Ticket, now: I) -> Option<RequestInfo<I>> {
        // Inline requests are taken in order, with their slots (`take_next`).
        debug_assert!(!R::INSIDE, "inline requests leave through take_next");
        self.slots.take(ticket, now)
    }

    /// The responder's reply at `now`, counted; the value comes back if its caller is gone
    /// or its deadline has passed (the call then ends with `Timeout`).
    #[inline(always)]
    pub(super) fn reply(
        &mut self,
        ticket: Ticket,
        value: Resp,
        now: I,
        measures_time: bool,
        wakes: &mut Wakes,
    ) -> Result<(), Resp> {
        match self.slots.reply(ticket, value, now, wakes) {
            Answer::Delivered(started_at) => {
                let latency = Stamp::<I>::instant(started_at)
                    .filter(|_| measures_time)
                    .map(|started_at| now.nanos_since(started_at));
                self.stats.record_nanos(Outcome::Replied, latency);
                Ok(())
            }
            Answer::Late(value) => {
                self.stats.record(Outcome::Timeout, None);
                Err(value)
            }
            Answer::Gone(value) => Err(value),
        }
    }

    /// The replies `replies` yields, until one is refused (its caller is gone): that value
    /// comes back, to be dropped outside the lock. `None` once `replies` is exhausted.
    pub(super) fn reply_many(
        &mut self,
        replies: &mut dyn Iterator<Item = (Ticket, Resp)>,
        now: I,
        measures_time: bool,
        wakes: &mut Wakes,
    ) -> Option<Resp> {
        for (ticket, value) in replies {
            if let Err(refused) = self.reply(ticket, value, now, measures_time, wakes) {
                return Some(refused);
            }
        }
        None
    }

    /// The responder dropped its handle without replying at `now`: the caller gets `Lost`,
    /// or `Timeout` if its deadline has passed.
    pub(super) fn lose(&mut self, ticket: Ticket, now: I, wakes: &mut Wakes) {
        match self.slots.lose(ticket, now, wakes) {
            Answer::Delivered(_) => self.stats.record(Outcome::Lost, None),
            Answer::Late(()) => self.stats.record(Outcome::Timeout, None),
            Answer::Gone(()) => {}
        }
    }

    /// The caller asks for its result, read as `read` says; on `Ready` its slot is free
    /// again.
    #[inline]
    pub(super) fn poll_reply<A: ReplyAs<Resp, S>>(
        &mut self,
        ticket: Ticket,
        waker: &Waker,
        read: A,
        wakes: &mut Wakes,
    ) -> Poll<Result<A::Out, CallError>> {
        let result = core::task::ready!(self.slots.poll_reply(ticket, waker, wakes, read));
        self.slots_freed(1, wakes);
        Poll::Ready(result)
    }

    /// Whether the caller of `ticket` stopped waiting.
    pub(super) fn is_cancelled(&mut self, ticket: Ticket) -> bool {
        self.slots.is_cancelled(ticket)
    }

    /// [`is_cancelled`](Self::is_cancelled), with the waiter woken when it becomes true.
    pub(super) fn poll_cancelled(
        &mut self,
        ticket: Ticket,
        waiter: Waiter<'_>,
        wakes: &mut Wakes,
    ) -> Poll<()> {
        if self.slots.is_cancelled(ticket) {
            self.cancel_waiters.unregister(waiter.entry, wakes);
            return Poll::Ready(());
        }
        // SAFETY: the entry is taken out before it is dropped (`Waiter::new`'s contract).
        unsafe {
            self.cancel_waiters
                .register(waiter.entry, waiter.waker, wakes)
        };
        Poll::Pending
    }

    /// A responder stops waiting in `cancelled()`: its entry goes.
    pub(super) fn stop_watching(&mut self, entry: Pin<&WaitEntry>, wakes: &mut Wakes) {
        self.cancel_waiters.unregister(entry, wakes);
    }

    /// Replaces the ticket of every call whose caller stopped waiting by [`Ticket::NONE`];
    /// returns how many it replaced.
    pub(super) fn forget_cancelled(&mut self, tickets: &mut [Ticket]) -> usize {
        let mut forgotten = 0;
        for ticket in tickets.iter_mut() {
            if self.slots.is_cancelled(*ticket) {
                *ticket = Ticket::NONE;
                forgotten += 1;
            }
        }
        forgotten
    }

    /// Starts the unsent calls at the front of `calls` that can go at once (a free slot, the
    /// queue inside the lock), with the waiter's waker registered in their slots; returns
    /// how many calls from the front it is done with. Stops at the first that would wait,
    /// had reserved a slot, or meets a shutdown, and does nothing without the inline queue.
    /// A `call_many` whose call waited for a slot gives its entry back once that call has one.
    pub(super) fn start_many(
        &mut self,
        calls: &mut [ManyCall<Req, Resp>],
        started_at: I,
        deadline: Option<I>,
        waker: &Waker,
        entry: Pin<&WaitEntry>,
        wakes: &mut Wakes,
    ) -> usize {
        if !R::INSIDE {
            return 0;
        }
        let mut done = 0;
        for call in calls.iter_mut() {
            if call.req.is_some() {
                if call.ticket.is_some() || self.closed {
                    break;
                }
                let (req, _) = R::hold(call.req.take().expect("unsent"));
                let how = Acquire::Send(Some(waker), req);
                let ticket = match self.slots.acquire(started_at, deadline, how, wakes) {
                    Ok(ticket) => ticket,
                    Err(how) => {
                        let Acquire::Send(_, req) = how else {
                            unreachable!("the request comes back")
                        };
                        call.req = Some(R::give_back(req, None));
                        break;
                    }
                };
                // The call it waited for has its slot: the wake-up was used.
                self.slot_waiters.unregister(entry, wakes);
                self.slots.enqueue(ticket.slot(), started_at);
                self.ring.request_came(wakes);
                call.ticket = Some(ticket);
            }
            done += 1;
        }
        done
    }

    /// Reads every result that has arrived for `calls`, registering `waker` for the
    /// others; true if some still wait.
    pub(super) fn collect_many(
        &mut self,
        calls: &mut [ManyCall<Req, Resp>],
        waker: &Waker,
        wakes: &mut Wakes,
    ) -> bool {
        let mut waiting = false;
        let mut freed = 0;
        for call in calls.iter_mut() {
            let Some(ticket) = call.ticket else {
                continue;
            };
            match self.slots.poll_reply(ticket, waker, wakes, Value) {
                Poll::Ready(result) => {
                    call.ticket = None;
                    call.outcome = Some(result);
                    freed += 1;
                }
                Poll::Pending => waiting = true,
            }
        }
        self.slots_freed(freed, wakes);
        waiting
    }

    /// Shuts down: new calls are refused; with [`CloseMode::Fail`] every call not taken yet
    /// ends with `Closed` (with the inline queue their requests stay in their slots, to be
    /// taken out by [`drain_closed`](Self::drain_closed) and dropped outside the lock).
    /// Returns how many calls it ended.
    pub(super) fn close(&mut self, mode: CloseMode, wakes: &mut Wakes) -> usize {
        self.closed = true;
        self.slot_waiters.wake_all(wakes);
        self.ring.wake_servers(wakes);
        let closed = match mode {
            CloseMode::Fail => self.slots.close_pending(R::INSIDE, wakes),
            CloseMode::Drain => 0,
        };
        for _ in 0..closed {
            self.stats.record(Outcome::Closed, None);
        }
        closed
    }

    /// Takes the next request a `Fail` shutdown ended out of the inline queue, to be dropped
    /// outside the lock; `None` once none is left.
    pub(super) fn drain_closed(&mut self) -> Option<Req> {
        self.slots
            .dequeue_ended()
            .map(|req| R::give_back(req, None))
    }
}

impl<Req, Resp, I: Instant, S: Stamp<I>, R: Ring<Req>, const N: usize> WakeRest
    for EndpointState<Req, Resp, I, S, R, N>
{
    #[inline(always)]
    fn put_back(&mut self, home: Home, waker: Waker) -> Option<Waker> {
        match home {
            Home::Slot(index) => self.slots.put_back(index, waker),
            Home::First => self.ring.put_back(waker),
        }
    }

    fn wake_rest(&mut self, wakes: &mut Wakes) {
        if self.closed {
            self.slot_waiters.wake_all(wakes);
        }
        self.slots_freed(0, wakes);
        self.ring.wake_servers(wakes);
        self.cancel_waiters.wake_all(wakes);
        self.slots.wake_rest(wakes);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::reply::WithTiming;
    use crate::rpc::transport::{InlineRing, Outside};
    use crate::test_support::{counter, woken};
    use crate::time::NoInstant;
    use core::pin::pin;
    use std::sync::Arc;
    use std::vec::Vec;

    type Inline<const N: usize> =
        EndpointState<u32, u32, NoInstant, NoInstant, InlineRing<u32, N>, N>;
    type Apart<const N: usize> = EndpointState<u32, u32, NoInstant, NoInstant, Outside, N>;

    /// A task that may wait, in line with `entry`.
    fn may_wait<'a>(waker: &'a Waker, entry: Pin<&'a WaitEntry>) -> Option<Waiter<'a>> {
        // SAFETY: each test's entries are declared after its state, so they are dropped
        // before it, and the state is not used again then.
        Some(unsafe { Waiter::new(waker, entry) })
    }

    /// Starts a call of `req` in a free slot by a task that may wait for one.
    fn start_waiting<R: Ring<u32>, const N: usize>(
        s: &mut EndpointState<u32, u32, NoInstant, NoInstant, R, N>,
        req: u32,
        waker: &Waker,
        entry: Pin<&WaitEntry>,
    ) -> Start<u32> {
        s.start(
            req,
            None,
            NoInstant,
            None,
            may_wait(waker, entry),
            &mut Wakes::new(),
        )
    }

    fn inline<const N: usize>() -> Inline<N> {
        EndpointState::new(InlineRing::new())
    }

    /// Starts a call that waits (with `waker`), expecting it queued inside the lock.
    fn call<const N: usize>(s: &mut Inline<N>, req: u32, waker: &Waker) -> Ticket {
        // A call that finds a free slot does not get in line: the entry can go with it.
        let entry = pin!(WaitEntry::new());
        match start_waiting(s, req, waker, entry.as_ref()) {
            Start::Queued(ticket) => ticket,
            _ => panic!("expected the call queued"),
        }
    }

    /// Takes the next request, expecting one.
    fn take<R: Ring<u32>, const N: usize>(
        s: &mut EndpointState<u32, u32, NoInstant, NoInstant, R, N>,
    ) -> (u32, Ticket) {
        let (mut taken, mut got) = (0, None);
        let next = s.take_next(
            NoInstant,
            None,
            1,
            &mut taken,
            &mut |req, ticket, _, _| got = Some((req, ticket)),
            &mut Wakes::new(),
        );
        assert!(matches!(next, Next::Done));
        got.expect("a request")
    }

    /// The next request, taken and dropped; `taken` counts it.
    fn take_ignoring<R: Ring<u32>, const N: usize>(
        s: &mut EndpointState<u32, u32, NoInstant, NoInstant, R, N>,
        taken: &mut usize,
    ) -> Next<u32> {
        s.take_next(
            NoInstant,
            None,
            1,
            taken,
            &mut |_, _, _, _| {},
            &mut Wakes::new(),
        )
    }

    fn reply_of<R: Ring<u32>, const N: usize>(
        s: &mut EndpointState<u32, u32, NoInstant, NoInstant, R, N>,
        ticket: Ticket,
    ) -> Poll<Result<u32, CallError>> {
        let (_, waker) = counter();
        s.poll_reply(ticket, &waker, WithTiming, &mut Wakes::new())
            .map(|result| result.map(|timed| timed.value))
    }

    /// Servers find nothing and wait; a request wakes the first server only; when it stops
    /// waiting without taking the request, the next server in line is woken for it; one that
    /// stops waiting with nothing queued wakes nobody.
    #[test]
    fn a_request_wakes_one_server_and_one_that_leaves_passes_it_on() {
        let mut s = inline::<2>();
        let entries = [
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
        ];
        let servers: std::vec::Vec<_> = (0..3).map(|_| counter()).collect();
        let wait = |s: &mut Inline<2>, i: usize| {
            let waiter = may_wait(&servers[i].1, entries[i].as_ref());
            let next = s.take_next(
                NoInstant,
                waiter,
                1,
                &mut 0,
                &mut |_, _, _, _| {},
                &mut Wakes::new(),
            );
            assert!(matches!(next, Next::Empty));
        };
        let woken_now = || {
            servers
                .iter()
                .map(|(c, _)| woken(c))
                .collect::<std::vec::Vec<_>>()
        };
        for i in 0..3 {
            wait(&mut s, i);
        }
        s.stop_receiving(entries[2].as_ref(), &mut Wakes::new());
        assert_eq!(woken_now(), [0, 0, 0], "nothing queued: nobody to pass to");
        wait(&mut s, 2);

        let (_, caller) = counter();
        call(&mut s, 1, &caller);
        assert_eq!(woken_now(), [1, 0, 0], "the first server");
        s.stop_receiving(entries[0].as_ref(), &mut Wakes::new());
        assert_eq!(woken_now(), [1, 1, 0], "the one that waited longest");
        s.stop_receiving(entries[1].as_ref(), &mut Wakes::new());
        assert_eq!(woken_now(), [1, 1, 1]);
        let (mut taken, mut got) = (0, None);
        let waiter = may_wait(&servers[2].1, entries[2].as_ref());
        let next = s.take_next(
            NoInstant,
            waiter,
            1,
            &mut taken,
            &mut |req, _, _, _| got = Some(req),
            &mut Wakes::new(),
        );
        assert!(matches!(next, Next::Done));
        assert_eq!(got, Some(1));
    }

    #[test]
    fn start_queues_the_request_and_wakes_a_waiting_server() {
        let mut s = inline::<2>();
        let entry = pin!(WaitEntry::new());
        let server_entry = pin!(WaitEntry::new());
        let (server, server_waker) = counter();
        let mut taken = 0;
        let next = s.take_next(
            NoInstant,
            may_wait(&server_waker, server_entry.as_ref()),
            1,
            &mut taken,
            &mut |_, _, _, _| {},
            &mut Wakes::new(),
        );
        assert!(matches!(next, Next::Empty));
        let (_, caller) = counter();
        let mut wakes = Wakes::new();
        let started = s.start(
            7,
            None,
            NoInstant,
            None,
            may_wait(&caller, entry.as_ref()),
            &mut wakes,
        );
        assert!(matches!(started, Start::Queued(_)));
        assert_eq!(woken(&server), 0, "woken after the lock, not by the event");
        assert_eq!(wakes.len(), 1);
        drop(wakes);
        assert_eq!(woken(&server), 1);
        assert_eq!(take(&mut s).0, 7);
        assert_eq!(s.snapshot().in_flight, 1);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "rests on `Waker::will_wake`, which std documents as best-effort and miri answers false"
    )]
    fn a_request_lends_the_waiting_servers_waker_which_comes_back_for_its_next_wait() {
        let mut s = inline::<2>();
        let server_entry = pin!(WaitEntry::new());
        let (server, server_waker) = counter();
        let wait = |s: &mut Inline<2>| {
            let next = s.take_next(
                NoInstant,
                may_wait(&server_waker, server_entry.as_ref()),
                1,
                &mut 0,
                &mut |_, _, _, _| {},
                &mut Wakes::new(),
            );
            assert!(matches!(next, Next::Empty));
        };
        wait(&mut s);
        let clones = Arc::strong_count(&server);
        let mut wakes = Wakes::new();
        let started = s.start(8, None, NoInstant, None, None, &mut wakes);
        assert!(matches!(started, Start::Queued(_)));
        let (lent, home) = wakes.take_lent().expect("the server's waker, lent");
        assert_eq!(home, Home::First);
        lent.wake_by_ref();
        assert!(s.put_back(home, lent).is_none(), "taken back");
        assert_eq!(woken(&server), 1);
        assert_eq!(take(&mut s).0, 8);
        wait(&mut s);
        assert_eq!(Arc::strong_count(&server), clones, "re-armed, not cloned");
    }

    #[test]
    fn start_without_a_free_slot_waits_or_is_full() {
        let mut s = inline::<1>();
        let entry = pin!(WaitEntry::new());
        let (_, first) = counter();
        let ticket = call(&mut s, 1, &first);
        let (waiter, waiting) = counter();
        let mut wakes = Wakes::new();
        match s.start(
            2,
            None,
            NoInstant,
            None,
            may_wait(&waiting, entry.as_ref()),
            &mut wakes,
        ) {
            Start::Wait(req) => assert_eq!(req, 2),
            _ => panic!("expected the call to wait for a slot"),
        }
        match s.start(3, None, NoInstant, None, None, &mut wakes) {
            Start::Full(req) => assert_eq!(req, 3),
            _ => panic!("expected Full"),
        }
        assert_eq!(
            s.snapshot().full,
            1,
            "only the call that may not wait counts"
        );
        drop(wakes);
        assert_eq!(woken(&waiter), 0, "nothing came free yet");
        // The slot comes free when its caller reads the reply: the waiter is woken.
        take(&mut s);
        s.reply(ticket, 10, NoInstant, false, &mut Wakes::new())
            .unwrap();
        assert_eq!(reply_of(&mut s, ticket), Poll::Ready(Ok(10)));
        assert_eq!(woken(&waiter), 1);
    }

    #[test]
    fn a_freed_slot_wakes_the_tasks_waiting_for_one() {
        let mut s = inline::<1>();
        let entry = pin!(WaitEntry::new());
        let (_, first) = counter();
        let ticket = call(&mut s, 1, &first);
        let (waiter, waiting) = counter();
        assert!(matches!(
            start_waiting(&mut s, 2, &waiting, entry.as_ref()),
            Start::Wait(_)
        ));
        take(&mut s);
        s.reply(ticket, 10, NoInstant, false, &mut Wakes::new())
            .unwrap();
        let mut wakes = Wakes::new();
        assert!(s
            .poll_reply(ticket, &first, WithTiming, &mut wakes)
            .is_ready());
        assert_eq!(woken(&waiter), 0);
        drop(wakes);
        assert_eq!(woken(&waiter), 1);
        assert!(matches!(
            start_waiting(&mut s, 2, &waiting, entry.as_ref()),
            Start::Queued(_)
        ));
    }

    #[test]
    fn a_waiter_that_leaves_takes_its_entry_and_passes_on_an_unused_wake_up() {
        let mut s = inline::<1>();
        let (_, first) = counter();
        let ticket = call(&mut s, 1, &first);
        let tasks: Vec<_> = (0..3).map(|_| counter()).collect();
        let entries = [
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
        ];
        for (i, ((_, waker), entry)) in tasks.iter().zip(&entries).enumerate() {
            let started = start_waiting(&mut s, 2, waker, entry.as_ref());
            assert!(matches!(started, Start::Wait(2)));
            assert_eq!(s.slot_waiters.len(), i + 1, "in line");
        }
        // The last one leaves without being woken: nobody is woken for it.
        s.leave(
            entries[2].as_ref(),
            Some(Outcome::Cancelled),
            &mut Wakes::new(),
        );
        assert_eq!(s.slot_waiters.len(), 2, "out of line");
        assert!(tasks.iter().all(|(count, _)| woken(count) == 0));
        // The slot comes free: one waiter is woken.
        take(&mut s);
        s.reply(ticket, 10, NoInstant, false, &mut Wakes::new())
            .unwrap();
        assert_eq!(reply_of(&mut s, ticket), Poll::Ready(Ok(10)));
        let woken_now: Vec<_> = tasks.iter().map(|(count, _)| woken(count)).collect();
        assert_eq!(woken_now, [1, 0, 0]);
        // It leaves without taking the slot: the wake-up goes to the next waiter.
        s.leave(
            entries[0].as_ref(),
            Some(Outcome::Timeout),
            &mut Wakes::new(),
        );
        let woken_now: Vec<_> = tasks.iter().map(|(count, _)| woken(count)).collect();
        assert_eq!(woken_now, [1, 1, 0]);
        // Which takes it, its entry given back with it.
        let started = start_waiting(&mut s, 3, &tasks[1].1, entries[1].as_ref());
        assert!(matches!(started, Start::Queued(_)));
        assert_eq!(s.slot_waiters.len(), 0, "out of line with its slot");
        let stats = s.snapshot();
        assert_eq!((stats.cancelled, stats.timeout), (1, 1));
    }

    #[test]
    fn responders_waiting_in_cancelled_do_not_push_each_other_out() {
        // One responder per slot waits in `cancelled()`: none displaces another, so none
        // is woken before its caller leaves.
        let mut s = inline::<4>();
        let (_, caller) = counter();
        let tickets: Vec<_> = (0..4).map(|req| call(&mut s, req, &caller)).collect();
        for _ in 0..4 {
            take(&mut s);
        }
        let responders: Vec<_> = (0..4).map(|_| counter()).collect();
        let entries = [
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
        ];
        for ((ticket, (_, waker)), entry) in tickets.iter().zip(&responders).zip(&entries) {
            let waiter = may_wait(waker, entry.as_ref()).unwrap();
            assert!(s
                .poll_cancelled(*ticket, waiter, &mut Wakes::new())
                .is_pending());
        }
        assert!(responders.iter().all(|(count, _)| woken(count) == 0));
        s.end(
            tickets[2],
            Some(Outcome::Cancelled),
            WithTiming,
            &mut Wakes::new(),
        );
        assert!(responders.iter().all(|(count, _)| woken(count) == 1));
    }

    #[test]
    fn start_after_close_is_closed_and_counted() {
        let mut s = inline::<2>();
        let entry = pin!(WaitEntry::new());
        s.close(CloseMode::Drain, &mut Wakes::new());
        let (_, waker) = counter();
        match start_waiting(&mut s, 1, &waker, entry.as_ref()) {
            Start::Closed(req) => assert_eq!(req, 1),
            _ => panic!("expected Closed"),
        }
        assert_eq!(
            s.reserve(NoInstant, None, &mut Wakes::new()),
            Err(Refused::Closed)
        );
        assert_eq!(s.snapshot().closed, 2);
    }

    #[test]
    fn a_reserved_slot_is_sent_by_start() {
        let mut s = inline::<1>();
        let entry = pin!(WaitEntry::new());
        let held = s.reserve(NoInstant, None, &mut Wakes::new()).unwrap();
        assert_eq!(
            s.reserve(NoInstant, None, &mut Wakes::new()),
            Err(Refused::Full)
        );
        let (_, waker) = counter();
        match s.start(
            5,
            Some(held),
            NoInstant,
            None,
            may_wait(&waker, entry.as_ref()),
            &mut Wakes::new(),
        ) {
            Start::Queued(ticket) => assert_eq!(ticket, held),
            _ => panic!("expected the reserved call queued"),
        }
        assert_eq!(take(&mut s), (5, held));
    }

    #[test]
    fn a_reserved_slot_after_close_is_decided_and_counted_once() {
        let entry = pin!(WaitEntry::new());
        let (_, waker) = counter();
        for mode in [CloseMode::Drain, CloseMode::Fail] {
            let mut s = inline::<1>();
            let held = s.reserve(NoInstant, None, &mut Wakes::new()).unwrap();
            s.close(mode, &mut Wakes::new());
            let started = s.start(
                5,
                Some(held),
                NoInstant,
                None,
                may_wait(&waker, entry.as_ref()),
                &mut Wakes::new(),
            );
            assert!(matches!(started, Start::Decided(5)), "{mode:?}");
            assert_eq!(reply_of(&mut s, held), Poll::Ready(Err(CallError::Closed)));
            assert_eq!(s.snapshot().closed, 1, "{mode:?}");
        }
    }

    #[test]
    fn a_queue_outside_the_lock_gets_the_request_handed_over() {
        let mut s: Apart<2> = EndpointState::new(Outside);
        let entry = pin!(WaitEntry::new());
        let (_, waker) = counter();
        let Start::Deliver(env) = start_waiting(&mut s, 3, &waker, entry.as_ref()) else {
            panic!("expected the request handed over");
        };
        assert_eq!(env.req, 3);
        let ticket = env.ticket;
        // The queue was full: the call keeps its slot, reserved, and sends it again.
        s.unsend(ticket);
        let Start::Deliver(env) = s.start(
            3,
            Some(ticket),
            NoInstant,
            None,
            may_wait(&waker, entry.as_ref()),
            &mut Wakes::new(),
        ) else {
            panic!("expected the request handed over again");
        };
        assert_eq!(env.ticket, ticket);
        let mut taken = 0;
        let next = take_ignoring(&mut s, &mut taken);
        assert!(matches!(next, Next::Outside));
        assert!(s.take(ticket, NoInstant).is_some());
        assert!(s.take(ticket, NoInstant).is_none(), "taken once");
        assert_eq!(
            s.start_many(
                &mut [],
                NoInstant,
                None,
                &waker,
                entry.as_ref(),
                &mut Wakes::new()
            ),
            0
        );
    }

    #[test]
    fn take_next_takes_up_to_the_limit_in_order() {
        let mut s = inline::<4>();
        let (_, waker) = counter();
        for req in 1..=3 {
            call(&mut s, req, &waker);
        }
        let mut taken = 0;
        let mut got = Vec::new();
        let next = s.take_next(
            NoInstant,
            None,
            2,
            &mut taken,
            &mut |req, _, _, _| got.push(req),
            &mut Wakes::new(),
        );
        assert!(matches!(next, Next::Done));
        assert_eq!(got, [1, 2]);
        let mut taken = 0;
        let next = s.take_next(
            NoInstant,
            None,
            5,
            &mut taken,
            &mut |req, _, _, _| got.push(req),
            &mut Wakes::new(),
        );
        assert!(
            matches!(next, Next::Done),
            "fewer than the limit is done too"
        );
        assert_eq!((taken, got), (1, std::vec![1, 2, 3]));
    }

    #[test]
    fn reply_wakes_the_caller_and_counts_once() {
        let mut s = inline::<1>();
        let (caller, waker) = counter();
        let ticket = call(&mut s, 4, &waker);
        take(&mut s);
        let mut wakes = Wakes::new();
        s.reply(ticket, 40, NoInstant, false, &mut wakes).unwrap();
        assert_eq!(woken(&caller), 0);
        drop(wakes);
        assert_eq!(woken(&caller), 1);
        assert_eq!(
            s.reply(ticket, 41, NoInstant, false, &mut Wakes::new()),
            Err(41)
        );
        assert_eq!(reply_of(&mut s, ticket), Poll::Ready(Ok(40)));
        assert_eq!(s.snapshot().replied, 1);
    }

    #[test]
    fn lose_gives_the_caller_lost() {
        let mut s = inline::<1>();
        let (caller, waker) = counter();
        let ticket = call(&mut s, 4, &waker);
        take(&mut s);
        s.lose(ticket, NoInstant, &mut Wakes::new());
        assert_eq!(woken(&caller), 1);
        s.lose(ticket, NoInstant, &mut Wakes::new());
        assert_eq!(reply_of(&mut s, ticket), Poll::Ready(Err(CallError::Lost)));
        assert_eq!(s.snapshot().lost, 1);
    }

    #[test]
    fn end_frees_the_slot_takes_the_request_out_and_tells_the_responder() {
        let mut s = inline::<2>();
        let entry = pin!(WaitEntry::new());
        let (_, waker) = counter();
        // Queued: its request leaves the ring with it.
        let queued = call(&mut s, 1, &waker);
        let ended = s
            .end(
                queued,
                Some(Outcome::Timeout),
                WithTiming,
                &mut Wakes::new(),
            )
            .unwrap();
        assert_eq!(ended.phase, Phase::Queued);
        assert_eq!(ended.removed, Some(1));
        assert!(s
            .end(
                queued,
                Some(Outcome::Timeout),
                WithTiming,
                &mut Wakes::new()
            )
            .is_none());
        // Taken: the responder waiting in `cancelled()` is woken.
        let taken = call(&mut s, 2, &waker);
        take(&mut s);
        let (responder, responder_waker) = counter();
        assert!(s
            .poll_cancelled(
                taken,
                may_wait(&responder_waker, entry.as_ref()).unwrap(),
                &mut Wakes::new()
            )
            .is_pending());
        assert!(!s.is_cancelled(taken));
        let ended = s
            .end(
                taken,
                Some(Outcome::Cancelled),
                WithTiming,
                &mut Wakes::new(),
            )
            .unwrap();
        assert_eq!(ended.phase, Phase::Taken);
        assert_eq!(woken(&responder), 1);
        assert!(s.is_cancelled(taken));
        assert_eq!(
            s.reply(taken, 20, NoInstant, false, &mut Wakes::new()),
            Err(20)
        );
        // Done: the result comes back, counted once, as it was decided.
        let done = call(&mut s, 3, &waker);
        take(&mut s);
        s.reply(done, 30, NoInstant, false, &mut Wakes::new())
            .unwrap();
        let ended = s
            .end(
                done,
                Some(Outcome::Cancelled),
                WithTiming,
                &mut Wakes::new(),
            )
            .unwrap();
        assert_eq!(ended.phase, Phase::Done);
        assert_eq!(ended.result.map(|r| r.map(|t| t.value)), Some(Ok(30)));
        let stats = s.snapshot();
        assert_eq!((stats.timeout, stats.cancelled, stats.replied), (1, 1, 1));
    }

    #[test]
    fn close_fail_ends_what_was_not_taken_and_drain_leaves_it_to_the_server() {
        let (_, waker) = counter();
        let mut s = inline::<3>();
        let taken = call(&mut s, 1, &waker);
        let queued = call(&mut s, 2, &waker);
        assert_eq!(take(&mut s).1, taken);
        let (server, server_waker) = counter();
        let server_entry = pin!(WaitEntry::new());
        // SAFETY: the entry is dropped before the state.
        unsafe {
            s.ring
                .register(&server_waker, server_entry.as_ref(), &mut Wakes::new())
        };
        assert_eq!(s.close(CloseMode::Fail, &mut Wakes::new()), 1);
        assert_eq!(woken(&server), 1);
        assert_eq!(
            reply_of(&mut s, queued),
            Poll::Ready(Err(CallError::Closed))
        );
        // The stale request is still in the ring: handed back to be dropped, then Closed.
        let mut n = 0;
        let next = take_ignoring(&mut s, &mut n);
        assert!(matches!(next, Next::Stale(2)));
        let next = take_ignoring(&mut s, &mut n);
        assert!(matches!(next, Next::Closed));
        // Work in progress finishes.
        s.reply(taken, 20, NoInstant, false, &mut Wakes::new())
            .unwrap();
        assert_eq!(s.snapshot().closed, 1);

        let mut s = inline::<3>();
        call(&mut s, 1, &waker);
        assert_eq!(s.close(CloseMode::Drain, &mut Wakes::new()), 0);
        assert_eq!(take(&mut s).0, 1, "drained");
        let next = take_ignoring(&mut s, &mut n);
        assert!(matches!(next, Next::Closed));
    }

    #[test]
    fn a_close_that_wakes_more_than_a_round_leaves_the_rest_for_wake_rest() {
        const N: usize = Wakes::CAPACITY + 5;
        let mut s = inline::<N>();
        let counters: Vec<_> = (0..N).map(|_| counter()).collect();
        for (req, (_, waker)) in counters.iter().enumerate() {
            call(&mut s, req as u32, waker);
        }
        let mut wakes = Wakes::new();
        assert_eq!(s.close(CloseMode::Fail, &mut wakes), N);
        let mut rounds = 1;
        while wakes.wake() {
            s.wake_rest(&mut wakes);
            rounds += 1;
        }
        assert_eq!(rounds, 2);
        assert!(counters.iter().all(|(count, _)| woken(count) == 1));
    }

    #[test]
    fn many_calls_start_in_one_event_and_collect_what_arrived() {
        let mut s = inline::<2>();
        let entry = pin!(WaitEntry::new());
        let (task, waker) = counter();
        let mut calls = [ManyCall::new(1), ManyCall::new(2), ManyCall::new(3)];
        let done = s.start_many(
            &mut calls,
            NoInstant,
            None,
            &waker,
            entry.as_ref(),
            &mut Wakes::new(),
        );
        assert_eq!(done, 2, "the third waits for a slot");
        let (first, second) = (take(&mut s), take(&mut s));
        let mut wakes = Wakes::new();
        s.reply(first.1, 10, NoInstant, false, &mut wakes).unwrap();
        s.reply(second.1, 20, NoInstant, false, &mut wakes).unwrap();
        assert_eq!(wakes.len(), 1, "two replies to one task wake it once");
        drop(wakes);
        assert_eq!(woken(&task), 1);
        assert!(!s.collect_many(&mut calls[..2], &waker, &mut Wakes::new()));
        assert_eq!(calls[0].outcome(), Some(&Ok(10)));
        assert_eq!(calls[1].outcome(), Some(&Ok(20)));
        assert!(calls[2].is_unsent());
    }

    #[test]
    fn forget_cancelled_replaces_the_tickets_of_callers_that_left() {
        let mut s = inline::<2>();
        let (_, waker) = counter();
        let stays = call(&mut s, 1, &waker);
        let leaves = call(&mut s, 2, &waker);
        take(&mut s);
        take(&mut s);
        s.end(
            leaves,
            Some(Outcome::Cancelled),
            WithTiming,
            &mut Wakes::new(),
        );
        let mut tickets = [stays, leaves];
        assert_eq!(s.forget_cancelled(&mut tickets), 1);
        assert_eq!(tickets, [stays, Ticket::NONE]);
        let refused = s.reply_many(
            &mut [(stays, 10), (Ticket::NONE, 20)].into_iter(),
            NoInstant,
            false,
            &mut Wakes::new(),
        );
        assert_eq!(refused, Some(20));
        assert_eq!(s.snapshot().replied, 1);
    }

    #[test]
    fn handles_are_counted_per_role() {
        let mut s = inline::<1>();
        s.attach(Role::Caller);
        s.attach(Role::Caller);
        s.attach(Role::Server);
        assert!(!s.detach(Role::Caller));
        assert!(s.detach(Role::Server));
        assert!(s.detach(Role::Caller));
    }
}
