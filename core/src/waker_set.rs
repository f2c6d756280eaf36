//! Sets of wakers, for the places where any number of tasks may wait for one event, and
//! [`Wakes`], the wakers an event collected under a lock, woken once it is released.
//!
//! # Waking after unlocking
//!
//! No waker is woken under a lock: a waker is user code (some executors poll the woken task
//! inline, and that task may use the object whose lock is held). A state machine's event
//! therefore puts the wakers it must wake into a [`Wakes`] and the locked wrapper wakes them
//! after unlocking ([`Mutex::lock_wake`](crate::sync::Mutex)). A [`Wakes`] holds
//! [`Wakes::CAPACITY`] wakers and allocates nothing; an event that has more to wake leaves
//! the rest registered and says so, and the wrapper takes the lock again to collect them
//! ([`WakeRest`]), as tokio's `Notify` and maitake-sync's `WaitQueue` wake in batches.
//!
//! A [`WakerSet`] keeps the wakers it woke (clones go into the [`Wakes`]) and up to `K`
//! wakers of tasks that are no longer waiting, so that the common loop (a server polling
//! `recv` again, a caller polling its reply) re-arms a waker it already has instead of
//! cloning it into the set on every wait. Entries of finished tasks (their task headers,
//! not their futures) stay until they are replaced or the set is dropped: bounded, and
//! never woken, since only armed entries are.
//!
//! [`WakerSet`] is for events that come often and concern every waiter (a request for the
//! servers, room in a queue): every event disarms it, so a task that stopped waiting is not
//! woken by the next event. With `alloc` it is a `Vec` that keeps its capacity: no
//! allocation in steady state, and no spurious wake-ups however many tasks wait. Without
//! `alloc` it holds `K` wakers: when it is full, registering one more displaces the waker
//! in the first entry, which is woken, polls again and registers again, so no wake-up is
//! ever lost, at the price of spurious polls while more than `K` tasks wait (the policy of
//! embassy-sync's `MultiWakerRegistration`). Waiters that come and go (a call waiting for a
//! free slot, a responder in `cancelled()`, a promise's readers) wait in a
//! [`WaitList`](crate::wait_list::WaitList) instead, whose entries live in their futures:
//! no capacity, and nothing left behind.
//!
//! Wakers are cloned under the lock (to register, and into a [`Wakes`]); a waker replaced
//! or given back is handed to the [`Wakes`] too ([`Wakes::discard`]) and dropped after
//! unlocking, since dropping the last waker of a task may drop the task, and its futures
//! with it, which may use the object.

use core::task::Waker;

/// Wakers collected under a lock, to be woken after it is released.
///
/// Holds up to [`CAPACITY`](Self::CAPACITY) wakers without allocating. A waker that wakes
/// the same task as the last one pushed is skipped, so that a set of replies to one task
/// wakes it once. When it is full, [`push`](Self::push) refuses and remembers that more is
/// left ([`wake`](Self::wake) then returns true); the owner of the wakers keeps them
/// registered for a second round.
///
/// rsvp's internals; public only because the endpoint's queue plumbing names it.
#[doc(hidden)]
pub struct Wakes {
    // The common event wakes one task: it has a field of its own, and everything rarer is
    // behind one `Option`, made on first use, so that the usual lock checks one word. (An
    // array of eight `Option`s cost its initialisation and drop on every lock, about 150
    // of some 1,000 instructions per round trip, S1 on `mini`; even an empty fixed-size
    // vector is copied into place when made.)
    first: Option<Waker>,
    /// Where `first` goes back to, if it was lent rather than cloned ([`lend`](Self::lend)).
    home: Option<Home>,
    more: Option<More>,
}

/// Where a lent waker goes back to once woken ([`Wakes::lend`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Home {
    /// The caller's waker of the reply slot of this index.
    Slot(u16),
    /// The first place of the endpoint's line of servers ([`Line`](crate::wait_list::Line)).
    First,
}

