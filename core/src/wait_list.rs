//! A list of waiting tasks whose entries live in the waiting futures themselves.
//!
//! # Design
//!
//! A future that may wait (for a free reply slot, in `cancelled()`, for a promise's value)
//! holds a [`WaitEntry`]: its waker and the links of a doubly linked list. The list
//! ([`WaitList`]) lives in the state the waiters wait on, behind that state's lock. So the
//! list holds exactly the tasks that wait now: it needs no allocation, has no capacity
//! past which waiting turns into a busy loop (as a fixed array of wakers must, by waking
//! one it displaces), and a future that stops waiting takes its entry with it. This is the
//! design of tokio's `Notify` and maitake-sync's `WaitQueue`.
//!
//! An entry moves through:
//!
//! ```text
//!            register                 wake_one / wake_all
//!   Idle ───────────────▶ Waiting ───────────────────────▶ Woken
//!    ▲   ◀──────────────   │  ▲ register (a new waker)       │  register: back at the
//!    │     unregister      ╰──╯                              │  front of the list
//!    ╰────────────────────────── unregister (true: the ◀─────╯
//!                               wake-up was not used)
//! ```
//!
//! [`wake_one`](WaitList::wake_one) wakes the entry that has waited longest: entries join
//! at the back, and a woken entry that registers again (it was beaten to what it was woken
//! for) goes back to the front. An entry woken by `wake_one` that leaves without using the
//! wake-up says so when it unregisters, so that its owner passes the wake-up on.
//!
//! # Safety
//!
//! The list points into the futures that hold its entries. That is sound because its users
//! keep three rules:
//!
//! 1. A list and its entries are touched only under the lock of the state that holds the
//!    list: every method takes `&mut WaitList`, and an entry's fields are read and written
//!    only through its list's methods.
//! 2. An entry is linked only while pinned ([`register`](WaitList::register) takes
//!    `Pin<&WaitEntry>` and is `unsafe`: its caller promises that the entry is unregistered
//!    before it is dropped, or that the list is never touched again, as when a panic left
//!    the lock poisoned). Pinning guarantees the entry's memory stays put until it is
//!    dropped.
//! 3. An entry is in one list at a time, and is taken out of that list. A list knows its
//!    entries by its [line](line): an entry woken in one line is as good as idle in another,
//!    and taking an entry out of a list of another line *under the same lock* does nothing.
//!    Lists under different locks (a slot line under an endpoint's lock, a room line under
//!    its queue's) must never see each other's entries: reading an entry is only safe under
//!    the lock of the list it is in. Their users take an entry out of the one line it may be
//!    in (a call knows whether it waits for a slot or, holding one, for room).

use core::cell::UnsafeCell;
use core::marker::PhantomPinned;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::Waker;

use crate::waker_set::{Home, Wakes};

/// A waiting future's entry in a [`WaitList`]. Pinned inside its future while it waits.
///
/// rsvp's internals; public only because the endpoint's hidden operations name it.
#[doc(hidden)]
pub struct WaitEntry {
    fields: UnsafeCell<Fields>,
    _pinned: PhantomPinned,
}

struct Fields {
    /// Written when it starts `Waiting`, and read only while it waits: an entry is made
    /// with two byte stores, and dropped without drop glue (out of line, it holds no waker:
    /// leaving or being woken takes it; an entry dropped in line, allowed only when its
    /// list is never touched again, leaks its waker).
    links: MaybeUninit<Links>,
    state: State,
    /// The [line](line) of the list it waits in, or was woken from (unless `Idle`).
    line: u8,
}

/// A waiting entry's waker and place in its list.
struct Links {
    waker: Option<Waker>,
    prev: Option<NonNull<WaitEntry>>,
    next: Option<NonNull<WaitEntry>>,
}

/// What a [`WaitList`]'s tasks wait for, its `LINE`: one per kind of list, so that an
/// entry is taken out only of the list it is in (rule 3 of the module docs). A type
/// parameter, not a field, so that an empty list is all zero bytes (a `static` endpoint
/// stays in `.bss`).
pub(crate) mod line {
    /// A free reply slot.
    pub(crate) const SLOT: u8 = 0;
    /// A responder's caller giving up.
    pub(crate) const CANCEL: u8 = 1;
    /// A request, in the endpoint's inline queue.
    pub(crate) const REQUEST: u8 = 2;
    /// An item of a separate queue.
    pub(crate) const ITEM: u8 = 3;
    /// Room in a separate queue.
    pub(crate) const ROOM: u8 = 4;
    /// A promise's value.
    pub(crate) const VALUE: u8 = 5;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Idle,
    Waiting,
    Woken,
}

