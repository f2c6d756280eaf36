//! Many calls from one task: [`Caller::call_many`](crate::Caller::call_many) starts many
//! calls and waits for all of their outcomes, in one future.
//!
//! A plain call is one task per request: each call is woken and polled on its own, which
//! on executors such as smol or tokio is a large share of what a call costs. When one task
//! has several requests to make at once (the requests of a batch, say), `call_many` sends
//! them all from that task and wakes it once for as many replies as have arrived, so the
//! executor's cost is paid once for many calls rather than once per call. Each call is
//! still an ordinary call: it has its own reply slot, its own outcome, and is counted once
//! in the stats.
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() {
//! use std::sync::Arc;
//! use rsvp::batch::ManyCall;
//! use rsvp::lock::StdMutex;
//! use rsvp::rpc::With;
//! use rsvp::time::NoClock;
//! use rsvp::Rpc;
//!
//! let rpc: Arc<Rpc<u32, u32, 8, With<StdMutex, NoClock>>> = Arc::new(Rpc::new(NoClock));
//! let (caller, server) = Rpc::split(rpc);
//! let responder = std::thread::spawn(move || {
//!     futures_executor::block_on(async {
//!         while let Some((req, responder)) = server.recv().await {
//!             responder.reply(req * 10).unwrap();
//!         }
//!     })
//! });
//!
//! let mut calls = [ManyCall::new(1), ManyCall::new(2), ManyCall::new(3)];
//! let calls = futures_executor::block_on(caller.call_many(&mut calls));
//! let outcomes: Vec<_> = calls.iter_mut().map(|call| call.take_outcome()).collect();
//! assert_eq!(outcomes, [Some(Ok(10)), Some(Ok(20)), Some(Ok(30))]);
//!
//! drop(caller); // the last caller: the responder's `recv` ends
//! responder.join().unwrap();
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
//!
//! # Design
//!
//! Each [`ManyCall`] is one call's state, kept in the caller's own buffer (an array, a
//! `Vec` that is refilled, ...), so `call_many` allocates nothing:
//!
//! ```text
//!   Unsent { req }  --poll_start: sent-->  Sent { ticket }  --poll_reply: ready-->  Done { outcome }
//!        |       \--no slot / no queue room: stays, may hold a reserved ticket     ^
//!        +--closed, deadline--------------------------------------------------------+
//!   (dropped future: Unsent and Sent calls end as Empty, their slots freed)
//! ```
//!
//! - Calls are sent in buffer order; the first that must wait (no free slot, no queue
//!   room) holds back the ones after it, so one `call_many` takes slots in order and does
//!   not register its waker in several waiting lists at once.
//! - A call's waker is registered in its slot in the same lock that sends it, so a call
//!   sent in this poll is not asked for its reply until the task is woken.
//! - With the [`InlineQueue`](crate::queue::InlineQueue), the calls that can go at once are
//!   sent under one lock, and the replies that have arrived are read under one lock: the
//!   lock and the wake-up are paid once for many calls. Replies sent together (a batch's)
//!   wake the task once.
//! - Every call ends in exactly one outcome, counted once, by the same endpoint operations
//!   a [`CallFuture`](crate::CallFuture) uses.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{Endpoint, GiveUp, InstantOf, Started, TOKEN};
use crate::error::CallError;
use crate::reply::{Ticket, Value};
use crate::stats::Outcome;
use crate::time::{fired, Clock};
use crate::wait_list::WaitEntry;

type SleepOf<E> = <<E as Endpoint>::Clock as Clock>::Sleep;

/// One call of a [`call_many`](crate::Caller::call_many): the request before it is sent,
/// then its outcome.
///
/// Make one per request with [`new`](Self::new), in any buffer (an array, a `Vec` that is
/// cleared and refilled); read the outcomes from the same buffer once the `call_many`
/// completes. A call whose outcome is there, or was taken, is left alone by later ones.
pub struct ManyCall<Req, Resp> {
    /// `Some` until the request is handed to the queue.
    pub(super) req: Option<Req>,
    /// The call's reply slot, while it holds one and has no outcome.
    pub(super) ticket: Option<Ticket>,
    pub(super) outcome: Option<Result<Resp, CallError>>,
}

impl<Req, Resp> ManyCall<Req, Resp> {
    /// A call of `req`, not sent yet.
    pub const fn new(req: Req) -> Self {
        Self {
            req: Some(req),
            ticket: None,
            outcome: None,
        }
    }

    /// The call's outcome, once it has one: the reply, or why there is none.
    pub fn outcome(&self) -> Option<&Result<Resp, CallError>> {
        self.outcome.as_ref()
    }

    /// Takes the call's outcome out; `None` if it has none (not decided, already taken,
    /// or its `call_many` was dropped).
    pub fn take_outcome(&mut self) -> Option<Result<Resp, CallError>> {
        self.outcome.take()
    }

    /// The call's outcome; `None` if it has none.
    pub fn into_outcome(self) -> Option<Result<Resp, CallError>> {
        self.outcome
    }

    /// Whether the call is still to be sent (a `call_many` would send it).
    pub fn is_unsent(&self) -> bool {
        self.req.is_some()
    }

    /// Whether a `call_many` has anything to do for it: not sent yet, or waiting for its
    /// reply.
    fn is_open(&self) -> bool {
        self.req.is_some() || self.ticket.is_some()
    }
}

impl<Req, Resp> fmt::Debug for ManyCall<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (&self.req, &self.ticket, &self.outcome) {
            (Some(_), _, _) => "unsent",
            (None, Some(_), _) => "sent",
            (None, None, Some(Ok(_))) => "replied",
            (None, None, Some(Err(error))) => match error {
                CallError::Timeout => "timeout",
                CallError::Closed => "closed",
                CallError::Lost => "lost",
            },
            (None, None, None) => "empty",
        };
        f.debug_struct("ManyCall")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// Many calls in flight, made by [`Caller::call_many`](crate::Caller::call_many);
    /// resolves to the calls, each holding its outcome.
    ///
    /// It keeps its timer's sleep, and its place in line while a call waits for a free
    /// slot (or for room in a queue outside the endpoint), pinned inside itself, as a [`CallFuture`](crate::CallFuture) does: it is
    /// `!Unpin`.
    ///
    /// # Cancellation
    ///
    /// Dropping it ends every one of its calls that has no outcome yet, as dropping each
    /// call's [`CallFuture`](crate::CallFuture) would: a queued call frees its slot at
    /// once (the responder skips it), a call being worked on frees its slot and its
    /// responder sees it cancelled, and each is counted once as `Cancelled` (or as
    /// `Replied`, if its reply had arrived unread). Requests not sent yet are dropped, and
    /// counted as `Cancelled` if the future was polled (one never polled has made no call and
    /// counts nothing). Those calls are left with no outcome. Calls that had their outcome
    /// keep it.
    #[must_use = "futures do nothing unless polled"]
    pub struct CallManyFuture<'a, E>
    where
        E: Endpoint,
        E: ?Sized,
    {
        // Everything but the sleep and the entry; it ends the open calls when dropped.
        inner: ManyCalls<'a, E>,
        // Fires at the deadline; gone once the calls have completed.
        #[pin]
        sleep: Option<SleepOf<E>>,
        // The place in line of the call that waits (for a free slot, or for room in the
        // queue), if one does.
        #[pin]
        entry: WaitEntry,
    }

    impl<'a, E> PinnedDrop for CallManyFuture<'a, E>
    where
        E: Endpoint,
        E: ?Sized,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A call waiting: the future takes its place in line along, before its calls
            // end.
            let calls = this.inner.calls.take();
            this.inner
                .leave(calls.as_deref().unwrap_or_default(), this.entry.as_ref());
            this.inner.calls = calls;
        }
    }
}