/// The rare part of [`Wakes`].
struct More {
    rest: heapless::Vec<Waker, { Wakes::CAPACITY - 1 }>,
    /// A waker displaced from a full fixed-size set (without `alloc`): one lock round
    /// registers at most one task, the one polling, so it displaces at most one waker.
    displaced: Option<Waker>,
    /// Wakers replaced or given back, to drop after unlocking ([`Wakes::discard`]).
    dropped: heapless::Vec<Waker, { Wakes::DROPS }>,
    /// A push was refused: the owner of the wakers has more to wake.
    refused: bool,
}

impl Wakes {
    /// How many wakers one round carries.
    pub(crate) const CAPACITY: usize = 8;
    /// How many replaced wakers one event drops after unlocking; past that (an event
    /// that registers one task in more places than this), they are dropped under the
    /// lock.
    const DROPS: usize = 4;

    #[inline(always)]
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            home: None,
            more: None,
        }
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(|| More {
            rest: heapless::Vec::new(),
            displaced: None,
            dropped: heapless::Vec::new(),
            refused: false,
        })
    }

    /// Drops `waker` after unlocking (under the lock if more than [`DROPS`](Self::DROPS)
    /// wait to be dropped).
    #[inline(never)]
    pub(crate) fn discard(&mut self, waker: Waker) {
        if let Err(waker) = self.more().dropped.push(waker) {
            drop(waker);
        }
    }

    /// Puts `waker` into `slot`, handing the waker it replaces to [`discard`](Self::discard),
    /// unless `slot` holds a waker of the same task already.
    #[inline(always)]
    pub(crate) fn store(&mut self, slot: &mut Option<Waker>, waker: &Waker) {
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.replace(slot, waker);
        }
    }

    #[inline(never)]
    fn replace(&mut self, slot: &mut Option<Waker>, waker: &Waker) {
        let new = waker.clone();
        if let Some(old) = slot.replace(new) {
            self.discard(old);
        }
    }

    /// The waker pushed last.
    #[inline]
    fn last(&self) -> Option<&Waker> {
        self.more
            .as_ref()
            .and_then(|more| more.rest.last())
            .or(self.first.as_ref())
    }

    /// Adds a clone of `waker`; false (and more left, for [`wake`](Self::wake)) when
    /// full, in which case the caller keeps `waker` registered for the next round.
    #[inline(always)]
    pub(crate) fn push(&mut self, waker: &Waker) -> bool {
        // The usual event wakes one task.
        if self.first.is_none() {
            self.first = Some(waker.clone());
            return true;
        }
        self.push_more(waker)
    }

    #[inline(never)]
    fn push_more(&mut self, waker: &Waker) -> bool {
        if self.last().is_some_and(|last| last.will_wake(waker)) {
            return true;
        }
        if self.is_full() {
            self.more().refused = true;
            return false;
        }
        let waker = waker.clone();
        self.push_owned(waker).is_ok()
    }

    fn is_full(&self) -> bool {
        self.first.is_some() && self.more.as_ref().is_some_and(|more| more.rest.is_full())
    }

    /// Adds the waker in `slot`: taken out and lent if it is the first of this event, so
    /// that it is woken by reference and given back to `home` ([`WakeRest::put_back`])
    /// rather than cloned and woken by value (each a call into the waker, and for most
    /// executors an atomic reference count); cloned otherwise. False if full.
    #[inline(always)]
    pub(crate) fn lend(&mut self, slot: &mut Option<Waker>, home: Home) -> bool {
        // Only an armed home (one that holds a waker) lends: an empty one would leave a
        // home with no waker, and a waker pushed later would then be taken for a lent one.
        // Checked in debug builds only: in release the check costs 36 instructions per round
        // trip (rsvp-local, S1 on `mini`), through inlining.
        debug_assert!(slot.is_some(), "lend from a home without a waker");
        if self.first.is_none() {
            self.first = slot.take();
            self.home = Some(home);
            return true;
        }
        match slot {
            Some(waker) => self.push_more(waker),
            None => true,
        }
    }

    /// The lent waker and where it goes back to, if the event lent one.
    #[inline(always)]
    pub(crate) fn take_lent(&mut self) -> Option<(Waker, Home)> {
        let home = self.home.take()?;
        Some((self.first.take()?, home))
    }

    /// Adds `waker` itself, or hands it back when full (as [`push`](Self::push)).
    #[inline(always)]
    pub(crate) fn push_owned(&mut self, waker: Waker) -> Result<(), Waker> {
        if self.first.is_none() {
            self.first = Some(waker);
            return Ok(());
        }
        self.push_rest(waker)
    }

    #[inline(never)]
    fn push_rest(&mut self, waker: Waker) -> Result<(), Waker> {
        let more = self.more();
        more.rest.push(waker).inspect_err(|_| more.refused = true)
    }

    /// Adds the waker a full fixed-size set displaced to make room for the polling task.
    #[cfg(not(feature = "alloc"))]
    fn push_displaced(&mut self, waker: Waker) {
        if let Err(waker) = self.push_owned(waker) {
            let more = self.more();
            assert!(
                more.displaced.is_none(),
                "one lock round registers one task, and so displaces at most one waker"
            );
            more.displaced = Some(waker);
        }
    }

    /// Wakes every collected waker (call it with no lock held) and empties the list; returns
    /// whether more are left to collect.
    pub(crate) fn wake(&mut self) -> bool {
        // A lent waker that was not given back (a `Wakes` dropped) is woken as any other.
        self.home = None;
        if let Some(waker) = self.first.take() {
            waker.wake();
        }
        let Some(more) = self.more.take() else {
            return false;
        };
        for waker in more.rest {
            waker.wake();
        }
        if let Some(waker) = more.displaced {
            waker.wake();
        }
        drop(more.dropped);
        more.refused
    }

    /// Whether nothing was collected (and so nothing is left either).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_none()
    }

    /// The one waker collected, when it is the only one and nothing is left.
    #[inline]
    pub(crate) fn take_single(&mut self) -> Option<Waker> {
        match self.more {
            None => self.first.take(),
            Some(_) => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.as_ref().map_or(0, |more| more.rest.len())
    }
}