// SAFETY: a `WaitEntry`'s fields are touched only under the lock of the list it is in (rule 1
// of the module docs), whichever thread holds the lock; its waker is `Send + Sync`.
unsafe impl Send for WaitEntry {}
// SAFETY: as for `Send`: a shared reference gives access only under that lock.
unsafe impl Sync for WaitEntry {}

impl WaitEntry {
    pub(crate) const fn new() -> Self {
        // Only `state` and `line` are written: a struct literal with `links: uninit()` is
        // made as a constant, and copied whole (its links zeroed), 4 instructions more per
        // entry on x86-64.
        let mut fields = MaybeUninit::<Fields>::uninit();
        let at = fields.as_mut_ptr();
        // SAFETY: `at` points to `fields`, writable; `state` and `line` are written in
        // place, and `links` is a `MaybeUninit`, which needs no initialisation: so `fields`
        // is then a valid `Fields`.
        let fields = unsafe {
            core::ptr::addr_of_mut!((*at).state).write(State::Idle);
            core::ptr::addr_of_mut!((*at).line).write(0);
            fields.assume_init()
        };
        Self {
            fields: UnsafeCell::new(fields),
            _pinned: PhantomPinned,
        }
    }
}

impl Default for WaitEntry {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for WaitEntry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Its fields may be in use under a lock this thread does not hold.
        f.debug_struct("WaitEntry").finish_non_exhaustive()
    }
}

/// The tasks waiting on one event, oldest first, in line `LINE`. See the [module
/// docs](self).
pub(crate) struct WaitList<const LINE: u8>(List);

/// A [`WaitList`] but its line: its code is compiled once for every line.
struct List {
    head: Option<NonNull<WaitEntry>>,
    tail: Option<NonNull<WaitEntry>>,
}

// SAFETY: the list only points at entries, which are touched under the lock that guards the
// list (rule 1); moving the list to another thread moves no entry.
unsafe impl Send for List {}
// SAFETY: as for `Send`; every method that follows a pointer takes `&mut self`.
unsafe impl Sync for List {}

impl<const LINE: u8> WaitList<LINE> {
    pub(crate) const fn new() -> Self {
        Self(List::new())
    }

    /// `waiter` waits, woken by `waker`: at the back of the list, or at the front if it was
    /// woken and waits again. A waker it replaces goes to `wakes`, to be dropped after
    /// unlocking.
    ///
    /// # Safety
    ///
    /// `waiter` is unregistered from this list before it is dropped, unless this list is
    /// never touched again (rule 2); it is in no other list (rule 3).
    #[inline(always)]
    pub(crate) unsafe fn register(
        &mut self,
        waiter: Pin<&WaitEntry>,
        waker: &Waker,
        wakes: &mut Wakes,
    ) {
        // SAFETY: this method's contract.
        unsafe { self.0.register(waiter, waker, wakes, LINE) }
    }

    /// `waiter` stops waiting: out of the list, its waker to `wakes` (dropped after
    /// unlocking). True if it had been woken and so may owe the next waiter its wake-up.
    /// Nothing happens to an entry of another line.
    #[inline(always)]
    pub(crate) fn unregister(&mut self, waiter: Pin<&WaitEntry>, wakes: &mut Wakes) -> bool {
        self.0.unregister(waiter, wakes, LINE)
    }

    /// `waiter` stops waiting as [`unregister`](Self::unregister) says, unless it was woken:
    /// then it stays woken, so that if it waits again it goes back to the front.
    #[inline(always)]
    pub(crate) fn leave_unless_woken(&mut self, waiter: Pin<&WaitEntry>, wakes: &mut Wakes) {
        self.0.leave_unless_woken(waiter, wakes, LINE);
    }

    /// Whether a task waits (registered and not woken since).
    #[inline(always)]
    pub(crate) fn is_waiting(&self) -> bool {
        self.0.head.is_some()
    }

