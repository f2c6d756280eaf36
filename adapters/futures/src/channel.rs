//! rsvp's heap-shared endpoints ([`rsvp::channel`]) with the futures-timer timer filled in
//! unless another is given, and `N` defaulting to 64.

use crate::FuturesTimer;

/// A thread-safe endpoint with `N` reply slots (64 unless given) and timer `T`
/// ([`FuturesTimer`] unless given): handles may be sent to and shared between threads.
/// Its requests wait in rsvp's [`Queue`](rsvp::queue::Queue), behind a lock of its own, so
/// that callers queueing and a server replying on another thread contend less.
pub type Rpc<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::Rpc<Req, Resp, T, N>;

/// A single-thread endpoint with `N` reply slots (64 unless given) and timer `T`: no
/// atomics and no lock, `!Sync`, for handles that all live on one thread (a `LocalPool`,
/// an `async_executor::LocalExecutor`).
pub type LocalRpc<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::LocalRpc<Req, Resp, T, N>;

/// The calling end of a [`channel`].
pub type Caller<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::Caller<Req, Resp, T, N>;

/// The responding end of a [`channel`].
pub type Server<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::Server<Req, Resp, T, N>;

/// The reply handle of one request received from a [`Server`].
pub type Responder<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::Responder<Req, Resp, T, N>;

/// The calling end of a [`local_channel`].
pub type LocalCaller<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::LocalCaller<Req, Resp, T, N>;

/// The responding end of a [`local_channel`].
pub type LocalServer<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::LocalServer<Req, Resp, T, N>;

/// The reply handle of one request received from a [`LocalServer`].
pub type LocalResponder<Req, Resp, const N: usize = 64, T = FuturesTimer> =
    rsvp::channel::LocalResponder<Req, Resp, T, N>;

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

/// [`channel`] with another timer: any [`rsvp::time::Timer`] (an executor's own, or a
/// manual clock in tests).
pub fn channel_with<Req, Resp, const N: usize, T: rsvp::time::Timer>(
    timer: T,
) -> (Caller<Req, Resp, N, T>, Server<Req, Resp, N, T>) {
    rsvp::channel::channel_with(timer)
}

/// A single-thread endpoint with `N` reply slots, as its `(caller, server)` pair; the
/// handles are `!Send`. See [`channel`] on choosing `N`.
pub fn local_channel<Req, Resp, const N: usize>(
) -> (LocalCaller<Req, Resp, N>, LocalServer<Req, Resp, N>) {
    local_channel_with(FuturesTimer)
}

/// [`local_channel`] with another timer.
pub fn local_channel_with<Req, Resp, const N: usize, T: rsvp::time::Timer>(
    timer: T,
) -> (LocalCaller<Req, Resp, N, T>, LocalServer<Req, Resp, N, T>) {
    rsvp::channel::local_channel_with(timer)
}
