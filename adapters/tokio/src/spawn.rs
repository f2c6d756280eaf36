//! Running a server as a tokio task.
//!
//! Each helper moves the [`Server`] handle into a task that runs [`Server::serve`] and
//! ends with its [`ServeReport`] once the endpoint shuts down.

use core::future::Future;
use core::num::NonZeroUsize;
use core::ops::Deref;

use rsvp::rpc::{Endpoint, ServeReport};
use rsvp::{Responder, Server};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Spawns `server.serve(concurrency, handler)` with [`tokio::spawn`].
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let (caller, server) = rsvp_tokio::channel::<u64, u64, 8>();
/// let task = rsvp_tokio::spawn_server(server, NonZeroUsize::MIN, |n, responder| async move {
///     let _ = responder.reply(n * 2);
/// });
/// assert_eq!(caller.call(21).await, Ok(42));
/// drop(caller); // the last caller gone: serve ends once nothing is left
/// assert_eq!(task.await.unwrap().received, 1);
/// # });
/// ```
///
/// # Panics
///
/// Outside a tokio runtime.
///
/// # Cancellation
///
/// Dropping the `JoinHandle` detaches the task: it keeps serving. Aborting it stops
/// serving at once and drops the handlers in progress, so their callers get
/// [`Lost`](rsvp::CallError::Lost); queued requests wait for another server handle, or end
/// with [`Closed`](rsvp::CallError::Closed) if the task held the last one.
pub fn spawn_server<P, F, Fut>(
    server: Server<P>,
    concurrency: NonZeroUsize,
    handler: F,
) -> JoinHandle<ServeReport>
where
    P: Deref + Clone + Send + Sync + 'static,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(server.serve(concurrency, handler))
}

/// Spawns `server.serve(concurrency, handler)` on the runtime behind `handle`.
///
/// # Cancellation
///
/// As for [`spawn_server`].
pub fn spawn_server_on<P, F, Fut>(
    handle: &Handle,
    server: Server<P>,
    concurrency: NonZeroUsize,
    handler: F,
) -> JoinHandle<ServeReport>
where
    P: Deref + Clone + Send + Sync + 'static,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    handle.spawn(server.serve(concurrency, handler))
}

/// Spawns `server.serve(concurrency, handler)` on the current [`tokio::task::LocalSet`],
/// for [`local_channel`](crate::local_channel) endpoints and `!Send` handlers.
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// let local = tokio::task::LocalSet::new();
/// local.block_on(&runtime, async {
///     let (caller, server) = rsvp_tokio::local_channel::<u64, u64, 8>();
///     let task = rsvp_tokio::spawn_local_server(server, NonZeroUsize::MIN, |n, responder| async move {
///         let _ = responder.reply(n * 2);
///     });
///     assert_eq!(caller.call(21).await, Ok(42));
///     drop(caller);
///     assert_eq!(task.await.unwrap().received, 1);
/// });
/// ```
///
/// # Panics
///
/// Outside a `LocalSet`.
///
/// # Cancellation
///
/// As for [`spawn_server`].
pub fn spawn_local_server<P, F, Fut>(
    server: Server<P>,
    concurrency: NonZeroUsize,
    handler: F,
) -> JoinHandle<ServeReport>
where
    P: Deref + Clone + 'static,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    tokio::task::spawn_local(server.serve(concurrency, handler))
}
