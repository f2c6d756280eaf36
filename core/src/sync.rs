//! Locks: how a shared rsvp object is protected, chosen by a type parameter.
//!
//! Every shared rsvp type (`Rpc`, `Promise`, `Queue`, ...) keeps its state machine inside a
//! [`Mutex<M, T>`](Mutex) and is generic over the raw lock `M`. The lock decides the
//! *flavour*:
//!
//! | lock | flavour | `Sync` | cost |
//! | --- | --- | --- | --- |
//! | [`LocalMutex`] | single-thread, like embassy-sync's `NoopRawMutex` | no | nothing: no atomics |
//! | [`StdMutex`] (`std`) | thread-safe on hosts | yes | one uncontended futex lock |
//! | [`CriticalSectionMutex`] (`critical-section`) | thread- and interrupt-safe on firmware | yes | one critical section |
//!
//! The state machines never see the lock: it only wraps them, so both flavours run the
//! same code. No waker is woken under a lock: an event collects the wakers it must wake
//! and the wrapper wakes them once the lock is released (`Mutex::lock_wake`), and user
//! values (requests, replies) leave the lock before they are dropped. (Wakers are still
//! cloned, and an idle one replaced and dropped, under the lock.) The `RefCell` inside
//! [`Mutex`] turns an accidental re-entrant lock into a panic instead of undefined
//! behaviour.

use core::cell::RefCell;
use core::marker::PhantomData;

use crate::waker_set::{WakeRest, Wakes};

/// A raw lock: runs a closure with exclusive access among everyone sharing the lock.
///
/// # Safety
///
/// While `lock`'s closure runs, no other call to `lock` on the same value may run its
/// closure on another thread (or, for interrupt-safe locks, in an interrupt handler). A
/// lock that does not implement `Sync` only has to exclude re-entrant calls on its own
/// thread, which [`Mutex`] already turns into a panic.
pub unsafe trait RawMutex {
    /// An unlocked lock, for `const` constructors.
    const INIT: Self;

    /// Runs `f` while holding the lock.
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R;
}

/// The single-thread lock: no atomics, no critical section, `!Sync`.
///
/// Use it when every handle of an rsvp object lives on one thread (one executor, or one
/// embassy executor without interrupts touching it). It costs nothing.
#[derive(Debug)]
pub struct LocalMutex {
    _not_sync: PhantomData<*mut ()>,
}

// SAFETY: `LocalMutex` holds no data; moving it to another thread moves the whole object
// it protects (the object is `!Sync`, so no other thread can be using it at the same time).
unsafe impl Send for LocalMutex {}

// SAFETY: `LocalMutex` is `!Sync`, so every `lock` call comes from the thread that owns it;
// the trait contract only asks to exclude re-entrancy there, which `Mutex`'s `RefCell` does.
unsafe impl RawMutex for LocalMutex {
    const INIT: Self = Self {
        _not_sync: PhantomData,
    };
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// The thread-safe lock for hosts: a `std::sync::Mutex<()>`.
///
/// A panic while the lock is held does not poison rsvp objects: the state machines keep
/// their invariants between steps, so the lock is simply taken again.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct StdMutex(facade::Lock);

#[cfg(feature = "std")]
// SAFETY: `std::sync::Mutex` (or loom's model of it) excludes every other thread while the
// guard is alive, and the guard lives for the whole closure.
unsafe impl RawMutex for StdMutex {
    const INIT: Self = Self(facade::Lock::new());

    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self
            .0
            .get()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f()
    }
}

/// The thread- and interrupt-safe lock for firmware: a `critical-section` critical section.
///
/// The final binary provides the critical-section implementation (embassy's
/// `critical-section-single-core`, `cortex-m`'s, or `critical-section/std` on a host).
#[cfg(feature = "critical-section")]
#[derive(Debug)]
pub struct CriticalSectionMutex {
    _private: (),
}

#[cfg(feature = "critical-section")]
// SAFETY: a critical section excludes every other thread and interrupt handler that also
// takes one, for as long as the closure runs.
unsafe impl RawMutex for CriticalSectionMutex {
    const INIT: Self = Self { _private: () };

    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        critical_section::with(|_| f())
    }
}

/// A value protected by a raw lock `M`.
///
/// `Mutex<M, T>` is `Sync` exactly when `M` is (and `T: Send`): the lock decides whether the
/// owner may be shared between threads.
pub struct Mutex<M, T> {
    raw: M,
    data: RefCell<T>,
}

// SAFETY: every access to `data` goes through `lock`, and `M: Sync` promises that `lock`
// excludes other threads while the closure runs, so at most one thread touches `data` at a
// time; `T: Send` because that thread may not be the one that created it.
unsafe impl<M: RawMutex + Sync, T: Send> Sync for Mutex<M, T> {}

impl<M: RawMutex, T> Mutex<M, T> {
    /// A new unlocked value.
    #[inline(always)]
    pub const fn new(value: T) -> Self {
        Self {
            raw: M::INIT,
            data: RefCell::new(value),
        }
    }

