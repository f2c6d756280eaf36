//! Sets of wakers, for the places where any number of tasks may wait for one event.
//!
//! A [`WakerSet`] wakes by reference and keeps up to `K` wakers of tasks that are no longer
//! waiting, so that the common loop (a server polling `recv` again, a caller polling its
//! reply) re-arms a waker it already has instead of cloning it on every wait: a clone and a
//! drop are two atomic operations on most executors. The price is that up to `K` wakers of
//! finished tasks (their task headers, not their futures) stay alive until they are
//! replaced or the set is dropped: bounded, and never woken, since only armed entries are.
//!
//! [`WakerSet`] is for events that come often (a free reply slot, room in a full queue, a
//! request for a server): every event disarms it, so a task that stopped waiting is not
//! woken by the next event. With `alloc` it is a `Vec` that keeps its capacity: no allocation
//! in steady state, and no spurious wake-ups however many tasks wait. [`WaitList`] is for an
//! event that may never come (a promise): its waiters remove themselves when they stop.
//!
//! Without `alloc` it holds `K` wakers. When it is full, registering one more wakes
//! everyone already registered and starts over: those tasks poll again and re-register, so
//! no wake-up is ever lost, at the price of spurious polls while more than `K` tasks wait
//! (the same policy as embassy-sync's `MultiWakerRegistration`).

use core::task::Waker;

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

    /// Remembers `waker` until the next [`wake_all`](Self::wake_all).
    #[inline(always)]
    pub(crate) fn register(&mut self, waker: &Waker) {
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

    /// Wakes every registered waker (by reference) and forgets that they wait.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        if self.armed == 0 {
            return;
        }
        for waker in &self.wakers[..self.armed] {
            waker.wake_by_ref();
        }
        self.clear();
    }

    /// Forgets that the registered wakers wait, without waking them.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.armed = 0;
        if self.wakers.len() > K {
            self.wakers.truncate(K);
        }
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

    /// Remembers `waker` until the next [`wake_all`](Self::wake_all).
    pub(crate) fn register(&mut self, waker: &Waker) {
        let same = |w: &Option<Waker>| w.as_ref().is_some_and(|w| w.will_wake(waker));
        if let Some(i) = (0..K).find(|&i| same(&self.wakers[i])) {
            self.armed[i] = true;
            return;
        }
        let i = match (0..K).find(|&i| !self.armed[i]) {
            Some(i) => i,
            None => {
                self.wake_all();
                0
            }
        };
        self.wakers[i] = Some(waker.clone());
        self.armed[i] = true;
    }

    /// Wakes every registered waker (by reference) and forgets that they wait.
    pub(crate) fn wake_all(&mut self) {
        for (waker, armed) in self.wakers.iter().zip(&mut self.armed) {
            if core::mem::take(armed) {
                if let Some(waker) = waker {
                    waker.wake_by_ref();
                }
            }
        }
    }

    /// Forgets that the registered wakers wait, without waking them.
    pub(crate) fn clear(&mut self) {
        self.armed = [false; K];
    }
}

/// Waiters that come and go: each waiting future holds a key to its own entry and gives it
/// back when it ends, so a future that stops waiting (timed out, dropped) leaves nothing
/// behind. For the promise, where tasks may wait, give up and go away any number of times
/// before a value comes.
///
/// With `alloc` the entries are a slab that grows to the largest number of futures that ever
/// waited at once. Without `alloc` it is a [`WakerSet`] of `K`: keys are not needed, since
/// nothing grows.
#[cfg(feature = "alloc")]
pub(crate) struct WaitList<const K: usize> {
    /// `None`: free. `Some(None)`: taken by a future, already woken. `Some(Some(w))`: waiting.
    entries: alloc::vec::Vec<Option<Option<Waker>>>,
    free: alloc::vec::Vec<usize>,
}

#[cfg(feature = "alloc")]
impl<const K: usize> WaitList<K> {
    pub(crate) const fn new() -> Self {
        Self {
            entries: alloc::vec::Vec::new(),
            free: alloc::vec::Vec::new(),
        }
    }

    /// Remembers `waker` in the entry of `key`, taking an entry the first time.
    pub(crate) fn register(&mut self, key: &mut Option<usize>, waker: &Waker) {
        let index = *key.get_or_insert_with(|| match self.free.pop() {
            Some(index) => index,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        });
        match &mut self.entries[index] {
            Some(Some(w)) if w.will_wake(waker) => {}
            entry => *entry = Some(Some(waker.clone())),
        }
    }

    /// Gives the entry of `key` back.
    pub(crate) fn unregister(&mut self, key: &mut Option<usize>) {
        if let Some(index) = key.take() {
            self.entries[index] = None;
            self.free.push(index);
        }
    }