    /// Moves the waker of the task that has waited longest into `wakes`; false if none
    /// waits or `wakes` is full (the task then stays).
    #[inline(always)]
    pub(crate) fn wake_one(&mut self, wakes: &mut Wakes) -> bool {
        self.0.wake_one(wakes)
    }

    /// Moves the wakers of every waiting task into `wakes`, oldest first; those that do not
    /// fit stay (`wakes` then says more is left).
    #[inline(always)]
    pub(crate) fn wake_all(&mut self, wakes: &mut Wakes) {
        while self.0.wake_one(wakes) {}
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A [`WaitList`] with a first place beside it, for a line where one task usually waits
/// (an endpoint's server, a queue's receiver): the task in the first place keeps its waker
/// there across its waits (a waker of the same task is not cloned again), and the event it
/// waits for lends that waker ([`Wakes::lend`]), or, under a lock that takes nothing back,
/// clones it and leaves it there. A task waits in the list only while the first place is
/// another future's, or others wait there already.
pub(crate) struct Line<const LINE: u8> {
    /// The waker of the task that last took the first place, kept after it stops waiting.
    first: Option<Waker>,
    /// Whether the first place's task waits: from its registration until an event wakes
    /// it, or its future leaves.
    armed: bool,
    /// The address of the entry that holds the first place (waiting, or woken and not done
    /// yet), or 0: compared, never followed.
    owner: usize,
    /// The others, each with its entry in its future.
    rest: WaitList<LINE>,
}

impl<const LINE: u8> Line<LINE> {
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            armed: false,
            owner: 0,
            rest: WaitList::new(),
        }
    }

    /// `waker`'s task waits, its future holding `entry`: in the first place if that is free
    /// and nobody waits in the list, or is this future's already (it waits again, or was
    /// woken and beaten to what it was woken for: it keeps its turn); in the list otherwise.
    ///
    /// # Safety
    ///
    /// As [`WaitList::register`]: `entry` leaves ([`leave`](Self::leave)) before it is
    /// dropped, unless this line is never touched again.
    #[inline]
    pub(crate) unsafe fn register(
        &mut self,
        entry: Pin<&WaitEntry>,
        waker: &Waker,
        wakes: &mut Wakes,
    ) {
        let here = address(entry);
        if self.owner != here && (self.armed || self.rest.is_waiting()) {
            // SAFETY: this method's contract.
            return unsafe { self.rest.register(entry, waker, wakes) };
        }
        // Its waker kept if of the same task (the one replaced is dropped after unlocking,
        // one lent is given back to be dropped); out of the list if it was in it.
        wakes.store(&mut self.first, waker);
        self.rest.unregister(entry, wakes);
        self.armed = true;
        self.owner = here;
    }

    /// The task waiting with `entry` got what it waited for (or learnt none will come),
    /// whether or not it was woken for it (an item may come another way): it leaves the
    /// first place, and the place forgets it, so that a future made later at the same
    /// address is a newcomer.
    #[inline(always)]
    pub(crate) fn done_waiting(&mut self, entry: Pin<&WaitEntry>, wakes: &mut Wakes) {
        self.forget(entry);
        self.rest.unregister(entry, wakes);
    }

    /// The task waiting with `entry` stops (its future was dropped). If it may have been
    /// woken for what it waited for and that is still there (`still_there`), another task
    /// is woken instead (a spare wake-up is harmless; a lost one is not).
    pub(crate) fn leave(&mut self, entry: Pin<&WaitEntry>, still_there: bool, wakes: &mut Wakes) {
        let first = self.forget(entry);
        let woken = self.rest.unregister(entry, wakes);
        if (first || woken) && still_there {
            self.wake_one(wakes);
        }
    }

    /// Wakes the task in the first place if it waits (its waker lent, to come back through
    /// [`put_back`](Self::put_back) under a lock that lends), otherwise the one that waited
    /// longest in the list.
    #[inline(always)]
    pub(crate) fn wake_one(&mut self, wakes: &mut Wakes) {
        // What does not fit in `wakes` stays armed, for its second round.
        if self.armed {
            if wakes.lend(&mut self.first, Home::First) {
                self.armed = false;
            }
        } else if self.rest.is_waiting() {
            self.rest.wake_one(wakes);
        }
    }

