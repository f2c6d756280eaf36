//! Reply slots: where a call's reply waits for its caller, reused without allocating.
//!
//! # Design
//!
//! An endpoint owns `N` slots. A call holds one slot from start to end; the request travels
//! through the queue with a [`Ticket`] (slot index + generation) instead of a reply
//! channel. Every slot moves through:
//!
//! ```text
//!            acquire                    take                 reply / lose
//!   Free ──────────────▶ Reserved ──▶ Queued ──────────▶ Taken ─────────────▶ Done
//!    ▲     (permit) ╰────────────────▶╯  │ close/no server      │                │
//!    │                                   ╰──────────────────────┼──▶ Done(Closed) │
//!    │    collect (the caller reads Done) or cancel (the caller gives up, any state)
//!    ╰──────────────────────────────────────────────────────────────────────────╯
//!                                 generation += 1
//! ```
//!
//! Invariants:
//!
//! - The caller owns the slot until it collects or cancels; only the caller frees it, so a
//!   slot is never reused while its caller may still look at it.
//! - Freeing bumps the generation. A responder or queued request holding an older ticket
//!   finds a generation mismatch: its request counts as cancelled, its late reply is handed
//!   back to it, and it cannot reach the slot's next caller. The generation is 63 bits and
//!   never wraps: a slot whose generation reaches `2⁶³ − 1` is retired instead of freed
//!   (after 2⁶³ calls on it, centuries at any speed), so no two calls ever share a ticket.
//! - `Done` holds exactly one result, written exactly once, so each call gets exactly one
//!   outcome.
//! - The free list is threaded through the free slots: acquire and free are O(1) and
//!   allocate nothing.
//! - With the inline queue a queued call's slot holds its request, and the queue is
//!   threaded through the queued slots, oldest first: enqueue and dequeue are O(1), a
//!   caller that gives up while queued unlinks its slot in O(queued calls). A `Fail`
//!   shutdown ends queued calls (`Closing`) but leaves their requests in line, to be
//!   dropped outside the lock; a slot whose caller has read its `Closed` (`Stale`) returns
//!   to the free list once its request has left.

use core::task::{Poll, Waker};
use core::time::Duration;

use crate::error::CallError;
use crate::time::{Instant, Stamp};
use crate::waker_set::{Home, Wakes};

/// Names a call's reply slot: its index and generation. Opaque; it travels through the
/// request queue inside an [`Envelope`](crate::queue::Envelope) instead of a reply channel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ticket {
    index: u16,
    generation: Generation,
}

/// A slot's 63-bit generation, as two 32-bit halves: 4-byte aligned, so that a [`Ticket`]
/// is 12 bytes rather than 16 (firmware keeps one per queued request and per call). The
/// top bit of `high` is not the generation's: a slot keeps its caller's [`ARMED`] flag
/// there (a byte of its own would cost 8 bytes per slot, for alignment).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Generation {
    low: u32,
    high: u32,
}

/// The flag a slot keeps in the top bit of its generation's `high` half: whether its
/// caller's waker waits for this call's result (only then does an event wake it). Never
/// set in a [`Ticket`].
const ARMED: u32 = 1 << 31;

impl Generation {
    const FIRST: Self = Self { low: 0, high: 0 };

    #[cfg(test)]
    const fn from_u64(n: u64) -> Self {
        Self {
            low: n as u32,
            high: (n >> 32) as u32,
        }
    }

    const fn to_u64(self) -> u64 {
        (self.high as u64) << 32 | self.low as u64
    }

    /// The next generation (without the [`ARMED`] flag); `None` after the last one,
    /// `2⁶³ − 1`.
    #[inline(always)]
    fn next(self) -> Option<Self> {
        // As one 64-bit number whose top bit is `ARMED`'s: cleared, then 1 added, it
        // carries into the top bit only past the last generation. (Half by half, with the
        // carry checked between, it took 4 instructions more per freed slot on x86-64.)
        const TOP: u64 = 1 << 63;
        let next = (self.to_u64() & !TOP) + 1;
        (next & TOP == 0).then_some(Self {
            low: next as u32,
            high: (next >> 32) as u32,
        })
    }

    /// Without the [`ARMED`] flag.
    #[inline(always)]
    fn clean(self) -> Self {
        Self {
            low: self.low,
            high: self.high & !ARMED,
        }
    }
}

impl Ticket {
    /// Names no slot (slot indices stay below `u16::MAX`): a placeholder for a call that
    /// has left a set.
    pub(crate) const NONE: Self = Self {
        index: NONE,
        generation: Generation::FIRST,
    };

    /// The slot it names.
    pub(crate) fn slot(self) -> u16 {
        self.index
    }

    /// The id of the call that holds this ticket, in an endpoint of `n` slots: the calls
    /// through slot `i` have ids `i`, `i + n`, `i + 2n`, ... in turn, so ids count up from 0
    /// while slots are fresh and no two calls of an endpoint share one (until a slot's
    /// generation passes `u64::MAX / n`: centuries at any speed for a few slots, and with
    /// 65,534 slots still months of one caller reusing one slot without a pause).
    pub(crate) fn id(self, n: usize) -> u64 {
        (self.generation.to_u64())
            .wrapping_mul(n as u64)
            .wrapping_add(u64::from(self.index))
    }
}

/// What a responder learns about a request when it takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestInfo<I> {
    /// The request's id, unique per endpoint: ids count up from 0 over the endpoint's
    /// fresh slots, and a reused slot gives the next id of its own (slot `i` of `n` gives
    /// `i`, `i + n`, `i + 2n`, ...).
    pub id: u64,
    /// When the caller started the call; `None` if the endpoint keeps no such times (its
    /// [kind](crate::rpc::Kind)'s [`Times`](crate::time::Times) are
    /// [`Unstamped`](crate::time::Unstamped)).
    pub started_at: Option<I>,
    /// When the caller stops waiting, if it set a deadline.
    pub deadline: Option<I>,
}

/// A reply with its timing: the Go seed's `TimedResponse`.
///
/// All instants come from the endpoint's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timed<T, I> {
    /// The reply.
    pub value: T,
    /// The request's id.
    pub id: u64,
    /// When the caller started the call.
    pub started_at: I,
    /// When a responder took the request.
    pub taken_at: I,
    /// When the responder replied (the seed's `Timestamp`).
    pub completed_at: I,
}

impl<T, I: Instant> Timed<T, I> {
    /// How long the responder worked on it, from taking the request to replying (the
    /// seed's `Duration`).
    pub fn elapsed(&self) -> Duration {
        self.completed_at.saturating_duration_since(self.taken_at)
    }

    /// The whole round trip as the caller saw it: start of the call to the reply, queueing
    /// included.
    pub fn latency(&self) -> Duration {
        self.completed_at.saturating_duration_since(self.started_at)
    }