/// Wakes what was collected and not woken. (`Mutex::lock_wake` empties its `Wakes` and
/// never drops it; this is for every other holder, tests included.)
impl Drop for Wakes {
    fn drop(&mut self) {
        self.wake();
    }
}

/// A state whose waiters may not all fit in one [`Wakes`]: collects the ones still to be
/// woken after an event that ran out of room. Waking a task that no longer waits is
/// harmless (it polls and finds nothing), so an implementation may wake every registered
/// waiter; it must make progress (disarm what it collects).
pub(crate) trait WakeRest {
    fn wake_rest(&mut self, wakes: &mut Wakes);

    /// Takes back a waker the state lent from `home` ([`Wakes::lend`]), now woken; hands
    /// it back if `home` has a waker again (to be dropped after unlocking). Only states
    /// that lend (through `StateLock::lock_lend`) are asked. It must run no code of others
    /// (no waker clone, drop or comparison beyond moving it) and must not panic:
    /// `StateLock` runs it without its busy mark.
    fn put_back(&mut self, home: Home, waker: Waker) -> Option<Waker> {
        let _ = home;
        Some(waker)
    }
}

#[cfg(feature = "alloc")]
pub(crate) struct WakerSet<const K: usize> {
    /// `wakers[..armed]` wait for the next event. The others belong to tasks that waited
    /// before; up to `K` of them are kept so that a task that waits again (a server looping
    /// on `recv`, a caller on its slot) is re-armed without cloning its waker again.
    wakers: alloc::vec::Vec<Waker>,
    armed: usize,
}

#[cfg(feature = "alloc")]
impl<const K: usize> WakerSet<K> {
    pub(crate) const fn new() -> Self {
        Self {
            wakers: alloc::vec::Vec::new(),
            armed: 0,
        }
    }

