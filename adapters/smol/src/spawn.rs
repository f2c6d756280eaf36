//! Running a server as a task of its own.
//!
//! Each helper moves the [`Server`] handle into a task that runs [`Server::serve`] and
//! ends with its [`ServeReport`] once the endpoint shuts down. They take any server handle
//! (the [`channel`](crate::channel) aliases, an `Rc` one, a `&'static Rpc`), as long as it
//! may go where the task goes.

use core::future::Future;
use core::num::NonZeroUsize;
use core::ops::Deref;

use rsvp::rpc::{Endpoint, ServeReport};
use rsvp::{Responder, Server};
use smol::{Executor, LocalExecutor, Task};

/// Spawns `server.serve(concurrency, handler)` on smol's global executor
/// ([`smol::spawn`]).
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
///
/// # smol::block_on(async {
/// let (caller, server) = rsvp_smol::channel::<u64, u64, 8>();
/// let task = rsvp_smol::spawn_server(server, NonZeroUsize::MIN, |n, responder| async move {
///     let _ = responder.reply(n * 2);
/// });
/// assert_eq!(caller.call(21).await, Ok(42));
/// drop(caller); // the last caller gone: serve ends once nothing is left
/// assert_eq!(task.await.received, 1);
/// # });
/// ```
///
/// # Cancellation
///
/// Dropping the returned task cancels it (a `smol::Task` does): serving stops at once and
/// the handlers in progress are dropped, so their callers get
/// [`Lost`](rsvp::CallError::Lost). Queued requests wait for another server handle; if the
/// task held the last one, the endpoint closes and they end with
/// [`Closed`](rsvp::CallError::Closed). Await the task for the report, or
/// [`detach`](Task::detach) it to let it run on its own.
pub fn spawn_server<P, F, Fut>(
    server: Server<P>,
    concurrency: NonZeroUsize,
    handler: F,
) -> Task<ServeReport>
where
    P: Deref + Clone + Send + Sync + 'static,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    smol::spawn(server.serve(concurrency, handler))
}

/// Spawns `server.serve(concurrency, handler)` on `executor`.
///
/// # Cancellation
///
/// As for [`spawn_server`].
pub fn spawn_server_on<'a, P, F, Fut>(
    executor: &Executor<'a>,
    server: Server<P>,
    concurrency: NonZeroUsize,
    handler: F,
) -> Task<ServeReport>
where
    P: Deref + Clone + Send + Sync + 'a,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut + Send + 'a,
    Fut: Future<Output = ()> + Send + 'a,
{
    executor.spawn(server.serve(concurrency, handler))
}

/// Spawns `server.serve(concurrency, handler)` on a single-thread `executor`, for
/// [`local_channel`](crate::local_channel) endpoints and `!Send` handlers.
///
/// # Examples
///
/// ```
/// use std::num::NonZeroUsize;
///
/// let executor = smol::LocalExecutor::new();
/// let (caller, server) = rsvp_smol::local_channel::<u64, u64, 8>();
/// let task = rsvp_smol::spawn_local_server(&executor, server, NonZeroUsize::MIN, |n, responder| async move {
///     let _ = responder.reply(n * 2);
/// });
/// let reply = smol::block_on(executor.run(caller.call(21)));
/// assert_eq!(reply, Ok(42));
/// # drop((caller, task));
/// ```
///
/// # Cancellation
///
/// As for [`spawn_server`].
pub fn spawn_local_server<'a, P, F, Fut>(
    executor: &LocalExecutor<'a>,
    server: Server<P>,
    concurrency: NonZeroUsize,
    handler: F,
) -> Task<ServeReport>
where
    P: Deref + Clone + 'a,
    P::Target: Endpoint,
    F: FnMut(<P::Target as Endpoint>::Req, Responder<P>) -> Fut + 'a,
    Fut: Future<Output = ()> + 'a,
{
    executor.spawn(server.serve(concurrency, handler))
}
