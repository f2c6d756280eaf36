#![doc = include_str!("../../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
mod batch;
mod sync;
mod time;
mod waker_set;
#[cfg(feature = "std")]
mod manual_clock;

#[cfg(feature = "alloc")]
pub use batch::{route, Batch, BatchConfig, BatchConfigError, Pairs, Routed, WrongResultCount};
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