    /// Remembers `waker` until the next [`wake_all`](Self::wake_all). (`wakes` is for the
    /// fixed-size set without `alloc`, which may have to wake a waiter to make room.)
    #[inline(always)]
    pub(crate) fn register(&mut self, waker: &Waker, _: &mut Wakes) {
        // The usual case, one task waiting again and again: its waker is the first one.
        if let Some(first) = self.wakers.first() {
            if first.will_wake(waker) {
                self.armed = self.armed.max(1);
                return;
            }
        }
        self.register_slow(waker);
    }

    #[inline(never)]
    fn register_slow(&mut self, waker: &Waker) {
        let (armed, idle) = self.wakers.split_at(self.armed);
        if armed.iter().any(|w| w.will_wake(waker)) {
            return;
        }
        let at = match idle.iter().position(|w| w.will_wake(waker)) {
            Some(i) => self.armed + i,
            None => {
                self.wakers.push(waker.clone());
                self.wakers.len() - 1
            }
        };
        self.wakers.swap(self.armed, at);
        self.armed += 1;
    }

    /// Puts every registered waker into `wakes` and forgets that they wait; those that do
    /// not fit stay registered (`wakes` then says so).
    #[inline(always)]
    pub(crate) fn wake_all(&mut self, wakes: &mut Wakes) {
        match self.armed {
            0 => {}
            // The usual case, one task waiting (a server for its next request).
            1 if wakes.is_empty() && self.wakers.len() <= K => {
                // An empty `Wakes` takes one waker: the push cannot be refused.
                let waker = self.wakers[0].clone();
                let _ = wakes.push_owned(waker);
                self.armed = 0;
            }
            _ => self.wake_armed(wakes),
        }
    }

    #[inline(never)]
    fn wake_armed(&mut self, wakes: &mut Wakes) {
        while self.armed > 0 && wakes.push(&self.wakers[self.armed - 1]) {
            self.armed -= 1;
        }
        if self.armed == 0 {
            while self.wakers.len() > K {
                if let Some(idle) = self.wakers.pop() {
                    wakes.discard(idle);
                }
            }
        }
    }

    /// Whether a task waits in the set.
    #[cfg(test)]
    pub(crate) fn is_armed(&self) -> bool {
        self.armed > 0
    }
}

#[cfg(not(feature = "alloc"))]
pub(crate) struct WakerSet<const K: usize> {
    /// As with `alloc`: an entry whose `armed` is false is a waker kept for reuse only.
    wakers: [Option<Waker>; K],
    armed: [bool; K],
}

#[cfg(not(feature = "alloc"))]
impl<const K: usize> WakerSet<K> {
    pub(crate) const fn new() -> Self {
        Self {
            wakers: [const { None }; K],
            armed: [false; K],
        }
    }

    /// Remembers `waker` until the next [`wake_all`](Self::wake_all). When all `K` entries
    /// wait, the one in the first entry is put into `wakes` to make room.
    pub(crate) fn register(&mut self, waker: &Waker, wakes: &mut Wakes) {
        let same = |w: &Option<Waker>| w.as_ref().is_some_and(|w| w.will_wake(waker));
        if let Some(i) = (0..K).find(|&i| same(&self.wakers[i])) {
            self.armed[i] = true;
            return;
        }
        let i = match (0..K).find(|&i| !self.armed[i]) {
            Some(i) => i,
            None => {
                // Full: the displaced waiter is woken, polls again and re-registers.
                if let Some(displaced) = self.wakers[0].take() {
                    wakes.push_displaced(displaced);
                }
                0
            }
        };
        wakes.store(&mut self.wakers[i], waker);
        self.armed[i] = true;
    }

    /// Puts every registered waker into `wakes` and forgets that they wait; those that do
    /// not fit stay registered (`wakes` then says so).
    pub(crate) fn wake_all(&mut self, wakes: &mut Wakes) {
        for (waker, armed) in self.wakers.iter().zip(&mut self.armed) {
            if *armed {
                if let Some(waker) = waker {
                    if !wakes.push(waker) {
                        return;
                    }
                }
                *armed = false;
            }
        }
    }