    /// Time spent in the queue before a responder took the request.
    pub fn queued(&self) -> Duration {
        self.taken_at.saturating_duration_since(self.started_at)
    }
}

/// How a call ended, as its caller learns it.
pub(crate) type CallResult<Resp, I> = Result<Timed<Resp, I>, CallError>;

/// How a caller reads its call's reply, whose times are stamped `S`: the value alone
/// ([`Value`]), or with its timing ([`WithTiming`], when the endpoint stamps instants). The
/// reply is read as it leaves its slot, under the endpoint's lock, so that a plain call
/// never builds (and copies) a [`Timed`] only to drop its timing. rsvp's internals.
pub trait ReplyAs<Resp, S>: Copy {
    /// What the caller gets.
    type Out;
    /// Reads the reply `value` of the call `id`.
    fn read(self, value: Resp, id: u64, started_at: S, taken_at: S, completed_at: S) -> Self::Out;
}

/// The reply's value alone. rsvp's internals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Value;

impl<Resp, S> ReplyAs<Resp, S> for Value {
    type Out = Resp;
    #[inline(always)]
    fn read(self, value: Resp, _: u64, _: S, _: S, _: S) -> Resp {
        value
    }
}

/// The reply with its timing: a [`Timed`]. rsvp's internals.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WithTiming;

impl<Resp, I: Instant> ReplyAs<Resp, I> for WithTiming {
    type Out = Timed<Resp, I>;
    #[inline(always)]
    fn read(self, value: Resp, id: u64, started_at: I, taken_at: I, completed_at: I) -> Self::Out {
        Timed {
            value,
            id,
            started_at,
            taken_at,
            completed_at,
        }
    }
}

/// A call its caller ended: the phase it was in, the result that had arrived, if any, and
/// its request, if it was still in the inline queue.
pub(crate) type Cancelled<T, Q> = (Phase, Option<Result<T, CallError>>, Option<Q>);

/// What [`Slots::dequeue`] found at the front of the inline queue.
pub(crate) enum Dequeued<Q, I> {
    /// A request, now taken: its ticket, what the responder learns, and an instant no
    /// later than its arrival, if known ([`Stamp::arrived_by`]).
    Request(Q, Ticket, RequestInfo<I>, Option<I>),
    /// The request of a call a shutdown ended: to be dropped outside the lock.
    Stale(Q),
    /// Nothing is queued.
    Empty,
}

/// Where a call was when its caller gave up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    Reserved,
    /// Reserved, and shut down since: `Closed` if a call held it, nothing for a permit.
    Shut,
    Queued,
    Taken,
    Done,
}

// `repr(u8)` with `Free` first: a new pool is all zero bytes (the free-list links count
// from 1 too), so that a `static` endpoint is zero-initialised (`.bss`), not copied from
// flash (`.data`). Each phase holds only what it needs, so that a slot is as large as its
// largest phase: for `u32` replies and 8-byte instants, 32 bytes (a reply with its three
// instants; a taken call with its two and its deadline). With `repr(u8)` each phase's
// fields follow the tag in the order written: the deadline's flag (`Option<I>` would
// take 8 bytes more) sits right beside it.
#[repr(u8)]
enum State<Resp, I, S, Q> {
    Free {
        next: u16,
    },
    Reserved,
    /// A reserved slot a `CloseMode::Fail` shutdown ended. Its outcome, `Closed`, is counted
    /// only when a call turns out to hold it (sends from it, or gives it up): an unused
    /// permit is no call, so nothing is counted for it.
    Shut,
    Queued {
        /// Whether `deadline` is one (otherwise it is any instant).
        bounded: bool,
        /// The next queued slot, as a [link](link) (`END`: none), with the inline queue.
        next: u16,
        /// The request, with the inline queue (`()` with a queue outside the lock).
        req: Q,
        started_at: S,
        deadline: I,
    },
    Taken {
        bounded: bool,
        started_at: S,
        taken_at: S,
        deadline: I,
    },
    /// The call's reply (a `Timed` is made when the caller reads it).
    Replied {
        value: Resp,
        started_at: S,
        taken_at: S,
        completed_at: S,
    },
    /// The call's error.
    Failed(CallError),
    /// A queued call a `CloseMode::Fail` shutdown ended with `Closed` (as `Failed` to its
    /// caller), whose request is still in the inline queue, to be dropped outside the lock.
    Closing {
        next: u16,
        req: Q,
    },
    /// A `Closing` call whose caller read its outcome and left (the generation moved on):
    /// the slot is free once its request leaves the queue.
    Stale {
        retired: bool,
        next: u16,
        req: Q,
    },
}

/// A deadline as a [`State`] keeps it: a flag, and an instant (the call's start when none).
#[inline(always)]
fn pack<I: Copy>(deadline: Option<I>, started_at: I) -> (bool, I) {
    (deadline.is_some(), deadline.unwrap_or(started_at))
}

/// The deadline a [`State`] keeps as a flag and an instant.
#[inline(always)]
fn unpack<I>(bounded: bool, deadline: I) -> Option<I> {
    bounded.then_some(deadline)
}

impl<Resp, I: Copy, S: Stamp<I>, Q> State<Resp, I, S, Q> {
    /// A call of `req` queued at `started_at`, waiting until `deadline`.
    #[inline(always)]
    fn queued(req: Q, started_at: I, deadline: Option<I>) -> Self {
        let (bounded, deadline) = pack(deadline, started_at);
        Self::Queued {
            bounded,
            next: END,
            req,
            started_at: S::stamp(started_at),
            deadline,
        }
    }

    /// Whether the call's result is there (`Closing` reads as `Closed`).
    fn is_done(&self) -> bool {
        matches!(
            self,
            Self::Replied { .. } | Self::Failed(_) | Self::Closing { .. }
        )
    }

    /// The next queued slot's link, for a slot in the inline queue.
    fn next_mut(&mut self) -> &mut u16 {
        match self {
            Self::Queued { next, .. } | Self::Closing { next, .. } | Self::Stale { next, .. } => {
                next
            }
            _ => unreachable!("reply slots: the queue holds only queued slots"),
        }
    }

    /// The call's result as its caller reads it (`id` is the call's), if the state holds
    /// one.
    #[inline]
    fn into_result<R: ReplyAs<Resp, S>>(
        self,
        id: u64,
        read: R,
    ) -> Option<Result<R::Out, CallError>> {
        match self {
            Self::Replied {
                value,
                started_at,
                taken_at,
                completed_at,
            } => Some(Ok(read.read(value, id, started_at, taken_at, completed_at))),
            Self::Failed(error) => Some(Err(error)),
            Self::Closing { .. } => Some(Err(CallError::Closed)),
            _ => None,
        }
    }
}

/// What became of a responder's answer ([`Slots::reply`], [`Slots::lose`]).
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Answer<T, S> {
    /// Delivered; for a reply, with its call's start (its [`Stamp`]).
    Delivered(S),
    /// The caller's deadline had passed: the call ended with `Timeout` instead, and the
    /// answer comes back.
    Late(T),
    /// The caller is gone: the answer comes back.
    Gone(T),
}

