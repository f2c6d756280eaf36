//! rsvp's heap-shared endpoints ([`rsvp::channel`]) with the tokio timer filled in, and `N`
//! defaulting to 64.

use crate::TokioTimer;

/// A thread-safe endpoint with `N` reply slots (64 unless given): handles may be sent to
/// and shared between threads and tasks (`tokio::spawn`, the multi-thread runtime). Its
/// requests wait in rsvp's [`Queue`](rsvp::queue::Queue), behind a lock of its own, so that
/// callers queueing and a server replying on another thread contend less.
pub type Rpc<Req, Resp, const N: usize = 64> = rsvp::channel::Rpc<Req, Resp, TokioTimer, N>;

/// A single-thread endpoint with `N` reply slots (64 unless given): no atomics and no lock,
/// `!Sync`, for handles that all live on one thread (a current-thread runtime, a
/// `LocalSet`).
pub type LocalRpc<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalRpc<Req, Resp, TokioTimer, N>;

/// The calling end of a [`channel`].
pub type Caller<Req, Resp, const N: usize = 64> = rsvp::channel::Caller<Req, Resp, TokioTimer, N>;

/// The responding end of a [`channel`].
pub type Server<Req, Resp, const N: usize = 64> = rsvp::channel::Server<Req, Resp, TokioTimer, N>;

/// The reply handle of one request received from a [`Server`].
pub type Responder<Req, Resp, const N: usize = 64> =
    rsvp::channel::Responder<Req, Resp, TokioTimer, N>;

/// The calling end of a [`local_channel`].
pub type LocalCaller<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalCaller<Req, Resp, TokioTimer, N>;

/// The responding end of a [`local_channel`].
pub type LocalServer<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalServer<Req, Resp, TokioTimer, N>;

/// The reply handle of one request received from a [`LocalServer`].
pub type LocalResponder<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalResponder<Req, Resp, TokioTimer, N>;

/// A thread-safe endpoint with `N` reply slots, as its `(caller, server)` pair.
///
/// Name `N` at the call site (`channel::<_, _, 64>()`), where it shows how many calls may
/// be in flight at once. Clone the handles rather than making more endpoints; dropping the
/// last server closes the endpoint and dropping the last caller lets the server finish
/// (see [`rsvp::Rpc`]).
pub fn channel<Req, Resp, const N: usize>() -> (Caller<Req, Resp, N>, Server<Req, Resp, N>) {
    rsvp::channel::channel_with(TokioTimer)
}

/// A single-thread endpoint with `N` reply slots, as its `(caller, server)` pair; the
/// handles are `!Send`. See [`channel`] on choosing `N`.
pub fn local_channel<Req, Resp, const N: usize>(
) -> (LocalCaller<Req, Resp, N>, LocalServer<Req, Resp, N>) {
    rsvp::channel::local_channel_with(TokioTimer)
}