/// A [`CallManyFuture`] but its sleep and its entry: nothing in it is pinned.
struct ManyCalls<'a, E: Endpoint + ?Sized> {
    rpc: &'a E,
    /// `None` once the calls have completed.
    calls: Option<&'a mut [ManyCall<E::Req, E::Resp>]>,
    started_at: InstantOf<E>,
    deadline: Option<InstantOf<E>>,
    /// Calls before this index have been sent (or ended, or were left alone).
    next: usize,
    /// No call before this index waits for its reply.
    first_open: usize,
    /// Whether the call at `next` may wait, with the future's entry in line: for a free
    /// slot, or, holding one, for room in the queue.
    waiting: bool,
    polled: bool,
}

impl<'a, E: Endpoint + ?Sized> CallManyFuture<'a, E> {
    pub(super) fn new(
        rpc: &'a E,
        calls: &'a mut [ManyCall<E::Req, E::Resp>],
        deadline: Option<InstantOf<E>>,
        sleep: Option<SleepOf<E>>,
    ) -> Self {
        let inner = ManyCalls {
            started_at: rpc.endpoint_clock(TOKEN).now(),
            rpc,
            calls: Some(calls),
            deadline,
            next: 0,
            first_open: 0,
            waiting: false,
            polled: false,
        };
        Self {
            inner,
            sleep,
            entry: WaitEntry::new(),
        }
    }

