//! Locks: how a shared rsvp object is protected, chosen by a type parameter.
//!
//! Every shared rsvp type ([`Rpc`](crate::Rpc), [`Promise`](crate::Promise),
//! [`Queue`](crate::queue::Queue), ...) keeps its state inside a [`Mutex<M, T>`](Mutex) and
//! is generic over the raw lock `M` (an endpoint names it in its
//! [kind](crate::rpc::Kind)), which decides the *flavour*:
//!
//! | lock | flavour | `Sync` | cost |
//! | --- | --- | --- | --- |
//! | [`LocalMutex`] | single-thread, like embassy-sync's `NoopRawMutex` | no | nothing: no atomics |
//! | [`StdMutex`] (`std`) | thread-safe on hosts | yes | one uncontended futex lock |
//! | [`CriticalSectionMutex`] (`critical-section`) | thread- and interrupt-safe on firmware | yes | one critical section |
//!
//! Both flavours run the same state machines, and no waker or other user code ever runs
//! under the lock.
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() {
//! use rsvp::lock::{LocalMutex, StdMutex};
//! use rsvp::rpc::With;
//! use rsvp::time::NoClock;
//! use rsvp::Rpc;
//!
//! // Shared between threads: a `static` endpoint behind a thread-safe lock.
//! static SHARED: Rpc<u32, u32, 4, With<StdMutex, NoClock>> = Rpc::new(NoClock);
//! // On one thread: no atomics at all.
//! let local: Rpc<u32, u32, 4, With<LocalMutex, NoClock>> = Rpc::new(NoClock);
//! assert_eq!(SHARED.capacity(), local.capacity());
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```

// The locks live in `sync`, beside the loom facade and the endpoint's own lock.
#[cfg(feature = "critical-section")]
pub use crate::sync::CriticalSectionMutex;
#[cfg(feature = "std")]
pub use crate::sync::StdMutex;
pub use crate::sync::{LocalMutex, Mutex, RawMutex};
