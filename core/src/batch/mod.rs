//! Batching: serving requests in batches, the window that gathers them, and many calls
//! from one task.
//!
//! - **Serving in batches** (`alloc`):
//!   [`Server::serve_batches`](crate::Server::serve_batches) and
//!   [`serve_batch_jobs`](crate::Server::serve_batch_jobs) gather requests under a
//!   [`BatchConfig`] and run one handler per batch; each caller gets its own
//!   [`BatchResult`]. The serving future is a [`BatchServeFuture`], which ends with a
//!   [`BatchReport`].
//! - **The window** (`alloc`): [`Batch`], the sans-IO state machine that serving in batches
//!   runs on, and [`route`], which pairs each item with its result. Usable on its own.
//! - **Many calls at once**: [`Caller::call_many`](crate::Caller::call_many) sends many
//!   [`ManyCall`]s from one task and waits for all of their outcomes ([`CallManyFuture`]).
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() -> Result<(), rsvp::batch::BatchConfigError> {
//! use core::time::Duration;
//! use std::sync::Arc;
//!
//! use futures_util::future::join;
//! use rsvp::batch::{BatchConfig, BatchResult};
//! use rsvp::lock::StdMutex;
//! use rsvp::rpc::With;
//! use rsvp::time::ManualClock;
//! use rsvp::Rpc;
//!
//! // Each caller gets its own result; the handler sees the whole batch.
//! let rpc: Arc<Rpc<u32, BatchResult<u32, ()>, 4, With<StdMutex, ManualClock>>> =
//!     Arc::new(Rpc::new(ManualClock::new()));
//! let (caller, server) = Rpc::split(rpc);
//! let config = BatchConfig::new(2, Duration::from_millis(10))?;
//! let serving = server.serve_batches(config, |reqs: Vec<u32>| async move {
//!     reqs.into_iter().map(|n| Ok(n * 10)).collect::<Vec<_>>()
//! });
//! let calls = async {
//!     // Two requests fill the batch, so it runs without waiting for its window.
//!     let replies = join(caller.call(1), caller.call(2)).await;
//!     drop(caller); // the last caller: serving ends once the queue is drained
//!     replies
//! };
//! let ((one, two), report) = futures_executor::block_on(join(calls, serving));
//! assert_eq!((one, two), (Ok(Ok(10)), Ok(Ok(20))));
//! assert_eq!(report.batches, 1);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```

#[cfg(feature = "alloc")]
mod window;

#[cfg(feature = "alloc")]
pub use crate::rpc::batching::{
    BatchError, BatchFn, BatchHandler, BatchHandlerOf, BatchJob, BatchJobFn, BatchReport,
    BatchResult, BatchServeFuture,
};
pub use crate::rpc::many::{CallManyFuture, ManyCall};
#[cfg(feature = "alloc")]
pub use window::{route, Batch, BatchConfig, BatchConfigError, Pairs, Routed, WrongResultCount};
