// The README's examples use the manual clock, which needs `std`.
#![cfg_attr(feature = "std", doc = include_str!("../../README.md"))]
#![cfg_attr(
    not(feature = "std"),
    doc = "Request/response, promises and batching for async Rust on every target. \
           See the README (built with the `std` feature) for the guide."
)]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
mod batch;
#[cfg(feature = "alloc")]
pub mod channel;
mod error;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod limits;
#[cfg(feature = "std")]
mod manual_clock;
#[cfg(feature = "futures-channel")]
mod mpsc;
mod promise;
mod queue;
mod reply;
mod rpc;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
mod service;
mod stats;
mod sync;
mod time;
mod waker_set;

#[cfg(feature = "alloc")]
pub use batch::{route, Batch, BatchConfig, BatchConfigError, Pairs, Routed, WrongResultCount};
pub use error::{CallError, TryCallError, TryRecvError, TrySendError};
#[cfg(feature = "std")]
pub use manual_clock::{ManualClock, ManualInstant, ManualSleep};
#[cfg(feature = "futures-channel")]
pub use mpsc::MpscQueue;
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use promise::promise;
pub use promise::{
    Abandoned, Promise, Setter, TryGetError, WaitError, WaitFuture, WaitUntilFuture,
};
pub use queue::{Queue, RequestQueue};
pub use reply::{RequestInfo, Ticket, Timed};
#[cfg(feature = "alloc")]
pub use rpc::{
    BatchError, BatchFn, BatchHandler, BatchHandlerOf, BatchJob, BatchJobFn, BatchReport,
    BatchResult, BatchServeFuture,
};
pub use rpc::{
    CallFuture, Caller, CancelledFuture, CloseMode, Endpoint, Envelope, InlineQueue, InstantOf,
    Permit, RecvFuture, Request, ReserveFuture, Responder, Rpc, Server, TimedCallFuture,
};
pub use rpc::{CallManyFuture, ManyCall};
#[doc(hidden)]
pub use rpc::{DefaultQueue, InlineRing, Transport};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use rpc::{ServeFuture, ServeReport};
#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
pub use service::{PromiseService, RunFuture, RunReport, Service};
pub use stats::{Histogram, Outcome, Stats, StatsSnapshot};
#[cfg(feature = "critical-section")]
pub use sync::CriticalSectionMutex;
#[cfg(feature = "std")]
pub use sync::StdMutex;
pub use sync::{LocalMutex, Mutex, RawMutex};
#[cfg(feature = "std")]
pub use time::StdClock;
pub use time::{Clock, Instant, Never, NoClock, NoInstant, Timer};
