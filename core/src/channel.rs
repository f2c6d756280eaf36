//! Endpoints on the heap, for hosts: an [`Rpc`](crate::Rpc) behind an `Arc` (thread-safe,
//! feature `std`) or an `Rc` (one thread), its lock and queue filled in, and the
//! constructors that make a pair of handles. Generic over the clock `C`, which the adapters
//! fill in with their timer (`rsvp_smol::channel` is `channel_with(SmolTimer)`).
//!
//! ```
//! use std::time::Duration;
//!
//! use futures_util::future::join;
//! use rsvp::channel::{local_channel_with, LocalCaller};
//! use rsvp::time::ManualClock;
//!
//! let (caller, server) = local_channel_with::<u64, u64, 8, _>(ManualClock::new());
//! let another: LocalCaller<u64, u64, ManualClock, 8> = caller.clone();
//! let serve_one = async {
//!     let (n, responder) = server.recv().await.unwrap();
//!     responder.reply(n * 2).unwrap();
//! };
//! let call = another.call_timeout(21, Duration::from_secs(1));
//! let (reply, ()) = futures_executor::block_on(join(call, serve_one));
//! assert_eq!(reply, Ok(42));
//! ```

use alloc::rc::Rc;
#[cfg(feature = "std")]
use alloc::sync::Arc;

use crate::lock::LocalMutex;
#[cfg(feature = "std")]
use crate::lock::StdMutex;
#[cfg(feature = "std")]
use crate::queue::{Envelope, Queue};
use crate::rpc::With;
use crate::time::Clock;

/// A thread-safe endpoint with clock `C` and `N` reply slots: handles may be sent to and
/// shared between threads. Its requests wait in rsvp's [`Queue`], behind a lock of its own,
/// so that callers queueing and a server replying on another thread contend less.
#[cfg(feature = "std")]
pub type Rpc<Req, Resp, C, const N: usize> =
    crate::Rpc<Req, Resp, N, With<StdMutex, C, Queue<StdMutex, Envelope<Req>, N>>>;

/// A single-thread endpoint with clock `C` and `N` reply slots: no atomics and no lock,
/// `!Sync`, for handles that all live on one thread.
pub type LocalRpc<Req, Resp, C, const N: usize> = crate::Rpc<Req, Resp, N, With<LocalMutex, C>>;

/// The calling end of a [`channel_with`].
#[cfg(feature = "std")]
pub type Caller<Req, Resp, C, const N: usize> = crate::Caller<Arc<Rpc<Req, Resp, C, N>>>;

/// The responding end of a [`channel_with`].
#[cfg(feature = "std")]
pub type Server<Req, Resp, C, const N: usize> = crate::Server<Arc<Rpc<Req, Resp, C, N>>>;

/// The reply handle of one request received from a [`Server`].
#[cfg(feature = "std")]
pub type Responder<Req, Resp, C, const N: usize> = crate::Responder<Arc<Rpc<Req, Resp, C, N>>>;

/// The calling end of a [`local_channel_with`].
pub type LocalCaller<Req, Resp, C, const N: usize> = crate::Caller<Rc<LocalRpc<Req, Resp, C, N>>>;

/// The responding end of a [`local_channel_with`].
pub type LocalServer<Req, Resp, C, const N: usize> = crate::Server<Rc<LocalRpc<Req, Resp, C, N>>>;

/// The reply handle of one request received from a [`LocalServer`].
pub type LocalResponder<Req, Resp, C, const N: usize> =
    crate::Responder<Rc<LocalRpc<Req, Resp, C, N>>>;

/// A thread-safe endpoint with `N` reply slots on `clock`, as its `(caller, server)` pair.
/// Timeouts need a clock that is also a [`Timer`](crate::time::Timer).
///
/// Name `N` at the call site (`channel_with::<_, _, 64, _>(clock)`), where it shows how
/// many calls may be in flight at once. Clone the handles rather than making more
/// endpoints; dropping the last server closes the endpoint and dropping the last caller
/// lets the server finish (see [`Rpc`](crate::Rpc)).
///
/// ```
/// use rsvp::channel::channel_with;
/// use rsvp::time::StdClock;
///
/// // `StdClock` times calls but has no timer: no `call_timeout` on this endpoint.
/// let (caller, server) = channel_with::<u64, u64, 4, _>(StdClock);
/// let replier = std::thread::spawn(move || {
///     futures_executor::block_on(async {
///         let (n, responder) = server.recv().await.unwrap();
///         responder.reply(n + 1).unwrap();
///     })
/// });
/// assert_eq!(futures_executor::block_on(caller.call(41)), Ok(42));
/// replier.join().unwrap();
/// ```
#[cfg(feature = "std")]
pub fn channel_with<Req, Resp, const N: usize, C: Clock>(
    clock: C,
) -> (Caller<Req, Resp, C, N>, Server<Req, Resp, C, N>) {
    crate::Rpc::split(Arc::new(Rpc::new(clock)))
}

/// A single-thread endpoint with `N` reply slots on `clock`, as its `(caller, server)` pair;
/// the handles are `!Send`. See [`channel_with`] on choosing `N`.
pub fn local_channel_with<Req, Resp, const N: usize, C: Clock>(
    clock: C,
) -> (LocalCaller<Req, Resp, C, N>, LocalServer<Req, Resp, C, N>) {
    crate::Rpc::split(Rc::new(LocalRpc::new(clock)))
}