    /// Whether a task waits in the set.
    #[cfg(test)]
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.iter().any(|&a| a)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::test_support::{counter, woken};
    use std::sync::Arc;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "rests on `Waker::will_wake`, which std documents as best-effort and miri answers false"
    )]
    fn same_waker_is_kept_once_and_woken_once() {
        let mut set = WakerSet::<2>::new();
        let (count, waker) = counter();
        set.register(&waker, &mut Wakes::new());
        set.register(&waker, &mut Wakes::new());
        set.wake_all(&mut Wakes::new());
        set.wake_all(&mut Wakes::new());
        assert_eq!(woken(&count), 1);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "rests on `Waker::will_wake`, which std documents as best-effort and miri answers false"
    )]
    fn a_waker_that_waits_again_is_re_armed_without_a_clone() {
        let mut set = WakerSet::<2>::new();
        let (count, waker) = counter();
        set.register(&waker, &mut Wakes::new());
        let held = Arc::strong_count(&count);
        for round in 1..=3 {
            set.register(&waker, &mut Wakes::new());
            assert_eq!(
                Arc::strong_count(&count),
                held,
                "no clone on re-registration"
            );
            set.wake_all(&mut Wakes::new());
            assert_eq!(woken(&count), round);
        }
        set.wake_all(&mut Wakes::new());
        assert_eq!(woken(&count), 3, "only armed wakers are woken");
    }

    #[test]
    fn at_most_k_idle_wakers_are_kept() {
        let mut set = WakerSet::<2>::new();
        let counters: std::vec::Vec<_> = (0..5).map(|_| counter()).collect();
        for (_, waker) in &counters {
            set.register(waker, &mut Wakes::new());
        }
        set.wake_all(&mut Wakes::new());
        let kept = counters
            .iter()
            // One reference in `counters`, one in its `Waker`: a third is the set's.
            .filter(|(c, _)| Arc::strong_count(c) > 2)
            .count();
        assert!(kept <= 2, "{kept} idle wakers kept, at most K = 2");
        assert!(counters.iter().all(|(c, _)| woken(c) >= 1));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn many_waiters_are_all_kept_and_woken_once() {
        let mut set = WakerSet::<2>::new();
        let counters: std::vec::Vec<_> = (0..10).map(|_| counter()).collect();
        for (_, waker) in &counters {
            set.register(waker, &mut Wakes::new());
        }
        assert!(
            counters.iter().all(|(c, _)| woken(c) == 0),
            "no spurious wake-ups with alloc"
        );
        // More than one round holds: the rest stay armed until the next round.
        let mut wakes = Wakes::new();
        set.wake_all(&mut wakes);
        assert_eq!(wakes.len(), Wakes::CAPACITY);
        assert!(set.is_armed(), "the waiters that did not fit still wait");
        let mut rounds = 1;
        while wakes.wake() {
            set.wake_all(&mut wakes);
            rounds += 1;
        }
        assert_eq!(rounds, 2);
        assert!(!set.is_armed());
        assert!(counters.iter().all(|(c, _)| woken(c) == 1));
    }

    #[cfg(not(feature = "alloc"))]
    #[test]
    fn overflow_wakes_a_displaced_waiter_after_the_lock_instead_of_losing_it() {
        let mut set = WakerSet::<2>::new();
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (c, wc) = counter();
        set.register(&wa, &mut Wakes::new());
        set.register(&wb, &mut Wakes::new());
        let mut wakes = Wakes::new();
        set.register(&wc, &mut wakes);
        assert_eq!(woken(&a), 0, "woken once the lock is released");
        drop(wakes);
        assert_eq!(woken(&a), 1, "displaced: it polls and registers again");
        assert_eq!(woken(&b), 0);
        assert!(set.is_armed());
        set.wake_all(&mut Wakes::new());
        assert_eq!(woken(&b), 1);
        assert_eq!(woken(&c), 1);
        assert!(!set.is_armed());
    }
}
