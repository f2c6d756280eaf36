//! rsvp's heap-shared endpoints ([`rsvp::channel`]) with the smol timer filled in, and `N`
//! defaulting to 64.

use crate::SmolTimer;

/// A thread-safe endpoint with `N` reply slots (64 unless given): handles may be sent to
/// and shared between threads. Made by [`channel`], or `Rpc::new(SmolTimer)` for a
/// `static`. Its requests wait in rsvp's [`Queue`](rsvp::queue::Queue), behind a lock of
/// its own, so that callers queueing and a server replying on another thread contend less.
pub type Rpc<Req, Resp, const N: usize = 64> = rsvp::channel::Rpc<Req, Resp, SmolTimer, N>;

/// A single-thread endpoint with `N` reply slots (64 unless given): no atomics and no lock,
/// `!Sync`, for handles that all live on one thread (a `smol::LocalExecutor`). Made by
/// [`local_channel`].
pub type LocalRpc<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalRpc<Req, Resp, SmolTimer, N>;

/// The calling end of a [`channel`].
pub type Caller<Req, Resp, const N: usize = 64> = rsvp::channel::Caller<Req, Resp, SmolTimer, N>;

/// The responding end of a [`channel`].
pub type Server<Req, Resp, const N: usize = 64> = rsvp::channel::Server<Req, Resp, SmolTimer, N>;

/// The reply handle of one request received from a [`Server`].
pub type Responder<Req, Resp, const N: usize = 64> =
    rsvp::channel::Responder<Req, Resp, SmolTimer, N>;

/// The calling end of a [`local_channel`].
pub type LocalCaller<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalCaller<Req, Resp, SmolTimer, N>;

/// The responding end of a [`local_channel`].
pub type LocalServer<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalServer<Req, Resp, SmolTimer, N>;

/// The reply handle of one request received from a [`LocalServer`].
pub type LocalResponder<Req, Resp, const N: usize = 64> =
    rsvp::channel::LocalResponder<Req, Resp, SmolTimer, N>;

/// A thread-safe endpoint with `N` reply slots, as its `(caller, server)` pair.
///
/// A function cannot default `N`, so name it at the call site, where it shows how many
/// calls may be in flight at once (`channel::<_, _, 64>()`), or let a type annotation
/// that uses the aliases' default pick it:
///
/// ```
/// use rsvp_smol::{Caller, Server};
///
/// let (caller, server) = rsvp_smol::channel::<u64, u64, 16>();
/// let (caller, server): (Caller<u64, u64>, Server<u64, u64>) = rsvp_smol::channel();
/// # drop((caller, server));
/// ```
///
/// Clone the handles rather than making more endpoints; dropping the last server closes
/// the endpoint and dropping the last caller lets the server finish (see [`rsvp::Rpc`]).
pub fn channel<Req, Resp, const N: usize>() -> (Caller<Req, Resp, N>, Server<Req, Resp, N>) {
    rsvp::channel::channel_with(SmolTimer)
}

/// A single-thread endpoint with `N` reply slots, as its `(caller, server)` pair; the
/// handles are `!Send`. See [`channel`] on choosing `N`.
pub fn local_channel<Req, Resp, const N: usize>(
) -> (LocalCaller<Req, Resp, N>, LocalServer<Req, Resp, N>) {
    rsvp::channel::local_channel_with(SmolTimer)
}