struct Slot<Resp, I, S, Q> {
    /// Its generation, and whether `caller` waits for this call's result ([`ARMED`]).
    generation: Generation,
    state: State<Resp, I, S, Q>,
    /// The caller's waker. It stays across reuses of the slot (a caller that calls again
    /// usually gets the same slot back), so a call re-arms it instead of cloning it.
    caller: Option<Waker>,
}

/// The pool of `N` reply slots (`1 <= N <= 65535`).
pub(crate) struct Slots<Resp, I, S: Stamp<I>, Q, const N: usize> {
    slots: [Slot<Resp, I, S, Q>; N],
    /// The inline queue: the queued slots, oldest first, linked through their states, as
    /// [links](link) (`END`: empty). Empty with a queue outside the lock.
    head: u16,
    tail: u16,
    /// What dates the inline queue's requests when their calls keep no start
    /// ([`Stamp::Backlog`]).
    backlog: S::Backlog,
    /// Head of the list of freed slots, as a [link](link): `END` when it is empty.
    free: u16,
    /// Slots from here on were never used (and are not on the free list).
    fresh: u16,
}

/// Names no slot in a [`Ticket`] (slot indices stay below `u16::MAX`).
const NONE: u16 = u16::MAX;

/// The end of the free list. Links name slot `i` as `i + 1`, so that an empty list is 0.
const END: u16 = 0;

/// The free-list link to slot `index`.
const fn link(index: u16) -> u16 {
    index + 1
}

/// What a new call takes a slot for.
#[derive(Debug)]
pub(crate) enum Acquire<'w, Q> {
    /// A permit: the slot waits for its request (`Reserved`).
    Reserve,
    /// A call whose request is queued now (`Queued`), holding it (with the inline queue);
    /// with a waker, its caller waits for the call's result from now on, as after
    /// [`Slots::watch`].
    Send(Option<&'w Waker>, Q),
}

/// How many calls are in each phase.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Occupancy {
    pub(crate) queued: usize,
    pub(crate) taken: usize,
    pub(crate) in_use: usize,
}

#[cfg(test)]
impl<T, I> Answer<T, I> {
    /// The call's start, for a delivered answer.
    fn unwrap(self) -> I {
        match self {
            Self::Delivered(started_at) => started_at,
            _ => panic!("the answer was not delivered"),
        }
    }
}

impl<Resp, I: Instant, S, Q> Slot<Resp, I, S, Q> {
    /// Whether the taken call of this slot (`index`) is past its deadline at `now`: it then
    /// ends here with `Timeout`, and its caller is woken.
    #[inline(always)]
    fn late(&mut self, deadline: Option<I>, index: u16, now: I, wakes: &mut Wakes) -> bool {
        let Some(deadline) = deadline else {
            return false;
        };
        if !passed(deadline, now) {
            return false;
        }
        self.state = State::Failed(CallError::Timeout);
        self.lend_caller(index, wakes);
        true
    }
}

/// Whether `deadline` has passed at `now`. Out of line, with nothing of the event's state
/// handed to it, so that calls without a deadline do not pay for it (given the event's
/// `Wakes`, it cost about 50 instructions per round trip, S1 on `mini`, without ever
/// running).
#[inline(never)]
fn passed<I: Instant>(deadline: I, now: I) -> bool {
    now >= deadline
}

impl<Resp, I, S, Q> Slot<Resp, I, S, Q> {
    /// Whether `caller` waits for this call's result.
    #[inline(always)]
    fn armed(&self) -> bool {
        self.generation.high & ARMED != 0
    }

    #[inline(always)]
    fn disarm(&mut self) {
        self.generation.high &= !ARMED;
    }

    #[inline(always)]
    fn watch(&mut self, waker: &Waker, wakes: &mut Wakes) {
        wakes.store(&mut self.caller, waker);
        self.generation.high |= ARMED;
    }

    /// Puts the caller's waker into `wakes` if it waits for this call (a clone: its waker
    /// stays for reuse). If `wakes` is full it stays armed, for the next round.
    fn wake_caller(&mut self, wakes: &mut Wakes) {
        if self.armed() {
            if let Some(w) = &self.caller {
                if !wakes.push(w) {
                    return;
                }
            }
            self.disarm();
        }
    }

    /// [`wake_caller`](Self::wake_caller) for the one call an event answers (a reply, a
    /// lost call): its waker is lent ([`Wakes::lend`]), and comes back to slot `index`
    /// once woken.
    #[inline(always)]
    fn lend_caller(&mut self, index: u16, wakes: &mut Wakes) {
        if self.armed() && wakes.lend(&mut self.caller, Home::Slot(index)) {
            self.disarm();
        }
    }
}

impl<Resp, I: Instant, S: Stamp<I>, Q, const N: usize> Slots<Resp, I, S, Q, N> {
    pub(crate) const fn new() -> Self {
        const {
            assert!(N > 0, "an endpoint needs at least 1 reply slot");
            assert!(
                N < u16::MAX as usize,
                "an endpoint has at most 65534 reply slots"
            );
        };
        Self {
            slots: [const {
                Slot {
                    generation: Generation::FIRST,
                    state: State::Free { next: END },
                    caller: None,
                }
            }; N],
            head: END,
            tail: END,
            backlog: S::NO_BACKLOG,
            free: END,
            fresh: 0,
        }
    }

    fn get(&mut self, ticket: Ticket) -> Option<&mut Slot<Resp, I, S, Q>> {
        let slot = self.slots.get_mut(usize::from(ticket.index))?;
        (slot.generation.clean() == ticket.generation).then_some(slot)
    }