    /// [`wake_one`](Self::wake_one) under a lock that takes nothing back: the first place's
    /// waker is cloned and stays, so that its task clones nothing when it waits again.
    #[inline(always)]
    pub(crate) fn wake_one_cloned(&mut self, wakes: &mut Wakes) {
        if self.armed {
            self.push_first(wakes);
        } else if self.rest.is_waiting() {
            self.rest.wake_one(wakes);
        }
    }

    /// Wakes every waiting task (a shutdown, or a second round).
    pub(crate) fn wake_all(&mut self, wakes: &mut Wakes) {
        if self.armed && !self.push_first(wakes) {
            return;
        }
        self.rest.wake_all(wakes);
    }

    /// If `entry` holds the first place: the place is free, its waker kept; true then.
    #[inline(always)]
    fn forget(&mut self, entry: Pin<&WaitEntry>) -> bool {
        let first = self.owner == address(entry);
        if first {
            self.armed = false;
            self.owner = 0;
        }
        first
    }

    /// Puts a clone of the first place's waker into `wakes` and disarms the place; false
    /// if `wakes` is full (the place stays armed, for the next round).
    #[inline(always)]
    fn push_first(&mut self, wakes: &mut Wakes) -> bool {
        if let Some(waker) = &self.first {
            if !wakes.push(waker) {
                return false;
            }
        }
        self.armed = false;
        true
    }

    /// Takes back the first place's waker that [`wake_one`](Self::wake_one) lent; hands it
    /// back if the place has a waker again. Runs no code of others and never panics
    /// (`StateLock` hands wakers back without its busy mark).
    pub(crate) fn put_back(&mut self, waker: Waker) -> Option<Waker> {
        match self.first {
            None => {
                self.first = Some(waker);
                None
            }
            Some(_) => Some(waker),
        }
    }
}

/// Where `entry` is: its identity, compared and never followed.
fn address(entry: Pin<&WaitEntry>) -> usize {
    (entry.get_ref() as *const WaitEntry).addr()
}

impl List {
    const fn new() -> Self {
        Self {
            head: None,
            tail: None,
        }
    }

    /// The entry of `waiter`.
    ///
    /// # Safety
    ///
    /// No other reference to it is alive: the caller holds the lock of its list (rule 1),
    /// and this list's methods use one entry reference at a time.
    #[allow(clippy::mut_from_ref)]
    unsafe fn entry<'a>(waiter: NonNull<WaitEntry>) -> &'a mut Fields {
        // SAFETY: `waiter` is pinned and alive (rule 2), and the reference is unique (the
        // caller's promise).
        unsafe { &mut *(*waiter.as_ptr()).fields.get() }
    }

    /// The links of `waiter`, which waits.
    ///
    /// # Safety
    ///
    /// As [`entry`](Self::entry); and `waiter` is `Waiting` (its links are written).
    #[allow(clippy::mut_from_ref)]
    unsafe fn links<'a>(waiter: NonNull<WaitEntry>) -> &'a mut Links {
        // SAFETY: the caller's promises.
        unsafe { Self::entry(waiter).links.assume_init_mut() }
    }

    /// [`WaitList::register`], in line `line`.
    ///
    /// # Safety
    ///
    /// As [`WaitList::register`].
    unsafe fn register(
        &mut self,
        waiter: Pin<&WaitEntry>,
        waker: &Waker,
        wakes: &mut Wakes,
        line: u8,
    ) {
        let ptr = NonNull::from(waiter.get_ref());
        // SAFETY: we hold the list's lock (`&mut self`), and no other entry reference is
        // alive.
        let entry = unsafe { Self::entry(ptr) };
        // Woken from another line and not taken out (it got what it waited for there): in
        // no list, so as good as idle.
        let state = match entry.line == line {
            true => entry.state,
            false => {
                debug_assert!(
                    entry.state != State::Waiting,
                    "a wait entry is in one line at a time"
                );
                State::Idle
            }
        };
        entry.line = line;
        match state {
            State::Waiting => {
                // SAFETY: it waits, so its links are written.
                let links = unsafe { entry.links.assume_init_mut() };
                wakes.store(&mut links.waker, waker);
            }
            State::Woken | State::Idle => {
                entry.links.write(Links {
                    waker: Some(waker.clone()),
                    prev: None,
                    next: None,
                });
                entry.state = State::Waiting;
                match state {
                    State::Woken => self.push_front(ptr),
                    _ => self.push_back(ptr),
                }
            }
        }
    }

