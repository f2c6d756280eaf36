//! embassy-sync's raw locks, usable as rsvp's lock.
//!
//! The two traits have the same shape (an `INIT` constant and `lock(f)`), but rsvp's is its
//! own so that the core does not depend on embassy-sync; this wrapper is the bridge. The
//! orphan rule rules out implementing rsvp's trait for every embassy lock directly.

use embassy_sync::blocking_mutex::raw::RawMutex as EmbassyRawMutex;

/// An embassy-sync raw lock (`CriticalSectionRawMutex`, `NoopRawMutex`,
/// `ThreadModeRawMutex`, or a HAL's own) as the lock of an rsvp object.
///
/// It is `Sync` exactly when the embassy lock is, so the flavour follows the lock you pick:
/// `NoopRawMutex` gives a single-executor object with no critical sections at all.
///
/// ```
/// use rsvp_embassy::rsvp::{rpc::With, Rpc};
/// use rsvp_embassy::{EmbassyMutex, EmbassyTimer, NoopRawMutex};
///
/// // The same as `rsvp_embassy::Rpc<u32, u32, 4, NoopRawMutex>`.
/// let _rpc: Rpc<u32, u32, 4, With<EmbassyMutex<NoopRawMutex>, EmbassyTimer>> =
///     Rpc::new(EmbassyTimer);
/// ```
#[derive(Debug)]
pub struct EmbassyMutex<R>(R);

// SAFETY: embassy-sync's `RawMutex` contract is that no two `lock` closures on the same
// value run at once on different threads (or interrupt priorities), which is rsvp's
// contract for `Sync` locks; a `!Sync` embassy lock (`NoopRawMutex`) makes this wrapper
// `!Sync` too, and rsvp's `Mutex` turns re-entrancy on its own thread into a panic.
unsafe impl<R: EmbassyRawMutex> rsvp::lock::RawMutex for EmbassyMutex<R> {
    const INIT: Self = Self(R::INIT);
    // Critical sections on one core, or no lock at all: one lock per step is best.

    #[inline]
    fn lock<T>(&self, f: impl FnOnce() -> T) -> T {
        self.0.lock(f)
    }
}
