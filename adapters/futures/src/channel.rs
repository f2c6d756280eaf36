//! rsvp's endpoint with a timer filled in, in both flavours, and the constructors that make
//! a pair of handles.

use std::rc::Rc;
use std::sync::Arc;

use crate::FuturesTimer;

/// A thread-safe endpoint with `N` reply slots (64 unless given) and timer `T`
/// ([`FuturesTimer`] unless given): handles may be sent to and shared between threads.
/// Its requests wait in rsvp's [`Queue`](rsvp::Queue), behind a lock of its own, so that
/// callers queueing and a server replying on another thread contend less.
pub type Rpc<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Rpc<Req, Resp, rsvp::StdMutex, T, N, rsvp::Queue<rsvp::StdMutex, rsvp::Envelope<Req>, N>>;

/// A single-thread endpoint with `N` reply slots (64 unless given) and timer `T`: no
/// atomics and no lock, `!Sync`, for handles that all live on one thread (a `LocalPool`,
/// an `async_executor::LocalExecutor`).
pub type LocalRpc<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Rpc<Req, Resp, rsvp::LocalMutex, T, N>;

/// The calling end of a [`channel`].
pub type Caller<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Caller<Arc<Rpc<Req, Resp, N, T>>>;

/// The responding end of a [`channel`].
pub type Server<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Server<Arc<Rpc<Req, Resp, N, T>>>;

/// The reply handle of one request received from a [`Server`].
pub type Responder<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Responder<Arc<Rpc<Req, Resp, N, T>>>;

/// The calling end of a [`local_channel`].
pub type LocalCaller<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Caller<Rc<LocalRpc<Req, Resp, N, T>>>;

/// The responding end of a [`local_channel`].
pub type LocalServer<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Server<Rc<LocalRpc<Req, Resp, N, T>>>;

/// The reply handle of one request received from a [`LocalServer`].
pub type LocalResponder<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::Responder<Rc<LocalRpc<Req, Resp, N, T>>>;

/// A thread-safe endpoint with `N` reply slots, as its `(caller, server)` pair, timed by
/// [`FuturesTimer`].
///
/// Name `N` at the call site (`channel::<_, _, 64>()`), where it shows how many calls may
/// be in flight at once. Clone the handles rather than making more endpoints; dropping the
/// last server closes the endpoint and dropping the last caller lets the server finish
/// (see [`rsvp::Rpc`]).
pub fn channel<Req, Resp, const N: usize>() -> (Caller<Req, Resp, N>, Server<Req, Resp, N>) {
    channel_with(FuturesTimer)
}

/// [`channel`] with another timer: any [`rsvp::Timer`] (an executor's own, or a manual
/// clock in tests).
pub fn channel_with<Req, Resp, const N: usize, T: rsvp::Timer>(
    timer: T,
) -> (Caller<Req, Resp, N, T>, Server<Req, Resp, N, T>) {
    rsvp::Rpc::split(Arc::new(Rpc::new(timer)))
}

/// A single-thread endpoint with `N` reply slots, as its `(caller, server)` pair; the
/// handles are `!Send`. See [`channel`] on choosing `N`.
pub fn local_channel<Req, Resp, const N: usize>(
) -> (LocalCaller<Req, Resp, N>, LocalServer<Req, Resp, N>) {
    local_channel_with(FuturesTimer)
}

/// [`local_channel`] with another timer.
pub fn local_channel_with<Req, Resp, const N: usize, T: rsvp::Timer>(
    timer: T,
) -> (LocalCaller<Req, Resp, N, T>, LocalServer<Req, Resp, N, T>) {
    rsvp::Rpc::split(Rc::new(LocalRpc::new(timer)))
}
