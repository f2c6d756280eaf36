#![doc = include_str!("../../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod promise;
mod sync;
mod time;
mod waker_set;
#[cfg(feature = "std")]
mod manual_clock;

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use promise::promise;
pub use promise::{
    Abandoned, Promise, Setter, TryGetError, WaitError, WaitFuture, WaitUntilFuture,
};
pub use sync::{LocalMutex, Mutex, RawMutex};
#[cfg(feature = "critical-section")]
pub use sync::CriticalSectionMutex;
#[cfg(feature = "std")]
pub use sync::{DefaultMutex, StdMutex};
pub use time::{Clock, Instant, NoClock, NoInstant, Timer};
#[cfg(feature = "std")]
pub use time::StdClock;
#[cfg(feature = "std")]
pub use manual_clock::{ManualClock, ManualInstant, ManualSleep};