    /// Wakes every waiting future; their entries stay theirs until they unregister.
    pub(crate) fn wake_all(&mut self) {
        for entry in self.entries.iter_mut().flatten() {
            if let Some(waker) = entry.take() {
                waker.wake();
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }
}

#[cfg(not(feature = "alloc"))]
pub(crate) struct WaitList<const K: usize>(WakerSet<K>);

#[cfg(not(feature = "alloc"))]
impl<const K: usize> WaitList<K> {
    pub(crate) const fn new() -> Self {
        Self(WakerSet::new())
    }

    pub(crate) fn register(&mut self, _key: &mut Option<usize>, waker: &Waker) {
        self.0.register(waker);
    }

    pub(crate) fn unregister(&mut self, _key: &mut Option<usize>) {}

    pub(crate) fn wake_all(&mut self) {
        self.0.wake_all();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "rests on `Waker::will_wake`, which std documents as best-effort and miri answers false"
    )]
    fn same_waker_is_kept_once_and_woken_once() {
        let mut set = WakerSet::<2>::new();
        let (count, waker) = counter();
        set.register(&waker);
        set.register(&waker);
        set.wake_all();
        set.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "rests on `Waker::will_wake`, which std documents as best-effort and miri answers false"
    )]
    fn a_waker_that_waits_again_is_re_armed_without_a_clone() {
        let mut set = WakerSet::<2>::new();
        let (count, waker) = counter();
        set.register(&waker);
        let held = Arc::strong_count(&count);
        for round in 1..=3 {
            set.register(&waker);
            assert_eq!(
                Arc::strong_count(&count),
                held,
                "no clone on re-registration"
            );
            set.wake_all();
            assert_eq!(count.0.load(Ordering::SeqCst), round);
        }
        set.wake_all();
        set.register(&waker);
        set.clear();
        set.wake_all();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            3,
            "only armed wakers are woken"
        );
    }

    #[test]
    fn at_most_k_idle_wakers_are_kept() {
        let mut set = WakerSet::<2>::new();
        let counters: std::vec::Vec<_> = (0..5).map(|_| counter()).collect();
        for (_, waker) in &counters {
            set.register(waker);
        }
        set.wake_all();
        let kept = counters
            .iter()
            // One reference in `counters`, one in its `Waker`: a third is the set's.
            .filter(|(c, _)| Arc::strong_count(c) > 2)
            .count();
        assert!(kept <= 2, "{kept} idle wakers kept, at most K = 2");
        assert!(counters
            .iter()
            .all(|(c, _)| c.0.load(Ordering::SeqCst) >= 1));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn many_waiters_are_all_kept_and_woken_once() {
        let mut set = WakerSet::<2>::new();
        let counters: std::vec::Vec<_> = (0..10).map(|_| counter()).collect();
        for (_, waker) in &counters {
            set.register(waker);
        }
        assert!(
            counters
                .iter()
                .all(|(c, _)| c.0.load(Ordering::SeqCst) == 0),
            "no spurious wake-ups with alloc"
        );
        set.wake_all();
        assert!(counters
            .iter()
            .all(|(c, _)| c.0.load(Ordering::SeqCst) == 1));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn a_wait_list_forgets_a_waiter_that_went_away_and_reuses_its_entry() {
        let mut list = WaitList::<2>::new();
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (mut ka, mut kb) = (None, None);
        list.register(&mut ka, &wa);
        list.register(&mut ka, &wa);
        list.register(&mut kb, &wb);
        assert_eq!(list.len(), 2);
        list.unregister(&mut kb);
        assert_eq!(list.len(), 1);
        for _ in 0..100 {
            let mut k = None;
            list.register(&mut k, &wb);
            list.unregister(&mut k);
        }
        assert_eq!(list.entries.len(), 2, "entries are reused, not piled up");
        list.wake_all();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 0, "b went away before the wake");
        // A woken waiter keeps its entry until it ends, and can wait again.
        list.register(&mut ka, &wa);
        list.wake_all();
        assert_eq!(a.0.load(Ordering::SeqCst), 2);
    }

    #[cfg(not(feature = "alloc"))]
    #[test]
    fn overflow_wakes_earlier_waiters_instead_of_losing_them() {
        let mut set = WakerSet::<2>::new();
        let (a, wa) = counter();
        let (b, wb) = counter();
        let (c, wc) = counter();
        set.register(&wa);
        set.register(&wb);
        set.register(&wc);
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 1);
        assert_eq!(c.0.load(Ordering::SeqCst), 0);
        set.wake_all();
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
    }
}