    /// The calls' deadline, if they have one.
    pub fn deadline(&self) -> Option<InstantOf<E>> {
        self.inner.deadline
    }
}

impl<'a, E: Endpoint + ?Sized> ManyCalls<'a, E> {
    /// Sends the calls from `next` on, in order, until one must wait, in line with `entry`.
    fn send(
        &mut self,
        cx: &mut Context<'_>,
        calls: &mut [ManyCall<E::Req, E::Resp>],
        entry: Pin<&WaitEntry>,
    ) {
        loop {
            // Those that can go at once, together; then the next one on its own, which may
            // wait, end, or find the slot it reserved closed.
            self.next += self.rpc.start_many(
                TOKEN,
                cx,
                &mut calls[self.next..],
                self.started_at,
                self.deadline,
                entry,
            );
            let Some(call) = calls.get_mut(self.next) else {
                self.waiting = false;
                return;
            };
            if call.req.is_some() {
                if self.waiting && call.ticket.is_some() {
                    // It waits for room in the queue: until there may be some.
                    // SAFETY: as for `poll_start` below.
                    if unsafe { self.rpc.poll_room(TOKEN, cx, entry) }.is_pending() {
                        return;
                    }
                    self.waiting = false;
                }
                // SAFETY: `entry` is pinned in the future, whose `PinnedDrop` takes it out
                // of the endpoint while `waiting` (set below when the call waits); so does
                // `time_out`, and the endpoint itself when the call starts or fails.
                let started = unsafe {
                    self.rpc.poll_start(
                        TOKEN,
                        cx,
                        &mut call.req,
                        &mut call.ticket,
                        entry,
                        self.started_at,
                        self.deadline,
                    )
                };
                self.waiting = started.is_pending();
                match started {
                    // Its waker is in its slot: it is asked for its reply once woken.
                    Poll::Ready(Ok(Started::Waiting)) => {}
                    // Closed while it held a reserved slot: the slot has its result.
                    Poll::Ready(Ok(Started::Decided)) => {
                        self.read_reply(cx, call);
                    }
                    Poll::Ready(Err(error)) => {
                        call.req = None;
                        call.ticket = None;
                        call.outcome = Some(Err(error));
                    }
                    Poll::Pending => return,
                }
            }
            self.next += 1;
        }
    }

    /// The call that waits, if one does, stops: the future's entry leaves its line (for a
    /// free slot, or, holding one, for room in the queue).
    fn leave(&mut self, calls: &[ManyCall<E::Req, E::Resp>], entry: Pin<&WaitEntry>) {
        if !self.waiting {
            return;
        }
        self.waiting = false;
        match calls
            .get(self.next)
            .is_some_and(|call| call.ticket.is_some())
        {
            true => self.rpc.leave_room(TOKEN, entry),
            false => self.rpc.leave(TOKEN, entry, None),
        }
    }

