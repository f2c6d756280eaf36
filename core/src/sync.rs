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
//! values (requests, replies) leave the lock before they are dropped; so do the wakers an
//! event replaces. The `RefCell` inside [`Mutex`] turns an accidental re-entrant lock into
//! a panic instead of undefined behaviour.
//!
//! The endpoint, whose lock is taken several times per call, uses `StateLock` instead: it
//! marks itself busy while its closure runs, and a lock that finds the mark set panics
//! instead of aliasing. It needs no `RefCell`: measured on `rsvp-local@mini`, S1, the
//! `RefCell`'s flag cost 60 of 685 instructions per round trip, the mark about 15.

use core::cell::{Cell, RefCell, UnsafeCell};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;

use core::task::Waker;

use crate::waker_set::{Home, WakeRest, Wakes};

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

    /// Whether taking the lock again right after releasing it costs next to nothing (no
    /// atomics). rsvp then hands a woken task's waker back to where it was kept after
    /// waking it, in a second short lock, instead of cloning it under the first: that
    /// saves the waker's reference counting, which is worth a lock only if the lock is
    /// free. `false` unless a lock says so.
    const RELOCK_IS_FREE: bool = false;

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
    const RELOCK_IS_FREE: bool = true;
    #[inline(always)]
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
        let mut wakes = ManuallyDrop::new(Wakes::new());
        let result = self.lock(|value| f(value, &mut wakes));
        wake_after(self, &mut wakes);
        result
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

/// A lock whose state can be taken again after an event, to collect what its [`Wakes`]
/// could not hold, or to take back a lent waker.
trait Relock<T> {
    fn relock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

impl<M: RawMutex, T> Relock<T> for Mutex<M, T> {
    #[inline(always)]
    fn relock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock(f)
    }
}

impl<M: RawMutex, T> Relock<T> for StateLock<M, T> {
    #[inline(always)]
    fn relock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock(f)
    }
}

/// Wakes (and drops) what an event collected in `wakes`, once its lock is released; if
/// not everything fit, the rest is collected under the lock again ([`WakeRest`]).
///
/// `wakes` is never dropped: it is empty once woken, and its drop glue (a check of each of
/// its parts) cost 10-15 % of a round trip when it ran on every lock.
#[inline(always)]
fn wake_after<T: WakeRest>(lock: &impl Relock<T>, wakes: &mut ManuallyDrop<Wakes>) {
    if let Some(waker) = wakes.take_single() {
        waker.wake();
    } else if !wakes.is_empty() {
        wake_rounds(lock, wakes);
    }
}

#[inline(never)]
fn wake_rounds<T: WakeRest>(lock: &impl Relock<T>, wakes: &mut Wakes) {
    while wakes.wake() {
        lock.relock(|state| state.wake_rest(wakes));
    }
}

/// The lock of a state machine that is taken often: the endpoint's.
///
/// A [`Mutex`] guards against re-entrance with a `RefCell`. This one marks itself busy
/// while its closure runs, which is all a `RefCell` guard does, more cheaply: code that
/// runs under it and is not rsvp's (a waker's clone, an instant's comparison, a request
/// dropped while a panic unwinds) and tries to take it again panics instead of making a
/// second `&mut` to the state. A panic under the lock leaves the mark set: the state may be
/// half-way through an event, so every later use of the object panics (it is poisoned).
///
/// What an event must still not do under it, to keep user code out of its way: drop a
/// waker, a request or a reply (it hands them out, in [`Wakes`] or as its result).
pub(crate) struct StateLock<M, T> {
    raw: M,
    /// Set while a closure runs, and for good if one panicked.
    busy: Cell<bool>,
    data: UnsafeCell<T>,
}

// SAFETY: `data` and `busy` are only touched under `raw`, and `M: Sync` promises that `lock`
// excludes other threads while its closure runs; `T: Send` because that thread may not be
// the one that created it.
unsafe impl<M: RawMutex + Sync, T: Send> Sync for StateLock<M, T> {}

impl<M: RawMutex, T> StateLock<M, T> {
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        Self {
            raw: M::INIT,
            busy: Cell::new(false),
            data: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access to the state.
    ///
    /// # Panics
    ///
    /// If code that `f` runs tries to take this lock again, or after a panic under it.
    #[inline(always)]
    pub(crate) fn lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.raw.lock(|| self.enter(f))
    }