    /// Takes a free slot for a new call; when all `N` are in use, `how` comes back.
    #[inline]
    pub(crate) fn acquire<'w>(
        &mut self,
        now: I,
        deadline: Option<I>,
        how: Acquire<'w, Q>,
        wakes: &mut Wakes,
    ) -> Result<Ticket, Acquire<'w, Q>> {
        let index = if self.free != END {
            self.free - 1
        } else if usize::from(self.fresh) < N {
            self.fresh += 1;
            self.fresh - 1
        } else {
            return Err(how);
        };
        let slot = &mut self.slots[usize::from(index)];
        let State::Free { next } = slot.state else {
            unreachable!("reply slots: the free list holds only free slots")
        };
        if link(index) == self.free {
            self.free = next;
        }
        slot.state = match how {
            Acquire::Reserve => State::Reserved,
            Acquire::Send(waker, req) => {
                if let Some(waker) = waker {
                    slot.watch(waker, wakes);
                }
                State::queued(req, now, deadline)
            }
        };
        Ok(Ticket {
            index,
            generation: slot.generation.clean(),
        })
    }

    /// Puts the queued call of slot `index`, made at `now`, at the back of the inline
    /// queue.
    #[inline(always)]
    pub(crate) fn enqueue(&mut self, index: u16, now: I) {
        S::queued(&mut self.backlog, self.head == END, now);
        match self.tail {
            END => self.head = link(index),
            tail => *self.slots[usize::from(tail - 1)].state.next_mut() = link(index),
        }
        self.tail = link(index);
    }

    /// Whether the inline queue holds a request.
    pub(crate) fn has_queued(&self) -> bool {
        self.head != END
    }

    /// Takes the request at the front of the inline queue at `now`: `Queued -> Taken`, and
    /// the request; or a request whose call ended (`Closing -> Failed(Closed)`, `Stale ->
    /// Free`), to be dropped outside the lock.
    #[inline]
    pub(crate) fn dequeue(&mut self, now: I) -> Dequeued<Q, I> {
        self.dequeue_with(|| now)
    }

    #[inline(always)]
    fn dequeue_with(&mut self, now: impl FnOnce() -> I) -> Dequeued<Q, I> {
        let backlog = self.backlog;
        let index = match self.head {
            END => return Dequeued::Empty,
            head => head - 1,
        };
        let slot = &mut self.slots[usize::from(index)];
        let next = *slot.state.next_mut();
        self.head = next;
        if next == END {
            self.tail = END;
        }
        match core::mem::replace(&mut slot.state, State::Reserved) {
            State::Queued {
                bounded,
                req,
                started_at,
                deadline,
                ..
            } => {
                slot.state = State::Taken {
                    bounded,
                    started_at,
                    taken_at: S::stamp(now()),
                    deadline,
                };
                let ticket = Ticket {
                    index,
                    generation: slot.generation.clean(),
                };
                let info = RequestInfo {
                    id: ticket.id(N),
                    started_at: started_at.instant(),
                    deadline: unpack(bounded, deadline),
                };
                Dequeued::Request(req, ticket, info, started_at.arrived_by(backlog))
            }
            State::Closing { req, .. } => {
                slot.state = State::Failed(CallError::Closed);
                Dequeued::Stale(req)
            }
            State::Stale { retired, req, .. } => {
                if retired {
                    slot.state = State::Free { next: END };
                } else {
                    slot.state = State::Free { next: self.free };
                    self.free = link(index);
                }
                Dequeued::Stale(req)
            }
            _ => unreachable!("reply slots: the queue holds only queued slots"),
        }
    }

    /// The request at the front of the inline queue if its call has ended (after a `Fail`
    /// shutdown), as [`dequeue`](Self::dequeue) takes it; `None` otherwise.
    pub(crate) fn dequeue_ended(&mut self) -> Option<Q> {
        let head = self.slots.get(usize::from(self.head.checked_sub(1)?))?;
        match head.state {
            State::Closing { .. } | State::Stale { .. } => {}
            _ => return None,
        }
        match self.dequeue_with(|| unreachable!("an ended call")) {
            Dequeued::Stale(req) => Some(req),
            _ => None,
        }
    }

    /// Takes slot `index` out of the inline queue, if it is in it. O(queued calls).
    fn unlink(&mut self, index: u16) {
        let mut at = self.head;
        let mut before = END;
        while at != END {
            if at == link(index) {
                let next = *self.slots[usize::from(index)].state.next_mut();
                match before {
                    END => self.head = next,
                    before => *self.slots[usize::from(before - 1)].state.next_mut() = next,
                }
                if self.tail == at {
                    self.tail = before;
                }
                return;
            }
            before = at;
            at = *self.slots[usize::from(at - 1)].state.next_mut();
        }
    }

    /// A reserved slot's request `req` is being sent: `Reserved -> Queued`, for a call that
    /// started at `started_at`. `req` comes back if the slot is no longer reserved (the
    /// endpoint closed meanwhile), in which case its result is waiting.
    pub(crate) fn send(
        &mut self,
        ticket: Ticket,
        req: Q,
        started_at: I,
        deadline: Option<I>,
    ) -> Result<(), Q> {
        match self.get(ticket) {
            Some(slot) if matches!(slot.state, State::Reserved) => {
                slot.state = State::queued(req, started_at, deadline);
                Ok(())
            }
            _ => Err(req),
        }
    }

    /// The queue refused the request that `send` (or `acquire`) marked as queued:
    /// `Queued -> Reserved`, so the call keeps its slot while it waits for room. A slot
    /// that was closed meanwhile keeps its `Closed` result.
    pub(crate) fn unsend(&mut self, ticket: Ticket) {
        if let Some(slot) = self.get(ticket) {
            if matches!(slot.state, State::Queued { .. }) {
                slot.state = State::Reserved;
            }
        }
    }

    /// A responder takes a queued request: `Queued -> Taken`. `None` if the request is stale
    /// (its caller gave up, or the endpoint closed, while it was queued).
    pub(crate) fn take(&mut self, ticket: Ticket, now: I) -> Option<RequestInfo<I>> {
        let slot = self.get(ticket)?;
        let State::Queued {
            bounded,
            started_at,
            deadline,
            ..
        } = slot.state
        else {
            return None;
        };
        slot.state = State::Taken {
            bounded,
            started_at,
            taken_at: S::stamp(now),
            deadline,
        };
        Some(RequestInfo {
            id: ticket.id(N),
            started_at: started_at.instant(),
            deadline: unpack(bounded, deadline),
        })
    }

    /// The responder's reply at `now`: `Taken -> Done(Ok)`, or `Done(Timeout)` if the
    /// caller's deadline has passed (the caller's deadline decides, not when it is polled).
    #[inline(always)]
    pub(crate) fn reply(
        &mut self,
        ticket: Ticket,
        value: Resp,
        now: I,
        wakes: &mut Wakes,
    ) -> Answer<Resp, S> {
        let Some(slot) = self.get(ticket) else {
            return Answer::Gone(value);
        };
        let State::Taken {
            bounded,
            started_at,
            taken_at,
            deadline,
        } = slot.state
        else {
            return Answer::Gone(value);
        };
        if slot.late(unpack(bounded, deadline), ticket.index, now, wakes) {
            return Answer::Late(value);
        }
        slot.state = State::Replied {
            value,
            started_at,
            taken_at,
            completed_at: S::stamp(now),
        };
        slot.lend_caller(ticket.index, wakes);
        Answer::Delivered(started_at)
    }

    /// The responder dropped its handle without replying at `now`: `Taken -> Done(Lost)`,
    /// or `Done(Timeout)` if the caller's deadline has passed.
    pub(crate) fn lose(&mut self, ticket: Ticket, now: I, wakes: &mut Wakes) -> Answer<(), ()> {
        let Some(slot) = self.get(ticket) else {
            return Answer::Gone(());
        };
        let State::Taken {
            bounded, deadline, ..
        } = slot.state
        else {
            return Answer::Gone(());
        };
        if slot.late(unpack(bounded, deadline), ticket.index, now, wakes) {
            return Answer::Late(());
        }
        slot.state = State::Failed(CallError::Lost);
        slot.lend_caller(ticket.index, wakes);
        Answer::Delivered(())
    }

    /// Whether the caller behind `ticket` stopped waiting (gave up, or was already answered).
    pub(crate) fn is_cancelled(&mut self, ticket: Ticket) -> bool {
        !matches!(
            self.get(ticket).map(|s| &s.state),
            Some(State::Taken { .. })
        )
    }

    /// The caller of `ticket` waits for its result from now on: the next event of its call
    /// wakes `waker`. Lets a call that has just been sent wait without asking for its result
    /// again (nothing can have arrived before its request was queued).
    pub(crate) fn watch(&mut self, ticket: Ticket, waker: &Waker, wakes: &mut Wakes) {
        if let Some(slot) = self.get(ticket) {
            slot.watch(waker, wakes);
        }
    }

    /// The caller asks for its result, read as `read` says. On `Ready` the slot is freed.
    #[inline]
    pub(crate) fn poll_reply<R: ReplyAs<Resp, S>>(
        &mut self,
        ticket: Ticket,
        waker: &Waker,
        wakes: &mut Wakes,
        read: R,
    ) -> Poll<Result<R::Out, CallError>> {
        let Some(slot) = self.get(ticket) else {
            // Only the caller frees its slot, and it stops polling once it has: unreachable
            // through the public API, and still an outcome rather than a hang.
            return Poll::Ready(Err(CallError::Lost));
        };
        if !slot.state.is_done() {
            slot.watch(waker, wakes);
            return Poll::Pending;
        }
        let result = self.free(ticket.index).into_result(ticket.id(N), read);
        Poll::Ready(result.expect("the slot was done"))
    }

    /// The caller gives up (timeout, or its future was dropped). Frees the slot whatever its
    /// phase (a `Queued` or `Closing` one is first taken out of the inline queue; a `Stale`
    /// one has no caller left: `None`), and returns the phase it was in, the result if one
    /// had already arrived, and the request if it was still in the inline queue.
    pub(crate) fn cancel<R: ReplyAs<Resp, S>>(
        &mut self,
        ticket: Ticket,
        read: R,
    ) -> Option<Cancelled<R::Out, Q>> {
        let slot = self.get(ticket)?;
        let phase = match &slot.state {
            State::Free { .. } | State::Stale { .. } => return None,
            State::Reserved => Phase::Reserved,
            State::Shut => Phase::Shut,
            State::Queued { .. } => Phase::Queued,
            State::Taken { .. } => Phase::Taken,
            State::Replied { .. } | State::Failed(_) | State::Closing { .. } => Phase::Done,
        };
        let mut removed = None;
        if matches!(slot.state, State::Queued { .. } | State::Closing { .. }) {
            // Out of the inline queue, if it is in it, with its request.
            self.unlink(ticket.index);
            let slot = &mut self.slots[usize::from(ticket.index)];
            removed = match core::mem::replace(&mut slot.state, State::Reserved) {
                State::Queued { req, .. } => Some(req),
                State::Closing { req, .. } => {
                    slot.state = State::Failed(CallError::Closed);
                    Some(req)
                }
                _ => unreachable!(),
            };
        }
        let result = self.free(ticket.index).into_result(ticket.id(N), read);
        Some((phase, result, removed))
    }

    /// A call is sent from a reserved slot after a shutdown: `Reserved` (a `Drain`
    /// shutdown) or `Shut` (`Fail`) `-> Done(Closed)`; true if so, and the call's `Closed`
    /// is to be counted now.
    pub(crate) fn close_reserved(&mut self, ticket: Ticket) -> bool {
        match self.get(ticket) {
            Some(slot) if matches!(slot.state, State::Reserved | State::Shut) => {
                slot.state = State::Failed(CallError::Closed);
                true
            }
            _ => false,
        }
    }

    /// Shutdown: every call not yet taken ends with `Closed`: the queued ones now (returns
    /// how many), the reserved slots (permits, calls waiting for queue room) once a call
    /// turns out to hold them (`Shut`).
    /// With the inline queue (`inline`), a queued call's request stays in it (`Closing`), to
    /// be dropped outside the lock when [`dequeue`](Self::dequeue)d.
    pub(crate) fn close_pending(&mut self, inline: bool, wakes: &mut Wakes) -> usize {
        let mut closed = 0;
        for slot in &mut self.slots {
            match core::mem::replace(&mut slot.state, State::Shut) {
                State::Queued { next, req, .. } => {
                    slot.state = match inline {
                        true => State::Closing { next, req },
                        false => State::Failed(CallError::Closed),
                    };
                    closed += 1;
                }
                State::Reserved => {}
                other => {
                    slot.state = other;
                    continue;
                }
            }
            slot.wake_caller(wakes);
        }
        closed
    }

    /// The callers an event could not fit into its [`Wakes`]: those whose result waits.
    /// O(N); only after an event that woke more than a round holds.
    pub(crate) fn wake_rest(&mut self, wakes: &mut Wakes) {
        for slot in &mut self.slots {
            if slot.state.is_done() || matches!(slot.state, State::Shut) {
                slot.wake_caller(wakes);
            }
        }
    }

    /// Takes back the caller's waker of slot `index`, lent to wake it ([`Wakes::lend`]):
    /// kept for reuse, unless the slot has a waker again.
    ///
    /// Runs no code of others and never panics (`StateLock` hands wakers back without its
    /// busy mark): an index out of range, which no lent waker has, hands the waker back.
    #[inline(always)]
    pub(crate) fn put_back(&mut self, index: u16, waker: Waker) -> Option<Waker> {
        match self.slots.get_mut(usize::from(index)) {
            Some(Slot {
                caller: caller @ None,
                ..
            }) => {
                *caller = Some(waker);
                None
            }
            _ => Some(waker),
        }
    }

    /// How many calls are queued, being worked on, and holding a slot. O(N).
    pub(crate) fn occupancy(&self) -> Occupancy {
        let mut o = Occupancy::default();
        for slot in &self.slots {
            match slot.state {
                State::Free { .. } => continue,
                State::Queued { .. } => o.queued += 1,
                State::Taken { .. } => o.taken += 1,
                State::Reserved
                | State::Shut
                | State::Replied { .. }
                | State::Failed(_)
                | State::Closing { .. }
                | State::Stale { .. } => {}
            }
            o.in_use += 1;
        }
        o
    }

    /// Whether a slot is free.
    #[cfg(test)]
    pub(crate) fn has_free(&self) -> bool {
        self.free != END || usize::from(self.fresh) < N
    }

    /// Frees slot `index` for its next call (its generation moves on) and returns its
    /// state. A `Closing` slot (a caller that read its `Closed`) becomes `Stale` instead,
    /// until its request leaves the inline queue.
    fn free(&mut self, index: u16) -> State<Resp, I, S, Q> {
        let slot = &mut self.slots[usize::from(index)];
        slot.disarm();
        let next = slot.generation.next();
        if let State::Closing { .. } = slot.state {
            let State::Closing { next: link, req } =
                core::mem::replace(&mut slot.state, State::Shut)
            else {
                unreachable!()
            };
            // Retired once its request leaves, as below, if it was at the last generation.
            let retired = next.is_none();
            slot.generation = next.unwrap_or(slot.generation);
            slot.state = State::Stale {
                retired,
                next: link,
                req,
            };
            return State::Failed(CallError::Closed);
        }
        let Some(next) = next else {
            // Retired: a next generation would repeat an old one. Free but never listed,
            // so the slot is never handed out again.
            return core::mem::replace(&mut slot.state, State::Free { next: END });
        };
        slot.generation = next;
        let old = core::mem::replace(&mut slot.state, State::Free { next: self.free });
        self.free = link(index);
        old
    }

    /// Starts every slot's generation at `generation`, to test what happens near the limit.
    #[cfg(test)]
    pub(crate) fn set_generations(&mut self, generation: u64) {
        for slot in &mut self.slots {
            slot.generation = Generation::from_u64(generation);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::time::{NoInstant, NoStamp};
    use futures_util::task::noop_waker;

    type Pool<const N: usize> = Slots<u32, NoInstant, NoInstant, (), N>;

    /// The last generation, `2⁶³ − 1`.
    const LAST: u64 = u64::MAX >> 1;

    fn acquire<const N: usize>(p: &mut Pool<N>) -> Ticket {
        p.acquire(NoInstant, None, Acquire::Send(None, ()), &mut Wakes::new())
            .expect("a free slot")
    }

    /// `reply` as the endpoint makes it (`StateLock::lock_lend`): the lent waker woken by
    /// reference, then given back to its slot.
    #[cfg(feature = "std")]
    fn reply_lending<const N: usize>(p: &mut Pool<N>, ticket: Ticket, value: u32) {
        let mut wakes = Wakes::new();
        p.reply(ticket, value, NoInstant, &mut wakes).unwrap();
        if let Some((waker, Home::Slot(index))) = wakes.take_lent() {
            waker.wake_by_ref();
            assert!(p.put_back(index, waker).is_none(), "taken back");
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn a_reused_slot_keeps_its_callers_waker_but_wakes_it_only_for_its_own_call() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut p = Pool::<1>::new();

        let first = acquire(&mut p);
        assert!(p
            .poll_reply(first, &waker, &mut Wakes::new(), WithTiming)
            .is_pending());
        p.take(first, NoInstant).unwrap();
        reply_lending(&mut p, first, 10);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the waiting caller is woken"
        );
        assert!(p
            .poll_reply(first, &waker, &mut Wakes::new(), WithTiming)
            .is_ready());
        let clones = Arc::strong_count(&count);

        // The next call on the slot re-arms the same waker: no clone.
        let second = acquire(&mut p);
        assert!(p
            .poll_reply(second, &waker, &mut Wakes::new(), WithTiming)
            .is_pending());
        assert_eq!(Arc::strong_count(&count), clones, "re-armed, not cloned");
        p.take(second, NoInstant).unwrap();
        reply_lending(&mut p, second, 20);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(p
            .poll_reply(second, &waker, &mut Wakes::new(), WithTiming)
            .is_ready());

        // A call that never waited (sent, not polled) must not wake the previous caller.
        let third = acquire(&mut p);
        p.take(third, NoInstant).unwrap();
        reply_lending(&mut p, third, 30);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "no wake-up for a caller that did not wait"
        );
    }

    #[test]
    fn a_lent_waker_goes_back_only_to_a_slot_without_one() {
        let (first, second) = (noop_waker(), noop_waker());
        let mut p = Pool::<1>::new();
        let call = acquire(&mut p);
        assert!(p
            .poll_reply(call, &first, &mut Wakes::new(), WithTiming)
            .is_pending());
        p.take(call, NoInstant).unwrap();
        let mut wakes = Wakes::new();
        p.reply(call, 10, NoInstant, &mut wakes).unwrap();
        let (lent, home) = wakes.take_lent().expect("the caller's waker, lent");
        assert_eq!(home, Home::Slot(0));
        let Home::Slot(home) = home else {
            unreachable!()
        };
        // Meanwhile (woken inline) the caller read its reply and called again from a task
        // whose waker the slot now holds: the lent one is handed back, to be dropped.
        assert!(p
            .poll_reply(call, &first, &mut Wakes::new(), WithTiming)
            .is_ready());
        let again = acquire(&mut p);
        assert!(p
            .poll_reply(again, &second, &mut Wakes::new(), WithTiming)
            .is_pending());
        assert!(p.put_back(home, lent).is_some());
        // With the slot's waker gone (lent again), it is taken back.
        p.take(again, NoInstant).unwrap();
        let mut wakes = Wakes::new();
        p.reply(again, 20, NoInstant, &mut wakes).unwrap();
        let (lent, Home::Slot(home)) = wakes.take_lent().expect("lent") else {
            panic!("lent from its slot");
        };
        assert!(p.put_back(home, lent).is_none());
    }

    #[test]
    fn a_slot_at_the_last_generation_is_retired_and_stale_tickets_stay_refused() {
        let w = noop_waker();
        let mut p = Pool::<2>::new();
        p.set_generations(LAST - 1);
        let first = acquire(&mut p);
        p.take(first, NoInstant).unwrap();
        assert!(p.cancel(first, WithTiming).is_some());
        // The same slot again, at the last generation.
        let second = acquire(&mut p);
        assert_eq!(
            (second.index, second.generation.to_u64()),
            (first.index, LAST)
        );
        assert_eq!(
            p.reply(first, 1, NoInstant, &mut Wakes::new()),
            Answer::Gone(1)
        );
        p.take(second, NoInstant).unwrap();
        p.reply(second, 20, NoInstant, &mut Wakes::new()).unwrap();
        match p.poll_reply(second, &w, &mut Wakes::new(), WithTiming) {
            Poll::Ready(Ok(d)) => assert_eq!(d.value, 20),
            other => panic!("expected the reply, got {other:?}"),
        }
        // Retired, not wrapped to generation 0: the next calls get the other slot, then
        // no slot at all, and tickets of the retired slot reach nothing.
        let third = acquire(&mut p);
        assert_ne!(third.index, first.index);
        assert!(p
            .acquire(NoInstant, None, Acquire::Send(None, ()), &mut Wakes::new())
            .ok()
            .is_none());
        for stale in [first, second] {
            assert!(p.take(stale, NoInstant).is_none());
            assert_eq!(
                p.reply(stale, 9, NoInstant, &mut Wakes::new()),
                Answer::Gone(9)
            );
            assert!(p.cancel(stale, WithTiming).is_none());
        }
        assert_eq!(p.occupancy().in_use, 1);
    }

    #[test]
    fn the_generation_counts_through_its_halves_and_stops_at_the_last() {
        for n in [0, 1, u64::from(u32::MAX) - 1, u64::from(u32::MAX), LAST - 1] {
            let next = Generation::from_u64(n).next().map(Generation::to_u64);
            assert_eq!(next, Some(n + 1));
            // A slot's generation may carry its caller's `ARMED` flag: the next has none.
            let armed = Generation::from_u64(n | u64::from(ARMED) << 32);
            assert_eq!(armed.next().map(Generation::to_u64), Some(n + 1));
        }
        assert_eq!(Generation::from_u64(LAST).next(), None);
        let armed = Generation::from_u64(LAST | u64::from(ARMED) << 32);
        assert_eq!(armed.next(), None);
        assert_eq!(core::mem::size_of::<Ticket>(), 12);
    }

    #[test]
    fn a_phase_packs_beside_its_tag() {
        // A `u32` reply with three 8-byte instants, or a taken call's two instants and
        // deadline: 32 bytes, the flag of the deadline and the reply in the tag's word.
        assert_eq!(core::mem::size_of::<State<u32, u64, u64, u32>>(), 32);
        // Without stamps, a queued or taken call's deadline and its flag: 16 bytes.
        assert_eq!(core::mem::size_of::<State<u32, u64, NoStamp, u32>>(), 16);
    }

    #[test]
    fn full_round_trip_frees_the_slot() {
        let w = noop_waker();
        let mut p = Pool::<1>::new();
        let t = acquire(&mut p);
        assert_eq!(t.id(1), 0, "the first call's id");
        assert!(
            p.acquire(NoInstant, None, Acquire::Send(None, ()), &mut Wakes::new())
                .ok()
                .is_none(),
            "only one slot"
        );
        assert!(p
            .poll_reply(t, &w, &mut Wakes::new(), WithTiming)
            .is_pending());
        let taken = p.take(t, NoInstant).expect("queued request");
        assert_eq!(taken.id, 0);
        assert!(!p.is_cancelled(t));
        p.reply(t, 42, NoInstant, &mut Wakes::new()).unwrap();
        match p.poll_reply(t, &w, &mut Wakes::new(), WithTiming) {
            Poll::Ready(Ok(d)) => assert_eq!((d.value, d.id), (42, 0)),
            other => panic!("expected the reply, got {other:?}"),
        }
        assert!(p.has_free());
        assert_eq!(p.occupancy(), Occupancy::default());
    }

    #[test]
    fn late_reply_to_a_reused_slot_is_handed_back() {
        let w = noop_waker();
        let mut p = Pool::<1>::new();
        let first = acquire(&mut p);
        p.take(first, NoInstant).unwrap();
        // The first caller times out; its slot is reused by a second call.
        assert_eq!(
            p.cancel(first, WithTiming).map(|(phase, ..)| phase),
            Some(Phase::Taken)
        );
        let second = acquire(&mut p);
        assert_eq!(first.index, second.index, "same slot reused");
        assert!(p.is_cancelled(first));
        assert_eq!(
            p.reply(first, 111, NoInstant, &mut Wakes::new()),
            Answer::Gone(111),
            "stale reply refused"
        );
        assert_eq!(
            p.lose(first, NoInstant, &mut Wakes::new()),
            Answer::Gone(()),
            "a stale drop must not touch the new call either"
        );
        assert!(p
            .poll_reply(second, &w, &mut Wakes::new(), WithTiming)
            .is_pending());
        p.take(second, NoInstant).unwrap();
        p.reply(second, 222, NoInstant, &mut Wakes::new()).unwrap();
        match p.poll_reply(second, &w, &mut Wakes::new(), WithTiming) {
            Poll::Ready(Ok(d)) => assert_eq!(d.value, 222),
            other => panic!("expected 222, got {other:?}"),
        }
    }

    #[test]
    fn a_request_cancelled_while_queued_is_skipped_by_the_responder() {
        let mut p = Pool::<2>::new();
        let t = acquire(&mut p);
        assert_eq!(
            p.cancel(t, WithTiming).map(|(phase, ..)| phase),
            Some(Phase::Queued)
        );
        assert!(p.take(t, NoInstant).is_none());
    }

    /// The inline queue, linked through the slots: requests in the order they came, one
    /// that leaves from anywhere (front, middle, back) taken out with its request, and the
    /// rest still in order.
    #[test]
    fn queued_requests_wait_in_their_slots_in_order_and_leave_from_anywhere() {
        type Inline = Slots<u32, NoInstant, NoInstant, u32, 8>;
        let mut p = Inline::new();
        let send = |p: &mut Inline, req: u32| {
            let how = Acquire::Send(None, req);
            let t = p.acquire(NoInstant, None, how, &mut Wakes::new()).unwrap();
            p.enqueue(t.slot(), NoInstant);
            t
        };
        let tickets: std::vec::Vec<_> = (1..=6).map(|req| send(&mut p, req)).collect();
        // The back, then the front, then one in the middle.
        for (i, expected) in [(5, 6), (0, 1), (3, 4)] {
            let (phase, result, removed) = p.cancel(tickets[i], WithTiming).unwrap();
            assert_eq!(
                (phase, result.is_none(), removed),
                (Phase::Queued, true, Some(expected))
            );
        }
        let t7 = send(&mut p, 7);
        let mut taken = std::vec::Vec::new();
        while let Dequeued::Request(req, ticket, info, _) = p.dequeue(NoInstant) {
            assert_eq!(info.id, ticket.id(8));
            taken.push(req);
        }
        assert_eq!(taken, [2, 3, 5, 7]);
        assert!(!p.has_queued());
        assert!(p.take(t7, NoInstant).is_none(), "taken already");
    }

    /// Without stamps the inline queue dates its requests by when it began to fill: exactly
    /// a request that finds it empty, and one that queues behind others no later than its
    /// arrival (a batch window opened then closes early, never late).
    #[cfg(feature = "std")]
    #[test]
    fn unstamped_requests_are_dated_by_when_the_queue_began_to_fill() {
        use core::time::Duration;

        use crate::time::{Clock, ManualClock, ManualInstant};

        type Unstamped = Slots<u32, ManualInstant, NoStamp, u32, 4>;
        let clock = ManualClock::new();
        let mut p = Unstamped::new();
        let send = |p: &mut Unstamped, req: u32| {
            let how = Acquire::Send(None, req);
            let t = p.acquire(clock.now(), None, how, &mut Wakes::new());
            p.enqueue(t.unwrap().slot(), clock.now());
        };
        let take_all = |p: &mut Unstamped| {
            let mut taken = std::vec::Vec::new();
            while let Dequeued::Request(req, _, info, arrived) = p.dequeue(clock.now()) {
                assert_eq!(info.started_at, None, "no stamps");
                taken.push((req, arrived));
            }
            taken
        };
        let first = clock.now();
        send(&mut p, 1);
        clock.advance(Duration::from_millis(10));
        send(&mut p, 2);
        assert_eq!(take_all(&mut p), [(1, Some(first)), (2, Some(first))]);
        clock.advance(Duration::from_millis(10));
        let again = clock.now();
        send(&mut p, 3);
        assert_eq!(take_all(&mut p), [(3, Some(again))], "the queue was empty");
    }

    /// A `Fail` shutdown ends queued calls with `Closed`, their requests still in their
    /// slots: a caller that reads its `Closed` first leaves the slot to its request, which
    /// frees it when it is taken out; one that reads it after finds it free at once.
    #[test]
    fn closed_calls_keep_their_requests_queued_until_taken_out() {
        type Inline = Slots<u32, NoInstant, NoInstant, u32, 2>;
        let w = noop_waker();
        let mut p = Inline::new();
        let mut tickets = std::vec::Vec::new();
        for req in [10, 20] {
            let how = Acquire::Send(None, req);
            let t = p.acquire(NoInstant, None, how, &mut Wakes::new()).unwrap();
            p.enqueue(t.slot(), NoInstant);
            tickets.push(t);
        }
        assert_eq!(p.close_pending(true, &mut Wakes::new()), 2);
        // The first caller reads its outcome before its request leaves.
        assert_eq!(
            p.poll_reply(tickets[0], &w, &mut Wakes::new(), Value),
            Poll::Ready(Err(CallError::Closed))
        );
        assert!(!p.has_free(), "its slot waits for its request to leave");
        assert_eq!(p.dequeue_ended(), Some(10));
        assert!(p.has_free(), "and is free once it has");
        assert_eq!(p.dequeue_ended(), Some(20));
        assert_eq!(p.dequeue_ended(), None);
        // The second caller reads its outcome after.
        assert_eq!(
            p.poll_reply(tickets[1], &w, &mut Wakes::new(), Value),
            Poll::Ready(Err(CallError::Closed))
        );
        assert_eq!(p.occupancy().in_use, 0);
    }

    #[test]
    fn dropped_reply_handle_gives_lost() {
        let w = noop_waker();
        let mut p = Pool::<1>::new();
        let t = acquire(&mut p);
        p.take(t, NoInstant).unwrap();
        p.lose(t, NoInstant, &mut Wakes::new());
        assert!(matches!(
            p.poll_reply(t, &w, &mut Wakes::new(), WithTiming),
            Poll::Ready(Err(CallError::Lost))
        ));
    }

    #[test]
    fn close_ends_waiting_calls_but_not_taken_ones() {
        let w = noop_waker();
        let mut p = Pool::<3>::new();
        let queued = acquire(&mut p);
        let taken = acquire(&mut p);
        let reserved = p
            .acquire(NoInstant, None, Acquire::Reserve, &mut Wakes::new())
            .unwrap();
        p.take(taken, NoInstant).unwrap();
        assert_eq!(
            p.close_pending(false, &mut Wakes::new()),
            1,
            "the queued call; the reservation only once a call turns out to hold it"
        );
        assert!(matches!(
            p.poll_reply(queued, &w, &mut Wakes::new(), WithTiming),
            Poll::Ready(Err(CallError::Closed))
        ));
        assert!(
            p.send(reserved, (), NoInstant, None).is_err(),
            "a reservation cannot be sent after close"
        );
        assert!(
            p.close_reserved(reserved),
            "a call sending from it ends Closed"
        );
        assert!(matches!(
            p.poll_reply(reserved, &w, &mut Wakes::new(), WithTiming),
            Poll::Ready(Err(CallError::Closed))
        ));
        assert!(
            p.poll_reply(taken, &w, &mut Wakes::new(), WithTiming)
                .is_pending(),
            "work in progress finishes"
        );
        p.reply(taken, 5, NoInstant, &mut Wakes::new()).unwrap();
        assert!(matches!(
            p.poll_reply(taken, &w, &mut Wakes::new(), WithTiming),
            Poll::Ready(Ok(_))
        ));
    }

    #[test]
    fn cancel_after_the_reply_arrived_returns_it_for_accounting() {
        let mut p = Pool::<1>::new();
        let t = acquire(&mut p);
        p.take(t, NoInstant).unwrap();
        p.reply(t, 9, NoInstant, &mut Wakes::new()).unwrap();
        let (phase, result, _) = p.cancel(t, WithTiming).unwrap();
        assert_eq!(phase, Phase::Done);
        assert_eq!(result.unwrap().unwrap().value, 9);
        assert!(
            p.cancel(t, WithTiming).is_none(),
            "a ticket is cancelled at most once"
        );
    }

    #[test]
    fn every_slot_is_reused_in_a_long_random_run() {
        // xorshift: deterministic pseudo-random schedule of calls, replies and cancels.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let w = noop_waker();
        let mut p = Pool::<4>::new();
        let mut live: std::vec::Vec<(Ticket, u64, bool)> = std::vec::Vec::new();
        let mut ids = std::collections::HashSet::new();
        let (mut started, mut ended) = (0u64, 0u64);
        // Scaled down under miri, which interprets every step (~100x slower), not skipped.
        let steps = if cfg!(miri) { 1_000 } else { 10_000 };
        for _ in 0..steps {
            match next() % 4 {
                0 => {
                    if let Ok(t) =
                        p.acquire(NoInstant, None, Acquire::Send(None, ()), &mut Wakes::new())
                    {
                        assert!(ids.insert(t.id(4)), "a new id for every call");
                        live.push((t, t.id(4), false));
                        started += 1;
                    } else {
                        assert_eq!(live.len(), 4, "Full only when every slot is held");
                    }
                }
                1 if !live.is_empty() => {
                    let i = (next() as usize) % live.len();
                    let (t, id, taken) = &mut live[i];
                    if !*taken {
                        assert_eq!(p.take(*t, NoInstant).map(|x| x.id), Some(*id));
                        *taken = true;
                    } else if p.reply(*t, *id as u32, NoInstant, &mut Wakes::new())
                        == Answer::Delivered(NoInstant)
                    {
                        match p.poll_reply(*t, &w, &mut Wakes::new(), WithTiming) {
                            Poll::Ready(Ok(d)) => assert_eq!(u64::from(d.value), *id),
                            other => panic!("call {id}: {other:?}"),
                        }
                        live.swap_remove(i);
                        ended += 1;
                    }
                }
                2 if !live.is_empty() => {
                    let i = (next() as usize) % live.len();
                    assert!(p.cancel(live[i].0, WithTiming).is_some());
                    live.swap_remove(i);
                    ended += 1;
                }
                _ => {}
            }
            assert_eq!(p.occupancy().in_use, live.len());
        }
        assert!(started > steps / 10 && ended + live.len() as u64 == started);
    }
}