    /// [`WaitList::unregister`], from line `line`.
    #[inline(always)]
    fn unregister(&mut self, waiter: Pin<&WaitEntry>, wakes: &mut Wakes, line: u8) -> bool {
        let ptr = NonNull::from(waiter.get_ref());
        // SAFETY: we hold the list's lock, and no other entry reference is alive.
        // The usual case, inlined: an entry that never waited (a call that found a slot).
        if unsafe { Self::entry(ptr) }.state == State::Idle {
            return false;
        }
        self.take_out(ptr, wakes, line)
    }

    /// [`WaitList::leave_unless_woken`], in line `line`.
    fn leave_unless_woken(&mut self, waiter: Pin<&WaitEntry>, wakes: &mut Wakes, line: u8) {
        let ptr = NonNull::from(waiter.get_ref());
        // SAFETY: we hold the list's lock, and no other entry reference is alive.
        if unsafe { Self::entry(ptr) }.state == State::Waiting {
            self.take_out(ptr, wakes, line);
        }
    }

    #[inline(never)]
    fn take_out(&mut self, ptr: NonNull<WaitEntry>, wakes: &mut Wakes, line: u8) -> bool {
        // SAFETY: we hold the list's lock, and no other entry reference is alive.
        let entry = unsafe { Self::entry(ptr) };
        if entry.line != line {
            return false;
        }
        match entry.state {
            State::Idle => false,
            State::Woken => {
                entry.state = State::Idle;
                true
            }
            State::Waiting => {
                entry.state = State::Idle;
                // SAFETY: it waited, so its links are written.
                if let Some(waker) = unsafe { entry.links.assume_init_mut() }.waker.take() {
                    wakes.discard(waker);
                }
                self.unlink(ptr);
                false
            }
        }
    }

    fn wake_one(&mut self, wakes: &mut Wakes) -> bool {
        let Some(head) = self.head else {
            return false;
        };
        // SAFETY: we hold the list's lock; the head is linked, so alive (rule 2), and its
        // links are written.
        let links = unsafe { Self::links(head) };
        if let Some(waker) = links.waker.take() {
            if let Err(waker) = wakes.push_owned(waker) {
                links.waker = Some(waker);
                return false;
            }
        }
        // SAFETY: as above.
        let entry = unsafe { Self::entry(head) };
        entry.state = State::Woken;
        self.unlink(head);
        true
    }

    fn push_back(&mut self, ptr: NonNull<WaitEntry>) {
        // SAFETY: we hold the list's lock; `ptr` is pinned and alive (rule 2) and waits
        // (its links are written), as does the tail; its links reference is dropped before
        // the tail's is made.
        unsafe {
            let links = Self::links(ptr);
            links.prev = self.tail;
            links.next = None;
            match self.tail {
                Some(tail) => Self::links(tail).next = Some(ptr),
                None => self.head = Some(ptr),
            }
        }
        self.tail = Some(ptr);
    }

    fn push_front(&mut self, ptr: NonNull<WaitEntry>) {
        // SAFETY: as in `push_back`.
        unsafe {
            let links = Self::links(ptr);
            links.prev = None;
            links.next = self.head;
            match self.head {
                Some(head) => Self::links(head).prev = Some(ptr),
                None => self.tail = Some(ptr),
            }
        }
        self.head = Some(ptr);
    }

