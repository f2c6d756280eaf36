//! Helpers shared by the core's unit tests.

extern crate std;

use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

/// A waker's task that counts its wake-ups; `Arc::strong_count` of it counts the waker's
/// clones.
pub(crate) struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A counting task and its waker.
pub(crate) fn counter() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    (count, waker)
}

/// How many times `count`'s waker was woken.
pub(crate) fn woken(count: &Count) -> usize {
    count.0.load(Ordering::SeqCst)
}
