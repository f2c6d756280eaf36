//! A set of wakers, for the places where any number of tasks may wait for one event (a
//! free reply slot, room in a full queue, a promise being set).
//!
//! With `alloc` it is a `Vec` that grows to the largest number of tasks that ever waited
//! at once and then keeps its capacity: no allocation in steady state, and no spurious
//! wake-ups however many tasks wait.
//!
//! Without `alloc` it holds `K` wakers. When it is full, registering one more wakes
//! everyone already registered and starts over: those tasks poll again and re-register, so
//! no wake-up is ever lost, at the price of spurious polls while more than `K` tasks wait
//! (the same policy as embassy-sync's `MultiWakerRegistration`).

use core::task::Waker;

#[cfg(feature = "alloc")]
pub(crate) struct WakerSet<const K: usize> {
    wakers: alloc::vec::Vec<Waker>,
}

#[cfg(feature = "alloc")]
impl<const K: usize> WakerSet<K> {
    pub(crate) const fn new() -> Self {
        Self {
            wakers: alloc::vec::Vec::new(),
        }
    }

    /// Remembers `waker` until the next [`wake_all`](Self::wake_all).
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    /// Wakes and forgets every registered waker.
    pub(crate) fn wake_all(&mut self) {
        self.wakers.drain(..).for_each(Waker::wake);
    }
}

#[cfg(not(feature = "alloc"))]
pub(crate) struct WakerSet<const K: usize> {
    wakers: [Option<Waker>; K],
}

#[cfg(not(feature = "alloc"))]
impl<const K: usize> WakerSet<K> {
    pub(crate) const fn new() -> Self {
        Self {
            wakers: [const { None }; K],
        }
    }

    /// Remembers `waker` until the next [`wake_all`](Self::wake_all).
    pub(crate) fn register(&mut self, waker: &Waker) {
        if self.wakers.iter().flatten().any(|w| w.will_wake(waker)) {
            return;
        }
        if let Some(free) = self.wakers.iter_mut().find(|w| w.is_none()) {
            *free = Some(waker.clone());
            return;
        }
        self.wake_all();
        self.wakers[0] = Some(waker.clone());
    }

    /// Wakes and forgets every registered waker.
    pub(crate) fn wake_all(&mut self) {
        for waker in self.wakers.iter_mut().filter_map(Option::take) {
            waker.wake();
        }
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
    fn same_waker_is_kept_once_and_woken_once() {
        let mut set = WakerSet::<2>::new();
        let (count, waker) = counter();
        set.register(&waker);
        set.register(&waker);
        set.wake_all();
        set.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
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