    /// `lock`'s part under the raw lock.
    #[inline(always)]
    fn enter<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // Checked, then set (rather than `replace`d and the old value checked): a
        // comparison with memory, one instruction less on x86-64.
        if self.busy.get() {
            reentered();
        }
        self.busy.set(true);
        // SAFETY: `raw` excludes other threads, and `busy` every other entry on this thread
        // from here until `f` returns (if `f` unwinds, `busy` stays set): so no other
        // reference to `data` is alive while this one is.
        let result = f(unsafe { &mut *self.data.get() });
        self.busy.set(false);
        result
    }

    /// [`lock`](Self::lock), then wakes the wakers `f` collected and drops the ones it
    /// replaced, once the lock is released (as [`Mutex::lock_wake`]).
    #[inline]
    pub(crate) fn lock_wake<R>(&self, f: impl FnOnce(&mut T, &mut Wakes) -> R) -> R
    where
        T: WakeRest,
    {
        let mut wakes = ManuallyDrop::new(Wakes::new());
        let result = self.lock(|value| f(value, &mut wakes));
        wake_after(self, &mut wakes);
        result
    }

    /// [`lock_wake`](Self::lock_wake) for an event that may lend a waker
    /// ([`Wakes::lend`]): it is woken by reference once the lock is released, then given
    /// back to its home under the lock again ([`WakeRest::put_back`]). Over a lock whose
    /// relocking costs ([`RawMutex::RELOCK_IS_FREE`]), the lent waker is woken by value
    /// instead, and its home makes a new clone when its task waits again.
    #[inline(always)]
    pub(crate) fn lock_lend<R>(&self, f: impl FnOnce(&mut T, &mut Wakes) -> R) -> R
    where
        T: WakeRest,
    {
        if !M::RELOCK_IS_FREE {
            return self.lock_wake(f);
        }
        let mut wakes = ManuallyDrop::new(Wakes::new());
        let result = self.lock(|value| f(value, &mut wakes));
        if let Some((waker, home)) = wakes.take_lent() {
            waker.wake_by_ref();
            // Handed back if its home has a waker again: dropped after unlocking.
            let back = self.hand_back(home, waker);
            wake_after(self, &mut wakes);
            drop(back);
        } else {
            wake_after(self, &mut wakes);
        }
        result
    }

    /// Gives a lent waker back to its home ([`WakeRest::put_back`]), under the raw lock but
    /// without the busy mark: measured on `rsvp-local@mini`, S1, the mark cost 8 of 740
    /// instructions per round trip in the two hand-backs.
    ///
    /// The mark is not needed here. It stops code of others that runs under the lock from
    /// taking it again, and `put_back` runs none (it moves a waker, compares nothing and
    /// cannot panic, so no unwinding drops a waker under it either). Nor can this run
    /// inside another closure of this lock: it is reached only from [`lock_lend`]
    /// (Self::lock_lend), whose first lock would have panicked there.
    #[inline(always)]
    fn hand_back(&self, home: Home, waker: Waker) -> Option<Waker>
    where
        T: WakeRest,
    {
        self.raw.lock(|| {
            // SAFETY: `raw` excludes other threads; on this thread no other reference to
            // `data` is alive: `lock_lend`'s own lock has returned, and it was not taken
            // inside another closure of this lock (it would have panicked on the mark).
            // `put_back` runs no code of others and does not panic, so nothing can take
            // the lock while this reference lives.
            let state = unsafe { &mut *self.data.get() };
            state.put_back(home, waker)
        })
    }
}

#[cold]
#[inline(never)]
fn reentered() -> ! {
    panic!(
        "rsvp: an endpoint was used while it was locked (from a waker's or clock's code), \
         or after a panic under its lock"
    )
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
    extern crate std;

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

    /// A waker whose clone runs the code it is given.
    fn cloning_runs(code: std::rc::Rc<dyn Fn()>) -> core::task::Waker {
        use core::task::{RawWaker, RawWakerVTable, Waker};
        use std::boxed::Box;
        struct Data(std::rc::Rc<dyn Fn()>);
        const VTABLE: RawWakerVTable = RawWakerVTable::new(
            |data| {
                // SAFETY: `data` is the `Box<Data>` made below, alive until `drop`.
                let this = unsafe { &*data.cast::<Data>() };
                (this.0)();
                RawWaker::new(
                    Box::into_raw(Box::new(Data(this.0.clone()))).cast(),
                    &VTABLE,
                )
            },
            // Waking by value consumes the waker, as dropping it does.
            // SAFETY: `data` is a `Box<Data>` from `into_raw`, freed once.
            |data| drop(unsafe { Box::from_raw(data.cast_mut().cast::<Data>()) }),
            |_| {},
            // SAFETY: as for waking by value.
            |data| drop(unsafe { Box::from_raw(data.cast_mut().cast::<Data>()) }),
        );
        let raw = RawWaker::new(Box::into_raw(Box::new(Data(code))).cast(), &VTABLE);
        // SAFETY: the vtable keeps the contract: each clone owns its own box.
        unsafe { Waker::from_raw(raw) }
    }

    /// A state with nothing left to wake after a round.
    struct Count(u32);

    impl WakeRest for Count {
        fn wake_rest(&mut self, _: &mut Wakes) {}
    }

    #[test]
    fn state_lock_gives_exclusive_access_and_wakes_after_unlocking() {
        let lock: StateLock<LocalMutex, Count> = StateLock::new(Count(1));
        lock.lock(|v| v.0 += 1);
        assert_eq!(lock.lock(|v| v.0), 2);
        let used = std::rc::Rc::new(Cell::new(0));
        let waker = cloning_runs(std::rc::Rc::new({
            let used = used.clone();
            move || used.set(used.get() + 1)
        }));
        lock.lock_wake(|v, wakes| {
            v.0 += 1;
            assert!(wakes.push(&waker));
        });
        assert_eq!((lock.lock(|v| v.0), used.get()), (3, 1));
    }

    #[test]
    #[should_panic(expected = "while it was locked")]
    fn a_waker_clone_that_uses_a_state_lock_panics_instead_of_aliasing() {
        let lock = std::rc::Rc::new(StateLock::<LocalMutex, Count>::new(Count(1)));
        let waker = cloning_runs(std::rc::Rc::new({
            let lock = lock.clone();
            move || lock.lock(|v| v.0 += 1)
        }));
        lock.lock_wake(|_, wakes| {
            wakes.push(&waker);
        });
    }

    #[test]
    #[should_panic(expected = "after a panic under its lock")]
    fn a_panic_under_a_state_lock_leaves_it_poisoned() {
        let lock: StateLock<LocalMutex, Count> = StateLock::new(Count(1));
        let panicked = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            lock.lock(|v| {
                v.0 += 1;
                panic!("an event panics half-way");
            })
        }));
        assert!(panicked.is_err());
        lock.lock(|v| v.0 += 1);
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