    /// Runs `f` with exclusive access to the value.
    ///
    /// # Panics
    ///
    /// Panics if called again from inside `f` on the same mutex.
    #[inline]
    pub fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.raw.lock(|| f(&mut self.data.borrow_mut()))
    }

    /// Runs `f` with exclusive access to the value, then wakes the wakers `f` collected,
    /// once the lock is released; if they did not all fit, takes the lock again for the
    /// rest ([`WakeRest`]). So no waker is woken under the lock.
    #[inline]
    pub(crate) fn lock_wake<R>(&self, f: impl FnOnce(&mut T, &mut Wakes) -> R) -> R
    where
        T: WakeRest,
    {
        // Never dropped: it is empty once woken, and its drop glue (a check of each of its
        // parts) cost 10-15 % of a round trip when it ran on every lock.
        let mut wakes = core::mem::ManuallyDrop::new(Wakes::new());
        let result = self.lock(|value| f(value, &mut wakes));
        if let Some(waker) = wakes.take_single() {
            waker.wake();
        } else if !wakes.is_empty() {
            self.wake(&mut wakes);
        }
        result
    }

    /// Wakes what an event collected, with rounds under the lock for what did not fit.
    #[inline(never)]
    fn wake(&self, wakes: &mut Wakes)
    where
        T: WakeRest,
    {
        while wakes.wake() {
            self.lock(|value| value.wake_rest(wakes));
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<M, T> core::fmt::Debug for Mutex<M, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}

// ---- loom facade -----------------------------------------------------------------------
//
// The thread-safe building blocks (the std lock, the atomics, the atomic waker) come from
// here, so that under `RUSTFLAGS="--cfg loom"` the real rsvp code runs on loom's
// model-checked twins and `core/tests/loom.rs` explores its interleavings. `Arc` stays
// `alloc`'s even under loom: `Waker::from` needs `alloc::sync::Arc`, and the reference
// counts are not part of any rsvp protocol.

// Only the in-flight pool (`limits.rs`) uses atomics; it exists with the same cfg.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr", not(loom)))]
pub(crate) use core::sync::atomic::{AtomicBool, Ordering};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr", loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, Ordering};

/// A waker slot that any thread can wake: futures-util's, or loom's model of it.
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
#[derive(Debug)]
pub(crate) struct AtomicWaker(
    #[cfg(not(loom))] futures_util::task::AtomicWaker,
    #[cfg(loom)] loom::future::AtomicWaker,
);

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        Self(Default::default())
    }

    pub(crate) fn register(&self, waker: &core::task::Waker) {
        #[cfg(not(loom))]
        self.0.register(waker);
        #[cfg(loom)]
        self.0.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.0.wake();
    }
}

#[cfg(feature = "std")]
mod facade {
    /// The lock inside [`StdMutex`](super::StdMutex).
    #[cfg(not(loom))]
    #[derive(Debug)]
    pub(super) struct Lock(std::sync::Mutex<()>);

    #[cfg(not(loom))]
    impl Lock {
        pub(super) const fn new() -> Self {
            Self(std::sync::Mutex::new(()))
        }

        #[inline]
        pub(super) fn get(&self) -> &std::sync::Mutex<()> {
            &self.0
        }
    }

    /// Under loom: loom's mutex, made on first use because loom objects cannot be made in
    /// a `const` (each belongs to one model execution, and every rsvp object in a model is
    /// made inside it).
    #[cfg(loom)]
    #[derive(Debug)]
    pub(super) struct Lock(std::sync::OnceLock<loom::sync::Mutex<()>>);

    #[cfg(loom)]
    impl Lock {
        pub(super) const fn new() -> Self {
            Self(std::sync::OnceLock::new())
        }

        pub(super) fn get(&self) -> &loom::sync::Mutex<()> {
            // loom runs one model thread at a time and switches only at its own operations,
            // so this initialisation cannot interleave with another thread's.
            self.0.get_or_init(|| loom::sync::Mutex::new(()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_mutex_gives_exclusive_access() {
        let m: Mutex<LocalMutex, u32> = Mutex::new(1);
        m.lock(|v| *v += 1);
        assert_eq!(m.lock(|v| *v), 2);
        assert_eq!(m.into_inner(), 2);
    }

    #[test]
    #[should_panic(expected = "already")]
    fn reentrant_lock_panics_instead_of_aliasing() {
        let m: Mutex<LocalMutex, u32> = Mutex::new(1);
        m.lock(|_| m.lock(|v| *v += 1));
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_mutex_serialises_threads() {
        // Fewer rounds under miri, which interprets every step.
        const ROUNDS: u64 = if cfg!(miri) { 50 } else { 1000 };
        static M: Mutex<StdMutex, u64> = Mutex::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..ROUNDS {
                        M.lock(|v| *v += 1);
                    }
                });
            }
        });
        assert_eq!(M.lock(|v| *v), 4 * ROUNDS);
    }
}