    /// Takes a sent call's reply if it has come; true if the call is still waiting.
    fn read_reply(&self, cx: &mut Context<'_>, call: &mut ManyCall<E::Req, E::Resp>) -> bool {
        let Some(ticket) = call.ticket else {
            return false;
        };
        match self.rpc.poll_reply(TOKEN, ticket, cx, Value) {
            Poll::Ready(result) => {
                call.ticket = None;
                call.outcome = Some(result);
                false
            }
            Poll::Pending => true,
        }
    }

    /// Ends every open call once the deadline passed, each with its own outcome: a
    /// reply that raced in wins over `Timeout`. A call waiting for a slot takes `entry`
    /// out of line.
    fn time_out(&mut self, calls: &mut [ManyCall<E::Req, E::Resp>], entry: Pin<&WaitEntry>) {
        self.leave(calls, entry);
        for call in calls.iter_mut().filter(|call| call.is_open()) {
            call.req = None;
            let outcome = match call.ticket.take() {
                Some(ticket) => self
                    .rpc
                    .give_up(TOKEN, ticket, GiveUp::Timeout, Value)
                    .unwrap_or(Err(CallError::Timeout)),
                None => {
                    self.rpc.record(TOKEN, Outcome::Timeout);
                    Err(CallError::Timeout)
                }
            };
            call.outcome = Some(outcome);
        }
    }
}

impl<'a, E: Endpoint + ?Sized> Future for CallManyFuture<'a, E> {
    type Output = &'a mut [ManyCall<E::Req, E::Resp>];

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let projected = self.project();
        let (this, mut sleep, entry) = (projected.inner, projected.sleep, projected.entry);
        this.polled = true;
        let calls = this
            .calls
            .take()
            .expect("CallManyFuture polled after it completed");
        // Replies first, so that the slots they free take the calls still to send. Calls
        // this poll sends are not asked: a reply cannot have come yet, and will wake us.
        let sent_before = this.next;
        let waiting = this.first_open < sent_before
            && this
                .rpc
                .collect_many(TOKEN, cx, &mut calls[this.first_open..sent_before]);
        while this.first_open < sent_before && !calls[this.first_open].is_open() {
            this.first_open += 1;
        }
        this.send(cx, calls, entry.as_ref());
        let done = this.next == calls.len()
            && !waiting
            && calls[sent_before..].iter().all(|call| !call.is_open());
        if done || fired(sleep.as_mut(), cx) {
            if !done {
                this.time_out(calls, entry.as_ref());
            }
            // The sleep (a timer entry on some runtimes) goes now, not when dropped.
            sleep.set(None);
            return Poll::Ready(calls);
        }
        this.calls = Some(calls);
        Poll::Pending
    }
}

impl<E: Endpoint + ?Sized> Drop for ManyCalls<'_, E> {
    // After the future's `PinnedDrop`, which took its entry out of line.
    fn drop(&mut self) {
        let Some(calls) = self.calls.take() else {
            return;
        };
        for call in calls.iter_mut() {
            match (call.ticket.take(), call.req.is_some()) {
                // Sent, or holding a reserved slot: free the slot; a reply that arrived
                // unread is dropped here.
                (Some(ticket), _) => drop(self.rpc.give_up(TOKEN, ticket, GiveUp::Dropped, Value)),
                (None, true) if self.polled => self.rpc.record(TOKEN, Outcome::Cancelled),
                // Never polled, it made no calls: its requests stay, unsent.
                (None, true) => continue,
                (None, false) => {}
            }
            call.req = None;
        }
    }
}

impl<E: Endpoint + ?Sized> fmt::Debug for CallManyFuture<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallManyFuture")
            .field("calls", &self.inner.calls.as_ref().map(|calls| calls.len()))
            .field("sent", &self.inner.next)
            .field("deadline", &self.inner.deadline)
            .finish_non_exhaustive()
    }
}