    /// Takes the linked entry `ptr` out.
    fn unlink(&mut self, ptr: NonNull<WaitEntry>) {
        // SAFETY: we hold the list's lock; `ptr` and its neighbours are linked, so alive
        // (rule 2) with their links written, and one links reference is alive at a time.
        unsafe {
            let links = Self::links(ptr);
            let (prev, next) = (links.prev, links.next);
            match prev {
                Some(prev) => Self::links(prev).next = next,
                None => self.head = next,
            }
            match next {
                Some(next) => Self::links(next).prev = prev,
                None => self.tail = prev,
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let mut n = 0;
        let mut at = self.head;
        while let Some(ptr) = at {
            n += 1;
            // SAFETY: test-only walk under `&self`, with no entry reference alive; linked
            // entries' links are written.
            at = unsafe {
                (&*(*ptr.as_ptr()).fields.get())
                    .links
                    .assume_init_ref()
                    .next
            };
        }
        n
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::pin::pin;
    use std::boxed::Box;
    use std::sync::Arc;
    use std::vec::Vec;

    use super::*;
    use crate::test_support::{counter, woken};

    fn register(list: &mut WaitList<0>, waiter: Pin<&WaitEntry>, waker: &Waker) {
        // SAFETY: every test unregisters its waiters before they go out of scope.
        unsafe { list.register(waiter, waker, &mut Wakes::new()) }
    }

    #[test]
    fn wake_one_serves_the_longest_waiter_first() {
        let mut list = WaitList::<0>::new();
        let counts: Vec<_> = (0..3).map(|_| counter()).collect();
        let (a, b, c) = (
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
        );
        let waiters = [a.as_ref(), b.as_ref(), c.as_ref()];
        for (w, (_, waker)) in waiters.iter().zip(&counts) {
            register(&mut list, *w, waker);
        }
        assert_eq!(list.len(), 3);
        for i in 0..3 {
            let mut wakes = Wakes::new();
            assert!(list.wake_one(&mut wakes));
            wakes.wake();
            let got: Vec<_> = counts.iter().map(|(c, _)| woken(c)).collect();
            let expected: Vec<_> = (0..3).map(|j| usize::from(j <= i)).collect();
            assert_eq!(got, expected, "woken in the order they came");
        }
        assert!(!list.wake_one(&mut Wakes::new()), "nobody waits");
        for w in waiters {
            assert!(list.unregister(w, &mut Wakes::new()), "each was woken");
        }
    }

    #[test]
    fn a_waiter_that_leaves_takes_its_entry_and_its_waker() {
        let mut list = WaitList::<0>::new();
        let (count, waker) = counter();
        let clones = Arc::strong_count(&count);
        {
            let (a, b) = (pin!(WaitEntry::new()), pin!(WaitEntry::new()));
            register(&mut list, a.as_ref(), &waker);
            register(&mut list, b.as_ref(), &waker);
            assert_eq!(Arc::strong_count(&count), clones + 2);
            let mut wakes = Wakes::new();
            assert!(!list.unregister(a.as_ref(), &mut wakes), "not woken");
            drop(wakes);
            assert_eq!(list.len(), 1);
            assert!(!list.unregister(b.as_ref(), &mut Wakes::new()));
        }
        assert_eq!(list.len(), 0);
        assert!(!list.is_waiting());
        assert_eq!(Arc::strong_count(&count), clones, "no waker left behind");
        assert_eq!(woken(&count), 0, "leaving wakes nobody");
    }

    #[test]
    fn ten_thousand_waiters_that_leave_leave_nothing() {
        let mut list = WaitList::<0>::new();
        let (count, waker) = counter();
        for _ in 0..10_000 {
            let w = pin!(WaitEntry::new());
            register(&mut list, w.as_ref(), &waker);
            assert!(!list.unregister(w.as_ref(), &mut Wakes::new()));
        }
        assert_eq!((list.len(), Arc::strong_count(&count)), (0, 2));
    }

    #[test]
    fn a_list_forgets_a_waiter_that_went_away() {
        // Ported from the keyed list this one replaced: a waiter that registers twice is in
        // line once, one that went away is not woken, a woken one can wait again.
        let mut list = WaitList::<0>::new();
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (ea, eb) = (pin!(WaitEntry::new()), pin!(WaitEntry::new()));
        register(&mut list, ea.as_ref(), &wa);
        register(&mut list, ea.as_ref(), &wa);
        register(&mut list, eb.as_ref(), &wb);
        assert_eq!(list.len(), 2);
        list.unregister(eb.as_ref(), &mut Wakes::new());
        assert_eq!(list.len(), 1);
        for _ in 0..100 {
            let e = pin!(WaitEntry::new());
            register(&mut list, e.as_ref(), &wb);
            list.unregister(e.as_ref(), &mut Wakes::new());
        }
        assert_eq!(list.len(), 1, "nothing piles up");
        list.wake_all(&mut Wakes::new());
        assert_eq!(woken(&a), 1);
        assert_eq!(woken(&b), 0, "b went away before the wake");
        register(&mut list, ea.as_ref(), &wa);
        list.wake_all(&mut Wakes::new());
        assert_eq!(woken(&a), 2);
        assert!(list.unregister(ea.as_ref(), &mut Wakes::new()));
    }

    #[test]
    fn a_woken_waiter_that_waits_again_goes_first() {
        let mut list = WaitList::<0>::new();
        let (first, waker_a) = counter();
        let (second, waker_b) = counter();
        let (a, b) = (pin!(WaitEntry::new()), pin!(WaitEntry::new()));
        register(&mut list, a.as_ref(), &waker_a);
        register(&mut list, b.as_ref(), &waker_b);
        let mut wakes = Wakes::new();
        assert!(list.wake_one(&mut wakes));
        wakes.wake();
        assert_eq!((woken(&first), woken(&second)), (1, 0));
        // `a` was beaten to what it was woken for: it waits again, ahead of `b`.
        register(&mut list, a.as_ref(), &waker_a);
        let mut wakes = Wakes::new();
        assert!(list.wake_one(&mut wakes));
        wakes.wake();
        assert_eq!((woken(&first), woken(&second)), (2, 0));
        assert!(list.unregister(a.as_ref(), &mut Wakes::new()));
        assert!(!list.unregister(b.as_ref(), &mut Wakes::new()));
    }

    #[test]
    fn registering_again_keeps_one_entry_and_the_newest_waker() {
        let mut list = WaitList::<0>::new();
        let (old, old_waker) = counter();
        let (new, new_waker) = counter();
        let w = pin!(WaitEntry::new());
        register(&mut list, w.as_ref(), &old_waker);
        register(&mut list, w.as_ref(), &old_waker);
        register(&mut list, w.as_ref(), &new_waker);
        assert_eq!(list.len(), 1);
        assert_eq!(Arc::strong_count(&old), 2, "the replaced waker was dropped");
        let mut wakes = Wakes::new();
        list.wake_all(&mut wakes);
        wakes.wake();
        assert_eq!((woken(&old), woken(&new)), (0, 1));
        assert!(list.unregister(w.as_ref(), &mut Wakes::new()));
    }

    #[test]
    fn unlinking_from_the_middle_keeps_the_order() {
        let mut list = WaitList::<0>::new();
        let counts: Vec<_> = (0..4).map(|_| counter()).collect();
        let ws = [
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
            pin!(WaitEntry::new()),
        ];
        for (w, (_, waker)) in ws.iter().zip(&counts) {
            register(&mut list, w.as_ref(), waker);
        }
        assert!(!list.unregister(ws[1].as_ref(), &mut Wakes::new()));
        assert!(!list.unregister(ws[3].as_ref(), &mut Wakes::new()));
        let mut wakes = Wakes::new();
        list.wake_all(&mut wakes);
        wakes.wake();
        let got: Vec<_> = counts.iter().map(|(c, _)| woken(c)).collect();
        assert_eq!(got, [1, 0, 1, 0]);
        assert_eq!(list.len(), 0);
        for w in &ws {
            list.unregister(w.as_ref(), &mut Wakes::new());
        }
    }

    #[test]
    fn wake_all_stops_when_a_round_is_full_and_the_rest_stay() {
        let mut list = WaitList::<0>::new();
        let n = Wakes::CAPACITY + 3;
        let counts: Vec<_> = (0..n).map(|_| counter()).collect();
        let mut ws: Vec<_> = (0..n).map(|_| Box::pin(WaitEntry::new())).collect();
        for (w, (_, waker)) in ws.iter().zip(&counts) {
            register(&mut list, w.as_ref(), waker);
        }
        let mut wakes = Wakes::new();
        list.wake_all(&mut wakes);
        assert!(wakes.wake(), "more left");
        assert_eq!(list.len(), 3);
        let mut wakes = Wakes::new();
        list.wake_all(&mut wakes);
        assert!(!wakes.wake());
        assert!(counts.iter().all(|(c, _)| woken(c) == 1), "each woken once");
        for w in &mut ws {
            list.unregister(w.as_ref(), &mut Wakes::new());
        }
    }
}
